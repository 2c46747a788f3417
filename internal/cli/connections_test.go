package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"testing"
)

const connJSON = `{"id":5,"name":"gh","type":"bearer","config":{"test_url":"https://api.github.com/user"},"secret_fields":["token"],` +
	`"health":"needs_attention","health_error":"test request to https://api.github.com/user answered 401 Unauthorized: Bad credentials",` +
	`"health_at":"2026-01-02T03:04:05Z","broken_at":"2026-01-02T03:04:05Z","owner_id":1,"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-02T00:00:00Z"}`

const smtpConnJSON = `{"id":6,"name":"mail","type":"smtp","config":{"host":"smtp.example.com","port":587,"username":"ann","tls":"starttls"},"secret_fields":["password"],` +
	`"health":"ok","health_error":"","health_at":"2026-01-03T03:04:05Z","broken_at":null,"owner_id":1,"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-02T00:00:00Z"}`

// connections serves the connection routes of docs/api.md with canned
// answers.
func (f *fakeAPI) connections(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+goodToken {
		writeErr(w, 401, "unauthorized", "invalid token", nil)
		return
	}
	body := bodyOf(r.Context())
	route := r.Method + " " + strings.TrimPrefix(r.URL.EscapedPath(), "/api/v1")
	switch route {
	case "GET /connections":
		writeJSON(w, 200, `{"connections":[`+connJSON+`,`+smtpConnJSON+`]}`)
	case "POST /connections":
		if body["name"] == "taken" {
			writeErr(w, 409, "conflict", `you already have a connection named "taken"`, nil)
			return
		}
		var fields []string
		sec, _ := body["secret"].(map[string]any)
		for k := range sec {
			fields = append(fields, k)
		}
		sort.Strings(fields)
		cfg, _ := json.Marshal(body["config"])
		sf, _ := json.Marshal(fields)
		writeJSON(w, 201, fmt.Sprintf(`{"id":7,"name":%q,"type":%q,"config":%s,"secret_fields":%s,"health":"unverified","health_error":"","health_at":null,"broken_at":null,"owner_id":1}`,
			body["name"], body["type"], cfg, sf))
	case "GET /connections/gh", "GET /connections/5":
		writeJSON(w, 200, strings.TrimSuffix(connJSON, "}")+`,"flows":[{"id":3,"name":"hello"},{"id":4,"name":"nightly report"}]}`)
	case "GET /connections/mail":
		writeJSON(w, 200, strings.TrimSuffix(smtpConnJSON, "}")+`,"flows":[]}`)
	case "PUT /connections/gh", "PUT /connections/5":
		writeJSON(w, 200, strings.Replace(connJSON, `"health":"needs_attention"`, `"health":"unverified"`, 1))
	case "POST /connections/gh/verify":
		writeJSON(w, 200, `{"health":"needs_attention","health_error":"test request to https://api.github.com/user answered 401 Unauthorized: Bad credentials","health_at":"2026-01-02T03:04:05Z","status":401}`)
	case "POST /connections/mail/verify":
		writeJSON(w, 200, `{"health":"ok","health_error":"","health_at":"2026-01-03T03:04:05Z"}`)
	case "POST /connections/plain/verify":
		writeErr(w, 400, "bad_request", "set config.test_url to verify", nil)
	case "DELETE /connections/gh":
		w.WriteHeader(204)
	default:
		writeErr(w, 404, "not_found", "no route "+route, nil)
	}
}

