package engine_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/flow"
	"github.com/sluice/sluice/internal/store"
)

// requireLimitFailure checks that the run failed on a per-run limit at the
// step key, with a flow diagnosis of code that is not retried.
func requireLimitFailure(t *testing.T, r store.Run, steps map[string]store.Step, key, code string) {
	t.Helper()
	if r.Status != store.RunFailed {
		t.Fatalf("run %s %q, want failed on %s", r.Status, r.Error, code)
	}
	st, ok := steps[key]
	if !ok {
		t.Fatalf("no step %s; run error %q", key, r.Error)
	}
	var serr engine.StepError
	if err := json.Unmarshal(st.Error, &serr); err != nil {
		t.Fatalf("step %s error %q: %v", key, st.Error, err)
	}
	if st.Status != flow.StatusFailed || serr.Class != "flow" || serr.Retryable || serr.Diagnosis == nil || serr.Diagnosis.Code != code {
		t.Fatalf("step %s: %s, class %q retryable %v diagnosis %+v", key, st.Status, serr.Class, serr.Retryable, serr.Diagnosis)
	}
	if !strings.Contains(r.Error, serr.Message) {
		t.Fatalf("run error %q does not say %q", r.Error, serr.Message)
	}
}

// countPrefix counts the steps whose key starts with prefix.
func countPrefix(steps map[string]store.Step, prefix string) int {
	n := 0
	for k := range steps {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

// handled is a step that runs when loop failed, to prove that a spent
// limit ends the run rather than failing one step.
const handled = `
  - id: after
    type: compose
    run_after: { loop: [failed] }
    with: { value: handled }`

// TestForeachOverStepLimitRefusedBeforeItems checks that a foreach whose
// items times body steps is sure to pass the run's step limit is refused
// before its first item, and ends the run.
func TestForeachOverStepLimitRefusedBeforeItems(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *engine.Config) { c.MaxRunSteps = 1000 })
	f := b.apply(t, foreachFlow("steps", `
      - id: d
        type: compose
        with: { value: "{{ steps.c.output }}" }`)+handled)
	r, steps := b.wait(t, b.trigger(t, f, map[string]any{"items": items(600)}).ID)
	requireLimitFailure(t, r, steps, "loop", "run.steps")
	if n := countPrefix(steps, "loop["); n != 0 {
		t.Fatalf("%d steps of the foreach's items ran", n)
	}
	if _, ok := steps["after"]; ok {
		t.Fatal("a handler ran after the limit was spent")
	}
	if !strings.Contains(r.Error, "needs at least 1200 steps") {
		t.Fatalf("run error %q does not say what was needed", r.Error)
	}
	// Under the limit, the same flow runs.
	r, steps = b.wait(t, b.trigger(t, f, map[string]any{"items": items(400)}).ID)
	// 2 per item, loop, and after skipped.
	if r.Status != store.RunSucceeded || len(steps) != 802 {
		t.Fatalf("400 items: run %s %q with %d steps", r.Status, r.Error, len(steps))
	}
}

