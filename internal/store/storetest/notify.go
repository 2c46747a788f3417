package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// finishRun adds a run of the flow leased to "w" and finishes it with the
// status and steps.
func finishRun(t *testing.T, st store.Store, flowID int64, status string, steps ...store.Step) store.Run {
	t.Helper()
	r := createLeasedRun(t, st, flowID, "w", time.Now().Add(time.Minute))
	if err := st.FinishRun(t.Context(), "w", r.ID, store.RunFinish{Status: status, Error: status, Steps: steps}); err != nil {
		t.Fatalf("FinishRun(%d, %s): %v", r.ID, status, err)
	}
	return r
}

// claimAll claims events until none is left.
func claimAll(t *testing.T, st store.Store) []store.Event {
	t.Helper()
	var out []store.Event
	for {
		got, err := st.ClaimEvents(t.Context(), time.Now(), time.Now().Add(time.Hour), 100)
		requireNoError(t, err, "ClaimEvents")
		if len(got) == 0 {
			return out
		}
		out = append(out, got...)
	}
}

// eventKey describes an event without its id and time, for comparing.
func eventKey(e store.Event) string {
	return fmt.Sprintf("%s run=%d conn=%d", e.Kind, e.RunID, e.ConnectionID)
}

// requireEvents fails unless events are exactly want, in order, ids
// increasing, created between lo and hi.
func requireEvents(t *testing.T, events []store.Event, lo, hi time.Time, want ...store.Event) {
	t.Helper()
	got := make([]string, len(events))
	for i, e := range events {
		got[i] = eventKey(e)
	}
	exp := make([]string, len(want))
	for i, e := range want {
		exp[i] = eventKey(e)
	}
	if !slices.Equal(got, exp) {
		t.Fatalf("events: got %q, want %q", got, exp)
	}
	for i, e := range events {
		if e.ID == 0 || (i > 0 && e.ID <= events[i-1].ID) {
			t.Fatalf("events: ids not increasing: %+v", events)
		}
		requireBetween(t, e.CreatedAt, lo, hi, "event created_at")
	}
}

// failedStep is a failed step of action id whose error carries a
// diagnosis code (none when code is empty), finished at.
func failedStep(id, code string, at time.Time) store.Step {
	e, f := `{"message":"boom","kind":"http"}`, store.StepFault{}
	if code != "" {
		e = `{"message":"boom","kind":"http","class":"class-` + code + `","diagnosis":{"code":"` + code + `","class":"class-` + code + `","title":"Title ` + code + `"}}`
		f = store.StepFault{Class: "class-" + code, Code: code}
	}
	return store.Step{Key: id, ActionID: id, Type: "http", Status: "failed", Attempts: 1, StartedAt: &at, FinishedAt: &at, Error: json.RawMessage(e), Fault: f}
}

