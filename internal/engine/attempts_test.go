package engine_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluice/sluice/internal/connection"
	"github.com/sluice/sluice/internal/flow"
	"github.com/sluice/sluice/internal/secret"
	"github.com/sluice/sluice/internal/store"
)

// TestAttemptsAreRecorded runs a step whose first two attempts get a 503
// (whose body echoes the connection's token) and whose third succeeds:
// the step keeps each attempt with its number, times, outcome, status,
// the next try's time and an excerpt of the answer, the token redacted
// there as everywhere (the database file never holds it).
func TestAttemptsAreRecorded(t *testing.T) {
	t.Parallel()
	const canary = "CANARY-attempts-5e1b-secret"
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if calls.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, `{"error":"busy","echo":%q,"pad":%q}`, r.Header.Get("Authorization"), strings.Repeat("x", 2000))
			return
		}
		fmt.Fprint(w, `{"orders":3}`)
	}))
	defer srv.Close()
	b := setup(t)
	b.connect(t, "orders", connection.Spec{Type: connection.TypeBearer, Secret: connection.Secret{Token: canary}})
	f := b.apply(t, `name: retried
trigger: { type: manual }
actions:
  - id: call
    type: http
    connection: orders
    with: { url: "`+srv.URL+`/orders" }
    retry: { policy: fixed, count: 4, interval: 10ms }
`)
	r, steps := b.wait(t, b.trigger(t, f, nil).ID)
	s := steps["call"]
	if r.Status != store.RunSucceeded || s.Attempts != 3 || len(s.AttemptLog) != 3 {
		t.Fatalf("run %s, step attempts %d, log %+v; want succeeded after 3 attempts, all logged", r.Status, s.Attempts, s.AttemptLog)
	}
	for i, a := range s.AttemptLog {
		wantOutcome, wantStatus := flow.StatusFailed, http.StatusServiceUnavailable
		if i == 2 {
			wantOutcome, wantStatus = flow.StatusSucceeded, http.StatusOK
		}
		if a.N != i+1 || a.Outcome != wantOutcome || a.HTTPStatus != wantStatus || a.FinishedAt.Before(a.StartedAt) {
			t.Errorf("attempt %d: %+v, want n %d, %s, HTTP %d", i+1, a, i+1, wantOutcome, wantStatus)
		}
		if i > 0 && a.StartedAt.Before(s.AttemptLog[i-1].FinishedAt) {
			t.Errorf("attempt %d started before attempt %d ended", i+1, i)
		}
		if (a.RetryAt != nil) != (i < 2) || (a.RetryAt != nil && a.RetryAt.Before(a.FinishedAt)) {
			t.Errorf("attempt %d: retry at %v, want a time after it ended for a retried attempt only", i+1, a.RetryAt)
		}
		if len(a.Answer) > store.MaxAttemptAnswer || strings.Contains(a.Answer, canary) {
			t.Errorf("attempt %d answer is %d bytes or holds the token: %q", i+1, len(a.Answer), a.Answer)
		}
	}
	if a := s.AttemptLog[0].Answer; !strings.HasPrefix(a, "HTTP 503 Service Unavailable from GET ") || !strings.Contains(a, `"echo":"`+secret.Mask) || !strings.HasSuffix(a, "…") {
		t.Errorf("first attempt's answer: %q, want the message, the body with the token masked, cut", a)
	}
	if a := s.AttemptLog[2].Answer; a != `{"orders":3}` {
		t.Errorf("last attempt's answer: %q", a)
	}
	b.stop()
	for _, name := range []string{b.path, b.path + "-wal"} {
		raw, _ := os.ReadFile(name)
		for _, form := range secret.Forms(canary) {
			if bytes.Contains(raw, []byte(form)) {
				t.Fatalf("%s holds the token as %q", name, form)
			}
		}
	}
}

// TestAttemptLogIsBounded retries a step that always fails more times
// than a step keeps attempts: the last store.MaxAttemptsKept are kept.
func TestAttemptLogIsBounded(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()
	b := setup(t)
	f := b.apply(t, `name: hopeless
trigger: { type: manual }
actions:
  - id: call
    type: http
    with: { url: "`+srv.URL+`/down" }
    retry: { policy: fixed, count: 14, interval: 1ms }
`)
	r, steps := b.wait(t, b.trigger(t, f, nil).ID)
	s := steps["call"]
	if r.Status != store.RunFailed || s.Attempts != 15 || len(s.AttemptLog) != store.MaxAttemptsKept {
		t.Fatalf("run %s, attempts %d, %d logged; want failed after 15, the last %d logged", r.Status, s.Attempts, len(s.AttemptLog), store.MaxAttemptsKept)
	}
	if first, last := s.AttemptLog[0], s.AttemptLog[len(s.AttemptLog)-1]; first.N != 6 || last.N != 15 || last.Outcome != flow.StatusFailed || last.RetryAt != nil || last.HTTPStatus != http.StatusBadGateway {
		t.Fatalf("kept attempts %+v .. %+v, want 6..15, the last failed without a retry", first, last)
	}
}
