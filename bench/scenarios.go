package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/postgres"
	"github.com/sluice/sluice/internal/store/sqlite"
)

// Flow sources. JSON is YAML, so the server takes them as they are.
const (
	flowW1 = `{"name": "bench-w1", "trigger": {"type": "webhook"}, "actions": [
  {"id": "c", "type": "compose", "with": {"value": "{{ trigger.body.n }}"}},
  {"id": "r", "type": "respond", "with": {"status": 200, "body": {"n": "{{ steps.c.output }}"}}}]}`
	flowW1R = `{"name": "bench-w1r", "trigger": {"type": "webhook"}, "actions": [
  {"id": "r", "type": "respond", "with": {"status": 200, "body": {"n": "{{ trigger.body.n }}"}}}]}`
	flowW3 = `{"name": "bench-w3", "trigger": {"type": "manual"}, "actions": [
  {"id": "a", "type": "compose", "with": {"value": "{{ trigger.input.i }}"}},
  {"id": "b", "type": "compose", "with": {"value": "{{ steps.a.output + 1 }}"}},
  {"id": "c", "type": "compose", "with": {"value": "{{ steps.b.output * 2 }}"}}]}`
)

// wantN is the answer both W1 flows and the echo server give to {"n": N}.
func wantN(n int64) []byte { return []byte(`{"n":` + strconv.FormatInt(n, 10) + `}`) }

func runEcho(ctx context.Context, o options, bins binaries, dir string) (result, error) {
	var r result
	p, err := startProc(ctx, bins.echo, []string{"-addr", "ADDR"}, o.serverEnv, dir+"-echo.log")
	if err != nil {
		return r, err
	}
	defer p.kill()
	lr := load(ctx, o, []string{p.base + "/echo"}, []int{p.cmd.Process.Pid}, wantN, "echo")
	lr.fill(&r, o.conns)
	r.VmHWMMiB, r.VmRSSMiB = memory(p.cmd.Process.Pid)
	return r, nil
}

// startWebhook starts the nodes on a fresh data folder or schema, logs in
// on the first and applies the webhook flow src. The caller kills c and
// calls drop when done.
func startWebhook(ctx context.Context, o options, bins binaries, dir, src string) (c *cluster, a *api, f flowView, drop func(), err error) {
	db, drop, err := freshDatabase(ctx, o)
	if err != nil {
		return nil, nil, f, nil, err
	}
	c, err = startCluster(ctx, o, bins.sluice, dir, db, "server.log")
	if err != nil {
		drop()
		return nil, nil, f, nil, err
	}
	a = newAPI(c.nodes[0].base)
	if err = a.login(ctx); err == nil {
		f, err = a.applyFlow(ctx, src)
	}
	if err == nil && f.WebhookURL == nil {
		err = fmt.Errorf("flow %s has no webhook_url", f.Name)
	}
	if err != nil {
		c.kill()
		drop()
		return nil, nil, f, nil, err
	}
	return c, a, f, drop, nil
}

func runW1(ctx context.Context, o options, bins binaries, dir string, respondOnly bool) (result, error) {
	var r result
	src := flowW1
	if respondOnly {
		src = flowW1R
	}
	c, a, f, drop, err := startWebhook(ctx, o, bins, dir, src)
	if err != nil {
		return r, err
	}
	defer drop()
	defer c.kill()
	name := "w1"
	if respondOnly {
		name = "w1r"
	}
	lr := load(ctx, o, c.urls(*f.WebhookURL), c.pids(), wantN, name)
	lr.fill(&r, o.conns)

	return r, checkPersisted(ctx, a, c, f.Name, &r)
}

// checkPersisted checks that every 200 answer of a W1 flow is a run
// recorded as succeeded, reads the server's memory and stops it. The
// respond action answers before the run's final commit, so it waits for
// the last runs to finish first.
func checkPersisted(ctx context.Context, a *api, c *cluster, flow string, r *result) error {
	if err := a.waitIdle(ctx, flow, 50*time.Millisecond, 60*time.Second); err != nil {
		return err
	}
	runs, err := a.allRuns(ctx, "flow="+flow+"&status=succeeded")
	if err != nil {
		return err
	}
	r.Succeeded = len(runs)
	ok := r.Succeeded == r.OK200
	r.Persisted = &ok
	r.VmHWMMiB, r.VmRSSMiB = c.memory()
	return c.stop()
}

