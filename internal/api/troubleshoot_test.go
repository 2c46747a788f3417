package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/store"
)

// failRun commits a failed run of the flow of user key whose step failed
// with a diagnosis of that code and class, as the engine would.
func (b *bundle) failRun(t *testing.T, key, step, code, class string) store.Run {
	t.Helper()
	ctx := context.Background()
	f := b.flows[key]
	r, err := b.store.CreateRun(ctx, store.NewRun{
		FlowID: f.ID, FlowVersion: f.Version, TriggerType: "manual", Input: json.RawMessage(`{"input":{"n":1}}`),
		LeaseOwner: "test", LeaseUntil: time.Now().Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	stepErr, _ := json.Marshal(map[string]any{
		"message": "401 Unauthorized", "kind": "http", "status": 401,
		"diagnosis": map[string]any{"class": class, "code": code, "title": "The token was refused",
			"what_happened": "The API refused the token.", "how_to_fix": "Update the connection.", "retryable": false,
			"actions": []string{"fix_connection", "resubmit"}},
	})
	err = b.store.FinishRun(ctx, "test", r.ID, store.RunFinish{Status: store.RunFailed, Error: "step " + step + " failed", Steps: []store.Step{{
		Key: step, ActionID: step, Type: "http", Status: "failed", Attempts: 1, StartedAt: &now, FinishedAt: &now, Error: stepErr,
		Fault: store.StepFault{Class: class, Code: code},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if r, err = b.store.GetRun(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	return r
}

// jobParamsOf decodes a job answer's params.
func jobParamsOf(t *testing.T, body []byte) (jobView, engine.JobParams) {
	t.Helper()
	var j jobView
	if err := json.Unmarshal(body, &j); err != nil {
		t.Fatalf("decode job %s: %v", body, err)
	}
	var p engine.JobParams
	if err := json.Unmarshal(j.Params, &p); err != nil {
		t.Fatalf("decode job params %s: %v", j.Params, err)
	}
	return j, p
}

func TestResubmitOptions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ra := b.runs["a"]
	path := fmt.Sprintf("/api/v1/runs/%d/resubmit", ra.ID)

	var first resubmitView
	b.doJSON(t, "POST", path, "a", `{"version": "original", "from": "failed"}`, http.StatusCreated, &first)
	if first.Existing || first.ResubmittedFrom == nil || *first.ResubmittedFrom != ra.ID {
		t.Fatalf("first resubmit = %+v", first)
	}
	if got, want := b.runner.lastResubmitOptions(), (engine.ResubmitOptions{Version: "original", From: "failed"}); got != want {
		t.Fatalf("runner got %+v, want %+v", got, want)
	}
	// The first resubmit has not finished: a second answers it.
	var again resubmitView
	b.doJSON(t, "POST", path, "a", "", http.StatusOK, &again)
	if !again.Existing || again.ID != first.ID {
		t.Fatalf("second resubmit = %+v, want existing run %d", again, first.ID)
	}
	var forced resubmitView
	b.doJSON(t, "POST", path, "a", `{"force": true}`, http.StatusCreated, &forced)
	if forced.Existing || forced.ID == first.ID {
		t.Fatalf("forced resubmit = %+v, want a new run", forced)
	}

	for _, sc := range []scenario{
		{name: "bad version", method: "POST", path: path, who: "a", body: `{"version": "newest"}`, status: 400, contains: []string{`"bad_request"`, `version \"newest\"`}},
		{name: "bad from", method: "POST", path: path, who: "a", body: `{"from": "middle"}`, status: 400, contains: []string{`from \"middle\"`}},
		{name: "bad force", method: "POST", path: path, who: "a", body: `{"force": "yes"}`, status: 400, contains: []string{"force"}},
		{name: "unknown field", method: "POST", path: path, who: "a", body: `{"versions": "latest"}`, status: 400, contains: []string{"versions"}},
		{name: "another's run", method: "POST", path: fmt.Sprintf("/api/v1/runs/%d/resubmit", b.runs["b"].ID), who: "a", body: `{"force": true}`, status: 404},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, b) })
	}
}

func TestBulkJobs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	ua, ub := b.users["a"], b.users["b"]
	fa, fb := b.flows["a"], b.flows["b"]
	for _, c := range []store.Connection{
		{OwnerID: ua.ID, Name: "directory", Type: "bearer", Config: json.RawMessage(`{}`), Secret: []byte("sealed"), Health: store.HealthNeedsAttention},
		{OwnerID: ub.ID, Name: "crm", Type: "bearer", Config: json.RawMessage(`{}`), Secret: []byte("sealed")},
	} {
		if _, err := b.store.CreateConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
	}

	// A maker's job is limited to their own runs.
	rec := b.do(t, "POST", "/api/v1/runs/resubmit", "a", `{"filter": {"flow": "hook-a", "status": "failed", "since": "24h"}, "from": "failed"}`)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("bulk resubmit: %d %s", rec.Code, rec.Body)
	}
	job, p := jobParamsOf(t, rec.Body.Bytes())
	if job.Kind != store.JobResubmit || job.Status != store.JobQueued || job.OwnerID != ua.ID {
		t.Fatalf("job = %+v", job)
	}
	if p.OwnerID != ua.ID || p.FlowID != fa.ID || p.Status != "failed" || p.Resubmit.From != "failed" {
		t.Fatalf("job params = %+v", p)
	}
	if ago := time.Since(p.Since); ago < 23*time.Hour || ago > 25*time.Hour {
		t.Fatalf("since is %s ago, want 24h", ago)
	}

	// A connection narrows the job to its owner's runs, for an admin too.
	rec = b.do(t, "POST", "/api/v1/runs/resubmit", "a", `{"filter": {"connection": "directory"}}`)
	if _, p := jobParamsOf(t, rec.Body.Bytes()); rec.Code != 202 || p.OwnerID != ua.ID || p.Connection != "directory" {
		t.Fatalf("maker's connection job: %d %+v", rec.Code, p)
	}
	rec = b.do(t, "POST", "/api/v1/runs/resubmit", "admin", `{"filter": {"connection": "crm"}}`)
	if _, p := jobParamsOf(t, rec.Body.Bytes()); rec.Code != 202 || p.OwnerID != ub.ID || p.Connection != "crm" {
		t.Fatalf("admin's connection job: %d %+v", rec.Code, p)
	}
	// An admin's job without a connection covers every owner.
	rec = b.do(t, "POST", "/api/v1/runs/cancel", "admin", fmt.Sprintf(`{"filter": {"flow": %d, "ids": [1, 2]}}`, fb.ID))
	adminJob, p := jobParamsOf(t, rec.Body.Bytes())
	if rec.Code != 202 || adminJob.Kind != store.JobCancel || p.OwnerID != 0 || p.FlowID != fb.ID || len(p.IDs) != 2 {
		t.Fatalf("admin's cancel job: %d %+v %+v", rec.Code, adminJob, p)
	}

	bulk := "/api/v1/runs/resubmit"
	for _, sc := range []scenario{
		{name: "no body", method: "POST", path: bulk, who: "a", status: 400, contains: []string{"empty"}},
		{name: "empty filter", method: "POST", path: bulk, who: "a", body: `{"filter": {}}`, status: 400, contains: []string{"filter must narrow the runs"}},
		{name: "bad status", method: "POST", path: bulk, who: "a", body: `{"filter": {"status": "broken"}}`, status: 400, contains: []string{`filter.status \"broken\"`}},
		{name: "bad since", method: "POST", path: bulk, who: "a", body: `{"filter": {"since": "yesterday"}}`, status: 400, contains: []string{"filter.since", "yesterday"}},
		{name: "negative since", method: "POST", path: bulk, who: "a", body: `{"filter": {"since": "-5h"}}`, status: 400, contains: []string{"filter.since"}},
		{name: "since as a time", method: "POST", path: bulk, who: "a", body: `{"filter": {"since": "2026-01-02T03:04:05Z"}}`, status: 202, contains: []string{`"since":"2026-01-02T03:04:05Z"`}},
		{name: "since in days", method: "POST", path: bulk, who: "a", body: `{"filter": {"since": "7d"}}`, status: 202},
		{name: "bad ids", method: "POST", path: bulk, who: "a", body: `{"filter": {"ids": [0]}}`, status: 400, contains: []string{"filter.ids"}},
		{name: "bad flow type", method: "POST", path: bulk, who: "a", body: `{"filter": {"flow": true}}`, status: 400, contains: []string{"flow"}},
		{name: "flow by id", method: "POST", path: bulk, who: "a", body: fmt.Sprintf(`{"filter": {"flow": %d}}`, fa.ID), status: 202, contains: []string{fmt.Sprintf(`"params":{"owner_id":%d,"flow_id":%d}`, ua.ID, fa.ID)}},
		{name: "bad version", method: "POST", path: bulk, who: "a", body: `{"filter": {"status": "failed"}, "version": "old"}`, status: 400, contains: []string{`version \"old\"`}},
		{name: "unknown filter field", method: "POST", path: bulk, who: "a", body: `{"filter": {"flows": "x"}}`, status: 400, contains: []string{"flows"}},
		{name: "another's flow", method: "POST", path: bulk, who: "a", body: fmt.Sprintf(`{"filter": {"flow": %d}}`, fb.ID), status: 404},
		{name: "another's flow by name", method: "POST", path: bulk, who: "a", body: `{"filter": {"flow": "hook-b"}}`, status: 404},
		{name: "missing connection", method: "POST", path: bulk, who: "a", body: `{"filter": {"connection": "nope"}}`, status: 404, contains: []string{`connection \"nope\" not found`}},
		{name: "another's connection", method: "POST", path: bulk, who: "a", body: `{"filter": {"connection": "crm"}}`, status: 404},
		{name: "admin missing connection", method: "POST", path: bulk, who: "admin", body: `{"filter": {"connection": "nope"}}`, status: 404},
		{name: "cancel takes no options", method: "POST", path: "/api/v1/runs/cancel", who: "a", body: `{"filter": {"status": "running"}, "force": true}`, status: 400, contains: []string{"force"}},
		{name: "cancel", method: "POST", path: "/api/v1/runs/cancel", who: "b", body: `{"filter": {"status": "running"}}`, status: 202, contains: []string{`"kind":"cancel"`, `"status":"queued"`, fmt.Sprintf(`"params":{"owner_id":%d,"status":"running"}`, ub.ID)}},

		// Jobs are seen by their creator and admins only.
		{name: "owner shows job", method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", job.ID), who: "a", status: 200, contains: []string{`"kind":"resubmit"`, `"total":0`, `"done":0`, `"failed":0`, `"finished_at":null`}},
		{name: "another maker's job", method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", job.ID), who: "b", status: 404, contains: []string{`"not_found"`}},
		{name: "admin shows job", method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", job.ID), who: "admin", status: 200},
		{name: "maker shows admin's job", method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", adminJob.ID), who: "b", status: 404},
		{name: "missing job", method: "GET", path: "/api/v1/jobs/99999", who: "admin", status: 404},
		{name: "bad job id", method: "GET", path: "/api/v1/jobs/x", who: "a", status: 400},
		{name: "no token", method: "POST", path: bulk, body: `{"filter": {"status": "failed"}}`, status: 401},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, b) })
	}
}

func TestProblems(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.failRun(t, "a", "get_manager", "graph.no_manager", "flow")
	latest := b.failRun(t, "a", "get_manager", "graph.no_manager", "flow")
	b.failRun(t, "b", "call_crm", "salesforce.invalid_session", "auth")
	fb := b.flows["b"]
	for _, sc := range []scenario{
		{name: "maker sees own", method: "GET", path: "/api/v1/problems", who: "a", status: 200,
			contains: []string{`"code":"graph.no_manager"`, `"count":2`, `"step":"get_manager"`, `"class":"flow"`, `"ongoing":true`, fmt.Sprintf(`"latest_run_id":%d`, latest.ID), `"flow_name":"hook-a"`},
			absent:   []string{"hook-b", "salesforce"}},
		{name: "admin sees all", method: "GET", path: "/api/v1/problems", who: "admin", status: 200, contains: []string{"graph.no_manager", "salesforce.invalid_session"}},
		{name: "by flow", method: "GET", path: "/api/v1/problems?flow=hook-a&since=7d&limit=5", who: "a", status: 200, contains: []string{"graph.no_manager"}},
		{name: "admin by flow", method: "GET", path: fmt.Sprintf("/api/v1/problems?flow=%d", fb.ID), who: "admin", status: 200, contains: []string{"salesforce"}, absent: []string{"graph"}},
		{name: "another's flow", method: "GET", path: fmt.Sprintf("/api/v1/problems?flow=%d", fb.ID), who: "a", status: 404, absent: []string{"salesforce"}},
		{name: "since in the future", method: "GET", path: "/api/v1/problems?since=2199-01-01T00:00:00Z", who: "a", status: 200, contains: []string{`"problems":[]`}},
		{name: "bad since", method: "GET", path: "/api/v1/problems?since=lately", who: "a", status: 400, contains: []string{"since", "lately"}},
		{name: "bad limit", method: "GET", path: "/api/v1/problems?limit=0", who: "a", status: 400, contains: []string{"limit"}},
		{name: "no token", method: "GET", path: "/api/v1/problems", status: 401},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, b) })
	}
}

