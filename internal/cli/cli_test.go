package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluice/sluice/internal/notify"
	"github.com/sluice/sluice/internal/server"
	"github.com/sluice/sluice/internal/store/postgres/pgtest"
)

func TestMain(m *testing.M) {
	// The PostgreSQL tests share pgtest's admin pool: close it before
	// goleak looks for leaked goroutines.
	code := m.Run()
	pgtest.Close()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// bundle is what a CLI test needs: a fake API server and an environment
// pointing at it, with its own configuration directory.
type bundle struct {
	api       *fakeAPI
	env       map[string]string
	configDir string
	served    *server.Config // set by the fake serve
	// terminal is what the CLI is told of whether a stream is a terminal.
	terminal bool
}

// setup starts a fake API and an environment logged in to it through
// SLUICE_SERVER and SLUICE_TOKEN.
func setup(t *testing.T) *bundle {
	t.Helper()
	api := newFakeAPI(t)
	dir := t.TempDir()
	return &bundle{
		api:       api,
		configDir: dir,
		env: map[string]string{
			"XDG_CONFIG_HOME": dir,
			"SLUICE_SERVER":   api.srv.URL,
			"SLUICE_TOKEN":    goodToken,
		},
	}
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs the CLI with args and stdin in the bundle's environment.
func (b *bundle) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	a := newApp(strings.NewReader(stdin), &out, &errOut, func(k string) string { return b.env[k] })
	a.loc = time.UTC
	a.pollInterval = time.Millisecond
	a.maxPollInterval = 2 * time.Millisecond
	a.terminal = func(any) bool { return b.terminal }
	a.serve = func(_ context.Context, cfg server.Config) error {
		b.served = &cfg
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code := a.main(ctx, args)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

func (r result) check(t *testing.T, code int, stdout, stderr []string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	for _, s := range stdout {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
		}
	}
	for _, s := range stderr {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no command", nil, "sluice: missing command"},
		{"unknown command", []string{"bogus"}, `unknown command "bogus" for "sluice"`},
		{"unknown flag", []string{"flows", "list", "--nope"}, "unknown flag: --nope"},
		{"group alone", []string{"flows"}, "sluice: flows needs a command"},
		{"unknown subcommand", []string{"runs", "bogus"}, `unknown command "bogus" for "sluice runs"`},
		{"missing argument", []string{"flows", "show"}, "needs one flow NAME|ID"},
		{"extra argument", []string{"flows", "show", "a", "b"}, "takes one flow NAME|ID, got 2 arguments"},
		{"empty flow", []string{"flows", "delete", " "}, "must not be empty"},
		{"apply without file", []string{"flows", "apply"}, "needs -f FILE"},
		{"check without file", []string{"flows", "check"}, "needs one FILE"},
		{"bad status", []string{"runs", "list", "--status", "done"}, `--status "done" is not a run status`},
		{"bad limit", []string{"runs", "list", "--limit", "many"}, `invalid argument "many"`},
		{"negative limit", []string{"runs", "list", "--limit", "-3"}, "--limit must be positive"},
		{"no runs", []string{"runs", "resubmit"}, "needs at least one RUN id"},
		{"invalid input", []string{"trigger", "hello", "--input", `{"a": }`}, "--input is not valid JSON: invalid character '}'"},
		{"two inputs", []string{"trigger", "hello", "--input", "{}", "--input-file", "x.json"}, "--input or --input-file, not both"},
		{"timeout without wait", []string{"trigger", "hello", "--timeout", "1s"}, "--timeout is a positive duration and goes with --wait"},
		{"input file not JSON", []string{"trigger", "hello", "--input-file", "testdata/welcome.yaml"}, "is not valid JSON"},
		{"login without password-stdin", []string{"login", "--email", "ada@example.com"}, "from stdin with --password-stdin"},
		{"login bad server", []string{"login", "--server", "ftp://localhost:8080", "--email", "a@b", "--password-stdin"}, "must look like http://HOST:PORT"},
		{"login server without scheme", []string{"login", "--server", "localhost:8080", "--email", "a@b", "--password-stdin"}, `"localhost:8080" has no scheme: write http://localhost:8080`},
		{"server without scheme", []string{"--server", "127.0.0.1:8080", "runs", "list"}, `server URL "127.0.0.1:8080" has no scheme: write http://127.0.0.1:8080 (or https://127.0.0.1:8080)`},
		{"mistyped subcommand", []string{"runs", "lsit"}, `unknown command "lsit" for "sluice runs"; did you mean "list"?`},
		{"mistyped command", []string{"flws", "list"}, `unknown command "flws" for "sluice"; did you mean "flows"?`},
		{"mistyped connections subcommand", []string{"connections", "verfy", "crm"}, `did you mean "verify"?`},
		{"version with argument", []string{"version", "now"}, "version takes no arguments"},
		{"bad role", []string{"users", "create", "--email", "b@example.com", "--name", "B", "--role", "root", "--password-stdin"}, `--role "root" is not a role`},
		{"bad email", []string{"users", "create", "--email", "bob", "--name", "B", "--password-stdin"}, "needs --email"},
		{"serve bad log format", []string{"serve", "--log-format", "xml"}, "--log-format \"xml\" must be text or json"},
		{"serve bad addr", []string{"serve", "--addr", "8080"}, "must be HOST:PORT"},
		{"serve bad retention", []string{"serve", "--retention", "forever"}, "--retention \"forever\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			r := b.run(t, "pw\n", tt.args...)
			r.check(t, ExitUsage, nil, []string{tt.stderr, "--help' for usage"})
			if !strings.HasPrefix(r.stderr, "sluice: ") {
				t.Errorf("stderr does not start with \"sluice: \": %s", r.stderr)
			}
			if got := b.api.seen(); len(got) != 0 {
				t.Errorf("a usage error sent %d requests: %+v", len(got), got)
			}
			if b.served != nil {
				t.Error("a usage error started the server")
			}
		})
	}
}

// TestVersion prints the binary's version without asking a server.
func TestVersion(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.run(t, "", "version").check(t, ExitOK, []string{"sluice ", runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH}, nil)
	if got := b.api.seen(); len(got) != 0 {
		t.Errorf("version sent %d requests", len(got))
	}
	info := &debug.BuildInfo{Main: debug.Module{Version: "v1.2.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-11-28T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := versionLine(info, true), "sluice v1.2.0 (commit 0123456789ab, 2026-11-28T10:00:00Z, modified) "+runtime.Version(); !strings.HasPrefix(got, want) {
		t.Errorf("versionLine = %q, want it to start with %q", got, want)
	}
	if got := versionLine(nil, false); !strings.HasPrefix(got, "sluice (unknown version) ") {
		t.Errorf("versionLine without build info = %q", got)
	}
}

// TestFlowsDeleteConfirms checks that flows delete says how many runs go
// and deletes only when confirmed: with --yes, or "y" on a terminal; off
// a terminal it refuses without --yes.
func TestFlowsDeleteConfirms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		terminal bool
		stdin    string
		args     []string
		code     int
		stdout   string
		stderr   string
		deleted  bool
	}{
		{"yes flag", false, "", []string{"--yes"}, ExitOK, "deleted flow hello and its 12 runs\n", "", true},
		{"no terminal", false, "y\n", nil, ExitUsage, "", "removes flow hello (id 3) and its 12 runs for good: pass --yes to confirm", false},
		{"terminal yes", true, "y\n", nil, ExitOK, "deleted flow hello and its 12 runs\n", "Delete flow hello (id 3) and its 12 runs for good? [y/N] ", true},
		{"terminal no", true, "n\n", nil, ExitFailure, "", "sluice: flow hello not deleted\n", false},
		{"terminal empty", true, "\n", nil, ExitFailure, "", "not deleted", false},
		{"terminal closed", true, "", nil, ExitFailure, "", "not deleted: no answer", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.terminal = tt.terminal
			r := b.run(t, tt.stdin, append([]string{"flows", "delete", "hello"}, tt.args...)...)
			r.check(t, tt.code, []string{tt.stdout}, []string{tt.stderr})
			deleted := false
			for _, req := range b.api.seen() {
				deleted = deleted || req.Method == "DELETE"
			}
			if deleted != tt.deleted {
				t.Errorf("DELETE sent: %v, want %v", deleted, tt.deleted)
			}
		})
	}
}

