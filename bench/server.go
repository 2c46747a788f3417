package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const adminEmail = "admin@localhost"
const adminPassword = "bench-password-not-secret-0123456789"

// binaries are the programs the scenarios start.
type binaries struct {
	sluice string
	echo   string
}

// build compiles the real server (and the echo server when needed) with
// the toolchain running this program.
func build(ctx context.Context, tmp string, scenarios []string) (binaries, error) {
	b := binaries{sluice: filepath.Join(tmp, "sluice"), echo: filepath.Join(tmp, "echo")}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	root, err := moduleRoot()
	if err != nil {
		return b, err
	}
	needEcho := false
	for _, s := range scenarios {
		needEcho = needEcho || s == "echo"
	}
	targets := [][2]string{{b.sluice, "./cmd/sluice"}}
	if needEcho {
		targets = append(targets, [2]string{b.echo, "./bench/echo"})
	}
	for _, t := range targets {
		logf("go build -o %s %s", t[0], t[1])
		cmd := exec.CommandContext(ctx, goBin, "build", "-o", t[0], t[1])
		cmd.Dir = root
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return b, fmt.Errorf("go build %s: %w", t[1], err)
		}
	}
	return b, nil
}

// moduleRoot finds the folder of go.mod from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(data, []byte("module github.com/sluice/sluice")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run bench from inside the sluice module (go run ./bench)")
		}
		dir = parent
	}
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// proc is a child server process.
type proc struct {
	cmd     *exec.Cmd
	addr    string
	base    string
	started time.Time // just before exec
	ready   time.Time // first 200 from /healthz
	exited  chan error
	logPath string
}

// startProc starts a server binary with args (ADDR in args is replaced by
// the chosen address) and waits until /healthz answers 200.
func startProc(ctx context.Context, bin string, args []string, env []string, logPath string) (*proc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	full := make([]string, len(args))
	for i, a := range args {
		full[i] = strings.ReplaceAll(a, "ADDR", addr)
	}
	p, err := launch(bin, full, env, addr, logPath)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-p.exited:
			p.exited <- err
			return nil, fmt.Errorf("%s exited before it was ready: %v (log: %s)", filepath.Base(bin), err, tail(logPath))
		default:
		}
		resp, err := client.Get(p.base + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				p.ready = time.Now()
				return p, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.kill()
			return nil, fmt.Errorf("%s not ready after 60s (log: %s)", filepath.Base(bin), tail(logPath))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// launch starts bin with args and env added to this process's, its
// output to logPath, and returns it without waiting for it to be ready;
// addr is the address it was told to listen on.
func launch(bin string, args, env []string, addr, logPath string) (*proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	p := &proc{cmd: cmd, addr: addr, base: "http://" + addr, exited: make(chan error, 1), logPath: logPath}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() {
		p.exited <- cmd.Wait()
		logf.Close()
	}()
	return p, nil
}

// stop sends SIGTERM and waits for the process to exit.
func (p *proc) stop() error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case err := <-p.exited:
		p.exited <- err
		if err != nil {
			return fmt.Errorf("server exited with %v (log: %s)", err, tail(p.logPath))
		}
		return nil
	case <-time.After(30 * time.Second):
		p.kill()
		return errors.New("server did not stop within 30s of SIGTERM; killed")
	}
}

// kill ends the process at once (only ever this child, by its pid).
func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.exited
	p.exited <- nil
}

func tail(path string) string {
	data, _ := os.ReadFile(path)
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return strings.TrimSpace(string(data))
}

// startSluice starts `sluice serve` on a fresh (or existing) data folder,
// with extra arguments (--db).
func startSluice(ctx context.Context, o options, bin, dataDir string, extra []string, logName string) (*proc, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	env := append([]string{"SLUICE_ADMIN_PASSWORD=" + adminPassword, "SLUICE_SECRET_KEY=" + benchSecretKey}, o.serverEnv...)
	args := append([]string{"serve", "--data", dataDir, "--addr", "ADDR"}, extra...)
	return startProc(ctx, bin, args, env, filepath.Join(filepath.Dir(dataDir), logName))
}

// sumTicks returns utime+stime of processes (the nodes of a cluster) in
// clock ticks.
func sumTicks(pids []int) int64 {
	var sum int64
	for _, pid := range pids {
		t, _ := cpuTicks(pid)
		sum += t
	}
	return sum
}

// cpuTicks returns utime+stime of a process in clock ticks.
func cpuTicks(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces: fields start after the last ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	return u + st, nil
}

// clkTck is USER_HZ, 100 on every Linux architecture Go supports.
const clkTck = 100

