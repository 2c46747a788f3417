package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/mail/mailtest"
)

// startServerWithMail starts sluice serve with SMTP pointed at an
// in-process SMTP server.
func startServerWithMail(t *testing.T) (*server, *mailtest.Server) {
	t.Helper()
	return startServerWithSMTP(t, "from=sluice@example.com&tls=none", "1s")
}

// startServerWithSMTP starts sluice serve with SMTP pointed at an
// in-process SMTP server, with query as the SMTP URL's query and grace
// as the repair-email grace.
func startServerWithSMTP(t *testing.T, query, grace string) (*server, *mailtest.Server) {
	t.Helper()
	smtp := mailtest.NewServer(t)
	s := &server{t: t, data: t.TempDir(), config: t.TempDir(), addr: freeAddr(t)}
	s.url = "http://" + s.addr
	s.env = []string{fmt.Sprintf("SLUICE_SMTP_URL=smtp://%s?%s", smtp.Addr, query), "SLUICE_REPAIR_GRACE=" + grace}
	s.start()
	t.Cleanup(s.kill)
	return s, smtp
}

// runJSON is what `sluice runs show --json` prints.
type runJSON struct {
	ID              int64  `json:"id"`
	Status          string `json:"status"`
	ResubmittedFrom *int64 `json:"resubmitted_from"`
	Steps           []struct {
		ID       string `json:"id"`
		Status   string `json:"status"`
		Attempts int    `json:"attempts"`
		Error    *struct {
			Diagnosis struct {
				Class    string `json:"class"`
				Code     string `json:"code"`
				HowToFix string `json:"how_to_fix"`
			} `json:"diagnosis"`
		} `json:"error"`
	} `json:"steps"`
}

func (s *server) showRun(id int64) runJSON {
	s.t.Helper()
	var r runJSON
	out := s.sluice("", "runs", "show", fmt.Sprint(id), "--json")
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		s.t.Fatalf("runs show --json: %v\n%s", err, out)
	}
	return r
}

// triggerWait triggers a flow, waits for the run and returns its id.
func (s *server) triggerWait(flow, input string) int64 {
	s.t.Helper()
	out, errOut, _ := s.run("", "trigger", flow, "--input", input, "--wait", "--json")
	m := regexp.MustCompile(`"id":\s*(\d+)`).FindStringSubmatch(out)
	if m == nil {
		m = regexp.MustCompile(`run (\d+)`).FindStringSubmatch(out + errOut)
	}
	if m == nil {
		s.t.Fatalf("trigger %s: no run id in\n%s%s", flow, out, errOut)
	}
	var id int64
	fmt.Sscan(m[1], &id)
	return id
}

