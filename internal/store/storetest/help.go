package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
)

var helpTests = []test{
	{"RanksTitleFirstAndStems", testHelpRanks},
	{"ReplaceDropsOldDocs", testHelpReplace},
	{"IgnoresQuerySyntax", testHelpSyntax},
	{"ConcurrentReplace", testHelpConcurrentReplace},
}

var supportTests = []test{
	{"Lifecycle", testSupportLifecycle},
	{"ListFilters", testSupportList},
	{"AnswerClosedConflicts", testSupportAnswerClosed},
	{"OutlivesItsRun", testSupportOutlivesRun},
}

func helpKeys(hits []store.HelpHit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.Key
	}
	return out
}

func indexHelp(t *testing.T, st store.Store) {
	t.Helper()
	docs := []store.HelpDoc{
		{Key: "article:retries", Title: "Retries and waiting", Terms: "retry backoff", Body: "A step that failed is tried again."},
		{Key: "article:schedules", Title: "Schedules", Terms: "cron every", Body: "Retries are not for schedules; a schedule fires every hour."},
		{Key: "diagnosis:http.429", Title: "Too many requests", Terms: "429 throttled", Body: "The service asked to slow down."},
	}
	requireNoError(t, st.ReplaceHelpIndex(t.Context(), docs), "ReplaceHelpIndex")
}

func testHelpRanks(t *testing.T, open opener) {
	st := open(t)
	indexHelp(t, st)
	// "retrying" stems to the title's "retries"; the title outranks the
	// body that also says it.
	hits, err := st.SearchHelp(t.Context(), []string{"retrying"}, 10)
	requireNoError(t, err, "SearchHelp")
	if got := helpKeys(hits); len(got) != 2 || got[0] != "article:retries" || got[1] != "article:schedules" {
		t.Fatalf("retrying: got %v, want retries then schedules", got)
	}
	if hits[0].Score <= hits[1].Score {
		t.Errorf("scores %v: want the better match higher", hits)
	}
	// Any word matches; a document with more of them ranks higher.
	hits, err = st.SearchHelp(t.Context(), []string{"429", "slow", "nothing"}, 10)
	requireNoError(t, err, "SearchHelp")
	if got := helpKeys(hits); !slices.Equal(got, []string{"diagnosis:http.429"}) {
		t.Errorf("429 slow: got %v", got)
	}
	hits, err = st.SearchHelp(t.Context(), []string{"schedule", "retry"}, 1)
	requireNoError(t, err, "SearchHelp")
	if len(hits) != 1 {
		t.Errorf("limit 1: got %d hits", len(hits))
	}
}

func testHelpReplace(t *testing.T, open opener) {
	st := open(t)
	indexHelp(t, st)
	requireNoError(t, st.ReplaceHelpIndex(t.Context(), []store.HelpDoc{{Key: "article:new", Title: "Webhooks", Body: "respond"}}), "ReplaceHelpIndex")
	hits, err := st.SearchHelp(t.Context(), []string{"retry", "webhooks"}, 10)
	requireNoError(t, err, "SearchHelp")
	if got := helpKeys(hits); !slices.Equal(got, []string{"article:new"}) {
		t.Errorf("after replace: got %v, want only article:new", got)
	}
}

func testHelpSyntax(t *testing.T, open opener) {
	st := open(t)
	indexHelp(t, st)
	// Terms with query syntax of either database are ignored, not
	// errors; no terms find nothing.
	for _, terms := range [][]string{{`"`, `a:b`, `x|y`, `NEAR(`, `*`, `!`, `'`}, nil, {""}} {
		hits, err := st.SearchHelp(t.Context(), terms, 10)
		if err != nil || len(hits) != 0 {
			t.Errorf("SearchHelp(%q) = %v, %v; want nothing", terms, hits, err)
		}
	}
	hits, err := st.SearchHelp(t.Context(), []string{`"retry`, "cron"}, 10)
	requireNoError(t, err, "SearchHelp")
	if got := helpKeys(hits); !slices.Equal(got, []string{"article:schedules"}) {
		t.Errorf("cron with a bad term: got %v", got)
	}
}

