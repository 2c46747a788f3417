// Package e2e drives the real sluice binary as a user would: it builds it,
// starts `sluice serve` on a temporary data folder, and talks to it through
// the CLI and over HTTP.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the sluice binary built once for all tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sluice-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "sluice")
	build := exec.Command("go", "build", "-o", binary, "../cmd/sluice")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build sluice:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const adminPassword = "correct horse battery staple"

// server is a running `sluice serve` process.
type server struct {
	t      *testing.T
	data   string
	addr   string
	url    string
	config string
	cmd    *exec.Cmd
	logs   *bytes.Buffer
	exited chan struct{}
	// env is added to the server's environment.
	env []string
	// extraArgs are added to `sluice serve`.
	extraArgs []string
}

// freeAddr returns a free loopback address.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer starts sluice serve on a new data folder.
func startServer(t *testing.T) *server {
	t.Helper()
	s := &server{t: t, data: t.TempDir(), config: t.TempDir(), addr: freeAddr(t)}
	s.url = "http://" + s.addr
	s.start()
	t.Cleanup(s.kill)
	return s
}

// start starts (or restarts) the process on the server's data folder.
func (s *server) start() {
	s.t.Helper()
	s.logs = &bytes.Buffer{}
	s.cmd = exec.Command(binary, append([]string{"serve", "--data", s.data, "--addr", s.addr}, s.extraArgs...)...)
	s.cmd.Env = append(os.Environ(), "SLUICE_ADMIN_PASSWORD="+adminPassword, "SLUICE_ALLOW_NET=127.0.0.1/32", "XDG_CONFIG_HOME="+s.config)
	s.cmd.Env = append(s.cmd.Env, s.env...)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.exited = make(chan struct{})
	go func() { s.cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(s.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-s.exited:
			s.t.Fatalf("sluice serve exited:\n%s", s.logs)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("sluice serve did not come up:\n%s", s.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill stops the process with SIGKILL, as a crash would.
func (s *server) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.exited
	}
}

// sluice runs the CLI against the server and returns its stdout; it fails
// the test on a non-zero exit.
func (s *server) sluice(stdin string, args ...string) string {
	s.t.Helper()
	out, errOut, code := s.run(stdin, args...)
	if code != 0 {
		s.t.Fatalf("sluice %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// run runs the CLI and returns stdout, stderr and the exit code.
func (s *server) run(stdin string, args ...string) (string, string, int) {
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+s.config, "SLUICE_SERVER=", "SLUICE_TOKEN=")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// login signs the CLI in as the admin.
func (s *server) login() {
	s.t.Helper()
	s.sluice(adminPassword+"\n", "login", "--server", s.url, "--email", "admin@localhost", "--password-stdin")
}

// writeFlow writes a definition to a file and returns its path.
func writeFlow(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flow.yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runsJSON is what `sluice runs list --json` prints.
type runsJSON []struct {
	ID       int64  `json:"id"`
	FlowName string `json:"flow_name"`
	Status   string `json:"status"`
}

// waitRuns lists runs of a flow with a status until there are want of
// them.
func (s *server) waitRuns(flowName, status string, want int, timeout time.Duration) runsJSON {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var runs runsJSON
		out := s.sluice("", "runs", "list", "--flow", flowName, "--status", status, "--limit", "1000", "--json")
		if err := json.Unmarshal([]byte(out), &runs); err != nil {
			s.t.Fatalf("runs list --json: %v\n%s", err, out)
		}
		if len(runs) >= want {
			return runs
		}
		if time.Now().After(deadline) {
			all := s.sluice("", "runs", "list", "--flow", flowName, "--limit", "1000")
			s.t.Fatalf("%d %s runs of %s, want %d; runs:\n%s\nserver log:\n%s", len(runs), status, flowName, want, all, s.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestWebhooksEndToEnd(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Query().Get("n")] = true
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ok": true, "n": %q}`, r.URL.Query().Get("n"))
	}))
	defer api.Close()

	s := startServer(t)
	s.login()
	path := writeFlow(t, `name: notify
trigger:
  type: webhook
actions:
  - id: call
    type: http
    with:
      url: "`+api.URL+`/notify"
      query: { n: "{{ trigger.body.n }}" }
  - id: done
    type: compose
    with: { value: "{{ steps.call.output.body.n }}" }
`)
	s.sluice("", "flows", "check", path)
	s.sluice("", "flows", "apply", "-f", path)
	var shown struct {
		WebhookURL string `json:"webhook_url"`
	}
	out := s.sluice("", "flows", "show", "notify", "--json")
	if err := json.Unmarshal([]byte(out), &shown); err != nil || !strings.Contains(shown.WebhookURL, "/hooks/") {
		t.Fatalf("flows show --json: %v\n%s", err, out)
	}

	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 20)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			resp, err := http.Post(shown.WebhookURL, "application/json", strings.NewReader(fmt.Sprintf(`{"n": %d}`, i)))
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				errs <- fmt.Errorf("webhook %d: status %d", i, resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	runs := s.waitRuns("notify", "succeeded", n, 60*time.Second)
	if len(runs) != n {
		t.Fatalf("%d succeeded runs, want %d", len(runs), n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != n {
		t.Errorf("the local API saw %d distinct calls, want %d", len(seen), n)
	}
}

func TestCrashLosesNothing(t *testing.T) {
	s := startServer(t)
	s.login()
	path := writeFlow(t, `name: slow
trigger: { type: manual }
actions:
  - id: first
    type: compose
    with: { value: "{{ trigger.input.i }}" }
  - id: wait
    type: delay
    with: { duration: 1500ms }
  - id: last
    type: compose
    with: { value: "{{ steps.first.output }}" }
`)
	s.sluice("", "flows", "apply", "-f", path)
	token := s.token()
	const n = 100
	for i := range n {
		req, _ := http.NewRequest("POST", s.url+"/api/v1/flows/slow/trigger", strings.NewReader(fmt.Sprintf(`{"input": {"i": %d}}`, i)))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("trigger %d: status %d", i, resp.StatusCode)
		}
	}
	s.kill()
	s.start()
	runs := s.waitRuns("slow", "succeeded", n, 60*time.Second)
	if len(runs) != n {
		t.Fatalf("%d succeeded runs after the crash, want %d", len(runs), n)
	}
	all := s.waitRuns("slow", "", n, time.Second)
	if len(all) != n {
		t.Fatalf("%d runs in all, want %d", len(all), n)
	}
}

// token returns the token the CLI saved at login.
func (s *server) token() string {
	s.t.Helper()
	b, err := os.ReadFile(filepath.Join(s.config, "sluice", "config.json"))
	if err != nil {
		s.t.Fatal(err)
	}
	var cfg struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil || cfg.Token == "" {
		s.t.Fatalf("config.json has no token: %v %s", err, b)
	}
	return cfg.Token
}

func TestExamplesApply(t *testing.T) {
	s := startServer(t)
	s.login()
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	// A flow naming a connection its owner does not have is refused at
	// save, with the line and the closest name.
	s.sluice("", "connections", "add", "directory", "--type", "bearer", "--token", "t")
	_, stderr, code := s.run("", "flows", "apply", "-f", writeFlow(t, "name: typo\ntrigger: { type: manual }\nactions:\n"+
		"  - { id: call, type: http, connection: directry, with: { url: \"https://example.com\" } }\n"))
	if code != 1 || !strings.Contains(stderr, `:4:`) || !strings.Contains(stderr, `no connection named "directry" (did you mean "directory"?)`) {
		t.Fatalf("apply with a misspelt connection: exit %d\n%s", code, stderr)
	}
	// The connections the examples name, as a user creates them first.
	names := map[string]bool{"directory": true}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`connection: (\w+)`).FindAllStringSubmatch(string(src), -1) {
			if !names[m[1]] {
				names[m[1]] = true
				s.sluice("", "connections", "add", m[1], "--type", "bearer", "--token", "t")
			}
		}
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s.sluice("", "flows", "check", f)
			out := s.sluice("", "flows", "apply", "-f", f, "--json")
			var applied struct {
				ID      int64 `json:"id"`
				Version int   `json:"version"`
			}
			if err := json.Unmarshal([]byte(out), &applied); err != nil || applied.ID == 0 || applied.Version != 1 {
				t.Fatalf("flows apply --json: %v\n%s", err, out)
			}
		})
	}
	var flows []struct {
		Name string `json:"name"`
	}
	out := s.sluice("", "flows", "list", "--json")
	if err := json.Unmarshal([]byte(out), &flows); err != nil || len(flows) != len(files) {
		t.Fatalf("flows list: %v, %d flows for %d examples\n%s", err, len(flows), len(files), out)
	}
}

func TestBadInput(t *testing.T) {
	s := startServer(t)
	s.login()
	bad := writeFlow(t, `name: broken
trigger: { type: webhok }
actions:
  - id: get_manager
    type: http
    with: { url: "https://example.com" }
  - id: welcome
    type: email
    with: { to: "{{ steps.get_mangr.output.body.mail }}", subject: hi }
`)
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"check reports every problem", []string{"flows", "check", bad}, 1, `unknown step "get_mangr" (did you mean "get_manager"?)`},
		{"apply refuses a broken flow", []string{"flows", "apply", "-f", bad}, 1, "webhok"},
		{"unknown command", []string{"flows", "frobnicate"}, 2, ""},
		{"bad trigger input", []string{"trigger", "x", "--input", "{nope"}, 2, "JSON"},
		{"unknown run", []string{"runs", "show", "999999"}, 1, "not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := s.run("", tc.args...)
			if code != tc.code || !strings.Contains(out+errOut, tc.want) {
				t.Errorf("sluice %v: exit %d, want %d containing %q\n%s%s", tc.args, code, tc.code, tc.want, out, errOut)
			}
		})
	}
}
