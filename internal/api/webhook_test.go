package api

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluice/sluice/internal/secret"
)

// hooks serves b's webhooks as the server mounts them, with a body cap of
// maxBody (0 for the default).
func (b *bundle) hooks(maxBody int64) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/hooks/{token}", NewWebhooks(Config{Store: b.store, Runner: b.runner, MaxBody: maxBody,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	return mux
}

// TestWebhookStoresNoCredentials checks that the credentials a webhook
// caller sends (Authorization, Cookie, API keys, token headers and query
// parameters) and the flow's webhook token are not stored in the run's
// input, that what a flow needs (signatures, other headers and query
// parameters, the body) is, and that the run can be resubmitted from the
// stored input.
func TestWebhookStoresNoCredentials(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := b.flows["a"]
	secrets := []string{"bearer-secret-1", "cookie-secret-2", "apikey-secret-3", "proxy-secret-4", "gitlab-secret-5", "query-secret-6", "session-secret-7", f.WebhookToken}
	req := httptest.NewRequest("POST", "/hooks/"+f.WebhookToken+"?access_token=query-secret-6&page=2", strings.NewReader(`{"who": "Ada"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer bearer-secret-1")
	req.Header.Set("Cookie", "sid=cookie-secret-2")
	req.Header.Set("X-Api-Key", "apikey-secret-3")
	req.Header.Set("Proxy-Authorization", "Basic proxy-secret-4")
	req.Header.Set("X-Gitlab-Token", "gitlab-secret-5")
	req.Header.Set("X-Session-Id", "session-secret-7")
	req.Header.Set("X-Hub-Signature-256", "sha256=kept-signature")
	rec := exchange(t, b.hooks(0), req)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("webhook: %d %s", rec.Code, rec.Body)
	}
	var answer struct {
		RunID int64 `json:"run_id"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil {
		t.Fatal(err)
	}
	run, err := b.store.GetRun(t.Context(), answer.RunID)
	if err != nil {
		t.Fatal(err)
	}
	input := string(run.Input)
	for _, s := range secrets {
		if strings.Contains(input, s) {
			t.Errorf("the stored input holds %q: %s", s, input)
		}
	}
	var trig struct {
		Path    string            `json:"path"`
		Headers map[string]string `json:"headers"`
		Query   map[string]string `json:"query"`
		Body    map[string]any    `json:"body"`
	}
	if err := json.Unmarshal(run.Input, &trig); err != nil {
		t.Fatal(err)
	}
	if trig.Path != "/hooks/"+secret.Mask || trig.Headers["authorization"] != secret.Mask || trig.Headers["cookie"] != secret.Mask ||
		trig.Headers["x-hub-signature-256"] != "sha256=kept-signature" || trig.Query["page"] != "2" || trig.Query["access_token"] != secret.Mask ||
		trig.Body["who"] != "Ada" {
		t.Errorf("stored trigger: %+v", trig)
	}

	// The admin sees the run without any of them; the owner resubmits it.
	scenario{name: "admin reads the run", method: "GET", path: fmt.Sprintf("/api/v1/runs/%d", run.ID), who: "admin",
		status: http.StatusOK, contains: []string{secret.Mask, "kept-signature"}, absent: secrets}.run(t, b)
	var again resubmitView
	b.doJSON(t, "POST", fmt.Sprintf("/api/v1/runs/%d/resubmit", run.ID), "a", "", http.StatusCreated, &again)
	next, err := b.store.GetRun(t.Context(), again.ID)
	if err != nil {
		t.Fatal(err)
	}
	if string(next.Input) != input {
		t.Errorf("resubmitted input %s, want %s", next.Input, input)
	}
}

// TestWebhookAnswers checks the webhook's error answers: each goes through
// the API's mapper with its code, an oversized body is 413 too_large, and
// every answer is sandboxed.
func TestWebhookAnswers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const maxBody = 1024
	hooks := b.hooks(maxBody)
	off, err := b.store.GetFlow(t.Context(), b.flows["b"].ID)
	if err != nil {
		t.Fatal(err)
	}
	b.doJSON(t, "POST", fmt.Sprintf("/api/v1/flows/%d/disable", off.ID), "b", "", http.StatusOK, nil)
	cases := []struct {
		name, token, body string
		status            int
		code              string
	}{
		{"accepted", b.flows["a"].WebhookToken, `{"who": "x"}`, http.StatusAccepted, ""},
		{"unknown token", "nope", `{}`, http.StatusNotFound, CodeNotFound},
		{"disabled", off.WebhookToken, `{}`, http.StatusConflict, CodeFlowDisabled},
		{"bad json", b.flows["a"].WebhookToken, "{\n  \"who\": }", http.StatusBadRequest, CodeBadRequest},
		{"too large", b.flows["a"].WebhookToken, `{"who": "` + strings.Repeat("x", maxBody) + `"}`, http.StatusRequestEntityTooLarge, CodeTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/hooks/"+tc.token, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			rec := exchange(t, hooks, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.code != "" && !strings.Contains(rec.Body.String(), `"code":"`+tc.code+`"`) {
				t.Errorf("answer %s lacks code %s", rec.Body, tc.code)
			}
			if got := rec.Header().Get("Content-Security-Policy"); got != webhookCSP {
				t.Errorf("Content-Security-Policy %q, want %q", got, webhookCSP)
			}
		})
	}
}

// TestAnswerHeaders checks which headers a respond action may set, on the
// server's origin and on a webhook origin of its own.
func TestAnswerHeaders(t *testing.T) {
	t.Parallel()
	shared := &server{}
	own := &server{hookOrigin: true}
	cases := []struct {
		name            string
		shared, ownHost bool
	}{
		{"Content-Type", true, true},
		{"X-Custom", true, true},
		{"Cache-Control", true, true},
		{"Set-Cookie", false, false},
		{"Clear-Site-Data", false, false},
		{"Strict-Transport-Security", false, false},
		{"Alt-Svc", false, false},
		{"Service-Worker-Allowed", false, false},
		{"Content-Length", false, false},
		{"Transfer-Encoding", false, false},
		{"X-Sluice-Run", false, false},
		{"Access-Control-Allow-Origin", false, true},
		{"Access-Control-Allow-Credentials", false, true},
		{"Location", false, true},
		{"Refresh", false, true},
	}
	for _, tc := range cases {
		if got := shared.answerHeaderAllowed(tc.name); got != tc.shared {
			t.Errorf("%s on the server's origin: allowed %v, want %v", tc.name, got, tc.shared)
		}
		if got := own.answerHeaderAllowed(tc.name); got != tc.ownHost {
			t.Errorf("%s on the webhook origin: allowed %v, want %v", tc.name, got, tc.ownHost)
		}
	}
}

// TestWebhookURLOnItsOrigin checks that webhook_url starts with the
// webhook origin when there is one.
func TestWebhookURLOnItsOrigin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.handler = New(Config{Store: b.store, Runner: b.runner, BaseURL: "https://sluice.example.com", WebhookBaseURL: "https://hooks.example.com/"})
	var f flowView
	b.doJSON(t, "GET", fmt.Sprintf("/api/v1/flows/%d", b.flows["a"].ID), "a", "", http.StatusOK, &f)
	if f.WebhookURL == nil || *f.WebhookURL != "https://hooks.example.com/hooks/"+b.flows["a"].WebhookToken {
		t.Errorf("webhook_url = %v", f.WebhookURL)
	}
}