func TestHelpExitsZero(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.run(t, "", "flows", "--help")
	r.check(t, ExitOK, []string{"apply", "check", "versions"}, nil)
}

func TestNotConfigured(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.env = map[string]string{"XDG_CONFIG_HOME": b.configDir}
	r := b.run(t, "", "flows", "list")
	r.check(t, ExitFailure, nil, []string{"sluice: listing flows: no server configured: log in with 'sluice login --server URL --email EMAIL --password-stdin'"})

	b.env["SLUICE_SERVER"] = b.api.srv.URL
	r = b.run(t, "", "runs", "show", "1")
	r.check(t, ExitFailure, nil, []string{"no token for server " + b.api.srv.URL, "sluice login --server"})
}

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)

	b.env["SLUICE_TOKEN"] = "slc_wrong"
	r := b.run(t, "", "flows", "list")
	r.check(t, ExitFailure, nil, []string{"sluice: listing flows: invalid token (log in again with 'sluice login'"})

	b.env["SLUICE_TOKEN"] = goodToken
	r = b.run(t, "", "flows", "show", "nope")
	r.check(t, ExitFailure, nil, []string{"sluice: showing flow nope: no route GET /flows/nope\n"})

	b.env["SLUICE_SERVER"] = "http://127.0.0.1:1"
	r = b.run(t, "", "flows", "list")
	r.check(t, ExitFailure, nil, []string{"sluice: listing flows: cannot reach server http://127.0.0.1:1"})
}

