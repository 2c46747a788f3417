// Package storetest is the conformance suite every store.Store driver must
// pass. A driver's tests call Run with a function that opens a fresh, empty
// store; the suite then checks every method of the interface against the
// contract written in package store, so that the engine and the API can
// rely on one behaviour whichever database is behind them.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// timeTolerance is how far a time read back may be from the time written:
// drivers may keep microseconds (PostgreSQL) rather than nanoseconds.
const timeTolerance = time.Millisecond

// Run runs the conformance suite. open must return a fresh, empty store
// for each call and arrange for it to be closed when t ends; the suite may
// close a store itself, so that cleanup must tolerate a second Close.
// Subtests run in parallel, each with its own store.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	groups := []struct {
		name  string
		tests []test
	}{
		{"Close", []test{{"ReturnsNil", testClose}}},
		{"Users", userTests},
		{"Tokens", tokenTests},
		{"Accounts", accountTests},
		{"Sessions", sessionTests},
		{"ResubmittedFrom", resubmittedFromTests},
		{"Flows", flowTests},
		{"Schedules", scheduleTests},
		{"Runs", runTests},
		{"NewRuns", newRunTests},
		{"Queue", queueTests},
		{"Wakeups", wakeupTests},
		{"Steps", stepTests},
		{"Attempts", attemptTests},
		{"StepChunks", chunkTests},
		{"Resubmit", resubmitTests},
		{"Inputs", inputTests},
		{"Connections", connectionTests},
		{"OAuth", oauthTests},
		{"Jobs", jobTests},
		{"Events", eventTests},
		{"Notifications", notificationTests},
		{"Outbox", outboxTests},
		{"Alerts", alertTests},
		{"Digests", digestTests},
		{"Problems", problemTests},
		{"History", historyTests},
		{"Settings", settingsTests},
		{"Transfer", transferTests},
		{"Help", helpTests},
		{"Support", supportTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.fn(t, open)
				})
			}
		})
	}
}

// opener opens a fresh, empty store for a test.
type opener = func(t *testing.T) store.Store

// test is one named conformance check.
type test struct {
	name string
	fn   func(t *testing.T, open opener)
}

// testClose checks that a store closes without error.
func testClose(t *testing.T, open opener) {
	st := open(t)
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// bundle is what most tests start from: a store holding one maker and one
// enabled manual flow of theirs.
type bundle struct {
	ctx  context.Context
	st   store.Store
	user store.User
	flow store.Flow
}

// setup opens a store and adds a user and a flow.
func setup(t *testing.T, open opener) *bundle {
	t.Helper()
	b := &bundle{ctx: t.Context(), st: open(t)}
	b.user = createUser(t, b.st, "")
	b.flow = createFlow(t, b.st, b.user.ID, "", nil)
	return b
}

// randomName returns a short unique string, for emails, flow names and
// webhook tokens.
func randomName(prefix string) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b[:])
}

// createUser adds a maker with the email, or a random one.
func createUser(t *testing.T, st store.Store, email string) store.User {
	t.Helper()
	if email == "" {
		email = randomName("user-") + "@example.com"
	}
	u, err := st.CreateUser(t.Context(), store.User{Email: email, Name: "Ada", PasswordHash: "hash", Role: store.RoleMaker})
	if err != nil {
		t.Fatalf("CreateUser(%q): %v", email, err)
	}
	return u
}

// createFlow adds a flow owned by ownerID with the name (or a random one),
// scheduled at fireAt when it is not nil.
func createFlow(t *testing.T, st store.Store, ownerID int64, name string, fireAt *time.Time) store.Flow {
	t.Helper()
	if name == "" {
		name = randomName("flow-")
	}
	trigger := "manual"
	if fireAt != nil {
		trigger = "schedule"
	}
	f, err := st.CreateFlow(t.Context(), store.NewFlow{
		Name:         name,
		OwnerID:      ownerID,
		TriggerType:  trigger,
		WebhookToken: randomName("wh-"),
		Definition:   json.RawMessage(`{"name":"` + name + `","trigger":{"type":"` + trigger + `"}}`),
		Source:       "name: " + name + "\n",
		NextFireAt:   fireAt,
	})
	if err != nil {
		t.Fatalf("CreateFlow(%q): %v", name, err)
	}
	return f
}

// createRun adds a queued run of the flow due at next (now when zero).
func createRun(t *testing.T, st store.Store, flowID int64, next time.Time) store.Run {
	t.Helper()
	r, err := st.CreateRun(t.Context(), store.NewRun{
		FlowID:        flowID,
		FlowVersion:   1,
		TriggerType:   "manual",
		Input:         json.RawMessage(`{"input":{"n":1}}`),
		NextAttemptAt: next,
	})
	if err != nil {
		t.Fatalf("CreateRun: %v", err)
	}
	return r
}

