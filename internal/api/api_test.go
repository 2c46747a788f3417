package api

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/sluice/sluice/internal/auth"
	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/netguard"
	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/sqlite"
)

// The engine must satisfy Runner; this fails to compile if it drifts.
var _ Runner = (*engine.Engine)(nil)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recordingRunner is the real engine, not running: Start and Resubmit
// commit queued runs that nothing executes, which is all the API decides
// (who may start, cancel or resubmit what; the engine's work is tested in
// package engine). It records the last resubmit's options for assertions.
type recordingRunner struct {
	*engine.Engine
	mu           sync.Mutex
	lastResubmit engine.ResubmitOptions
}

func newRecordingRunner(t *testing.T, st store.Store, logger *slog.Logger) *recordingRunner {
	t.Helper()
	eng, err := engine.New(engine.Config{Store: st, Logger: logger, HTTPClient: netguard.NewClient(netguard.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	return &recordingRunner{Engine: eng}
}

func (f *recordingRunner) Resubmit(ctx context.Context, orig store.Run, opt engine.ResubmitOptions) (store.Run, bool, error) {
	f.mu.Lock()
	f.lastResubmit = opt
	f.mu.Unlock()
	return f.Engine.Resubmit(ctx, orig, opt)
}

func (f *recordingRunner) lastResubmitOptions() engine.ResubmitOptions {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastResubmit
}

// Passwords of the users setup creates.
const (
	adminPassword = "admin-password-1"
	makerPassword = "maker-password-1"
)

// flowSource returns a valid definition with that name and trigger type.
func flowSource(name, trigger string) string {
	return fmt.Sprintf(`name: %s
trigger:
  type: %s
actions:
  - id: greet
    type: compose
    with:
      value: "hello {{ trigger.body.who }}"
`, name, trigger)
}

// bundle is what setup gives a test: a handler over a real SQLite store,
// an admin and two makers (A and B) with tokens, and for each maker a
// webhook flow with one run.
type bundle struct {
	store   *sqlite.Store
	runner  *recordingRunner
	handler http.Handler
	users   map[string]store.User // "admin", "a", "b"
	tokens  map[string]string     // plain tokens by the same keys
	flows   map[string]store.Flow // "a", "b"
	runs    map[string]store.Run  // "a", "b"
}

func setup(t *testing.T) *bundle {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sluice.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	runner := newRecordingRunner(t, st, logger)
	b := &bundle{
		store:   st,
		runner:  runner,
		handler: New(Config{Store: st, Runner: runner, Logger: logger, BaseURL: "https://sluice.example.com"}),
		users:   map[string]store.User{},
		tokens:  map[string]string{},
		flows:   map[string]store.Flow{},
		runs:    map[string]store.Run{},
	}
	adminHash, err := auth.HashPassword(adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	makerHash, err := auth.HashPassword(makerPassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []store.User{
		{Email: "admin@example.com", Name: "Admin", PasswordHash: adminHash, Role: store.RoleAdmin},
		{Email: "a@example.com", Name: "Ann", PasswordHash: makerHash, Role: store.RoleMaker},
		{Email: "b@example.com", Name: "Bob", PasswordHash: makerHash, Role: store.RoleMaker},
	} {
		key := strings.TrimSuffix(u.Email, "@example.com")
		created, err := st.CreateUser(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		plain, hash, err := auth.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateToken(ctx, store.Token{UserID: created.ID, Name: "test", Hash: hash}); err != nil {
			t.Fatal(err)
		}
		b.users[key], b.tokens[key] = created, plain
	}
	for _, key := range []string{"a", "b"} {
		var f flowView
		b.doJSON(t, "POST", "/api/v1/flows", key, fmt.Sprintf(`{"source": %q}`, flowSource("hook-"+key, "webhook")), http.StatusCreated, &f)
		var r runView
		b.doJSON(t, "POST", fmt.Sprintf("/api/v1/flows/%d/trigger", f.ID), key, `{"input": {"who": "`+key+`"}}`, http.StatusCreated, &r)
		b.flows[key], err = st.GetFlow(ctx, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		b.runs[key], err = st.GetRun(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// do sends a request as the user with that key ("" for none; any other
// string not a user key is sent as the token itself).
func (b *bundle) do(t *testing.T, method, path, who, body string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if who != "" {
		tok, ok := b.tokens[who]
		if !ok {
			tok = who
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := exchange(t, b.handler, req)
	b.checkSecrets(t, who, rec.Body.String())
	return rec
}

// doJSON is do that expects the status and decodes the answer into out.
func (b *bundle) doJSON(t *testing.T, method, path, who, body string, status int, out any) {
	t.Helper()
	rec := b.do(t, method, path, who, body)
	if rec.Code != status {
		t.Fatalf("%s %s: status %d, want %d; body: %s", method, path, rec.Code, status, rec.Body)
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, rec.Body, err)
		}
	}
}

// checkSecrets fails the test if an answer holds a secret: a password
// hash, a token hash, another user's token, or a webhook token anywhere
// but in the webhook_url of a flow the caller owns.
func (b *bundle) checkSecrets(t *testing.T, who, body string) {
	t.Helper()
	if strings.Contains(body, "$argon2id") {
		t.Errorf("answer holds a password hash: %s", body)
	}
	for key, plain := range b.tokens {
		h := auth.HashToken(plain)
		for _, enc := range []string{hex.EncodeToString(h), base64.StdEncoding.EncodeToString(h), base64.RawURLEncoding.EncodeToString(h)} {
			if strings.Contains(body, enc) {
				t.Errorf("answer holds the hash of %s's token: %s", key, body)
			}
		}
		if strings.Contains(body, plain) {
			t.Errorf("answer holds %s's token: %s", key, body)
		}
	}
	for key, f := range b.flows {
		if f.WebhookToken == "" {
			continue
		}
		n := strings.Count(body, f.WebhookToken)
		if b.users[who].ID != f.OwnerID && n > 0 {
			t.Errorf("answer to %q holds %s's webhook token: %s", who, key, body)
		}
		if n != strings.Count(body, "/hooks/"+f.WebhookToken+`"`) {
			t.Errorf("answer holds a webhook token outside webhook_url: %s", body)
		}
	}
}

// scenario is one request and what its answer must hold.
type scenario struct {
	name   string
	method string
	path   string
	who    string // a bundle user key, "" for no token, or a literal token
	body   string
	status int
	// contains and absent are substrings the body must and must not hold.
	contains []string
	absent   []string
}

func (sc scenario) run(t *testing.T, b *bundle) {
	t.Helper()
	sc.check(t, b.do(t, sc.method, sc.path, sc.who, sc.body))
}

// check checks an answer against the scenario.
func (sc scenario) check(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code != sc.status {
		t.Fatalf("%s %s as %q: status %d, want %d; body: %s", sc.method, sc.path, sc.who, rec.Code, sc.status, rec.Body)
	}
	body := rec.Body.String()
	for _, s := range sc.contains {
		if !strings.Contains(body, s) {
			t.Errorf("body lacks %q: %s", s, body)
		}
	}
	for _, s := range sc.absent {
		if strings.Contains(body, s) {
			t.Errorf("body holds %q: %s", s, body)
		}
	}
	if rec.Code != http.StatusNoContent && !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Errorf("Content-Type %q, want application/json", rec.Header().Get("Content-Type"))
	}
	if rec.Code == http.StatusUnauthorized && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without WWW-Authenticate: Bearer")
	}
}

// TestReadOnly runs scenarios that change nothing the others depend on, in
// parallel against one bundle.
func TestReadOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	fa, fb := b.flows["a"], b.flows["b"]
	ra, rb := b.runs["a"], b.runs["b"]
	scenarios := []scenario{
		// Authentication.
		{name: "no token", method: "GET", path: "/api/v1/me", status: 401, contains: []string{`"unauthorized"`}},
		{name: "bad token", method: "GET", path: "/api/v1/me", who: "slc_not-a-token", status: 401, contains: []string{`"unauthorized"`}},
		{name: "no token on flows", method: "GET", path: "/api/v1/flows", status: 401},
		{name: "no token on admin route", method: "GET", path: "/api/v1/users", status: 401},
		{name: "me", method: "GET", path: "/api/v1/me", who: "a", status: 200, contains: []string{`"email":"a@example.com"`, `"role":"maker"`}, absent: []string{"password"}},
		{name: "openapi is public", method: "GET", path: "/api/v1/openapi.json", status: 200, contains: []string{`"openapi": "3.`}},

		// Users are admin-only.
		{name: "maker lists users", method: "GET", path: "/api/v1/users", who: "a", status: 403, contains: []string{`"forbidden"`}},
		{name: "maker creates user", method: "POST", path: "/api/v1/users", who: "a", body: `{"email":"x@example.com","name":"X","password":"longenough","role":"admin"}`, status: 403},
		{name: "admin lists users", method: "GET", path: "/api/v1/users", who: "admin", status: 200, contains: []string{"a@example.com", "b@example.com", "admin@example.com"}, absent: []string{"password"}},

		// Flows: a maker sees only their own; another's answers 404.
		{name: "maker lists own flows", method: "GET", path: "/api/v1/flows", who: "a", status: 200, contains: []string{`"hook-a"`, "https://sluice.example.com/hooks/"}, absent: []string{`"hook-b"`}},
		{name: "admin lists every flow", method: "GET", path: "/api/v1/flows", who: "admin", status: 200, contains: []string{`"hook-a"`, `"hook-b"`, `"webhook_url":null`}},
		{name: "owner shows flow by name", method: "GET", path: "/api/v1/flows/hook-a", who: "a", status: 200, contains: []string{`"source":"name: hook-a`, `"definition":{`, `"run_count":1`, `"webhook_url":"https://sluice.example.com/hooks/`}},
		{name: "owner shows flow by id", method: "GET", path: fmt.Sprintf("/api/v1/flows/%d", fa.ID), who: "a", status: 200, contains: []string{`"hook-a"`}},
		{name: "maker shows another's flow by id", method: "GET", path: fmt.Sprintf("/api/v1/flows/%d", fb.ID), who: "a", status: 404, contains: []string{`"not_found"`}, absent: []string{"hook-b"}},
		{name: "maker shows another's flow by name", method: "GET", path: "/api/v1/flows/hook-b", who: "a", status: 404},
		{name: "admin shows another's flow", method: "GET", path: fmt.Sprintf("/api/v1/flows/%d", fb.ID), who: "admin", status: 200, contains: []string{`"hook-b"`, `"webhook_url":null`}},
		{name: "maker lists another's versions", method: "GET", path: fmt.Sprintf("/api/v1/flows/%d/versions", fb.ID), who: "a", status: 404},
		{name: "owner lists versions", method: "GET", path: "/api/v1/flows/hook-a/versions", who: "a", status: 200, contains: []string{`"version":1`, fmt.Sprintf(`"created_by":%d`, b.users["a"].ID)}},
		{name: "owner shows version", method: "GET", path: "/api/v1/flows/hook-a/versions/1", who: "a", status: 200, contains: []string{`"version":1`, `"source":"name: hook-a`}},
		{name: "missing version", method: "GET", path: "/api/v1/flows/hook-a/versions/9", who: "a", status: 404},
		{name: "bad version", method: "GET", path: "/api/v1/flows/hook-a/versions/x", who: "a", status: 400},
		{name: "maker triggers another's flow", method: "POST", path: fmt.Sprintf("/api/v1/flows/%d/trigger", fb.ID), who: "a", status: 404},
		{name: "maker disables another's flow", method: "POST", path: fmt.Sprintf("/api/v1/flows/%d/disable", fb.ID), who: "a", status: 404},
		{name: "maker deletes another's flow", method: "DELETE", path: fmt.Sprintf("/api/v1/flows/%d", fb.ID), who: "a", status: 404},

		// Runs.
		{name: "maker lists own runs", method: "GET", path: "/api/v1/runs", who: "a", status: 200, contains: []string{fmt.Sprintf(`"id":%d`, ra.ID), `"next_before":null`}, absent: []string{`"hook-b"`}},
		{name: "admin lists every run", method: "GET", path: "/api/v1/runs", who: "admin", status: 200, contains: []string{`"hook-a"`, `"hook-b"`}},
		{name: "runs by flow name", method: "GET", path: "/api/v1/runs?flow=hook-a&status=queued&limit=1", who: "a", status: 200, contains: []string{`"hook-a"`, fmt.Sprintf(`"next_before":%d`, ra.ID)}},
		{name: "runs of another's flow", method: "GET", path: fmt.Sprintf("/api/v1/runs?flow=%d", fb.ID), who: "a", status: 404},
		{name: "runs bad status", method: "GET", path: "/api/v1/runs?status=done", who: "a", status: 400, contains: []string{`"bad_request"`, "done"}},
		{name: "runs bad limit", method: "GET", path: "/api/v1/runs?limit=0", who: "a", status: 400, contains: []string{"limit"}},
		{name: "runs limit too big", method: "GET", path: "/api/v1/runs?limit=1001", who: "a", status: 400},
		{name: "runs bad before", method: "GET", path: "/api/v1/runs?before=x", who: "a", status: 400},
		{name: "runs before cursor", method: "GET", path: fmt.Sprintf("/api/v1/runs?before=%d", ra.ID), who: "a", status: 200, contains: []string{`"runs":[]`}},
		{name: "owner shows run", method: "GET", path: fmt.Sprintf("/api/v1/runs/%d", ra.ID), who: "a", status: 200, contains: []string{`"steps":[]`, `"who":"a"`, `"trigger_type":"manual"`, `"status":"queued"`}},
		{name: "maker shows another's run", method: "GET", path: fmt.Sprintf("/api/v1/runs/%d", rb.ID), who: "a", status: 404, absent: []string{"hook-b"}},
		{name: "admin shows another's run", method: "GET", path: fmt.Sprintf("/api/v1/runs/%d", rb.ID), who: "admin", status: 200, contains: []string{`"hook-b"`}},
		{name: "maker cancels another's run", method: "POST", path: fmt.Sprintf("/api/v1/runs/%d/cancel", rb.ID), who: "a", status: 404},
		{name: "maker resubmits another's run", method: "POST", path: fmt.Sprintf("/api/v1/runs/%d/resubmit", rb.ID), who: "a", status: 404},
		{name: "missing run", method: "GET", path: "/api/v1/runs/999999", who: "admin", status: 404},
		{name: "bad run id", method: "GET", path: "/api/v1/runs/abc", who: "a", status: 400},

		// JSON bodies.
		{name: "unknown field", method: "POST", path: "/api/v1/flows/check", who: "a", body: `{"source": "x", "sorce": "y"}`, status: 400, contains: []string{`"bad_request"`, "sorce"}},
		{name: "bad JSON", method: "POST", path: "/api/v1/flows/check", who: "a", body: `{"source": `, status: 400, contains: []string{`"bad_request"`}},
		{name: "syntax error offset", method: "POST", path: "/api/v1/flows/check", who: "a", body: `{"source" "x"}`, status: 400, contains: []string{"offset 11"}},
		{name: "wrong type", method: "POST", path: "/api/v1/flows/check", who: "a", body: `{"source": 42}`, status: 400, contains: []string{`field \"source\" must be a string`}},
		{name: "not an object", method: "POST", path: "/api/v1/flows/check", who: "a", body: `[1]`, status: 400},
		{name: "two values", method: "POST", path: "/api/v1/flows/check", who: "a", body: `{"source": "x"} {}`, status: 400},
		{name: "empty body", method: "POST", path: "/api/v1/tokens", who: "a", status: 400, contains: []string{"empty"}},
		{name: "too large", method: "POST", path: "/api/v1/flows/check", who: "a", body: `{"source": "` + strings.Repeat("x", DefaultMaxBody) + `"}`, status: 413, contains: []string{`"too_large"`}},
		{name: "unknown trigger field", method: "POST", path: "/api/v1/flows/hook-a/trigger", who: "a", body: `{"inputs": 1}`, status: 400, contains: []string{"inputs"}},

		// Flow checking.
		{name: "check too deep", method: "POST", path: "/api/v1/flows/check", who: "a", body: fmt.Sprintf(`{"source": %q}`, strings.Repeat("- ", 500_000)), status: 200,
			contains: []string{`"ok":false`, `"message":"mappings and lists are nested deeper than 64 levels"`, `"line":1,"column":129`}},
		{name: "save too deep", method: "POST", path: "/api/v1/flows", who: "a", body: fmt.Sprintf(`{"source": %q}`, "name: deep\nactions: "+strings.Repeat("[", 100_000)), status: 422,
			contains: []string{`"invalid_flow"`, `"message":"mappings and lists are nested deeper than 64 levels"`, `"line":2,"column":73`}},
		{name: "check alias bomb", method: "POST", path: "/api/v1/flows/check", who: "a", body: fmt.Sprintf(`{"source": %q}`, aliasBomb(200<<10, 2000)), status: 200,
			contains: []string{`"ok":false`, "the definition expands to more than 4194304 bytes (aliases included)"}},
		{name: "save alias bomb", method: "POST", path: "/api/v1/flows", who: "a", body: fmt.Sprintf(`{"source": %q}`, aliasBomb(200<<10, 2000)), status: 422,
			contains: []string{`"invalid_flow"`, "the definition expands to more than 4194304 bytes (aliases included)"}},
		{name: "trigger with too deep an input", method: "POST", path: fmt.Sprintf("/api/v1/flows/%d/trigger", fa.ID), who: "a", body: `{"input": ` + strings.Repeat("[", 10_000) + strings.Repeat("]", 10_000) + `}`, status: 400,
			contains: []string{`"bad_request"`, "request body: mappings and lists are nested deeper than 64 levels (line 1, column 74)"}},
		{name: "check ok", method: "POST", path: "/api/v1/flows/check", who: "a", body: fmt.Sprintf(`{"source": %q}`, flowSource("x", "manual")), status: 200, contains: []string{`"ok":true`, `"problems":[]`}},
		{name: "check problems", method: "POST", path: "/api/v1/flows/check", who: "a", body: `{"source": "name: x\ntrigger: {type: sometimes}\nactions: []\n"}`, status: 200, contains: []string{`"ok":false`, `"path":"trigger.type"`}},

		// Routing.
		{name: "outside the API", method: "GET", path: "/api/v2/flows", status: 404, contains: []string{`"not_found"`}},
		{name: "unknown route", method: "GET", path: "/api/v1/nope", who: "a", status: 404, contains: []string{`"not_found"`}},
		{name: "wrong method", method: "PUT", path: "/api/v1/me", who: "a", status: 405, contains: []string{`"method_not_allowed"`}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.run(t, b)
		})
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	scenarios := []scenario{
		{name: "ok", method: "POST", path: "/api/v1/login", body: `{"email": "a@example.com", "password": "` + makerPassword + `"}`, status: 201, contains: []string{`"token":"slc_`, `"email":"a@example.com"`}},
		{name: "email case-insensitive", method: "POST", path: "/api/v1/login", body: `{"email": "A@Example.com", "password": "` + makerPassword + `", "token_name": "laptop"}`, status: 201},
		{name: "wrong password", method: "POST", path: "/api/v1/login", body: `{"email": "a@example.com", "password": "nope-nope-nope"}`, status: 401, contains: []string{`"invalid_credentials"`, "wrong email or password"}},
		{name: "unknown email", method: "POST", path: "/api/v1/login", body: `{"email": "nobody@example.com", "password": "nope-nope-nope"}`, status: 401, contains: []string{`"invalid_credentials"`, "wrong email or password"}},
		{name: "missing password", method: "POST", path: "/api/v1/login", body: `{"email": "a@example.com"}`, status: 400},
		{name: "unknown field", method: "POST", path: "/api/v1/login", body: `{"email": "a@example.com", "password": "x", "remember": true}`, status: 400, contains: []string{"remember"}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, b) })
	}

	// The token login answers works, and is listed under its name.
	var got struct {
		Token string   `json:"token"`
		User  userView `json:"user"`
	}
	b.doJSON(t, "POST", "/api/v1/login", "", `{"email": "b@example.com", "password": "`+makerPassword+`"}`, 201, &got)
	var me userView
	b.doJSON(t, "GET", "/api/v1/me", got.Token, "", 200, &me)
	if me.ID != b.users["b"].ID {
		t.Fatalf("login token is for user %d, want %d", me.ID, b.users["b"].ID)
	}
	scenario{name: "token named cli", method: "GET", path: "/api/v1/tokens", who: "b", status: 200, contains: []string{`"name":"cli"`}}.run(t, b)
}

func TestUsers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, sc := range []scenario{
		{name: "create", method: "POST", path: "/api/v1/users", who: "admin", body: `{"email":"c@example.com","name":"Cy","password":"long-enough","role":"maker"}`, status: 201, contains: []string{`"email":"c@example.com"`, `"role":"maker"`}, absent: []string{"long-enough", "password"}},
		{name: "duplicate email", method: "POST", path: "/api/v1/users", who: "admin", body: `{"email":"C@example.com","name":"Cy","password":"long-enough","role":"maker"}`, status: 409, contains: []string{`"conflict"`}},
		{name: "short password", method: "POST", path: "/api/v1/users", who: "admin", body: `{"email":"d@example.com","name":"D","password":"short","role":"maker"}`, status: 400, contains: []string{"at least 8"}},
		{name: "bad role", method: "POST", path: "/api/v1/users", who: "admin", body: `{"email":"d@example.com","name":"D","password":"long-enough","role":"owner"}`, status: 400, contains: []string{"role"}},
		{name: "bad email", method: "POST", path: "/api/v1/users", who: "admin", body: `{"email":"not-an-email","name":"D","password":"long-enough","role":"maker"}`, status: 400, contains: []string{"email"}},
		{name: "new user signs in", method: "POST", path: "/api/v1/login", body: `{"email":"c@example.com","password":"long-enough"}`, status: 201},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, b) })
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var created struct {
		Token string `json:"token"`
		ID    int64  `json:"id"`
		Name  string `json:"name"`
	}
	b.doJSON(t, "POST", "/api/v1/tokens", "a", `{"name": "ci"}`, 201, &created)
	if !strings.HasPrefix(created.Token, "slc_") || created.Name != "ci" || created.ID == 0 {
		t.Fatalf("created token = %+v", created)
	}
	for _, sc := range []scenario{
		{name: "new token works", method: "GET", path: "/api/v1/me", who: created.Token, status: 200, contains: []string{"a@example.com"}},
		{name: "list", method: "GET", path: "/api/v1/tokens", who: "a", status: 200, contains: []string{`"name":"ci"`, `"name":"test"`, `"last_used_at"`}, absent: []string{created.Token, "slc_", "hash"}},
		{name: "list is per user", method: "GET", path: "/api/v1/tokens", who: "b", status: 200, absent: []string{`"ci"`}},
		{name: "name required", method: "POST", path: "/api/v1/tokens", who: "a", body: `{"name": " "}`, status: 400},
		{name: "another's token", method: "DELETE", path: fmt.Sprintf("/api/v1/tokens/%d", created.ID), who: "b", status: 404},
		{name: "delete", method: "DELETE", path: fmt.Sprintf("/api/v1/tokens/%d", created.ID), who: "a", status: 204},
		{name: "deleted token fails", method: "GET", path: "/api/v1/me", who: created.Token, status: 401},
		{name: "delete again", method: "DELETE", path: fmt.Sprintf("/api/v1/tokens/%d", created.ID), who: "a", status: 404},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, b) })
	}
}

