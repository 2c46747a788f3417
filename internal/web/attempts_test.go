package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/store"
)

var attemptRowRE = regexp.MustCompile(`(?s)<td data-label="Attempt">(\d+)</td>.*?<td data-label="Outcome">(.*?)</td>\s*<td data-label="Answer">(.*?)</td>`)

// TestRunPageListsAttempts runs a step that fails twice with a 503 and
// then succeeds: the run page lists its three attempts with their
// outcome, status, next try and answer, a script in an answer shown as
// text.
func TestRunPageListsAttempts(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if calls.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":"<script>alert(1)</script> busy"}`)
			return
		}
		fmt.Fprint(w, `{"orders":3}`)
	}))
	t.Cleanup(target.Close)
	s := newSite(t)
	f := s.saveFlow(t, s.ann, strings.Replace(flowSource("Retried orders", target.URL+"/orders"), "retry: {policy: none}", "retry: {policy: fixed, count: 3, interval: 10ms}", 1))
	run, err := s.eng.Start(t.Context(), engine.StartRequest{Flow: f, TriggerType: "manual", Trigger: engine.Trigger{Input: map[string]any{}}})
	if err != nil {
		t.Fatal(err)
	}
	if run = s.waitRun(t, run.ID); run.Status != store.RunSucceeded {
		t.Fatalf("run %s, want succeeded on the third attempt", run.Status)
	}
	ann := s.browser(t)
	ann.signIn("ann@example.com", "/")
	p := ann.get(fmt.Sprintf("/runs/%d", run.ID))
	requireStatus(t, p, http.StatusOK, "run page")
	if strings.Contains(p.body, "<script>alert(1)") {
		t.Fatal("an answer's script is in the page as markup")
	}
	rows := attemptRowRE.FindAllStringSubmatch(p.body, -1)
	if len(rows) != 3 {
		t.Fatalf("the run page lists %d attempts, want 3:\n%s", len(rows), p.body)
	}
	for i, row := range rows {
		n, outcome, answer := row[1], row[2], row[3]
		if n != fmt.Sprint(i+1) {
			t.Errorf("row %d numbers attempt %s", i+1, n)
		}
		if i < 2 && (!strings.Contains(outcome, "Failed") || !strings.Contains(outcome, "HTTP 503") || !strings.Contains(outcome, "next try") ||
			!strings.Contains(answer, "HTTP 503 Service Unavailable from GET") || !strings.Contains(answer, "&lt;script&gt;alert(1)&lt;/script&gt; busy")) {
			t.Errorf("attempt %d: outcome %q answer %q, want failed, HTTP 503, a next try and the answer as text", i+1, outcome, answer)
		}
		if i == 2 && (!strings.Contains(outcome, "Succeeded") || !strings.Contains(outcome, "HTTP 200") || strings.Contains(outcome, "next try") ||
			!strings.Contains(answer, `{&#34;orders&#34;:3}`)) {
			t.Errorf("attempt 3: outcome %q answer %q, want succeeded, HTTP 200 and the answer", outcome, answer)
		}
	}
}
