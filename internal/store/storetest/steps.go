package storetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// stepTests check recording steps and finishing runs.
var stepTests = []test{
	{"SaveStepsUpserts", func(t *testing.T, open opener) {
		b := setup(t, open)
		now := time.Now().UTC()
		r := createLeasedRun(t, b.st, b.flow.ID, "w", now.Add(time.Minute))
		t1, t2, t3 := now.Add(-3*time.Second), now.Add(-2*time.Second), now.Add(-time.Second)
		first := []store.Step{
			{Key: "fetch", ActionID: "fetch", Type: "http", Status: "succeeded", Attempts: 1, StartedAt: &t1, FinishedAt: &t2,
				Input: json.RawMessage(`{"url":"https://example.com"}`), Output: json.RawMessage(`{"status":200}`)},
			{Key: "send", ActionID: "send", Type: "email", Status: store.StepWaiting, Attempts: 1, StartedAt: &t2, NextAttemptAt: &t3,
				Error: json.RawMessage(`{"message":"throttled","kind":"http","status":429}`)},
		}
		requireNoError(t, b.st.SaveSteps(b.ctx, "w", r.ID, "send", first), "SaveSteps")
		if got := getRun(t, b.st, r.ID); got.CurrentStep != "send" || got.Status != store.RunRunning {
			t.Fatalf("run after SaveSteps: current step %q status %q", got.CurrentStep, got.Status)
		}
		steps, err := b.st.ListSteps(b.ctx, r.ID)
		requireNoError(t, err, "ListSteps")
		requireStepKeys(t, steps, "fetch", "send")
		requireSameStep(t, steps[0], first[0], r.ID)
		requireSameStep(t, steps[1], first[1], r.ID)

		// The retry of send succeeds later; a new step follows.
		later := now.Add(time.Second)
		second := []store.Step{
			{Key: "loop[0].log", ActionID: "log", Type: "log", Status: "succeeded", Attempts: 1, StartedAt: &t3, FinishedAt: &t3},
			{Key: "send", ActionID: "send", Type: "email", Status: "succeeded", Attempts: 2, StartedAt: &later, FinishedAt: &later,
				Output: json.RawMessage(`{"sent":true}`)},
		}
		requireNoError(t, b.st.SaveSteps(b.ctx, "w", r.ID, "loop[0].log", second), "SaveSteps(again)")
		steps, err = b.st.ListSteps(b.ctx, r.ID)
		requireNoError(t, err, "ListSteps")
		// send keeps its place and its first start; the rest is replaced.
		requireStepKeys(t, steps, "fetch", "send", "loop[0].log")
		want := second[1]
		want.StartedAt = &t2
		requireSameStep(t, steps[1], want, r.ID)
		requireSameStep(t, steps[2], second[0], r.ID)
		if !(steps[0].Seq < steps[1].Seq && steps[1].Seq < steps[2].Seq) {
			t.Fatalf("step seqs not increasing: %d, %d, %d", steps[0].Seq, steps[1].Seq, steps[2].Seq)
		}
		if got := getRun(t, b.st, r.ID); got.CurrentStep != "loop[0].log" {
			t.Fatalf("run current step: got %q", got.CurrentStep)
		}
	}},
	{"SaveStepsSameKeyTwiceAndMany", func(t *testing.T, open opener) {
		// One write may carry a step twice (its retry, then its end): the
		// later wins, the first start stays. And 70 new steps in one
		// write (more than a statement of the SQLite driver takes) keep
		// their order.
		b := setup(t, open)
		now := time.Now().UTC()
		r := createLeasedRun(t, b.st, b.flow.ID, "w", now.Add(time.Minute))
		t1, t2 := now.Add(-2*time.Second), now.Add(-time.Second)
		steps := []store.Step{
			{Key: "send", ActionID: "send", Type: "email", Status: store.StepWaiting, Attempts: 1, StartedAt: &t1, NextAttemptAt: &t2},
		}
		for i := range 70 {
			steps = append(steps, store.Step{Key: fmt.Sprintf("loop[%d].log", i), ActionID: "log", Type: "log", Status: "succeeded", Attempts: 1, StartedAt: &t1, FinishedAt: &t1})
		}
		steps = append(steps, store.Step{Key: "send", ActionID: "send", Type: "email", Status: "succeeded", Attempts: 2, StartedAt: &t2, FinishedAt: &t2, Output: json.RawMessage(`{"sent":true}`)})
		requireNoError(t, b.st.SaveSteps(b.ctx, "w", r.ID, "send", steps), "SaveSteps")
		got, err := b.st.ListSteps(b.ctx, r.ID)
		requireNoError(t, err, "ListSteps")
		keys := []string{"send"}
		for i := range 70 {
			keys = append(keys, fmt.Sprintf("loop[%d].log", i))
		}
		requireStepKeys(t, got, keys...)
		want := steps[len(steps)-1]
		want.StartedAt = &t1
		requireSameStep(t, got[0], want, r.ID)
		for i := 1; i < len(got); i++ {
			if got[i].Seq <= got[i-1].Seq {
				t.Fatalf("step %d (%s) seq %d not after %d", i, got[i].Key, got[i].Seq, got[i-1].Seq)
			}
		}
	}},
	{"SaveStepsLeaseLost", func(t *testing.T, open opener) {
		b := setup(t, open)
		now := time.Now().UTC()
		r := createLeasedRun(t, b.st, b.flow.ID, "w", now.Add(time.Minute))
		step := []store.Step{{Key: "a", ActionID: "a", Type: "http", Status: "succeeded"}}

		err := b.st.SaveSteps(b.ctx, "intruder", r.ID, "a", step)
		requireErrorIs(t, err, store.ErrLeaseLost, "SaveSteps(wrong owner)")
		err = b.st.SaveSteps(b.ctx, "w", r.ID+1000, "a", step)
		requireErrorIs(t, err, store.ErrLeaseLost, "SaveSteps(missing run)")
		steps, err := b.st.ListSteps(b.ctx, r.ID)
		requireNoError(t, err, "ListSteps")
		if len(steps) != 0 {
			t.Fatalf("SaveSteps(wrong owner) wrote %d steps", len(steps))
		}
		if got := getRun(t, b.st, r.ID); got.CurrentStep != "" {
			t.Fatalf("SaveSteps(wrong owner) set current step %q", got.CurrentStep)
		}

		queued := createRun(t, b.st, b.flow.ID, time.Time{})
		err = b.st.SaveSteps(b.ctx, "w", queued.ID, "a", step)
		requireErrorIs(t, err, store.ErrLeaseLost, "SaveSteps(queued run)")

		_, err = b.st.CancelRun(b.ctx, r.ID)
		requireNoError(t, err, "CancelRun")
		err = b.st.SaveSteps(b.ctx, "w", r.ID, "a", step)
		requireErrorIs(t, err, store.ErrLeaseLost, "SaveSteps(cancelled run)")
	}},
	{"SaveStepsConcurrentRuns", func(t *testing.T, open opener) {
		b := setup(t, open)
		const n = 50
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			r := createLeasedRun(t, b.st, b.flow.ID, "w", time.Now().Add(time.Minute))
			wg.Go(func() {
				for j := range 3 {
					key := fmt.Sprintf("s%d", j)
					if err := b.st.SaveSteps(b.ctx, "w", r.ID, key, []store.Step{{Key: key, ActionID: key, Type: "log", Status: "succeeded"}}); err != nil {
						errs <- fmt.Errorf("run %d step %d: %w", i, j, err)
						return
					}
				}
				steps, err := b.st.ListSteps(b.ctx, r.ID)
				if err != nil {
					errs <- err
					return
				}
				if len(steps) != 3 || steps[0].Key != "s0" || steps[2].Key != "s2" {
					errs <- fmt.Errorf("run %d: got %d steps", r.ID, len(steps))
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}},
	{"FinishRun", func(t *testing.T, open opener) {
		b := setup(t, open)
		now := time.Now().UTC()
		r := createLeasedRun(t, b.st, b.flow.ID, "w", now.Add(time.Minute))
		t1 := now.Add(-time.Second)
		requireNoError(t, b.st.SaveSteps(b.ctx, "w", r.ID, "a", []store.Step{{Key: "a", ActionID: "a", Type: "http", Status: "running", StartedAt: &t1}}), "SaveSteps")

		fin := store.RunFinish{
			Status: store.RunFailed, Error: "step b failed", Output: json.RawMessage(`{"reply":"no"}`),
			Steps: []store.Step{
				{Key: "a", ActionID: "a", Type: "http", Status: "succeeded", Attempts: 1, StartedAt: &now, FinishedAt: &now},
				{Key: "b", ActionID: "b", Type: "http", Status: "failed", Attempts: 3, StartedAt: &now, FinishedAt: &now, Error: json.RawMessage(`{"message":"401"}`)},
			},
		}
		err := b.st.FinishRun(b.ctx, "intruder", r.ID, fin)
		requireErrorIs(t, err, store.ErrLeaseLost, "FinishRun(wrong owner)")
		if got := getRun(t, b.st, r.ID); got.Status != store.RunRunning {
			t.Fatalf("FinishRun(wrong owner) changed status to %q", got.Status)
		}
		steps, err := b.st.ListSteps(b.ctx, r.ID)
		requireNoError(t, err, "ListSteps")
		requireStepKeys(t, steps, "a")

		before := time.Now()
		requireNoError(t, b.st.FinishRun(b.ctx, "w", r.ID, fin), "FinishRun")
		got := getRun(t, b.st, r.ID)
		if got.Status != store.RunFailed || got.Error != "step b failed" || got.LeaseOwner != "" || got.LeaseUntil != nil {
			t.Fatalf("finished run: got %+v", got)
		}
		requireJSON(t, got.Output, `{"reply":"no"}`, "finished run output")
		if got.FinishedAt == nil {
			t.Fatal("finished run: finished_at not set")
		}
		requireBetween(t, *got.FinishedAt, before, time.Now(), "finished_at")
		steps, err = b.st.ListSteps(b.ctx, r.ID)
		requireNoError(t, err, "ListSteps")
		requireStepKeys(t, steps, "a", "b")
		want := fin.Steps[0]
		want.StartedAt = &t1
		requireSameStep(t, steps[0], want, r.ID)
		requireSameStep(t, steps[1], fin.Steps[1], r.ID)

		err = b.st.FinishRun(b.ctx, "w", r.ID, store.RunFinish{Status: store.RunSucceeded})
		requireErrorIs(t, err, store.ErrLeaseLost, "FinishRun(twice)")
		if got := getRun(t, b.st, r.ID); got.Status != store.RunFailed {
			t.Fatalf("second FinishRun changed status to %q", got.Status)
		}
		_, err = b.st.ListRuns(b.ctx, store.RunFilter{Status: store.RunFailed})
		requireNoError(t, err, "ListRuns(failed)")
	}},
	{"FinishRunNotHeld", func(t *testing.T, open opener) {
		b := setup(t, open)
		queued := createRun(t, b.st, b.flow.ID, time.Time{})
		err := b.st.FinishRun(b.ctx, "w", queued.ID, store.RunFinish{Status: store.RunSucceeded})
		requireErrorIs(t, err, store.ErrLeaseLost, "FinishRun(queued run)")
		err = b.st.FinishRun(b.ctx, "w", queued.ID+1000, store.RunFinish{Status: store.RunSucceeded})
		requireErrorIs(t, err, store.ErrLeaseLost, "FinishRun(missing run)")

		// A lease that expired and was rescued and claimed by another
		// worker is lost to the first.
		now := time.Now().UTC()
		r := createLeasedRun(t, b.st, b.flow.ID, "old", now.Add(-time.Second))
		_, err = b.st.RescueRuns(b.ctx, now, false)
		requireNoError(t, err, "RescueRuns")
		_, err = b.st.ClaimRuns(b.ctx, "new", now.Add(time.Second), now.Add(time.Minute), 10)
		requireNoError(t, err, "ClaimRuns")
		err = b.st.FinishRun(b.ctx, "old", r.ID, store.RunFinish{Status: store.RunSucceeded})
		requireErrorIs(t, err, store.ErrLeaseLost, "FinishRun(taken over)")
		requireNoError(t, b.st.FinishRun(b.ctx, "new", r.ID, store.RunFinish{Status: store.RunSucceeded}), "FinishRun(new owner)")
	}},
}

// requireStepKeys fails unless steps have exactly the keys, in order.
func requireStepKeys(t *testing.T, steps []store.Step, keys ...string) {
	t.Helper()
	got := make([]string, len(steps))
	for i, s := range steps {
		got[i] = s.Key
	}
	if fmt.Sprint(got) != fmt.Sprint(keys) {
		t.Fatalf("steps: got keys %q, want %q", got, keys)
	}
}

// requireSameStep fails unless got is want as recorded for the run.
func requireSameStep(t *testing.T, got, want store.Step, runID int64) {
	t.Helper()
	what := "step " + want.Key
	if got.RunID != runID || got.Key != want.Key || got.ActionID != want.ActionID || got.Type != want.Type ||
		got.Status != want.Status || got.Attempts != want.Attempts {
		t.Fatalf("%s: got %+v, want %+v", what, got, want)
	}
	requireOptTime(t, got.StartedAt, want.StartedAt, what+" started_at")
	requireOptTime(t, got.FinishedAt, want.FinishedAt, what+" finished_at")
	requireOptTime(t, got.NextAttemptAt, want.NextAttemptAt, what+" next_attempt_at")
	requireJSON(t, got.Input, string(want.Input), what+" input")
	requireJSON(t, got.Output, string(want.Output), what+" output")
	requireJSON(t, got.Error, string(want.Error), what+" error")
}