func TestInvalidFlowProblems(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.run(t, "", "flows", "apply", "-f", "testdata/bad.yaml")
	r.check(t, ExitFailure, nil, nil)
	want := "sluice: saving flow from testdata/bad.yaml: the flow has problems\n" +
		"testdata/bad.yaml:6:11: actions[0].type: unknown action type \"htp\"\n" +
		"testdata/bad.yaml: name: must not be empty\n"
	if r.stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, want)
	}
	// A YAML syntax error has no path: the file and the line of the
	// misplaced colon (line 4, not the line before it) are shown.
	r = b.run(t, "", "flows", "apply", "-f", "testdata/syntax.yaml")
	want = "sluice: saving flow from testdata/syntax.yaml: the flow has problems\n" +
		"testdata/syntax.yaml:4:7: not valid YAML or JSON: mapping value is not allowed in this context\n"
	if r.code != ExitFailure || r.stderr != want {
		t.Errorf("exit %d, stderr:\n%s\nwant:\n%s", r.code, r.stderr, want)
	}
}

func TestFlowsApply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"created", []string{"flows", "apply", "-f", "testdata/welcome.yaml"}, "",
			"created flow Welcome a new hire (id 7, version 1)\nwebhook_url: http://sluice.test/hooks/xyz\n"},
		{"updated from stdin", []string{"flows", "apply", "-f", "-"}, "name: hello\n",
			"updated flow hello to version 5\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			r := b.run(t, tt.stdin, tt.args...)
			r.check(t, ExitOK, nil, nil)
			if r.stdout != tt.want {
				t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, tt.want)
			}
			req := b.api.last(t)
			if req.Method != "POST" || req.Path != "/api/v1/flows" || req.Auth != "Bearer "+goodToken {
				t.Errorf("request %+v", req)
			}
			if src, _ := req.Body["source"].(string); src == "" {
				t.Errorf("no source sent: %+v", req.Body)
			}
		})
	}

	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		r := b.run(t, "", "flows", "apply", "-f", "testdata/none.yaml")
		r.check(t, ExitFailure, nil, []string{"sluice: reading flow: open testdata/none.yaml"})
	})
}

func TestFlowsCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		offline bool
		args    []string
		code    int
		stdout  string
	}{
		{"offline ok", true, []string{"flows", "check", "testdata/welcome.yaml"}, ExitOK,
			"testdata/welcome.yaml: ok\n"},
		{"offline problems", true, []string{"flows", "check", "testdata/bad.yaml"}, ExitFailure,
			"testdata/bad.yaml:6:"},
		{"forced offline", false, []string{"flows", "check", "--offline", "testdata/bad.yaml"}, ExitFailure,
			`testdata/bad.yaml:6:`},
		{"server ok", false, []string{"flows", "check", "testdata/welcome.yaml"}, ExitOK,
			"testdata/welcome.yaml: ok\n"},
		{"server problems", false, []string{"flows", "check", "testdata/bad.yaml"}, ExitFailure,
			"testdata/bad.yaml:6:11: actions[0].type: unknown action type\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			if tt.offline {
				b.env = map[string]string{"XDG_CONFIG_HOME": b.configDir}
			}
			r := b.run(t, "", tt.args...)
			r.check(t, tt.code, []string{tt.stdout}, nil)
			if tt.code == ExitFailure {
				r.check(t, tt.code, []string{"actions[0].type: unknown action type"}, []string{"sluice: testdata/bad.yaml: 1 problem\n"})
			}
			online := len(b.api.seen()) > 0
			if online == (tt.offline || strings.Contains(tt.name, "offline")) {
				t.Errorf("checked online=%v", online)
			}
		})
	}
}