// eventTests check the events written with the changes they report and
// how the notifier claims them.
var eventTests = []test{
	{"FromFailedRuns", func(t *testing.T, open opener) {
		b := setup(t, open)
		before := time.Now()
		finishRun(t, b.st, b.flow.ID, store.RunSucceeded)
		failed := finishRun(t, b.st, b.flow.ID, store.RunFailed)
		finishRun(t, b.st, b.flow.ID, store.RunCancelled)
		_, err := b.st.CancelRun(b.ctx, createRun(t, b.st, b.flow.ID, time.Time{}).ID)
		requireNoError(t, err, "CancelRun")
		// A FinishRun that lost its lease writes nothing.
		err = b.st.FinishRun(b.ctx, "intruder", createLeasedRun(t, b.st, b.flow.ID, "w", time.Now().Add(time.Minute)).ID, store.RunFinish{Status: store.RunFailed})
		requireErrorIs(t, err, store.ErrLeaseLost, "FinishRun(wrong owner)")

		requireEvents(t, claimAll(t, b.st), before, time.Now(), store.Event{Kind: store.EventRunFailed, RunID: failed.ID})
	}},
	{"FromBrokenConnections", func(t *testing.T, open opener) {
		b := setup(t, open)
		c := createConnection(t, b.st, b.user.ID, "crm")
		other := createConnection(t, b.st, b.user.ID, "erp")
		before := time.Now()
		for i, step := range []struct {
			conn        int64
			health      string
			wantChanged bool
		}{
			{c.ID, store.HealthOK, true},
			{c.ID, store.HealthNeedsAttention, true}, // event
			{c.ID, store.HealthNeedsAttention, false},
			{c.ID, store.HealthNeedsAttention, false},
			{c.ID, store.HealthOK, true},
			{c.ID, store.HealthNeedsAttention, true},      // event
			{other.ID, store.HealthNeedsAttention, true},  // event: from unverified
			{other.ID, store.HealthUnverified, true},      // no event
			{other.ID, store.HealthNeedsAttention, true},  // event
			{other.ID, store.HealthNeedsAttention, false}, // none
		} {
			changed, err := b.st.SetConnectionHealth(b.ctx, step.conn, step.health, "401", time.Now())
			requireNoError(t, err, fmt.Sprintf("SetConnectionHealth #%d", i))
			if changed != step.wantChanged {
				t.Fatalf("SetConnectionHealth #%d (%s): changed %v, want %v", i, step.health, changed, step.wantChanged)
			}
		}
		broken := func(id int64) store.Event { return store.Event{Kind: store.EventConnectionBroken, ConnectionID: id} }
		requireEvents(t, claimAll(t, b.st), before, time.Now(), broken(c.ID), broken(c.ID), broken(other.ID), broken(other.ID))

		_, err := b.st.SetConnectionHealth(b.ctx, c.ID+1000, store.HealthNeedsAttention, "401", time.Now())
		requireErrorIs(t, err, store.ErrNotFound, "SetConnectionHealth(missing)")
		requireEvents(t, claimAll(t, b.st), before, time.Now())
	}},
	{"ClaimOldestFirst", func(t *testing.T, open opener) {
		b := setup(t, open)
		before := time.Now()
		var want []store.Event
		for range 5 {
			r := finishRun(t, b.st, b.flow.ID, store.RunFailed)
			want = append(want, store.Event{Kind: store.EventRunFailed, RunID: r.ID})
		}
		c := createConnection(t, b.st, b.user.ID, "crm")
		_, err := b.st.SetConnectionHealth(b.ctx, c.ID, store.HealthNeedsAttention, "401", time.Now())
		requireNoError(t, err, "SetConnectionHealth")
		want = append(want, store.Event{Kind: store.EventConnectionBroken, ConnectionID: c.ID})

		first, err := b.st.ClaimEvents(b.ctx, time.Now(), time.Now().Add(time.Hour), 2)
		requireNoError(t, err, "ClaimEvents(2)")
		requireEvents(t, first, before, time.Now(), want[:2]...)
		rest, err := b.st.ClaimEvents(b.ctx, time.Now(), time.Now().Add(time.Hour), 10)
		requireNoError(t, err, "ClaimEvents(10)")
		requireEvents(t, rest, before, time.Now(), want[2:]...)
		if rest[0].ID <= first[1].ID {
			t.Fatalf("ClaimEvents: second claim's ids %+v do not follow the first's %+v", rest, first)
		}
		none, err := b.st.ClaimEvents(b.ctx, time.Now(), time.Now().Add(time.Hour), 10)
		requireNoError(t, err, "ClaimEvents(empty)")
		if len(none) != 0 {
			t.Fatalf("ClaimEvents after all were claimed: got %+v", none)
		}
	}},
	{"QueueAlertMailOnce", func(t *testing.T, open opener) {
		b := setup(t, open)
		now := time.Now()
		for range 3 {
			requireNoError(t, b.st.CountAlert(b.ctx, b.flow.ID, "call", "http.404", 1, now), "CountAlert")
		}
		due, err := b.st.DueAlerts(b.ctx, now, time.Hour)
		requireNoError(t, err, "DueAlerts")
		if len(due) != 1 || due[0].Pending != 3 {
			t.Fatalf("due alerts: %+v", due)
		}
		m := store.Mail{To: []string{"owner@example.com"}, Subject: "call failed 3 times", Text: "t", HTML: "h", Kind: "repair_tip"}
		// Several nodes read the same alert and try to send it at once.
		var wg sync.WaitGroup
		var mu sync.Mutex
		sent := 0
		for range 6 {
			wg.Go(func() {
				ok, err := b.st.QueueAlertMail(b.ctx, m, due, now)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					sent++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if sent != 1 {
			t.Fatalf("%d nodes queued the email, want 1", sent)
		}
		mails, err := b.st.ListMail(b.ctx, store.MailQueued, 10)
		requireNoError(t, err, "ListMail")
		if len(mails) != 1 || mails[0].Subject != m.Subject {
			t.Fatalf("outbox: %+v", mails)
		}
		if again, err := b.st.DueAlerts(b.ctx, now.Add(2*time.Hour), time.Hour); err != nil || len(again) != 0 {
			t.Fatalf("alerts still pending after the email: %+v %v", again, err)
		}
	}},
	{"StepFaults", func(t *testing.T, open opener) {
		// Problems and the runs a fixed connection can rescue are found
		// by the fault columns the engine writes, never by reading the
		// error JSON: an error that is not JSON cannot make them fail,
		// and JSON that says otherwise than the columns is not read.
		b := setup(t, open)
		now := time.Now()
		auth := store.StepFault{Class: "auth", Code: "http_401", Connection: "crm"}
		for _, st := range []store.Step{
			{Error: json.RawMessage(`connection reset by peer`)},
			{Error: json.RawMessage(`{"message":"401"}`), Fault: auth},
			{Error: json.RawMessage(`{truncated`)},
			{Error: json.RawMessage(`{"class":"auth","connection":"crm","diagnosis":{"code":"http_401"}}`)},
		} {
			st.Key, st.ActionID, st.Type, st.Status, st.FinishedAt = "a", "a", "http", "failed", &now
			finishRun(t, b.st, b.flow.ID, store.RunFailed, st)
		}
		runs, err := b.st.ListRuns(b.ctx, store.RunFilter{FailedOnConnection: "crm"})
		if err != nil || len(runs) != 1 {
			t.Fatalf("ListRuns(failed on crm): got %d runs, %v; want 1", len(runs), err)
		}
		steps, err := b.st.ListSteps(b.ctx, runs[0].ID)
		if err != nil || len(steps) != 1 || steps[0].Fault != auth {
			t.Fatalf("ListSteps: got %+v, %v; want the fault %+v back", steps, err, auth)
		}
		problems, err := b.st.ListProblems(b.ctx, store.ProblemFilter{})
		if err != nil || len(problems) != 1 || problems[0].Code != "http_401" || problems[0].Class != "auth" || problems[0].Count != 1 {
			t.Fatalf("ListProblems: got %+v, %v; want one http_401 problem", problems, err)
		}
	}},
	{"LeaseAndAck", func(t *testing.T, open opener) {
		b := setup(t, open)
		for range 3 {
			finishRun(t, b.st, b.flow.ID, store.RunFailed)
		}
		now := time.Now()
		first, err := b.st.ClaimEvents(b.ctx, now, now.Add(time.Minute), 10)
		requireNoError(t, err, "ClaimEvents")
		if len(first) != 3 || first[0].Attempts != 1 {
			t.Fatalf("first claim: %+v", first)
		}
		none, err := b.st.ClaimEvents(b.ctx, now, now.Add(time.Minute), 10)
		requireNoError(t, err, "ClaimEvents(leased)")
		if len(none) != 0 {
			t.Fatalf("leased events handed out again: %+v", none)
		}
		requireNoError(t, b.st.AckEvents(b.ctx, []int64{first[0].ID, first[2].ID}), "AckEvents")
		// After the lease ends, only the unacknowledged event returns.
		later := now.Add(2 * time.Minute)
		again, err := b.st.ClaimEvents(b.ctx, later, later.Add(time.Minute), 10)
		requireNoError(t, err, "ClaimEvents(expired)")
		if len(again) != 1 || again[0].ID != first[1].ID || again[0].Attempts != 2 {
			t.Fatalf("after the lease: %+v, want event %d with 2 attempts", again, first[1].ID)
		}
		requireNoError(t, b.st.AckEvents(b.ctx, []int64{again[0].ID}), "AckEvents")
		requireNoError(t, b.st.AckEvents(b.ctx, nil), "AckEvents(none)")
		end := later.Add(time.Hour)
		if left, err := b.st.ClaimEvents(b.ctx, end, end.Add(time.Minute), 10); err != nil || len(left) != 0 {
			t.Fatalf("events left after acknowledging all: %+v %v", left, err)
		}
	}},
	{"ClaimConcurrent", func(t *testing.T, open opener) {
		b := setup(t, open)
		const events, claimers = 60, 8
		want := map[int64]bool{}
		for range events {
			want[finishRun(t, b.st, b.flow.ID, store.RunFailed).ID] = true
		}
		// Several notifiers (nodes) claim at once: every event goes to
		// exactly one of them, so no failure is reported twice.
		var mu sync.Mutex
		runs := map[int64]int{}
		seen := claimConcurrently(t, claimers, func() ([]int64, error) {
			got, err := b.st.ClaimEvents(b.ctx, time.Now(), time.Now().Add(time.Hour), 3)
			ids := make([]int64, len(got))
			mu.Lock()
			defer mu.Unlock()
			for i, e := range got {
				if i > 0 && e.ID <= got[i-1].ID {
					t.Errorf("ClaimEvents: events out of order: %+v", got)
				}
				ids[i] = e.ID
				runs[e.RunID]++
			}
			return ids, err
		})
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("event %d claimed %d times", id, n)
			}
		}
		if len(seen) != events || len(runs) != events {
			t.Fatalf("claimed %d events for %d runs, want %d", len(seen), len(runs), events)
		}
		for id := range runs {
			if !want[id] {
				t.Fatalf("claimed an event of unknown run %d", id)
			}
		}
		requireEvents(t, claimAll(t, b.st), time.Time{}, time.Now())
	}},
}

// requireNoteIDs fails unless notes have exactly the ids, in order.
func requireNoteIDs(t *testing.T, notes []store.Notification, want []int64, what string) {
	t.Helper()
	got := make([]int64, len(notes))
	for i, n := range notes {
		got[i] = n.ID
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got notification ids %v, want %v", what, got, want)
	}
}

// requireUnread fails unless the user has n unread notifications.
func requireUnread(t *testing.T, st store.Store, userID int64, n int) {
	t.Helper()
	got, err := st.CountUnread(t.Context(), userID)
	requireNoError(t, err, "CountUnread")
	if got != n {
		t.Fatalf("CountUnread(user %d): got %d, want %d", userID, got, n)
	}
}

// notificationTests check the per-user feed.
var notificationTests = []test{
	{"AddAndList", func(t *testing.T, open opener) {
		b := setup(t, open)
		at := time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond)
		before := time.Now()
		n1, err := b.st.AddNotification(b.ctx, store.Notification{UserID: b.user.ID, Kind: store.NoteRunFailed, Title: "Run failed", Body: "fetch: 401",
			FlowID: b.flow.ID, RunID: 42, CreatedAt: at})
		requireNoError(t, err, "AddNotification")
		n2, err := b.st.AddNotification(b.ctx, store.Notification{UserID: b.user.ID, Kind: store.NoteConnectionBroken, Title: "crm broken", Body: "token expired", ConnectionID: 7})
		requireNoError(t, err, "AddNotification(now)")
		if n1.ID == 0 || n2.ID <= n1.ID || n1.ReadAt != nil || n2.ReadAt != nil {
			t.Fatalf("AddNotification: got %+v and %+v", n1, n2)
		}
		requireTime(t, n1.CreatedAt, at, "AddNotification created_at")
		requireBetween(t, n2.CreatedAt, before, time.Now(), "AddNotification default created_at")

		list, err := b.st.ListNotifications(b.ctx, b.user.ID, false, 0)
		requireNoError(t, err, "ListNotifications")
		requireNoteIDs(t, list, []int64{n2.ID, n1.ID}, "ListNotifications (newest first)")
		for i, want := range []store.Notification{n2, n1} {
			got := list[i]
			if got.UserID != b.user.ID || got.Kind != want.Kind || got.Title != want.Title || got.Body != want.Body ||
				got.FlowID != want.FlowID || got.RunID != want.RunID || got.ConnectionID != want.ConnectionID || got.ReadAt != nil {
				t.Fatalf("ListNotifications[%d]: got %+v, want %+v", i, got, want)
			}
			requireTime(t, got.CreatedAt, want.CreatedAt, "ListNotifications created_at")
		}
		one, err := b.st.ListNotifications(b.ctx, b.user.ID, false, 1)
		requireNoError(t, err, "ListNotifications(limit 1)")
		requireNoteIDs(t, one, []int64{n2.ID}, "ListNotifications(limit 1)")
		none, err := b.st.ListNotifications(b.ctx, b.user.ID+1000, false, 0)
		requireNoError(t, err, "ListNotifications(other user)")
		requireNoteIDs(t, none, []int64{}, "ListNotifications(other user)")
	}},
	{"MarkRead", func(t *testing.T, open opener) {
		b := setup(t, open)
		other := createUser(t, b.st, "")
		add := func(userID int64, title string) store.Notification {
			t.Helper()
			n, err := b.st.AddNotification(b.ctx, store.Notification{UserID: userID, Kind: store.NoteFlowTurnedOff, Title: title, Body: "b", FlowID: b.flow.ID})
			requireNoError(t, err, "AddNotification")
			return n
		}
		a1, a2, a3 := add(b.user.ID, "a1"), add(b.user.ID, "a2"), add(b.user.ID, "a3")
		o1 := add(other.ID, "o1")
		requireUnread(t, b.st, b.user.ID, 3)
		requireUnread(t, b.st, other.ID, 1)

		// Another user's id is ignored.
		before := time.Now()
		requireNoError(t, b.st.MarkRead(b.ctx, b.user.ID, []int64{a1.ID, a3.ID, o1.ID}), "MarkRead(some)")
		after := time.Now()
		requireUnread(t, b.st, b.user.ID, 1)
		requireUnread(t, b.st, other.ID, 1)
		unread, err := b.st.ListNotifications(b.ctx, b.user.ID, true, 0)
		requireNoError(t, err, "ListNotifications(unread)")
		requireNoteIDs(t, unread, []int64{a2.ID}, "ListNotifications(unread)")
		all, err := b.st.ListNotifications(b.ctx, b.user.ID, false, 0)
		requireNoError(t, err, "ListNotifications")
		requireNoteIDs(t, all, []int64{a3.ID, a2.ID, a1.ID}, "ListNotifications")
		if all[1].ReadAt != nil {
			t.Fatalf("unread notification has read_at %v", all[1].ReadAt)
		}
		if all[0].ReadAt == nil || all[2].ReadAt == nil {
			t.Fatalf("MarkRead(some) left a marked notification unread: %+v", all)
		}
		requireBetween(t, *all[0].ReadAt, before, after, "read_at")
		firstRead := *all[2].ReadAt

		waitPast(after)
		requireNoError(t, b.st.MarkRead(b.ctx, b.user.ID, nil), "MarkRead(all)")
		requireUnread(t, b.st, b.user.ID, 0)
		requireUnread(t, b.st, other.ID, 1)
		unread, err = b.st.ListNotifications(b.ctx, b.user.ID, true, 0)
		requireNoError(t, err, "ListNotifications(unread)")
		requireNoteIDs(t, unread, []int64{}, "ListNotifications(unread, all read)")
		all, err = b.st.ListNotifications(b.ctx, b.user.ID, false, 0)
		requireNoError(t, err, "ListNotifications")
		if all[1].ReadAt == nil {
			t.Fatal("MarkRead(all) left a notification unread")
		}
		// A notification already read keeps when it was first read.
		requireTimePtr(t, all[2].ReadAt, firstRead, "read_at of a notification read twice")
		otherList, err := b.st.ListNotifications(b.ctx, other.ID, true, 0)
		requireNoError(t, err, "ListNotifications(other user)")
		requireNoteIDs(t, otherList, []int64{o1.ID}, "ListNotifications(other user, unread)")
	}},
}