// setupConnections is setup with a fake API that serves the connection
// routes.
func setupConnections(t *testing.T) *bundle {
	t.Helper()
	f := &fakeAPI{runPolls: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/", f.connections)
	f.srv = httptest.NewServer(f.record(mux))
	t.Cleanup(f.srv.Close)
	dir := t.TempDir()
	return &bundle{
		api:       f,
		configDir: dir,
		env:       map[string]string{"XDG_CONFIG_HOME": dir, "SLUICE_SERVER": f.srv.URL, "SLUICE_TOKEN": goodToken},
	}
}

// sameJSON reports whether two values encode to the same JSON.
func sameJSON(t *testing.T, got, want any) bool {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	return string(g) == string(w)
}

func TestConnectionsAdd(t *testing.T) {
	t.Parallel()
	type obj = map[string]any
	tests := []struct {
		name   string
		args   []string
		stdin  string
		body   obj
		stdout string
	}{
		{"bearer on the command line", []string{"connections", "add", "gh", "--type", "bearer", "--token", "GOOD"}, "",
			obj{"name": "gh", "type": "bearer", "config": obj{}, "secret": obj{"token": "GOOD"}},
			"created connection gh (id 7, type bearer)\n"},
		{"bearer from stdin", []string{"connections", "add", "gh", "--type", "bearer", "--token-stdin", "--test-url", "https://api.github.com/user"}, "s3cr3t-token\n",
			obj{"name": "gh", "type": "bearer", "config": obj{"test_url": "https://api.github.com/user"}, "secret": obj{"token": "s3cr3t-token"}},
			"created connection gh (id 7, type bearer)\ncheck it with: sluice connections verify gh\n"},
		{"basic", []string{"connections", "add", "jira", "--type", "basic", "--username", "ann", "--password-stdin"}, "pa ss\r\n",
			obj{"name": "jira", "type": "basic", "config": obj{"username": "ann"}, "secret": obj{"password": "pa ss"}}, ""},
		{"api key", []string{"connections", "add", "weather", "--type", "api_key", "--key-stdin", "--key-name", "appid", "--key-in", "query"}, "k3y",
			obj{"name": "weather", "type": "api_key", "config": obj{"key_in": "query", "key_name": "appid"}, "secret": obj{"key": "k3y"}}, ""},
		{"oauth2", []string{"connections", "add", "graph", "--type", "oauth2", "--token-url", "https://login.example.com/token", "--client-id", "app", "--client-secret-stdin", "--scope", "a", "--scope", "b c"}, "cs\n",
			obj{"name": "graph", "type": "oauth2", "config": obj{"client_id": "app", "scopes": []string{"a", "b c"}, "token_url": "https://login.example.com/token"}, "secret": obj{"client_secret": "cs"}},
			"created connection graph (id 7, type oauth2)\ncheck it with: sluice connections verify graph\n"},
		{"smtp", []string{"connections", "add", "mail", "--type", "smtp", "--host", "smtp.example.com", "--port", "2525", "--tls", "none", "--from", "ann@example.com", "--username", "ann", "--password", "pw"}, "",
			obj{"name": "mail", "type": "smtp", "config": obj{"from": "ann@example.com", "host": "smtp.example.com", "port": 2525, "tls": "none", "username": "ann"}, "secret": obj{"password": "pw"}}, ""},
		{"smtp relay", []string{"connections", "add", "relay", "--type", "smtp", "--host", "localhost"}, "",
			obj{"name": "relay", "type": "smtp", "config": obj{"host": "localhost"}, "secret": obj{}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupConnections(t)
			r := b.run(t, tt.stdin, tt.args...)
			r.check(t, ExitOK, nil, nil)
			if tt.stdout != "" && r.stdout != tt.stdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, tt.stdout)
			}
			req := b.api.last(t)
			if req.Method != "POST" || req.Path != "/api/v1/connections" {
				t.Errorf("request %s %s", req.Method, req.Path)
			}
			// --token on connections add is the connection's token; the API
			// token still comes from SLUICE_TOKEN.
			if req.Auth != "Bearer "+goodToken {
				t.Errorf("Authorization %q", req.Auth)
			}
			if !sameJSON(t, req.Body, tt.body) {
				got, _ := json.Marshal(req.Body)
				want, _ := json.Marshal(tt.body)
				t.Errorf("body %s\nwant %s", got, want)
			}
		})
	}
}

func TestConnectionsUpdate(t *testing.T) {
	t.Parallel()
	type obj = map[string]any
	tests := []struct {
		name  string
		args  []string
		stdin string
		path  string
		body  obj
	}{
		{"token rotation", []string{"connections", "update", "gh", "--token", "GOOD"}, "", "/api/v1/connections/gh",
			obj{"secret": obj{"token": "GOOD"}}},
		{"token from stdin", []string{"connections", "update", "5", "--token-stdin"}, "new-token\n", "/api/v1/connections/5",
			obj{"secret": obj{"token": "new-token"}}},
		{"clear test url", []string{"connections", "update", "gh", "--test-url", ""}, "", "/api/v1/connections/gh",
			obj{"config": obj{"test_url": ""}}},
		{"type change", []string{"connections", "update", "gh", "--type", "basic", "--username", "ann", "--password-stdin"}, "pw", "/api/v1/connections/gh",
			obj{"config": obj{"username": "ann"}, "secret": obj{"password": "pw"}, "type": "basic"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupConnections(t)
			r := b.run(t, tt.stdin, tt.args...)
			r.check(t, ExitOK, []string{"updated connection gh (health: unverified)\ncheck it with: sluice connections verify gh\n"}, nil)
			req := b.api.last(t)
			if req.Method != "PUT" || req.Path != tt.path || req.Auth != "Bearer "+goodToken {
				t.Errorf("request %s %s as %q", req.Method, req.Path, req.Auth)
			}
			if !sameJSON(t, req.Body, tt.body) {
				got, _ := json.Marshal(req.Body)
				want, _ := json.Marshal(tt.body)
				t.Errorf("body %s\nwant %s", got, want)
			}
		})
	}
}

func TestConnectionsUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"group alone", []string{"connections"}, "connections needs a command"},
		{"add without name", []string{"connections", "add", "--type", "bearer", "--token", "t"}, "needs one connection NAME"},
		{"add blank name", []string{"connections", "add", " ", "--type", "bearer", "--token", "t"}, "must not be empty"},
		{"add without type", []string{"connections", "add", "gh", "--token", "t"}, "connections add needs --type, one of bearer, basic, api_key, oauth2, smtp"},
		{"add bad type", []string{"connections", "add", "gh", "--type", "ldap"}, `--type "ldap" is not one of`},
		{"bearer without token", []string{"connections", "add", "gh", "--type", "bearer"}, "a bearer connection needs --token or --token-stdin"},
		{"basic without username", []string{"connections", "add", "gh", "--type", "basic", "--password-stdin"}, "a basic connection needs --username"},
		{"oauth2 without client", []string{"connections", "add", "g", "--type", "oauth2", "--token-url", "https://t.example.com"}, "needs --client-id"},
		{"smtp without host", []string{"connections", "add", "m", "--type", "smtp"}, "an smtp connection needs --host"},
		{"smtp login without password", []string{"connections", "add", "m", "--type", "smtp", "--host", "h", "--username", "u"}, "needs --password or --password-stdin"},
		{"token twice", []string{"connections", "add", "gh", "--type", "bearer", "--token", "t", "--token-stdin"}, "give --token or --token-stdin, not both"},
		{"two secrets from stdin", []string{"connections", "update", "gh", "--password-stdin", "--key-stdin"}, "only one secret can be read from stdin"},
		{"flag the type does not use", []string{"connections", "add", "gh", "--type", "bearer", "--token", "t", "--username", "u"}, "--username is not used by a bearer connection"},
		{"bad key-in", []string{"connections", "add", "k", "--type", "api_key", "--key", "k", "--key-in", "cookie"}, `--key-in "cookie" must be header or query`},
		{"bad tls", []string{"connections", "add", "m", "--type", "smtp", "--host", "h", "--tls", "sometimes"}, `--tls "sometimes" must be one of`},
		{"bad port", []string{"connections", "add", "m", "--type", "smtp", "--host", "h", "--port", "70000"}, "--port 70000 must be between 1 and 65535"},
		{"bad test url", []string{"connections", "add", "gh", "--type", "bearer", "--token", "t", "--test-url", "api.github.com"}, `--test-url "api.github.com" must be an http or https URL`},
		{"API token as the connection's token", []string{"--token", goodToken, "connections", "update", "gh", "--test-url", "https://x.example.com"}, "looks like a Sluice API token"},
		{"update without flags", []string{"connections", "update", "gh"}, "connections update needs at least one flag to change"},
		{"update bad type", []string{"connections", "update", "gh", "--type", "x"}, `--type "x" is not one of`},
		{"show without argument", []string{"connections", "show"}, "needs one connection NAME|ID"},
		{"verify two", []string{"connections", "verify", "a", "b"}, "takes one connection NAME|ID, got 2 arguments"},
		{"delete blank", []string{"connections", "delete", ""}, "must not be empty"},
		{"list argument", []string{"connections", "list", "x"}, "takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupConnections(t)
			r := b.run(t, "secret\n", tt.args...)
			r.check(t, ExitUsage, nil, []string{tt.stderr, "--help' for usage"})
			if got := b.api.seen(); len(got) != 0 {
				t.Errorf("a usage error sent %d requests: %+v", len(got), got)
			}
		})
	}
}

func TestConnectionsFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		stdin  string
		stdout []string
		stderr string
		sent   bool
	}{
		{name: "empty stdin", args: []string{"connections", "add", "gh", "--type", "bearer", "--token-stdin"}, stderr: "sluice: --token-stdin: stdin is empty\n"},
		{name: "duplicate", args: []string{"connections", "add", "taken", "--type", "bearer", "--token", "t"}, sent: true,
			stderr: "sluice: adding connection taken: you already have a connection named \"taken\"\n"},
		{name: "verify needs attention", args: []string{"connections", "verify", "gh"}, sent: true,
			stdout: []string{"Health:      needs_attention\n", "Status:      401\n", "Reason:      test request to https://api.github.com/user answered 401 Unauthorized: Bad credentials\n"},
			stderr: "sluice: connection gh is needs_attention: fix it with 'sluice connections update gh --token-stdin' (for a bearer token; --password-stdin for basic and smtp, --key-stdin for api_key, --client-secret-stdin for oauth2)\n"},
		{name: "verify json needs attention", args: []string{"connections", "verify", "gh", "--json"}, sent: true,
			stdout: []string{`"health": "needs_attention"`, `"status": 401`}, stderr: "sluice: connection gh is needs_attention"},
		{name: "verify without test url", args: []string{"connections", "verify", "plain"}, sent: true,
			stderr: "sluice: verifying connection plain: set config.test_url to verify\n"},
		{name: "show missing", args: []string{"connections", "show", "nope"}, sent: true, stderr: "sluice: showing connection nope: no route GET /connections/nope\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupConnections(t)
			r := b.run(t, tt.stdin, tt.args...)
			r.check(t, ExitFailure, tt.stdout, []string{tt.stderr})
			if sent := len(b.api.seen()) > 0; sent != tt.sent {
				t.Errorf("sent a request: %v, want %v", sent, tt.sent)
			}
		})
	}
}

