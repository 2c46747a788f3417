package storetest

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// manySteps returns n succeeded steps keyed prefix0, prefix1, ...
func manySteps(prefix string, n int) []store.Step {
	out := make([]store.Step, n)
	for i := range out {
		key := fmt.Sprintf("%s%d", prefix, i)
		out[i] = store.Step{Key: key, ActionID: prefix, Type: "compose", Status: "succeeded", Attempts: 1, Output: []byte(fmt.Sprint(i))}
	}
	return out
}

// requireOrdered fails unless steps are keys, in order, with increasing
// seqs.
func requireOrdered(t *testing.T, steps []store.Step, keys []string) {
	t.Helper()
	if len(steps) != len(keys) {
		t.Fatalf("got %d steps, want %d", len(steps), len(keys))
	}
	for i, st := range steps {
		if st.Key != keys[i] {
			t.Fatalf("step %d: got key %q, want %q", i, st.Key, keys[i])
		}
		if i > 0 && st.Seq <= steps[i-1].Seq {
			t.Fatalf("step %d (%s): seq %d after %d", i, st.Key, st.Seq, steps[i-1].Seq)
		}
	}
}

// keysOf returns the keys of steps.
func keysOf(steps ...[]store.Step) []string {
	var out []string
	for _, list := range steps {
		for _, st := range list {
			out = append(out, st.Key)
		}
	}
	return out
}

