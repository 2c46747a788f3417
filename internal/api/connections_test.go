package api

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/sluice/sluice/internal/connection"
	"github.com/sluice/sluice/internal/diagnose"
	"github.com/sluice/sluice/internal/mail/mailtest"
	"github.com/sluice/sluice/internal/netguard"
	"github.com/sluice/sluice/internal/secret"
	"github.com/sluice/sluice/internal/store"
)

// Canary secrets: no answer may hold any of them in any encoding.
const (
	canaryToken        = "tok-CANARY-7f3a9c2e5b81"
	canaryPassword     = "pw-CANARY-4d6e8f0a1b2c"
	canaryKey          = "key-CANARY-9a8b7c6d5e4f"
	canaryClientSecret = "cs-CANARY-0f1e2d3c4b5a"
	// canaryAccessToken is not stored: the test API's token endpoint
	// issues it, and the verify must redact it all the same.
	canaryAccessToken = "at-CANARY-6c5d4e3f2a1b"
)

var canaries = []string{canaryToken, canaryPassword, canaryKey, canaryClientSecret, canaryAccessToken}

// connBundle is setup's bundle with a handler that has a secret box and
// an outbound client allowed to reach 127.0.0.1, like a server started
// with SLUICE_ALLOW_NET=127.0.0.1/32.
type connBundle struct {
	*bundle
	box *secret.Box

	mu     sync.Mutex
	bodies []string
}

func setupConnections(t *testing.T) *connBundle {
	t.Helper()
	b := setup(t)
	key := make([]byte, secret.KeySize)
	for i := range key {
		key[i] = byte(i + 1)
	}
	box, err := secret.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	allow, err := netguard.ParseAllow("127.0.0.1/32")
	if err != nil {
		t.Fatal(err)
	}
	b.handler = New(Config{
		Store: b.store, Runner: b.runner, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Secrets: box, HTTPClient: netguard.NewClient(netguard.Options{Allow: allow}),
		SMTPDial: netguard.NewDialer(netguard.Options{Allow: allow}).DialContext,
	})
	cb := &connBundle{bundle: b, box: box}
	t.Cleanup(func() { cb.checkSealed(t) })
	return cb
}

// do sends a request like bundle.do and fails the test if the answer holds
// a canary secret in any of the forms a redactor knows (plain, base64,
// URL- and JSON-escaped).
func (cb *connBundle) do(t *testing.T, method, path, who, body string) *httptest.ResponseRecorder {
	t.Helper()
	rec := cb.bundle.do(t, method, path, who, body)
	got := rec.Body.String()
	for _, c := range canaries {
		for _, form := range secret.Forms(c) {
			if strings.Contains(got, form) {
				t.Errorf("%s %s: answer holds a secret (%q): %s", method, path, form, got)
			}
		}
	}
	if strings.Contains(strings.ToLower(got), `"secret":`) {
		t.Errorf("%s %s: answer has a secret field: %s", method, path, got)
	}
	cb.mu.Lock()
	cb.bodies = append(cb.bodies, got)
	cb.mu.Unlock()
	return rec
}

// checkSealed fails the test if an answer held a sealed secret as the
// store keeps it.
func (cb *connBundle) checkSealed(t *testing.T) {
	conns, err := cb.store.ListConnections(context.Background(), 0)
	if err != nil {
		return // the test closed the store
	}
	cb.mu.Lock()
	defer cb.mu.Unlock()
	for _, c := range conns {
		forms := []string{base64.StdEncoding.EncodeToString(c.Secret), base64.RawURLEncoding.EncodeToString(c.Secret), hex.EncodeToString(c.Secret)}
		for _, body := range cb.bodies {
			for _, f := range forms {
				if strings.Contains(body, f) {
					t.Errorf("an answer holds the sealed secret of connection %q: %s", c.Name, body)
				}
			}
		}
	}
}

// run runs a scenario through cb.do.
func (cb *connBundle) run(t *testing.T, sc scenario) string {
	t.Helper()
	rec := cb.do(t, sc.method, sc.path, sc.who, sc.body)
	if rec.Code != sc.status {
		t.Fatalf("%s %s as %q: status %d, want %d; body: %s", sc.method, sc.path, sc.who, rec.Code, sc.status, rec.Body)
	}
	body := rec.Body.String()
	for _, s := range sc.contains {
		if !strings.Contains(body, s) {
			t.Errorf("%s: body lacks %q: %s", sc.name, s, body)
		}
	}
	for _, s := range sc.absent {
		if strings.Contains(body, s) {
			t.Errorf("%s: body holds %q: %s", sc.name, s, body)
		}
	}
	if rec.Code != http.StatusNoContent && !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", sc.name, rec.Header().Get("Content-Type"))
	}
	return body
}