func runW3(ctx context.Context, o options, bins binaries, dir string) (result, error) {
	var r result
	db, drop, err := freshDatabase(ctx, o)
	if err != nil {
		return r, err
	}
	defer drop()
	c, err := startCluster(ctx, o, bins.sluice, dir, db, "server-setup.log")
	if err != nil {
		return r, err
	}
	a := newAPI(c.nodes[0].base)
	if err := a.login(ctx); err != nil {
		c.kill()
		return r, err
	}
	f, err := a.applyFlow(ctx, flowW3)
	if err != nil {
		c.kill()
		return r, err
	}
	if err := c.stop(); err != nil {
		return r, err
	}

	// Enqueue with the store package itself, the servers stopped.
	t0 := time.Now()
	if err := enqueue(ctx, filepath.Join(dir, "data", "sluice.db"), db, f, o.runs, o.enqueuers); err != nil {
		return r, err
	}
	r.Runs = o.runs
	r.EnqueueS = time.Since(t0).Seconds()
	r.EnqueuePerSec = float64(o.runs) / r.EnqueueS
	logf("w3: %d queued runs inserted in %.2fs", o.runs, r.EnqueueS)

	c, err = startCluster(ctx, o, bins.sluice, dir, db, "server.log")
	if err != nil {
		return r, err
	}
	defer c.kill()
	waitPerf := perfRecord(o.perfOut, "w3", c.pids()[0], 10*time.Second)
	a = newAPI(c.nodes[0].base)
	if err := a.login(ctx); err != nil {
		return r, err
	}
	if err := a.waitIdle(ctx, f.Name, o.pollEvery, 10*time.Minute); err != nil {
		return r, err
	}
	idle := time.Now()
	started, ready := c.span()
	r.ServerCPU = float64(sumTicks(c.pids())) / clkTck / idle.Sub(started).Seconds()
	waitPerf()

	runs, err := a.allRuns(ctx, "flow="+f.Name+"&status=succeeded")
	if err != nil {
		return r, err
	}
	r.Succeeded = len(runs)
	ok := r.Succeeded == o.runs
	r.Persisted = &ok
	var last time.Time
	for _, run := range runs {
		if run.FinishedAt != nil && run.FinishedAt.After(last) {
			last = *run.FinishedAt
		}
	}
	if last.IsZero() {
		last = idle
	}
	r.StartupS = ready.Sub(started).Seconds()
	r.DrainTotalS = last.Sub(started).Seconds()
	r.DrainS = last.Sub(ready).Seconds()
	r.DrainPerSec = float64(r.Succeeded) / r.DrainS
	r.DrainTotalPerSec = float64(r.Succeeded) / r.DrainTotalS
	r.StepsPerSec = 3 * r.DrainPerSec
	r.VmHWMMiB, r.VmRSSMiB = c.memory()
	if err := c.stop(); err != nil {
		return r, err
	}
	return r, nil
}

// enqueue inserts n queued runs of the flow from several goroutines, so
// that the store's group commit batches them as it would under load: into
// the SQLite file at path, or into the PostgreSQL schema db when it is set.
func enqueue(ctx context.Context, path, db string, f flowView, n, workers int) error {
	var st store.Store
	var err error
	if db != "" {
		st, err = postgres.Open(ctx, db, slog.New(slog.DiscardHandler))
	} else {
		st, err = sqlite.Open(ctx, path, slog.New(slog.DiscardHandler))
	}
	if err != nil {
		return err
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range max(1, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				input, _ := json.Marshal(map[string]any{"input": map[string]any{"i": i}})
				if _, err := st.CreateRun(ctx, store.NewRun{FlowID: f.ID, FlowVersion: f.Version, TriggerType: "manual", Input: input}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	cerr := st.Close()
	if err := <-errs; err != nil {
		return err
	}
	return cerr
}

// flowForeach is one foreach over the list trigger.input.items, each item
// a compose step. The items are one-digit strings: the list an expression
// yields is capped at 1 MiB (by estimate), which 100,000 numbers exceed.
const flowForeach = `{"name": "bench-foreach", "trigger": {"type": "manual"}, "actions": [
  {"id": "loop", "type": "foreach", "foreach": "{{ trigger.input.items }}", "actions": [
    {"id": "c", "type": "compose", "with": {"value": "{{ item }}"}}]}]}`

// runForeach runs W1 load and, after the warm-up, one run of a foreach of
// -items items; the measured window lasts until that run has finished, so
// the W1 latencies are those of webhooks served while it was recorded.
func runForeach(ctx context.Context, o options, bins binaries, dir string) (result, error) {
	var r result
	c, a, w1, drop, err := startWebhook(ctx, o, bins, dir, flowW1)
	if err != nil {
		return r, err
	}
	defer drop()
	defer c.kill()
	fe, err := a.applyFlow(ctx, flowForeach)
	if err != nil {
		return r, err
	}
	items := make([]string, o.items)
	for i := range items {
		items[i] = strconv.Itoa(i % 10)
	}
	// W1 alone first, on the same server, for comparison.
	base := load(ctx, o, c.urls(*w1.WebhookURL), c.pids(), wantN, "w1-alone")
	var b result
	base.fill(&b, o.conns)
	r.BaseRunsPerSec, r.BaseP99ms = b.RunsPerSec, b.P99ms

	var run runView
	var runErr error
	measure := func() {
		if runErr = a.call(ctx, "POST", "/api/v1/flows/"+fe.Name+"/trigger", map[string]any{"input": map[string]any{"items": items}}, &run); runErr != nil {
			return
		}
		// Poll for the run among the finished ones: an empty answer until
		// then, rather than the run and its 100,000-item input each time.
		deadline := time.Now().Add(30 * time.Minute)
		for ctx.Err() == nil {
			for _, st := range []string{store.RunSucceeded, store.RunFailed} {
				page, _, err := a.listRuns(ctx, "flow="+fe.Name+"&status="+st+"&limit=1")
				if err != nil {
					runErr = err
					return
				}
				if len(page) == 1 && page[0].ID == run.ID {
					run = page[0]
					return
				}
			}
			if time.Now().After(deadline) {
				runErr = fmt.Errorf("foreach run %d did not finish within 30 minutes", run.ID)
				return
			}
			sleep(ctx, 20*time.Millisecond)
		}
	}
	lr := loadDuring(ctx, o, c.urls(*w1.WebhookURL), c.pids(), wantN, "foreach", measure)
	if runErr != nil {
		return r, runErr
	}
	lr.fill(&r, o.conns)
	r.Errors, r.OK200 = r.Errors+b.Errors, r.OK200+b.OK200
	r.Items = o.items
	if run.Status != store.RunSucceeded {
		return r, fmt.Errorf("foreach run %d ended %s: %s", run.ID, run.Status, run.Error)
	}
	// From the trigger to the finished status seen by the API (polled
	// every 20 ms): finished_at is stamped before the run's last write
	// commits, so it would hide a long final write.
	r.ForeachS = r.DurationS
	return r, checkPersisted(ctx, a, c, w1.Name, &r)
}
