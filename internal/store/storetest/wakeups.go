package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// wakeTimeout is how long a test waits for a wake-up before it fails: a
// bound on a signal that must come, not a measure of speed (see the
// engine's wake-up benchmark for that).
const wakeTimeout = 10 * time.Second

// listening subscribes to the store's wake-ups and waits for the first
// one, which says the subscription listens.
func listening(t *testing.T, st store.Store) <-chan struct{} {
	t.Helper()
	ch := st.Wakeups(t.Context())
	requireWake(t, ch, "the first wake-up (listening)")
	return ch
}

// requireWake fails unless ch delivers a wake-up within wakeTimeout.
func requireWake(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(wakeTimeout):
		t.Fatalf("no wake-up within %v after %s", wakeTimeout, what)
	}
}

// wakeupTests check that every write making a run due wakes the pollers.
var wakeupTests = []test{
	{"QueuedRun", func(t *testing.T, open opener) {
		b := setup(t, open)
		ch := listening(t, b.st)
		createRun(t, b.st, b.flow.ID, time.Time{})
		requireWake(t, ch, "CreateRun of a queued run")
	}},
	{"ScheduleFired", func(t *testing.T, open opener) {
		b := setup(t, open)
		at := time.Now().UTC().Add(-time.Second).Truncate(time.Microsecond)
		f := createFlow(t, b.st, b.user.ID, "", &at)
		ch := listening(t, b.st)
		fired, _, err := b.st.FireSchedule(b.ctx, f.ID, at, at.Add(time.Hour), store.NewRun{FlowID: f.ID, FlowVersion: 1, TriggerType: "schedule", Input: json.RawMessage(`{}`)})
		requireNoError(t, err, "FireSchedule")
		if !fired {
			t.Fatal("FireSchedule did not fire")
		}
		requireWake(t, ch, "FireSchedule")
	}},
	{"Resubmitted", func(t *testing.T, open opener) {
		b := setup(t, open)
		orig := createRun(t, b.st, b.flow.ID, time.Time{})
		ch := listening(t, b.st)
		_, _, err := b.st.ResubmitRun(b.ctx, store.NewRun{FlowID: b.flow.ID, FlowVersion: 1, TriggerType: "resubmit", Input: json.RawMessage(`{}`), ResubmittedFrom: &orig.ID})
		requireNoError(t, err, "ResubmitRun")
		requireWake(t, ch, "ResubmitRun of a queued run")
	}},
	{"Rescued", func(t *testing.T, open opener) {
		b := setup(t, open)
		createLeasedRun(t, b.st, b.flow.ID, "gone", time.Now().Add(-time.Minute))
		ch := listening(t, b.st)
		n, err := b.st.RescueRuns(b.ctx, time.Now(), false)
		requireNoError(t, err, "RescueRuns")
		if n != 1 {
			t.Fatalf("RescueRuns: re-queued %d runs, want 1", n)
		}
		requireWake(t, ch, "RescueRuns")
	}},
	{"Parked", func(t *testing.T, open opener) {
		b := setup(t, open)
		r := createLeasedRun(t, b.st, b.flow.ID, "w", time.Now().Add(time.Minute))
		ch := listening(t, b.st)
		requireNoError(t, b.st.ParkRun(b.ctx, "w", r.ID, time.Now().Add(time.Second), nil), "ParkRun")
		requireWake(t, ch, "ParkRun")
	}},
	{"EndsWithContext", func(t *testing.T, open opener) {
		b := setup(t, open)
		ctx, cancel := context.WithCancel(b.ctx)
		ch := b.st.Wakeups(ctx)
		requireWake(t, ch, "the first wake-up (listening)")
		cancel()
		// A later write must not block on the ended subscription, and the
		// store must keep working.
		createRun(t, b.st, b.flow.ID, time.Time{})
		requireNoError(t, b.st.Close(), "Close after an ended subscription")
	}},
}
