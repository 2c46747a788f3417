package engine_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice/sluice/internal/api"
	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/secret"
)

// TestManualInputIsBody checks that a manual run's input, stored once, is
// also its trigger.body, as it was when it was stored twice.
func TestManualInputIsBody(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := b.apply(t, `name: manual-body
trigger: { type: manual }
actions:
  - id: both
    type: compose
    with: { value: "{{ trigger.input.who }}/{{ trigger.body.who }}" }
`)
	r := b.trigger(t, f, map[string]any{"who": "Ada"})
	got, steps := b.wait(t, r.ID)
	if got.Status != "succeeded" || string(steps["both"].Output) != `"Ada/Ada"` {
		t.Fatalf("run %s, output %s", got.Status, steps["both"].Output)
	}
	if n := strings.Count(string(got.Input), "Ada"); n != 1 {
		t.Errorf("the input is stored %d times: %s", n, got.Input)
	}
}

// TestSensitiveName lists which request header and query names are
// redacted before a webhook's trigger is stored.
func TestSensitiveName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"Authorization": true, "Proxy-Authorization": true, "Cookie": true, "X-Api-Key": true,
		"X-Auth-Token": true, "X-Gitlab-Token": true, "X-Shopify-Access-Token": true, "access_token": true,
		"api_key": true, "key": true, "client_secret": true, "password": true, "X-Session-Id": true,
		"X-Hub-Signature-256": false, "Stripe-Signature": false, "Content-Type": false, "User-Agent": false,
		"X-Goog-Api-Key": true, "X-Amz-Security-Token": true, "X-Auth-User": true, "session_id": true,
		"oauth_token": true, "Set-Cookie": true, "X-Csrf-Token": true,
		"page": false, "X-Request-Id": false, "X-Forwarded-For": false, "X-Author": false, "author": false,
		"Idempotency-Key": false, "monkey": false,
	} {
		if got := engine.SensitiveName(name); got != want {
			t.Errorf("SensitiveName(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestWebhookTriggerRedacts checks that the token in the path and the
// credentials in headers and query are masked in the trigger.
func TestWebhookTriggerRedacts(t *testing.T) {
	t.Parallel()
	req := httptest.NewRequest("POST", "/hooks/tok-123?token=q-secret&n=1", strings.NewReader(""))
	req.SetPathValue("token", "tok-123")
	req.Header.Set("Authorization", "Basic dXNlcjpwdw==")
	req.Header.Set("X-Custom", "kept")
	trig, err := engine.WebhookTrigger(req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if trig.Path != "/hooks/"+secret.Mask || trig.Headers["authorization"] != secret.Mask || trig.Headers["x-custom"] != "kept" ||
		trig.Query["token"] != secret.Mask || trig.Query["n"] != "1" {
		t.Errorf("trigger: %+v", trig)
	}
}

// TestRespondInformationalStatus checks that a respond action may not
// answer with a 1xx status, which is not a final answer. A written 101 is
// refused when the flow is saved (flow.RespondStatus); a computed one by
// the same rule when the action runs.
func TestRespondInformationalStatus(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := b.apply(t, `name: informational
trigger: { type: webhook }
actions:
  - id: answer
    type: respond
    with: { status: "{{ trigger.query.s }}" }
`)
	mux := http.NewServeMux()
	mux.Handle("/hooks/{token}", api.NewWebhooks(api.Config{Store: b.st, Runner: b.eng}))
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("POST", "/hooks/"+f.WebhookToken+"?s=101", nil))
	if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), `"step":"answer"`) {
		t.Fatalf("webhook answered %d %s, want 502 naming the respond step, which failed", rec.Code, rec.Body)
	}
	id, _ := strconv.ParseInt(rec.Header().Get("X-Sluice-Run"), 10, 64)
	got, steps := b.wait(t, id)
	if got.Status != "failed" || !strings.Contains(string(steps["answer"].Error), "with.status: must be an HTTP status between 200 and 599 (a final answer), not 101") {
		t.Errorf("run %s, respond step error %q", got.Status, steps["answer"].Error)
	}
}