func testSupportLifecycle(t *testing.T, open opener) {
	b := setup(t, open)
	admin := createUser(t, b.st, "")
	run := createRun(t, b.st, b.flow.ID, time.Time{})
	created := time.Now().UTC().Truncate(time.Second)
	r, err := b.st.CreateSupportRequest(b.ctx, store.SupportRequest{UserID: b.user.ID, ProblemType: "failed_run", Category: "auth", Description: "my flow fails", RunID: &run.ID, CreatedAt: created})
	requireNoError(t, err, "CreateSupportRequest")
	if r.ID == 0 || r.Status != store.SupportOpen || r.UserEmail != b.user.Email || r.RunID == nil || *r.RunID != run.ID || r.Answer != "" || r.AnsweredAt != nil {
		t.Fatalf("created %+v", r)
	}
	requireTime(t, r.CreatedAt, created, "created_at")

	at := created.Add(time.Minute)
	ans := store.SupportAnswer{
		Answer: "Update the token.", By: admin.ID, At: at,
		Note: store.Notification{UserID: b.user.ID, Kind: "support_answered", Title: "Your request was answered", Body: "Update the token.", RunID: run.ID},
		Mail: store.Mail{To: []string{b.user.Email}, Subject: "Re: my flow fails", Text: "Update the token.", Kind: "support_answer"},
	}
	r, err = b.st.AnswerSupportRequest(b.ctx, r.ID, ans)
	requireNoError(t, err, "AnswerSupportRequest")
	if r.Status != store.SupportAnswered || r.Answer != "Update the token." || r.AnsweredBy == nil || *r.AnsweredBy != admin.ID {
		t.Fatalf("answered %+v", r)
	}
	requireTimePtr(t, r.AnsweredAt, at, "answered_at")
	notes, err := b.st.ListNotifications(b.ctx, b.user.ID, false, 10)
	requireNoError(t, err, "ListNotifications")
	if len(notes) != 1 || notes[0].Kind != "support_answered" || notes[0].RunID != run.ID || notes[0].Body != "Update the token." {
		t.Errorf("notifications %+v", notes)
	}
	mails, err := b.st.ListMail(b.ctx, store.MailQueued, 10)
	requireNoError(t, err, "ListMail")
	if len(mails) != 1 || mails[0].Kind != "support_answer" || !slices.Equal(mails[0].To, []string{b.user.Email}) {
		t.Errorf("outbox %+v", mails)
	}

	r, err = b.st.CloseSupportRequest(b.ctx, r.ID, at.Add(time.Minute))
	requireNoError(t, err, "CloseSupportRequest")
	requireTimePtr(t, r.ClosedAt, at.Add(time.Minute), "closed_at")
	r, err = b.st.CloseSupportRequest(b.ctx, r.ID, at.Add(time.Hour))
	requireNoError(t, err, "CloseSupportRequest again")
	if r.Status != store.SupportClosed {
		t.Errorf("status %q", r.Status)
	}
	requireTimePtr(t, r.ClosedAt, at.Add(time.Minute), "closed_at kept")

	_, err = b.st.GetSupportRequest(b.ctx, r.ID+100)
	requireErrorIs(t, err, store.ErrNotFound, "GetSupportRequest unknown")
	_, err = b.st.CloseSupportRequest(b.ctx, r.ID+100, at)
	requireErrorIs(t, err, store.ErrNotFound, "CloseSupportRequest unknown")
	_, err = b.st.AnswerSupportRequest(b.ctx, r.ID+100, ans)
	requireErrorIs(t, err, store.ErrNotFound, "AnswerSupportRequest unknown")
}