func TestJSONOutput(t *testing.T) {
	t.Parallel()
	runKeys := []string{"created_at", "error", "finished_at", "flow_id", "flow_name", "flow_version", "id", "input", "output", "resubmitted_from", "started_at", "status", "trigger_type"}
	flowKeys := []string{"created_at", "enabled", "id", "name", "owner_id", "trigger_type", "updated_at", "version", "webhook_url"}
	stepKeys := []string{"action_id", "attempts", "error", "finished_at", "id", "input", "output", "started_at", "status", "type"}
	tests := []struct {
		name string
		args []string
		// items is the number of array items, or -1 for an object.
		items int
		keys  []string
	}{
		{"flows list", []string{"flows", "list", "--json"}, 1, flowKeys},
		{"flows show", []string{"flows", "show", "hello", "--json"}, -1, append([]string{"definition", "source", "run_count"}, flowKeys...)},
		{"flows versions", []string{"flows", "versions", "hello", "--json"}, 2, []string{"created_at", "created_by", "version"}},
		{"runs list", []string{"runs", "list", "--json"}, 2, runKeys},
		{"runs show", []string{"runs", "show", "44", "--json"}, -1, append([]string{"steps"}, runKeys...)},
		{"users list", []string{"users", "list", "--json"}, 1, []string{"created_at", "email", "id", "name", "role"}},
		{"tokens list", []string{"tokens", "list", "--json"}, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			r := b.run(t, "", tt.args...)
			r.check(t, ExitOK, nil, nil)
			var obj map[string]json.RawMessage
			if tt.items < 0 {
				if err := json.Unmarshal([]byte(r.stdout), &obj); err != nil {
					t.Fatalf("not a JSON object: %v\n%s", err, r.stdout)
				}
			} else {
				var list []map[string]json.RawMessage
				if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
					t.Fatalf("not a JSON array: %v\n%s", err, r.stdout)
				}
				if len(list) != tt.items {
					t.Fatalf("%d items, want %d", len(list), tt.items)
				}
				if len(list) == 0 {
					if strings.TrimSpace(r.stdout) != "[]" {
						t.Errorf("empty list printed as %q, want []", r.stdout)
					}
					return
				}
				obj = list[0]
			}
			want := append([]string(nil), tt.keys...)
			sort.Strings(want)
			if got := keys(obj); !reflect.DeepEqual(got, want) {
				t.Errorf("keys %v, want %v", got, want)
			}
			if steps, ok := obj["steps"]; ok {
				var list []map[string]json.RawMessage
				if err := json.Unmarshal(steps, &list); err != nil || len(list) != 2 {
					t.Fatalf("steps %s: %v", steps, err)
				}
				if got := keys(list[0]); !reflect.DeepEqual(got, stepKeys) {
					t.Errorf("step keys %v, want %v", got, stepKeys)
				}
			}
		})
	}
}

