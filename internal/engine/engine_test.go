package engine_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/api"
	"github.com/sluice/sluice/internal/connection"
	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/flow"
	"github.com/sluice/sluice/internal/mail"
	"github.com/sluice/sluice/internal/mail/mailtest"
	"github.com/sluice/sluice/internal/netguard"
	"github.com/sluice/sluice/internal/secret"
	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/postgres/pgtest"
	"github.com/sluice/sluice/internal/store/sqlite"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	// The PostgreSQL tests share one admin pool; close it before looking
	// for leaked goroutines.
	pgtest.Close()
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener")); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// bundle is what a test works with.
type bundle struct {
	st     *sqlite.Store
	eng    *engine.Engine
	owner  store.User
	cancel context.CancelFunc
	done   chan struct{}
	path   string
	box    *secret.Box
	opts   []func(*engine.Config)
}

// setup opens a fresh store and starts an engine on it; opts adjust the
// engine's configuration.
func setup(t *testing.T, opts ...func(*engine.Config)) *bundle {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sluice.db")
	st, err := sqlite.Open(context.Background(), path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	u, err := st.CreateUser(context.Background(), store.User{Email: "maker@example.com", PasswordHash: "x", Role: store.RoleMaker})
	if err != nil {
		t.Fatal(err)
	}
	box, err := secret.NewBox(bytes.Repeat([]byte{42}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{st: st, owner: u, path: path, box: box, opts: opts}
	b.start(t)
	return b
}

// start starts an engine on the bundle's store; stop stops it.
func (b *bundle) start(t *testing.T) {
	t.Helper()
	cfg := testConfig(t, b.st)
	cfg.SingleNode, cfg.Secrets = true, b.box
	for _, o := range b.opts {
		o(&cfg)
	}
	b.eng, b.cancel, b.done = runEngine(t, cfg)
	t.Cleanup(b.stop)
}

// testConfig is the engine configuration of tests: quiet, with a short
// lease, reaching only 127.0.0.1.
func testConfig(t testing.TB, st store.Store) engine.Config {
	t.Helper()
	allow, err := netguard.ParseAllow("127.0.0.1/32")
	if err != nil {
		t.Fatal(err)
	}
	return engine.Config{
		Store:      st,
		Logger:     slog.New(slog.DiscardHandler),
		HTTPClient: netguard.NewClient(netguard.Options{Allow: allow}),
		SMTPDial:   netguard.NewDialer(netguard.Options{Allow: allow}).DialContext,
		Lease:      3 * time.Second,
	}
}

// runEngine starts an engine; cancel stops it and done closes once it
// has stopped.
func runEngine(t testing.TB, cfg engine.Config) (eng *engine.Engine, cancel context.CancelFunc, done chan struct{}) {
	t.Helper()
	eng, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan struct{})
	go func() {
		defer close(done)
		eng.Run(ctx)
	}()
	return eng, cancel, done
}

func (b *bundle) stop() {
	if b.cancel != nil {
		b.cancel()
		<-b.done
		b.cancel = nil
	}
}

// apply saves a flow definition, failing the test on any problem.
func (b *bundle) apply(t *testing.T, src string) store.Flow {
	t.Helper()
	return applyTo(t, b.st, b.owner.ID, src)
}

// applyTo saves a flow definition of the owner in st.
func applyTo(t testing.TB, st store.Store, ownerID int64, src string) store.Flow {
	t.Helper()
	def, problems := flow.Parse([]byte(src))
	if len(problems) > 0 {
		t.Fatalf("flow problems: %v", problems)
	}
	canon, err := def.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	nf := store.NewFlow{Name: def.Name, OwnerID: ownerID, TriggerType: def.Trigger.Type, WebhookToken: fmt.Sprintf("tok-%s-%d", def.Name, time.Now().UnixNano()), Definition: canon, Source: src}
	if def.Trigger.Type == flow.TriggerSchedule {
		next, err := def.Trigger.Next(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		nf.NextFireAt = &next
	}
	f, err := st.CreateFlow(context.Background(), nf)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// trigger starts a manual run with input, stored once as the API stores it
// (the flow sees it as trigger.input and trigger.body).
func (b *bundle) trigger(t *testing.T, f store.Flow, input any) store.Run {
	t.Helper()
	r, err := b.eng.Start(context.Background(), engine.StartRequest{Flow: f, TriggerType: flow.TriggerManual, Trigger: engine.Trigger{Input: input}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// wait polls the store until the run has finished. Its deadline only
// ends a test that would otherwise hang: large runs under -race on a
// loaded machine take tens of seconds.
func (b *bundle) wait(t *testing.T, id int64) (store.Run, map[string]store.Step) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r, err := b.st.GetRun(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if store.RunFinished(r.Status) {
			steps, err := b.st.ListSteps(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			m := map[string]store.Step{}
			for _, s := range steps {
				m[s.Key] = s
			}
			return r, m
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %d did not finish: status %s at %q", id, r.Status, r.CurrentStep)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func output(t *testing.T, s store.Step) any {
	t.Helper()
	var v any
	if len(s.Output) > 0 {
		if err := json.Unmarshal(s.Output, &v); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

func TestFlows(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.Header().Set("Content-Type", "application/json")
			body, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, `{"path": %q, "got": %q, "idem": %q}`, r.URL.Path, body, r.Header.Get("Idempotency-Key"))
		case "/flaky":
			if calls.Add(1) < 3 {
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			fmt.Fprint(w, "finally")
		case "/missing":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error": {"code": "Request_ResourceNotFound"}}`)
		}
	}))
	defer srv.Close()
	b := setup(t)

	tests := []struct {
		name   string
		src    string
		input  any
		status string
		check  func(t *testing.T, r store.Run, steps map[string]store.Step)
	}{
		{
			name: "compose keeps types",
			src: `name: compose
trigger: { type: manual }
actions:
  - id: add
    type: compose
    with: { value: "{{ trigger.body.n + 1 }}" }
  - id: text
    type: compose
    with: { value: "n is {{ steps.add.output }}" }
`,
			input:  map[string]any{"n": 41},
			status: store.RunSucceeded,
			check: func(t *testing.T, r store.Run, steps map[string]store.Step) {
				if got := output(t, steps["add"]); got != float64(42) {
					t.Errorf("add = %v (%T), want 42", got, got)
				}
				if got := output(t, steps["text"]); got != "n is 42" {
					t.Errorf("text = %v", got)
				}
			},
		},
		{
			name: "http ok with idempotency key",
			src: `name: http-ok
trigger: { type: manual }
actions:
  - id: call
    type: http
    with: { method: POST, url: "` + srv.URL + `/ok", body: "{{ trigger.body.msg }}", idempotency_key: true }
  - id: echo
    type: compose
    with: { value: "{{ steps.call.output.body.got }}" }
`,
			input:  map[string]any{"msg": "hello"},
			status: store.RunSucceeded,
			check: func(t *testing.T, r store.Run, steps map[string]store.Step) {
				if got := output(t, steps["echo"]); got != "hello" {
					t.Errorf("echo = %v", got)
				}
				body := output(t, steps["call"]).(map[string]any)["body"].(map[string]any)
				if want := fmt.Sprintf("sluice-%d-call", r.ID); body["idem"] != want {
					t.Errorf("idempotency key = %v, want %s", body["idem"], want)
				}
			},
		},
		{
			name: "transient failures are retried",
			src: `name: flaky
trigger: { type: manual }
actions:
  - id: call
    type: http
    with: { url: "` + srv.URL + `/flaky" }
    retry: { policy: fixed, count: 4, interval: 10ms }
`,
			status: store.RunSucceeded,
			check: func(t *testing.T, r store.Run, steps map[string]store.Step) {
				if s := steps["call"]; s.Attempts != 3 || s.Status != flow.StatusSucceeded {
					t.Errorf("call: attempts %d status %s, want 3 succeeded", s.Attempts, s.Status)
				}
			},
		},
		{
			name: "404 fails at once and catch runs",
			src: `name: catch
trigger: { type: manual }
actions:
  - id: get_manager
    type: http
    with: { url: "` + srv.URL + `/missing" }
  - id: after
    type: compose
    with: { value: never }
  - id: catch
    type: compose
    run_after: { get_manager: [failed] }
    with: { value: "{{ steps.get_manager.error.status }}" }
`,
			status: store.RunSucceeded,
			check: func(t *testing.T, r store.Run, steps map[string]store.Step) {
				if s := steps["get_manager"]; s.Attempts != 1 || s.Status != flow.StatusFailed {
					t.Errorf("get_manager: attempts %d status %s, want 1 failed", s.Attempts, s.Status)
				}
				if s := steps["after"]; s.Status != flow.StatusSkipped {
					t.Errorf("after: %s, want skipped", s.Status)
				}
				if got := output(t, steps["catch"]); got != float64(404) {
					t.Errorf("catch = %v", got)
				}
				var serr map[string]any
				json.Unmarshal(steps["get_manager"].Error, &serr)
				if serr["status"] != float64(404) || serr["body"] == nil {
					t.Errorf("error keeps status and body: %s", steps["get_manager"].Error)
				}
			},
		},
		{
			name: "unhandled failure fails the run",
			src: `name: unhandled
trigger: { type: manual }
actions:
  - id: get_manager
    type: http
    with: { url: "` + srv.URL + `/missing" }
`,
			status: store.RunFailed,
			check: func(t *testing.T, r store.Run, steps map[string]store.Step) {
				if !strings.Contains(r.Error, `step "get_manager" failed: HTTP 404`) {
					t.Errorf("run error = %q", r.Error)
				}
			},
		},
		{
			name: "try catch finally with scope",
			src: `name: tcf
trigger: { type: manual }
actions:
  - id: try
    type: scope
    actions:
      - id: first
        type: compose
        with: { value: 1 }
      - id: boom
        type: http
        with: { url: "` + srv.URL + `/missing" }
  - id: catch
    type: compose
    run_after: { try: [failed, timed_out] }
    with: { value: "caught {{ steps.try.error.message }}" }
  - id: finally
    type: compose
    run_after: { catch: [succeeded, failed, skipped] }
    with: { value: "{{ steps.first.output }}" }
`,
			status: store.RunSucceeded,
			check: func(t *testing.T, r store.Run, steps map[string]store.Step) {
				if steps["try"].Status != flow.StatusFailed || steps["catch"].Status != flow.StatusSucceeded {
					t.Errorf("try %s catch %s", steps["try"].Status, steps["catch"].Status)
				}
				if got := output(t, steps["finally"]); got != float64(1) {
					t.Errorf("finally = %v", got)
				}
			},
		},
		{
			name: "condition picks a branch",
			src: `name: cond
trigger: { type: manual }
actions:
  - id: check
    type: condition
    if: "{{ trigger.body.n > 3 }}"
    then:
      - id: big
        type: compose
        with: { value: big }
    else:
      - id: small
        type: compose
        with: { value: small }
`,
			input:  map[string]any{"n": 5},
			status: store.RunSucceeded,
			check: func(t *testing.T, r store.Run, steps map[string]store.Step) {
				if _, ok := steps["small"]; ok {
					t.Error("else branch ran")
				}
				if got := output(t, steps["big"]); got != "big" {
					t.Errorf("big = %v", got)
				}
			},
		},
		{
			name: "foreach with concurrency",
			src: `name: loop
trigger: { type: manual }
actions:
  - id: each
    type: foreach
    foreach: "{{ trigger.body.items }}"
    concurrency: 3
    actions:
      - id: call
        type: http
        with: { method: POST, url: "` + srv.URL + `/ok", body: "{{ item }}-{{ index }}" }
      - id: got
        type: compose
        with: { value: "{{ steps.call.output.body.got }}" }
`,
			input:  map[string]any{"items": []any{"a", "b", "c", "d", "e"}},
			status: store.RunSucceeded,
			check: func(t *testing.T, r store.Run, steps map[string]store.Step) {
				list := output(t, steps["each"]).([]any)
				if len(list) != 5 {
					t.Fatalf("each has %d entries", len(list))
				}
				if got := list[3].(map[string]any)["got"].(map[string]any)["output"]; got != "d-3" {
					t.Errorf("iteration 3 got %v", got)
				}
				if s, ok := steps["each[4].call"]; !ok || s.Status != flow.StatusSucceeded {
					t.Errorf("each[4].call = %+v", s)
				}
			},
		},
		{
			name: "terminate ends the run",
			src: `name: term
trigger: { type: manual }
actions:
  - id: stop
    type: terminate
    with: { status: failed, message: "no manager for this user" }
  - id: after
    type: compose
    with: { value: x }
`,
			status: store.RunFailed,
			check: func(t *testing.T, r store.Run, steps map[string]store.Step) {
				if r.Error != "no manager for this user" {
					t.Errorf("error = %q", r.Error)
				}
				var serr engine.StepError
				json.Unmarshal(steps["stop"].Error, &serr)
				if steps["stop"].Status != flow.StatusFailed || serr.Diagnosis == nil || serr.Diagnosis.Class != "flow" {
					t.Errorf("terminate step %s, diagnosis %+v", steps["stop"].Status, serr.Diagnosis)
				}
				if _, ok := steps["after"]; ok {
					t.Error("action after terminate ran")
				}
			},
		},
		{
			name: "delay parks and resumes",
			src: `name: delay
trigger: { type: manual }
actions:
  - id: wait
    type: delay
    with: { duration: 50ms }
  - id: after
    type: compose
    with: { value: "{{ steps.wait.output.until }}" }
`,
			status: store.RunSucceeded,
			check: func(t *testing.T, r store.Run, steps map[string]store.Step) {
				if steps["wait"].Status != flow.StatusSucceeded || output(t, steps["after"]) == nil {
					t.Errorf("wait %s after %v", steps["wait"].Status, output(t, steps["after"]))
				}
			},
		},
		{
			name: "expression error fails the step",
			src: `name: badexpr
trigger: { type: manual }
actions:
  - id: bad
    type: compose
    with: { value: "{{ int(trigger.body.s) }}" }
`,
			input:  map[string]any{"s": "abc"},
			status: store.RunFailed,
			check: func(t *testing.T, r store.Run, steps map[string]store.Step) {
				if !strings.Contains(string(steps["bad"].Error), `"kind":"expression"`) {
					t.Errorf("error = %s", steps["bad"].Error)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := b.apply(t, tc.src)
			r := b.trigger(t, f, tc.input)
			got, steps := b.wait(t, r.ID)
			if got.Status != tc.status {
				t.Fatalf("status %s (error %q), want %s; steps %+v", got.Status, got.Error, tc.status, steps)
			}
			if tc.check != nil {
				tc.check(t, got, steps)
			}
		})
	}
}

func TestWebhookRespond(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := b.apply(t, `name: hook
trigger: { type: webhook }
actions:
  - id: greet
    type: compose
    with: { value: "hello {{ trigger.body.name }}" }
  - id: answer
    type: respond
    with: { status: 201, headers: { X-Greeting: yes }, body: { message: "{{ steps.greet.output }}" } }
`)
	mux := http.NewServeMux()
	mux.Handle("/hooks/{token}", api.NewWebhooks(api.Config{Store: b.st, Runner: b.eng}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/hooks/"+f.WebhookToken, "application/json", strings.NewReader(`{"name": "Ada"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 || resp.Header.Get("X-Greeting") != "yes" || !strings.Contains(string(body), `"hello Ada"`) {
		t.Fatalf("got %d %v %s", resp.StatusCode, resp.Header, body)
	}

	cases := []struct {
		name, token, ctype, body string
		status                   int
		want                     string
	}{
		{"unknown token", "nope", "application/json", `{}`, 404, "no webhook flow"},
		{"bad json", f.WebhookToken, "application/json", "{\n  \"name\": }", 400, "line 2"},
		{"too deep", f.WebhookToken, "application/json", strings.Repeat(`{"a":`, 10_000), 400, "request body: mappings and lists are nested deeper than 64 levels (line 1, column 321)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(srv.URL+"/hooks/"+tc.token, tc.ctype, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.want) {
				t.Errorf("got %d %s, want %d containing %q", resp.StatusCode, body, tc.status, tc.want)
			}
		})
	}
}

func TestResumeAfterRestart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := b.apply(t, `name: slow
trigger: { type: manual }
actions:
  - id: first
    type: compose
    with: { value: 1 }
  - id: wait
    type: delay
    with: { duration: 300ms }
  - id: last
    type: compose
    with: { value: "{{ steps.first.output + 1 }}" }
`)
	var ids []int64
	for range 20 {
		ids = append(ids, b.trigger(t, f, nil).ID)
	}
	b.stop()
	b.start(t)
	for _, id := range ids {
		r, steps := b.wait(t, id)
		if r.Status != store.RunSucceeded || output(t, steps["last"]) != float64(2) {
			t.Fatalf("run %d: %s %q", id, r.Status, r.Error)
		}
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := b.apply(t, `name: long
trigger: { type: manual }
actions:
  - id: wait
    type: delay
    with: { duration: 1h }
`)
	r := b.trigger(t, f, nil)
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _ := b.st.GetRun(context.Background(), r.ID)
		if got.Status == store.RunWaiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run did not park: %s", got.Status)
		}
		time.Sleep(5 * time.Millisecond)
	}
	got, err := b.eng.Cancel(context.Background(), r.ID)
	if err != nil || got.Status != store.RunCancelled {
		t.Fatalf("cancel: %v %s", err, got.Status)
	}
}

func TestSchedule(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := b.apply(t, `name: tick
trigger: { type: schedule, every: 1s }
actions:
  - id: now
    type: compose
    with: { value: "{{ trigger.input.scheduled_at }}" }
`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		runs, err := b.st.ListRuns(context.Background(), store.RunFilter{FlowID: f.ID, Status: store.RunSucceeded})
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) >= 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("schedule fired %d times in 10s", len(runs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestScopeTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := b.apply(t, `name: scope-timeout
trigger: { type: manual }
actions:
  - id: try
    type: scope
    timeout: 200ms
    actions:
      - id: wait
        type: delay
        with: { duration: 1h }
  - id: catch
    type: compose
    run_after: { try: [timed_out] }
    with: { value: "{{ steps.try.error.message }}" }
`)
	r := b.trigger(t, f, nil)
	got, steps := b.wait(t, r.ID)
	if got.Status != store.RunSucceeded || steps["try"].Status != flow.StatusTimedOut {
		t.Fatalf("run %s, try %s", got.Status, steps["try"].Status)
	}
	if msg, _ := output(t, steps["catch"]).(string); !strings.Contains(msg, "did not finish within 200ms") {
		t.Errorf("catch = %q", msg)
	}
}

// connect stores a connection for the bundle's owner.
func (b *bundle) connect(t *testing.T, name string, spec connection.Spec) store.Connection {
	t.Helper()
	sealed, err := connection.Seal(b.box, spec.Secret)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(spec.Config)
	c, err := b.st.CreateConnection(context.Background(), store.Connection{OwnerID: b.owner.ID, Name: name, Type: spec.Type, Config: cfg, Secret: sealed})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConnectionAuthAndRedaction(t *testing.T) {
	t.Parallel()
	const good, canary = "good-token-123", "CANARY-7f3a9c-secret"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+good {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
			// A careless API echoes the credential it refused.
			fmt.Fprintf(w, `{"error": "invalid_token", "got": %q}`, r.Header.Get("Authorization"))
			return
		}
		fmt.Fprint(w, `{"ok": true}`)
	}))
	defer srv.Close()
	b := setup(t)
	conn := b.connect(t, "directory", connection.Spec{Type: connection.TypeBearer, Secret: connection.Secret{Token: canary}})
	f := b.apply(t, `name: authed
trigger: { type: manual }
actions:
  - id: call
    type: http
    connection: directory
    with: { url: "`+srv.URL+`/me" }
`)
	r, steps := b.wait(t, b.trigger(t, f, nil).ID)
	if r.Status != store.RunFailed || steps["call"].Attempts != 1 {
		t.Fatalf("run %s, attempts %d: an auth failure must fail at once", r.Status, steps["call"].Attempts)
	}
	got, err := b.st.GetConnection(context.Background(), conn.ID)
	if err != nil || got.Health != store.HealthNeedsAttention || got.BrokenAt == nil {
		t.Fatalf("connection health %q broken_at %v: %v", got.Health, got.BrokenAt, err)
	}
	b.stop()
	raw, err := os.ReadFile(b.path)
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(b.path + "-wal")
	for _, form := range secret.Forms(canary) {
		if bytes.Contains(raw, []byte(form)) || bytes.Contains(wal, []byte(form)) {
			t.Fatalf("the database holds the secret as %q", form)
		}
	}
	if f := steps["call"].Fault; f.Class != "auth" || f.Connection != "directory" || f.Code == "" {
		t.Errorf("step fault %+v, want class auth, a code and connection directory", f)
	}
	if !strings.Contains(string(steps["call"].Error), secret.Mask) {
		t.Errorf("echoed credential not redacted in the step error: %s", steps["call"].Error)
	}
	b.start(t)

	sealed, _ := connection.Seal(b.box, connection.Secret{Token: good})
	if _, err := b.st.UpdateConnection(context.Background(), store.Connection{ID: conn.ID, Type: connection.TypeBearer, Config: []byte("{}"), Secret: sealed}); err != nil {
		t.Fatal(err)
	}
	failed := r
	j, err := b.eng.SubmitJob(context.Background(), b.owner.ID, store.JobResubmit, engine.JobParams{OwnerID: b.owner.ID, Connection: "directory"})
	if err != nil {
		t.Fatal(err)
	}
	for j.Status != store.JobSucceeded {
		time.Sleep(10 * time.Millisecond)
		if j, err = b.st.GetJob(context.Background(), j.ID); err != nil || j.Status == store.JobFailed {
			t.Fatalf("job: %+v %v", j, err)
		}
	}
	if j.Total != 1 || j.Done != 1 {
		t.Fatalf("job resubmitted %d of %d runs, want the 1 that failed on the connection", j.Done, j.Total)
	}
	runs, err := b.st.ListRuns(context.Background(), store.RunFilter{FlowID: f.ID})
	if err != nil || len(runs) != 2 || runs[0].ResubmittedFrom == nil || *runs[0].ResubmittedFrom != failed.ID {
		t.Fatalf("runs after the bulk resubmit: %+v %v", runs, err)
	}
	r, _ = b.wait(t, runs[0].ID)
	if r.Status != store.RunSucceeded {
		t.Fatalf("after the fix: %s %q", r.Status, r.Error)
	}
	if got, _ := b.st.GetConnection(context.Background(), conn.ID); got.Health != store.HealthOK {
		t.Errorf("health after success = %s", got.Health)
	}
}

func TestResubmit(t *testing.T) {
	t.Parallel()
	var failing atomic.Bool
	failing.Store(true)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/count" {
			calls.Add(1)
			return
		}
		if failing.Load() {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	b := setup(t)
	f := b.apply(t, `name: resub
trigger: { type: manual }
actions:
  - id: first
    type: http
    with: { url: "`+srv.URL+`/count" }
  - id: second
    type: http
    with: { url: "`+srv.URL+`/thing/{{ trigger.body.id }}" }
`)
	orig, _ := b.wait(t, b.trigger(t, f, map[string]any{"id": 7}).ID)
	if orig.Status != store.RunFailed || calls.Load() != 1 {
		t.Fatalf("original: %s, %d calls", orig.Status, calls.Load())
	}
	failing.Store(false)

	t.Run("from failed reuses succeeded steps", func(t *testing.T) {
		r, existing, err := b.eng.Resubmit(context.Background(), orig, engine.ResubmitOptions{From: engine.FromFailed})
		if err != nil || existing {
			t.Fatalf("resubmit: %v existing=%v", err, existing)
		}
		got, steps := b.wait(t, r.ID)
		if got.Status != store.RunSucceeded || *got.ResubmittedFrom != orig.ID {
			t.Fatalf("resubmitted run: %s from %v", got.Status, got.ResubmittedFrom)
		}
		if calls.Load() != 1 || steps["first"].Status != flow.StatusSucceeded {
			t.Errorf("first step ran again: %d calls", calls.Load())
		}
	})
	t.Run("bulk job resubmits failed runs once", func(t *testing.T) {
		failing.Store(true)
		var ids []int64
		for i := range 5 {
			r, _ := b.wait(t, b.trigger(t, f, map[string]any{"id": i}).ID)
			ids = append(ids, r.ID)
		}
		failing.Store(false)
		j, err := b.eng.SubmitJob(context.Background(), b.owner.ID, store.JobResubmit, engine.JobParams{OwnerID: b.owner.ID, IDs: ids, Status: store.RunFailed})
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			j, err = b.st.GetJob(context.Background(), j.ID)
			if err != nil {
				t.Fatal(err)
			}
			if j.Status == store.JobSucceeded {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %+v did not finish", j)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if j.Total != 5 || j.Done != 5 || j.Failed != 0 {
			t.Fatalf("job total %d done %d failed %d", j.Total, j.Done, j.Failed)
		}
		for _, id := range ids {
			runs, err := b.st.ListRuns(context.Background(), store.RunFilter{FlowID: f.ID, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, r := range runs {
				if r.ResubmittedFrom != nil && *r.ResubmittedFrom == id {
					n++
					if got, _ := b.wait(t, r.ID); got.Status != store.RunSucceeded {
						t.Errorf("resubmit of %d: %s", id, got.Status)
					}
				}
			}
			if n != 1 {
				t.Errorf("run %d resubmitted %d times", id, n)
			}
		}
	})
}

func TestResubmitDedupe(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := b.apply(t, `name: dedupe
trigger: { type: manual }
actions:
  - id: wait
    type: delay
    with: { duration: 1h }
`)
	orig := b.trigger(t, f, nil)
	var wg sync.WaitGroup
	got := make([]store.Run, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _, err := b.eng.Resubmit(context.Background(), orig, engine.ResubmitOptions{})
			if err != nil {
				t.Error(err)
			}
			got[i] = r
		}()
	}
	wg.Wait()
	for _, r := range got[1:] {
		if r.ID != got[0].ID {
			t.Fatalf("two resubmits at once made runs %d and %d", got[0].ID, r.ID)
		}
	}
	forced, existing, err := b.eng.Resubmit(context.Background(), orig, engine.ResubmitOptions{Force: true})
	if err != nil || existing || forced.ID == got[0].ID {
		t.Fatalf("forced resubmit: %v existing=%v id=%d", err, existing, forced.ID)
	}
}

func TestDiagnosis(t *testing.T) {
	t.Parallel()
	var limited, busy, locked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/slack":
			fmt.Fprint(w, `{"ok": false, "error": "invalid_auth"}`)
		case "/graphql-auth":
			fmt.Fprint(w, `{"data": null, "errors": [{"message": "You must be logged in", "extensions": {"code": "UNAUTHENTICATED"}}]}`)
		case "/graphql-partial":
			fmt.Fprint(w, `{"data": {"a": 1, "b": null}, "errors": [{"message": "b failed", "path": ["b"]}]}`)
		case "/graphql-busy":
			if busy.Add(1) == 1 {
				fmt.Fprint(w, `{"data": null, "errors": [{"message": "pool exhausted", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}`)
				return
			}
			fmt.Fprint(w, `{"data": {"a": 1}}`)
		case "/quota":
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"error": {"message": "You exceeded your current quota, please check your plan and billing details.", "code": "insufficient_quota"}}`)
		case "/locked":
			if locked.Add(1) == 1 {
				w.WriteHeader(http.StatusConflict)
				fmt.Fprint(w, `{"message": "Another update is in progress, try again."}`)
				return
			}
			fmt.Fprint(w, `{}`)
		case "/limited":
			if limited.Add(1) == 1 {
				w.Header().Set("Retry-After", "0")
				w.Header().Set("X-RateLimit-Remaining", "0")
				w.WriteHeader(http.StatusForbidden)
				fmt.Fprint(w, `{"message": "API rate limit exceeded for user ID 1."}`)
				return
			}
			fmt.Fprint(w, `{}`)
		case "/gone":
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message": "Not Found"}`)
		}
	}))
	defer srv.Close()
	b := setup(t)
	tests := []struct {
		path, status, class string
		attempts            int
	}{
		{"/slack", store.RunFailed, "auth", 1},
		{"/limited", store.RunSucceeded, "", 2},
		{"/gone", store.RunFailed, "config", 1},
		// A GraphQL error envelope in a 200 fails the step, classed by
		// its extension code; a partial answer succeeds; a server error
		// in a 200 is retried.
		{"/graphql-auth", store.RunFailed, "auth", 1},
		{"/graphql-partial", store.RunSucceeded, "", 1},
		{"/graphql-busy", store.RunSucceeded, "", 2},
		// A used-up quota is not retried; a conflict to try again is.
		{"/quota", store.RunFailed, "throttled", 1},
		{"/locked", store.RunSucceeded, "", 2},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			f := b.apply(t, `name: diag`+strings.ReplaceAll(tc.path, "/", "-")+`
trigger: { type: manual }
actions:
  - id: call
    type: http
    with: { url: "`+srv.URL+tc.path+`" }
    retry: { policy: fixed, count: 2, interval: 10ms }
`)
			r, steps := b.wait(t, b.trigger(t, f, nil).ID)
			if r.Status != tc.status || steps["call"].Attempts != tc.attempts {
				t.Fatalf("run %s after %d attempts, want %s after %d", r.Status, steps["call"].Attempts, tc.status, tc.attempts)
			}
			if tc.class == "" {
				// A step retried to success keeps no fault of its
				// failed attempt.
				if f := steps["call"].Fault; f != (store.StepFault{}) {
					t.Fatalf("fault %+v of a step that succeeded", f)
				}
				return
			}
			var serr engine.StepError
			if err := json.Unmarshal(steps["call"].Error, &serr); err != nil {
				t.Fatal(err)
			}
			if serr.Class != tc.class || serr.Diagnosis == nil || serr.Diagnosis.HowToFix == "" {
				t.Fatalf("class %q diagnosis %+v, want class %s", serr.Class, serr.Diagnosis, tc.class)
			}
			if f := steps["call"].Fault; f != (store.StepFault{Class: tc.class, Code: serr.Diagnosis.Code}) {
				t.Fatalf("fault %+v, want the class %s and code %s of the error", f, tc.class, serr.Diagnosis.Code)
			}
		})
	}
}