func testSupportList(t *testing.T, open opener) {
	b := setup(t, open)
	other := createUser(t, b.st, "")
	var mine []int64
	for i := range 3 {
		r, err := b.st.CreateSupportRequest(b.ctx, store.SupportRequest{UserID: b.user.ID, ProblemType: "other", Category: "other", Description: "q"})
		requireNoError(t, err, "CreateSupportRequest")
		mine = append(mine, r.ID)
		if i == 0 {
			_, err = b.st.CloseSupportRequest(b.ctx, r.ID, time.Now())
			requireNoError(t, err, "CloseSupportRequest")
		}
	}
	_, err := b.st.CreateSupportRequest(b.ctx, store.SupportRequest{UserID: other.ID, ProblemType: "other", Category: "other", Description: "q"})
	requireNoError(t, err, "CreateSupportRequest")
	list := func(f store.SupportFilter) []int64 {
		t.Helper()
		rs, err := b.st.ListSupportRequests(b.ctx, f)
		requireNoError(t, err, "ListSupportRequests")
		var out []int64
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	if got := list(store.SupportFilter{UserID: b.user.ID}); !slices.Equal(got, []int64{mine[2], mine[1], mine[0]}) {
		t.Errorf("mine: %v", got)
	}
	if got := list(store.SupportFilter{UserID: b.user.ID, Status: store.SupportOpen}); !slices.Equal(got, []int64{mine[2], mine[1]}) {
		t.Errorf("open: %v", got)
	}
	if got := list(store.SupportFilter{UserID: b.user.ID, BeforeID: mine[2], Limit: 1}); !slices.Equal(got, []int64{mine[1]}) {
		t.Errorf("page: %v", got)
	}
	if got := list(store.SupportFilter{}); len(got) != 4 {
		t.Errorf("all: %v", got)
	}
}

func testSupportAnswerClosed(t *testing.T, open opener) {
	b := setup(t, open)
	r, err := b.st.CreateSupportRequest(b.ctx, store.SupportRequest{UserID: b.user.ID, ProblemType: "other", Category: "other", Description: "q"})
	requireNoError(t, err, "CreateSupportRequest")
	_, err = b.st.CloseSupportRequest(b.ctx, r.ID, time.Now())
	requireNoError(t, err, "CloseSupportRequest")
	_, err = b.st.AnswerSupportRequest(b.ctx, r.ID, store.SupportAnswer{Answer: "late", By: b.user.ID, At: time.Now(),
		Note: store.Notification{UserID: b.user.ID, Kind: "support_answered", Title: "t", Body: "late"},
		Mail: store.Mail{To: []string{b.user.Email}, Subject: "s", Text: "late", Kind: "support_answer"}})
	requireErrorIs(t, err, store.ErrConflict, "AnswerSupportRequest closed")
	notes, err := b.st.ListNotifications(b.ctx, b.user.ID, false, 10)
	requireNoError(t, err, "ListNotifications")
	mails, err := b.st.ListMail(b.ctx, "", 10)
	requireNoError(t, err, "ListMail")
	if len(notes) != 0 || len(mails) != 0 {
		t.Errorf("a refused answer told the asker: %v %v", notes, mails)
	}
}

// testHelpConcurrentReplace: nodes starting together each rebuild the
// index; every rebuild succeeds and the index holds one copy.
func testHelpConcurrentReplace(t *testing.T, open opener) {
	st := open(t)
	indexHelp(t, st)
	docs := []store.HelpDoc{{Key: "article:a", Title: "webhooks"}, {Key: "article:b", Title: "webhooks schedules"}}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = st.ReplaceHelpIndex(t.Context(), docs) })
	}
	wg.Wait()
	for i, err := range errs {
		requireNoError(t, err, fmt.Sprintf("ReplaceHelpIndex %d", i))
	}
	hits, err := st.SearchHelp(t.Context(), []string{"webhooks"}, 10)
	requireNoError(t, err, "SearchHelp")
	if len(hits) != 2 {
		t.Errorf("after concurrent rebuilds: %v, want the two documents once", hits)
	}
}

// testSupportOutlivesRun: deleting the attached run (with its flow, or
// by retention) keeps the request, without a run.
func testSupportOutlivesRun(t *testing.T, open opener) {
	b := setup(t, open)
	run := createRun(t, b.st, b.flow.ID, time.Time{})
	r, err := b.st.CreateSupportRequest(b.ctx, store.SupportRequest{UserID: b.user.ID, ProblemType: "failed_run", Category: "auth", Description: "q", RunID: &run.ID})
	requireNoError(t, err, "CreateSupportRequest")
	requireNoError(t, b.st.DeleteFlow(b.ctx, b.flow.ID), "DeleteFlow")
	r, err = b.st.GetSupportRequest(b.ctx, r.ID)
	requireNoError(t, err, "GetSupportRequest")
	if r.RunID != nil || r.Description != "q" {
		t.Errorf("after its run was deleted: %+v", r)
	}
}