func TestConnectionsOutput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"list", []string{"connections", "list"}, "" +
			"ID  NAME  TYPE    HEALTH           CHECKED              ERROR\n" +
			"5   gh    bearer  needs_attention  2026-01-02 03:04:05  test request to https://api.github.com/user answered 401 Un…\n" +
			"6   mail  smtp    ok               2026-01-03 03:04:05  -\n"},
		{"show", []string{"connections", "show", "gh"}, "" +
			"ID:            5\n" +
			"Name:          gh\n" +
			"Type:          bearer\n" +
			"Health:        needs_attention\n" +
			"Reason:        test request to https://api.github.com/user answered 401 Unauthorized: Bad credentials\n" +
			"Checked:       2026-01-02 03:04:05\n" +
			"Broken since:  2026-01-02 03:04:05\n" +
			"Test url:      https://api.github.com/user\n" +
			"Secrets:       token (set, not shown)\n" +
			"Owner:         1\n" +
			"Created:       2026-01-01 00:00:00\n" +
			"Updated:       2026-01-02 00:00:00\n" +
			"\n" +
			"Used by:\n" +
			"ID  FLOW\n" +
			"3   hello\n" +
			"4   nightly report\n"},
		{"show smtp", []string{"connections", "show", "mail"}, "" +
			"ID:        6\n" +
			"Name:      mail\n" +
			"Type:      smtp\n" +
			"Health:    ok\n" +
			"Checked:   2026-01-03 03:04:05\n" +
			"Username:  ann\n" +
			"Host:      smtp.example.com\n" +
			"Port:      587\n" +
			"Tls:       starttls\n" +
			"Secrets:   password (set, not shown)\n" +
			"Owner:     1\n" +
			"Created:   2026-01-01 00:00:00\n" +
			"Updated:   2026-01-02 00:00:00\n" +
			"\n" +
			"No flow uses this connection.\n"},
		{"verify ok", []string{"connections", "verify", "mail"}, "" +
			"Connection:  mail\n" +
			"Health:      ok\n" +
			"Checked:     2026-01-03 03:04:05\n"},
		{"delete", []string{"connections", "delete", "gh"}, "deleted connection gh\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupConnections(t)
			r := b.run(t, "", tt.args...)
			r.check(t, ExitOK, nil, nil)
			if r.stdout != tt.want {
				t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, tt.want)
			}
		})
	}
}

func TestConnectionsJSON(t *testing.T) {
	t.Parallel()
	connKeys := []string{"broken_at", "config", "created_at", "health", "health_at", "health_error", "id", "name", "owner_id", "secret_fields", "type", "updated_at"}
	b := setupConnections(t)

	r := b.run(t, "", "connections", "list", "--json")
	r.check(t, ExitOK, nil, nil)
	var list []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 2 {
		t.Fatalf("list --json: %v\n%s", err, r.stdout)
	}
	if got := keys(list[0]); !reflect.DeepEqual(got, connKeys) {
		t.Errorf("keys %v, want %v", got, connKeys)
	}

	r = b.run(t, "", "connections", "show", "5", "--json")
	r.check(t, ExitOK, nil, nil)
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.stdout), &obj); err != nil {
		t.Fatalf("show --json: %v\n%s", err, r.stdout)
	}
	want := append([]string{"flows"}, connKeys...)
	sort.Strings(want)
	if got := keys(obj); !reflect.DeepEqual(got, want) {
		t.Errorf("keys %v, want %v", got, want)
	}

	r = b.run(t, "", "connections", "verify", "mail", "--json")
	r.check(t, ExitOK, nil, nil)
	obj = nil
	if err := json.Unmarshal([]byte(r.stdout), &obj); err != nil {
		t.Fatalf("verify --json: %v\n%s", err, r.stdout)
	}
	if got := keys(obj); !reflect.DeepEqual(got, []string{"health", "health_at", "health_error"}) {
		t.Errorf("verify keys %v", got)
	}
}
