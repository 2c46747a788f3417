package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestOneEmailPerFailedRun runs examples/try-catch-finally.yaml with none
// of its connections (they must exist when the flow is saved, and are
// deleted before it runs, as a maker might): create_invoice fails, and so do the scope around
// it, the catch and the finally. The run has one root cause,
// create_invoice: trigger --wait, runs list, problems, Activity and the
// one repair-tip email name it, and the others are its consequences.
// The server's SMTP URL has no from=: the email comes from sluice@ the
// host of the base URL.
func TestOneEmailPerFailedRun(t *testing.T) {
	s, smtp := startServerWithSMTP(t, "tls=none", "1s")
	s.login()
	conns := []string{"billing", "shop", "mail", "audit"}
	for _, c := range conns {
		s.sluice("t", "connections", "add", c, "--type", "bearer", "--token-stdin")
	}
	s.sluice("", "flows", "apply", "-f", "../examples/try-catch-finally.yaml")
	for _, c := range conns {
		s.sluice("", "connections", "delete", c)
	}
	out, errOut, code := s.run("", "trigger", "Bill an order", "--input", `{"order_id": 7, "amount": 10}`, "--wait")
	if code == 0 || !strings.Contains(out+errOut, `step "create_invoice" failed`) {
		t.Errorf("trigger --wait: exit %d, want it to name create_invoice:\n%s%s", code, out, errOut)
	}
	if list := s.sluice("", "runs", "list", "--flow", "Bill an order"); !strings.Contains(list, `step "create_invoice"`) {
		t.Errorf("runs list does not name create_invoice:\n%s", list)
	}
	email := waitMail(t, smtp, "repair_tip")
	if from := email.Header.Get("From"); !strings.Contains(from, "sluice@127.0.0.1") {
		t.Errorf("From: %q, want sluice@127.0.0.1", from)
	}
	if !strings.Contains(email.Header.Get("Subject"), "create_invoice") && !strings.Contains(email.Text, "create_invoice") {
		t.Errorf("the email does not name create_invoice:\n%s", email.Text)
	}
	if !strings.Contains(email.Text, "As a consequence, try, catch, finally failed too.") {
		t.Errorf("the email does not name the consequences:\n%s", email.Text)
	}
	var problems []struct {
		Step  string `json:"step"`
		Count int    `json:"count"`
	}
	if err := json.Unmarshal([]byte(s.sluice("", "problems", "--json")), &problems); err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || problems[0].Step != "create_invoice" || problems[0].Count != 1 {
		t.Errorf("problems = %+v, want one: create_invoice, once", problems)
	}
	if act := s.sluice("", "activity"); !strings.Contains(act, "create_invoice") || strings.Contains(act, "Step finally failed") {
		t.Errorf("activity does not name the root cause:\n%s", act)
	}
	// Every problem counted by the run's one event is in the pass that
	// sent the first email: the outbox holds one repair tip.
	var outbox []struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal([]byte(s.sluice("", "outbox", "--json")), &outbox); err != nil {
		t.Fatal(err)
	}
	tips := 0
	for _, m := range outbox {
		if m.Kind == "repair_tip" {
			tips++
		}
	}
	if tips != 1 || len(mailsOf(smtp, "repair_tip")) != 1 {
		t.Errorf("%d repair tips in the outbox, %d received, want 1", tips, len(mailsOf(smtp, "repair_tip")))
	}
}

// TestFailingSynchronousWebhook: a webhook flow with a respond action
// whose run fails before it responds answers 502 with the run id and the
// diagnosis title of its root cause, and nothing of what the other side
// said.
func TestFailingSynchronousWebhook(t *testing.T) {
	const secretText = "SECRET-debug-7c1f"
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"message": "Not Found", "debug": %q}`, secretText)
	}))
	defer api.Close()
	s := startServer(t)
	s.login()
	s.sluice("", "flows", "apply", "-f", writeFlow(t, `name: lookup
trigger: { type: webhook }
actions:
  - id: get_user
    type: http
    with: { url: "`+api.URL+`/users/{{ trigger.body.user }}" }
  - id: answer
    type: respond
    with: { status: 200, body: "{{ steps.get_user.output.body }}" }
`))
	var shown struct {
		WebhookURL string `json:"webhook_url"`
	}
	if err := json.Unmarshal([]byte(s.sluice("", "flows", "show", "lookup", "--json")), &shown); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(shown.WebhookURL, "application/json", strings.NewReader(`{"user": "ada"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var answer struct {
		Error struct {
			Code    string `json:"code"`
			Details struct {
				RunID int64  `json:"run_id"`
				Step  string `json:"step"`
				Title string `json:"title"`
			} `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		t.Fatalf("answer %s: %v", body, err)
	}
	d := answer.Error.Details
	if resp.StatusCode != http.StatusBadGateway || answer.Error.Code != "run_failed" || d.RunID == 0 || d.Step != "get_user" || d.Title == "" ||
		resp.Header.Get("X-Sluice-Run") != fmt.Sprint(d.RunID) {
		t.Fatalf("webhook answer %d %s, want 502 run_failed naming the run and its diagnosis", resp.StatusCode, body)
	}
	if strings.Contains(string(body), secretText) {
		t.Errorf("the answer holds the other side's answer: %s", body)
	}
	if run := s.showRun(d.RunID); run.Status != "failed" {
		t.Errorf("run %d is %s, want failed", d.RunID, run.Status)
	}
}

// TestNoEmailForResolvedProblem: a run fails, and its resubmission
// succeeds before the repair-tip grace ends: no email is sent about it.
// A second flow's failure, due later, is the signal that the notifier
// has passed over the first one's.
func TestNoEmailForResolvedProblem(t *testing.T) {
	var mu sync.Mutex
	healthy := false
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path == "/orders" && healthy {
			fmt.Fprint(w, `{"ok": true}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"message": "Not Found"}`)
	}))
	defer api.Close()
	s, smtp := startServerWithSMTP(t, "from=sluice@example.com&tls=none", "4s")
	s.login()
	flow := func(name, path string) string {
		return writeFlow(t, `name: `+name+`
trigger: { type: manual }
actions:
  - id: get
    type: http
    with: { url: "`+api.URL+path+`" }
`)
	}
	s.sluice("", "flows", "apply", "-f", flow("orders", "/orders"))
	s.sluice("", "flows", "apply", "-f", flow("other", "/other"))
	id := s.triggerWait("orders", `{}`)
	mu.Lock()
	healthy = true
	mu.Unlock()
	s.sluice("", "runs", "resubmit", fmt.Sprint(id))
	s.waitRuns("orders", "succeeded", 1, 30*time.Second)
	s.triggerWait("other", `{}`)
	email := waitMail(t, smtp, "repair_tip")
	if !strings.Contains(email.Header.Get("Subject"), "other") {
		t.Errorf("first repair tip is %q, want the one about flow other", email.Header.Get("Subject"))
	}
	for _, m := range mailsOf(smtp, "repair_tip") {
		if strings.Contains(m.Header.Get("Subject"), "orders") {
			t.Errorf("an email about the resolved problem: %q", m.Header.Get("Subject"))
		}
	}
}
