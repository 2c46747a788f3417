package storetest

import (
	"context"
	"fmt"
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
		for b.Loop() {
			ps, err := st.ListProblems(ctx, store.ProblemFilter{OwnerID: owner})
			if err != nil || len(ps) == 0 {
				b.Fatalf("ListProblems: %d problems, %v", len(ps), err)
			}
		}
	})
	b.Run("ListProblemsSinceWeek", func(b *testing.B) {
		for b.Loop() {
			if _, err := st.ListProblems(ctx, store.ProblemFilter{OwnerID: owner, Since: time.Now().Add(-7 * 24 * time.Hour)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, tc := range []struct {
		name, conn string
		want       int
	}{{"FailedOnConnection", "crm", 50}, {"FailedOnConnectionNone", "erp", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				rs, err := st.ListRuns(ctx, store.RunFilter{OwnerID: owner, FailedOnConnection: tc.conn})
				if err != nil || len(rs) != tc.want {
					b.Fatalf("ListRuns(failed on %s): %d runs, %v; want %d", tc.conn, len(rs), err, tc.want)
				}
			}
		})
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
func BenchmarkProblemsHistories(b *testing.B, fill func(b *testing.B, failEvery int) (store.Store, int64)) {
	for _, failEvery := range []int{100, 20} {
		b.Run(fmt.Sprintf("failed=1in%d", failEvery), func(b *testing.B) {
			st, owner := fill(b, failEvery)
			BenchmarkProblems(b, st, owner)
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
