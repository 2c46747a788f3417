package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

func printTables(w io.Writer, o options, all, medians []result) {
	m := machine()
	fmt.Fprintf(w, "machine: %v CPUs, %v, %v %v\n", m["cpus"], m["cpu_model"], m["go"], m["os"])
	fmt.Fprintf(w, "load: %d connections, %s warm-up, %s measured; w3: %d runs; foreach: %d items", o.conns, o.warmup, o.duration, o.runs, o.items)
	if len(o.serverEnv) > 0 {
		fmt.Fprintf(w, "; server env: %s", strings.Join(o.serverEnv, " "))
	}
	if o.db != "" {
		fmt.Fprintf(w, "; store: PostgreSQL, %d node(s) on one schema (CPU summed over the nodes, memory of the largest)", o.nodes)
	} else {
		fmt.Fprint(w, "; store: SQLite, one node")
	}
	fmt.Fprintln(w)
	label := func(r result) string {
		if r.Repeat == 0 {
			if o.repeat > 1 {
				return r.Scenario + " median"
			}
			return r.Scenario
		}
		return fmt.Sprintf("%s #%d", r.Scenario, r.Repeat)
	}
	rows := func(pick func(result) bool) []result {
		var out []result
		if o.repeat > 1 {
			for _, r := range all {
				if pick(r) {
					out = append(out, r)
				}
			}
		}
		for _, r := range medians {
			if pick(r) {
				out = append(out, r)
			}
		}
		return out
	}
	isLoad := func(r result) bool { return r.Scenario != "w3" && r.Scenario != "foreach" }
	if lr := rows(isLoad); len(lr) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "scenario\truns/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\terrors\t200s\tsucceeded runs\tall persisted\tserver CPU\tCPU ms/run\tbench CPU\tmachine busy\tVmHWM MiB\tVmRSS MiB\t")
		for _, r := range lr {
			persisted, succ := "n/a", "n/a"
			if r.Persisted != nil {
				persisted = fmt.Sprint(*r.Persisted)
				succ = fmt.Sprint(r.Succeeded)
			}
			errs := fmt.Sprint(r.Errors)
			for code, n := range r.Statuses {
				if code != "200" {
					errs += fmt.Sprintf(" (%d×%s)", n, code)
				}
			}
			if r.BadBodies > 0 {
				errs += fmt.Sprintf(" (+%d bad body)", r.BadBodies)
			}
			fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.2f\t%.2f\t%.1f\t%s\t%d\t%s\t%s\t%.2f\t%.3f\t%.2f\t%.2f\t%.1f\t%.1f\t\n",
				label(r), r.RunsPerSec, r.P50ms, r.P90ms, r.P99ms, r.Maxms, errs, r.OK200, succ, persisted,
				r.ServerCPU, r.CPUmsPerRun, r.BenchCPU, r.MachineBusy, r.VmHWMMiB, r.VmRSSMiB)
		}
		tw.Flush()
		fmt.Fprintln(w, "(CPU figures are in cores: 1.00 = one core busy for the whole window; the machine has", m["cpus"], "cores)")
		if o.repeat > 1 {
			fmt.Fprintln(w, "(median lines: each figure is the median of its column; errors, 200s and succeeded runs are totals)")
		}
	}
	if wr := rows(func(r result) bool { return r.Scenario == "w3" }); len(wr) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "scenario\truns\tenqueue s\tenqueue runs/s\tstart-up s\tdrain s\tdrain+start s\truns/s\truns/s with start\tsteps/s\tsucceeded\tall done\tserver CPU\tCPU ms/run\tVmHWM MiB\tVmRSS MiB\t")
		for _, r := range wr {
			fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.0f\t%.3f\t%.2f\t%.2f\t%.0f\t%.0f\t%.0f\t%d\t%v\t%.2f\t%.3f\t%.1f\t%.1f\t\n",
				label(r), r.Runs, r.EnqueueS, r.EnqueuePerSec, r.StartupS, r.DrainS, r.DrainTotalS, r.DrainPerSec, r.DrainTotalPerSec,
				r.StepsPerSec, r.Succeeded, r.Persisted != nil && *r.Persisted, r.ServerCPU, r.CPUmsPerRun, r.VmHWMMiB, r.VmRSSMiB)
		}
		tw.Flush()
		fmt.Fprintln(w, "(drain = /healthz answering to the last run's finished_at; with start = from the exec of the process)")
	}
	if fr := rows(func(r result) bool { return r.Scenario == "foreach" }); len(fr) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "scenario\titems\tforeach s\tsteps/s\tW1 runs/s\tW1 p50 ms\tW1 p90 ms\tW1 p99 ms\tW1 max ms\tW1 alone runs/s\tW1 alone p99 ms\terrors\tall persisted\tserver CPU\tmachine busy\tVmHWM MiB\t")
		for _, r := range fr {
			steps := 0.0
			if r.ForeachS > 0 {
				steps = float64(r.Items) / r.ForeachS
			}
			fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.0f\t%.0f\t%.2f\t%.2f\t%.2f\t%.1f\t%.0f\t%.2f\t%d\t%v\t%.2f\t%.2f\t%.1f\t\n",
				label(r), r.Items, r.ForeachS, steps, r.RunsPerSec, r.P50ms, r.P90ms, r.P99ms, r.Maxms, r.BaseRunsPerSec, r.BaseP99ms, r.Errors,
				r.Persisted != nil && *r.Persisted, r.ServerCPU, r.MachineBusy, r.VmHWMMiB)
		}
		tw.Flush()
		fmt.Fprintln(w, "(foreach s: from the trigger to the API showing the run finished; W1 figures are those of webhooks sent in that window; W1 alone: the same server just before, for -duration)")
	}
}