// create adds a connection as who and returns it.
func (cb *connBundle) create(t *testing.T, who, body string) connectionView {
	t.Helper()
	rec := cb.do(t, "POST", "/api/v1/connections", who, body)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create connection: status %d: %s", rec.Code, rec.Body)
	}
	var v connectionView
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// spec opens a stored connection's spec.
func (cb *connBundle) spec(t *testing.T, id int64) connection.Spec {
	t.Helper()
	c, err := cb.store.GetConnection(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := connection.Open(cb.box, c.Type, c.Config, c.Secret)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func TestCreateConnection(t *testing.T) {
	t.Parallel()
	cb := setupConnections(t)
	post := func(name, body string, status int, contains ...string) scenario {
		return scenario{name: name, method: "POST", path: "/api/v1/connections", who: "a", body: body, status: status, contains: contains}
	}
	for _, sc := range []scenario{
		post("bearer", `{"name":"gh","type":"bearer","secret":{"token":"`+canaryToken+`"}}`, 201,
			`"name":"gh"`, `"type":"bearer"`, `"config":{}`, `"secret_fields":["token"]`, `"health":"unverified"`, `"health_at":null`, `"broken_at":null`, fmt.Sprintf(`"owner_id":%d`, cb.users["a"].ID)),
		post("basic", `{"name":"jira","type":"basic","config":{"username":"ann","test_url":"https://jira.example.com/rest/api/2/myself"},"secret":{"password":"`+canaryPassword+`"}}`, 201,
			`"config":{"username":"ann","test_url":"https://jira.example.com/rest/api/2/myself"}`, `"secret_fields":["password"]`),
		post("api key", `{"name":"weather","type":"api_key","config":{"key_name":"appid","key_in":"query"},"secret":{"key":"`+canaryKey+`"}}`, 201,
			`"key_name":"appid"`, `"key_in":"query"`, `"secret_fields":["key"]`),
		post("oauth2", `{"name":"graph","type":"oauth2","config":{"token_url":"https://login.example.com/token","client_id":"app","scopes":["a","b"]},"secret":{"client_secret":"`+canaryClientSecret+`"}}`, 201,
			`"token_url":"https://login.example.com/token"`, `"scopes":["a","b"]`, `"secret_fields":["client_secret"]`),
		post("smtp", `{"name":"mail","type":"smtp","config":{"host":"smtp.example.com","port":587,"username":"ann","from":"ann@example.com","tls":"starttls"},"secret":{"password":"`+canaryPassword+`"}}`, 201,
			`"host":"smtp.example.com"`, `"port":587`, `"secret_fields":["password"]`),
		post("smtp without login", `{"name":"relay","type":"smtp","config":{"host":"localhost"}}`, 201, `"secret_fields":[]`),

		post("duplicate name", `{"name":"gh","type":"bearer","secret":{"token":"x-other-token"}}`, 409, `"conflict"`, `connection named \"gh\"`),
		{name: "same name for another maker", method: "POST", path: "/api/v1/connections", who: "b", body: `{"name":"gh","type":"bearer","secret":{"token":"` + canaryToken + `"}}`, status: 201},

		post("bearer without token", `{"name":"x","type":"bearer"}`, 400, `"bad_request"`, "needs token"),
		post("basic without password", `{"name":"x","type":"basic","config":{"username":"u"}}`, 400, "needs password"),
		post("basic without anything", `{"name":"x","type":"basic"}`, 400, "needs username and password"),
		post("api key without key", `{"name":"x","type":"api_key"}`, 400, "needs key"),
		post("oauth2 without client", `{"name":"x","type":"oauth2","config":{"token_url":"https://t.example.com"}}`, 400, "needs client_id and client_secret"),
		post("smtp without host", `{"name":"x","type":"smtp"}`, 400, "needs host"),
		post("smtp login without password", `{"name":"x","type":"smtp","config":{"host":"h","username":"u"}}`, 400, "needs password"),
		post("smtp bad tls", `{"name":"x","type":"smtp","config":{"host":"h","tls":"sometimes"}}`, 400, "tls"),
		post("smtp bad from", `{"name":"x","type":"smtp","config":{"host":"h","from":"nobody"}}`, 400, "from address"),
		post("bad key_in", `{"name":"x","type":"api_key","config":{"key_in":"cookie"},"secret":{"key":"k"}}`, 400, "key_in"),
		post("bad test_url", `{"name":"x","type":"bearer","config":{"test_url":"ftp://x"},"secret":{"token":"t"}}`, 400, "test_url"),
		post("unknown type", `{"name":"x","type":"ldap"}`, 400, `type \"ldap\" is not one of`),
		post("no type", `{"name":"x"}`, 400, "type"),
		post("no name", `{"type":"bearer","secret":{"token":"t"}}`, 400, "needs name"),
		post("blank name", `{"name":"  ","type":"bearer","secret":{"token":"t"}}`, 400, "needs name"),
		post("numeric name", `{"name":"42","type":"bearer","secret":{"token":"t"}}`, 400, "must not be a number"),
		post("slash in name", `{"name":"a/b","type":"bearer","secret":{"token":"t"}}`, 400, "slash"),
		post("field the type does not use", `{"name":"x","type":"bearer","config":{"username":"u"},"secret":{"token":"t"}}`, 400, "does not use username"),
		post("unknown config field", `{"name":"x","type":"smtp","config":{"host":"h","prot":25}}`, 400, "prot"),
		post("unknown secret field", `{"name":"x","type":"bearer","secret":{"token":"t","pin":"1"}}`, 400, "pin"),
		post("unknown field", `{"name":"x","type":"bearer","secrets":{"token":"t"}}`, 400, "secrets"),
		post("wrong port type", `{"name":"x","type":"smtp","config":{"host":"h","port":"25"}}`, 400, "port"),
		post("empty body", ``, 400, "empty"),
		{name: "unauthenticated", method: "POST", path: "/api/v1/connections", body: `{"name":"x","type":"bearer","secret":{"token":"t"}}`, status: 401},
	} {
		t.Run(sc.name, func(t *testing.T) { cb.run(t, sc) })
	}

	// The secret is sealed at rest and opens to what was given.
	var listed struct {
		Connections []connectionView `json:"connections"`
	}
	rec := cb.do(t, "GET", "/api/v1/connections", "a", "")
	if err := json.Unmarshal(rec.Body.Bytes(), &listed); err != nil {
		t.Fatal(err)
	}
	names := map[string]connectionView{}
	for _, c := range listed.Connections {
		names[c.Name] = c
	}
	if len(names) != 6 {
		t.Fatalf("a has %d connections, want 6: %s", len(names), rec.Body)
	}
	stored, err := cb.store.GetConnection(context.Background(), names["gh"].ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(stored.Secret), canaryToken) || strings.Contains(string(stored.Config), canaryToken) {
		t.Fatal("the token is stored in clear")
	}
	if got := cb.spec(t, names["gh"].ID).Secret.Token; got != canaryToken {
		t.Fatalf("sealed token opens to %q", got)
	}
}

func TestConnectionAccess(t *testing.T) {
	t.Parallel()
	cb := setupConnections(t)
	ca := cb.create(t, "a", `{"name":"gh","type":"bearer","secret":{"token":"`+canaryToken+`"}}`)
	cbb := cb.create(t, "b", `{"name":"bobs","type":"bearer","secret":{"token":"`+canaryToken+`"}}`)
	idA := fmt.Sprintf("/api/v1/connections/%d", ca.ID)
	for _, sc := range []scenario{
		{name: "owner lists", method: "GET", path: "/api/v1/connections", who: "a", status: 200, contains: []string{`"gh"`}, absent: []string{`"bobs"`}},
		{name: "admin lists all", method: "GET", path: "/api/v1/connections", who: "admin", status: 200, contains: []string{`"gh"`, `"bobs"`}},
		{name: "owner shows by name", method: "GET", path: "/api/v1/connections/gh", who: "a", status: 200, contains: []string{`"gh"`, `"flows":[]`}},
		{name: "owner shows by id", method: "GET", path: idA, who: "a", status: 200, contains: []string{`"gh"`}},
		{name: "another maker by id", method: "GET", path: idA, who: "b", status: 404, contains: []string{`"not_found"`}, absent: []string{`"gh"`}},
		{name: "another maker by name", method: "GET", path: "/api/v1/connections/gh", who: "b", status: 404},
		{name: "another maker updates", method: "PUT", path: idA, who: "b", body: `{"secret":{"token":"stolen-token"}}`, status: 404},
		{name: "another maker verifies", method: "POST", path: idA + "/verify", who: "b", status: 404},
		{name: "another maker deletes", method: "DELETE", path: idA, who: "b", status: 404},
		{name: "admin shows another's by id", method: "GET", path: fmt.Sprintf("/api/v1/connections/%d", cbb.ID), who: "admin", status: 200, contains: []string{`"bobs"`, `"secret_fields":["token"]`}},
		{name: "missing", method: "GET", path: "/api/v1/connections/999999", who: "admin", status: 404},
		{name: "unauthenticated", method: "GET", path: "/api/v1/connections", status: 401},
		{name: "wrong method", method: "PATCH", path: idA, who: "a", status: 405},
	} {
		t.Run(sc.name, func(t *testing.T) { cb.run(t, sc) })
	}
	// Nothing above changed a's connection.
	if got := cb.spec(t, ca.ID).Secret.Token; got != canaryToken {
		t.Fatalf("token is now %q", got)
	}

	cb.run(t, scenario{name: "delete", method: "DELETE", path: "/api/v1/connections/gh", who: "a", status: 204})
	cb.run(t, scenario{name: "deleted", method: "GET", path: idA, who: "a", status: 404})
	cb.run(t, scenario{name: "delete again", method: "DELETE", path: idA, who: "a", status: 404})
	cb.run(t, scenario{name: "admin deletes another's", method: "DELETE", path: fmt.Sprintf("/api/v1/connections/%d", cbb.ID), who: "admin", status: 204})
}

func TestUpdateConnection(t *testing.T) {
	t.Parallel()
	cb := setupConnections(t)
	ctx := context.Background()
	c := cb.create(t, "a", `{"name":"jira","type":"basic","config":{"username":"ann"},"secret":{"password":"`+canaryPassword+`"}}`)
	if _, err := cb.store.SetConnectionHealth(ctx, c.ID, store.HealthNeedsAttention, "401", c.CreatedAt); err != nil {
		t.Fatal(err)
	}

	// A config change keeps the password, and resets health.
	cb.run(t, scenario{name: "config only", method: "PUT", path: "/api/v1/connections/jira", who: "a",
		body: `{"config":{"test_url":"https://jira.example.com/myself"}}`, status: 200,
		contains: []string{`"username":"ann"`, `"test_url":"https://jira.example.com/myself"`, `"secret_fields":["password"]`, `"health":"unverified"`, `"health_error":""`}})
	if got := cb.spec(t, c.ID); got.Secret.Password != canaryPassword || got.Config.Username != "ann" {
		t.Fatalf("after a config change: %+v", got.Config)
	}

	// A password rotation keeps the config.
	cb.run(t, scenario{name: "rotate", method: "PUT", path: "/api/v1/connections/jira", who: "a",
		body: `{"secret":{"password":"` + canaryToken + `"}}`, status: 200, contains: []string{`"username":"ann"`, `"test_url"`}})
	if got := cb.spec(t, c.ID); got.Secret.Password != canaryToken || got.Config.TestURL == "" {
		t.Fatalf("after a rotation: %+v", got.Config)
	}

	// A field set to "" is cleared.
	cb.run(t, scenario{name: "clear test_url", method: "PUT", path: "/api/v1/connections/jira", who: "a",
		body: `{"config":{"test_url":""}}`, status: 200, absent: []string{`"test_url"`}})

	for _, sc := range []scenario{
		{name: "clearing a needed field", method: "PUT", path: "/api/v1/connections/jira", who: "a", body: `{"secret":{"password":""}}`, status: 400, contains: []string{"needs password"}},
		{name: "unknown config field", method: "PUT", path: "/api/v1/connections/jira", who: "a", body: `{"config":{"user":"x"}}`, status: 400, contains: []string{"user"}},
		{name: "config not an object", method: "PUT", path: "/api/v1/connections/jira", who: "a", body: `{"config":"x"}`, status: 400, contains: []string{"config must be an object"}},
		{name: "wrong type in config", method: "PUT", path: "/api/v1/connections/jira", who: "a", body: `{"config":{"username":1}}`, status: 400, contains: []string{"username"}},
		{name: "unknown field", method: "PUT", path: "/api/v1/connections/jira", who: "a", body: `{"name":"x"}`, status: 400, contains: []string{"name"}},
		{name: "empty body", method: "PUT", path: "/api/v1/connections/jira", who: "a", status: 400},
		{name: "missing", method: "PUT", path: "/api/v1/connections/nope", who: "a", body: `{}`, status: 404},
		{name: "type change needs the new type's fields", method: "PUT", path: "/api/v1/connections/jira", who: "a", body: `{"type":"api_key"}`, status: 400, contains: []string{"needs key"}},
		{name: "type change refuses fields of the old type", method: "PUT", path: "/api/v1/connections/jira", who: "a", body: `{"type":"bearer","config":{"username":"x"},"secret":{"token":"t-123"}}`, status: 400, contains: []string{"does not use username"}},
	} {
		t.Run(sc.name, func(t *testing.T) { cb.run(t, sc) })
	}

	// A type change drops what only the old type used.
	cb.run(t, scenario{name: "to bearer", method: "PUT", path: "/api/v1/connections/jira", who: "a",
		body: `{"type":"bearer","secret":{"token":"` + canaryKey + `"}}`, status: 200,
		contains: []string{`"type":"bearer"`, `"secret_fields":["token"]`, `"config":{}`}})
	if got := cb.spec(t, c.ID); got.Secret.Password != "" || got.Config.Username != "" || got.Secret.Token != canaryKey {
		t.Fatalf("after a type change: %+v", got.Config)
	}
}

// testAPI is a real HTTP server on 127.0.0.1 standing in for an API a
// connection is for. It answers 200 to the good credentials and 401
// otherwise, echoing what it was sent as some APIs do.
func testAPI(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /user", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") == "Bearer GOOD" || r.URL.Query().Get("appid") == "GOOD" {
			io.WriteString(w, `{"login":"ann"}`)
			return
		}
		if u, p, ok := r.BasicAuth(); ok && u == "ann" && p == "GOOD" {
			io.WriteString(w, `{"login":"ann"}`)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
		b, _ := json.Marshal(map[string]string{"message": "Bad credentials: " + r.Header.Get("Authorization") + r.URL.RawQuery})
		w.Write(b)
	})
	mux.HandleFunc("GET /forbidden", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="x", error="insufficient_scope", error_description="The token lacks the read:user scope"`)
		w.WriteHeader(http.StatusForbidden)
	})
	mux.HandleFunc("GET /broken", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream exploded", http.StatusBadGateway)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if id, sec, _ := r.BasicAuth(); id != "app" || sec != "GOOD" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"invalid_client","error_description":"client authentication failed"}`)
			return
		}
		io.WriteString(w, `{"access_token":"GOOD","expires_in":3600,"token_type":"Bearer"}`)
	})
	mux.HandleFunc("POST /token-canary", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"`+canaryAccessToken+`","expires_in":3600,"token_type":"Bearer"}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestVerifyConnection(t *testing.T) {
	t.Parallel()
	cb := setupConnections(t)
	api := testAPI(t)
	smtpSrv := mailtest.NewServer(t, mailtest.WithAuth("ann", "GOOD"))

	tests := []struct {
		name     string
		conn     string // POST /connections body; %s is the test API's URL
		update   string // a PUT body applied before the verify, if any
		health   string
		status   int // 0: no status in the answer
		contains []string
	}{
		{name: "bearer ok", conn: `{"name":"bearer-ok","type":"bearer","config":{"test_url":"%s/user"},"secret":{"token":"GOOD"}}`,
			health: "ok", status: 200},
		{name: "bearer 401", conn: `{"name":"bearer-bad","type":"bearer","config":{"test_url":"%s/user"},"secret":{"token":"` + canaryToken + `"}}`,
			health: "needs_attention", status: 401, contains: []string{"answered 401 Unauthorized: Bad credentials", "[redacted]", "check the connection's credentials"}},
		{name: "token rotated", conn: `{"name":"bearer-rotated","type":"bearer","config":{"test_url":"%s/user"},"secret":{"token":"` + canaryToken + `"}}`,
			update: `{"secret":{"token":"GOOD"}}`, health: "ok", status: 200},
		{name: "basic ok", conn: `{"name":"basic-ok","type":"basic","config":{"username":"ann","test_url":"%s/user"},"secret":{"password":"GOOD"}}`,
			health: "ok", status: 200},
		{name: "basic 401", conn: `{"name":"basic-bad","type":"basic","config":{"username":"ann","test_url":"%s/user"},"secret":{"password":"` + canaryPassword + `"}}`,
			health: "needs_attention", status: 401, contains: []string{"401"}},
		{name: "api key in query ok", conn: `{"name":"key-ok","type":"api_key","config":{"key_name":"appid","key_in":"query","test_url":"%s/user"},"secret":{"key":"GOOD"}}`,
			health: "ok", status: 200},
		{name: "api key in query 401", conn: `{"name":"key-bad","type":"api_key","config":{"key_name":"appid","key_in":"query","test_url":"%s/user?x=1"},"secret":{"key":"` + canaryKey + `"}}`,
			health: "needs_attention", status: 401, contains: []string{"/user answered 401"}},
		{name: "403 with challenge", conn: `{"name":"scope","type":"bearer","config":{"test_url":"%s/forbidden"},"secret":{"token":"GOOD"}}`,
			health: "needs_attention", status: 403, contains: []string{"403 Forbidden: The token lacks the read:user scope"}},
		{name: "502", conn: `{"name":"broken","type":"bearer","config":{"test_url":"%s/broken"},"secret":{"token":"GOOD"}}`,
			health: "needs_attention", status: 502, contains: []string{"502 Bad Gateway: upstream exploded"}},
		{name: "oauth2 token ok", conn: `{"name":"oauth-ok","type":"oauth2","config":{"token_url":"%s/token","client_id":"app"},"secret":{"client_secret":"GOOD"}}`,
			health: "ok"},
		{name: "oauth2 token refused", conn: `{"name":"oauth-bad","type":"oauth2","config":{"token_url":"%s/token","client_id":"app"},"secret":{"client_secret":"` + canaryClientSecret + `"}}`,
			health: "needs_attention", contains: []string{"invalid_client"}},
		{name: "oauth2 with test url", conn: `{"name":"oauth-test","type":"oauth2","config":{"token_url":"%[1]s/token","client_id":"app","test_url":"%[1]s/user"},"secret":{"client_secret":"GOOD"}}`,
			health: "ok", status: 200},
		{name: "oauth2 fetched token echoed", conn: `{"name":"oauth-echo","type":"oauth2","config":{"token_url":"%[1]s/token-canary","client_id":"app","test_url":"%[1]s/user"},"secret":{"client_secret":"GOOD"}}`,
			health: "needs_attention", status: 401, contains: []string{"Bad credentials: [redacted]"}},
		{name: "smtp ok", conn: fmt.Sprintf(`{"name":"smtp-ok","type":"smtp","config":{"host":"127.0.0.1","port":%d,"tls":"none","username":"ann"},"secret":{"password":"GOOD"}}`, smtpSrv.Port),
			health: "ok"},
		{name: "smtp to a metadata address is refused", conn: `{"name":"smtp-meta","type":"smtp","config":{"host":"169.254.169.254","port":25,"tls":"none"},"secret":{}}`,
			health: "needs_attention", contains: []string{"refusing to connect to 169.254.169.254", "net.blocked"}},
		{name: "smtp login refused", conn: fmt.Sprintf(`{"name":"smtp-bad","type":"smtp","config":{"host":"127.0.0.1","port":%d,"tls":"none","username":"ann"},"secret":{"password":"`+canaryPassword+`"}}`, smtpSrv.Port),
			health: "needs_attention", contains: []string{`refused the login of user \"ann\"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := tt.conn
			if strings.Contains(body, "%") {
				body = fmt.Sprintf(body, api.URL)
			}
			c := cb.create(t, "a", body)
			if tt.update != "" {
				cb.run(t, scenario{name: "update", method: "PUT", path: fmt.Sprintf("/api/v1/connections/%d", c.ID), who: "a", body: tt.update, status: 200})
			}
			rec := cb.do(t, "POST", fmt.Sprintf("/api/v1/connections/%d/verify", c.ID), "a", "")
			if rec.Code != http.StatusOK {
				t.Fatalf("verify: status %d: %s", rec.Code, rec.Body)
			}
			var v struct {
				Health      string  `json:"health"`
				HealthError string  `json:"health_error"`
				HealthAt    *string `json:"health_at"`
				Status      *int    `json:"status"`
				Diagnosis   *struct {
					Class    string `json:"class"`
					HowToFix string `json:"how_to_fix"`
				} `json:"diagnosis"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
				t.Fatal(err)
			}
			if v.Health != tt.health || v.HealthAt == nil {
				t.Errorf("verify answered %s", rec.Body)
			}
			if (v.Health == "ok") != (v.Diagnosis == nil) || v.Diagnosis != nil && v.Diagnosis.HowToFix == "" {
				t.Errorf("health %s with diagnosis %+v", v.Health, v.Diagnosis)
			}
			if tt.status == 401 && v.Diagnosis.Class != "auth" {
				t.Errorf("a 401 is diagnosed %q, want auth", v.Diagnosis.Class)
			}
			if (v.Health == "ok") != (v.HealthError == "") {
				t.Errorf("health %s with error %q", v.Health, v.HealthError)
			}
			switch {
			case tt.status == 0 && v.Status != nil:
				t.Errorf("status %d, want none", *v.Status)
			case tt.status != 0 && (v.Status == nil || *v.Status != tt.status):
				t.Errorf("verify answered %s, want status %d", rec.Body, tt.status)
			}
			for _, s := range tt.contains {
				if !strings.Contains(rec.Body.String(), s) {
					t.Errorf("answer lacks %q: %s", s, rec.Body)
				}
			}
			// The health is recorded and shown with the connection.
			stored, err := cb.store.GetConnection(context.Background(), c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if stored.Health != v.Health || stored.HealthError != v.HealthError || stored.HealthAt == nil {
				t.Errorf("stored health %q %q, answered %q %q", stored.Health, stored.HealthError, v.Health, v.HealthError)
			}
			if (stored.BrokenAt != nil) != (v.Health == "needs_attention") {
				t.Errorf("broken_at %v with health %s", stored.BrokenAt, v.Health)
			}
			cb.run(t, scenario{name: "show", method: "GET", path: fmt.Sprintf("/api/v1/connections/%d", c.ID), who: "a", status: 200,
				contains: []string{`"health":"` + tt.health + `"`}, absent: []string{`"health_at":null`}})
		})
	}
}

