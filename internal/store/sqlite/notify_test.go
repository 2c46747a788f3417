package sqlite

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/storetest"
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

// TestDigestsSeededFromOutbox upgrades a store whose notifier kept the
// last digest in memory: migration 0010 takes each user's last digest
// from the outbox, so that the first pass after the upgrade does not send
// a second digest early.
func TestDigestsSeededFromOutbox(t *testing.T) {
	t.Parallel()
	s, path := openBefore(t, 10)
	ctx := t.Context()
	u, err := s.CreateUser(ctx, store.User{Email: "Ann@Example.com", PasswordHash: "x", Role: store.RoleMaker})
	if err != nil {
		t.Fatal(err)
	}
	var last store.Mail
	for _, kind := range []string{"repair_digest", "repair_digest", "repair_tip"} {
		m, err := s.EnqueueMail(ctx, store.Mail{To: []string{"ann@example.com"}, Subject: kind, Text: "t", Kind: kind})
		if err != nil {
			t.Fatal(err)
		}
		if kind == "repair_digest" {
			last = m
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	got, err := s.LastDigest(ctx, u.ID)
	if err != nil {
		t.Fatalf("LastDigest after the upgrade: %v", err)
	}
	if !got.Equal(last.CreatedAt) {
		t.Fatalf("LastDigest after the upgrade: %s, want the last digest's %s", got, last.CreatedAt)
	}
}

// TestStepFaultsBackfilled upgrades a store whose step errors were only
// JSON: migration 0011 fills the fault columns from the errors already
// recorded, so that problems and the runs a fixed connection can rescue
// are found as before the upgrade, and leaves them empty for an error
// that is not a JSON object.
func TestStepFaultsBackfilled(t *testing.T) {
	t.Parallel()
	s, path := openBefore(t, 11)
	ctx := t.Context()
	runs := storetest.FaultRuns(t, s)
	for key, id := range runs {
		if _, err := s.write.ExecContext(ctx, `INSERT INTO steps (run_id, key, seq, action_id, type, status, attempts, error) VALUES (?, ?, 1, ?, 'http', 'failed', 1, ?)`,
			id, key, key, storetest.FaultErrors[key]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	storetest.CheckFaultsBackfilled(t, openAt(t, path), runs)
}