func keys(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestHumanOutput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"flows list", []string{"flows", "list"}, "" +
			"ID  NAME   ENABLED  VERSION  TRIGGER  UPDATED\n" +
			"3   hello  yes      2        webhook  2026-01-03 03:04:05\n"},
		{"flows versions", []string{"flows", "versions", "hello"}, "" +
			"VERSION  CREATED              CREATED_BY\n" +
			"2        2026-01-03 03:04:05  1\n" +
			"1        2026-01-02 03:04:05  1\n"},
		{"runs list", []string{"runs", "list"}, "" +
			"ID  FLOW   STATUS   STARTED              DURATION  RESUBMITTED_FROM  ERROR\n" +
			"42  hello  failed   2026-01-02 03:04:05  1.5s      -                 step call failed: 401 Unauthorized\n" +
			"41  hello  running  2026-01-02 03:00:00  -         40                -\n"},
		{"runs show", []string{"runs", "show", "44"}, "" +
			"Run:       42\n" +
			"Flow:      hello (id 3, version 2)\n" +
			"Status:    failed\n" +
			"Trigger:   manual\n" +
			"Created:   2026-01-02 03:04:05\n" +
			"Started:   2026-01-02 03:04:05\n" +
			"Finished:  2026-01-02 03:04:06\n" +
			"Duration:  1.5s\n" +
			"Error:     step call failed\n" +
			"\n" +
			"STEP  TYPE  STATUS     ATTEMPTS  STARTED              DURATION  ERROR\n" +
			"get   http  succeeded  1         2026-01-02 03:04:05  250ms     -\n" +
			"call  http  failed     3         2026-01-02 03:04:05  1.25s     401 Unauthorized: bad token\n" +
			"\n" +
			"Step get (http, succeeded, 1 attempt)\n" +
			"  Input:       {\"url\":\"https://api.example.com/me\"}\n" +
			"  Output:      {\"status\":200,\"body\":\"line one\\nline two\"}\n" +
			"\n" +
			"Step call (http, failed, 3 attempts)\n" +
			"  Input:       {}\n" +
			"  Last answer: HTTP 401 Unauthorized: {\"error\":\"invalid_token\"}\n" +
			"  Error:       401 Unauthorized:\n" +
			"               bad token\n"},
		{"runs show retry", []string{"runs", "show", "48"}, "" +
			"Run:       48\n" +
			"Flow:      hello (id 3, version 2)\n" +
			"Status:    waiting\n" +
			"Trigger:   manual\n" +
			"Created:   2026-01-02 03:04:05\n" +
			"Started:   2026-01-02 03:04:05\n" +
			"Finished:  -\n" +
			"Duration:  -\n" +
			"\n" +
			"STEP  TYPE  STATUS   ATTEMPTS  STARTED              DURATION  ERROR\n" +
			"call  http  waiting  2         2026-01-02 03:04:05  -         503 Service Unavailable\n" +
			"\n" +
			"Step call (http, waiting, 2 attempts)\n" +
			"  Last answer: HTTP 503 Service Unavailable: busy, try later\n" +
			"  Error:       503 Service Unavailable\n" +
			"  Attempt 1:   2026-01-02 03:04:05 (250ms) failed, HTTP 503, next try 2026-01-02 03:04:35: HTTP 503 Service Unavailable from GET https://api.example.com/me · busy\n" +
			"  Attempt 2:   2026-01-02 03:04:35 (1s) failed, HTTP 503, next try 2026-01-02 03:05:00: busy, try later\n" +
			"  Next try:    2026-01-02 03:05:00\n"},
		{"runs show long run", []string{"runs", "show", "47"}, run47Head +
			"STEP       TYPE     STATUS     ATTEMPTS  STARTED  DURATION  ERROR\n" +
			"loop[0].c  compose  succeeded  1         -        -         -\n" +
			"\n" +
			"more steps: sluice runs show 47 --steps-after 1\n"},
		{"runs show next page", []string{"runs", "show", "47", "--steps-after", "1"}, run47Head +
			"STEP  TYPE     STATUS     ATTEMPTS  STARTED  DURATION  ERROR\n" +
			"loop  foreach  succeeded  1         -        -         -\n"},
		{"flows show", []string{"flows", "show", "hello"}, "" +
			"ID:           3\n" +
			"Name:         hello\n" +
			"Enabled:      yes\n" +
			"Version:      2\n" +
			"Trigger:      webhook\n" +
			"Webhook URL:  http://sluice.test/hooks/abc\n" +
			"Owner:        1\n" +
			"Created:      2026-01-02 03:04:05\n" +
			"Updated:      2026-01-03 03:04:05\n" +
			"\n" +
			"Source:\n" +
			"name: hello\ntrigger:\n  type: webhook\n"},
		{"users list", []string{"users", "list"}, "" +
			"ID  EMAIL            NAME  ROLE   STATUS   CREATED\n" +
			"1   ada@example.com  Ada   admin  enabled  2026-01-02 03:04:05\n"},
		{"enable", []string{"flows", "enable", "hello"}, "enabled flow hello\n"},
		{"disable", []string{"flows", "disable", "hello"}, "disabled flow hello\n"},
		{"delete", []string{"flows", "delete", "hello", "--yes"}, "deleted flow hello and its 12 runs\n"},
		{"tokens create", []string{"tokens", "create", "ci"}, "slc_new\n"},
		{"tokens delete", []string{"tokens", "delete", "9"}, "deleted token 9\n"},
		{"users create", []string{"users", "create", "--email", "bo@example.com", "--name", "Bo", "--password-stdin"}, "created user bo@example.com (id 2, role maker)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			r := b.run(t, "pw\n", tt.args...)
			r.check(t, ExitOK, nil, nil)
			if r.stdout != tt.want {
				t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, tt.want)
			}
		})
	}
}

func TestFlowNameIsEscaped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.run(t, "", "flows", "show", "my flow")
	r.check(t, ExitOK, []string{"Name:"}, nil)
	if got := b.api.last(t).Path; got != "/api/v1/flows/my%20flow" {
		t.Errorf("path %s", got)
	}
}

func TestRunsListQuery(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.run(t, "", "runs", "list", "--flow", "hello", "--status", "failed", "--limit", "5")
	r.check(t, ExitOK, nil, nil)
	if got := b.api.last(t).Query; got != "flow=hello&limit=5&status=failed" {
		t.Errorf("query %q", got)
	}
}