// chunkTests check writing more steps than one transaction carries (see
// store.StepChunk).
var chunkTests = []test{
	{"ManyStepsInOrder", func(t *testing.T, open opener) {
		b := setup(t, open)
		r := createLeasedRun(t, b.st, b.flow.ID, "w", time.Now().Add(time.Minute))
		first := manySteps("a", 3*store.StepChunk+7)
		for i := range first {
			first[i].Status = store.StepRunning
		}
		requireNoError(t, b.st.SaveSteps(b.ctx, "w", r.ID, "a9", first), "SaveSteps")
		if got := getRun(t, b.st, r.ID); got.CurrentStep != "a9" {
			t.Fatalf("current step after SaveSteps: %q", got.CurrentStep)
		}
		// Steps recorded again keep their place; new ones follow.
		again := []store.Step{first[5], first[len(first)-1]}
		again[0].Status, again[1].Status = "succeeded", "failed"
		second := manySteps("b", 2*store.StepChunk+3)
		fin := store.RunFinish{Status: store.RunFailed, Error: "a failed", Steps: append(again, second...)}

		// A worker that lost the lease writes none of them.
		err := b.st.FinishRun(b.ctx, "intruder", r.ID, fin)
		requireErrorIs(t, err, store.ErrLeaseLost, "FinishRun(wrong owner)")
		steps, err := b.st.ListSteps(b.ctx, r.ID)
		requireNoError(t, err, "ListSteps")
		requireOrdered(t, steps, keysOf(first))

		requireNoError(t, b.st.FinishRun(b.ctx, "w", r.ID, fin), "FinishRun")
		steps, err = b.st.ListSteps(b.ctx, r.ID)
		requireNoError(t, err, "ListSteps")
		requireOrdered(t, steps, keysOf(first, second))
		if steps[5].Status != "succeeded" || steps[len(first)-1].Status != "failed" {
			t.Fatalf("re-recorded steps: %s is %s, %s is %s", steps[5].Key, steps[5].Status, steps[len(first)-1].Key, steps[len(first)-1].Status)
		}
		if got := getRun(t, b.st, r.ID); got.Status != store.RunFailed || got.CurrentStep != "a9" {
			t.Fatalf("run after FinishRun: status %q, current step %q", got.Status, got.CurrentStep)
		}
		failed := 0
		for _, ev := range claimAll(t, b.st) {
			if ev.Kind == store.EventRunFailed && ev.RunID == r.ID {
				failed++
			}
		}
		if failed != 1 {
			t.Fatalf("run_failed events of run %d: %d, want 1", r.ID, failed)
		}

		// Pages of the steps, by seq, give them all once, in order.
		var paged []store.Step
		for after := int64(0); ; {
			page, err := b.st.ListStepsAfter(b.ctx, r.ID, after, 100)
			requireNoError(t, err, "ListStepsAfter")
			if len(page) > 100 {
				t.Fatalf("ListStepsAfter(limit 100): %d steps", len(page))
			}
			if len(page) == 0 {
				break
			}
			paged, after = append(paged, page...), page[len(page)-1].Seq
		}
		requireOrdered(t, paged, keysOf(first, second))
		page, err := b.st.ListStepsAfter(b.ctx, r.ID, steps[9].Seq, 0)
		requireNoError(t, err, "ListStepsAfter(no limit)")
		requireOrdered(t, page, keysOf(steps[10:]))

		// ParkRun writes its steps in chunks too, then parks.
		p := createLeasedRun(t, b.st, b.flow.ID, "w", time.Now().Add(time.Minute))
		parked := manySteps("p", 2*store.StepChunk+1)
		requireNoError(t, b.st.ParkRun(b.ctx, "w", p.ID, time.Now().Add(time.Hour), parked), "ParkRun")
		steps, err = b.st.ListSteps(b.ctx, p.ID)
		requireNoError(t, err, "ListSteps(parked)")
		requireOrdered(t, steps, keysOf(parked))
		if got := getRun(t, b.st, p.ID); got.Status != store.RunWaiting {
			t.Fatalf("parked run: status %q", got.Status)
		}
		err = b.st.SaveSteps(b.ctx, "w", p.ID, "x", manySteps("x", store.StepChunk+1))
		requireErrorIs(t, err, store.ErrLeaseLost, "SaveSteps(parked run)")
	}},
	{"ChunkedWritesInterleave", func(t *testing.T, open opener) {
		// While one run writes many steps, another run's write commits
		// between two reads that both see the first run's steps partly
		// written: the large write is not one transaction holding the
		// writer, and others get through between its chunks.
		b := setup(t, open)
		other := createLeasedRun(t, b.st, b.flow.ID, "w", time.Now().Add(time.Minute))
		const chunks = 40
		total := chunks * store.StepChunk
		for attempt := 1; ; attempt++ {
			big := createLeasedRun(t, b.st, b.flow.ID, "w", time.Now().Add(time.Minute))
			var done atomic.Bool
			errc := make(chan error, 1)
			go func() {
				errc <- b.st.SaveSteps(b.ctx, "w", big.ID, "last", manySteps("s", total))
				done.Store(true)
			}()
			count := func() int {
				steps, err := b.st.ListSteps(b.ctx, big.ID)
				requireNoError(t, err, "ListSteps(big)")
				return len(steps)
			}
			interleaved := false
			for i := 0; !done.Load(); i++ {
				before := count()
				key := fmt.Sprintf("tick%d-%d", attempt, i)
				requireNoError(t, b.st.SaveSteps(b.ctx, "w", other.ID, key, []store.Step{{Key: key, ActionID: "tick", Type: "compose", Status: "succeeded"}}), "SaveSteps(other)")
				after := count()
				if before > 0 && after < total {
					interleaved = true
				}
				if n := count(); n != 0 && n != total && n%store.StepChunk != 0 {
					t.Fatalf("big run: %d steps visible, not a whole number of %d-step chunks", n, store.StepChunk)
				}
			}
			requireNoError(t, <-errc, "SaveSteps(big)")
			if got := count(); got != total {
				t.Fatalf("big run: %d steps, want %d", got, total)
			}
			if interleaved {
				return
			}
			// The reads can miss the window on a starved machine; before
			// chunking they could never see it.
			if attempt == 5 {
				t.Fatalf("no write of another run committed while %d steps were written in %d chunks (5 attempts)", total, chunks)
			}
		}
	}},
	{"ResubmitCopiesManySucceeded", func(t *testing.T, open opener) {
		// The succeeded steps of a long run are copied in chunks, in
		// order, and the new run is due at once after the last.
		b := setup(t, open)
		orig := createLeasedRun(t, b.st, b.flow.ID, "w", time.Now().Add(time.Minute))
		ok := manySteps("s", 2*store.StepChunk+5)
		bad := store.Step{Key: "bad", ActionID: "bad", Type: "http", Status: "failed", Attempts: 1}
		steps := append(append(append([]store.Step{}, ok[:store.StepChunk]...), bad), ok[store.StepChunk:]...)
		requireNoError(t, b.st.FinishRun(b.ctx, "w", orig.ID, store.RunFinish{Status: store.RunFailed, Steps: steps}), "FinishRun")
		before := time.Now()
		r, existing, err := b.st.ResubmitRun(b.ctx, store.NewRun{FlowID: b.flow.ID, FlowVersion: 1, TriggerType: "resubmit", ResubmittedFrom: &orig.ID, CopySucceeded: true})
		requireNoError(t, err, "ResubmitRun")
		if existing || r.Status != store.RunQueued || r.NextAttemptAt.After(time.Now()) || r.NextAttemptAt.Before(before.Add(-timeTolerance)) {
			t.Fatalf("resubmitted run: existing %t, status %s, due %s (want due now)", existing, r.Status, r.NextAttemptAt)
		}
		copied, err := b.st.ListSteps(b.ctx, r.ID)
		requireNoError(t, err, "ListSteps")
		requireOrdered(t, copied, keysOf(ok))
		claimed, err := b.st.ClaimRuns(b.ctx, "w2", time.Now(), time.Now().Add(time.Minute), 10)
		requireNoError(t, err, "ClaimRuns")
		if len(claimed) != 1 || claimed[0].ID != r.ID {
			t.Fatalf("ClaimRuns after the copy: got %v, want run %d", ids(claimed), r.ID)
		}

		// A run created leased (the engine runs it at once) gets them too.
		leased, _, err := b.st.ResubmitRun(b.ctx, store.NewRun{FlowID: b.flow.ID, FlowVersion: 1, TriggerType: "resubmit", ResubmittedFrom: &orig.ID, CopySucceeded: true,
			LeaseOwner: "w3", LeaseUntil: time.Now().Add(time.Minute)})
		requireNoError(t, err, "ResubmitRun(leased)")
		if leased.Status != store.RunRunning || leased.LeaseOwner != "w3" {
			t.Fatalf("leased resubmitted run: status %s, owner %q", leased.Status, leased.LeaseOwner)
		}
		copied, err = b.st.ListSteps(b.ctx, leased.ID)
		requireNoError(t, err, "ListSteps(leased)")
		requireOrdered(t, copied, keysOf(ok))
	}},
}