func TestNotifications(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	add := func(key, title string) store.Notification {
		n, err := b.store.AddNotification(ctx, store.Notification{UserID: b.users[key].ID, Kind: store.NoteRunFailed, Title: title, Body: "body of " + title, FlowID: b.flows[key].ID, RunID: b.runs[key].ID})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	a1 := add("a", "a-first")
	add("a", "a-second")
	bn := add("b", "b-only")
	for _, sc := range []scenario{
		{name: "maker sees own", method: "GET", path: "/api/v1/notifications", who: "a", status: 200, contains: []string{`"unread":2`, "a-first", "a-second", `"kind":"run_failed"`, `"read_at":null`, `"connection_id":null`}, absent: []string{"b-only"}},
		{name: "other maker", method: "GET", path: "/api/v1/notifications", who: "b", status: 200, contains: []string{`"unread":1`, "b-only"}, absent: []string{"a-first"}},
		{name: "admin has none", method: "GET", path: "/api/v1/notifications", who: "admin", status: 200, contains: []string{`"notifications":[]`, `"unread":0`}},
		{name: "limit", method: "GET", path: "/api/v1/notifications?limit=1", who: "a", status: 200, contains: []string{"a-second", `"unread":2`}, absent: []string{"a-first"}},
		{name: "bad unread", method: "GET", path: "/api/v1/notifications?unread=maybe", who: "a", status: 400, contains: []string{"unread"}},
		{name: "bad limit", method: "GET", path: "/api/v1/notifications?limit=x", who: "a", status: 400, contains: []string{"limit"}},
		{name: "marking another's does nothing", method: "POST", path: "/api/v1/notifications/read", who: "a", body: fmt.Sprintf(`{"ids": [%d]}`, bn.ID), status: 204},
		{name: "other's still unread", method: "GET", path: "/api/v1/notifications?unread=true", who: "b", status: 200, contains: []string{`"unread":1`, "b-only"}},
		{name: "mark one", method: "POST", path: "/api/v1/notifications/read", who: "a", body: fmt.Sprintf(`{"ids": [%d]}`, a1.ID), status: 204},
		{name: "one left", method: "GET", path: "/api/v1/notifications?unread=true", who: "a", status: 200, contains: []string{`"unread":1`, "a-second"}, absent: []string{"a-first"}},
		{name: "bad ids", method: "POST", path: "/api/v1/notifications/read", who: "a", body: `{"ids": [-1]}`, status: 400, contains: []string{"ids"}},
		{name: "mark all", method: "POST", path: "/api/v1/notifications/read", who: "a", status: 204},
		{name: "none left", method: "GET", path: "/api/v1/notifications?unread=true", who: "a", status: 200, contains: []string{`"notifications":[]`, `"unread":0`}},
		{name: "read ones kept", method: "GET", path: "/api/v1/notifications", who: "a", status: 200, contains: []string{"a-first", `"read_at":"`}},
		{name: "b untouched", method: "GET", path: "/api/v1/notifications", who: "b", status: 200, contains: []string{`"unread":1`}},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, b) })
	}
}

