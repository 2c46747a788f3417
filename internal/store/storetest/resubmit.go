package storetest

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// failedRun adds a run that failed after step a succeeded and step b failed
// with err (JSON).
func failedRun(t *testing.T, st store.Store, flowID int64, stepErr string) store.Run {
	t.Helper()
	// The engine writes the fault columns with the error.
	var fault store.StepFault
	if err := json.Unmarshal([]byte(stepErr), &fault); err != nil {
		t.Fatalf("step error %s: %v", stepErr, err)
	}
	r := createLeasedRun(t, st, flowID, "w", time.Now().Add(time.Minute))
	now := time.Now().UTC()
	err := st.FinishRun(t.Context(), "w", r.ID, store.RunFinish{Status: store.RunFailed, Error: "b failed", Steps: []store.Step{
		{Key: "a", ActionID: "a", Type: "http", Status: "succeeded", Attempts: 1, StartedAt: &now, FinishedAt: &now, Output: json.RawMessage(`{"id":7}`)},
		{Key: "b", ActionID: "b", Type: "http", Status: "failed", Attempts: 1, StartedAt: &now, FinishedAt: &now, Error: json.RawMessage(stepErr), Fault: fault},
	}})
	if err != nil {
		t.Fatalf("FinishRun: %v", err)
	}
	return getRun(t, st, r.ID)
}