// TestNestedForeachStopsAtStepLimit checks a nested foreach over ranges
// ({{ 1..n }} is a typed list): its size is not known up front, so the
// step that passes the limit is refused, and no more are recorded.
func TestNestedForeachStopsAtStepLimit(t *testing.T) {
	t.Parallel()
	const limit = 500
	b := setup(t, func(c *engine.Config) { c.MaxRunSteps = limit })
	f := b.apply(t, `name: nested
trigger: { type: manual }
actions:
  - id: loop
    type: foreach
    foreach: "{{ 1..100 }}"
    concurrency: 4
    actions:
      - id: inner
        type: foreach
        foreach: "{{ 1..40 }}"
        actions:
          - id: c
            type: compose
            with: { value: "{{ item }}" }
`+handled)
	r, steps := b.wait(t, b.trigger(t, f, nil).ID)
	if r.Status != store.RunFailed || !strings.Contains(r.Error, "run step limit reached") {
		t.Fatalf("run %s %q, want failed on the step limit", r.Status, r.Error)
	}
	// Each iteration that started may refuse one step of its own.
	if len(steps) > limit+4 {
		t.Fatalf("%d steps recorded, want at most %d", len(steps), limit+4)
	}
	refused := 0
	for key, st := range steps {
		// Iterations running at once may each refuse a step; the run names
		// the first, its root cause, and marks the others consequences.
		if st.Status == flow.StatusFailed && strings.Contains(string(st.Error), "run.steps") && !strings.Contains(string(st.Error), `"consequence"`) {
			refused++
			requireLimitFailure(t, r, steps, key, "run.steps")
			break
		}
	}
	if refused == 0 {
		t.Fatal("no step carries the run.steps diagnosis")
	}
	if _, ok := steps["after"]; ok {
		t.Fatal("a handler ran after the limit was spent")
	}
}

// TestStepLimitCountsRecordedSteps checks that a run parked and resumed
// counts the steps it recorded before: the second foreach is refused up
// front because the first one's steps are durable.
func TestStepLimitCountsRecordedSteps(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *engine.Config) { c.MaxRunSteps = 50 })
	f := b.apply(t, foreachFlow("resume", "")+`
  - id: pause
    type: delay
    with: { duration: 20ms }
  - id: again
    type: foreach
    foreach: "{{ trigger.input.items }}"
    actions:
      - id: c2
        type: compose
        with: { value: "{{ item }}" }
`)
	r, steps := b.wait(t, b.trigger(t, f, map[string]any{"items": items(30)}).ID)
	requireLimitFailure(t, r, steps, "again", "run.steps")
	if steps["pause"].Status != flow.StatusSucceeded || countPrefix(steps, "loop[") != 30 || countPrefix(steps, "again[") != 0 {
		t.Fatalf("pause %s, %d loop steps, %d again steps", steps["pause"].Status, countPrefix(steps, "loop["), countPrefix(steps, "again["))
	}
	if !strings.Contains(r.Error, "may record only 17 more") {
		t.Fatalf("run error %q, want the 32 recorded steps and its own counted", r.Error)
	}
}

// heavyFlow is a foreach whose body evaluates an expression of a few
// thousand budget steps per item, then more.
func heavyFlow(name, more string) string {
	return foreachCompose(name, "{{ count(1..1000, # > index) }}", more) + handled
}

// TestRunExpressionWorkLimit checks that expressions that each stay far
// under their own budget are stopped once their sum passes the run's, and
// that this ends the run with a flow diagnosis at the step that crossed.
func TestRunExpressionWorkLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *engine.Config) { c.MaxRunExpressionSteps = 60_000 })
	f := b.apply(t, heavyFlow("work", ""))
	r, steps := b.wait(t, b.trigger(t, f, map[string]any{"items": items(200)}).ID)
	if r.Status != store.RunFailed || !strings.Contains(r.Error, "run expression work limit reached") {
		t.Fatalf("run %s %q, want failed on the run's expression work", r.Status, r.Error)
	}
	done := countPrefix(steps, "loop[")
	if done < 5 || done > 40 {
		t.Fatalf("%d items ran, want the limit reached after some and long before 200", done)
	}
	requireLimitFailure(t, r, steps, fmt.Sprintf("loop[%d].c", done-1), "run.expression_work")
	if _, ok := steps["after"]; ok {
		t.Fatal("a handler ran after the limit was spent")
	}
}

