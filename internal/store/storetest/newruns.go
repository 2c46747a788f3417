package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// newRun is a run of the bundle's flow to be committed with SaveNewRun
// under id, accepted at created and leased to owner ("" for none).
func newRun(b *bundle, id int64, created time.Time, owner string) store.NewRun {
	nr := store.NewRun{ID: id, FlowID: b.flow.ID, FlowVersion: 1, TriggerType: "webhook", Input: json.RawMessage(`{"body":{"n":7}}`), CreatedAt: created}
	if owner != "" {
		nr.LeaseOwner, nr.LeaseUntil = owner, created.Add(time.Minute)
	}
	return nr
}

// doneStep is a succeeded compose step of action id with output.
func doneStep(id, output string, at time.Time) store.Step {
	return store.Step{Key: id, ActionID: id, Type: "compose", Status: "succeeded", Attempts: 1, StartedAt: &at, FinishedAt: &at,
		Input: json.RawMessage(`{"value":` + output + `}`), Output: json.RawMessage(output)}
}

// newRunTests check runs that the engine works before committing them:
// the reserved id, and the one write (SaveNewRun) that commits the run
// with its steps and, when it ended, its end and its events.
var newRunTests = []test{
	{"ReserveRunID", func(t *testing.T, open opener) {
		b := setup(t, open)
		before := createRun(t, b.st, b.flow.ID, time.Time{})
		a, err := b.st.ReserveRunID(b.ctx)
		requireNoError(t, err, "ReserveRunID")
		c, err := b.st.ReserveRunID(b.ctx)
		requireNoError(t, err, "ReserveRunID")
		if a <= before.ID || c <= a {
			t.Fatalf("ReserveRunID: got %d then %d after run %d, want increasing ids past it", a, c, before.ID)
		}
		// A run created meanwhile takes neither reserved id.
		mid := createRun(t, b.st, b.flow.ID, time.Time{})
		if mid.ID == a || mid.ID == c {
			t.Fatalf("CreateRun took reserved id %d", mid.ID)
		}
		now := time.Now().UTC()
		requireNoError(t, b.st.SaveNewRun(b.ctx, newRun(b, c, now, "w")), "SaveNewRun(c)")
		requireNoError(t, b.st.SaveNewRun(b.ctx, newRun(b, a, now, "w")), "SaveNewRun(a), after c")
		requireErrorIs(t, b.st.SaveNewRun(b.ctx, newRun(b, a, now, "w")), store.ErrConflict, "SaveNewRun(a) again")
		after := createRun(t, b.st, b.flow.ID, time.Time{})
		if after.ID <= c {
			t.Fatalf("CreateRun after the saved runs: id %d, want one past %d", after.ID, c)
		}
	}},
	{"FinishedInOneWrite", func(t *testing.T, open opener) {
		b := setup(t, open)
		for _, status := range []string{store.RunSucceeded, store.RunFailed} {
			t.Run(status, func(t *testing.T) {
				claimAll(t, b.st)
				id, err := b.st.ReserveRunID(b.ctx)
				requireNoError(t, err, "ReserveRunID")
				created := time.Now().UTC().Add(-time.Second)
				nr := newRun(b, id, created, "w")
				at := created.Add(time.Millisecond)
				nr.Steps = []store.Step{doneStep("c", `"7"`, at), doneStep("r", `{"status":200}`, at)}
				nr.CurrentStep = "r"
				nr.Finish = &store.RunFinish{Status: status, Output: json.RawMessage(`{"n":"7"}`), Error: "why " + status}
				if status == store.RunFailed {
					nr.Steps[1] = failedStep("r", "http.500", at)
				}
				before := time.Now()
				requireNoError(t, b.st.SaveNewRun(b.ctx, nr), "SaveNewRun")
				after := time.Now()

				got := getRun(t, b.st, id)
				want := store.Run{ID: id, FlowID: b.flow.ID, FlowName: b.flow.Name, FlowVersion: 1, OwnerID: b.user.ID, Status: status,
					TriggerType: "webhook", Input: nr.Input, Output: nr.Finish.Output, Error: "why " + status, CurrentStep: "r",
					CreatedAt: created, StartedAt: &created, FinishedAt: got.FinishedAt, NextAttemptAt: created}
				requireSameRun(t, got, want, "GetRun")
				requireBetween(t, *got.FinishedAt, before, after, "finished_at")
				steps, err := b.st.ListSteps(b.ctx, id)
				requireNoError(t, err, "ListSteps")
				requireOrdered(t, steps, []string{"c", "r"})
				requireSameStep(t, steps[0], nr.Steps[0], id)
				requireSameStep(t, steps[1], nr.Steps[1], id)

				// The run is not queued, and its lease is gone.
				claimed, err := b.st.ClaimRuns(b.ctx, "other", time.Now().Add(time.Hour), time.Now().Add(2*time.Hour), 10)
				requireNoError(t, err, "ClaimRuns")
				if len(claimed) != 0 {
					t.Fatalf("ClaimRuns: got %d runs, want none", len(claimed))
				}
				err = b.st.SaveSteps(b.ctx, "w", id, "", []store.Step{doneStep("late", `1`, at)})
				requireErrorIs(t, err, store.ErrLeaseLost, "SaveSteps after the run finished")

				if status == store.RunFailed {
					// The failed step counts as a problem of its flow since
					// the run was created (ListProblems reads the flow and
					// creation time the write set on the step).
					ps, err := b.st.ListProblems(b.ctx, store.ProblemFilter{FlowID: b.flow.ID, Since: created.Add(-time.Millisecond)})
					requireNoError(t, err, "ListProblems")
					if len(ps) != 1 || ps[0].Code != "http.500" || ps[0].Count != 1 {
						t.Fatalf("ListProblems after a failed run in one write: got %+v, want http.500 once", ps)
					}
					later, err := b.st.ListProblems(b.ctx, store.ProblemFilter{FlowID: b.flow.ID, Since: created.Add(time.Millisecond)})
					requireNoError(t, err, "ListProblems(since after the run)")
					if len(later) != 0 {
						t.Fatalf("ListProblems since after the run was created: got %+v, want none", later)
					}
				}
				var want2 []store.Event
				if status == store.RunFailed {
					want2 = append(want2, store.Event{Kind: store.EventRunFailed, RunID: id})
				}
				requireEvents(t, claimAll(t, b.st), before, after, want2...)
			})
		}
	}},
	{"LeasedThenWorked", func(t *testing.T, open opener) {
		b := setup(t, open)
		id, err := b.st.ReserveRunID(b.ctx)
		requireNoError(t, err, "ReserveRunID")
		created := time.Now().UTC()
		nr := newRun(b, id, created, "w")
		nr.Steps, nr.CurrentStep = []store.Step{doneStep("a", `1`, created)}, "a"
		requireNoError(t, b.st.SaveNewRun(b.ctx, nr), "SaveNewRun")
		got := getRun(t, b.st, id)
		until := created.Add(time.Minute)
		requireSameRun(t, got, store.Run{ID: id, FlowID: b.flow.ID, FlowName: b.flow.Name, FlowVersion: 1, OwnerID: b.user.ID, Status: store.RunRunning,
			TriggerType: "webhook", Input: nr.Input, CurrentStep: "a", CreatedAt: created, StartedAt: &created, NextAttemptAt: created,
			LeaseOwner: "w", LeaseUntil: &until}, "GetRun")

		// Leased: not claimable, and fenced against other workers.
		claimed, err := b.st.ClaimRuns(b.ctx, "other", time.Now().Add(time.Second), time.Now().Add(time.Hour), 10)
		requireNoError(t, err, "ClaimRuns")
		if len(claimed) != 0 {
			t.Fatalf("ClaimRuns: got %d runs, want none", len(claimed))
		}
		requireErrorIs(t, b.st.SaveSteps(b.ctx, "other", id, "b", []store.Step{doneStep("b", `2`, created)}), store.ErrLeaseLost, "SaveSteps(other)")
		requireErrorIs(t, b.st.FinishRun(b.ctx, "other", id, store.RunFinish{Status: store.RunSucceeded}), store.ErrLeaseLost, "FinishRun(other)")

		// Its worker goes on: later steps follow the first.
		requireNoError(t, b.st.SaveSteps(b.ctx, "w", id, "b", []store.Step{doneStep("b", `2`, created)}), "SaveSteps")
		requireNoError(t, b.st.FinishRun(b.ctx, "w", id, store.RunFinish{Status: store.RunSucceeded, Steps: []store.Step{doneStep("c", `3`, created)}}), "FinishRun")
		steps, err := b.st.ListSteps(b.ctx, id)
		requireNoError(t, err, "ListSteps")
		requireStepKeys(t, steps, "a", "b", "c")
		if r := getRun(t, b.st, id); r.Status != store.RunSucceeded || r.LeaseOwner != "" {
			t.Fatalf("after FinishRun: status %q owner %q", r.Status, r.LeaseOwner)
		}
	}},
	{"Queued", func(t *testing.T, open opener) {
		b := setup(t, open)
		id, err := b.st.ReserveRunID(b.ctx)
		requireNoError(t, err, "ReserveRunID")
		requireNoError(t, b.st.SaveNewRun(b.ctx, newRun(b, id, time.Now().UTC(), "")), "SaveNewRun(queued)")
		claimed, err := b.st.ClaimRuns(b.ctx, "other", time.Now().Add(time.Second), time.Now().Add(time.Hour), 10)
		requireNoError(t, err, "ClaimRuns")
		if len(claimed) != 1 || claimed[0].ID != id || claimed[0].Status != store.RunRunning {
			t.Fatalf("ClaimRuns: got %+v, want run %d", claimed, id)
		}
	}},
	{"Refused", func(t *testing.T, open opener) {
		b := setup(t, open)
		id, err := b.st.ReserveRunID(b.ctx)
		requireNoError(t, err, "ReserveRunID")
		nr := newRun(b, id, time.Now().UTC(), "w")
		nr.Steps = manySteps("s", store.StepChunk+1)
		nr.Finish = &store.RunFinish{Status: store.RunSucceeded}
		if err := b.st.SaveNewRun(b.ctx, nr); err == nil {
			t.Fatalf("SaveNewRun with %d steps: no error", len(nr.Steps))
		}
		// A run of a missing flow writes nothing, steps and event included.
		nr.Steps = []store.Step{doneStep("a", `1`, time.Now())}
		nr.Finish.Status = store.RunFailed
		nr.FlowID = b.flow.ID + 1000
		if err := b.st.SaveNewRun(b.ctx, nr); err == nil {
			t.Fatal("SaveNewRun of a missing flow: no error")
		}
		if _, err := b.st.GetRun(b.ctx, id); err == nil {
			t.Fatalf("run %d exists after refused writes", id)
		}
		requireEvents(t, claimAll(t, b.st), time.Now(), time.Now())
	}},
}