// resubmitTests check resubmission, counting and the wider run filters
// that bulk jobs use.
var resubmitTests = []test{
	{"ResubmitCopiesSucceeded", func(t *testing.T, open opener) {
		b := setup(t, open)
		orig := failedRun(t, b.st, b.flow.ID, `{"message":"boom"}`)
		r, existing, err := b.st.ResubmitRun(b.ctx, store.NewRun{FlowID: b.flow.ID, FlowVersion: 1, TriggerType: "resubmit",
			Input: orig.Input, ResubmittedFrom: &orig.ID, CopySucceeded: true})
		requireNoError(t, err, "ResubmitRun")
		if existing || r.ID == orig.ID || r.Status != store.RunQueued || r.ResubmittedFrom == nil || *r.ResubmittedFrom != orig.ID {
			t.Fatalf("ResubmitRun: existing=%t run %+v", existing, r)
		}
		steps, err := b.st.ListSteps(b.ctx, r.ID)
		requireNoError(t, err, "ListSteps")
		requireStepKeys(t, steps, "a")
		if steps[0].RunID != r.ID || steps[0].Status != "succeeded" {
			t.Fatalf("copied step: got %+v", steps[0])
		}
		requireJSON(t, steps[0].Output, `{"id":7}`, "copied step output")

		plain, _, err := b.st.ResubmitRun(b.ctx, store.NewRun{FlowID: b.flow.ID, FlowVersion: 1, TriggerType: "resubmit", ResubmittedFrom: &orig.ID})
		requireNoError(t, err, "ResubmitRun(without copy)")
		steps, err = b.st.ListSteps(b.ctx, plain.ID)
		requireNoError(t, err, "ListSteps")
		requireStepKeys(t, steps)

		// ResubmittedFrom lists the runs resubmitted from a run, and no
		// other.
		failedRun(t, b.st, b.flow.ID, `{"message":"boom"}`)
		got, err := b.st.ListRuns(b.ctx, store.RunFilter{ResubmittedFrom: orig.ID, Oldest: true})
		requireNoError(t, err, "ListRuns(ResubmittedFrom)")
		requireIDs(t, got, []int64{r.ID, plain.ID}, "runs resubmitted from the original")
		got, err = b.st.ListRuns(b.ctx, store.RunFilter{ResubmittedFrom: r.ID})
		requireNoError(t, err, "ListRuns(ResubmittedFrom)")
		requireIDs(t, got, nil, "runs resubmitted from a run never resubmitted")
	}},
	{"ResubmitDedupe", func(t *testing.T, open opener) {
		b := setup(t, open)
		orig := failedRun(t, b.st, b.flow.ID, `{"message":"boom"}`)
		nr := store.NewRun{FlowID: b.flow.ID, FlowVersion: 1, TriggerType: "resubmit", ResubmittedFrom: &orig.ID, Dedupe: true}

		const callers = 8
		runs := make([]store.Run, callers)
		existing := make([]bool, callers)
		errs := make([]error, callers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				<-start
				runs[i], existing[i], errs[i] = b.st.ResubmitRun(b.ctx, nr)
			})
		}
		close(start)
		wg.Wait()
		created := 0
		for i := range callers {
			requireNoError(t, errs[i], "ResubmitRun(dedupe)")
			if runs[i].ID != runs[0].ID {
				t.Fatalf("ResubmitRun(dedupe) from %d callers: got runs %d and %d", callers, runs[0].ID, runs[i].ID)
			}
			if !existing[i] {
				created++
			}
		}
		if created != 1 {
			t.Fatalf("ResubmitRun(dedupe): %d callers created a run, want 1", created)
		}
		n, err := b.st.CountRuns(b.ctx, store.RunFilter{FlowID: b.flow.ID})
		requireNoError(t, err, "CountRuns")
		if n != 2 {
			t.Fatalf("runs after deduped resubmits: %d, want 2", n)
		}

		// Once the resubmitted run finishes, a new resubmit creates another.
		_, err = b.st.CancelRun(b.ctx, runs[0].ID)
		requireNoError(t, err, "CancelRun")
		again, ex, err := b.st.ResubmitRun(b.ctx, nr)
		requireNoError(t, err, "ResubmitRun(after finish)")
		if ex || again.ID == runs[0].ID {
			t.Fatalf("ResubmitRun after the first finished: existing=%t run %d", ex, again.ID)
		}
	}},
	{"CountAndWideFilters", func(t *testing.T, open opener) {
		b := setup(t, open)
		other := createFlow(t, b.st, b.user.ID, "", nil)
		authErr := `{"message":"401 Unauthorized","kind":"http","status":401,"class":"auth","connection":"crm"}`
		r1 := failedRun(t, b.st, b.flow.ID, authErr)
		r2 := failedRun(t, b.st, b.flow.ID, `{"message":"500","kind":"http","status":500,"class":"transient","connection":"crm"}`)
		r3 := failedRun(t, b.st, other.ID, authErr)
		waitPast(r3.CreatedAt)
		r4 := failedRun(t, b.st, b.flow.ID, `{"message":"401","kind":"http","status":401,"class":"auth","connection":"erp"}`)
		r5 := createRun(t, b.st, b.flow.ID, time.Time{})

		for _, tc := range []struct {
			name   string
			filter store.RunFilter
			want   []int64
		}{
			{"all", store.RunFilter{}, []int64{r5.ID, r4.ID, r3.ID, r2.ID, r1.ID}},
			{"oldest", store.RunFilter{Oldest: true}, []int64{r1.ID, r2.ID, r3.ID, r4.ID, r5.ID}},
			{"after", store.RunFilter{Oldest: true, AfterID: r2.ID, Limit: 2}, []int64{r3.ID, r4.ID}},
			{"until", store.RunFilter{Until: r4.CreatedAt}, []int64{r3.ID, r2.ID, r1.ID}},
			{"ids", store.RunFilter{IDs: []int64{r4.ID, r1.ID, r5.ID + 1000}}, []int64{r4.ID, r1.ID}},
			{"failed on connection", store.RunFilter{FailedOnConnection: "crm"}, []int64{r3.ID, r1.ID}},
			{"failed on connection of a flow", store.RunFilter{FailedOnConnection: "crm", FlowID: b.flow.ID}, []int64{r1.ID}},
			{"failed on another connection", store.RunFilter{FailedOnConnection: "erp"}, []int64{r4.ID}},
			{"failed on unknown connection", store.RunFilter{FailedOnConnection: "nope"}, nil},
		} {
			runs, err := b.st.ListRuns(b.ctx, tc.filter)
			requireNoError(t, err, "ListRuns("+tc.name+")")
			requireIDs(t, runs, tc.want, "ListRuns("+tc.name+")")
			f := tc.filter
			f.Limit = 1
			n, err := b.st.CountRuns(b.ctx, f)
			requireNoError(t, err, "CountRuns("+tc.name+")")
			if tc.name == "after" {
				// The limit is ignored: r3, r4 and r5 follow r2.
				if n != 3 {
					t.Fatalf("CountRuns(%s): got %d, want 3", tc.name, n)
				}
				continue
			}
			if n != len(tc.want) {
				t.Fatalf("CountRuns(%s): got %d, want %d", tc.name, n, len(tc.want))
			}
		}
	}},
}