func TestTrigger(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		stdin  string
		code   int
		stdout string
		stderr string
		input  any
	}{
		{"no input", []string{"trigger", "hello"}, "", ExitOK, "42\n", "", nil},
		{"input", []string{"trigger", "hello", "--input", `{"name":"Ada","n":1}`}, "", ExitOK, "42\n", "",
			map[string]any{"name": "Ada", "n": 1.0}},
		{"input from stdin", []string{"trigger", "hello", "--input-file", "-"}, "[1, 2]\n", ExitOK, "42\n", "",
			[]any{1.0, 2.0}},
		{"wait succeeded", []string{"trigger", "hello", "--wait"}, "", ExitOK, "42\nrun 42 succeeded in 1s\n", "", nil},
		{"wait failed", []string{"trigger", "failing", "--wait"}, "", ExitFailure, "43\nrun 43 failed in -\n",
			"sluice: run 43 failed: step call failed: 401 (see 'sluice runs show 43')\n", nil},
		{"wait times out", []string{"trigger", "slow", "--wait", "--timeout", "30ms"}, "", ExitFailure, "46\n",
			"sluice: run 46 has not finished after 30ms; it goes on (see 'sluice runs show 46')\n", nil},
		{"unknown flow", []string{"trigger", "nope"}, "", ExitFailure, "",
			"sluice: triggering flow nope: no route POST /flows/nope/trigger\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			r := b.run(t, tt.stdin, tt.args...)
			r.check(t, tt.code, nil, nil)
			if r.stdout != tt.stdout || r.stderr != tt.stderr {
				t.Errorf("stdout:\n%s\nstderr:\n%s\nwant stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr, tt.stdout, tt.stderr)
			}
			trig := b.api.seen()[0]
			if !reflect.DeepEqual(trig.Body["input"], tt.input) {
				t.Errorf("input %#v, want %#v", trig.Body["input"], tt.input)
			}
		})
	}
}

func TestRunsBatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"resubmit", []string{"runs", "resubmit", "1", "2"}, ExitOK,
			"run 1 resubmitted as run 91\nrun 2 resubmitted as run 92\n", ""},
		{"resubmit goes on past errors", []string{"runs", "resubmit", "1", "404", "2"}, ExitFailure,
			"run 1 resubmitted as run 91\nrun 2 resubmitted as run 92\n",
			"sluice: run 404: run 404 not found\nsluice: could not resubmit 1 of 3 runs: 404\n"},
		{"cancel", []string{"runs", "cancel", "5", "404"}, ExitFailure,
			"run 5 cancelled\n", "sluice: run 404: run 404 not found\nsluice: could not cancel 1 of 2 runs: 404\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			r := b.run(t, "", tt.args...)
			r.check(t, tt.code, nil, nil)
			if r.stdout != tt.stdout || r.stderr != tt.stderr {
				t.Errorf("stdout:\n%s\nstderr:\n%s\nwant stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr, tt.stdout, tt.stderr)
			}
		})
	}
}

func TestLoginLogout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.env = map[string]string{"XDG_CONFIG_HOME": b.configDir}

	r := b.run(t, "wrong\n", "login", "--server", b.api.srv.URL+"/", "--email", "ada@example.com", "--password-stdin")
	r.check(t, ExitFailure, nil, []string{"sluice: logging in to " + b.api.srv.URL + ": wrong email or password"})

	r = b.run(t, "s3cret pw\n", "login", "--server", b.api.srv.URL+"/", "--email", "ada@example.com", "--password-stdin")
	r.check(t, ExitOK, []string{"logged in to " + b.api.srv.URL + " as ada@example.com (admin)"}, nil)

	path := filepath.Join(b.configDir, "sluice", "config.json")
	for p, mode := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700 | os.ModeDir} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != mode {
			t.Errorf("%s has mode %v, want %v", p, fi.Mode(), mode)
		}
	}
	var saved savedLogin
	data, _ := os.ReadFile(path)
	if err := json.Unmarshal(data, &saved); err != nil {
		t.Fatal(err)
	}
	if saved.Server != b.api.srv.URL || saved.Token != goodToken || saved.TokenName == "" {
		t.Errorf("saved %+v", saved)
	}

	// The saved login is enough for the next commands.
	r = b.run(t, "", "flows", "list")
	r.check(t, ExitOK, []string{"hello"}, nil)

	r = b.run(t, "", "logout")
	r.check(t, ExitOK, []string{"logged out of " + b.api.srv.URL}, nil)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("config file still there: %v", err)
	}
	b.api.mu.Lock()
	deleted := b.api.deleted
	b.api.mu.Unlock()
	if !reflect.DeepEqual(deleted, []string{"100"}) {
		t.Errorf("deleted tokens %v, want the login's token 100", deleted)
	}

	r = b.run(t, "", "logout")
	r.check(t, ExitOK, []string{"not logged in"}, nil)
}

