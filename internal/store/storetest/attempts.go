package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// attemptTests check the attempt log a step keeps: written and read with
// the step, replaced by the step's next write, bounded whatever the
// caller passes, and fenced by the run's lease like the rest of the step.
var attemptTests = []test{
	{"RoundTripAndReplace", func(t *testing.T, open opener) {
		b := setup(t, open)
		now := time.Now().UTC().Truncate(time.Microsecond)
		r := createLeasedRun(t, b.st, b.flow.ID, "w", now.Add(time.Minute))
		retry := now.Add(30 * time.Second)
		first := store.StepAttempt{N: 1, StartedAt: now, FinishedAt: now.Add(120 * time.Millisecond), Outcome: "failed", HTTPStatus: 502,
			Answer: `HTTP 502 Bad Gateway · {"error":"down"}`, RetryAt: &retry}
		step := store.Step{Key: "call", ActionID: "call", Type: "http", Status: store.StepWaiting, Attempts: 1, StartedAt: &now, NextAttemptAt: &retry,
			AttemptLog: []store.StepAttempt{first}}
		requireNoError(t, b.st.SaveSteps(b.ctx, "w", r.ID, "call", []store.Step{step}), "SaveSteps")
		got := requireAttempts(t, b.st, r.ID, 1)
		requireSameAttempt(t, got[0], first)

		second := store.StepAttempt{N: 2, StartedAt: retry, FinishedAt: retry.Add(time.Second), Outcome: "succeeded", HTTPStatus: 200, Answer: `{"orders":3}`}
		fin := retry.Add(time.Second)
		step.Status, step.Attempts, step.NextAttemptAt, step.FinishedAt = "succeeded", 2, nil, &fin
		step.AttemptLog = []store.StepAttempt{first, second}
		requireNoError(t, b.st.FinishRun(b.ctx, "w", r.ID, store.RunFinish{Status: store.RunSucceeded, Steps: []store.Step{step}}), "FinishRun")
		got = requireAttempts(t, b.st, r.ID, 2)
		requireSameAttempt(t, got[0], first)
		requireSameAttempt(t, got[1], second)
	}},
	{"Bounded", func(t *testing.T, open opener) {
		b := setup(t, open)
		now := time.Now().UTC()
		r := createLeasedRun(t, b.st, b.flow.ID, "w", now.Add(time.Minute))
		var log []store.StepAttempt
		for i := 1; i <= 3*store.MaxAttemptsKept; i++ {
			log = append(log, store.StepAttempt{N: i, StartedAt: now, FinishedAt: now, Outcome: "failed", Answer: strings.Repeat("é", 10*store.MaxAttemptAnswer)})
		}
		step := store.Step{Key: "call", ActionID: "call", Type: "http", Status: "failed", Attempts: len(log), StartedAt: &now, FinishedAt: &now, AttemptLog: log}
		requireNoError(t, b.st.SaveSteps(b.ctx, "w", r.ID, "call", []store.Step{step}), "SaveSteps")
		got := requireAttempts(t, b.st, r.ID, store.MaxAttemptsKept)
		if got[0].N != 2*store.MaxAttemptsKept+1 || got[len(got)-1].N != 3*store.MaxAttemptsKept {
			t.Fatalf("kept attempts %d..%d, want the last %d", got[0].N, got[len(got)-1].N, store.MaxAttemptsKept)
		}
		for _, a := range got {
			if len(a.Answer) > store.MaxAttemptAnswer || !strings.HasSuffix(a.Answer, "é…") {
				t.Fatalf("attempt %d answer: %d bytes ending %q, want at most %d cut at a character", a.N, len(a.Answer), a.Answer[len(a.Answer)-6:], store.MaxAttemptAnswer)
			}
		}
	}},
	{"FencedByTheLease", func(t *testing.T, open opener) {
		b := setup(t, open)
		now := time.Now().UTC()
		r := createLeasedRun(t, b.st, b.flow.ID, "w", now.Add(time.Minute))
		step := store.Step{Key: "call", ActionID: "call", Type: "http", Status: "succeeded", Attempts: 1, StartedAt: &now, FinishedAt: &now,
			AttemptLog: []store.StepAttempt{{N: 1, StartedAt: now, FinishedAt: now, Outcome: "succeeded", HTTPStatus: 200}}}
		requireNoError(t, b.st.SaveSteps(b.ctx, "w", r.ID, "call", []store.Step{step}), "SaveSteps")
		intruder := step
		intruder.AttemptLog = []store.StepAttempt{{N: 9, StartedAt: now, FinishedAt: now, Outcome: "failed", Answer: "not mine"}}
		requireErrorIs(t, b.st.SaveSteps(b.ctx, "intruder", r.ID, "call", []store.Step{intruder}), store.ErrLeaseLost, "SaveSteps(wrong owner)")
		requireErrorIs(t, b.st.ParkRun(b.ctx, "intruder", r.ID, now, []store.Step{intruder}), store.ErrLeaseLost, "ParkRun(wrong owner)")
		if got := requireAttempts(t, b.st, r.ID, 1); got[0].N != 1 {
			t.Fatalf("an intruder's write changed the attempts: %+v", got)
		}
	}},
}

// requireAttempts returns the attempt log of the run's only step, which
// must hold n attempts.
func requireAttempts(t *testing.T, st store.Store, runID int64, n int) []store.StepAttempt {
	t.Helper()
	steps, err := st.ListSteps(t.Context(), runID)
	requireNoError(t, err, "ListSteps")
	if len(steps) != 1 || len(steps[0].AttemptLog) != n {
		t.Fatalf("steps %+v, want one with %d attempts", steps, n)
	}
	return steps[0].AttemptLog
}

// requireSameAttempt compares two attempts, times to the microsecond.
func requireSameAttempt(t *testing.T, got, want store.StepAttempt) {
	t.Helper()
	if got.N != want.N || got.Outcome != want.Outcome || got.HTTPStatus != want.HTTPStatus || got.Answer != want.Answer ||
		!got.StartedAt.Equal(want.StartedAt) || !got.FinishedAt.Equal(want.FinishedAt) || (got.RetryAt == nil) != (want.RetryAt == nil) ||
		(got.RetryAt != nil && !got.RetryAt.Equal(*want.RetryAt)) {
		t.Fatalf("attempt: got %+v, want %+v", got, want)
	}
}
