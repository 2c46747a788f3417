package storetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// runTests check creating, reading, listing, cancelling and pruning runs.
var runTests = []test{
	{"CreateQueued", func(t *testing.T, open opener) {
		b := setup(t, open)
		parent := createRun(t, b.st, b.flow.ID, time.Time{})
		before := time.Now()
		r, err := b.st.CreateRun(b.ctx, store.NewRun{
			FlowID: b.flow.ID, FlowVersion: 1, TriggerType: "resubmit",
			Input: json.RawMessage(`{"body":{"a":[1,2]}}`), ResubmittedFrom: &parent.ID,
		})
		requireNoError(t, err, "CreateRun")
		after := time.Now()
		if r.ID == 0 || r.FlowID != b.flow.ID || r.FlowName != b.flow.Name || r.FlowVersion != 1 || r.OwnerID != b.user.ID ||
			r.Status != store.RunQueued || r.TriggerType != "resubmit" || r.LeaseOwner != "" || r.LeaseUntil != nil ||
			r.StartedAt != nil || r.FinishedAt != nil || r.Error != "" || r.CurrentStep != "" {
			t.Fatalf("CreateRun: got %+v", r)
		}
		if r.ResubmittedFrom == nil || *r.ResubmittedFrom != parent.ID {
			t.Fatalf("CreateRun: resubmitted_from = %v, want %d", r.ResubmittedFrom, parent.ID)
		}
		requireJSON(t, r.Input, `{"body":{"a":[1,2]}}`, "CreateRun input")
		requireJSON(t, r.Output, "", "CreateRun output")
		requireBetween(t, r.CreatedAt, before, after, "CreateRun created_at")
		// NextAttemptAt defaults to now.
		requireBetween(t, r.NextAttemptAt, before, after, "CreateRun next_attempt_at")

		got := getRun(t, b.st, r.ID)
		requireSameRun(t, got, r, "GetRun")
	}},
	{"CreateLeased", func(t *testing.T, open opener) {
		b := setup(t, open)
		until := time.Now().UTC().Add(time.Minute)
		before := time.Now()
		r := createLeasedRun(t, b.st, b.flow.ID, "node-a", until)
		after := time.Now()
		if r.Status != store.RunRunning || r.LeaseOwner != "node-a" {
			t.Fatalf("CreateRun(leased): got status %q owner %q", r.Status, r.LeaseOwner)
		}
		requireTimePtr(t, r.LeaseUntil, until, "CreateRun(leased) lease_until")
		if r.StartedAt == nil {
			t.Fatal("CreateRun(leased): started_at not set")
		}
		requireBetween(t, *r.StartedAt, before, after, "CreateRun(leased) started_at")
		requireSameRun(t, getRun(t, b.st, r.ID), r, "GetRun(leased)")

		// A leased run is not in the queue.
		claimed, err := b.st.ClaimRuns(b.ctx, "node-b", time.Now().Add(time.Hour), time.Now().Add(2*time.Hour), 10)
		requireNoError(t, err, "ClaimRuns")
		requireIDs(t, claimed, nil, "ClaimRuns with only a leased run")
		_, err = b.st.NextDueAt(b.ctx)
		requireErrorIs(t, err, store.ErrNotFound, "NextDueAt with only a leased run")
		// The node that created it may write to it at once.
		requireNoError(t, b.st.SaveSteps(b.ctx, "node-a", r.ID, "a", nil), "SaveSteps(leased)")
	}},
	{"RunUsage", func(t *testing.T, open opener) {
		b := setup(t, open)
		r := createLeasedRun(t, b.st, b.flow.ID, "node-a", time.Now().Add(time.Minute))
		if r.Usage != (store.RunUsage{}) {
			t.Fatalf("new run: usage %+v, want zero", r.Usage)
		}
		u := store.RunUsage{ExprSteps: 5_000_000_000, ExprTime: 90*time.Second + 7}
		requireNoError(t, b.st.SaveRunUsage(b.ctx, "node-a", r.ID, u), "SaveRunUsage")
		if got := getRun(t, b.st, r.ID).Usage; got != u {
			t.Fatalf("GetRun: usage %+v, want %+v", got, u)
		}
		requireErrorIs(t, b.st.SaveRunUsage(b.ctx, "node-b", r.ID, store.RunUsage{}), store.ErrLeaseLost, "SaveRunUsage(other owner)")
		// Parked and claimed again, the run keeps what it spent.
		requireNoError(t, b.st.ParkRun(b.ctx, "node-a", r.ID, time.Now(), nil), "ParkRun")
		requireErrorIs(t, b.st.SaveRunUsage(b.ctx, "node-a", r.ID, store.RunUsage{}), store.ErrLeaseLost, "SaveRunUsage(parked)")
		claimed, err := b.st.ClaimRuns(b.ctx, "node-b", time.Now().Add(time.Second), time.Now().Add(time.Minute), 10)
		requireNoError(t, err, "ClaimRuns")
		if len(claimed) != 1 || claimed[0].Usage != u {
			t.Fatalf("ClaimRuns: %d runs, usage %+v, want %+v", len(claimed), claimed, u)
		}
	}},
	{"GetRunNotFound", func(t *testing.T, open opener) {
		st := open(t)
		_, err := st.GetRun(t.Context(), 99)
		requireErrorIs(t, err, store.ErrNotFound, "GetRun(missing)")
		_, err = st.CancelRun(t.Context(), 99)
		requireErrorIs(t, err, store.ErrNotFound, "CancelRun(missing)")
	}},
	{"ListRunsFilters", func(t *testing.T, open opener) {
		st := open(t)
		ctx := t.Context()
		a, b := createUser(t, st, ""), createUser(t, st, "")
		fa1, fa2 := createFlow(t, st, a.ID, "", nil), createFlow(t, st, a.ID, "", nil)
		fb := createFlow(t, st, b.ID, "", nil)

		r1 := createRun(t, st, fa1.ID, time.Time{})
		r2 := createRun(t, st, fb.ID, time.Time{})
		r3 := createRun(t, st, fa2.ID, time.Time{})
		waitPast(r3.CreatedAt)
		r4 := createRun(t, st, fa1.ID, time.Time{})
		r5 := createRun(t, st, fb.ID, time.Time{})
		cancelled, err := st.CancelRun(ctx, r4.ID)
		requireNoError(t, err, "CancelRun")
		if cancelled.Status != store.RunCancelled {
			t.Fatalf("CancelRun: status %q", cancelled.Status)
		}

		for _, tc := range []struct {
			name   string
			filter store.RunFilter
			want   []int64
		}{
			{"all", store.RunFilter{}, []int64{r5.ID, r4.ID, r3.ID, r2.ID, r1.ID}},
			{"owner", store.RunFilter{OwnerID: a.ID}, []int64{r4.ID, r3.ID, r1.ID}},
			{"flow", store.RunFilter{FlowID: fa1.ID}, []int64{r4.ID, r1.ID}},
			{"status", store.RunFilter{Status: store.RunQueued}, []int64{r5.ID, r3.ID, r2.ID, r1.ID}},
			{"status cancelled", store.RunFilter{Status: store.RunCancelled}, []int64{r4.ID}},
			{"since", store.RunFilter{Since: r4.CreatedAt}, []int64{r5.ID, r4.ID}},
			{"before", store.RunFilter{BeforeID: r4.ID}, []int64{r3.ID, r2.ID, r1.ID}},
			{"limit", store.RunFilter{Limit: 2}, []int64{r5.ID, r4.ID}},
			{"page", store.RunFilter{BeforeID: r4.ID, Limit: 2}, []int64{r3.ID, r2.ID}},
			{"owner and status", store.RunFilter{OwnerID: a.ID, Status: store.RunQueued}, []int64{r3.ID, r1.ID}},
			{"flow and since", store.RunFilter{FlowID: fa1.ID, Since: r4.CreatedAt}, []int64{r4.ID}},
			{"nothing", store.RunFilter{OwnerID: b.ID, FlowID: fa1.ID}, nil},
		} {
			runs, err := st.ListRuns(ctx, tc.filter)
			requireNoError(t, err, "ListRuns("+tc.name+")")
			requireIDs(t, runs, tc.want, "ListRuns("+tc.name+")")
		}
		runs, err := st.ListRuns(ctx, store.RunFilter{FlowID: fb.ID, Limit: 1})
		requireNoError(t, err, "ListRuns")
		if len(runs) != 1 || runs[0].FlowName != fb.Name || runs[0].OwnerID != b.ID {
			t.Fatalf("ListRuns: got %+v, want run of flow %q owned by %d", runs, fb.Name, b.ID)
		}
	}},
	{"ListRunsDefaultLimit", func(t *testing.T, open opener) {
		b := setup(t, open)
		var last store.Run
		for range 55 {
			last = createRun(t, b.st, b.flow.ID, time.Time{})
		}
		runs, err := b.st.ListRuns(b.ctx, store.RunFilter{})
		requireNoError(t, err, "ListRuns")
		if len(runs) != 50 {
			t.Fatalf("ListRuns without limit: got %d runs, want 50", len(runs))
		}
		if runs[0].ID != last.ID {
			t.Fatalf("ListRuns: first run %d, want newest %d", runs[0].ID, last.ID)
		}
		for i := 1; i < len(runs); i++ {
			if runs[i].ID >= runs[i-1].ID {
				t.Fatalf("ListRuns: not newest first: %v", ids(runs))
			}
		}
	}},
	{"CancelRun", func(t *testing.T, open opener) {
		b := setup(t, open)
		queued := createRun(t, b.st, b.flow.ID, time.Time{})
		running := createLeasedRun(t, b.st, b.flow.ID, "w", time.Now().Add(time.Minute))
		before := time.Now()
		for _, r := range []store.Run{queued, running} {
			got, err := b.st.CancelRun(b.ctx, r.ID)
			requireNoError(t, err, "CancelRun")
			if got.ID != r.ID || got.Status != store.RunCancelled || got.LeaseOwner != "" || got.LeaseUntil != nil {
				t.Fatalf("CancelRun(%s): got %+v", r.Status, got)
			}
			if got.FinishedAt == nil {
				t.Fatalf("CancelRun(%s): finished_at not set", r.Status)
			}
			requireBetween(t, *got.FinishedAt, before, time.Now(), "CancelRun finished_at")
			requireSameRun(t, getRun(t, b.st, r.ID), got, "GetRun after cancel")
		}
		// The worker that held the running run has lost it.
		err := b.st.SaveSteps(b.ctx, "w", running.ID, "a", []store.Step{{Key: "a", ActionID: "a", Type: "http", Status: "succeeded"}})
		requireErrorIs(t, err, store.ErrLeaseLost, "SaveSteps after cancel")
		err = b.st.FinishRun(b.ctx, "w", running.ID, store.RunFinish{Status: store.RunSucceeded})
		requireErrorIs(t, err, store.ErrLeaseLost, "FinishRun after cancel")
		err = b.st.ParkRun(b.ctx, "w", running.ID, time.Now(), nil)
		requireErrorIs(t, err, store.ErrLeaseLost, "ParkRun after cancel")
		if got := getRun(t, b.st, running.ID); got.Status != store.RunCancelled {
			t.Fatalf("run after writes to a cancelled run: status %q", got.Status)
		}
		// A cancelled run is not claimed.
		claimed, err := b.st.ClaimRuns(b.ctx, "w2", time.Now().Add(time.Hour), time.Now().Add(2*time.Hour), 10)
		requireNoError(t, err, "ClaimRuns")
		requireIDs(t, claimed, nil, "ClaimRuns after cancel")
	}},
	{"CancelFinishedRunUnchanged", func(t *testing.T, open opener) {
		b := setup(t, open)
		r := createLeasedRun(t, b.st, b.flow.ID, "w", time.Now().Add(time.Minute))
		requireNoError(t, b.st.FinishRun(b.ctx, "w", r.ID, store.RunFinish{Status: store.RunFailed, Error: "boom", Output: json.RawMessage(`{"x":1}`)}), "FinishRun")
		finished := getRun(t, b.st, r.ID)
		got, err := b.st.CancelRun(b.ctx, r.ID)
		requireNoError(t, err, "CancelRun(finished)")
		if got.Status != store.RunFailed || got.Error != "boom" {
			t.Fatalf("CancelRun(finished): got status %q error %q, want failed/boom", got.Status, got.Error)
		}
		requireSameRun(t, got, finished, "CancelRun(finished)")
		requireSameRun(t, getRun(t, b.st, r.ID), finished, "GetRun after CancelRun(finished)")

		// Cancelling twice is the same.
		q := createRun(t, b.st, b.flow.ID, time.Time{})
		first, err := b.st.CancelRun(b.ctx, q.ID)
		requireNoError(t, err, "CancelRun")
		second, err := b.st.CancelRun(b.ctx, q.ID)
		requireNoError(t, err, "CancelRun(again)")
		requireSameRun(t, second, first, "CancelRun twice")
	}},
	{"PruneRuns", func(t *testing.T, open opener) {
		b := setup(t, open)
		finish := func(status string) store.Run {
			r := createLeasedRun(t, b.st, b.flow.ID, "w", time.Now().Add(time.Minute))
			requireNoError(t, b.st.FinishRun(b.ctx, "w", r.ID, store.RunFinish{Status: status, Steps: []store.Step{
				{Key: "a", ActionID: "a", Type: "http", Status: "succeeded"},
			}}), "FinishRun")
			return r
		}
		oldOK, oldFailed := finish(store.RunSucceeded), finish(store.RunFailed)
		oldCancelled := createRun(t, b.st, b.flow.ID, time.Time{})
		_, err := b.st.CancelRun(b.ctx, oldCancelled.ID)
		requireNoError(t, err, "CancelRun")
		oldQueued := createRun(t, b.st, b.flow.ID, time.Time{})
		oldRunning := createLeasedRun(t, b.st, b.flow.ID, "w", time.Now().Add(time.Minute))
		oldWaiting := createLeasedRun(t, b.st, b.flow.ID, "w", time.Now().Add(time.Minute))
		requireNoError(t, b.st.ParkRun(b.ctx, "w", oldWaiting.ID, time.Now().Add(time.Hour), nil), "ParkRun")

		n, err := b.st.PruneRuns(b.ctx, oldOK.CreatedAt)
		requireNoError(t, err, "PruneRuns(before everything)")
		if n != 0 {
			t.Fatalf("PruneRuns(before everything): deleted %d, want 0", n)
		}

		waitPast(oldWaiting.CreatedAt)
		cutoff := time.Now()
		waitPast(cutoff)
		newOK := finish(store.RunSucceeded)

		n, err = b.st.PruneRuns(b.ctx, cutoff)
		requireNoError(t, err, "PruneRuns")
		if n != 3 {
			t.Fatalf("PruneRuns: deleted %d, want 3", n)
		}
		for _, r := range []store.Run{oldOK, oldFailed, oldCancelled} {
			_, err := b.st.GetRun(b.ctx, r.ID)
			requireErrorIs(t, err, store.ErrNotFound, "GetRun(pruned)")
			steps, err := b.st.ListSteps(b.ctx, r.ID)
			requireNoError(t, err, "ListSteps(pruned)")
			if len(steps) != 0 {
				t.Fatalf("ListSteps(pruned run %d): got %d steps", r.ID, len(steps))
			}
		}
		for _, r := range []store.Run{oldQueued, oldRunning, oldWaiting, newOK} {
			getRun(t, b.st, r.ID)
		}
		steps, err := b.st.ListSteps(b.ctx, newOK.ID)
		requireNoError(t, err, "ListSteps(kept)")
		if len(steps) != 1 {
			t.Fatalf("ListSteps(kept run): got %d steps, want 1", len(steps))
		}
		n, err = b.st.PruneRuns(b.ctx, cutoff)
		requireNoError(t, err, "PruneRuns(again)")
		if n != 0 {
			t.Fatalf("PruneRuns(again): deleted %d, want 0", n)
		}
	}},
	{"PruneRunsMany", func(t *testing.T, open opener) {
		b := setup(t, open)
		const total = 1005
		var wg sync.WaitGroup
		errs := make(chan error, total)
		for i := range total {
			wg.Go(func() {
				r, err := b.st.CreateRun(b.ctx, store.NewRun{FlowID: b.flow.ID, FlowVersion: 1, TriggerType: "manual", LeaseOwner: "w", LeaseUntil: time.Now().Add(time.Minute)})
				if err == nil {
					err = b.st.FinishRun(b.ctx, "w", r.ID, store.RunFinish{Status: store.RunSucceeded})
				}
				if err != nil {
					errs <- fmt.Errorf("run %d: %w", i, err)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		n, err := b.st.PruneRuns(b.ctx, time.Now().Add(time.Second))
		requireNoError(t, err, "PruneRuns")
		if n != total {
			t.Fatalf("PruneRuns: deleted %d, want %d", n, total)
		}
	}},
}

// requireSameRun fails unless got and want agree on every field.
func requireSameRun(t *testing.T, got, want store.Run, what string) {
	t.Helper()
	if got.ID != want.ID || got.FlowID != want.FlowID || got.FlowName != want.FlowName || got.FlowVersion != want.FlowVersion ||
		got.OwnerID != want.OwnerID || got.Status != want.Status || got.TriggerType != want.TriggerType || got.Error != want.Error ||
		got.CurrentStep != want.CurrentStep || got.LeaseOwner != want.LeaseOwner {
		t.Fatalf("%s: got %+v, want %+v", what, got, want)
	}
	if (got.ResubmittedFrom == nil) != (want.ResubmittedFrom == nil) || (got.ResubmittedFrom != nil && *got.ResubmittedFrom != *want.ResubmittedFrom) {
		t.Fatalf("%s: resubmitted_from %v, want %v", what, got.ResubmittedFrom, want.ResubmittedFrom)
	}
	requireJSON(t, got.Input, string(want.Input), what+" input")
	requireJSON(t, got.Output, string(want.Output), what+" output")
	requireTime(t, got.CreatedAt, want.CreatedAt, what+" created_at")
	requireTime(t, got.NextAttemptAt, want.NextAttemptAt, what+" next_attempt_at")
	requireOptTime(t, got.StartedAt, want.StartedAt, what+" started_at")
	requireOptTime(t, got.FinishedAt, want.FinishedAt, what+" finished_at")
	requireOptTime(t, got.LeaseUntil, want.LeaseUntil, what+" lease_until")
}

// requireOptTime fails unless got and want are both nil or both near.
func requireOptTime(t *testing.T, got, want *time.Time, what string) {
	t.Helper()
	if want == nil {
		if got != nil {
			t.Fatalf("%s: got %s, want nil", what, got.Format(time.RFC3339Nano))
		}
		return
	}
	requireTimePtr(t, got, *want, what)
}
