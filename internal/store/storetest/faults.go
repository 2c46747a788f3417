package storetest

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// FaultErrors are step errors as stores before migration 0011 kept them,
// only as JSON, by step key. A driver's upgrade test writes one failed run
// with one step of each under the schema before 0011, migrates, and hands
// the runs to CheckFaultsBackfilled.
var FaultErrors = map[string]string{
	"auth":   `{"message":"401","class":"auth","connection":"crm","diagnosis":{"code":"http.401","class":"auth","title":"Refused"}}`,
	"nodiag": `{"message":"boom","kind":"http"}`,
	"text":   `connection reset by peer`,
	"scalar": `"just a string"`,
	"array":  `[1]`,
}

// FaultRuns creates a user, a flow and one failed run for each of
// FaultErrors, through the store (none of it touches the steps), and
// returns the run ids by step key. The driver then writes each run's
// failed step with the error, in its own SQL under the schema before
// 0011, which has no fault columns for SaveSteps to write.
func FaultRuns(t *testing.T, st store.Store) map[string]int64 {
	t.Helper()
	ctx := t.Context()
	u, err := st.CreateUser(ctx, store.User{Email: "ann@example.com", PasswordHash: "x", Role: store.RoleMaker})
	if err != nil {
		t.Fatal(err)
	}
	f, err := st.CreateFlow(ctx, store.NewFlow{OwnerID: u.ID, Name: "f", TriggerType: "manual", WebhookToken: "wh", Source: "name: f", Definition: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	runs := map[string]int64{}
	for key := range FaultErrors {
		r := createLeasedRun(t, st, f.ID, "w", time.Now().Add(time.Minute))
		if err := st.FinishRun(ctx, "w", r.ID, store.RunFinish{Status: store.RunFailed, Error: "step " + key + " failed"}); err != nil {
			t.Fatal(err)
		}
		runs[key] = r.ID
	}
	return runs
}

// CheckFaultsBackfilled checks a store upgraded with the runs of
// FaultErrors: the fault columns were filled from the JSON where it is an
// object with them, and are empty elsewhere, so that problems and the runs
// a fixed connection can rescue are found as before the upgrade.
func CheckFaultsBackfilled(t *testing.T, st store.Store, runs map[string]int64) {
	t.Helper()
	ctx := t.Context()
	want := map[string]store.StepFault{"auth": {Class: "auth", Code: "http.401", Connection: "crm"}}
	for _, id := range runs {
		steps, err := st.ListSteps(ctx, id)
		if err != nil || len(steps) != 1 {
			t.Fatalf("ListSteps(%d): %+v, %v", id, steps, err)
		}
		if got := steps[0].Fault; got != want[steps[0].Key] {
			t.Errorf("step %s: fault %+v, want %+v", steps[0].Key, got, want[steps[0].Key])
		}
	}
	problems, err := st.ListProblems(ctx, store.ProblemFilter{})
	if err != nil || len(problems) != 1 || problems[0].Code != "http.401" || problems[0].Class != "auth" || problems[0].Title != "Refused" {
		t.Fatalf("ListProblems after the upgrade: %+v, %v", problems, err)
	}
	rescue, err := st.ListRuns(ctx, store.RunFilter{FailedOnConnection: "crm"})
	if err != nil || len(rescue) != 1 {
		t.Fatalf("ListRuns(failed on crm) after the upgrade: %d runs, %v", len(rescue), err)
	}
}

// BenchmarkProblems measures, on st filled with a history of owner's runs
// of which some failed on connection crm, the store calls behind GET
// /problems (an owner's problems, all time and since a week) and the
// connection filter of a bulk resubmit (one page of the runs that failed
// on crm, and on a connection without failures).
func BenchmarkProblems(b *testing.B, st store.Store, owner int64) {
	ctx := context.Background()
	b.Run("ListProblems", func(b *testing.B) {
		defer reportCPU(b)()
		for b.Loop() {
			ps, err := st.ListProblems(ctx, store.ProblemFilter{OwnerID: owner})
			if err != nil || len(ps) == 0 {
				b.Fatalf("ListProblems: %d problems, %v", len(ps), err)
			}
		}
	})
	b.Run("ListProblemsSinceWeek", func(b *testing.B) {
		defer reportCPU(b)()
		for b.Loop() {
			if _, err := st.ListProblems(ctx, store.ProblemFilter{OwnerID: owner, Since: time.Now().Add(-7 * 24 * time.Hour)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ListProblemsAll", func(b *testing.B) {
		defer reportCPU(b)()
		for b.Loop() {
			if ps, err := st.ListProblems(ctx, store.ProblemFilter{}); err != nil || len(ps) == 0 {
				b.Fatalf("ListProblems(all): %d problems, %v", len(ps), err)
			}
		}
	})
	for _, tc := range []struct {
		name, conn string
		want       int
	}{{"FailedOnConnection", "crm", 50}, {"FailedOnConnectionNone", "erp", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			defer reportCPU(b)()
			for b.Loop() {
				rs, err := st.ListRuns(ctx, store.RunFilter{OwnerID: owner, FailedOnConnection: tc.conn})
				if err != nil || len(rs) != tc.want {
					b.Fatalf("ListRuns(failed on %s): %d runs, %v; want %d", tc.conn, len(rs), err, tc.want)
				}
			}
		})
	}
}

// BenchmarkRunLists measures the run history's lists (ListRuns, a page
// of 51 as the portal asks) on st filled as for BenchmarkProblems: the
// owner's runs, all and by status (one that no run has), one flow's by
// status, every run of a status, and the runs of another owner whose 100
// runs (created here, the newest) are all queued, by a status none of
// them has: the case that walked every run of that status before
// runs_flow_status.
func BenchmarkRunLists(b *testing.B, st store.Store, owner, firstFlow int64) {
	ctx := context.Background()
	rare, err := st.CreateUser(ctx, store.User{Email: "rare@example.com", PasswordHash: "x", Role: store.RoleMaker})
	if err != nil {
		b.Fatal(err)
	}
	f, err := st.CreateFlow(ctx, store.NewFlow{Name: "rare", OwnerID: rare.ID, TriggerType: "manual", WebhookToken: "rare", Definition: []byte(`{}`), Source: "x"})
	if err != nil {
		b.Fatal(err)
	}
	for range 100 {
		if _, err := st.CreateRun(ctx, store.NewRun{FlowID: f.ID, FlowVersion: 1, TriggerType: "manual", NextAttemptAt: time.Now().Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		filter store.RunFilter
		some   bool
	}{
		{"owner", store.RunFilter{OwnerID: owner}, true},
		{"owner/deep", store.RunFilter{OwnerID: owner, BeforeID: 1000}, true},
		{"owner/failed", store.RunFilter{OwnerID: owner, Status: store.RunFailed}, true},
		{"owner/failed/deep", store.RunFilter{OwnerID: owner, Status: store.RunFailed, BeforeID: 1000}, true},
		{"owner/cancelled-none", store.RunFilter{OwnerID: owner, Status: store.RunCancelled}, false},
		{"flow/failed", store.RunFilter{FlowID: firstFlow, Status: store.RunFailed}, true},
		{"all/failed", store.RunFilter{Status: store.RunFailed}, true},
		{"rare-owner/succeeded-none", store.RunFilter{OwnerID: rare.ID, Status: store.RunSucceeded}, false},
		{"rare-owner/queued", store.RunFilter{OwnerID: rare.ID, Status: store.RunQueued}, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			tc.filter.Limit = 51
			defer reportCPU(b)()
			for b.Loop() {
				rs, err := st.ListRuns(ctx, tc.filter)
				if err != nil || (len(rs) > 0) != tc.some {
					b.Fatalf("ListRuns(%+v): %d runs, %v", tc.filter, len(rs), err)
				}
			}
		})
	}
}

// reportCPU starts counting the process's CPU time (user and system) and
// returns the function that reports it per operation as cpu-ms/op: on a
// shared machine, steadier than the wall time. For PostgreSQL it is the
// client's share only; the server's is not counted.
func reportCPU(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			return 0
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	cpu0 := cpu()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(cpu()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
		}
	}
}

// ProblemsHistoryRuns is the size of the history BenchmarkProblemsHistories
// has a driver write: a year of a busy server.
const ProblemsHistoryRuns = 1_000_000

// BenchmarkProblemsHistories runs BenchmarkProblems on two histories of
// ProblemsHistoryRuns runs, of which 1 in 100, then 1 in 20, failed. fill
// writes one (the driver's own SQL: the store's writes would take minutes)
// into a fresh store: runs spread over flows first..first+9 of owner, one
// step each, as BenchOwner creates them. It returns the store and owner.
//
// The 1 in 20 history also measures the run lists (BenchmarkRunLists).
func BenchmarkProblemsHistories(b *testing.B, fill func(b *testing.B, failEvery int) (store.Store, int64)) {
	for _, failEvery := range []int{100, 20} {
		b.Run(fmt.Sprintf("failed=1in%d", failEvery), func(b *testing.B) {
			st, owner := fill(b, failEvery)
			BenchmarkProblems(b, st, owner)
			if failEvery == 20 {
				flows, err := st.ListFlows(context.Background(), store.FlowFilter{OwnerID: owner})
				if err != nil || len(flows) == 0 {
					b.Fatalf("ListFlows: %d flows, %v", len(flows), err)
				}
				BenchmarkRunLists(b, st, owner, flows[0].ID)
			}
		})
	}
}

// BenchOwner creates the owner of a benchmark history and the 10 flows
// its runs are spread over; it returns the owner and the first flow's id
// (the others follow it).
func BenchOwner(b *testing.B, st store.Store) (owner, first int64) {
	ctx := context.Background()
	u, err := st.CreateUser(ctx, store.User{Email: "b@example.com", PasswordHash: "x", Role: store.RoleMaker})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 10 {
		f, err := st.CreateFlow(ctx, store.NewFlow{Name: fmt.Sprintf("f%d", i), OwnerID: u.ID, TriggerType: "manual",
			WebhookToken: fmt.Sprintf("t%d", i), Definition: []byte(`{}`), Source: "x"})
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			first = f.ID
		}
	}
	return u.ID, first
}