// claimConcurrently runs claim from several claimers at once until it
// returns nothing, and counts how often each id was claimed.
func claimConcurrently(t *testing.T, claimers int, claim func() ([]int64, error)) map[int64]int {
	t.Helper()
	var mu sync.Mutex
	got := map[int64]int{}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range claimers {
		wg.Go(func() {
			<-start
			for {
				ids, err := claim()
				if err != nil {
					t.Errorf("claim: %v", err)
					return
				}
				if len(ids) == 0 {
					return
				}
				mu.Lock()
				for _, id := range ids {
					got[id]++
				}
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	return got
}

// enqueue puts a message for ann@example.com in the outbox.
func enqueue(t *testing.T, st store.Store, subject string) store.Mail {
	t.Helper()
	m, err := st.EnqueueMail(t.Context(), store.Mail{To: []string{"ann@example.com", "Bob <bob@example.com>"}, Subject: subject,
		Text: "text of " + subject, HTML: "<p>" + subject + "</p>", Kind: "repair_tip"})
	if err != nil {
		t.Fatalf("EnqueueMail(%q): %v", subject, err)
	}
	return m
}

// requireMailIDs fails unless mail has exactly the ids, in order.
func requireMailIDs(t *testing.T, mail []store.Mail, want []int64, what string) {
	t.Helper()
	got := make([]int64, len(mail))
	for i, m := range mail {
		got[i] = m.ID
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got mail ids %v, want %v", what, got, want)
	}
}

// getMail finds a message in the outbox.
func getMail(t *testing.T, st store.Store, id int64) store.Mail {
	t.Helper()
	all, err := st.ListMail(t.Context(), "", 1000)
	requireNoError(t, err, "ListMail")
	for _, m := range all {
		if m.ID == id {
			return m
		}
	}
	t.Fatalf("mail %d not in the outbox", id)
	return store.Mail{}
}

// outboxTests check the mail outbox.
var outboxTests = []test{
	{"EnqueueAndClaim", func(t *testing.T, open opener) {
		b := setup(t, open)
		before := time.Now()
		m1 := enqueue(t, b.st, "one")
		m2 := enqueue(t, b.st, "two")
		after := time.Now()
		if m1.ID == 0 || m2.ID <= m1.ID || m1.Status != store.MailQueued || m1.Attempts != 0 || m1.SentAt != nil {
			t.Fatalf("EnqueueMail: got %+v and %+v", m1, m2)
		}
		requireBetween(t, m1.CreatedAt, before, after, "EnqueueMail created_at")
		requireBetween(t, m1.NextAttemptAt, before, after, "EnqueueMail next_attempt_at")

		_, err := b.st.EnqueueMail(b.ctx, store.Mail{Subject: "nobody", Text: "t"})
		if err == nil {
			t.Fatal("EnqueueMail without a recipient succeeded")
		}

		early, err := b.st.ClaimMail(b.ctx, before.Add(-time.Second), after.Add(time.Minute), 10)
		requireNoError(t, err, "ClaimMail(before)")
		requireMailIDs(t, early, []int64{}, "ClaimMail(before enqueued)")
		lease := after.Add(time.Minute).UTC()
		one, err := b.st.ClaimMail(b.ctx, after.Add(time.Second), lease, 1)
		requireNoError(t, err, "ClaimMail(limit 1)")
		requireMailIDs(t, one, []int64{m1.ID}, "ClaimMail(limit 1)")
		got := one[0]
		if !slices.Equal(got.To, m1.To) || got.Subject != "one" || got.Text != "text of one" || got.HTML != "<p>one</p>" || got.Kind != "repair_tip" ||
			got.Status != store.MailQueued || got.Attempts != 0 || got.LastError != "" || got.MessageID != "" || got.SentAt != nil {
			t.Fatalf("ClaimMail[0]: got %+v, want %+v", got, m1)
		}
		requireTime(t, got.CreatedAt, m1.CreatedAt, "ClaimMail created_at")
		requireTime(t, got.NextAttemptAt, lease, "ClaimMail next_attempt_at (the lease)")
		rest, err := b.st.ClaimMail(b.ctx, after.Add(time.Second), lease, 10)
		requireNoError(t, err, "ClaimMail(rest)")
		requireMailIDs(t, rest, []int64{m2.ID}, "ClaimMail while the first is leased")
		none, err := b.st.ClaimMail(b.ctx, lease.Add(-time.Second), lease.Add(time.Minute), 10)
		requireNoError(t, err, "ClaimMail(leased)")
		requireMailIDs(t, none, []int64{}, "ClaimMail before the leases end")
		// A sender that died mid-send: its messages come back after the
		// lease, unchanged but for the new lease.
		again, err := b.st.ClaimMail(b.ctx, lease.Add(time.Second), lease.Add(time.Minute), 10)
		requireNoError(t, err, "ClaimMail(after the lease)")
		requireMailIDs(t, again, []int64{m1.ID, m2.ID}, "ClaimMail after the leases end")
		if again[0].Attempts != 0 || again[0].Status != store.MailQueued {
			t.Fatalf("mail claimed again after its lease: got %+v", again[0])
		}
		// The sender holding a lease records its delivery as usual.
		requireNoError(t, b.st.MarkMailSent(b.ctx, m1.ID, "<one@sluice>", time.Now()), "MarkMailSent(leased)")
	}},
	{"ClaimOnceConcurrent", func(t *testing.T, open opener) {
		b := setup(t, open)
		const messages, senders = 60, 6
		want := map[int64]bool{}
		for i := range messages {
			want[enqueue(t, b.st, fmt.Sprintf("m%d", i)).ID] = true
		}
		got := claimConcurrently(t, senders, func() ([]int64, error) {
			now := time.Now()
			ms, err := b.st.ClaimMail(b.ctx, now, now.Add(time.Hour), 3)
			ids := make([]int64, len(ms))
			for i, m := range ms {
				ids[i] = m.ID
			}
			return ids, err
		})
		if len(got) != len(want) {
			t.Fatalf("%d senders claimed %d messages, want %d", senders, len(got), len(want))
		}
		for id, n := range got {
			if n != 1 || !want[id] {
				t.Errorf("mail %d claimed %d times, want once", id, n)
			}
		}
	}},
	{"RetryLater", func(t *testing.T, open opener) {
		b := setup(t, open)
		m1 := enqueue(t, b.st, "one")
		m2 := enqueue(t, b.st, "two")
		now := time.Now().UTC()
		next := now.Add(time.Hour)
		requireNoError(t, b.st.MarkMailRetry(b.ctx, m1.ID, "421 try later", next), "MarkMailRetry")

		if got := getMail(t, b.st, m1.ID); got.Status != store.MailQueued || got.Attempts != 1 || got.LastError != "421 try later" {
			t.Fatalf("mail after MarkMailRetry: got %+v", got)
		} else {
			requireTime(t, got.NextAttemptAt, next, "next_attempt_at after MarkMailRetry")
		}
		due, err := b.st.ClaimMail(b.ctx, now.Add(time.Second), now.Add(time.Minute), 10)
		requireNoError(t, err, "ClaimMail")
		requireMailIDs(t, due, []int64{m2.ID}, "ClaimMail (retry not due)")
		due, err = b.st.ClaimMail(b.ctx, next.Add(time.Second), next.Add(time.Minute), 10)
		requireNoError(t, err, "ClaimMail(later)")
		requireMailIDs(t, due, []int64{m2.ID, m1.ID}, "ClaimMail(later), by next attempt")

		requireNoError(t, b.st.MarkMailRetry(b.ctx, m1.ID, "421 again", now.Add(2*time.Hour)), "MarkMailRetry(again)")
		if got := getMail(t, b.st, m1.ID); got.Attempts != 2 || got.LastError != "421 again" {
			t.Fatalf("mail after second MarkMailRetry: got %+v", got)
		}
		err = b.st.MarkMailRetry(b.ctx, m2.ID+1000, "x", next)
		requireErrorIs(t, err, store.ErrNotFound, "MarkMailRetry(missing)")
	}},
	{"SentOnce", func(t *testing.T, open opener) {
		b := setup(t, open)
		m := enqueue(t, b.st, "one")
		requireNoError(t, b.st.MarkMailRetry(b.ctx, m.ID, "timeout", time.Now().Add(-time.Second)), "MarkMailRetry")
		at := time.Now().UTC().Add(-time.Minute)
		requireNoError(t, b.st.MarkMailSent(b.ctx, m.ID, "<abc@sluice>", at), "MarkMailSent")
		got := getMail(t, b.st, m.ID)
		if got.Status != store.MailSent || got.MessageID != "<abc@sluice>" || got.Attempts != 2 || got.LastError != "" {
			t.Fatalf("mail after MarkMailSent: got %+v", got)
		}
		requireTimePtr(t, got.SentAt, at, "sent_at")

		err := b.st.MarkMailSent(b.ctx, m.ID, "<def@sluice>", time.Now())
		requireErrorIs(t, err, store.ErrNotFound, "MarkMailSent(twice)")
		err = b.st.MarkMailRetry(b.ctx, m.ID, "late", time.Now().Add(time.Hour))
		requireErrorIs(t, err, store.ErrNotFound, "MarkMailRetry(sent)")
		err = b.st.MarkMailRetry(b.ctx, m.ID, "late", time.Time{})
		requireErrorIs(t, err, store.ErrNotFound, "MarkMailRetry(sent, give up)")
		if got := getMail(t, b.st, m.ID); got.Status != store.MailSent || got.MessageID != "<abc@sluice>" || got.Attempts != 2 {
			t.Fatalf("sent mail changed by later calls: got %+v", got)
		}
		due, err := b.st.ClaimMail(b.ctx, time.Now().Add(time.Hour), time.Now().Add(2*time.Hour), 10)
		requireNoError(t, err, "ClaimMail")
		requireMailIDs(t, due, []int64{}, "ClaimMail (sent)")
		err = b.st.MarkMailSent(b.ctx, m.ID+1000, "<x@sluice>", time.Now())
		requireErrorIs(t, err, store.ErrNotFound, "MarkMailSent(missing)")
	}},
	{"SentOnceConcurrent", func(t *testing.T, open opener) {
		b := setup(t, open)
		const senders = 8
		m := enqueue(t, b.st, "one")
		errs := make([]error, senders)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range senders {
			wg.Go(func() {
				<-start
				errs[i] = b.st.MarkMailSent(b.ctx, m.ID, fmt.Sprintf("<%d@sluice>", i), time.Now())
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, store.ErrNotFound):
				t.Fatalf("MarkMailSent #%d: %v", i, err)
			}
		}
		if ok != 1 {
			t.Fatalf("MarkMailSent from %d senders at once: %d succeeded, want 1", senders, ok)
		}
		if got := getMail(t, b.st, m.ID); got.Status != store.MailSent || got.Attempts != 1 {
			t.Fatalf("mail sent concurrently: got %+v", got)
		}
	}},
	{"GiveUp", func(t *testing.T, open opener) {
		b := setup(t, open)
		m := enqueue(t, b.st, "one")
		requireNoError(t, b.st.MarkMailRetry(b.ctx, m.ID, "550 no such user", time.Time{}), "MarkMailRetry(give up)")
		got := getMail(t, b.st, m.ID)
		if got.Status != store.MailFailed || got.Attempts != 1 || got.LastError != "550 no such user" || got.SentAt != nil {
			t.Fatalf("mail after giving up: got %+v", got)
		}
		due, err := b.st.ClaimMail(b.ctx, time.Now().Add(time.Hour), time.Now().Add(2*time.Hour), 10)
		requireNoError(t, err, "ClaimMail")
		requireMailIDs(t, due, []int64{}, "ClaimMail (failed)")
		err = b.st.MarkMailRetry(b.ctx, m.ID, "again", time.Now())
		requireErrorIs(t, err, store.ErrNotFound, "MarkMailRetry(failed)")
		err = b.st.MarkMailSent(b.ctx, m.ID, "<x@sluice>", time.Now())
		requireErrorIs(t, err, store.ErrNotFound, "MarkMailSent(failed)")
	}},
	{"ListByStatus", func(t *testing.T, open opener) {
		b := setup(t, open)
		sent, failed, queued := enqueue(t, b.st, "sent"), enqueue(t, b.st, "failed"), enqueue(t, b.st, "queued")
		requireNoError(t, b.st.MarkMailSent(b.ctx, sent.ID, "<s@sluice>", time.Now()), "MarkMailSent")
		requireNoError(t, b.st.MarkMailRetry(b.ctx, failed.ID, "550", time.Time{}), "MarkMailRetry(give up)")
		for _, tc := range []struct {
			status string
			limit  int
			want   []int64
		}{
			{"", 0, []int64{queued.ID, failed.ID, sent.ID}},
			{"", 2, []int64{queued.ID, failed.ID}},
			{store.MailQueued, 0, []int64{queued.ID}},
			{store.MailSent, 0, []int64{sent.ID}},
			{store.MailFailed, 10, []int64{failed.ID}},
			{"bogus", 0, []int64{}},
		} {
			got, err := b.st.ListMail(b.ctx, tc.status, tc.limit)
			requireNoError(t, err, "ListMail")
			requireMailIDs(t, got, tc.want, fmt.Sprintf("ListMail(%q, %d)", tc.status, tc.limit))
			for _, m := range got {
				if tc.status != "" && m.Status != tc.status {
					t.Fatalf("ListMail(%q): got a %s message", tc.status, m.Status)
				}
			}
		}
	}},
}

// requireAlerts fails unless alerts are exactly want, in order.
func requireAlerts(t *testing.T, got []store.Alert, want []store.Alert, what string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d alerts %+v, want %d %+v", what, len(got), got, len(want), want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.FlowID != w.FlowID || g.Step != w.Step || g.Code != w.Code || g.Pending != w.Pending || g.LatestRunID != w.LatestRunID {
			t.Fatalf("%s[%d]: got %+v, want %+v", what, i, g, w)
		}
		requireTime(t, g.FirstFailedAt, w.FirstFailedAt, what+" first_failed_at")
		if w.LastSentAt == nil {
			if g.LastSentAt != nil {
				t.Fatalf("%s[%d]: last_sent_at %v, want none", what, i, g.LastSentAt)
			}
		} else {
			requireTimePtr(t, g.LastSentAt, *w.LastSentAt, what+" last_sent_at")
		}
	}
}

// alertTests check the throttling of repair-tip emails.
var alertTests = []test{
	{"CountAlert", func(t *testing.T, open opener) {
		b := setup(t, open)
		other := createFlow(t, b.st, b.user.ID, "", nil)
		t0 := time.Now().UTC().Add(-time.Hour)
		for i, c := range []struct {
			flow       int64
			step, code string
			run        int64
			at         time.Time
		}{
			{b.flow.ID, "fetch", "http_401", 10, t0},
			{b.flow.ID, "fetch", "http_401", 11, t0.Add(time.Minute)},
			{b.flow.ID, "fetch", "http_401", 12, t0.Add(2 * time.Minute)},
			{b.flow.ID, "fetch", "http_500", 13, t0.Add(3 * time.Minute)},
			{b.flow.ID, "send", "http_401", 14, t0.Add(4 * time.Minute)},
			{other.ID, "fetch", "http_401", 15, t0.Add(5 * time.Minute)},
		} {
			requireNoError(t, b.st.CountAlert(b.ctx, c.flow, c.step, c.code, c.run, c.at), fmt.Sprintf("CountAlert #%d", i))
		}
		due, err := b.st.DueAlerts(b.ctx, time.Now(), time.Hour)
		requireNoError(t, err, "DueAlerts")
		requireAlerts(t, due, []store.Alert{
			{FlowID: b.flow.ID, Step: "fetch", Code: "http_401", FirstFailedAt: t0, Pending: 3, LatestRunID: 12},
			{FlowID: b.flow.ID, Step: "fetch", Code: "http_500", FirstFailedAt: t0.Add(3 * time.Minute), Pending: 1, LatestRunID: 13},
			{FlowID: b.flow.ID, Step: "send", Code: "http_401", FirstFailedAt: t0.Add(4 * time.Minute), Pending: 1, LatestRunID: 14},
			{FlowID: other.ID, Step: "fetch", Code: "http_401", FirstFailedAt: t0.Add(5 * time.Minute), Pending: 1, LatestRunID: 15},
		}, "DueAlerts")
	}},
	{"Window", func(t *testing.T, open opener) {
		b := setup(t, open)
		const window = time.Hour
		t0 := time.Now().UTC().Add(-24 * time.Hour)
		count := func(run int64, at time.Time) {
			t.Helper()
			requireNoError(t, b.st.CountAlert(b.ctx, b.flow.ID, "fetch", "http_401", run, at), "CountAlert")
		}
		due := func(now time.Time) []store.Alert {
			t.Helper()
			got, err := b.st.DueAlerts(b.ctx, now, window)
			requireNoError(t, err, "DueAlerts")
			return got
		}
		alert := func(first time.Time, pending int, run int64, sent *time.Time) []store.Alert {
			return []store.Alert{{FlowID: b.flow.ID, Step: "fetch", Code: "http_401", FirstFailedAt: first, Pending: pending, LatestRunID: run, LastSentAt: sent}}
		}
		requireAlerts(t, due(t0), nil, "DueAlerts(nothing counted)")
		count(1, t0)
		count(2, t0.Add(time.Minute))
		// Never sent: due at once.
		requireAlerts(t, due(t0.Add(time.Minute)), alert(t0, 2, 2, nil), "DueAlerts(never sent)")

		sentAt := t0.Add(2 * time.Minute)
		requireNoError(t, b.st.AlertSent(b.ctx, b.flow.ID, "fetch", "http_401", 2, sentAt), "AlertSent")
		requireAlerts(t, due(sentAt.Add(2*window)), nil, "DueAlerts(all reported)")

		// A failure after the email opens a new window, held back until
		// the window since the last email has passed.
		t1 := sentAt.Add(10 * time.Minute)
		count(3, t1)
		requireAlerts(t, due(sentAt.Add(window/2)), nil, "DueAlerts(inside window)")
		requireAlerts(t, due(sentAt.Add(window+time.Minute)), alert(t1, 1, 3, &sentAt), "DueAlerts(after window)")
	}},
	{"SentKeepsLaterFailures", func(t *testing.T, open opener) {
		b := setup(t, open)
		t0 := time.Now().UTC().Add(-24 * time.Hour)
		for i := range 3 {
			requireNoError(t, b.st.CountAlert(b.ctx, b.flow.ID, "fetch", "http_401", int64(i+1), t0.Add(time.Duration(i)*time.Minute)), "CountAlert")
		}
		due, err := b.st.DueAlerts(b.ctx, t0.Add(time.Hour), time.Hour)
		requireNoError(t, err, "DueAlerts")
		if len(due) != 1 || due[0].Pending != 3 {
			t.Fatalf("DueAlerts: got %+v, want one alert with 3 pending", due)
		}
		// Two more fail while the email about the first three is written.
		requireNoError(t, b.st.CountAlert(b.ctx, b.flow.ID, "fetch", "http_401", 4, t0.Add(5*time.Minute)), "CountAlert")
		requireNoError(t, b.st.CountAlert(b.ctx, b.flow.ID, "fetch", "http_401", 5, t0.Add(6*time.Minute)), "CountAlert")
		sentAt := t0.Add(7 * time.Minute)
		requireNoError(t, b.st.AlertSent(b.ctx, b.flow.ID, "fetch", "http_401", due[0].Pending, sentAt), "AlertSent")
		requireAlerts(t, mustDueAlerts(t, b.st, sentAt.Add(time.Minute), time.Hour), nil, "DueAlerts(just sent)")
		later, err := b.st.DueAlerts(b.ctx, sentAt.Add(2*time.Hour), time.Hour)
		requireNoError(t, err, "DueAlerts(later)")
		if len(later) != 1 || later[0].Pending != 2 || later[0].LatestRunID != 5 {
			t.Fatalf("DueAlerts after the window: got %+v, want the 2 failures counted meanwhile", later)
		}
		requireTimePtr(t, later[0].LastSentAt, sentAt, "last_sent_at")

		// Reporting more than is pending leaves none, not a negative count.
		requireNoError(t, b.st.AlertSent(b.ctx, b.flow.ID, "fetch", "http_401", 10, sentAt.Add(2*time.Hour)), "AlertSent(more than pending)")
		requireAlerts(t, mustDueAlerts(t, b.st, sentAt.Add(10*time.Hour), time.Hour), nil, "DueAlerts(all reported)")
		requireNoError(t, b.st.CountAlert(b.ctx, b.flow.ID, "fetch", "http_401", 6, sentAt.Add(3*time.Hour)), "CountAlert")
		requireAlerts(t, mustDueAlerts(t, b.st, sentAt.Add(10*time.Hour), time.Hour),
			[]store.Alert{{FlowID: b.flow.ID, Step: "fetch", Code: "http_401", FirstFailedAt: sentAt.Add(3 * time.Hour), Pending: 1, LatestRunID: 6, LastSentAt: ptr(sentAt.Add(2 * time.Hour))}},
			"DueAlerts(after over-report)")
	}},
}

// mustDueAlerts calls DueAlerts and fails on error.
func mustDueAlerts(t *testing.T, st store.Store, now time.Time, window time.Duration) []store.Alert {
	t.Helper()
	got, err := st.DueAlerts(t.Context(), now, window)
	requireNoError(t, err, "DueAlerts")
	return got
}

// ptr returns a pointer to a copy of v.
func ptr[T any](v T) *T { return &v }

// problemKey describes a problem's grouping and counters for comparing.
func problemKey(p store.Problem) string {
	return fmt.Sprintf("flow=%d %s/%s count=%d latest=%d ongoing=%v", p.FlowID, p.Step, p.Code, p.Count, p.LatestRun, p.Ongoing)
}

// requireProblems fails unless problems match want, in order, on their
// grouping and counters.
func requireProblems(t *testing.T, got []store.Problem, want []store.Problem, what string) {
	t.Helper()
	g := make([]string, len(got))
	for i, p := range got {
		g[i] = problemKey(p)
	}
	w := make([]string, len(want))
	for i, p := range want {
		w[i] = problemKey(p)
	}
	if !slices.Equal(g, w) {
		t.Fatalf("%s: got\n%q\nwant\n%q", what, g, w)
	}
}

// problemTests check the grouping of failed steps into problems.
var problemTests = []test{
	{"Groups", func(t *testing.T, open opener) {
		b := setup(t, open)
		flowA := b.flow
		owner2 := createUser(t, b.st, "")
		flowB := createFlow(t, b.st, owner2.ID, "", nil)
		base := time.Now().UTC().Add(-time.Hour)
		at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
		ok := store.Step{Key: "log", ActionID: "log", Type: "log", Status: "succeeded", Attempts: 1}

		finishRun(t, b.st, flowA.ID, store.RunFailed, ok, failedStep("fetch", "http_401", at(1)))
		timedOut := failedStep("fetch", "http_401", at(2))
		timedOut.Status = "timed_out"
		r2 := finishRun(t, b.st, flowA.ID, store.RunFailed, timedOut)
		// Not problems: no diagnosis, an error that is not JSON, a
		// diagnosis without code, a step that failed then succeeded.
		finishRun(t, b.st, flowA.ID, store.RunFailed, failedStep("parse", "", at(3)))
		notJSON := failedStep("parse", "", at(3))
		notJSON.Error = json.RawMessage(`connection reset by peer`)
		finishRun(t, b.st, flowA.ID, store.RunFailed, notJSON)
		noCode := failedStep("parse", "", at(3))
		noCode.Error = json.RawMessage(`{"message":"x","diagnosis":{"class":"unknown"}}`)
		finishRun(t, b.st, flowA.ID, store.RunFailed, noCode)
		retried := failedStep("retry", "http_503", at(3))
		retried.Status = "succeeded"
		finishRun(t, b.st, flowA.ID, store.RunSucceeded, retried)
		// flowA succeeds after its fetch problem: it is no longer ongoing.
		finishRun(t, b.st, flowA.ID, store.RunSucceeded, ok)
		// A handler and a container that failed as consequences of the
		// run's root cause are not problems of their own: the engine
		// records their errors with no fault code.
		handler := failedStep("finally", "http_404", at(4))
		handler.Error = json.RawMessage(`{"message":"boom","consequence":"handler","diagnosis":{"code":"http_404"}}`)
		handler.Fault.Code = ""
		container := failedStep("try", "http_500", at(4))
		container.Error = json.RawMessage(`{"message":"boom","consequence":"container","diagnosis":{"code":"http_500"}}`)
		container.Fault.Code = ""
		r3 := finishRun(t, b.st, flowA.ID, store.RunFailed, failedStep("send", "smtp_down", at(4)), container, handler)
		r4 := finishRun(t, b.st, flowB.ID, store.RunFailed, failedStep("fetch", "http_401", at(5)))
		// A later failed run of flowB keeps its problem ongoing.
		finishRun(t, b.st, flowB.ID, store.RunFailed, failedStep("other", "", at(6)))

		wantB := store.Problem{FlowID: flowB.ID, Step: "fetch", Code: "http_401", Count: 1, LatestRun: r4.ID, Ongoing: true}
		wantSend := store.Problem{FlowID: flowA.ID, Step: "send", Code: "smtp_down", Count: 1, LatestRun: r3.ID, Ongoing: true}
		wantFetch := store.Problem{FlowID: flowA.ID, Step: "fetch", Code: "http_401", Count: 2, LatestRun: r2.ID, Ongoing: false}

		all, err := b.st.ListProblems(b.ctx, store.ProblemFilter{})
		requireNoError(t, err, "ListProblems")
		requireProblems(t, all, []store.Problem{wantB, wantSend, wantFetch}, "ListProblems (last seen first)")
		fetch := all[2]
		if fetch.FlowName != flowA.Name || fetch.OwnerID != b.user.ID || fetch.Class != "class-http_401" || fetch.Title != "Title http_401" {
			t.Fatalf("ListProblems fetch problem: got %+v", fetch)
		}
		requireTime(t, fetch.FirstSeen, at(1), "first_seen")
		requireTime(t, fetch.LastSeen, at(2), "last_seen")
		if all[0].FlowName != flowB.Name || all[0].OwnerID != owner2.ID {
			t.Fatalf("ListProblems flowB problem: got %+v", all[0])
		}

		for _, tc := range []struct {
			name   string
			filter store.ProblemFilter
			want   []store.Problem
		}{
			{"owner", store.ProblemFilter{OwnerID: b.user.ID}, []store.Problem{wantSend, wantFetch}},
			{"other owner", store.ProblemFilter{OwnerID: owner2.ID}, []store.Problem{wantB}},
			{"unknown owner", store.ProblemFilter{OwnerID: owner2.ID + 1000}, nil},
			{"flow", store.ProblemFilter{FlowID: flowB.ID}, []store.Problem{wantB}},
			{"limit", store.ProblemFilter{Limit: 2}, []store.Problem{wantB, wantSend}},
			{"since before", store.ProblemFilter{Since: base}, []store.Problem{wantB, wantSend, wantFetch}},
			{"since after", store.ProblemFilter{Since: time.Now().Add(time.Hour)}, nil},
		} {
			got, err := b.st.ListProblems(b.ctx, tc.filter)
			requireNoError(t, err, "ListProblems("+tc.name+")")
			requireProblems(t, got, tc.want, "ListProblems("+tc.name+")")
		}

		// The failures of one problem, newest run first.
		runs, err := b.st.ListProblemRuns(b.ctx, store.ProblemRunFilter{FlowID: flowA.ID, Step: "fetch", Code: "http_401"})
		requireNoError(t, err, "ListProblemRuns")
		if len(runs) != 2 || runs[0].RunID != r2.ID || runs[0].Status != store.RunFailed || runs[1].RunID != r2.ID-1 {
			t.Fatalf("ListProblemRuns(fetch/http_401): got %+v, want runs %d and %d", runs, r2.ID, r2.ID-1)
		}
		requireTime(t, runs[0].At, at(2), "problem run at")
		for name, f := range map[string]store.ProblemRunFilter{
			"other flow":  {FlowID: flowB.ID, Step: "send", Code: "smtp_down"},
			"other code":  {FlowID: flowA.ID, Step: "fetch", Code: "http_500"},
			"since after": {FlowID: flowA.ID, Step: "fetch", Code: "http_401", Since: time.Now().Add(time.Hour)},
		} {
			got, err := b.st.ListProblemRuns(b.ctx, f)
			requireNoError(t, err, "ListProblemRuns("+name+")")
			if len(got) != 0 {
				t.Fatalf("ListProblemRuns(%s): got %+v, want none", name, got)
			}
		}
		got, err := b.st.ListProblemRuns(b.ctx, store.ProblemRunFilter{FlowID: flowA.ID, Step: "fetch", Code: "http_401", Limit: 1})
		requireNoError(t, err, "ListProblemRuns(limit)")
		if len(got) != 1 || got[0].RunID != r2.ID {
			t.Fatalf("ListProblemRuns(limit 1): got %+v", got)
		}
	}},
}

// settingsTests check user and flow settings.
var settingsTests = []test{
	{"User", func(t *testing.T, open opener) {
		b := setup(t, open)
		other := createUser(t, b.st, "")
		get := func(userID int64) string {
			t.Helper()
			s, err := b.st.GetUserSettings(b.ctx, userID)
			requireNoError(t, err, "GetUserSettings")
			return s.RepairEmails
		}
		if got := get(b.user.ID); got != "immediately" {
			t.Fatalf("GetUserSettings default: got %q, want immediately", got)
		}
		for _, v := range []string{"daily", "never", "hourly"} {
			requireNoError(t, b.st.SetUserSettings(b.ctx, b.user.ID, store.UserSettings{RepairEmails: v}), "SetUserSettings("+v+")")
			if got := get(b.user.ID); got != v {
				t.Fatalf("GetUserSettings after setting %q: got %q", v, got)
			}
		}
		if got := get(other.ID); got != "immediately" {
			t.Fatalf("GetUserSettings of another user: got %q, want immediately", got)
		}
	}},
	{"Flow", func(t *testing.T, open opener) {
		b := setup(t, open)
		other := createFlow(t, b.st, b.user.ID, "", nil)
		get := func(flowID int64) bool {
			t.Helper()
			s, err := b.st.GetFlowSettings(b.ctx, flowID)
			requireNoError(t, err, "GetFlowSettings")
			return s.RepairEmails
		}
		if !get(b.flow.ID) {
			t.Fatal("GetFlowSettings default: repair emails off, want on")
		}
		requireNoError(t, b.st.SetFlowSettings(b.ctx, b.flow.ID, store.FlowSettings{RepairEmails: false}), "SetFlowSettings(off)")
		if get(b.flow.ID) {
			t.Fatal("GetFlowSettings after turning repair emails off: on")
		}
		if !get(other.ID) {
			t.Fatal("GetFlowSettings of another flow: off, want on")
		}
		// A new version keeps the flow's settings.
		_, err := b.st.AddFlowVersion(b.ctx, store.NewFlowVersion{FlowID: b.flow.ID, CreatedBy: b.user.ID, TriggerType: "manual",
			Definition: json.RawMessage(`{"name":"x","trigger":{"type":"manual"}}`), Source: "name: x\n"})
		requireNoError(t, err, "AddFlowVersion")
		if get(b.flow.ID) {
			t.Fatal("GetFlowSettings after AddFlowVersion: on, want off")
		}
		requireNoError(t, b.st.SetFlowSettings(b.ctx, b.flow.ID, store.FlowSettings{RepairEmails: true}), "SetFlowSettings(on)")
		if !get(b.flow.ID) {
			t.Fatal("GetFlowSettings after turning repair emails on: off")
		}

		_, err = b.st.GetFlowSettings(b.ctx, other.ID+1000)
		requireErrorIs(t, err, store.ErrNotFound, "GetFlowSettings(missing)")
		err = b.st.SetFlowSettings(b.ctx, other.ID+1000, store.FlowSettings{RepairEmails: true})
		requireErrorIs(t, err, store.ErrNotFound, "SetFlowSettings(missing)")
	}},
}
