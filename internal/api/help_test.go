package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sluice/sluice/internal/help"
	"github.com/sluice/sluice/internal/store"
)

func TestHelpIndexAndArticle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var idx helpIndexView
	b.doJSON(t, "GET", "/api/v1/help", "a", "", http.StatusOK, &idx)
	if len(idx.Articles) < 30 || len(idx.ProblemTypes) == 0 || len(idx.Categories) == 0 {
		t.Fatalf("index: %d articles, %v, %v", len(idx.Articles), idx.ProblemTypes, idx.Categories)
	}
	var a articleView
	b.doJSON(t, "GET", "/api/v1/help/articles/retries", "a", "", http.StatusOK, &a)
	if a.Title == "" || !strings.Contains(a.HTML, "<h2") || !strings.Contains(a.Text, "Retry-After") || a.URL != "https://sluice.example.com/help/retries" {
		t.Errorf("article: %+v", a.articleListItem)
	}
	rec := b.do(t, "GET", "/api/v1/help/articles/nope", "a", "")
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), `article \"nope\" not found`) {
		t.Errorf("unknown article: %d %s", rec.Code, rec.Body)
	}
	if rec := b.do(t, "GET", "/api/v1/help", "", ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("without a token: %d", rec.Code)
	}
}

// TestHelpSearchPutsYourFailuresFirst: maker A has an open Slack auth
// problem; a question about an unauthorised token ranks its catalog
// entry and article first and lists A's run, while maker B, without
// that problem, gets the generic ranking and no runs.
func TestHelpSearchPutsYourFailuresFirst(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := b.failRun(t, "a", "post_message", "slack.invalid_auth", "auth")
	q := "/api/v1/help/search?q=" + url.QueryEscape("my token is unauthorised") + "&limit=5"
	var mine, theirs helpSearchView
	b.doJSON(t, "GET", q, "a", "", http.StatusOK, &mine)
	b.doJSON(t, "GET", q, "b", "", http.StatusOK, &theirs)
	if len(mine.Solutions) < 2 || mine.Solutions[0].Name != "slack.invalid_auth" || !mine.Solutions[0].Yours || mine.Solutions[1].Name != "slack" {
		t.Errorf("A's solutions: %+v", mine.Solutions)
	}
	if len(mine.Failures) != 1 || mine.Failures[0].RunID != run.ID || mine.Failures[0].RunURL != fmt.Sprintf("https://sluice.example.com/runs/%d", run.ID) {
		t.Errorf("A's failures: %+v", mine.Failures)
	}
	if len(theirs.Failures) != 0 || len(theirs.Solutions) == 0 || theirs.Solutions[0].Yours {
		t.Errorf("B's answer: %+v", theirs)
	}
	for _, s := range mine.Solutions {
		if s.Kind != help.KindArticle && s.Kind != help.KindDiagnosis || s.URL == "" || s.Excerpt == "" {
			t.Errorf("solution %+v", s)
		}
	}
	for _, bad := range []string{"", "?q=", "?q=x&limit=51", "?q=" + strings.Repeat("a", help.MaxQuery+1)} {
		if rec := b.do(t, "GET", "/api/v1/help/search"+bad, "a", ""); rec.Code != http.StatusBadRequest {
			t.Errorf("search %q: %d %s", bad, rec.Code, rec.Body)
		}
	}
}