func TestEmailAction(t *testing.T) {
	t.Parallel()
	smtp := mailtest.NewServer(t)
	cfg, err := mail.ParseSMTPURL("smtp://" + smtp.Addr + "?from=flows@example.com&tls=none")
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, func(c *engine.Config) { c.Mailer, c.MailFrom = mail.NewSMTPSender(cfg), cfg.From })
	f := b.apply(t, `name: mailer
trigger: { type: manual }
actions:
  - id: welcome
    type: email
    with:
      to: "{{ trigger.body.to }}"
      subject: "Welcome {{ trigger.body.name }}"
      body: "Your manager is {{ trigger.body.manager }}."
`)
	// A display name with a comma is one address (flow.EmailAddresses,
	// the rule the checker uses too), not two broken ones.
	r, steps := b.wait(t, b.trigger(t, f, map[string]any{"to": `"Lovelace, Ada" <ada@example.com>`, "name": "Ada", "manager": "Grace"}).ID)
	if r.Status != store.RunSucceeded {
		t.Fatalf("run %s %q", r.Status, r.Error)
	}
	msgs, err := smtp.WaitMessages(1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m := msgs[0]; m.Subject != "Welcome Ada" || m.Text != "Your manager is Grace." || len(m.To) != 1 || !strings.Contains(m.To[0], "ada@example.com") {
		t.Errorf("message %q to %v: %q", m.Subject, m.To, m.Text)
	}
	if out, _ := output(t, steps["welcome"]).(map[string]any); out["message_id"] == "" {
		t.Errorf("output %v has no message id", out)
	}
}