// TestRunExpressionWorkSurvivesResume checks that the expression work of
// a run is kept when it parks: each item waits on a delay, so each
// resume evaluates one heavy expression; with an account reset on every
// resume the run would never reach its limit.
func TestRunExpressionWorkSurvivesResume(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *engine.Config) { c.MaxRunExpressionSteps = 60_000 })
	f := b.apply(t, heavyFlow("resume-work", `
      - id: pause
        type: delay
        with: { duration: 1ms }`))
	run := b.trigger(t, f, map[string]any{"items": items(60)})
	r, steps := b.wait(t, run.ID)
	if r.Status != store.RunFailed || !strings.Contains(r.Error, "run expression work limit reached") {
		t.Fatalf("run %s %q with %d steps, want failed on the run's expression work", r.Status, r.Error, len(steps))
	}
	if n := countPrefix(steps, "loop["); n > 2*40 {
		t.Fatalf("%d steps ran in the foreach, want the limit reached well before its 60 items", n)
	}
	if r.Usage.ExprSteps < 50_000 {
		t.Fatalf("the run's recorded expression work is %d steps", r.Usage.ExprSteps)
	}
}

// TestRunMemoryLimit checks that a run whose step outputs add up past its
// memory cap fails with a flow diagnosis at the step that passed it, and
// does not run the other items.
func TestRunMemoryLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *engine.Config) { c.MaxRunMemory = 1 << 20 })
	f := b.apply(t, foreachCompose("memory", "{{ trigger.input.blob }}", "")+handled)
	blob := strings.Repeat("x", 20<<10)
	r, steps := b.wait(t, b.trigger(t, f, map[string]any{"items": items(100), "blob": blob}).ID)
	done := countPrefix(steps, "loop[")
	if done < 40 || done > 60 {
		t.Fatalf("%d items ran (run %s %q), want about 51 of 20 KiB under a 1 MiB cap", done, r.Status, r.Error)
	}
	requireLimitFailure(t, r, steps, fmt.Sprintf("loop[%d].c", done-1), "run.memory")
	if _, ok := steps["after"]; ok {
		t.Fatal("a handler ran after the limit was spent")
	}
}

// TestForeachOverLists checks that a foreach iterates any list an
// expression returns: a range (a typed list) and a list larger than the
// 1 MiB cap of one expression's result.
func TestForeachOverLists(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := b.apply(t, `name: lists
trigger: { type: manual }
actions:
  - id: range
    type: foreach
    foreach: "{{ 1..3 }}"
    actions:
      - id: c
        type: compose
        with: { value: "{{ item * 10 }}" }
  - id: big
    type: foreach
    foreach: "{{ trigger.input.items }}"
    concurrency: 8
    actions:
      - id: i
        type: compose
        with: { value: "{{ index }}" }
  - id: outer
    type: foreach
    foreach: "{{ 1..2 }}"
    actions:
      - id: inner
        type: foreach
        foreach: "{{ 1..item }}"
        actions:
          - id: n
            type: compose
            with: { value: "{{ item }}" }
  - id: read
    type: compose
    with:
      value:
        third: "{{ steps.range.output[2].c }}"
        count: "{{ len(steps.big.output) }}"
        nested: "{{ steps.outer.output[1].inner.output[1].n.output }}"
`)
	long := make([]any, 4000)
	for i := range long {
		long[i] = strings.Repeat("y", 300)
	}
	r, steps := b.wait(t, b.trigger(t, f, map[string]any{"items": long}).ID)
	if r.Status != store.RunSucceeded {
		t.Fatalf("run %s %q", r.Status, r.Error)
	}
	if v := output(t, steps["range[2].c"]); v != float64(30) {
		t.Fatalf("range[2].c = %v, want 30", v)
	}
	if n := countPrefix(steps, "big["); n != len(long) {
		t.Fatalf("%d items of the large list ran, want %d", n, len(long))
	}
	// Later steps read a foreach's output as documented: one entry per
	// iteration mapping the body's ids to {status, output}.
	got, _ := json.Marshal(output(t, steps["read"]))
	if want := `{"count":4000,"nested":2,"third":{"output":30,"status":"succeeded"}}`; string(got) != want {
		t.Fatalf("read = %s, want %s", got, want)
	}
}