func TestSaveFlow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	src := func(s string) string { return fmt.Sprintf(`{"source": %q}`, s) }
	bad := "name: broken\ntrigger:\n  type: sometimes\nactions:\n  - id: x\n    type: teleport\n"

	for _, sc := range []scenario{
		{name: "all problems", method: "POST", path: "/api/v1/flows", who: "a", body: src(bad), status: 422, contains: []string{`"invalid_flow"`, `"details":[`, `"path":"trigger.type"`, `"path":"actions[0].type"`, `"line":`}},
		{name: "empty source", method: "POST", path: "/api/v1/flows", who: "a", body: `{"source": ""}`, status: 422, contains: []string{`"invalid_flow"`}},
		{name: "create", method: "POST", path: "/api/v1/flows", who: "a", body: src(flowSource("daily", "manual")), status: 201, contains: []string{`"name":"daily"`, `"version":1`, `"webhook_url":null`, `"trigger_type":"manual"`}},
		{name: "second save is a new version", method: "POST", path: "/api/v1/flows", who: "a", body: src(flowSource("daily", "webhook")), status: 200, contains: []string{`"name":"daily"`, `"version":2`, `"trigger_type":"webhook"`, "/hooks/"}},
		{name: "another maker's same name is a new flow", method: "POST", path: "/api/v1/flows", who: "b", body: src(flowSource("daily", "manual")), status: 201, contains: []string{`"version":1`}},
		{name: "versions", method: "GET", path: "/api/v1/flows/daily/versions", who: "a", status: 200, contains: []string{`"version":2`, `"version":1`}},
		{name: "old version kept", method: "GET", path: "/api/v1/flows/daily/versions/1", who: "a", status: 200, contains: []string{`type: manual`}},
		{name: "schedule", method: "POST", path: "/api/v1/flows", who: "a", body: src("name: tick\ntrigger:\n  type: schedule\n  every: 5m\nactions:\n  - id: c\n    type: compose\n    with: {value: 1}\n"), status: 201, contains: []string{`"trigger_type":"schedule"`}},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, b) })
	}

	// Problems come in the order the checker found them, all of them.
	rec := b.do(t, "POST", "/api/v1/flows", "a", src(bad))
	var e struct {
		Error struct {
			Details []map[string]any `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatal(err)
	}
	if len(e.Error.Details) < 2 {
		t.Fatalf("want every problem, got %v", e.Error.Details)
	}

	// The schedule flow has its first firing time.
	if _, err := b.store.NextScheduleAt(context.Background()); err != nil {
		t.Fatalf("schedule flow has no next firing time: %v", err)
	}
}

func TestFlowLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	fa, fb := b.flows["a"], b.flows["b"]
	for _, sc := range []scenario{
		{name: "disable", method: "POST", path: "/api/v1/flows/hook-a/disable", who: "a", status: 200, contains: []string{`"enabled":false`}},
		{name: "trigger disabled", method: "POST", path: "/api/v1/flows/hook-a/trigger", who: "a", status: 409, contains: []string{`"flow_disabled"`}},
		{name: "resubmit on disabled", method: "POST", path: fmt.Sprintf("/api/v1/runs/%d/resubmit", b.runs["a"].ID), who: "a", status: 409, contains: []string{`"flow_disabled"`}},
		{name: "enable", method: "POST", path: "/api/v1/flows/hook-a/enable", who: "a", status: 200, contains: []string{`"enabled":true`}},
		{name: "trigger without body", method: "POST", path: "/api/v1/flows/hook-a/trigger", who: "a", status: 201, contains: []string{`"trigger_type":"manual"`, `"flow_name":"hook-a"`}},
		{name: "admin triggers another's flow", method: "POST", path: fmt.Sprintf("/api/v1/flows/%d/trigger", fb.ID), who: "admin", body: `{"input": [1, 2]}`, status: 201, contains: []string{`"flow_name":"hook-b"`, `"input":[1,2]`}},
		{name: "admin disables another's flow", method: "POST", path: fmt.Sprintf("/api/v1/flows/%d/disable", fb.ID), who: "admin", status: 200, contains: []string{`"enabled":false`}},
		{name: "admin deletes another's flow", method: "DELETE", path: fmt.Sprintf("/api/v1/flows/%d", fb.ID), who: "admin", status: 204},
		{name: "deleted flow is gone", method: "GET", path: fmt.Sprintf("/api/v1/flows/%d", fb.ID), who: "b", status: 404},
		{name: "owner deletes", method: "DELETE", path: fmt.Sprintf("/api/v1/flows/%d", fa.ID), who: "a", status: 204},
		{name: "owner's flow is gone", method: "GET", path: "/api/v1/flows/hook-a", who: "a", status: 404},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, b) })
	}
}

func TestRunActions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ra, rb := b.runs["a"], b.runs["b"]

	// Resubmit: same input, latest version, linked to the original.
	var re runView
	b.doJSON(t, "POST", fmt.Sprintf("/api/v1/runs/%d/resubmit", ra.ID), "a", "", 201, &re)
	if re.ResubmittedFrom == nil || *re.ResubmittedFrom != ra.ID || re.TriggerType != "resubmit" {
		t.Fatalf("resubmitted run = %+v", re)
	}
	if string(re.Input) != string(ra.Input) {
		t.Fatalf("resubmitted input %s, want %s", re.Input, ra.Input)
	}
	if opt := b.runner.lastResubmitOptions(); opt != (engine.ResubmitOptions{}) {
		t.Fatalf("runner got options %+v, want the defaults", opt)
	}

	for _, sc := range []scenario{
		{name: "cancel", method: "POST", path: fmt.Sprintf("/api/v1/runs/%d/cancel", ra.ID), who: "a", status: 200, contains: []string{`"status":"cancelled"`}},
		{name: "cancel again is unchanged", method: "POST", path: fmt.Sprintf("/api/v1/runs/%d/cancel", ra.ID), who: "a", status: 200, contains: []string{`"status":"cancelled"`}},
		{name: "maker cannot cancel another's", method: "POST", path: fmt.Sprintf("/api/v1/runs/%d/cancel", rb.ID), who: "a", status: 404},
		{name: "admin cancels another's", method: "POST", path: fmt.Sprintf("/api/v1/runs/%d/cancel", rb.ID), who: "admin", status: 200, contains: []string{`"status":"cancelled"`}},
		{name: "admin resubmits another's", method: "POST", path: fmt.Sprintf("/api/v1/runs/%d/resubmit", rb.ID), who: "admin", status: 201, contains: []string{fmt.Sprintf(`"resubmitted_from":%d`, rb.ID), `"flow_name":"hook-b"`}},
		{name: "filter by status", method: "GET", path: "/api/v1/runs?status=cancelled", who: "a", status: 200, contains: []string{fmt.Sprintf(`"id":%d`, ra.ID)}, absent: []string{fmt.Sprintf(`"id":%d,`, re.ID)}},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, b) })
	}
}

// TestInternalError checks that an unexpected error is a 500 with a
// request id and without its text.
func TestInternalError(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.store.Close() // every store call now fails
	scenario{name: "closed store", method: "GET", path: "/api/v1/me", who: "a", status: 500,
		contains: []string{`"internal"`, `"request_id":"`}, absent: []string{"closed", "sql"}}.run(t, b)
}

// panicRunner panics on every call, as a bug in the engine would.
type panicRunner struct{}

func (panicRunner) Start(context.Context, engine.StartRequest) (store.Run, error) {
	panic("engine bug: secret internal detail")
}

func (panicRunner) Cancel(context.Context, int64) (store.Run, error) {
	panic("engine bug: secret internal detail")
}

func (panicRunner) Resubmit(context.Context, store.Run, engine.ResubmitOptions) (store.Run, bool, error) {
	panic("engine bug: secret internal detail")
}

func (panicRunner) StartWebhook(context.Context, store.Flow, engine.Trigger) (store.Run, *engine.Pending, error) {
	panic("engine bug: secret internal detail")
}

func (panicRunner) SubmitJob(context.Context, int64, string, engine.JobParams) (store.Job, error) {
	panic("engine bug: secret internal detail")
}

// TestPanic checks that a panicking handler answers a 500 without the
// panic's text instead of dropping the connection.
func TestPanic(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.handler = New(Config{Store: b.store, Runner: panicRunner{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	scenario{name: "panic", method: "POST", path: "/api/v1/flows/hook-a/trigger", who: "a", status: 500,
		contains: []string{`"internal"`}, absent: []string{"secret", "engine bug"}}.run(t, b)
}

// aliasBomb is a flow whose compose value holds n aliases of a string of
// size bytes: small as text, n*size bytes once expanded.
func aliasBomb(size, n int) string {
	return "name: bomb\ntrigger: {type: manual}\nactions:\n  - id: a\n    type: compose\n    with:\n      value:\n        t: &big " +
		strings.Repeat("x", size) + "\n        l: [" + strings.Repeat("*big, ", n) + "x]\n"
}

// TestHostileFlowsRefusedEarly proves through the API that deep and
// aliased definitions are refused before they cost memory: the whole
// request allocates a few megabytes, where the YAML parser took 2.5 GB for
// 40,000 levels and the alias bomb expanded to 400 MB.
func TestHostileFlowsRefusedEarly(t *testing.T) {
	b := setup(t)
	for name, src := range map[string]string{
		"500,000 levels": strings.Repeat("- ", 500_000),
		"alias bomb":     aliasBomb(200<<10, 2000),
	} {
		for _, path := range []string{"/api/v1/flows/check", "/api/v1/flows"} {
			t.Run(name+" "+path, func(t *testing.T) {
				body := fmt.Sprintf(`{"source": %q}`, src)
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				rec := b.do(t, "POST", path, "a", body)
				runtime.ReadMemStats(&after)
				if rec.Code != http.StatusOK && rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `"line":`) {
					t.Fatalf("status %d: %.300s", rec.Code, rec.Body)
				}
				n := after.TotalAlloc - before.TotalAlloc
				t.Logf("%d bytes of body: %d bytes allocated", len(body), n)
				if n > 32<<20 {
					t.Errorf("request allocated %d bytes, want at most 32 MiB", n)
				}
			})
		}
	}
}
