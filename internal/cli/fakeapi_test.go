package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// goodToken is the only token the fake API accepts.
const goodToken = "slc_good"

// request is what the fake API saw of one call.
type request struct {
	Method, Path, Query, Auth string
	Body                      map[string]any
}

// fakeAPI is a real HTTP server implementing the few routes of docs/api.md
// the CLI calls, with canned answers.
type fakeAPI struct {
	srv *httptest.Server

	mu         sync.Mutex
	requests   []request
	runPolls   map[string]int
	tokenNames []string
	deleted    []string
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{runPolls: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/login", f.login)
	mux.HandleFunc("/api/v1/", f.authed)
	f.srv = httptest.NewServer(f.record(mux))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if b, _ := io.ReadAll(r.Body); len(b) > 0 {
			if err := json.Unmarshal(b, &body); err != nil {
				writeErr(w, 400, "bad_request", "invalid JSON", nil)
				return
			}
		}
		r.Body = io.NopCloser(strings.NewReader(""))
		f.mu.Lock()
		f.requests = append(f.requests, request{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Auth: r.Header.Get("Authorization"), Body: body})
		f.mu.Unlock()
		r = r.WithContext(withBody(r.Context(), body))
		next.ServeHTTP(w, r)
	})
}

func (f *fakeAPI) seen() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