func TestPayloadCap(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("x"), 4096))
	}))
	defer srv.Close()
	b := setup(t, func(c *engine.Config) { c.MaxPayload = 1024 })
	f := b.apply(t, `name: big
trigger: { type: manual }
actions:
  - id: fetch
    type: http
    with: { url: "`+srv.URL+`" }
`)
	r, steps := b.wait(t, b.trigger(t, f, nil).ID)
	if r.Status != store.RunFailed || !strings.Contains(string(steps["fetch"].Error), "larger than the 1.0 KiB cap") {
		t.Fatalf("run %s, error %s", r.Status, steps["fetch"].Error)
	}
}

func TestSMTPConnectionCannotReachMetadata(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.connect(t, "relay", connection.Spec{Type: connection.TypeSMTP, Config: connection.Config{Host: "169.254.169.254", Port: 25, TLS: "none"}})
	f := b.apply(t, `name: probe
trigger: { type: manual }
actions:
  - id: send
    type: email
    connection: relay
    with: { to: ops@example.com, subject: hi }
`)
	r, steps := b.wait(t, b.trigger(t, f, nil).ID)
	var serr engine.StepError
	json.Unmarshal(steps["send"].Error, &serr)
	if r.Status != store.RunFailed || steps["send"].Attempts != 1 || serr.Class != "config" || !strings.Contains(serr.Message, "refusing to connect to 169.254.169.254") {
		t.Fatalf("run %s after %d attempts: %+v", r.Status, steps["send"].Attempts, serr)
	}
}