func TestConnectionPrecedence(t *testing.T) {
	t.Parallel()
	other := newFakeAPI(t)
	tests := []struct {
		name       string
		saved      *savedLogin
		env        map[string]string
		flags      []string
		wantServer *fakeAPI
		wantAuth   string
		wantErr    string
	}{
		{name: "saved login only", saved: &savedLogin{Token: goodToken},
			wantAuth: "Bearer " + goodToken},
		{name: "env token beats saved", saved: &savedLogin{Token: "slc_saved"},
			env: map[string]string{"SLUICE_TOKEN": goodToken}, wantAuth: "Bearer " + goodToken},
		{name: "flag token beats env", saved: &savedLogin{Token: "slc_saved"}, env: map[string]string{"SLUICE_TOKEN": "slc_env"},
			flags: []string{"--token", goodToken}, wantAuth: "Bearer " + goodToken},
		{name: "env server beats saved, saved token not sent elsewhere", saved: &savedLogin{Token: goodToken},
			env: map[string]string{"SLUICE_SERVER": "other"}, wantErr: "no token for server"},
		{name: "flag server beats env", env: map[string]string{"SLUICE_SERVER": "http://127.0.0.1:1", "SLUICE_TOKEN": goodToken},
			flags: []string{"--server", "other"}, wantServer: other, wantAuth: "Bearer " + goodToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.env = map[string]string{"XDG_CONFIG_HOME": b.configDir}
			for k, v := range tt.env {
				if v == "other" {
					v = other.srv.URL
				}
				b.env[k] = v
			}
			for i, f := range tt.flags {
				if f == "other" {
					tt.flags[i] = other.srv.URL
				}
			}
			if tt.saved != nil {
				l := *tt.saved
				l.Server = b.api.srv.URL
				a := newApp(nil, nil, nil, func(k string) string { return b.env[k] })
				if _, err := a.saveLogin(l); err != nil {
					t.Fatal(err)
				}
			}
			r := b.run(t, "", append(tt.flags, "users", "list")...)
			if tt.wantErr != "" {
				r.check(t, ExitFailure, nil, []string{tt.wantErr})
				return
			}
			r.check(t, ExitOK, nil, nil)
			srv := tt.wantServer
			if srv == nil {
				srv = b.api
			}
			if got := srv.last(t).Auth; got != tt.wantAuth {
				t.Errorf("auth %q, want %q", got, tt.wantAuth)
			}
		})
	}
}

