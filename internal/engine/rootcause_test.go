package engine_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/sluice/sluice/internal/store"
)

// TestRootCause runs examples/try-catch-finally.yaml with none of its
// connections: create_invoice fails first, and the scope that holds it,
// the catch and the finally fail after it. The run's error names
// create_invoice, and every other failed step is marked a consequence.
func TestRootCause(t *testing.T) {
	b := setup(t)
	src, err := os.ReadFile("../../examples/try-catch-finally.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f := b.apply(t, string(src))
	r, steps := b.wait(t, b.trigger(t, f, map[string]any{"order_id": 7, "amount": 10}).ID)
	if r.Status != store.RunFailed {
		t.Fatalf("run %s, want failed", r.Status)
	}
	if !strings.HasPrefix(r.Error, `step "create_invoice" failed: `) || !strings.HasSuffix(r.Error, `(then "try", "catch", "finally" failed as a consequence)`) {
		t.Errorf("run error = %q, want it to name create_invoice, then its consequences", r.Error)
	}
	for key, want := range map[string]string{"create_invoice": "", "try": store.ConsequenceContainer, "catch": store.ConsequenceHandler, "finally": store.ConsequenceHandler} {
		st := steps[key]
		if !store.StepFailed(st.Status) {
			t.Errorf("step %s: %s, want failed", key, st.Status)
			continue
		}
		var e struct {
			Consequence string `json:"consequence"`
		}
		if err := json.Unmarshal(st.Error, &e); err != nil {
			t.Fatalf("step %s error: %v", key, err)
		}
		if e.Consequence != want {
			t.Errorf("step %s consequence = %q, want %q", key, e.Consequence, want)
		}
	}
}

// TestHandlerAloneIsRootCause: a finally that fails in a run where nothing
// failed before it is the run's root cause, not a consequence.
func TestHandlerAloneIsRootCause(t *testing.T) {
	b := setup(t)
	f := b.apply(t, `name: finally alone
trigger: { type: manual }
actions:
  - id: work
    type: compose
    with: { value: fine }
  - id: finally
    type: http
    connection: audit
    run_after: { work: [succeeded, failed] }
    with: { url: "https://audit.example.com/events" }
`)
	r, steps := b.wait(t, b.trigger(t, f, nil).ID)
	if r.Status != store.RunFailed || !strings.HasPrefix(r.Error, `step "finally" failed: `) || strings.Contains(r.Error, "consequence") {
		t.Errorf("run %s error %q, want failed at finally", r.Status, r.Error)
	}
	if strings.Contains(string(steps["finally"].Error), "consequence") {
		t.Errorf("finally error %s marked a consequence", steps["finally"].Error)
	}
}