func TestAuthFailureJourney(t *testing.T) {
	const good, bad = "GOOD-token-5d1e", "BAD-token-77aa"
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+good {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error": {"code": "InvalidAuthenticationToken", "message": "Access token is empty."}}`)
			return
		}
		fmt.Fprint(w, `{"mail": "manager@example.com"}`)
	}))
	defer api.Close()
	s, smtp := startServerWithMail(t)
	s.login()
	s.sluice("", "connections", "add", "directory", "--type", "bearer", "--token", bad, "--test-url", api.URL+"/me")
	s.sluice("", "flows", "apply", "-f", writeFlow(t, `name: welcome
trigger: { type: manual }
actions:
  - id: get_manager
    type: http
    connection: directory
    with: { url: "`+api.URL+`/users/{{ trigger.body.user }}/manager" }
`))
	id := s.triggerWait("welcome", `{"user": "ada"}`)
	run := s.showRun(id)
	if run.Status != "failed" || len(run.Steps) != 1 || run.Steps[0].Error == nil || run.Steps[0].Error.Diagnosis.Class != "auth" || run.Steps[0].Attempts != 1 {
		t.Fatalf("failed run: %+v", run)
	}

	email := waitMail(t, smtp, "repair_tip")
	for _, want := range []string{"Time", "What happened", "How do I fix", "Troubleshooting tips", "directory"} {
		if !strings.Contains(email.Text, want) {
			t.Errorf("email lacks %q:\n%s", want, email.Text)
		}
	}
	link, page := retryPage(t, email)
	if !strings.Contains(page, "<form") {
		t.Fatalf("GET retry link:\n%s", page)
	}
	if runs := s.waitRuns("welcome", "", 1, time.Second); len(runs) != 1 {
		t.Fatalf("a GET of the retry link created runs: %d", len(runs))
	}

	var conn struct {
		Health string `json:"health"`
	}
	out := s.sluice("", "connections", "show", "directory", "--json")
	if err := json.Unmarshal([]byte(out), &conn); err != nil || conn.Health != "needs_attention" {
		t.Fatalf("connection after the failure: %v\n%s", err, out)
	}

	s.sluice("", "connections", "update", "directory", "--token", good)
	s.sluice("", "runs", "resubmit", "--connection", "directory", "--wait")
	runs := s.waitRuns("welcome", "succeeded", 1, 30*time.Second)
	if got := s.showRun(runs[0].ID); got.ResubmittedFrom == nil || *got.ResubmittedFrom != id {
		t.Fatalf("succeeded run is not the resubmit of run %d: %+v", id, got)
	}

	// The run's resubmission succeeded: resubmitting it again would
	// repeat its effects, so the CLI refuses without --force, and the
	// retry link warns and asks a second question.
	if out, errOut, code := s.run("", "runs", "resubmit", fmt.Sprint(id)); code == 0 || !strings.Contains(out+errOut, "which succeeded") || !strings.Contains(out+errOut, "--force") {
		t.Errorf("runs resubmit of a run whose resubmission succeeded: exit %d\n%s%s", code, out, errOut)
	}
	if _, page := retryPage(t, email); !strings.Contains(page, fmt.Sprintf("was already resubmitted as run %d, which succeeded", runs[0].ID)) {
		t.Errorf("the retry page does not warn:\n%s", page)
	}
	post := func(form url.Values) (int, string) {
		resp, err := http.PostForm(link, form)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	form := url.Values{"email": {"admin@localhost"}, "password": {adminPassword}}
	if code, page := post(form); code != http.StatusConflict || !strings.Contains(page, "Run it again anyway") {
		t.Fatalf("POST retry link without confirming: %d\n%s", code, page)
	}
	if runs := s.waitRuns("welcome", "", 2, time.Second); len(runs) != 2 {
		t.Fatalf("an unconfirmed retry created a run: %d runs", len(runs))
	}
	// Confirmed, it resubmits.
	form.Set("again", "1")
	if code, page := post(form); code != 200 || !strings.Contains(page, "resubmitted") {
		t.Fatalf("POST retry link, confirmed: %d\n%s", code, page)
	}
	s.waitRuns("welcome", "succeeded", 2, 30*time.Second)
	s.sluice("", "runs", "resubmit", fmt.Sprint(id), "--force")
	s.waitRuns("welcome", "succeeded", 3, 30*time.Second)
	if tips := mailsOf(smtp, "repair_tip"); len(tips) != 1 {
		t.Errorf("%d repair-tip emails for one problem, want 1", len(tips))
	}
}

// TestCanarySecretStaysSecret checks that no secret reaches a step output, a
// health_error, a notification, an email, the /r/ page, an API answer, the
// server log or a byte of the database: a stored bearer token that a careless
// API echoes; an OAuth2 access token fetched at run time from a real token
// endpoint, echoed in a success (also in upper-case hex), in a 401 (also
// upper-cased) and in its WWW-Authenticate challenge; and a binary
// (non-UTF-8) answer echoing a Basic credential and an upper-cased password,
// which is stored as base64.
func TestCanarySecretStaysSecret(t *testing.T) {
	const canary, token, password = "CANARY-c4n4ry-9f8e7d6c", "AT-CANARY-e2e-4b6d8f0a2c", "pw-CANARY-e2e-1a3c5e7f9b"
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token": %q, "token_type": "Bearer", "expires_in": 3600}`, token)
	}))
	defer tokens.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		bare := strings.TrimPrefix(auth, "Bearer ")
		switch r.URL.Path {
		case "/fail":
			// A careless API echoes the credential in its error.
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="token `+bare+` expired"`)
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error": {"message": "bad token %s", "hint": %q}}`, bare, strings.ToUpper(bare))
		case "/binary":
			w.Header().Set("Content-Type", "application/octet-stream")
			fmt.Fprintf(w, "\xff\xfe\x00%s\x00%s\x80", auth, strings.ToUpper(password))
		default:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"echo": %q, "hex": %q}`, auth, fmt.Sprintf("%X", bare))
		}
	}))
	defer api.Close()
	s, smtp := startServerWithMail(t)
	s.login()
	// seen holds what each surface showed, by surface.
	seen := map[string]*bytes.Buffer{}
	record := func(where, out string) {
		if seen[where] == nil {
			seen[where] = &bytes.Buffer{}
		}
		seen[where].WriteString(out)
	}
	record("connections add", s.sluice("", "connections", "add", "vault", "--type", "bearer", "--token", canary, "--json"))
	record("connections add", s.sluice("", "connections", "add", "crm", "--type", "oauth2", "--token-url", tokens.URL+"/token",
		"--client-id", "sluice", "--client-secret", "cs-e2e-0f2e4d6c", "--test-url", api.URL+"/fail", "--json"))
	record("connections add", s.sluice("", "connections", "add", "files", "--type", "basic", "--username", "ann", "--password", password, "--json"))
	s.sluice("", "flows", "apply", "-f", writeFlow(t, `name: canary
