package sqlite

import (
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// failRuns finishes n failed runs of a new flow and returns their ids.
func failRuns(t *testing.T, s *Store, n int) []int64 {
	t.Helper()
	ctx := t.Context()
	u, err := s.CreateUser(ctx, store.User{Email: "ann@example.com", PasswordHash: "x", Role: store.RoleMaker})
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.CreateFlow(ctx, store.NewFlow{Name: "f", OwnerID: u.ID, TriggerType: "manual", WebhookToken: "wh", Definition: json.RawMessage(`{}`), Source: "x"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for range n {
		r, err := s.CreateRun(ctx, store.NewRun{FlowID: f.ID, FlowVersion: 1, TriggerType: "manual", LeaseOwner: "w", LeaseUntil: time.Now().Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.FinishRun(ctx, "w", r.ID, store.RunFinish{Status: store.RunFailed}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	return ids
}

// TestClaimEventsOnce claims from several goroutines at once: every event
// goes to exactly one claimer, so two notifiers never report a failure
// twice.
func TestClaimEventsOnce(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	want := failRuns(t, s, 200)
	var mu sync.Mutex
	got := map[int64]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				evs, err := s.ClaimEvents(t.Context(), time.Now(), time.Now().Add(time.Hour), 7)
				if err != nil {
					t.Error(err)
					return
				}
				if len(evs) == 0 {
					return
				}
				for i, e := range evs {
					if i > 0 && e.ID <= evs[i-1].ID {
						t.Errorf("events out of order: %+v", evs)
					}
				}
				mu.Lock()
				for _, e := range evs {
					got[e.RunID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(got) != len(want) {
		t.Fatalf("claimed events for %d runs, want %d", len(got), len(want))
	}
	for _, id := range want {
		if got[id] != 1 {
			t.Errorf("run %d claimed %d times", id, got[id])
		}
	}
}

// TestEventsSurviveReopen checks that an event written with a failed run
// is still there after the store is closed and opened again, as after a
// crash before the notifier claimed it.
func TestEventsSurviveReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sluice.db")
	s, err := Open(t.Context(), path, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	ids := failRuns(t, s, 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	evs, err := s.ClaimEvents(t.Context(), time.Now(), time.Now().Add(time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 {
		t.Fatalf("%d events after reopening, want 3", len(evs))
	}
	for i, e := range evs {
		if e.Kind != store.EventRunFailed || e.RunID != ids[i] {
			t.Errorf("event %d: %+v, want run_failed of run %d", i, e, ids[i])
		}
	}
}

// TestMailNotSentTwice checks that a message marked sent cannot be marked
// sent or retried again: a second delivery of the same outbox row is
// refused by the store.
func TestMailNotSentTwice(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := t.Context()
	m, err := s.EnqueueMail(ctx, store.Mail{To: []string{"ann@example.com"}, Subject: "s", Text: "t", Kind: "repair_tip"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MarkMailSent(ctx, m.ID, "id@example.com", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkMailSent(ctx, m.ID, "id2@example.com", time.Now()); err == nil {
		t.Error("marked sent twice")
	}
	if err := s.MarkMailRetry(ctx, m.ID, "boom", time.Now().Add(time.Minute)); err == nil {
		t.Error("a sent message was put back in the queue")
	}
	due, err := s.DueMail(ctx, time.Now().Add(time.Hour), 10)
	if err != nil || len(due) != 0 {
		t.Fatalf("due after sent: %+v %v", due, err)
	}
}