func TestServe(t *testing.T) {
	t.Parallel()
	secret := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(secret, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want server.Config
	}{
		{name: "defaults left to the server", want: server.Config{}},
		{name: "env", env: map[string]string{
			"SLUICE_DATA": "/env/data", "SLUICE_ADDR": "0.0.0.0:9000", "SLUICE_DB": "postgres://db/sluice",
			"SLUICE_BASE_URL": "https://env.example.com", "SLUICE_ADMIN_EMAIL": "root@example.com",
			"SLUICE_ADMIN_PASSWORD": "pw", "SLUICE_ALLOW_NET": "10.0.0.0/8", "SLUICE_SMTP_URL": "smtp://mail:25",
			"SLUICE_WORKERS": "8", "SLUICE_RETENTION": "7d",
		}, want: server.Config{
			DataDir: "/env/data", Addr: "0.0.0.0:9000", DBURL: "postgres://db/sluice", BaseURL: "https://env.example.com",
			AdminEmail: "root@example.com", AdminPassword: "pw", AllowNet: "10.0.0.0/8", SMTPURL: "smtp://mail:25",
			Workers: 8, Retention: 7 * 24 * time.Hour,
		}},
		{name: "flags beat env", env: map[string]string{"SLUICE_DATA": "/env/data", "SLUICE_WORKERS": "8", "SLUICE_RETENTION": "7d"},
			args: []string{"--data", "/flag/data", "--addr", "127.0.0.1:7000", "--db", "sqlite:/x.db", "--base-url", "http://flag.example.com",
				"--workers", "2", "--retention", "36h"},
			want: server.Config{DataDir: "/flag/data", Addr: "127.0.0.1:7000", DBURL: "sqlite:/x.db", BaseURL: "http://flag.example.com",
				Workers: 2, Retention: 36 * time.Hour}},
		{name: "secret files", env: map[string]string{"SLUICE_ADMIN_PASSWORD_FILE": secret, "SLUICE_SMTP_URL_FILE": secret},
			want: server.Config{AdminPassword: "from-file", SMTPURL: "from-file"}},
		{name: "secret and file", env: map[string]string{"SLUICE_ADMIN_PASSWORD_FILE": secret, "SLUICE_ADMIN_PASSWORD": "x"},
			code: ExitUsage},
		{name: "missing secret file", env: map[string]string{"SLUICE_SMTP_URL_FILE": secret + ".none"},
			code: ExitFailure},
		{name: "http limits", env: map[string]string{
			"SLUICE_WEBHOOK_BASE_URL": "https://hooks.example.com", "SLUICE_READ_HEADER_TIMEOUT": "5s", "SLUICE_READ_TIMEOUT": "30s",
			"SLUICE_WRITE_TIMEOUT": "45s", "SLUICE_IDLE_TIMEOUT": "1m", "SLUICE_MAX_CONNS": "500", "SLUICE_MAX_CONNS_PER_CLIENT": "500",
		}, want: server.Config{WebhookBaseURL: "https://hooks.example.com", ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 45 * time.Second, IdleTimeout: time.Minute, MaxConns: 500, MaxConnsPerClient: 500}},
		{name: "run limits", env: map[string]string{
			"SLUICE_MAX_RUN_STEPS": "1000", "SLUICE_MAX_RUN_EXPRESSION_STEPS": "5000000",
			"SLUICE_MAX_RUN_EXPRESSION_TIME": "30s", "SLUICE_MAX_RUN_MEMORY": "1GiB",
		}, want: server.Config{RunLimits: server.RunLimits{Steps: 1000, ExpressionSteps: 5_000_000, ExpressionTime: 30 * time.Second, Memory: 1 << 30}}},
		{name: "bad env run memory", env: map[string]string{"SLUICE_MAX_RUN_MEMORY": "256"}, code: ExitUsage},
		{name: "bad env run steps", env: map[string]string{"SLUICE_MAX_RUN_STEPS": "-1"}, code: ExitUsage},
		{name: "help center", env: map[string]string{"SLUICE_HELP_DIR": "/srv/help", "SLUICE_COMMUNITY_URL": "https://community.example.com"},
			want: server.Config{HelpDir: "/srv/help", CommunityURL: "https://community.example.com"}},
		{name: "repair grace", env: map[string]string{"SLUICE_REPAIR_GRACE": "45s", "SLUICE_DISABLE_AFTER": "30d"},
			want: server.Config{RepairGrace: 45 * time.Second, DisableAfter: 30 * 24 * time.Hour}},
		// Off is a value of its own: a zero would mean the default.
		{name: "repair grace 0 is off", env: map[string]string{"SLUICE_REPAIR_GRACE": "0"}, want: server.Config{RepairGrace: notify.Off}},
		{name: "repair grace off", env: map[string]string{"SLUICE_REPAIR_GRACE": "off"}, want: server.Config{RepairGrace: notify.Off}},
		{name: "disable after off", env: map[string]string{"SLUICE_DISABLE_AFTER": "off"}, want: server.Config{DisableAfter: notify.Off}},
		{name: "disable after never", env: map[string]string{"SLUICE_DISABLE_AFTER": "Never"}, want: server.Config{DisableAfter: notify.Off}},
		{name: "disable after 0", env: map[string]string{"SLUICE_DISABLE_AFTER": "0"}, code: ExitUsage},
		{name: "disable after negative", env: map[string]string{"SLUICE_DISABLE_AFTER": "-1h"}, code: ExitUsage},
		{name: "repair grace negative", env: map[string]string{"SLUICE_REPAIR_GRACE": "-5s"}, code: ExitUsage},
		{name: "retention off refused", args: []string{"--retention", "off"}, code: ExitUsage},
		{name: "retention 0 refused", env: map[string]string{"SLUICE_RETENTION": "0d"}, code: ExitUsage},
		{name: "bad env read timeout", env: map[string]string{"SLUICE_READ_TIMEOUT": "soon"}, code: ExitUsage},
		{name: "bad env max conns", env: map[string]string{"SLUICE_MAX_CONNS_PER_CLIENT": "0"}, code: ExitUsage},
		{name: "bad env workers", env: map[string]string{"SLUICE_WORKERS": "many"}, code: ExitUsage},
		{name: "bad env log level", env: map[string]string{"SLUICE_LOG_LEVEL": "loud"}, code: ExitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.env = tt.env
			r := b.run(t, "", append([]string{"serve"}, tt.args...)...)
			r.check(t, tt.code, nil, nil)
			if tt.code != ExitOK {
				if b.served != nil {
					t.Error("server started")
				}
				return
			}
			if b.served == nil {
				t.Fatal("server not started")
			}
			got := *b.served
			if got.Logger == nil {
				t.Error("no logger")
			}
			got.Logger = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("config\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

// run47Head is what `runs show 47` prints above the steps of each page.
const run47Head = "Run:       47\n" +
	"Flow:      - (id -, version -)\n" +
	"Status:    succeeded\n" +
	"Trigger:   -\n" +
	"Created:   -\n" +
	"Started:   -\n" +
	"Finished:  -\n" +
	"Duration:  -\n" +
	"\n"