// TestExpressionBudgetFailsRun checks that an expression that spends its
// budget fails its step with a flow diagnosis, is not retried by the step's
// retry policy, stops a foreach at the first iteration instead of spending
// the budget once per item, ends the run as failed, and that a restart does
// not evaluate it again.
func TestExpressionBudgetFailsRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	f := b.apply(t, `name: budget
trigger: { type: manual }
actions:
  - id: each
    type: foreach
    foreach: "{{ trigger.body.items }}"
    actions:
      - id: work
        type: http
        with: { url: "`+srv.URL+`/{{ count(1..1000, count(1..1000, true) > 0) }}" }
        retry: { policy: fixed, count: 3, interval: 10ms }
  - id: after
    type: compose
    run_after: { each: [failed] }
    with: { value: handled }
`)
	items := make([]any, 1000)
	r, steps := b.wait(t, b.trigger(t, f, map[string]any{"items": items}).ID)
	if r.Status != store.RunFailed || !strings.Contains(r.Error, "expression budget exceeded") {
		t.Fatalf("run %s %q, want failed on the expression budget", r.Status, r.Error)
	}
	work := steps["each[0].work"]
	var serr engine.StepError
	if err := json.Unmarshal(work.Error, &serr); err != nil {
		t.Fatal(err)
	}
	if work.Status != flow.StatusFailed || work.Attempts != 1 || serr.Class != "flow" || serr.Retryable || serr.Diagnosis == nil || serr.Diagnosis.Code != "expression.budget" {
		t.Fatalf("step %s after %d attempts, class %q retryable %v diagnosis %+v", work.Status, work.Attempts, serr.Class, serr.Retryable, serr.Diagnosis)
	}
	if _, ok := steps["each[1].work"]; ok {
		t.Error("the foreach went on after the budget was spent")
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("%d requests made", n)
	}
	if _, ok := steps["after"]; ok {
		t.Error("a handler ran after the budget was spent")
	}
	// A restart finds the run finished: nothing is evaluated again.
	b.stop()
	b.start(t)
	again, err := b.st.GetRun(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	list, err := b.st.ListSteps(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if again.Status != store.RunFailed || len(list) != len(steps) {
		t.Fatalf("after restart: run %s with %d steps, want failed with %d", again.Status, len(list), len(steps))
	}
}

// TestOAuth2TokenRedacted checks that an access token the engine fetched at
// run time is redacted like a stored secret: an API that echoes it, in a
// success and in a refusal, leaves it in no step, no health_error and no
// byte of the database.
func TestOAuth2TokenRedacted(t *testing.T) {
	t.Parallel()
	const token = "AT-CANARY-3e5f7a9b1c"
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token": %q, "expires_in": 3600}`, token)
	}))
	defer tokens.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error": "token %s expired"}`, got)
			return
		}
		fmt.Fprintf(w, `{"you": %q}`, got)
	}))
	defer api.Close()
	b := setup(t)
	conn := b.connect(t, "crm", connection.Spec{Type: connection.TypeOAuth2, Config: connection.Config{TokenURL: tokens.URL, ClientID: "sluice"}, Secret: connection.Secret{ClientSecret: "cs-7d2e4f6a8b"}})
	f := b.apply(t, `name: oauth
trigger: { type: manual }
actions:
  - id: ok
    type: http
    connection: crm
    with: { url: "`+api.URL+`/ok" }
  - id: fail
    type: http
    connection: crm
    with: { url: "`+api.URL+`/fail" }
`)
	r, steps := b.wait(t, b.trigger(t, f, nil).ID)
	if r.Status != store.RunFailed {
		t.Fatalf("run %s, want failed", r.Status)
	}
	for _, s := range []string{string(steps["ok"].Output), string(steps["fail"].Error), r.Error} {
		if strings.Contains(s, token) {
			t.Errorf("the fetched token is in %s", s)
		}
	}
	if !strings.Contains(string(steps["ok"].Output), secret.Mask) {
		t.Errorf("the echoed token is not masked in the output: %s", steps["ok"].Output)
	}
	got, err := b.st.GetConnection(context.Background(), conn.ID)
	if err != nil || got.Health != store.HealthNeedsAttention {
		t.Fatalf("connection health %q: %v", got.Health, err)
	}
	if strings.Contains(got.HealthError, token) {
		t.Errorf("health_error holds the token: %s", got.HealthError)
	}
	b.stop()
	for _, p := range []string{b.path, b.path + "-wal"} {
		raw, _ := os.ReadFile(p)
		for _, form := range secret.Forms(token) {
			if bytes.Contains(raw, []byte(form)) {
				t.Errorf("%s holds the token as %q", filepath.Base(p), form)
			}
		}
	}
	b.start(t)
}