func TestVerifyConnectionRefusals(t *testing.T) {
	t.Parallel()
	cb := setupConnections(t)
	api := testAPI(t)
	cb.create(t, "a", `{"name":"no-test-url","type":"bearer","secret":{"token":"`+canaryToken+`"}}`)
	cb.run(t, scenario{name: "no test_url", method: "POST", path: "/api/v1/connections/no-test-url/verify", who: "a", status: 400,
		contains: []string{"set config.test_url to verify"}})

	// Without SLUICE_ALLOW_NET, the outbound client refuses 127.0.0.1.
	cb.handler = New(Config{Store: cb.store, Runner: cb.runner, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Secrets: cb.box})
	cb.create(t, "a", `{"name":"internal","type":"bearer","config":{"test_url":"`+api.URL+`/user"},"secret":{"token":"GOOD"}}`)
	cb.run(t, scenario{name: "blocked", method: "POST", path: "/api/v1/connections/internal/verify", who: "a", status: 200,
		contains: []string{`"health":"needs_attention"`, "refusing to connect to 127.0.0.1", "SLUICE_ALLOW_NET"}, absent: []string{`"status"`}})

	// A secret sealed under another key cannot be opened: verify says so.
	other, err := secret.NewBox(make([]byte, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	cb.handler = New(Config{Store: cb.store, Runner: cb.runner, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Secrets: other})
	cb.run(t, scenario{name: "wrong key", method: "POST", path: "/api/v1/connections/internal/verify", who: "a", status: 200,
		contains: []string{`"health":"needs_attention"`, "cannot be opened"}})
	cb.run(t, scenario{name: "wrong key list", method: "GET", path: "/api/v1/connections", who: "a", status: 200,
		contains: []string{`"secret_fields":[]`}})
	// Giving the secret again repairs it.
	cb.run(t, scenario{name: "wrong key update", method: "PUT", path: "/api/v1/connections/internal", who: "a", body: `{"secret":{"token":"GOOD"}}`, status: 200,
		contains: []string{`"secret_fields":["token"]`}})

	// Without a secret box the routes are a 500 that does not say why.
	cb.handler = New(Config{Store: cb.store, Runner: cb.runner, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	cb.run(t, scenario{name: "no box", method: "POST", path: "/api/v1/connections", who: "a", body: `{"name":"x","type":"bearer","secret":{"token":"t"}}`, status: 500,
		contains: []string{`"internal"`}, absent: []string{"Secrets"}})
}

func TestConnectionFlows(t *testing.T) {
	t.Parallel()
	cb := setupConnections(t)
	ghA := cb.create(t, "a", `{"name":"gh","type":"bearer","secret":{"token":"`+canaryToken+`"}}`)
	cb.create(t, "b", `{"name":"gh","type":"bearer","secret":{"token":"`+canaryToken+`"}}`)
	cb.create(t, "a", `{"name":"other","type":"bearer","secret":{"token":"`+canaryToken+`"}}`)
	httpFlow := func(name, conn string) string {
		return fmt.Sprintf(`name: %s
trigger: {type: manual}
actions:
  - id: call
    type: http
    connection: %s
    with: {method: GET, url: "https://api.example.com/user"}
`, name, conn)
	}
	nested := `name: nested
trigger: {type: manual}
actions:
  - id: check
    type: condition
    if: "{{ true }}"
    then:
      - id: group
        type: scope
        actions:
          - id: call
            type: http
            connection: gh
            with: {method: GET, url: "https://api.example.com/user"}
`
	for _, s := range []struct{ who, src string }{
		{"a", httpFlow("uses-gh", "gh")},
		{"a", nested},
		{"a", httpFlow("uses-other", "other")},
		{"a", httpFlow("used-gh-once", "gh")},
		{"a", httpFlow("used-gh-once", "other")}, // its latest version does not
		{"b", httpFlow("bobs-flow", "gh")},       // b's own gh
	} {
		rec := cb.do(t, "POST", "/api/v1/flows", s.who, fmt.Sprintf(`{"source": %q}`, s.src))
		if rec.Code != 200 && rec.Code != 201 {
			t.Fatalf("save flow: %d %s", rec.Code, rec.Body)
		}
	}
	ids := map[string]int64{}
	for _, who := range []string{"a", "b"} {
		flows, err := cb.store.ListFlows(context.Background(), store.FlowFilter{OwnerID: cb.users[who].ID})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range flows {
			ids[f.Name] = f.ID
		}
	}
	var got connectionDetailView
	cb.doJSON(t, "GET", "/api/v1/connections/gh", "a", "", 200, &got)
	want := []flowRefView{{ID: ids["uses-gh"], Name: "uses-gh"}, {ID: ids["nested"], Name: "nested"}}
	if fmt.Sprint(got.Flows) != fmt.Sprint(want) {
		t.Errorf("flows using a's gh = %v, want %v", got.Flows, want)
	}
	cb.doJSON(t, "GET", "/api/v1/connections/gh", "b", "", 200, &got)
	if want := []flowRefView{{ID: ids["bobs-flow"], Name: "bobs-flow"}}; fmt.Sprint(got.Flows) != fmt.Sprint(want) {
		t.Errorf("flows using b's gh = %v, want %v", got.Flows, want)
	}
	// An admin looking at a's connection sees a's flows.
	cb.doJSON(t, "GET", fmt.Sprintf("/api/v1/connections/%d", ghA.ID), "admin", "", 200, &got)
	if len(got.Flows) != 2 {
		t.Errorf("admin sees flows %v of a's connection, want 2", got.Flows)
	}
}

// TestUnknownConnectionRefused checks that a flow naming a connection its
// owner does not have is refused at check and at save, with the line of
// the field and the closest name, and that another user's connection of
// that name does not count.
func TestUnknownConnectionRefused(t *testing.T) {
	t.Parallel()
	cb := setupConnections(t)
	cb.create(t, "a", `{"name":"directory","type":"bearer","secret":{"token":"t"}}`)
	cb.create(t, "b", `{"name":"directry","type":"bearer","secret":{"token":"t"}}`)
	src := "name: typo\ntrigger: {type: manual}\nactions:\n  - id: call\n    type: http\n    connection: directry\n    with: {url: \"https://api.example.com/user\"}\n"
	want := []string{`"code":"invalid_flow"`, `"path":"actions[0].connection"`, `"line":6`, `no connection named \"directry\" (did you mean \"directory\"?)`}
	for _, sc := range []scenario{
		{name: "check", method: "POST", path: "/api/v1/flows/check", who: "a", body: fmt.Sprintf(`{"source": %q}`, src), status: 200,
			contains: []string{`"ok":false`, `"path":"actions[0].connection"`, `"line":6`, `did you mean \"directory\"?`}},
		{name: "save", method: "POST", path: "/api/v1/flows", who: "a", body: fmt.Sprintf(`{"source": %q}`, src), status: 422, contains: want},
		{name: "owner has it", method: "POST", path: "/api/v1/flows", who: "b", body: fmt.Sprintf(`{"source": %q}`, src), status: 201},
	} {
		t.Run(sc.name, func(t *testing.T) { cb.run(t, sc) })
	}
	if _, err := cb.store.GetFlowByName(context.Background(), cb.users["a"].ID, "typo"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the refused flow was saved: %v", err)
	}
}

func TestShortReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header http.Header
		body   string
		want   string
	}{
		{"github", nil, `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}`, "Bad credentials"},
		{"graph", nil, `{"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired."}}`, "Access token has expired."},
		{"oauth", nil, `{"error":"invalid_token","error_description":"expired"}`, "expired"},
		{"errors list", nil, `{"errors":[{"message":"Unauthorized","code":401}]}`, "Unauthorized"},
		{"slack", nil, `{"ok":false,"error":"invalid_auth"}`, "invalid_auth"},
		{"challenge", http.Header{"Www-Authenticate": {`Bearer error="invalid_token", error_description="The access token expired"`}}, ``, "The access token expired"},
		{"challenge error only", http.Header{"Www-Authenticate": {`Bearer error="invalid_token"`}}, ``, "invalid_token"},
		{"text", http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, "nope\nmore", "nope"},
		{"html", http.Header{"Content-Type": {"text/html"}}, "<html>nope</html>", ""},
		{"long", nil, `{"message":"` + strings.Repeat("é", 300) + `"}`, strings.Repeat("é", 98) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			if got := shortReason(h, []byte(tt.body)); got != tt.want {
				t.Errorf("shortReason = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestNewVerifier checks the portal's Verify: the same check and the
// same recorded health as POST /connections/{conn}/verify, and a reason,
// not an error, when there is nothing to test with.
func TestNewVerifier(t *testing.T) {
	t.Parallel()
	cb := setupConnections(t)
	api := testAPI(t)
	allow, err := netguard.ParseAllow("127.0.0.1/32")
	if err != nil {
		t.Fatal(err)
	}
	verify := NewVerifier(Config{Store: cb.store, Runner: cb.runner, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Secrets: cb.box, HTTPClient: netguard.NewClient(netguard.Options{Allow: allow})})
	for _, tc := range []struct {
		name, body, health, reason string
	}{
		{"ok", `{"name":"v-ok","type":"bearer","config":{"test_url":"` + api.URL + `/user"},"secret":{"token":"GOOD"}}`, store.HealthOK, ""},
		{"401", `{"name":"v-bad","type":"bearer","config":{"test_url":"` + api.URL + `/user"},"secret":{"token":"` + canaryToken + `"}}`, store.HealthNeedsAttention, ""},
		{"no test url", `{"name":"v-none","type":"bearer","secret":{"token":"GOOD"}}`, store.HealthUnverified, "has no test URL"},
	} {
		v := cb.create(t, "a", tc.body)
		c, err := cb.store.GetConnection(t.Context(), v.ID)
		if err != nil {
			t.Fatal(err)
		}
		reason, err := verify(t.Context(), c)
		if err != nil || !strings.Contains(reason, tc.reason) || (tc.reason == "") != (reason == "") {
			t.Fatalf("%s: verify = %q, %v; want a reason containing %q", tc.name, reason, err, tc.reason)
		}
		if c, err = cb.store.GetConnection(t.Context(), v.ID); err != nil || c.Health != tc.health {
			t.Fatalf("%s: health after verify %q (%v), want %q", tc.name, c.Health, err, tc.health)
		}
		if strings.Contains(c.HealthError, canaryToken) {
			t.Fatalf("%s: health error shows the token: %s", tc.name, c.HealthError)
		}
	}
}

// TestVerifyUsesConfiguredCatalog checks that verify diagnoses its test
// request with the catalog it is given (the engine's, with SLUICE_CATALOG's
// entries), not only the built-in one, so that a test request and a run
// that get the same answer are diagnosed the same.
func TestVerifyUsesConfiguredCatalog(t *testing.T) {
	t.Parallel()
	cb := setupConnections(t)
	api := testAPI(t)
	catalog := diagnose.Default()
	if err := catalog.Load(strings.NewReader(`[{"id": "acme.scope", "generic": true, "match": {"status": [403], "hosts": ["127.0.0.1"]},
		"class": "auth", "actions": ["fix_connection"], "title": "Acme scope missing",
		"what_happened": "Acme refused {{.Connection}}.", "how_to_fix": "Grant the scope to {{.Connection}}."}]`)); err != nil {
		t.Fatal(err)
	}
	allow, err := netguard.ParseAllow("127.0.0.1/32")
	if err != nil {
		t.Fatal(err)
	}
	cb.handler = New(Config{
		Store: cb.store, Runner: cb.runner, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Secrets: cb.box, HTTPClient: netguard.NewClient(netguard.Options{Allow: allow}), Catalog: catalog,
	})
	c := cb.create(t, "a", fmt.Sprintf(`{"name":"scope","type":"bearer","config":{"test_url":"%s/forbidden"},"secret":{"token":"GOOD"}}`, api.URL))
	cb.run(t, scenario{name: "verify", method: "POST", path: fmt.Sprintf("/api/v1/connections/%d/verify", c.ID), who: "a", status: 200,
		contains: []string{`"code":"acme.scope"`, `"title":"Acme scope missing"`, `"health":"needs_attention"`}})
}
