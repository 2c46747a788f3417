package main

// The sidebyside scenario: W1 on a bare Go echo, Node-RED, n8n and Sluice
// in one run, on the same machine with the same load generator, so that
// the ratios between them hold even though the machine is shared.
//
//	go run ./bench -scenario sidebyside [-scratch DIR] [-duration 10s] [-conns 20] [-json]
//
// Node-RED and n8n are installed with npm at pinned versions into the
// scratch folder (outside the repository; a second run reuses them), each
// started as its own process on a fresh data folder and a free port, with
// the W1 flow written (Node-RED: flows.json) or imported (n8n: its CLI)
// before it starts.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

var scratchFlag = flag.String("scratch", "", "sidebyside: folder for the npm installs of Node-RED and n8n and their data folders (default $TMPDIR/sluice-sidebyside; never inside the repository)")

// npmPackage is a package installed from the npm registry at a pinned
// version.
type npmPackage struct {
	Name    string
	Version string
	// Overrides pins dependencies of the package (npm "overrides").
	Overrides map[string]string
}

var (
	// nodeREDPackage is the newest Node-RED whose engines accept Node 20
	// (5.x wants Node 22.9 or later).
	nodeREDPackage = npmPackage{Name: "node-red", Version: "4.1.8"}
	// n8nPackage is the newest n8n whose engines accept Node 20 (2.10 and
	// later want Node 22.16 or later). Its xlsx dependency is a tarball
	// URL on cdn.sheetjs.com, outside the npm registry; it is replaced by
	// the registry's last xlsx (used by the spreadsheet nodes only, which
	// W1 does not use).
	n8nPackage = npmPackage{Name: "n8n", Version: "2.8.4", Overrides: map[string]string{"xlsx": "0.18.5"}}
)

