package engine_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/store"
)

// countingStore is the real store with its queue queries counted.
type countingStore struct {
	store.Store
	nextDue, claims atomic.Int64
}

func (c *countingStore) NextDueAt(ctx context.Context) (time.Time, error) {
	c.nextDue.Add(1)
	return c.Store.NextDueAt(ctx)
}

func (c *countingStore) ClaimRuns(ctx context.Context, owner string, now, leaseUntil time.Time, limit int) ([]store.Run, error) {
	c.claims.Add(1)
	return c.Store.ClaimRuns(ctx, owner, now, leaseUntil, limit)
}

func (c *countingStore) queries() int64 { return c.nextDue.Load() + c.claims.Load() }

// TestPollerWaitsWhileWorkersBusy starts more runs than there are workers
// and holds the one worker busy: the poller must not ask the store for due
// runs while no worker is free (it spun on NextDueAt before), and must
// still start every queued run once the worker is free again.
func TestPollerWaitsWhileWorkersBusy(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{}, 8)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	var cs *countingStore
	b := setup(t, func(c *engine.Config) {
		cs = &countingStore{Store: c.Store}
		c.Store, c.Workers = cs, 1
	})
	f := b.apply(t, `name: busy
trigger: { type: manual }
actions:
  - id: call
    type: http
    with: { url: "`+srv.URL+`/hold" }
`)
	const runs = 4
	var ids []int64
	for range runs {
		ids = append(ids, b.trigger(t, f, nil).ID)
	}
	<-entered // the one worker is busy; the other runs are queued
	before := cs.queries()
	// Watch the poller for a while with every worker busy: before the
	// fix it asked NextDueAt tens of thousands of times a second here.
	time.Sleep(300 * time.Millisecond)
	busy := cs.queries() - before
	if busy > 2 {
		t.Errorf("the poller asked the store %d times in 300ms with every worker busy (NextDueAt %d, ClaimRuns %d in all), want at most 2", busy, cs.nextDue.Load(), cs.claims.Load())
	}
	close(release)
	for _, id := range ids {
		if r, _ := b.wait(t, id); r.Status != store.RunSucceeded {
			t.Fatalf("run %d: %s %q", id, r.Status, r.Error)
		}
	}
	// Each finishing run wakes the poller once for the next one; allow a
	// few fallback passes besides.
	if total := cs.queries(); total > 4*runs+10 {
		t.Errorf("the poller asked the store %d times for %d runs on one worker, want at most %d", total, runs, 4*runs+10)
	}
}

// TestPollerIdleWhileRunsStartAtOnce works runs that start at once on
// free workers (as webhooks do) with nothing queued: a worker coming free
// must not send the poller to the store each time, since its last pass
// found no due run (before, every run's end cost a ClaimRuns write and a
// NextDueAt read: 3% of W1's CPU, and one more write per run in the
// group commit).
func TestPollerIdleWhileRunsStartAtOnce(t *testing.T) {
	t.Parallel()
	var cs *countingStore
	b := setup(t, func(c *engine.Config) {
		cs = &countingStore{Store: c.Store}
		c.Store = cs
	})
	f := b.apply(t, `name: at-once
trigger: { type: manual }
actions:
  - id: c
    type: compose
    with: { value: 1 }
`)
	// Let the poller's first pass (an empty queue) happen.
	time.Sleep(50 * time.Millisecond)
	before := cs.queries()
	const runs = 200
	var ids []int64
	for range runs {
		ids = append(ids, b.trigger(t, f, nil).ID)
	}
	for _, id := range ids {
		if r, _ := b.wait(t, id); r.Status != store.RunSucceeded {
			t.Fatalf("run %d: %s %q", id, r.Status, r.Error)
		}
	}
	// The fallback timer (a pass a second) may fire meanwhile.
	if n := cs.queries() - before; n > 6 {
		t.Errorf("the poller asked the store %d times while %d runs started at once with nothing queued, want at most 6", n, runs)
	}
}
