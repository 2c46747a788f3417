package sqlite

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// TestRunIDsAfterOutsideWrites checks the in-memory run id counter
// against runs written to the file behind the store's back: it starts
// past the runs in the file, CreateRun goes past a run that took its next
// id, and a reserved id that another run took is refused as a conflict,
// with the next reservation past it.
func TestRunIDsAfterOutsideWrites(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/sluice.db"
	s := openAt(t, path)
	ctx := t.Context()
	u, err := s.CreateUser(ctx, store.User{Email: "a@example.com", PasswordHash: "x", Role: store.RoleMaker})
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.CreateFlow(ctx, store.NewFlow{Name: "f", OwnerID: u.ID, TriggerType: "manual", WebhookToken: "tok", Definition: json.RawMessage(`{}`), Source: "x"})
	if err != nil {
		t.Fatal(err)
	}
	nr := store.NewRun{FlowID: f.ID, FlowVersion: 1, TriggerType: "manual", Input: json.RawMessage(`{}`)}
	first, err := s.CreateRun(ctx, nr)
	if err != nil {
		t.Fatal(err)
	}
	outside := func(id int64) {
		t.Helper()
		if _, err := s.write.ExecContext(ctx, `INSERT INTO runs (id, flow_id, flow_version, status, trigger_type, input, created_at, next_attempt_at) VALUES (?, ?, 1, 'succeeded', 'manual', '{}', 0, 0)`, id, f.ID); err != nil {
			t.Fatal(err)
		}
	}
	outside(first.ID + 1)
	outside(first.ID + 2)
	r, err := s.CreateRun(ctx, nr)
	if err != nil {
		t.Fatalf("CreateRun after runs written outside: %v", err)
	}
	if r.ID != first.ID+3 {
		t.Fatalf("CreateRun: id %d, want %d", r.ID, first.ID+3)
	}

	id, err := s.ReserveRunID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	outside(id)
	nr.ID, nr.CreatedAt, nr.Finish = id, time.Now(), &store.RunFinish{Status: store.RunSucceeded}
	if err := s.SaveNewRun(ctx, nr); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("SaveNewRun of a taken id: %v, want a conflict", err)
	}
	next, err := s.ReserveRunID(ctx)
	if err != nil || next <= id {
		t.Fatalf("ReserveRunID after the conflict: %d %v, want past %d", next, err, id)
	}

	// A store opened on the file starts past its runs.
	s.Close()
	s2 := openAt(t, path)
	if got, _ := s2.ReserveRunID(ctx); got != id+1 {
		t.Fatalf("ReserveRunID after reopening: %d, want %d", got, id+1)
	}
}