// createLeasedRun adds a run already running and leased to owner until.
func createLeasedRun(t *testing.T, st store.Store, flowID int64, owner string, until time.Time) store.Run {
	t.Helper()
	r, err := st.CreateRun(t.Context(), store.NewRun{
		FlowID:      flowID,
		FlowVersion: 1,
		TriggerType: "webhook",
		Input:       json.RawMessage(`{"body":"x"}`),
		LeaseOwner:  owner,
		LeaseUntil:  until,
	})
	if err != nil {
		t.Fatalf("CreateRun (leased): %v", err)
	}
	return r
}

// getRun reads a run back.
func getRun(t *testing.T, st store.Store, id int64) store.Run {
	t.Helper()
	r, err := st.GetRun(t.Context(), id)
	if err != nil {
		t.Fatalf("GetRun(%d): %v", id, err)
	}
	return r
}

// requireErrorIs fails unless err wraps target.
func requireErrorIs(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want one wrapping %v", what, err, target)
	}
}

// requireNoError fails on err.
func requireNoError(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// requireTime fails unless got is want within timeTolerance.
func requireTime(t *testing.T, got, want time.Time, what string) {
	t.Helper()
	if d := got.Sub(want).Abs(); d > timeTolerance {
		t.Fatalf("%s: got %s, want %s (off by %s)", what, got.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano), d)
	}
}

// requireTimePtr is requireTime for an optional time that must be set.
func requireTimePtr(t *testing.T, got *time.Time, want time.Time, what string) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: got nil, want %s", what, want.Format(time.RFC3339Nano))
	}
	requireTime(t, *got, want, what)
}

// requireBetween fails unless got lies in [lo, hi], widened by
// timeTolerance, for times the store takes from its own clock.
func requireBetween(t *testing.T, got, lo, hi time.Time, what string) {
	t.Helper()
	if got.Before(lo.Add(-timeTolerance)) || got.After(hi.Add(timeTolerance)) {
		t.Fatalf("%s: got %s, want between %s and %s", what, got.Format(time.RFC3339Nano), lo.Format(time.RFC3339Nano), hi.Format(time.RFC3339Nano))
	}
}

// requireJSON fails unless got and want hold the same JSON value; a
// driver may keep JSON as text or as a parsed type.
func requireJSON(t *testing.T, got []byte, want string, what string) {
	t.Helper()
	if want == "" {
		if len(got) != 0 && !bytes.Equal(got, []byte("null")) {
			t.Fatalf("%s: got %s, want nothing", what, got)
		}
		return
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: got invalid JSON %q: %v", what, got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		panic(fmt.Sprintf("bad want JSON %q: %v", want, err))
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		t.Fatalf("%s: got %s, want %s", what, got, want)
	}
}

// waitPast returns once the clock is clearly after at, so that a record
// created next has a later timestamp even on a microsecond-precision
// driver. It waits on the clock, not on another goroutine.
func waitPast(at time.Time) {
	for time.Since(at) <= 2*timeTolerance {
		time.Sleep(timeTolerance / 4)
	}
}

// ids returns the runs' ids in order.
func ids(runs []store.Run) []int64 {
	out := make([]int64, len(runs))
	for i, r := range runs {
		out[i] = r.ID
	}
	return out
}

// requireIDs fails unless runs have exactly the ids, in order.
func requireIDs(t *testing.T, runs []store.Run, want []int64, what string) {
	t.Helper()
	got := ids(runs)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: got run ids %v, want %v", what, got, want)
	}
}

// createRuns adds n queued runs of the flow, due at next, from a few
// goroutines at once so that large fixtures do not pay one commit each in
// turn.
func createRuns(t *testing.T, st store.Store, flowID int64, n int, next time.Time) {
	t.Helper()
	const workers = 16
	work := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range work {
				_, err := st.CreateRun(t.Context(), store.NewRun{FlowID: flowID, FlowVersion: 1, TriggerType: "manual", NextAttemptAt: next})
				if err != nil {
					errs <- fmt.Errorf("CreateRun: %w", err)
					return
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// requireIDSet fails unless runs have exactly the ids, in any order.
func requireIDSet(t *testing.T, runs []store.Run, want []int64, what string) {
	t.Helper()
	got := slices.Sorted(slices.Values(ids(runs)))
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got run ids %v, want %v (any order)", what, got, want)
	}
}