// sideRow is one system's line of the side-by-side table.
type sideRow struct {
	System     string  `json:"system"`
	Version    string  `json:"version"`
	RunsPerSec float64 `json:"runs_per_s"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	Errors     int     `json:"errors"`     // non-200 answers and transport errors
	BadBodies  int     `json:"bad_bodies"` // 200 answers that were not {"n":N}
	// CPUmsPerRun is the server's CPU time (its process tree) per run.
	CPUmsPerRun float64 `json:"server_cpu_ms_per_run"`
	// PeakRSSMiB is the sum of VmHWM over the server's process tree.
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	Persists   string  `json:"persists"`
	Failed     string  `json:"failed,omitempty"`
}

// fromResult copies the load figures of r into the row.
func (s *sideRow) fromResult(r result) {
	s.RunsPerSec, s.P50ms, s.P99ms = r.RunsPerSec, r.P50ms, r.P99ms
	s.Errors, s.BadBodies = r.Errors, r.BadBodies
	if r.RunsPerSec > 0 {
		s.CPUmsPerRun = r.ServerCPU * 1000 / r.RunsPerSec
	}
	s.PeakRSSMiB = r.VmHWMMiB
}

// runSideBySide measures the four systems one after the other and prints
// the table (or JSON). A system that fails is reported in its row and
// makes the command fail after the table is printed.
func runSideBySide(ctx context.Context, o options) error {
	scratch, err := scratchDir(*scratchFlag)
	if err != nil {
		return err
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("sidebyside needs %s on PATH (Node.js 20 or later): %w", tool, err)
		}
	}
	nodeV, _ := exec.CommandContext(ctx, "node", "--version").Output()
	redDir, err := npmInstall(ctx, scratch, nodeREDPackage)
	if err != nil {
		return err
	}
	n8nDir, err := npmInstall(ctx, scratch, n8nPackage)
	if err != nil {
		return err
	}
	tmp, cleanup, err := tempDir(scratch, "run-", o.keep)
	if err != nil {
		return err
	}
	defer cleanup()
	bins, err := build(ctx, tmp, []string{"echo", "w1"})
	if err != nil {
		return err
	}
	node := strings.TrimSpace(string(nodeV))
	commit := "commit " + gitHead()
	systems := []struct {
		row sideRow
		run func() (sideRow, error)
	}{
		{sideRow{System: "Go echo (bench/echo)", Version: runtime.Version(), Persists: "nothing"}, func() (sideRow, error) {
			r, err := runEcho(ctx, o, bins, filepath.Join(tmp, "echo"))
			var s sideRow
			s.fromResult(r)
			return s, err
		}},
		{sideRow{System: "Node-RED", Version: nodeREDPackage.Version + ", Node " + node}, func() (sideRow, error) {
			return runNodeRED(ctx, o, redDir, filepath.Join(tmp, "node-red"))
		}},
		{sideRow{System: "n8n", Version: n8nPackage.Version + ", Node " + node}, func() (sideRow, error) {
			return runN8n(ctx, o, n8nDir, filepath.Join(tmp, "n8n"))
		}},
		{sideRow{System: "Sluice (SQLite)", Version: commit}, func() (sideRow, error) {
			r, err := runW1(ctx, o, bins, filepath.Join(tmp, "sluice-w1"), false)
			s := sideRow{Persists: "every run and step, synchronous=FULL"}
			s.fromResult(r)
			if err == nil && r.Persisted != nil {
				s.Persists += fmt.Sprintf(" (checked: %d succeeded runs for %d answers)", r.Succeeded, r.OK200)
				if !*r.Persisted {
					err = fmt.Errorf("%d succeeded runs for %d 200 answers", r.Succeeded, r.OK200)
				}
			}
			return s, err
		}},
	}
	var rows []sideRow
	var failed []error
	for _, sys := range systems {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		logf("sidebyside: %s", sys.row.System)
		got, err := sys.run()
		got.System, got.Version = sys.row.System, sys.row.Version
		if got.Persists == "" {
			got.Persists = sys.row.Persists
		}
		if err != nil {
			got.Failed = err.Error()
			failed = append(failed, fmt.Errorf("%s: %w", got.System, err))
			logf("sidebyside: %s failed: %v", got.System, err)
		}
		rows = append(rows, got)
	}
	if o.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"machine": machine(), "options": optionView(o), "sidebyside": rows}); err != nil {
			return err
		}
	} else {
		m := machine()
		fmt.Printf("machine: %v CPUs, %v, %v %v\n", m["cpus"], m["cpu_model"], m["go"], m["os"])
		fmt.Printf("W1 side by side: %d connections, %s warm-up, %s measured, one system at a time\n\n", o.conns, o.warmup, o.duration)
		renderSideBySide(os.Stdout, rows)
	}
	return errors.Join(failed...)
}

// renderSideBySide prints the rows as a Markdown table.
func renderSideBySide(w io.Writer, rows []sideRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	fmt.Fprintln(tw, "| system\t| version\t| runs/s\t| p50 ms\t| p99 ms\t| errors\t| wrong answers\t| server CPU ms/run\t| peak RSS MiB\t| persists\t|")
	fmt.Fprintln(tw, "|---\t|---\t|--:\t|--:\t|--:\t|--:\t|--:\t|--:\t|--:\t|---\t|")
	for _, r := range rows {
		if r.Failed != "" && r.RunsPerSec == 0 {
			fmt.Fprintf(tw, "| %s\t| %s\t| failed: %s\t| \t| \t| \t| \t| \t| \t| %s\t|\n", r.System, r.Version, oneLine(r.Failed), r.Persists)
			continue
		}
		persists := r.Persists
		if r.Failed != "" {
			persists += " (FAILED: " + oneLine(r.Failed) + ")"
		}
		fmt.Fprintf(tw, "| %s\t| %s\t| %s\t| %.2f\t| %.2f\t| %d\t| %d\t| %.3f\t| %.1f\t| %s\t|\n",
			r.System, r.Version, thousands(r.RunsPerSec), r.P50ms, r.P99ms, r.Errors, r.BadBodies, r.CPUmsPerRun, r.PeakRSSMiB, persists)
	}
	tw.Flush()
}

// oneLine keeps the first line of a message, at most 120 bytes, without
// the table's separator.
func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return strings.ReplaceAll(s, "|", "/")
}

// thousands formats a rate rounded to a whole number, with commas; a rate
// under 100 keeps one decimal.
func thousands(f float64) string {
	if f < 100 {
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	s := strconv.FormatInt(int64(f+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// gitHead returns the short commit of the working tree, or "unknown".
func gitHead() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// scratchDir returns the scratch folder (created), refusing one inside
// the module so that nothing npm installs can be committed.
func scratchDir(flagValue string) (string, error) {
	dir := flagValue
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "sluice-sidebyside")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if root, err := moduleRoot(); err == nil {
		if rel, err := filepath.Rel(root, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return "", fmt.Errorf("-scratch %s is inside the repository (%s): choose a folder outside it, so that nothing installed from npm is committed", dir, root)
		}
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", fmt.Errorf("create scratch folder: %w", err)
	}
	return abs, nil
}

// npmInstall installs pkg into scratch/NAME-VERSION unless that folder
// already holds it, and returns the folder.
func npmInstall(ctx context.Context, scratch string, pkg npmPackage) (string, error) {
	dir := filepath.Join(scratch, pkg.Name+"-"+pkg.Version)
	if v, err := installedVersion(dir, pkg.Name); err == nil && v == pkg.Version {
		logf("%s %s already installed in %s", pkg.Name, pkg.Version, dir)
		return dir, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	manifest, err := packageJSON(pkg)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "package.json"), manifest, 0o644); err != nil {
		return "", err
	}
	logf("npm install %s@%s into %s (a few minutes for n8n)", pkg.Name, pkg.Version, dir)
	logPath := filepath.Join(dir, "install.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return "", err
	}
	defer logFile.Close()
	cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("npm install %s@%s in %s: %w (log: %s)", pkg.Name, pkg.Version, dir, err, tail(logPath))
	}
	if v, err := installedVersion(dir, pkg.Name); err != nil || v != pkg.Version {
		return "", fmt.Errorf("npm install %s@%s in %s: installed version %q (%v)", pkg.Name, pkg.Version, dir, v, err)
	}
	return dir, nil
}

// packageJSON is the manifest of an install folder: the package at its
// exact version, and its overrides.
func packageJSON(pkg npmPackage) ([]byte, error) {
	m := map[string]any{
		"private":      true,
		"description":  "scratch install for go run ./bench -scenario sidebyside",
		"dependencies": map[string]string{pkg.Name: pkg.Version},
	}
	if len(pkg.Overrides) > 0 {
		m["overrides"] = pkg.Overrides
	}
	return json.MarshalIndent(m, "", "  ")
}

// installedVersion reads the version of dir/node_modules/name.
func installedVersion(dir, name string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "node_modules", name, "package.json"))
	if err != nil {
		return "", err
	}
	var p struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return "", fmt.Errorf("%s/node_modules/%s/package.json: %w", dir, name, err)
	}
	return p.Version, nil
}

// nodeREDFlows is the W1 flow for Node-RED as a flows.json: an "http in"
// node on POST /w1 (it parses the JSON body), a function node that keeps
// n (Sluice's compose step), and an "http response" node (its respond
// step), which sends the object as JSON.
func nodeREDFlows() ([]byte, error) {
	flows := []map[string]any{
		{"id": "w1tab", "type": "tab", "label": "W1", "disabled": false, "info": ""},
		{"id": "w1in", "type": "http in", "z": "w1tab", "name": "webhook", "url": "/w1", "method": "post",
			"upload": false, "swaggerDoc": "", "x": 100, "y": 80, "wires": [][]string{{"w1fn"}}},
		{"id": "w1fn", "type": "function", "z": "w1tab", "name": "compose", "func": "msg.payload = { n: msg.payload.n };\nreturn msg;",
			"outputs": 1, "timeout": 0, "noerr": 0, "initialize": "", "finalize": "", "libs": []any{}, "x": 280, "y": 80,
			"wires": [][]string{{"w1out"}}},
		{"id": "w1out", "type": "http response", "z": "w1tab", "name": "respond", "statusCode": "200", "headers": map[string]string{},
			"x": 450, "y": 80, "wires": []any{}},
	}
	return json.MarshalIndent(flows, "", "  ")
}

// nodeREDSettings is the settings.js of a Node-RED data folder: the
// loopback port, warnings only, no editor, no telemetry.
func nodeREDSettings(port int) string {
	return fmt.Sprintf(`module.exports = {
    uiHost: "127.0.0.1",
    uiPort: %d,
    flowFile: "flows.json",
    credentialSecret: false,
    disableEditor: true,
    logging: { console: { level: "warn", metrics: false, audit: false } },
    diagnostics: { enabled: false, ui: false },
    telemetry: { enabled: false },
    externalModules: { autoInstall: false }
};
`, port)
}

// runNodeRED starts Node-RED on a fresh data folder with the W1 flow and
// measures W1 on it. Node-RED persists nothing per request.
func runNodeRED(ctx context.Context, o options, installDir, dataDir string) (sideRow, error) {
	row := sideRow{Persists: "nothing (the flow file only)"}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return row, err
	}
	addr, port, err := freePort()
	if err != nil {
		return row, err
	}
	flows, err := nodeREDFlows()
	if err != nil {
		return row, err
	}
	if err := os.WriteFile(filepath.Join(dataDir, "flows.json"), flows, 0o600); err != nil {
		return row, err
	}
	settings := filepath.Join(dataDir, "settings.js")
	if err := os.WriteFile(settings, []byte(nodeREDSettings(port)), 0o600); err != nil {
		return row, err
	}
	red := filepath.Join(installDir, "node_modules", "node-red", "red.js")
	url := "http://" + addr + "/w1"
	p, err := startNodeProc(ctx, []string{red, "--userDir", dataDir, "--settings", settings, "--port", strconv.Itoa(port)},
		[]string{"HOME=" + dataDir}, addr, url, dataDir+".log", 90*time.Second)
	if err != nil {
		return row, err
	}
	defer p.kill()
	r, err := measureTree(ctx, o, p, url, "node-red")
	row.fromResult(r)
	return row, err
}

// n8nWorkflow is the W1 flow for n8n: a Webhook node on POST /webhook/w1
// that lets a Respond to Webhook node answer, a Set node that keeps
// body.n as n (Sluice's compose step), and Respond to Webhook with the
// first incoming item ({"n": N}). runN8n publishes it (n8n 2's
// activation) after the import, so that n8n registers the webhook when it
// starts.
func n8nWorkflow() ([]byte, error) {
	wf := map[string]any{
		"id":     "sluiceBenchW1",
		"name":   "bench-w1",
		"active": true,
		"nodes": []map[string]any{
			{"id": "0b0c8a3e-0000-4000-8000-000000000001", "name": "Webhook", "type": "n8n-nodes-base.webhook", "typeVersion": 2,
				"position": []int{0, 0}, "webhookId": "0b0c8a3e-0000-4000-8000-0000000000a1",
				"parameters": map[string]any{"httpMethod": "POST", "path": "w1", "responseMode": "responseNode", "options": map[string]any{}}},
			{"id": "0b0c8a3e-0000-4000-8000-000000000002", "name": "Compose", "type": "n8n-nodes-base.set", "typeVersion": 3.4,
				"position": []int{220, 0},
				"parameters": map[string]any{
					"mode": "manual",
					"assignments": map[string]any{"assignments": []map[string]any{
						{"id": "0b0c8a3e-0000-4000-8000-0000000000b1", "name": "n", "value": "={{ $json.body.n }}", "type": "number"},
					}},
					"includeOtherFields": false,
					"options":            map[string]any{},
				}},
			{"id": "0b0c8a3e-0000-4000-8000-000000000003", "name": "Respond", "type": "n8n-nodes-base.respondToWebhook", "typeVersion": 1.1,
				"position":   []int{440, 0},
				"parameters": map[string]any{"respondWith": "firstIncomingItem", "options": map[string]any{"responseCode": 200}}},
		},
		"connections": map[string]any{
			"Webhook": map[string]any{"main": [][]map[string]any{{{"node": "Compose", "type": "main", "index": 0}}}},
			"Compose": map[string]any{"main": [][]map[string]any{{{"node": "Respond", "type": "main", "index": 0}}}},
		},
		"settings": map[string]any{"executionOrder": "v1", "saveDataSuccessExecution": "all", "saveDataErrorExecution": "all", "saveExecutionProgress": false},
	}
	return json.MarshalIndent(wf, "", "  ")
}

// n8nEnv is the environment of every n8n command: its own data folder,
// the loopback port, SQLite (n8n's default), every execution saved with
// its data, no pruning, no telemetry. brokerPort is the port of its task
// runner broker (a child process n8n 2 always starts), free too.
func n8nEnv(dataDir string, port, brokerPort int) []string {
	return []string{
		"N8N_RUNNERS_BROKER_PORT=" + strconv.Itoa(brokerPort),
		"HOME=" + dataDir,
		"N8N_USER_FOLDER=" + dataDir,
		"N8N_PORT=" + strconv.Itoa(port),
		"N8N_LISTEN_ADDRESS=127.0.0.1",
		"N8N_HOST=127.0.0.1",
		"DB_TYPE=sqlite",
		"EXECUTIONS_MODE=regular",
		"EXECUTIONS_DATA_SAVE_ON_SUCCESS=all",
		"EXECUTIONS_DATA_SAVE_ON_ERROR=all",
		"EXECUTIONS_DATA_SAVE_ON_PROGRESS=false",
		"EXECUTIONS_DATA_PRUNE=false",
		"N8N_LOG_LEVEL=warn",
		"N8N_DIAGNOSTICS_ENABLED=false",
		"N8N_VERSION_NOTIFICATIONS_ENABLED=false",
		"N8N_TEMPLATES_ENABLED=false",
		"N8N_PERSONALIZATION_ENABLED=false",
		"N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS=true",
	}
}

// runN8n imports the W1 workflow into a fresh n8n data folder with n8n's
// CLI, starts n8n and measures W1 on it; afterwards it counts the
// executions n8n saved.
func runN8n(ctx context.Context, o options, installDir, dataDir string) (sideRow, error) {
	row := sideRow{Persists: "every execution with its data (execution_entity + execution_data, SQLite, n8n's defaults), saved when it ends"}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return row, err
	}
	addr, port, err := freePort()
	if err != nil {
		return row, err
	}
	_, brokerPort, err := freePort()
	if err != nil {
		return row, err
	}
	wf, err := n8nWorkflow()
	if err != nil {
		return row, err
	}
	wfPath := filepath.Join(dataDir, "w1.json")
	if err := os.WriteFile(wfPath, wf, 0o600); err != nil {
		return row, err
	}
	bin := filepath.Join(installDir, "node_modules", "n8n", "bin", "n8n")
	env := n8nEnv(dataDir, port, brokerPort)
	for _, args := range [][]string{
		{"import:workflow", "--input=" + wfPath},
		{"publish:workflow", "--id=sluiceBenchW1"},
	} {
		logf("n8n %s", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, "node", append([]string{bin}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return row, fmt.Errorf("n8n %s: %w: %s", args[0], err, lastLines(string(out), 20))
		}
	}
	url := "http://" + addr + "/webhook/w1"
	p, err := startNodeProc(ctx, []string{bin, "start"}, env, addr, url, dataDir+".log", 240*time.Second)
	if err != nil {
		return row, err
	}
	defer p.kill()
	r, err := measureTree(ctx, o, p, url, "n8n")
	row.fromResult(r)
	if err != nil {
		return row, err
	}
	// The answer goes out before n8n saves the execution: wait until
	// the count stops growing.
	db := filepath.Join(dataDir, ".n8n", "database.sqlite")
	want := r.OK200 + p.probes
	saved, err := countStable(ctx, db, `SELECT COUNT(*) FROM execution_entity WHERE status = 'success'`, want, 60*time.Second)
	if err != nil {
		return row, err
	}
	withData, err := countStable(ctx, db, `SELECT COUNT(*) FROM execution_data`, saved, 10*time.Second)
	if err != nil {
		return row, err
	}
	row.Persists += fmt.Sprintf(" (checked: %d successful executions, %d with data, for %d answers)", saved, withData, want)
	if saved != want {
		return row, fmt.Errorf("n8n saved %d successful executions for %d 200 answers", saved, want)
	}
	return row, nil
}

// countStable runs a COUNT query on a SQLite file (read-only) until it
// reaches want or stops changing for a second, and returns the last count.
func countStable(ctx context.Context, path, query string, want int, timeout time.Duration) (int, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	deadline := time.Now().Add(timeout)
	last, same := -1, 0
	for {
		var n int
		if err := db.QueryRowContext(ctx, query).Scan(&n); err != nil {
			return 0, fmt.Errorf("%s: %s: %w", path, query, err)
		}
		if n == want || time.Now().After(deadline) {
			return n, nil
		}
		if n == last {
			if same++; same >= 10 {
				return n, nil
			}
		} else {
			last, same = n, 0
		}
		sleep(ctx, 100*time.Millisecond)
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
	}
}

// nodeProc is a Node.js server started by startNodeProc.
type nodeProc struct {
	*proc
	// probes are the correct answers of the readiness probe (each is a
	// run the system may have recorded).
	probes int
}

// startNodeProc starts `node args...` and waits until url answers the W1
// request {"n": 0} with {"n":0}: these systems have no common health
// route, and that answer is the one readiness that matters.
func startNodeProc(ctx context.Context, args, env []string, addr, url, logPath string, timeout time.Duration) (*nodeProc, error) {
	np, err := launch("node", args, env, addr, logPath)
	if err != nil {
		return nil, err
	}
	p := &nodeProc{proc: np}
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		select {
		case err := <-p.exited:
			p.exited <- err
			return nil, fmt.Errorf("%s exited before it was ready: %v (log: %s)", filepath.Base(args[0]), err, tail(logPath))
		default:
		}
		ok, what := probeW1(ctx, url)
		if ok {
			p.probes++
			p.ready = time.Now()
			logf("%s ready after %.1fs", url, p.ready.Sub(p.started).Seconds())
			return p, nil
		}
		last = what
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.kill()
			return nil, fmt.Errorf("%s did not answer W1 within %s (last: %s; log: %s)", url, timeout, last, tail(logPath))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// measureTree runs the W1 load on url and reads CPU and memory of the
// process tree of p (the server and any children it started).
func measureTree(ctx context.Context, o options, p *nodeProc, url, name string) (result, error) {
	var r result
	pids := processTree(p.cmd.Process.Pid)
	lr := load(ctx, o, []string{url}, pids, wantN, name)
	lr.fill(&r, o.conns)
	for _, pid := range processTree(p.cmd.Process.Pid) {
		h, s := memory(pid)
		r.VmHWMMiB += h
		r.VmRSSMiB += s
	}
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	if r.Requests == 0 {
		return r, fmt.Errorf("no answer in the measured window (statuses %v; log: %s)", r.Statuses, tail(p.logPath))
	}
	return r, nil
}

// probeW1 sends {"n": 0} to url and reports whether the answer is
// {"n":0}, or what came back instead.
func probeW1(ctx context.Context, url string) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := newJSONRequest(ctx, url, `{"n":0}`)
	if err != nil {
		return false, err.Error()
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode == 200 && strings.TrimSpace(string(body)) == string(wantN(0)) {
		return true, ""
	}
	return false, fmt.Sprintf("%d %s", resp.StatusCode, oneLine(string(body)))
}

// processTree returns pid and its descendants, from /proc.
func processTree(pid int) []int {
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name (field 2) is in parentheses and may hold
		// spaces: the fields after its closing one are fixed.
		s := string(data)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 {
			if pp, err := strconv.Atoi(f[1]); err == nil {
				parent[child] = pp
			}
		}
	}
	tree := []int{pid}
	for i := 0; i < len(tree); i++ {
		for c, pp := range parent {
			if pp == tree[i] {
				tree = append(tree, c)
			}
		}
	}
	return tree
}

// freePort returns a free loopback address and its port.
func freePort() (string, int, error) {
	addr, err := freeAddr()
	if err != nil {
		return "", 0, err
	}
	_, ps, _ := strings.Cut(addr, ":")
	port, err := strconv.Atoi(ps)
	return addr, port, err
}

// lastLines keeps the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// probeClient sends the readiness probes.
var probeClient = &http.Client{Timeout: 5 * time.Second}

// newJSONRequest is a POST of body to url as JSON.
func newJSONRequest(ctx context.Context, url, body string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}
