package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// historyTests check the run history's filters by owner, flow and status
// (read through the owner's flows and runs_flow_status), and that the
// problems' counts follow the failures through every way runs are
// written and deleted.
var historyTests = []test{
	{"OwnerAndStatusPages", func(t *testing.T, open opener) {
		b := setup(t, open)
		other := createUser(t, b.st, "")
		flows := []store.Flow{b.flow, createFlow(t, b.st, b.user.ID, "", nil), createFlow(t, b.st, b.user.ID, "", nil), createFlow(t, b.st, other.ID, "", nil)}
		// 60 runs spread unevenly over the flows, of four statuses.
		statuses := []string{store.RunSucceeded, store.RunFailed, store.RunSucceeded, store.RunQueued, store.RunCancelled}
		for i := range 60 {
			f := flows[(i*i+i/3)%len(flows)]
			switch st := statuses[(i/2+i)%len(statuses)]; st {
			case store.RunQueued:
				createRun(t, b.st, f.ID, time.Time{})
			default:
				finishRun(t, b.st, f.ID, st)
			}
		}
		all, err := b.st.ListRuns(b.ctx, store.RunFilter{Limit: 1000})
		requireNoError(t, err, "ListRuns(all)")
		if len(all) != 60 {
			t.Fatalf("ListRuns(all): %d runs, want 60", len(all))
		}
		// What each filter must list: all runs (newest first, from the
		// primary key) filtered here.
		want := func(f store.RunFilter) []int64 {
			var ids []int64
			for _, r := range all {
				if (f.OwnerID == 0 || r.OwnerID == f.OwnerID) && (f.FlowID == 0 || r.FlowID == f.FlowID) && (f.Status == "" || r.Status == f.Status) &&
					(f.BeforeID == 0 || r.ID < f.BeforeID) && (f.AfterID == 0 || r.ID > f.AfterID) {
					ids = append(ids, r.ID)
				}
			}
			if f.Oldest {
				slices.Reverse(ids)
			}
			return ids[:min(len(ids), f.Limit)]
		}
		mid := all[30].ID
		for _, owner := range []int64{b.user.ID, other.ID, other.ID + 1000} {
			for _, flow := range []int64{0, flows[1].ID} {
				for _, status := range []string{"", store.RunSucceeded, store.RunFailed, store.RunQueued, store.RunCancelled, store.RunWaiting} {
					for _, limit := range []int{1, 4, 50} {
						for _, f := range []store.RunFilter{
							{OwnerID: owner, FlowID: flow, Status: status, Limit: limit},
							{OwnerID: owner, FlowID: flow, Status: status, Limit: limit, BeforeID: mid},
							{OwnerID: owner, FlowID: flow, Status: status, Limit: limit, Oldest: true},
							{OwnerID: owner, FlowID: flow, Status: status, Limit: limit, Oldest: true, AfterID: mid},
						} {
							got, err := b.st.ListRuns(b.ctx, f)
							requireNoError(t, err, "ListRuns")
							ids := make([]int64, len(got))
							for i, r := range got {
								ids[i] = r.ID
							}
							if w := want(f); !slices.Equal(ids, w) {
								t.Fatalf("ListRuns(%+v): %v, want %v", f, ids, w)
							}
						}
					}
				}
			}
		}
	}},
	{"StatusFindsOldRuns", func(t *testing.T, open opener) {
		b := setup(t, open)
		other := createUser(t, b.st, "")
		theirs := createFlow(t, b.st, other.ID, "", nil)
		second := createFlow(t, b.st, b.user.ID, "", nil)
		// The owner's only failed run is the oldest; hundreds of runs of
		// other statuses, theirs and other owners', come after it. A
		// status filter lists it on the first page however far back it
		// is (the portal once read only a window of recent ids).
		old := finishRun(t, b.st, b.flow.ID, store.RunFailed)
		createRuns(t, b.st, b.flow.ID, 150, time.Time{})
		createRuns(t, b.st, second.ID, 150, time.Time{})
		createRuns(t, b.st, theirs.ID, 150, time.Time{})
		finishRun(t, b.st, theirs.ID, store.RunFailed)
		for _, f := range []store.RunFilter{
			{OwnerID: b.user.ID, Status: store.RunFailed, Limit: 50},
			{FlowID: b.flow.ID, Status: store.RunFailed, Limit: 50},
			{OwnerID: b.user.ID, FlowID: b.flow.ID, Status: store.RunFailed, Limit: 50},
			{OwnerID: b.user.ID, Status: store.RunFailed, Limit: 50, Oldest: true},
		} {
			got, err := b.st.ListRuns(b.ctx, f)
			requireNoError(t, err, "ListRuns")
			if len(got) != 1 || got[0].ID != old.ID {
				t.Fatalf("ListRuns(%+v): %d runs, want only run %d", f, len(got), old.ID)
			}
		}
		got, err := b.st.ListRuns(b.ctx, store.RunFilter{OwnerID: b.user.ID, Status: store.RunSucceeded, Limit: 50})
		requireNoError(t, err, "ListRuns(succeeded)")
		if len(got) != 0 {
			t.Fatalf("ListRuns(owner, succeeded): %d runs, want none", len(got))
		}
		got, err = b.st.ListRuns(b.ctx, store.RunFilter{OwnerID: b.user.ID, Status: store.RunQueued, Limit: 1000})
		requireNoError(t, err, "ListRuns(queued)")
		if len(got) != 300 {
			t.Fatalf("ListRuns(owner, queued): %d runs, want 300", len(got))
		}
	}},
	{"ProblemCounts", func(t *testing.T, open opener) {
		b := setup(t, open)
		other := createUser(t, b.st, "")
		second := createFlow(t, b.st, b.user.ID, "", nil)
		theirs := createFlow(t, b.st, other.ID, "", nil)
		at := time.Now().UTC().Add(-time.Hour)
		counts := func(f store.ProblemFilter) map[string]int {
			t.Helper()
			ps, err := b.st.ListProblems(b.ctx, f)
			requireNoError(t, err, "ListProblems")
			out := map[string]int{}
			for _, p := range ps {
				out[fmt.Sprintf("%d/%s/%s", p.FlowID, p.Step, p.Code)] = p.Count
			}
			// Since, read from the runs, must agree.
			since := f
			since.Since = time.Unix(1, 0)
			ps, err = b.st.ListProblems(b.ctx, since)
			requireNoError(t, err, "ListProblems(since)")
			for _, p := range ps {
				if k := fmt.Sprintf("%d/%s/%s", p.FlowID, p.Step, p.Code); out[k] != p.Count {
					t.Errorf("ListProblems(%+v) counts %s %d times, with Since %d", f, k, out[k], p.Count)
				}
			}
			if len(ps) != len(out) {
				t.Errorf("ListProblems(%+v): %d problems, with Since %d", f, len(out), len(ps))
			}
			return out
		}
		key := func(f store.Flow, step, code string) string { return fmt.Sprintf("%d/%s/%s", f.ID, step, code) }
		requireCounts := func(got, want map[string]int, what string) {
			t.Helper()
			for k, n := range want {
				if got[k] != n {
					t.Errorf("%s: %s counted %d times, want %d (all: %v)", what, k, got[k], n, got)
				}
			}
			if len(got) != len(want) {
				t.Errorf("%s: problems %v, want %v", what, got, want)
			}
		}

		// Old failures, then a cutoff that PruneRuns deletes them by.
		finishRun(t, b.st, b.flow.ID, store.RunFailed, failedStep("fetch", "http_500", at))
		orig := finishRun(t, b.st, second.ID, store.RunFailed, failedStep("send", "smtp_down", at))
		time.Sleep(5 * time.Millisecond)
		cutoff := time.Now()
		time.Sleep(5 * time.Millisecond)
		// Concurrent writers: 12 failed runs of the flow at once.
		var wg sync.WaitGroup
		for range 12 {
			wg.Go(func() {
				r, err := b.st.CreateRun(b.ctx, store.NewRun{FlowID: b.flow.ID, FlowVersion: 1, TriggerType: "manual", LeaseOwner: "w", LeaseUntil: time.Now().Add(time.Minute)})
				if err == nil {
					err = b.st.FinishRun(b.ctx, "w", r.ID, store.RunFinish{Status: store.RunFailed, Steps: []store.Step{failedStep("fetch", "http_500", at)}})
				}
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		// A step first recorded running without a fault, then failed with
		// one (SaveSteps, then FinishRun rewrites it).
		r := createLeasedRun(t, b.st, second.ID, "w", time.Now().Add(time.Minute))
		requireNoError(t, b.st.SaveSteps(b.ctx, "w", r.ID, "send", []store.Step{{Key: "send", ActionID: "send", Type: "http", Status: "running", StartedAt: &at}}), "SaveSteps")
		requireNoError(t, b.st.FinishRun(b.ctx, "w", r.ID, store.RunFinish{Status: store.RunFailed, Steps: []store.Step{failedStep("send", "smtp_down", at)}}), "FinishRun")
		// A resubmit of the second flow's run fails again: a failure of
		// its own.
		re, err := b.st.CreateRun(b.ctx, store.NewRun{FlowID: second.ID, FlowVersion: 1, TriggerType: "resubmit", ResubmittedFrom: &orig.ID,
			LeaseOwner: "w", LeaseUntil: time.Now().Add(time.Minute)})
		requireNoError(t, err, "CreateRun(resubmit)")
		requireNoError(t, b.st.FinishRun(b.ctx, "w", re.ID, store.RunFinish{Status: store.RunFailed, Steps: []store.Step{failedStep("send", "smtp_down", at)}}), "FinishRun(resubmit)")
		// Another owner's failure.
		finishRun(t, b.st, theirs.ID, store.RunFailed, failedStep("fetch", "http_500", at))

		mine := map[string]int{key(b.flow, "fetch", "http_500"): 13, key(second, "send", "smtp_down"): 3}
		requireCounts(counts(store.ProblemFilter{OwnerID: b.user.ID}), mine, "owner")
		requireCounts(counts(store.ProblemFilter{FlowID: second.ID}), map[string]int{key(second, "send", "smtp_down"): 3}, "flow")
		requireCounts(counts(store.ProblemFilter{OwnerID: other.ID}), map[string]int{key(theirs, "fetch", "http_500"): 1}, "other owner")
		everyone := map[string]int{key(theirs, "fetch", "http_500"): 1}
		for k, n := range mine {
			everyone[k] = n
		}
		requireCounts(counts(store.ProblemFilter{}), everyone, "everyone")

		// Retention deletes the two old runs and their failures.
		n, err := b.st.PruneRuns(b.ctx, cutoff)
		requireNoError(t, err, "PruneRuns")
		if n != 2 {
			t.Fatalf("PruneRuns: %d runs, want 2", n)
		}
		requireCounts(counts(store.ProblemFilter{OwnerID: b.user.ID}), map[string]int{key(b.flow, "fetch", "http_500"): 12, key(second, "send", "smtp_down"): 2}, "owner after pruning")
		// Deleting a flow takes its problems with it.
		requireNoError(t, b.st.DeleteFlow(b.ctx, second.ID), "DeleteFlow")
		requireCounts(counts(store.ProblemFilter{OwnerID: b.user.ID}), map[string]int{key(b.flow, "fetch", "http_500"): 12}, "owner after deleting a flow")
	}},
}
