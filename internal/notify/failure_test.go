package notify_test

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/notify"
	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/sqlite"
)

// TestRunFailuresPages checks that RunFailures finds the failures of a run
// with more steps than one page, in order, and tells a run with no steps.
func TestRunFailuresPages(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sluice.db"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	u, err := st.CreateUser(ctx, store.User{Email: "ann@example.com", PasswordHash: "x", Role: store.RoleMaker})
	if err != nil {
		t.Fatal(err)
	}
	f, err := st.CreateFlow(ctx, store.NewFlow{Name: "f", OwnerID: u.ID, TriggerType: "manual", WebhookToken: "t", Definition: []byte(`{}`), Source: "x"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := st.CreateRun(ctx, store.NewRun{FlowID: f.ID, FlowVersion: 1, TriggerType: "manual", LeaseOwner: "w", LeaseUntil: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	steps := make([]store.Step, 2500)
	for i := range steps {
		steps[i] = store.Step{Key: fmt.Sprintf("loop[%d].c", i), ActionID: "c", Type: "http", Status: "succeeded", Attempts: 1}
	}
	steps[10].Status, steps[2499].Status = "failed", "timed_out"
	if err := st.FinishRun(ctx, "w", r.ID, store.RunFinish{Status: store.RunFailed, Steps: steps}); err != nil {
		t.Fatal(err)
	}
	fails, any, err := notify.RunFailures(ctx, st, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !any || len(fails) != 2 || fails[0].Key != "loop[10].c" || fails[1].Key != "loop[2499].c" {
		t.Fatalf("RunFailures: any %t, %+v", any, fails)
	}
	if fails, any, err := notify.RunFailures(ctx, st, r.ID+1); err != nil || any || len(fails) != 0 {
		t.Fatalf("RunFailures(no such run): %v %t %v", fails, any, err)
	}
}