func TestSettings(t *testing.T) {
	t.Parallel()
	b := setup(t)
	fa := b.flows["a"]
	aSettings := fmt.Sprintf("/api/v1/flows/%d/settings", fa.ID)
	for _, sc := range []scenario{
		{name: "default", method: "GET", path: "/api/v1/me/settings", who: "a", status: 200, contains: []string{`"repair_emails":"immediately"`}},
		{name: "set", method: "PUT", path: "/api/v1/me/settings", who: "a", body: `{"repair_emails": "hourly"}`, status: 200, contains: []string{`"repair_emails":"hourly"`}},
		{name: "kept", method: "GET", path: "/api/v1/me/settings", who: "a", status: 200, contains: []string{`"repair_emails":"hourly"`}},
		{name: "per user", method: "GET", path: "/api/v1/me/settings", who: "b", status: 200, contains: []string{`"repair_emails":"immediately"`}},
		{name: "bad frequency", method: "PUT", path: "/api/v1/me/settings", who: "a", body: `{"repair_emails": "weekly"}`, status: 400, contains: []string{`repair_emails \"weekly\"`}},
		{name: "missing frequency", method: "PUT", path: "/api/v1/me/settings", who: "a", body: `{}`, status: 400, contains: []string{"repair_emails is missing"}},
		{name: "unknown setting", method: "PUT", path: "/api/v1/me/settings", who: "a", body: `{"repair_emails": "daily", "theme": "dark"}`, status: 400, contains: []string{"theme"}},

		{name: "flow default", method: "GET", path: "/api/v1/flows/hook-a/settings", who: "a", status: 200, contains: []string{`"repair_emails":true`}},
		{name: "flow off", method: "PUT", path: "/api/v1/flows/hook-a/settings", who: "a", body: `{"repair_emails": false}`, status: 200, contains: []string{`"repair_emails":false`}},
		{name: "flow kept", method: "GET", path: aSettings, who: "a", status: 200, contains: []string{`"repair_emails":false`}},
		{name: "another maker reads", method: "GET", path: aSettings, who: "b", status: 404},
		{name: "another maker writes", method: "PUT", path: aSettings, who: "b", body: `{"repair_emails": true}`, status: 404},
		{name: "still off", method: "GET", path: aSettings, who: "admin", status: 200, contains: []string{`"repair_emails":false`}},
		{name: "admin turns on", method: "PUT", path: aSettings, who: "admin", body: `{"repair_emails": true}`, status: 200, contains: []string{`"repair_emails":true`}},
		{name: "flow bad value", method: "PUT", path: aSettings, who: "a", body: `{"repair_emails": "off"}`, status: 400, contains: []string{"repair_emails", "boolean"}},
		{name: "flow missing value", method: "PUT", path: aSettings, who: "a", body: `{}`, status: 400, contains: []string{"repair_emails is missing"}},
		{name: "missing flow", method: "GET", path: "/api/v1/flows/nope/settings", who: "a", status: 404},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, b) })
	}
}

