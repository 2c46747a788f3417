package engine_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/postgres"
	"github.com/sluice/sluice/internal/store/postgres/pgtest"
)

// pollOnly is a store whose wake-ups say only that they listen: the
// engine then finds runs queued elsewhere by its fallback timer alone, as
// it did before LISTEN/NOTIFY.
type pollOnly struct{ store.Store }

func (pollOnly) Wakeups(context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	ch <- struct{}{}
	return ch
}

// crossNode is two nodes on one fresh PostgreSQL schema: node a only
// queues runs (it has no engine), node b works them. Every run of flow
// calls hits, so started receives once per run that node b started.
type crossNode struct {
	a       *postgres.Store
	flow    store.Flow
	started chan struct{}
}

// setupCrossNode opens both nodes; withWakeups says whether node b's
// engine listens for wake-ups or only polls.
func setupCrossNode(t testing.TB, withWakeups bool) *crossNode {
	t.Helper()
	dsn := pgtest.FreshSchema(t)
	open := func() *postgres.Store {
		st, err := postgres.Open(context.Background(), dsn, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("open postgres: %v", err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	c := &crossNode{a: open(), started: make(chan struct{}, 1024)}
	hits := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.started <- struct{}{}
		w.Write([]byte(`{}`))
	}))
	t.Cleanup(hits.Close)
	u, err := c.a.CreateUser(context.Background(), store.User{Email: "maker@example.com", PasswordHash: "x", Role: store.RoleMaker})
	if err != nil {
		t.Fatal(err)
	}
	c.flow = applyTo(t, c.a, u.ID, `name: elsewhere
trigger: { type: manual }
actions:
  - id: hit
    type: http
    with: { url: "`+hits.URL+`" }
`)
	var b store.Store = open()
	if !withWakeups {
		b = pollOnly{b}
	}
	_, cancel, done := runEngine(t, testConfig(t, b))
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return c
}

// queue commits a queued run on node a, as a webhook on a node with no
// free worker does, and returns its id.
func (c *crossNode) queue(t testing.TB) int64 {
	t.Helper()
	r, err := c.a.CreateRun(context.Background(), store.NewRun{FlowID: c.flow.ID, FlowVersion: c.flow.Version, TriggerType: "manual", Input: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatalf("queue a run on node a: %v", err)
	}
	return r.ID
}

// waitFinished waits for a run to finish, so that node b is idle again.
func (c *crossNode) waitFinished(t testing.TB, id int64) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Millisecond) {
		r, err := c.a.GetRun(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if store.RunFinished(r.Status) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %d did not finish: %s", id, r.Status)
		}
	}
}

// waitStarted waits for node b to start a run.
func (c *crossNode) waitStarted(t testing.TB) {
	t.Helper()
	select {
	case <-c.started:
	case <-time.After(20 * time.Second):
		t.Fatal("node b did not start the run queued on node a")
	}
}

// TestRunQueuedOnAnotherNodeStarts checks that a run another node queued
// is started here, through the store's wake-ups.
func TestRunQueuedOnAnotherNodeStarts(t *testing.T) {
	t.Parallel()
	c := setupCrossNode(t, true)
	for range 3 {
		c.queue(t)
		c.waitStarted(t)
	}
}

// BenchmarkCrossNodeStart measures the time from committing a queued run
// on node a to node b's first action, with node b listening for wake-ups
// (LISTEN/NOTIFY) and with node b only polling (the 1 s fallback). One
// operation is one run, queued once the previous one finished (node b
// idle; the wait is not timed), so ns/op is the latency of a run queued
// elsewhere (with the action's HTTP call), and max-ms its worst case. Run
// it with -benchtime=20x: the polling case takes about half a second an
// op.
func BenchmarkCrossNodeStart(b *testing.B) {
	for _, bc := range []struct {
		name    string
		wakeups bool
	}{{"listen", true}, {"poll", false}} {
		b.Run(bc.name, func(b *testing.B) {
			c := setupCrossNode(b, bc.wakeups)
			// One run first, so that connections and plans are warm.
			c.waitFinished(b, c.queue(b))
			c.waitStarted(b)
			var worst time.Duration
			b.ResetTimer()
			for b.Loop() {
				t0 := time.Now()
				id := c.queue(b)
				c.waitStarted(b)
				worst = max(worst, time.Since(t0))
				b.StopTimer()
				c.waitFinished(b, id)
				b.StartTimer()
			}
			b.ReportMetric(float64(worst.Microseconds())/1000, "max-ms")
		})
	}
}