trigger: { type: manual }
actions:
  - { id: ok, type: http, connection: vault, with: { url: "`+api.URL+`/ok" } }
  - { id: fetched, type: http, connection: crm, with: { url: "`+api.URL+`/ok" } }
  - { id: blob, type: http, connection: files, with: { url: "`+api.URL+`/binary" } }
  - { id: fail, type: http, connection: vault, with: { url: "`+api.URL+`/fail" } }
`))
	s.sluice("", "flows", "apply", "-f", writeFlow(t, `name: runtime
trigger: { type: manual }
actions:
  - { id: fail, type: http, connection: crm, with: { url: "`+api.URL+`/fail" } }
`))
	var shown string
	for _, flow := range []string{"canary", "runtime"} {
		shown += s.sluice("", "runs", "show", fmt.Sprint(s.triggerWait(flow, `{}`)), "--json")
	}
	record("step outputs (runs show)", shown)
	if !strings.Contains(shown, `"base64"`) {
		t.Fatalf("the binary answer is not stored as base64:\n%s", shown)
	}
	// The binary body is stored as base64: decode it to look inside.
	for _, m := range regexp.MustCompile(`"base64":\s*"([^"]+)"`).FindAllStringSubmatch(shown, -1) {
		if b, err := base64.StdEncoding.DecodeString(m[1]); err == nil {
			record("the decoded base64 of a binary step output", string(b))
		}
	}
	record("runs list", s.sluice("", "runs", "list", "--json"))
	for _, c := range []string{"vault", "crm"} {
		out, _, _ := s.run("", "connections", "verify", c, "--json")
		record("connections verify", out)
		record("health_error (connections show)", s.sluice("", "connections", "show", c, "--json"))
	}
	record("health_error (connections list)", s.sluice("", "connections", "list", "--json"))
	record("notifications (activity)", s.sluice("", "activity", "--json"))
	waitMail(t, smtp, "repair_tip")
	deadline := time.Now().Add(30 * time.Second)
	for len(mailsOf(smtp, "repair_tip")) < 2 && time.Now().Before(deadline) {
		smtp.WaitMessages(len(smtp.Messages())+1, time.Until(deadline))
	}
	tips := mailsOf(smtp, "repair_tip")
	if len(tips) != 2 {
		t.Fatalf("%d repair-tip emails, want one per connection", len(tips))
	}
	for _, m := range tips {
		_, page := retryPage(t, m)
		record("the /r/ page", page)
	}

	var forms []string
	for _, v := range []string{canary, token, password, "ann:" + password} {
		forms = append(forms, v, strings.ToUpper(v), strings.ToLower(v), fmt.Sprintf("%x", v), fmt.Sprintf("%X", v),
			base64.StdEncoding.EncodeToString([]byte(v)), base64.RawURLEncoding.EncodeToString([]byte(v)), url.QueryEscape(v))
	}
	check := func(where string, data []byte) {
		t.Helper()
		for _, f := range forms {
			if bytes.Contains(data, []byte(f)) {
				t.Errorf("a secret appears in %s (as %q)", where, f)
			}
		}
	}
	for where, b := range seen {
		check(where, b.Bytes())
	}
	for _, where := range []string{"step outputs (runs show)", "the decoded base64 of a binary step output", "health_error (connections show)"} {
		if !strings.Contains(seen[where].String(), "[redacted]") {
			t.Errorf("nothing is masked in %s: the test did not exercise the redactor there:\n%s", where, seen[where])
		}
	}
	for _, m := range smtp.Messages() {
		check("an email", m.Data)
		check("an email", []byte(m.Text+m.HTML))
	}
	s.kill()
	check("the server log", s.logs.Bytes())
	files, _ := filepath.Glob(filepath.Join(s.data, "*"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err == nil {
			check(filepath.Base(f), data)
		}
	}
}

func TestNotFoundJourney(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/users/ada" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message": "Not Found"}`)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer api.Close()
	s := startServer(t)
	s.login()
	flow := func(path string) string {
		return writeFlow(t, `name: lookup
trigger: { type: manual }
actions:
  - id: get_user
    type: http
    with: { url: "`+api.URL+path+`/{{ trigger.body.user }}" }