func TestOutbox(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if _, err := b.store.EnqueueMail(context.Background(), store.Mail{To: []string{"a@example.com"}, Subject: "hook-a failed", Text: "What happened", HTML: "<p>What happened</p>", Kind: "repair_tip"}); err != nil {
		t.Fatal(err)
	}
	for _, sc := range []scenario{
		{name: "maker forbidden", method: "GET", path: "/api/v1/outbox", who: "a", status: 403, contains: []string{`"forbidden"`}, absent: []string{"hook-a failed"}},
		{name: "admin reads", method: "GET", path: "/api/v1/outbox", who: "admin", status: 200, contains: []string{`"subject":"hook-a failed"`, `"to":["a@example.com"]`, `"status":"queued"`, `"attempts":0`, `"last_error":""`, `"kind":"repair_tip"`, `"html":"\u003cp\u003eWhat happened`}},
		{name: "by status", method: "GET", path: "/api/v1/outbox?status=sent", who: "admin", status: 200, contains: []string{`"mail":[]`}},
		{name: "queued", method: "GET", path: "/api/v1/outbox?status=queued&limit=1", who: "admin", status: 200, contains: []string{"hook-a failed"}},
		{name: "bad status", method: "GET", path: "/api/v1/outbox?status=lost", who: "admin", status: 400, contains: []string{`status \"lost\"`}},
		{name: "bad limit", method: "GET", path: "/api/v1/outbox?limit=5000", who: "admin", status: 400},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, b) })
	}
}