func TestSupportRequests(t *testing.T) {
	t.Parallel()
	b := setup(t)
	runA, runB := b.runs["a"], b.runs["b"]
	ask := func(who string, runID int64) string {
		return fmt.Sprintf(`{"problem_type": "failed_run", "category": "auth", "description": "My flow fails since Monday.", "run_id": %d}`, runID)
	}
	// A run of another maker cannot be attached.
	if rec := b.do(t, "POST", "/api/v1/support", "a", ask("a", runB.ID)); rec.Code != http.StatusNotFound {
		t.Errorf("another's run: %d %s", rec.Code, rec.Body)
	}
	for _, bad := range []string{
		`{"problem_type": "x", "category": "auth", "description": "d"}`,
		`{"problem_type": "other", "category": "x", "description": "d"}`,
		`{"problem_type": "other", "category": "other", "description": "  "}`,
		fmt.Sprintf(`{"problem_type": "other", "category": "other", "description": %q}`, strings.Repeat("a", maxDescription+1)),
	} {
		if rec := b.do(t, "POST", "/api/v1/support", "a", bad); rec.Code != http.StatusBadRequest {
			t.Errorf("%.80s: %d %s", bad, rec.Code, rec.Body)
		}
	}
	var req supportView
	b.doJSON(t, "POST", "/api/v1/support", "a", ask("a", runA.ID), http.StatusCreated, &req)
	if req.Status != store.SupportOpen || req.RunID == nil || *req.RunID != runA.ID || req.RunURL == nil || req.UserEmail != "a@example.com" {
		t.Fatalf("created %+v", req)
	}
	path := fmt.Sprintf("/api/v1/support/%d", req.ID)
	// B sees neither the request nor it in a list; the admin sees all.
	if rec := b.do(t, "GET", path, "b", ""); rec.Code != http.StatusNotFound {
		t.Errorf("B shows A's request: %d", rec.Code)
	}
	var list struct{ Requests []supportView }
	b.doJSON(t, "GET", "/api/v1/support", "b", "", http.StatusOK, &list)
	if len(list.Requests) != 0 {
		t.Errorf("B's list: %+v", list.Requests)
	}
	b.doJSON(t, "GET", "/api/v1/support?status=open", "admin", "", http.StatusOK, &list)
	if len(list.Requests) != 1 || list.Requests[0].ID != req.ID {
		t.Errorf("admin's list: %+v", list.Requests)
	}
	// Only an admin answers; the maker is told in Activity and by email.
	if rec := b.do(t, "POST", path+"/answer", "a", `{"answer": "x"}`); rec.Code != http.StatusForbidden {
		t.Errorf("maker answers: %d", rec.Code)
	}
	b.doJSON(t, "POST", path+"/answer", "admin", `{"answer": "Update the Slack token, then resubmit."}`, http.StatusOK, &req)
	if req.Status != store.SupportAnswered || req.Answer != "Update the Slack token, then resubmit." || req.AnsweredAt == nil {
		t.Errorf("answered %+v", req)
	}
	var feed struct{ Notifications []notificationView }
	b.doJSON(t, "GET", "/api/v1/notifications", "a", "", http.StatusOK, &feed)
	if len(feed.Notifications) == 0 || feed.Notifications[0].Kind != "support_answered" || feed.Notifications[0].RunID == nil || *feed.Notifications[0].RunID != runA.ID {
		t.Errorf("A's feed: %+v", feed.Notifications)
	}
	mails, err := b.store.ListMail(t.Context(), store.MailQueued, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(mails) != 1 || mails[0].To[0] != "a@example.com" || !strings.Contains(mails[0].Text, "Update the Slack token") ||
		!strings.Contains(mails[0].Text, fmt.Sprintf("/runs/%d", runA.ID)) {
		t.Errorf("outbox: %+v", mails)
	}
	// The asker closes it; a closed request is not answered again.
	b.doJSON(t, "POST", path+"/close", "a", "", http.StatusOK, &req)
	if req.Status != store.SupportClosed || req.ClosedAt == nil {
		t.Errorf("closed %+v", req)
	}
	if rec := b.do(t, "POST", path+"/answer", "admin", `{"answer": "late"}`); rec.Code != http.StatusConflict {
		t.Errorf("answer a closed request: %d %s", rec.Code, rec.Body)
	}
	if rec := b.do(t, "GET", "/api/v1/support?status=nope", "admin", ""); rec.Code != http.StatusBadRequest {
		t.Errorf("bad status: %d", rec.Code)
	}
}

// TestHelpSearchCategory: Ask for help's category steers a vague
// question, and an unknown one is refused.
func TestHelpSearchCategory(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var ans helpSearchView
	b.doJSON(t, "GET", "/api/v1/help/search?q="+url.QueryEscape("it does not work")+"&category=schedules&limit=3", "a", "", http.StatusOK, &ans)
	if len(ans.Solutions) == 0 || ans.Solutions[0].Name != "schedules" {
		t.Errorf("solutions %+v, want the schedules article first", ans.Solutions)
	}
	if rec := b.do(t, "GET", "/api/v1/help/search?q=x&category=nope", "a", ""); rec.Code != http.StatusBadRequest {
		t.Errorf("unknown category: %d %s", rec.Code, rec.Body)
	}
}
