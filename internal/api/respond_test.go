package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/flow"
	"github.com/sluice/sluice/internal/netguard"
	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/sqlite"
)

// TestSynchronousWebhookOutcomes: a webhook whose flow has a respond
// action gets an error when that action does not answer: 502 run_failed
// naming the run and its root cause's diagnosis (and nothing of the other
// side's answer) when the run failed first, 504 run_not_finished with the
// run id when it goes on past the respond timeout; a run that succeeded
// without reaching its respond action is 202 as before.
func TestSynchronousWebhookOutcomes(t *testing.T) {
	t.Parallel()
	const secretText = "SECRET-in-the-answer-5e2a"
	release := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case "/missing":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"message": "no such order", "debug": %q}`, secretText)
		}
	}))
	defer upstream.Close()
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logger := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sluice.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	allow, err := netguard.ParseAllow("127.0.0.1/32")
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Config{Store: st, Logger: logger, HTTPClient: netguard.NewClient(netguard.Options{Allow: allow}),
		SingleNode: true, RespondTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); eng.Run(ctx) }()
	defer func() { cancel(); <-done }()
	owner, err := st.CreateUser(ctx, store.User{Email: "maker@example.com", PasswordHash: "x", Role: store.RoleMaker})
	if err != nil {
		t.Fatal(err)
	}
	const answer = `
  - id: answer
    type: respond
    with: { status: 200, body: { ok: true } }`
	hook := func(name, actions string) store.Flow {
		src := `name: ` + name + `
trigger: { type: webhook }
actions:
` + actions + "\n"
		def, problems := flow.Parse([]byte(src))
		if len(problems) > 0 {
			t.Fatalf("flow %s: %v", name, problems)
		}
		canon, err := def.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		f, err := st.CreateFlow(ctx, store.NewFlow{Name: name, OwnerID: owner.ID, TriggerType: flow.TriggerWebhook, WebhookToken: "tok-" + name, Definition: canon, Source: src})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	hook("fails", `  - id: get_order
    type: http
    with: { url: "`+upstream.URL+`/missing" }`+answer)
	hook("slow", `  - id: get_order
    type: http
    with: { url: "`+upstream.URL+`/slow" }`+answer)
	hook("skips", `  - id: maybe
    type: condition
    if: "{{ false }}"
    then:
      - id: early
        type: respond
        with: { status: 200 }`)
	hook("answers", `  - id: get_order
    type: compose
    with: { value: 1 }`+answer)
	mux := http.NewServeMux()
	mux.Handle("/hooks/{token}", NewWebhooks(Config{Store: st, Runner: eng, Logger: logger}))

	for _, tc := range []struct {
		flow   string
		status int
		code   string
		want   []string
	}{
		{"fails", http.StatusBadGateway, CodeRunFailed, []string{`"step":"get_order"`, `"title":"`, `"code":"http.404"`}},
		{"slow", http.StatusGatewayTimeout, CodeRunNotFinished, nil},
		{"skips", http.StatusAccepted, "", nil},
		{"answers", http.StatusOK, "", []string{`"ok":true`}},
	} {
		t.Run(tc.flow, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/hooks/tok-"+tc.flow, strings.NewReader(`{}`))
			req.Header.Set("Content-Type", "application/json")
			rec := exchange(t, mux, req)
			body := rec.Body.String()
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, body)
			}
			run := rec.Header().Get("X-Sluice-Run")
			if tc.code != "" {
				var answer struct {
					Error struct {
						Code    string     `json:"code"`
						Message string     `json:"message"`
						Details RunOutcome `json:"details"`
					} `json:"error"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil {
					t.Fatalf("answer %s: %v", body, err)
				}
				if answer.Error.Code != tc.code || fmt.Sprint(answer.Error.Details.RunID) != run || !strings.Contains(answer.Error.Message, "run "+run) {
					t.Errorf("answer %s, want code %s naming run %s", body, tc.code, run)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("answer %s lacks %s", body, w)
				}
			}
			if strings.Contains(body, secretText) || strings.Contains(body, "no such order") {
				t.Errorf("answer %s holds the other side's answer", body)
			}
		})
	}
}