// TestNonUTF8AnswerRedacted checks that a binary answer echoing the
// credentials is redacted before it is stored as base64: neither the
// password nor its Basic pair can be decoded from the step output.
func TestNonUTF8AnswerRedacted(t *testing.T) {
	t.Parallel()
	const password = "pw-CANARY-8c6a4e2f"
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		// Not UTF-8, with the header and an upper-cased password in it.
		fmt.Fprintf(w, "\xff\xfe\x00Authorization: %s\x00%s\x80", r.Header.Get("Authorization"), strings.ToUpper(password))
	}))
	defer api.Close()
	b := setup(t)
	b.connect(t, "files", connection.Spec{Type: connection.TypeBasic, Config: connection.Config{Username: "ann"}, Secret: connection.Secret{Password: password}})
	f := b.apply(t, `name: binary
trigger: { type: manual }
actions:
  - id: get
    type: http
    connection: files
    with: { url: "`+api.URL+`/blob" }
`)
	r, steps := b.wait(t, b.trigger(t, f, nil).ID)
	if r.Status != store.RunSucceeded {
		t.Fatalf("run %s: %s", r.Status, r.Error)
	}
	var out struct {
		Body struct {
			Base64 string `json:"base64"`
		} `json:"body"`
	}
	if err := json.Unmarshal(steps["get"].Output, &out); err != nil || out.Body.Base64 == "" {
		t.Fatalf("output %s: %v", steps["get"].Output, err)
	}
	body, err := base64.StdEncoding.DecodeString(out.Body.Base64)
	if err != nil {
		t.Fatal(err)
	}
	pair := base64.StdEncoding.EncodeToString([]byte("ann:" + password))
	for _, leak := range []string{password, strings.ToUpper(password), pair} {
		if bytes.Contains(body, []byte(leak)) {
			t.Errorf("the stored body holds %q: %q", leak, body)
		}
	}
	if c := bytes.Count(body, []byte(secret.Mask)); c != 2 {
		t.Errorf("the stored body has %d masks, want 2: %q", c, body)
	}
}
