package cli

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// setupTrouble is setup with a fake API that also serves the
// troubleshooting routes (bulk jobs, problems, notifications, settings,
// outbox) and falls back to the common fake for the others.
func setupTrouble(t *testing.T) *bundle {
	t.Helper()
	f := &fakeAPI{runPolls: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/login", f.login)
	mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+goodToken || !troubleRoutes(f, w, r) {
			f.authed(w, r)
		}
	})
	f.srv = httptest.NewServer(f.record(mux))
	t.Cleanup(f.srv.Close)
	dir := t.TempDir()
	return &bundle{
		api:       f,
		configDir: dir,
		env: map[string]string{
			"XDG_CONFIG_HOME": dir,
			"SLUICE_SERVER":   f.srv.URL,
			"SLUICE_TOKEN":    goodToken,
		},
	}
}

// jobJSON is a job answer.
func jobJSON(id, kind, status string, total, done, failed int, errText string) string {
	return `{"id":` + id + `,"owner_id":1,"kind":"` + kind + `","status":"` + status + `","params":{},"total":` + strconv.Itoa(total) +
		`,"done":` + strconv.Itoa(done) + `,"failed":` + strconv.Itoa(failed) + `,"error":"` + errText + `","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z","finished_at":null}`
}

// troubleRoutes answers the routes the common fake lacks; it reports
// whether it answered.
func troubleRoutes(f *fakeAPI, w http.ResponseWriter, r *http.Request) bool {
	body := bodyOf(r.Context())
	route := r.Method + " " + strings.TrimPrefix(r.URL.EscapedPath(), "/api/v1")
	switch route {
	case "POST /runs/resubmit":
		filter, _ := body["filter"].(map[string]any)
		switch filter["flow"] {
		case "missing":
			writeErr(w, 404, "not_found", `flow "missing" not found`, nil)
		case "broken":
			writeJSON(w, 202, jobJSON("9", "resubmit", "queued", 0, 0, 0, ""))
		default:
			writeJSON(w, 202, jobJSON("7", "resubmit", "queued", 0, 0, 0, ""))
		}
	case "POST /runs/cancel":
		writeJSON(w, 202, jobJSON("8", "cancel", "queued", 0, 0, 0, ""))
	case "GET /jobs/7":
		// Running, the same again, further, then done with 2 skipped.
		switch n := f.poll("job7"); {
		case n <= 2:
			writeJSON(w, 200, jobJSON("7", "resubmit", "running", 300, 120, 2, ""))
		case n == 3:
			writeJSON(w, 200, jobJSON("7", "resubmit", "running", 300, 250, 2, ""))
		default:
			writeJSON(w, 200, jobJSON("7", "resubmit", "succeeded", 300, 298, 2, ""))
		}
	case "GET /jobs/8":
		writeJSON(w, 200, jobJSON("8", "cancel", "succeeded", 5, 5, 0, ""))
	case "GET /jobs/9":
		writeJSON(w, 200, jobJSON("9", "resubmit", "failed", 0, 0, 0, "connection gone"))
	case "POST /runs/77/resubmit":
		writeJSON(w, 200, `{"id":78,"status":"running","resubmitted_from":77,"existing":true}`)
	case "GET /runs/45":
		writeJSON(w, 200, `{"id":45,"flow_id":3,"flow_name":"hello","flow_version":2,"status":"failed","trigger_type":"manual","created_at":"2026-01-02T03:04:05Z","error":"step get_manager failed",
 "steps":[{"id":"get_manager","action_id":"get_manager","type":"http","status":"failed","attempts":1,
  "error":{"message":"404 Not Found","kind":"http","status":404,"diagnosis":{"class":"flow","code":"graph.no_manager","title":"The user has no manager",
   "what_happened":"Microsoft Graph says user ada@example.com has no manager set in the directory.",
   "how_to_fix":"Set a manager for the user in Entra ID,\nor handle users without one in the flow: add a step with run_after get_manager [failed].",
   "retryable":false,"actions":["edit_flow","resubmit"]}}}]}`)
	case "GET /problems":
		writeJSON(w, 200, `{"problems":[{"flow_id":3,"flow_name":"hello","owner_id":1,"step":"get_manager","code":"graph.no_manager","class":"flow","title":"The user has no manager","count":12,"first_seen":"2026-01-01T08:00:00Z","last_seen":"2026-01-02T09:30:00Z","latest_run_id":45,"ongoing":true},
 {"flow_id":3,"flow_name":"hello","owner_id":1,"step":"post","code":"http.404","class":"config","title":"Not found","count":1,"first_seen":"2026-01-01T07:00:00Z","last_seen":"2026-01-01T07:00:00Z","latest_run_id":40,"ongoing":false}]}`)
	case "GET /notifications":
		writeJSON(w, 200, `{"notifications":[
 {"id":12,"kind":"run_failed","title":"hello failed","body":"Step get_manager failed: the user has no manager","flow_id":3,"run_id":45,"connection_id":null,"read_at":null,"created_at":"2026-01-02T09:30:00Z"},
 {"id":11,"kind":"connection_broken","title":"directory needs attention","body":"The token was refused: the directory answered 401 Unauthorized with invalid_token; update the connection's token","flow_id":null,"run_id":null,"connection_id":2,"read_at":"2026-01-02T09:00:00Z","created_at":"2026-01-02T08:00:00Z","resolved":true}],"unread":1}`)
	case "POST /notifications/read":
		w.WriteHeader(204)
	case "GET /flows/hello/settings":
		writeJSON(w, 200, `{"repair_emails":true}`)
	case "PUT /flows/hello/settings":
		on, _ := body["repair_emails"].(bool)
		writeJSON(w, 200, `{"repair_emails":`+map[bool]string{true: "true", false: "false"}[on]+`}`)
	case "GET /me/settings":
		writeJSON(w, 200, `{"repair_emails":"immediately"}`)
	case "PUT /me/settings":
		writeJSON(w, 200, `{"repair_emails":"`+body["repair_emails"].(string)+`"}`)
	case "GET /outbox":
		if r.URL.Query().Get("status") == "sent" {
			writeErr(w, 403, "forbidden", "only an admin may do this", nil)
			return true
		}
		writeJSON(w, 200, `{"mail":[{"id":5,"to":["ada@example.com"],"subject":"hello failed: the user has no manager","text":"What happened","html":"<p>What happened</p>","kind":"repair_tip","status":"failed","attempts":8,"last_error":"dial tcp: connection refused","message_id":"","next_attempt_at":"2026-01-02T03:04:05Z","created_at":"2026-01-02T03:04:05Z","sent_at":null}]}`)
	default:
		return false
	}
	return true
}

func TestTroubleUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"ids and a filter", []string{"runs", "resubmit", "1", "--flow", "hello"}, "takes RUN ids or a filter (--flow, --status, --since, --connection), not both"},
		{"no ids and no filter", []string{"runs", "resubmit", "--force"}, "runs resubmit needs at least one RUN id, or a filter"},
		{"cancel with nothing", []string{"runs", "cancel"}, "runs cancel needs at least one RUN id, or a filter"},
		{"bad since", []string{"runs", "resubmit", "--flow", "hello", "--since", "yesterday"}, `--since "yesterday" must be a duration such as 24h or 7d`},
		{"zero since", []string{"runs", "cancel", "--since", "0s"}, "must be a positive duration"},
		{"bad status", []string{"runs", "cancel", "--status", "done"}, `--status "done" is not a run status`},
		{"bad version", []string{"runs", "resubmit", "1", "--version", "newest"}, `--version "newest" must be latest or original`},
		{"bad from", []string{"runs", "resubmit", "--status", "failed", "--from", "middle"}, `--from "middle" must be trigger or failed`},
		{"wait without a filter", []string{"runs", "resubmit", "1", "--wait"}, "--wait follows a bulk job"},
		{"cancel has no version", []string{"runs", "cancel", "1", "--version", "original"}, "unknown flag: --version"},
		{"problems bad since", []string{"problems", "--since", "later"}, `--since "later"`},
		{"problems takes no args", []string{"problems", "hello"}, "problems takes no arguments"},
		{"activity bad limit", []string{"activity", "--limit", "-1"}, "--limit must be positive"},
		{"flow settings bad value", []string{"flows", "settings", "hello", "--repair-emails", "maybe"}, `--repair-emails "maybe" must be on or off`},
		{"flow settings without flow", []string{"flows", "settings"}, "needs one flow NAME|ID"},
		{"user settings bad value", []string{"users", "settings", "--repair-emails", "weekly"}, `--repair-emails "weekly" must be one of immediately, hourly, daily, never`},
		{"outbox bad status", []string{"outbox", "--status", "lost"}, `--status "lost" must be one of queued, sent, failed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupTrouble(t)
			r := b.run(t, "", tt.args...)
			r.check(t, ExitUsage, nil, []string{tt.stderr, "--help' for usage"})
			if got := b.api.seen(); len(got) != 0 {
				t.Errorf("a usage error sent %d requests: %+v", len(got), got)
			}
		})
	}
}

func TestResubmitOneRun(t *testing.T) {
	t.Parallel()
	b := setupTrouble(t)
	r := b.run(t, "", "runs", "resubmit", "5", "77", "--version", "original", "--from", "failed", "--force")
	r.check(t, ExitOK, nil, nil)
	want := "run 5 resubmitted as run 95\nrun 77 already resubmitted as run 78 (still running)\n"
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	req := b.api.last(t)
	if wantBody := map[string]any{"version": "original", "from": "failed", "force": true}; !reflect.DeepEqual(req.Body, wantBody) {
		t.Errorf("body %v, want %v", req.Body, wantBody)
	}

	// Without options the body stays empty, as before.
	b.run(t, "", "runs", "resubmit", "5").check(t, ExitOK, []string{"run 5 resubmitted as run 95"}, nil)
	if req := b.api.last(t); req.Body != nil {
		t.Errorf("body %v, want none", req.Body)
	}
}

func TestBulkResubmitWait(t *testing.T) {
	t.Parallel()
	b := setupTrouble(t)
	r := b.run(t, "", "runs", "resubmit", "--flow", "hello", "--status", "failed", "--since", "24h", "--from", "failed", "--wait")
	r.check(t, ExitFailure, []string{"job 7 succeeded: 298 of 300 runs resubmitted, 2 skipped\n"}, nil)
	// Not a terminal: one line per change, no carriage returns.
	wantErr := "[                              ] queued, waiting for a worker\n" +
		"[============>                 ] 120/300 resubmitted, 2 skipped\n" +
		"[=========================>    ] 250/300 resubmitted, 2 skipped\n" +
		"[==============================] 298/300 resubmitted, 2 skipped\n" +
		"sluice: job 7 could not resubmit 2 of 300 runs (see the server log)\n"
	if r.stderr != wantErr {
		t.Errorf("stderr:\n%q\nwant:\n%q", r.stderr, wantErr)
	}
	reqs := b.api.seen()
	first := reqs[0]
	if first.Method != "POST" || first.Path != "/api/v1/runs/resubmit" {
		t.Fatalf("first request %s %s", first.Method, first.Path)
	}
	wantBody := map[string]any{"filter": map[string]any{"flow": "hello", "status": "failed", "since": "24h"}, "from": "failed"}
	if !reflect.DeepEqual(first.Body, wantBody) {
		t.Errorf("body %v, want %v", first.Body, wantBody)
	}
	for _, req := range reqs[1:] {
		if req.Method != "GET" || req.Path != "/api/v1/jobs/7" {
			t.Errorf("poll %s %s, want GET /api/v1/jobs/7", req.Method, req.Path)
		}
	}
}

func TestBulkJobs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"queued without wait", []string{"runs", "resubmit", "--connection", "directory"}, ExitOK,
			[]string{"job 7 queued: the server resubmits the matching runs in the background (add --wait to follow it)\n"}, nil},
		{"queued as JSON", []string{"runs", "resubmit", "--status", "failed", "--json"}, ExitOK,
			[]string{`"id": 7`, `"status": "queued"`}, nil},
		{"cancel waits", []string{"runs", "cancel", "--flow", "hello", "--status", "running", "--wait"}, ExitOK,
			[]string{"job 8 succeeded: 5 of 5 runs cancelled, 0 skipped\n"}, []string{"[==============================] 5/5 cancelled, 0 skipped\n"}},
		{"cancel waits as JSON", []string{"runs", "cancel", "--status", "running", "--wait", "--json"}, ExitOK,
			[]string{`"status": "succeeded"`, `"done": 5`}, nil},
		{"job fails", []string{"runs", "resubmit", "--flow", "broken", "--wait"}, ExitFailure,
			[]string{"job 9 failed: 0 of 0 runs resubmitted"}, []string{"sluice: job 9 failed: connection gone\n"}},
		{"jobs show running", []string{"jobs", "show", "7"}, ExitOK,
			[]string{"job 7 running: 120 of 300 runs resubmitted so far, 2 skipped\n"}, nil},
		{"jobs show waits", []string{"jobs", "show", "7", "--wait"}, ExitFailure,
			[]string{"job 7 succeeded: 298 of 300 runs resubmitted, 2 skipped\n"}, []string{"sluice: job 7 could not resubmit 2 of 300 runs"}},
		{"jobs show finished", []string{"jobs", "show", "8"}, ExitOK,
			[]string{"job 8 succeeded: 5 of 5 runs cancelled, 0 skipped\n"}, nil},
		{"jobs show bad id", []string{"jobs", "show", "seven"}, ExitUsage,
			nil, []string{`job id "seven" must be a positive number`}},
		{"server refuses", []string{"runs", "resubmit", "--flow", "missing"}, ExitFailure,
			nil, []string{`sluice: queueing bulk resubmit: flow "missing" not found`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupTrouble(t)
			b.run(t, "", tt.args...).check(t, tt.code, tt.stdout, tt.stderr)
		})
	}
}

func TestProgressBarTerminal(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	p := newProgressBar(&buf, true, "cancelled")
	p.update(apiJob{Status: "queued"})
	p.update(apiJob{Status: "running", Total: 10, Done: 5})
	p.update(apiJob{Status: "running", Total: 10, Done: 5})
	p.update(apiJob{Status: "succeeded", Total: 10, Done: 9, Failed: 1})
	p.done()
	want := "\r[                              ] queued, waiting for a worker" +
		"\r[===============>              ] 5/10 cancelled, 0 skipped" + strings.Repeat(" ", 3) +
		"\r[==============================] 9/10 cancelled, 1 skipped\n"
	if buf.String() != want {
		t.Errorf("got\n%q\nwant\n%q", buf.String(), want)
	}
}

func TestRunsShowDiagnosis(t *testing.T) {
	t.Parallel()
	b := setupTrouble(t)
	r := b.run(t, "", "runs", "show", "45")
	r.check(t, ExitOK, []string{
		"get_manager  http  failed",
		"Step get_manager failed: The user has no manager\n",
		"  Class:      flow\n",
		"  Code:       graph.no_manager\n",
		"  Retryable:  no\n",
		"  What happened:\n    Microsoft Graph says user ada@example.com has no manager set in the directory.\n",
		"  How do I fix:\n    Set a manager for the user in Entra ID,\n    or handle users without one in the flow",
		// A diagnosis stored without its article gets it from its code.
		"  Learn more: sluice help show microsoft-graph\n",
	}, nil)
	// A run without diagnoses shows none.
	r = b.run(t, "", "runs", "show", "44")
	if strings.Contains(r.stdout, "What happened") {
		t.Errorf("diagnosis block without a diagnosis:\n%s", r.stdout)
	}
}

func TestTroubleCommands(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		code    int
		stdout  []string
		request string // "METHOD path?query" of the last request
		body    map[string]any
	}{
		{"problems", []string{"problems", "--flow", "hello", "--since", "7d"}, ExitOK, []string{
			"FLOW   STEP         CODE              PROBLEM                  CLASS   COUNT  FIRST SEEN           LAST SEEN            LATEST RUN  STATE",
			"hello  get_manager  graph.no_manager  The user has no manager  flow    12     2026-01-01 08:00:00  2026-01-02 09:30:00  45          ongoing",
			"hello  post         http.404          Not found                config  1      2026-01-01 07:00:00  2026-01-01 07:00:00  40          resolved",
		}, "GET /api/v1/problems?flow=hello&since=7d", nil},
		{"problems as JSON", []string{"problems", "--json"}, ExitOK, []string{`"code": "graph.no_manager"`, `"ongoing": true`}, "GET /api/v1/problems", nil},
		{"activity", []string{"activity", "--unread", "--limit", "5"}, ExitOK, []string{
			"1 unread\n",
			"unread          2026-01-02 09:30:00  run_failed         hello failed",
			"read, resolved  2026-01-02 08:00:00  connection_broken  directory needs attention  -    The token was refused: the directory answered 401 Unauthorized with invalid_token; update the connection's token\n",
		}, "GET /api/v1/notifications?limit=5&unread=true", nil},
		{"activity as JSON", []string{"activity", "--json"}, ExitOK, []string{`"unread": 1`, `"notifications": [`}, "GET /api/v1/notifications", nil},
		{"activity marks read", []string{"activity", "--mark-read"}, ExitOK, []string{"marked 2 notifications read\n"},
			"POST /api/v1/notifications/read", map[string]any{"ids": []any{12.0, 11.0}}},
		{"flow settings", []string{"flows", "settings", "hello"}, ExitOK, []string{"Repair emails:  on"}, "GET /api/v1/flows/hello/settings", nil},
		{"flow settings off", []string{"flows", "settings", "hello", "--repair-emails", "off"}, ExitOK, []string{"Repair emails:  off"},
			"PUT /api/v1/flows/hello/settings", map[string]any{"repair_emails": false}},
		{"flow settings as JSON", []string{"flows", "settings", "hello", "--json"}, ExitOK, []string{`"repair_emails": true`}, "GET /api/v1/flows/hello/settings", nil},
		{"user settings", []string{"users", "settings"}, ExitOK, []string{"Repair emails:  immediately"}, "GET /api/v1/me/settings", nil},
		{"user settings daily", []string{"users", "settings", "--repair-emails", "daily", "--json"}, ExitOK, []string{`"repair_emails": "daily"`},
			"PUT /api/v1/me/settings", map[string]any{"repair_emails": "daily"}},
		{"outbox", []string{"outbox", "--status", "failed"}, ExitOK, []string{
			"ID  CREATED              STATUS  ATTEMPTS  TO               SUBJECT",
			"5   2026-01-02 03:04:05  failed  8         ada@example.com  hello failed: the user has no manager  dial tcp: connection refused",
		}, "GET /api/v1/outbox?status=failed", nil},
		{"outbox as JSON", []string{"outbox", "--json"}, ExitOK, []string{`"html": "`, `What happened`, `"last_error": "dial tcp: connection refused"`}, "GET /api/v1/outbox", nil},
		{"outbox forbidden", []string{"outbox", "--status", "sent"}, ExitFailure, nil, "GET /api/v1/outbox?status=sent", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupTrouble(t)
			r := b.run(t, "", tt.args...)
			r.check(t, tt.code, tt.stdout, nil)
			req := b.api.last(t)
			got := req.Method + " " + req.Path
			if req.Query != "" {
				got += "?" + req.Query
			}
			if got != tt.request {
				t.Errorf("last request %q, want %q", got, tt.request)
			}
			if tt.body != nil && !reflect.DeepEqual(req.Body, tt.body) {
				t.Errorf("body %v, want %v", req.Body, tt.body)
			}
		})
	}
}