`)
	}
	s.sluice("", "flows", "apply", "-f", flow("/v1/users"))
	id := s.triggerWait("lookup", `{"user": "ada"}`)
	run := s.showRun(id)
	if run.Status != "failed" || run.Steps[0].Error == nil || run.Steps[0].Error.Diagnosis.Class != "config" || run.Steps[0].Attempts != 1 {
		t.Fatalf("failed run: %+v", run)
	}
	s.sluice("", "flows", "apply", "-f", flow("/v2/users"))
	out := s.sluice("", "runs", "resubmit", fmt.Sprint(id))
	if !strings.Contains(out, "resubmitted as run") {
		t.Fatalf("runs resubmit: %s", out)
	}
	runs := s.waitRuns("lookup", "succeeded", 1, 30*time.Second)
	if got := s.showRun(runs[0].ID); got.ResubmittedFrom == nil || *got.ResubmittedFrom != id {
		t.Fatalf("succeeded run: %+v", got)
	}
}

func TestBadGatewayJourney(t *testing.T) {
	var healthy bool
	var mu sync.Mutex
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if !healthy {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprint(w, "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>")
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer api.Close()
	s := startServer(t)
	s.login()
	s.sluice("", "flows", "apply", "-f", writeFlow(t, `name: gateway
trigger: { type: manual }
actions:
  - id: call
    type: http
    with: { url: "`+api.URL+`/" }
    retry: { policy: exponential, count: 2, interval: 100ms }
`))
	id := s.triggerWait("gateway", `{}`)
	run := s.showRun(id)
	if run.Status != "failed" || run.Steps[0].Attempts != 3 || run.Steps[0].Error == nil || run.Steps[0].Error.Diagnosis.Class != "transient" {
		t.Fatalf("failed run after retries: %+v", run)
	}
	mu.Lock()
	healthy = true
	mu.Unlock()
	s.sluice("", "runs", "resubmit", fmt.Sprint(id))
	s.waitRuns("gateway", "succeeded", 1, 30*time.Second)
}

// mailsOf returns the messages of one kind (the X-Sluice-Mail header).
func mailsOf(smtp *mailtest.Server, kind string) []mailtest.Message {
	var out []mailtest.Message
	for _, m := range smtp.Messages() {
		if m.Header != nil && m.Header.Get("X-Sluice-Mail") == kind {
			out = append(out, m)
		}
	}
	return out
}

// retryPage finds the retry link of a repair-tip email and returns it with
// the page it shows without signing in.
func retryPage(t *testing.T, email mailtest.Message) (link, page string) {
	t.Helper()
	link = regexp.MustCompile(`https?://[^\s"<>]+/r/[A-Za-z0-9_\-.~%]+`).FindString(email.Text)
	if link == "" {
		t.Fatalf("no retry link in the email:\n%s", email.Text)
	}
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", link, resp.StatusCode, b)
	}
	return link, string(b)
}

// waitMail waits for the first message of a kind.
func waitMail(t *testing.T, smtp *mailtest.Server, kind string) mailtest.Message {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for n := 1; ; n++ {
		if got := mailsOf(smtp, kind); len(got) > 0 {
			return got[0]
		}
		if _, err := smtp.WaitMessages(n, time.Until(deadline)); err != nil {
			t.Fatalf("no %s email: %v", kind, err)
		}
	}
}

func TestHundredFailuresOneEmail(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
	}))
	defer api.Close()
	smtp := mailtest.NewServer(t)
	s := &server{t: t, data: t.TempDir(), config: t.TempDir(), addr: freeAddr(t)}
	s.url = "http://" + s.addr
	// The grace lets the whole burst be counted before the first email.
	s.env = []string{fmt.Sprintf("SLUICE_SMTP_URL=smtp://%s?from=sluice@example.com&tls=none", smtp.Addr), "SLUICE_REPAIR_GRACE=8s"}
	s.start()
	t.Cleanup(s.kill)
	s.login()
	s.sluice("", "flows", "apply", "-f", writeFlow(t, `name: burst
trigger: { type: manual }
actions:
  - id: fetch
    type: http
    with: { url: "`+api.URL+`/missing" }
`))
	token := s.token()
	for i := range 100 {
		req, _ := http.NewRequest("POST", s.url+"/api/v1/flows/burst/trigger", strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("trigger %d: %d", i, resp.StatusCode)
		}
	}
	s.waitRuns("burst", "failed", 100, 30*time.Second)
	email := waitMail(t, smtp, "repair_tip")
	if !strings.Contains(email.Text, "100 times") {
		t.Errorf("the email does not say 100:\n%s", email.Text)
	}
	// Give the notifier a few more passes: still one email.
	time.Sleep(3 * time.Second)
	if tips := mailsOf(smtp, "repair_tip"); len(tips) != 1 {
		t.Errorf("%d repair-tip emails, want 1", len(tips))
	}
}