// machineTicks returns busy and total jiffies of all CPUs from /proc/stat.
func machineTicks() (busy, total int64) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, 0
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, 0
	}
	for i, v := range fields[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i >= 8 { // guest and guest_nice are already in user and nice
			break
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}

// cpuWindow measures CPU use of the server, this program and the machine
// between begin and end.
type cpuWindow struct {
	pids               []int
	t0                 time.Time
	srv0, self0        int64
	busy0, total0      int64
	Server, Self, Busy float64
}

func beginCPU(pids []int) *cpuWindow {
	w := &cpuWindow{pids: pids, t0: time.Now()}
	w.srv0 = sumTicks(pids)
	w.self0, _ = cpuTicks(os.Getpid())
	w.busy0, w.total0 = machineTicks()
	return w
}

func (w *cpuWindow) end() {
	wall := time.Since(w.t0).Seconds()
	srv := sumTicks(w.pids)
	self, _ := cpuTicks(os.Getpid())
	busy, total := machineTicks()
	w.Server = float64(srv-w.srv0) / clkTck / wall
	w.Self = float64(self-w.self0) / clkTck / wall
	if total > w.total0 {
		w.Busy = float64(busy-w.busy0) / float64(total-w.total0) * float64(runtime.NumCPU())
	}
}

// memory returns VmHWM and VmRSS of a process in MiB.
func memory(pid int) (hwm, rss float64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) < 1 {
			continue
		}
		n, _ := strconv.ParseFloat(f[0], 64) // kB
		switch k {
		case "VmHWM":
			hwm = n / 1024
		case "VmRSS":
			rss = n / 1024
		}
	}
	return hwm, rss
}

// api is a client of the server's REST API.
type api struct {
	base   string
	token  string
	client *http.Client
}

func newAPI(base string) *api {
	return &api{base: base, client: &http.Client{Timeout: 30 * time.Second}}
}

// call sends a JSON request and decodes a JSON answer into out; it fails
// unless the status is 2xx.
func (a *api) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

func (a *api) login(ctx context.Context) error {
	var out struct {
		Token string `json:"token"`
	}
	if err := a.call(ctx, "POST", "/api/v1/login", map[string]string{"email": adminEmail, "password": adminPassword, "token_name": "bench"}, &out); err != nil {
		return err
	}
	if out.Token == "" {
		return errors.New("login answered no token")
	}
	a.token = out.Token
	return nil
}

// flowView is the part of the API's flow we use.
type flowView struct {
	ID         int64   `json:"id"`
	Name       string  `json:"name"`
	Version    int     `json:"version"`
	WebhookURL *string `json:"webhook_url"`
}

func (a *api) applyFlow(ctx context.Context, source string) (flowView, error) {
	var f flowView
	err := a.call(ctx, "POST", "/api/v1/flows", map[string]string{"source": source}, &f)
	return f, err
}

// runView is the part of the API's run we use.
type runView struct {
	ID         int64      `json:"id"`
	Status     string     `json:"status"`
	Error      string     `json:"error"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
}

// listRuns returns one page of runs.
func (a *api) listRuns(ctx context.Context, query string) ([]runView, *int64, error) {
	var out struct {
		Runs       []runView `json:"runs"`
		NextBefore *int64    `json:"next_before"`
	}
	err := a.call(ctx, "GET", "/api/v1/runs?"+query, nil, &out)
	return out.Runs, out.NextBefore, err
}

// allRuns pages through every run the query matches (newest first).
func (a *api) allRuns(ctx context.Context, query string) ([]runView, error) {
	var all []runView
	before := ""
	for {
		page, next, err := a.listRuns(ctx, query+"&limit=1000"+before)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if next == nil {
			return all, nil
		}
		before = "&before=" + strconv.FormatInt(*next, 10)
	}
}

// anyRun reports whether at least one run has the status.
func (a *api) anyRun(ctx context.Context, flow, status string) (bool, error) {
	page, _, err := a.listRuns(ctx, "flow="+flow+"&status="+status+"&limit=1")
	return len(page) > 0, err
}

// waitIdle waits until the flow has no queued, running or waiting run.
func (a *api) waitIdle(ctx context.Context, flow string, every time.Duration, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		busy := false
		for _, st := range []string{"queued", "running", "waiting"} {
			b, err := a.anyRun(ctx, flow, st)
			if err != nil {
				return err
			}
			if b {
				busy = true
				break
			}
		}
		if !busy {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("flow %s still has unfinished runs after %s", flow, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

// perfRecord starts `perf record` on a pid for d; wait() waits for it.
func perfRecord(prefix, name string, pid int, d time.Duration) (wait func()) {
	if prefix == "" {
		return func() {}
	}
	out := fmt.Sprintf("%s-%s.data", prefix, name)
	cmd := exec.Command("perf", "record", "-F", "499", "-g", "-p", strconv.Itoa(pid), "-o", out, "--", "sleep", fmt.Sprintf("%.3f", d.Seconds()))
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		logf("perf record: %v", err)
		return func() {}
	}
	logf("perf record -> %s", out)
	return func() { cmd.Wait() }
}

// machine describes where the figures were measured.
func machine() map[string]any {
	model := ""
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return map[string]any{"cpus": runtime.NumCPU(), "cpu_model": model, "go": runtime.Version(), "os": runtime.GOOS + "/" + runtime.GOARCH}
}
