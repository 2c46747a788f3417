package engine_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/store"
)

// chunkWatch is the real store with a look at the step writes of the run
// whose steps are keyed loop[...]: how many steps each write carried, and
// a hook run once, in the second SaveSteps of that run, after it
// committed.
type chunkWatch struct {
	store.Store
	mu     sync.Mutex
	saves  []int
	finish int
	hook   func(runID int64)
}

func (w *chunkWatch) SaveSteps(ctx context.Context, owner string, runID int64, current string, steps []store.Step) error {
	err := w.Store.SaveSteps(ctx, owner, runID, current, steps)
	if err != nil || len(steps) == 0 || !strings.HasPrefix(steps[0].Key, "loop[") {
		return err
	}
	w.mu.Lock()
	w.saves = append(w.saves, len(steps))
	hook := w.hook
	if len(w.saves) == 2 {
		w.hook = nil
	} else {
		hook = nil
	}
	w.mu.Unlock()
	if hook != nil {
		hook(runID)
	}
	return nil
}

func (w *chunkWatch) FinishRun(ctx context.Context, owner string, runID int64, fin store.RunFinish) error {
	if len(fin.Steps) > 0 && strings.HasPrefix(fin.Steps[0].Key, "loop[") {
		w.mu.Lock()
		w.finish = len(fin.Steps)
		w.mu.Unlock()
	}
	return w.Store.FinishRun(ctx, owner, runID, fin)
}

// foreachFlow is a manual flow named name: a foreach over
// trigger.input.items whose body is a compose step c (item + 1), then
// more (YAML list entries indented for the body).
func foreachFlow(name, more string) string {
	return foreachCompose(name, "{{ item + 1 }}", more)
}

// foreachCompose is foreachFlow with value as the compose step's value.
func foreachCompose(name, value, more string) string {
	return `name: ` + name + `
trigger: { type: manual }
actions:
  - id: loop
    type: foreach
    foreach: "{{ trigger.input.items }}"
    actions:
      - id: c
        type: compose
        with: { value: "` + value + `" }` + more + "\n"
}

// items returns the list 0..n-1.
func items(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// TestForeachWritesInChunks checks that a large foreach hands its steps to
// the store a chunk at a time while it runs, and that another run starts,
// runs and finishes between two of those chunks, the large run still
// running: no run holds the store's writer for all its steps.
func TestForeachWritesInChunks(t *testing.T) {
	t.Parallel()
	w := &chunkWatch{}
	b := setup(t, func(c *engine.Config) { w.Store, c.Store = c.Store, w })
	big := b.apply(t, foreachFlow("big", ""))
	small := b.apply(t, `name: small
trigger: { type: manual }
actions:
  - id: one
    type: compose
    with: { value: 1 }
`)
	var other store.Run
	var bigDuring store.Run
	var hookErr error
	w.hook = func(bigID int64) {
		// Runs on the big run's goroutine, between two of its chunks.
		r, err := b.eng.Start(context.Background(), engine.StartRequest{Flow: small, TriggerType: "manual"})
		if err != nil {
			hookErr = err
			return
		}
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if other, hookErr = b.st.GetRun(context.Background(), r.ID); hookErr != nil || store.RunFinished(other.Status) {
				break
			}
		}
		if hookErr == nil {
			bigDuring, hookErr = b.st.GetRun(context.Background(), bigID)
		}
	}
	n := 5*store.StepChunk + 10
	run := b.trigger(t, big, map[string]any{"items": items(n)})
	got, steps := b.wait(t, run.ID)
	if got.Status != store.RunSucceeded {
		t.Fatalf("big run: %s %q", got.Status, got.Error)
	}
	if len(steps) != n+1 {
		t.Fatalf("big run: %d steps, want %d", len(steps), n+1)
	}
	if hookErr != nil {
		t.Fatal(hookErr)
	}
	w.mu.Lock()
	saves, finish := w.saves, w.finish
	w.mu.Unlock()
	if len(saves) < n/store.StepChunk-1 {
		t.Fatalf("the foreach's %d steps went to the store in %d writes while it ran (%v) and %d at the end; want one every %d", n, len(saves), saves, finish, store.StepChunk)
	}
	for _, k := range saves {
		if k > store.StepChunk {
			t.Fatalf("a write of %d steps during the foreach, more than the %d of a chunk (%v)", k, store.StepChunk, saves)
		}
	}
	if finish > store.StepChunk+1 {
		t.Fatalf("FinishRun carried %d steps, want at most a chunk and the foreach's own", finish)
	}
	if other.Status != store.RunSucceeded {
		t.Fatalf("the other run did not finish between two chunks: %s", other.Status)
	}
	if bigDuring.ID != run.ID || bigDuring.Status != store.RunRunning {
		t.Fatalf("while the other run ran, the big run (%d) was %q, want running", bigDuring.ID, bigDuring.Status)
	}
}

// TestForeachReplayIsLinear resumes a run parked in the last iteration of
// a 20,000-item foreach (4,000 under -race): the replay of the finished iterations looks at
// each recorded step a bounded number of times, where it used to scan
// every recorded step once per iteration (20,000 × 40,000).
func TestForeachReplayIsLinear(t *testing.T) {
	t.Parallel()
	b := setup(t)
	n := 20_000
	if raceBuild {
		n = 4_000
	}
	f := b.apply(t, foreachFlow("replay", fmt.Sprintf(`
      - id: last
        type: condition
        if: "{{ index == %d }}"
        then:
          - id: pause
            type: delay
            with: { duration: 50ms }
          - id: seen
            type: compose
            with: { value: "{{ steps.c.output }}" }`, n-1)))
	run := b.trigger(t, f, map[string]any{"items": items(n)})
	got, steps := b.wait(t, run.ID)
	if got.Status != store.RunSucceeded {
		t.Fatalf("run: %s %q", got.Status, got.Error)
	}
	// c and last per item, then pause and seen in the last one, and loop.
	if want := 2*n + 3; len(steps) != want {
		t.Fatalf("run: %d steps, want %d", len(steps), want)
	}
	if v := output(t, steps[fmt.Sprintf("loop[%d].seen", n-1)]); v != float64(n) {
		t.Fatalf("the step after the delay saw %v, want %d", v, n)
	}
	// The resume replayed every iteration once: 2 recorded steps each.
	if scans := b.eng.ReplayScans(); scans == 0 || scans > int64(3*n) {
		t.Fatalf("replay looked at %d recorded steps for %d iterations, want at most %d", scans, n, 3*n)
	}
}