func (f *fakeAPI) last(t *testing.T) request {
	t.Helper()
	rs := f.seen()
	if len(rs) == 0 {
		t.Fatal("no request reached the server")
	}
	return rs[len(rs)-1]
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func writeErr(w http.ResponseWriter, status int, code, msg string, details any) {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": code, "message": msg, "details": details}})
	writeJSON(w, status, string(b))
}

func (f *fakeAPI) login(w http.ResponseWriter, r *http.Request) {
	body := bodyOf(r.Context())
	if body["email"] != "ada@example.com" || body["password"] != "s3cret pw" {
		writeErr(w, 401, "unauthorized", "wrong email or password", nil)
		return
	}
	name, _ := body["token_name"].(string)
	f.mu.Lock()
	f.tokenNames = append(f.tokenNames, name)
	f.mu.Unlock()
	writeJSON(w, 201, `{"token":"`+goodToken+`","user":{"id":1,"email":"ada@example.com","name":"Ada","role":"admin","created_at":"2026-01-02T03:04:05Z"}}`)
}

const flowJSON = `{"id":3,"name":"hello","enabled":true,"version":2,"trigger_type":"webhook","webhook_url":"http://sluice.test/hooks/abc","owner_id":1,"created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-03T03:04:05Z"}`

const runsJSON = `{"runs":[
 {"id":42,"flow_id":3,"flow_name":"hello","flow_version":2,"status":"failed","trigger_type":"manual","started_at":"2026-01-02T03:04:05Z","finished_at":"2026-01-02T03:04:06.5Z","created_at":"2026-01-02T03:04:05Z","resubmitted_from":null,"error":"step call failed: 401 Unauthorized","input":{"a":1},"output":null},
 {"id":41,"flow_id":3,"flow_name":"hello","flow_version":2,"status":"running","trigger_type":"webhook","started_at":"2026-01-02T03:00:00Z","finished_at":null,"created_at":"2026-01-02T03:00:00Z","resubmitted_from":40,"error":null,"input":null,"output":null}
],"next_before":"41"}`

const runJSON = `{"id":42,"flow_id":3,"flow_name":"hello","flow_version":2,"status":"failed","trigger_type":"manual","started_at":"2026-01-02T03:04:05Z","finished_at":"2026-01-02T03:04:06.5Z","created_at":"2026-01-02T03:04:05Z","resubmitted_from":null,"error":"step call failed","input":{"a":1},"output":null,
 "steps":[
  {"id":"get","action_id":"get","type":"http","status":"succeeded","started_at":"2026-01-02T03:04:05Z","finished_at":"2026-01-02T03:04:05.25Z","attempts":1,"error":null,"input":{"url":"https://api.example.com/me"},"output":{"status":200,"body":"line one\nline two"}},
  {"id":"call","action_id":"call","type":"http","status":"failed","started_at":"2026-01-02T03:04:05.25Z","finished_at":"2026-01-02T03:04:06.5Z","attempts":3,"error":{"message":"401 Unauthorized:\nbad token","kind":"http","status":401,"body":{"error":"invalid_token"}},"input":{},"output":null}
 ]}`

// retryJSON is a run waiting for the next try of a step.
const retryJSON = `{"id":48,"flow_id":3,"flow_name":"hello","flow_version":2,"status":"waiting","trigger_type":"manual","started_at":"2026-01-02T03:04:05Z","finished_at":null,"created_at":"2026-01-02T03:04:05Z","resubmitted_from":null,"error":null,"input":null,"output":null,
 "steps":[
  {"id":"call","action_id":"call","type":"http","status":"waiting","started_at":"2026-01-02T03:04:05Z","finished_at":null,"attempts":2,"error":{"message":"503 Service Unavailable","kind":"http","status":503,"body":"busy, try later"},"input":null,"output":null,"next_attempt_at":"2026-01-02T03:05:00Z",
   "attempt_log":[{"n":1,"started_at":"2026-01-02T03:04:05Z","finished_at":"2026-01-02T03:04:05.25Z","outcome":"failed","http_status":503,"answer":"HTTP 503 Service Unavailable from GET https://api.example.com/me · busy","retry_at":"2026-01-02T03:04:35Z"},
    {"n":2,"started_at":"2026-01-02T03:04:35Z","finished_at":"2026-01-02T03:04:36Z","outcome":"failed","http_status":503,"answer":"busy, try later","retry_at":"2026-01-02T03:05:00Z"}]}
 ]}`

// authed serves every route that needs the bearer token.
func (f *fakeAPI) authed(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+goodToken {
		writeErr(w, 401, "unauthorized", "invalid token", nil)
		return
	}
	body := bodyOf(r.Context())
	route := r.Method + " " + strings.TrimPrefix(r.URL.EscapedPath(), "/api/v1")
	switch {
	case route == "GET /me":
		writeJSON(w, 200, `{"id":1,"email":"ada@example.com","name":"Ada","role":"admin","created_at":"2026-01-02T03:04:05Z"}`)
	case route == "GET /users":
		writeJSON(w, 200, `{"users":[{"id":1,"email":"ada@example.com","name":"Ada","role":"admin","created_at":"2026-01-02T03:04:05Z"}]}`)
	case route == "POST /users":
		if body["role"] == "admin" && body["email"] == "taken@example.com" {
			writeErr(w, 409, "conflict", "a user with this email exists", nil)
			return
		}
		writeJSON(w, 201, fmt.Sprintf(`{"id":2,"email":%q,"name":%q,"role":%q,"created_at":"2026-01-02T03:04:05Z"}`, body["email"], body["name"], body["role"]))
	case route == "GET /tokens":
		f.mu.Lock()
		var items []string
		for i, n := range f.tokenNames {
			items = append(items, fmt.Sprintf(`{"id":%d,"name":%q,"created_at":"2026-01-02T03:04:05Z","last_used_at":null}`, 100+i, n))
		}
		f.mu.Unlock()
		writeJSON(w, 200, `{"tokens":[`+strings.Join(items, ",")+`]}`)
	case route == "POST /tokens":
		writeJSON(w, 201, fmt.Sprintf(`{"token":"slc_new","id":9,"name":%q,"created_at":"2026-01-02T03:04:05Z"}`, body["name"]))
	case strings.HasPrefix(route, "DELETE /tokens/"):
		f.mu.Lock()
		f.deleted = append(f.deleted, strings.TrimPrefix(route, "DELETE /tokens/"))
		f.mu.Unlock()
		w.WriteHeader(204)
	case route == "GET /flows":
		writeJSON(w, 200, `{"flows":[`+flowJSON+`]}`)
	case route == "POST /flows":
		src, _ := body["source"].(string)
		switch {
		case strings.Contains(src, "indented"):
			// The real checker's answer, as the server gives it.
			writeErr(w, 422, "invalid_flow", "the flow has problems", checkOffline([]byte(src)))
		case strings.Contains(src, "htp"):
			writeErr(w, 422, "invalid_flow", "the flow has problems", []map[string]any{
				{"path": "actions[0].type", "message": `unknown action type "htp"`, "line": 6, "column": 11},
				{"path": "name", "message": "must not be empty"},
			})
		case strings.Contains(src, "Welcome"):
			writeJSON(w, 201, `{"id":7,"name":"Welcome a new hire","enabled":true,"version":1,"trigger_type":"webhook","webhook_url":"http://sluice.test/hooks/xyz"}`)
		default:
			writeJSON(w, 200, `{"id":3,"name":"hello","enabled":true,"version":5,"trigger_type":"manual","webhook_url":null}`)
		}
	case route == "POST /flows/check":
		src, _ := body["source"].(string)
		if strings.Contains(src, "htp") {
			writeJSON(w, 200, `{"ok":false,"problems":[{"path":"actions[0].type","message":"unknown action type","line":6,"column":11}]}`)
			return
		}
		writeJSON(w, 200, `{"ok":true,"problems":[]}`)
	case route == "GET /flows/hello" || route == "GET /flows/3" || route == "GET /flows/my%20flow":
		writeJSON(w, 200, strings.TrimSuffix(flowJSON, "}")+`,"definition":{"name":"hello"},"source":"name: hello\ntrigger:\n  type: webhook\n","run_count":12}`)
	case route == "POST /flows/hello/enable" || route == "POST /flows/hello/disable":
		writeJSON(w, 200, flowJSON)
	case route == "GET /flows/hello/versions":
		writeJSON(w, 200, `{"versions":[{"version":2,"created_at":"2026-01-03T03:04:05Z","created_by":1},{"version":1,"created_at":"2026-01-02T03:04:05Z","created_by":1}]}`)
	case route == "DELETE /flows/3":
		w.WriteHeader(204)
	case route == "POST /flows/hello/trigger":
		writeJSON(w, 201, `{"id":42,"flow_id":3,"flow_name":"hello","status":"queued"}`)
	case route == "POST /flows/failing/trigger":
		writeJSON(w, 201, `{"id":43,"flow_id":4,"flow_name":"failing","status":"queued"}`)
	case route == "POST /flows/slow/trigger":
		writeJSON(w, 201, `{"id":46,"flow_id":5,"flow_name":"slow","status":"queued"}`)
	case route == "GET /runs/46":
		writeJSON(w, 200, `{"id":46,"status":"waiting","started_at":"2026-01-02T03:04:05Z","steps":[]}`)
	case route == "GET /runs":
		writeJSON(w, 200, runsJSON)
	case route == "GET /runs/42" && f.poll("42") > 2:
		writeJSON(w, 200, `{"id":42,"status":"succeeded","started_at":"2026-01-02T03:04:05Z","finished_at":"2026-01-02T03:04:06Z","steps":[]}`)
	case route == "GET /runs/42":
		writeJSON(w, 200, `{"id":42,"status":"running","started_at":"2026-01-02T03:04:05Z","steps":[]}`)
	case route == "GET /runs/43":
		writeJSON(w, 200, `{"id":43,"status":"failed","error":"step call failed: 401","steps":[]}`)
	case route == "GET /runs/44":
		writeJSON(w, 200, runJSON) // a run shown, not polled
	case route == "GET /runs/48":
		writeJSON(w, 200, retryJSON)
	case route == "GET /runs/47" && r.URL.Query().Get("steps_after") == "":
		writeJSON(w, 200, `{"id":47,"status":"succeeded","steps":[{"id":"loop[0].c","type":"compose","status":"succeeded","attempts":1}],"next_steps_after":1}`)
	case route == "GET /runs/47" && r.URL.Query().Get("steps_after") == "1":
		writeJSON(w, 200, `{"id":47,"status":"succeeded","steps":[{"id":"loop","type":"foreach","status":"succeeded","attempts":1}],"next_steps_after":null}`)
	case strings.HasPrefix(route, "POST /runs/") && strings.HasSuffix(route, "/resubmit"):
		id := strings.TrimSuffix(strings.TrimPrefix(route, "POST /runs/"), "/resubmit")
		if id == "404" {
			writeErr(w, 404, "not_found", "run 404 not found", nil)
			return
		}
		writeJSON(w, 201, `{"id":"9`+id+`","status":"queued","resubmitted_from":`+id+`}`)
	case strings.HasPrefix(route, "POST /runs/") && strings.HasSuffix(route, "/cancel"):
		id := strings.TrimSuffix(strings.TrimPrefix(route, "POST /runs/"), "/cancel")
		if id == "404" {
			writeErr(w, 404, "not_found", "run 404 not found", nil)
			return
		}
		writeJSON(w, 200, `{"id":`+id+`,"status":"cancelled"}`)
	default:
		writeErr(w, 404, "not_found", "no route "+route, nil)
	}
}

// poll counts the GETs of run id while a test waits for it: the run is
// "running" for the first polls, then succeeds.
func (f *fakeAPI) poll(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runPolls[id]++
	return f.runPolls[id]
}

type bodyKey struct{}

func withBody(ctx context.Context, body map[string]any) context.Context {
	return context.WithValue(ctx, bodyKey{}, body)
}

func bodyOf(ctx context.Context) map[string]any {
	b, _ := ctx.Value(bodyKey{}).(map[string]any)
	return b
}
