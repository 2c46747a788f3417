// Command bench measures Sluice end to end: it builds the real binary,
// starts `sluice serve` as a child process on a fresh data folder, drives it
// over HTTP and reads the server's CPU time and memory from /proc.
//
//	go run ./bench -scenario w1|w1r|w3|foreach|echo|all [-duration 10s] [-conns 20] [-runs 10000] [-items 100000] [-repeat 3] [-json]
//	go run ./bench -scenario w1,w3 -db postgres://... -nodes 3   # PostgreSQL, the load spread over 3 nodes
//	go run ./bench -scenario sidebyside [-scratch DIR]   # W1 on Go echo, Node-RED, n8n and Sluice (sidebyside.go)
//
// Scenarios:
//
//	echo  a bare net/http JSON echo server (bench/echo), same generator: the
//	      ceiling of this machine for one HTTP round trip per request.
//	w1    webhook -> compose -> respond; every run and step persisted.
//	w1r   webhook -> respond only: W1 without the compose step's commit.
//	w3    -runs queued runs of a 3-step manual flow, drained after a restart.
//	foreach  W1 load while one run of a foreach of -items compose steps is
//	      recorded: W1's latency during it, and the foreach's duration.
//
// See docs/benchmarks.md for the method and the figures.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"
)

type options struct {
	scenario  string
	duration  time.Duration
	warmup    time.Duration
	conns     int
	runs      int
	repeat    int
	jsonOut   bool
	keep      bool
	serverEnv []string
	perfOut   string
	enqueuers int
	pollEvery time.Duration
	items     int
	db        string
	nodes     int
}