// TestParseSince checks the forms a since value takes.
func TestParseSince(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Time
		err  string
	}{
		{in: "24h", want: now.Add(-24 * time.Hour)},
		{in: "90m", want: now.Add(-90 * time.Minute)},
		{in: "7d", want: now.Add(-7 * 24 * time.Hour)},
		{in: "2026-03-01T00:00:00Z", want: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
		{in: "0s", err: "positive"},
		{in: "0d", err: "must be a duration"},
		{in: "soon", err: "must be a duration"},
		{in: "2999-01-01T00:00:00Z", err: "out of range"},
		{in: "1000000000d", err: "must be a duration"},
	} {
		got, err := store.ParseSince(tt.in, now)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseSince(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// TestNotificationResolved checks that a failed run's notification says
// resolved once a later run of its flow succeeded, and a broken
// connection's once the connection works again (or is gone).
func TestNotificationResolved(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	failed := b.failRun(t, "a", "call", "http.401", "auth")
	if _, err := b.store.AddNotification(ctx, store.Notification{UserID: b.users["a"].ID, Kind: store.NoteRunFailed, Title: "failed-run",
		Body: "call: 401", FlowID: b.flows["a"].ID, RunID: failed.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.AddNotification(ctx, store.Notification{UserID: b.users["a"].ID, Kind: store.NoteConnectionBroken, Title: "gone-connection",
		Body: "token expired", ConnectionID: 9999}); err != nil {
		t.Fatal(err)
	}
	scenario{name: "failing", method: "GET", path: "/api/v1/notifications", who: "a", status: 200,
		contains: []string{`"title":"failed-run"`, `"kind":"run_failed"`, `"resolved":false`, `"title":"gone-connection"`, `"resolved":true`}}.run(t, b)

	r, err := b.store.CreateRun(ctx, store.NewRun{FlowID: b.flows["a"].ID, FlowVersion: b.flows["a"].Version, TriggerType: "manual",
		LeaseOwner: "test", LeaseUntil: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.store.FinishRun(ctx, "test", r.ID, store.RunFinish{Status: store.RunSucceeded}); err != nil {
		t.Fatal(err)
	}
	scenario{name: "fixed", method: "GET", path: "/api/v1/notifications", who: "a", status: 200,
		contains: []string{`"title":"failed-run"`}, absent: []string{`"resolved":false`}}.run(t, b)
}

// TestResubmitAfterSuccess: a run whose resubmission already succeeded is
// not resubmitted again without force (409 already_succeeded naming that
// run), since running the flow again may repeat its effects.
func TestResubmitAfterSuccess(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ra := b.runs["a"]
	ok, err := b.store.CreateRun(t.Context(), store.NewRun{FlowID: ra.FlowID, FlowVersion: ra.FlowVersion, TriggerType: "resubmit", Input: ra.Input,
		ResubmittedFrom: &ra.ID, LeaseOwner: "test", LeaseUntil: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.store.FinishRun(t.Context(), "test", ok.ID, store.RunFinish{Status: store.RunSucceeded}); err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/api/v1/runs/%d/resubmit", ra.ID)
	scenario{name: "without force", method: "POST", path: path, who: "a", status: http.StatusConflict,
		contains: []string{`"already_succeeded"`, fmt.Sprintf("as run %d, which succeeded", ok.ID), "--force"}}.run(t, b)
	var forced resubmitView
	b.doJSON(t, "POST", path, "a", `{"force": true}`, http.StatusCreated, &forced)
	if forced.ID == ok.ID || forced.ResubmittedFrom == nil || *forced.ResubmittedFrom != ra.ID {
		t.Fatalf("forced resubmit = %+v, want a new run", forced)
	}
}