func main() {
	var o options
	var env, render string
	flag.StringVar(&o.scenario, "scenario", "all", "w1, w1r, w3, foreach, echo, or all (a comma-separated list works too); sidebyside alone")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured load time of w1, w1r and echo")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "load time before the measurement starts (not recorded)")
	flag.IntVar(&o.conns, "conns", 20, "concurrent connections of the closed-loop generator")
	flag.IntVar(&o.runs, "runs", 10000, "queued runs drained by w3")
	flag.IntVar(&o.items, "items", 100000, "foreach: items of the foreach run")
	flag.IntVar(&o.repeat, "repeat", 1, "repeat each scenario this many times (fresh server each time) and report the median")
	flag.BoolVar(&o.jsonOut, "json", false, "print results as JSON instead of a table")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary folder (binaries, data folders, server logs)")
	flag.StringVar(&env, "server-env", "", "extra environment of the server process, comma-separated KEY=VALUE (e.g. GOMAXPROCS=1,GOGC=400)")
	flag.StringVar(&o.perfOut, "perf", "", "record a `perf record -g` CPU profile of the server over the measured window into this file prefix (needs perf)")
	flag.IntVar(&o.enqueuers, "enqueuers", 64, "w3: goroutines inserting the queued runs")
	flag.DurationVar(&o.pollEvery, "poll", 20*time.Millisecond, "w3: interval between polls of the API while draining")
	flag.StringVar(&render, "render", "", "print the table of a file written by -json, and run nothing")
	flag.StringVar(&o.db, "db", "", "run the Sluice scenarios on this PostgreSQL database (a postgres:// URL; each run gets a fresh schema, dropped afterwards) instead of SQLite")
	flag.IntVar(&o.nodes, "nodes", 1, "with -db: how many nodes share the schema (the load is spread over them; CPU is their sum, memory the largest node's)")
	flag.Parse()
	if render != "" {
		if err := renderFile(render); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if env != "" {
		o.serverEnv = strings.Split(env, ",")
	}
	if o.repeat < 1 {
		o.repeat = 1
	}
	if o.nodes < 1 || (o.nodes > 1 && o.db == "") {
		fmt.Fprintln(os.Stderr, "bench: -nodes takes a count of at least 1, and more than one node needs -db (PostgreSQL)")
		os.Exit(2)
	}
	var scenarios []string
	for _, s := range strings.Split(o.scenario, ",") {
		switch s = strings.TrimSpace(s); s {
		case "all":
			scenarios = append(scenarios, "echo", "w1", "w1r", "w3")
		case "echo", "w1", "w1r", "w3", "foreach", "sidebyside":
			scenarios = append(scenarios, s)
		default:
			fmt.Fprintf(os.Stderr, "bench: unknown scenario %q (want w1, w1r, w3, foreach, echo, all or sidebyside)\n", s)
			os.Exit(2)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	runScenarios := run
	if slices.Contains(scenarios, "sidebyside") {
		if len(scenarios) > 1 {
			fmt.Fprintln(os.Stderr, "bench: sidebyside runs alone (it measures echo and w1 itself)")
			os.Exit(2)
		}
		runScenarios = func(ctx context.Context, o options, _ []string) error { return runSideBySide(ctx, o) }
	}
	if err := runScenarios(ctx, o, scenarios); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// result is one scenario's measurement; fields that do not apply are zero
// and left out of the JSON.
type result struct {
	Scenario string `json:"scenario"`
	Repeat   int    `json:"repeat"` // 0 for the median line

	// Load scenarios (echo, w1, w1r).
	Conns       int            `json:"conns,omitempty"`
	DurationS   float64        `json:"duration_s,omitempty"`
	Requests    int            `json:"requests,omitempty"` // answered in the measured window
	RunsPerSec  float64        `json:"runs_per_s,omitempty"`
	P50ms       float64        `json:"p50_ms,omitempty"`
	P90ms       float64        `json:"p90_ms,omitempty"`
	P99ms       float64        `json:"p99_ms,omitempty"`
	Maxms       float64        `json:"max_ms,omitempty"`
	Errors      int            `json:"errors"`               // non-200 answers and transport errors, whole test
	BadBodies   int            `json:"bad_bodies,omitempty"` // 200 answers with an unexpected body
	OK200       int            `json:"ok_200,omitempty"`     // 200 answers, warm-up included
	Statuses    map[string]int `json:"statuses,omitempty"`   // answers by HTTP status, warm-up included ("0": transport error)
	Succeeded   int            `json:"succeeded_runs,omitempty"`
	Persisted   *bool          `json:"all_persisted,omitempty"`
	ServerCPU   float64        `json:"server_cpu_cores"`          // (utime+stime)/wall over the measured window
	BenchCPU    float64        `json:"bench_cpu_cores,omitempty"` // the generator's own share
	MachineBusy float64        `json:"machine_busy_cores,omitempty"`
	// CPUmsPerRun is server CPU time per run (or request), in ms: less
	// sensitive than runs/s to other work on the machine.
	CPUmsPerRun float64 `json:"server_cpu_ms_per_run,omitempty"`

	// w3.
	Runs             int     `json:"runs,omitempty"`
	EnqueueS         float64 `json:"enqueue_s,omitempty"`
	EnqueuePerSec    float64 `json:"enqueue_runs_per_s,omitempty"`
	StartupS         float64 `json:"startup_s,omitempty"`     // process start to /healthz
	DrainTotalS      float64 `json:"drain_total_s,omitempty"` // process start to last run finished
	DrainS           float64 `json:"drain_s,omitempty"`       // /healthz to last run finished
	DrainPerSec      float64 `json:"drain_runs_per_s,omitempty"`
	DrainTotalPerSec float64 `json:"drain_runs_per_s_with_startup,omitempty"`
	StepsPerSec      float64 `json:"steps_per_s,omitempty"`

	// foreach: the items of the foreach run and its duration (started_at
	// to finished_at); the load figures above are W1's during it.
	Items    int     `json:"items,omitempty"`
	ForeachS float64 `json:"foreach_s,omitempty"`
	// BaseRunsPerSec and BaseP99ms are W1's on the same server, alone,
	// just before the foreach run.
	BaseRunsPerSec float64 `json:"w1_alone_runs_per_s,omitempty"`
	BaseP99ms      float64 `json:"w1_alone_p99_ms,omitempty"`

	VmHWMMiB float64 `json:"vm_hwm_mib"`
	VmRSSMiB float64 `json:"vm_rss_mib"`
}

func run(ctx context.Context, o options, scenarios []string) error {
	tmp, cleanup, err := tempDir("", "sluice-bench-", o.keep)
	if err != nil {
		return err
	}
	defer cleanup()
	bins, err := build(ctx, tmp, scenarios)
	if err != nil {
		return err
	}
	// Repetitions are interleaved (w1, w1r, w1, w1r, ...) so that noise
	// from other work on the machine spreads over every scenario alike.
	var all []result
	reps := map[string][]result{}
	for i := 1; i <= o.repeat; i++ {
		for _, sc := range scenarios {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			dir := filepath.Join(tmp, fmt.Sprintf("%s-%d", sc, i))
			logf("%s: run %d of %d", sc, i, o.repeat)
			var r result
			switch sc {
			case "echo":
				r, err = runEcho(ctx, o, bins, dir)
			case "w1", "w1r":
				r, err = runW1(ctx, o, bins, dir, sc == "w1r")
			case "w3":
				r, err = runW3(ctx, o, bins, dir)
			case "foreach":
				r, err = runForeach(ctx, o, bins, dir)
			}
			if err != nil {
				return fmt.Errorf("%s (run %d): %w", sc, i, err)
			}
			r.Scenario, r.Repeat = sc, i
			if rate := max(r.RunsPerSec, r.DrainPerSec); rate > 0 && r.ServerCPU > 0 {
				r.CPUmsPerRun = r.ServerCPU * 1000 / rate
			}
			reps[sc] = append(reps[sc], r)
		}
	}
	var medians []result
	for _, sc := range scenarios {
		if _, done := reps[sc]; !done {
			continue
		}
		all = append(all, reps[sc]...)
		medians = append(medians, median(reps[sc]))
		delete(reps, sc)
	}
	if o.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"machine": machine(), "options": optionView(o), "runs": all, "median": medians})
	}
	printTables(os.Stdout, o, all, medians)
	return nil
}

func optionView(o options) map[string]any {
	storeName := "sqlite"
	if o.db != "" {
		storeName = "postgres"
	}
	return map[string]any{"duration_s": o.duration.Seconds(), "warmup_s": o.warmup.Seconds(), "conns": o.conns, "runs": o.runs, "items": o.items, "repeat": o.repeat, "server_env": o.serverEnv, "store": storeName, "nodes": o.nodes}
}

// median takes, field by field, the median of the repetitions (the lower
// middle for an even count), so each figure is one that was measured.
func median(rs []result) result {
	if len(rs) == 1 {
		m := rs[0]
		m.Repeat = 0
		return m
	}
	m := rs[0]
	m.Repeat = 0
	med := func(get func(*result) float64) float64 {
		v := make([]float64, len(rs))
		for i := range rs {
			v[i] = get(&rs[i])
		}
		sort.Float64s(v)
		return v[(len(v)-1)/2]
	}
	medI := func(get func(*result) int) int {
		return int(med(func(r *result) float64 { return float64(get(r)) }))
	}
	m.DurationS = med(func(r *result) float64 { return r.DurationS })
	m.Requests = medI(func(r *result) int { return r.Requests })
	m.RunsPerSec = med(func(r *result) float64 { return r.RunsPerSec })
	m.P50ms = med(func(r *result) float64 { return r.P50ms })
	m.P90ms = med(func(r *result) float64 { return r.P90ms })
	m.P99ms = med(func(r *result) float64 { return r.P99ms })
	m.Maxms = med(func(r *result) float64 { return r.Maxms })
	m.ServerCPU = med(func(r *result) float64 { return r.ServerCPU })
	m.BenchCPU = med(func(r *result) float64 { return r.BenchCPU })
	m.MachineBusy = med(func(r *result) float64 { return r.MachineBusy })
	m.CPUmsPerRun = med(func(r *result) float64 { return r.CPUmsPerRun })
	m.EnqueueS = med(func(r *result) float64 { return r.EnqueueS })
	m.EnqueuePerSec = med(func(r *result) float64 { return r.EnqueuePerSec })
	m.StartupS = med(func(r *result) float64 { return r.StartupS })
	m.DrainTotalS = med(func(r *result) float64 { return r.DrainTotalS })
	m.DrainS = med(func(r *result) float64 { return r.DrainS })
	m.DrainPerSec = med(func(r *result) float64 { return r.DrainPerSec })
	m.DrainTotalPerSec = med(func(r *result) float64 { return r.DrainTotalPerSec })
	m.StepsPerSec = med(func(r *result) float64 { return r.StepsPerSec })
	m.ForeachS = med(func(r *result) float64 { return r.ForeachS })
	m.BaseRunsPerSec = med(func(r *result) float64 { return r.BaseRunsPerSec })
	m.BaseP99ms = med(func(r *result) float64 { return r.BaseP99ms })
	m.VmHWMMiB = med(func(r *result) float64 { return r.VmHWMMiB })
	m.VmRSSMiB = med(func(r *result) float64 { return r.VmRSSMiB })
	// Counts that must hold in every repetition are summed, not averaged.
	m.Errors, m.BadBodies, m.OK200, m.Succeeded = 0, 0, 0, 0
	allOK := true
	anyCheck := false
	m.Statuses = nil
	for _, r := range rs {
		for k, v := range r.Statuses {
			if m.Statuses == nil {
				m.Statuses = map[string]int{}
			}
			m.Statuses[k] += v
		}
		m.Errors += r.Errors
		m.BadBodies += r.BadBodies
		m.OK200 += r.OK200
		m.Succeeded += r.Succeeded
		if r.Persisted != nil {
			anyCheck = true
			allOK = allOK && *r.Persisted
		}
	}
	if anyCheck {
		m.Persisted = &allOK
	}
	return m
}

// tempDir makes a temporary folder under parent (the system's when
// empty); cleanup removes it, unless keep says to keep it for a look.
func tempDir(parent, pattern string, keep bool) (dir string, cleanup func(), err error) {
	dir, err = os.MkdirTemp(parent, pattern)
	if err != nil {
		return "", nil, err
	}
	if keep {
		logf("keeping %s", dir)
		return dir, func() {}, nil
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// renderFile prints the tables of a -json output file.
func renderFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var in struct {
		Options struct {
			DurationS float64  `json:"duration_s"`
			WarmupS   float64  `json:"warmup_s"`
			Conns     int      `json:"conns"`
			Runs      int      `json:"runs"`
			Repeat    int      `json:"repeat"`
			ServerEnv []string `json:"server_env"`
			Store     string   `json:"store"`
			Nodes     int      `json:"nodes"`
		} `json:"options"`
		Runs   []result `json:"runs"`
		Median []result `json:"median"`
	}
	if err := json.Unmarshal(data, &in); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	o := options{
		duration: time.Duration(in.Options.DurationS * float64(time.Second)), warmup: time.Duration(in.Options.WarmupS * float64(time.Second)),
		conns: in.Options.Conns, runs: in.Options.Runs, repeat: in.Options.Repeat, serverEnv: in.Options.ServerEnv,
		nodes: in.Options.Nodes,
	}
	if in.Options.Store == "postgres" {
		o.db = "postgres"
	}
	printTables(os.Stdout, o, in.Runs, in.Median)
	return nil
}
