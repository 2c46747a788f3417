package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluice/sluice/internal/auth"
	"github.com/sluice/sluice/internal/mail"
	"github.com/sluice/sluice/internal/mail/mailtest"
	"github.com/sluice/sluice/internal/notify"
	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/sqlite"
	"github.com/sluice/sluice/internal/web"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	password = "correct horse battery"
	// canary stands for a secret that a step's input or output held: it
	// must never reach an email or a page.
	canary = "CANARY-s3cr3t-7f1d"
)

// clock is a settable time for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// switchSender forwards to the Sender it holds, so that a test can take
// the SMTP server down and bring it back on another port.
type switchSender struct{ s atomic.Pointer[mail.Sender] }

func (w *switchSender) Set(s mail.Sender) { w.s.Store(&s) }

func (w *switchSender) Send(ctx context.Context, m mail.Message) (string, error) {
	return (*w.s.Load()).Send(ctx, m)
}

// smtpTo returns a real SMTP sender for host:port.
func smtpTo(host string, port int) mail.Sender {
	return mail.NewSMTPSender(mail.SMTPConfig{Host: host, Port: port, From: "sluice@example.com", TLS: mail.TLSNone, Timeout: 5 * time.Second})
}

// deadSMTP returns a sender to a port where nothing listens.
func deadSMTP(t *testing.T) mail.Sender {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return smtpTo("127.0.0.1", port)
}

type bundle struct {
	ctx    context.Context
	st     *sqlite.Store
	key    []byte
	clock  *clock
	smtp   *mailtest.Server
	sender *switchSender
	n      *notify.Notifier
	web    *httptest.Server
	owner  store.User
	flow   store.Flow
	logs   *strings.Builder
}

func setup(t *testing.T, opts ...func(*notify.Config)) *bundle {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sluice.db"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := &bundle{ctx: ctx, st: st, key: notify.LinkKey([]byte("0123456789abcdef0123456789abcdef")), clock: &clock{t: time.Now()}, logs: &strings.Builder{}}
	b.smtp = mailtest.NewServer(t)
	b.sender = &switchSender{}
	b.sender.Set(smtpTo(b.smtp.Host, b.smtp.Port))

	mux := http.NewServeMux()
	mux.Handle("/r/", web.New(web.Config{
		Store: st, Key: b.key, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Resubmit: func(ctx context.Context, r store.Run, _ bool) (store.Run, error) {
			nr, _, err := st.ResubmitRun(ctx, store.NewRun{FlowID: r.FlowID, FlowVersion: r.FlowVersion, TriggerType: "resubmit", Input: r.Input, ResubmittedFrom: &r.ID, Dedupe: true})
			return nr, err
		},
	}))
	b.web = httptest.NewServer(mux)
	t.Cleanup(b.web.Close)

	b.owner = b.user(t, "ann@example.com", store.RoleMaker)
	b.flow = b.newFlow(t, "Welcome a new hire", b.owner.ID)

	cfg := notify.Config{
		Store: st, Mailer: b.sender, From: "sluice@example.com", BaseURL: b.web.URL, Key: b.key,
		Logger: slog.New(slog.NewTextHandler(syncWriter{b.logs, &sync.Mutex{}}, nil)), Now: b.clock.Now, Poll: 10 * time.Millisecond,
	}
	for _, o := range opts {
		o(&cfg)
	}
	b.n, err = notify.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type syncWriter struct {
	b  *strings.Builder
	mu *sync.Mutex
}

func (w syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (b *bundle) user(t *testing.T, email, role string) store.User {
	t.Helper()
	hash, err := auth.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	u, err := b.st.CreateUser(b.ctx, store.User{Email: email, Name: strings.Split(email, "@")[0], PasswordHash: hash, Role: role})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (b *bundle) newFlow(t *testing.T, name string, owner int64) store.Flow {
	t.Helper()
	f, err := b.st.CreateFlow(b.ctx, store.NewFlow{Name: name, OwnerID: owner, TriggerType: "webhook", WebhookToken: "wh-" + fmt.Sprint(time.Now().UnixNano()),
		Definition: json.RawMessage(`{"name":"x","trigger":{"type":"webhook"}}`), Source: "name: x\n"})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// diagnosisError is a stored step error of an http step that got a 401,
// as the engine writes it.
const diagnosisError = `{"kind":"auth","message":"GET https://directory.example.com/users/ann/manager: 401 Unauthorized","class":"auth","connection":"directory",` +
	`"status":401,"headers":{"Www-Authenticate":"Bearer error=\"invalid_token\""},"body":{"error":"` + canary + `"},` +
	`"diagnosis":{"class":"auth","code":"http.401","title":"The connection's credentials were refused",` +
	`"what_happened":"directory.example.com refused the credentials of connection directory (HTTP 401 <Unauthorized>).",` +
	`"how_to_fix":"Update connection directory with a valid token (sluice connections update directory --token ...), then resubmit.",` +
	`"retryable":false,"actions":["fix_connection","resubmit"]}}`

// fail finishes a run of the flow as failed at step get_manager, as the
// engine would; the step input and output hold the canary.
func (b *bundle) fail(t *testing.T, flowID int64, stepErr string) store.Run {
	t.Helper()
	r, err := b.st.CreateRun(b.ctx, store.NewRun{FlowID: flowID, FlowVersion: 1, TriggerType: "webhook",
		Input: json.RawMessage(`{"body":{"user":"ann","api_key":"` + canary + `"}}`), LeaseOwner: "w", LeaseUntil: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	steps := []store.Step{
		{Key: "compose", ActionID: "compose", Type: "compose", Status: "succeeded", Attempts: 1, StartedAt: &now, FinishedAt: &now,
			Input: json.RawMessage(`{"value":"` + canary + `"}`), Output: json.RawMessage(`{"value":"` + canary + `"}`)},
		{Key: "get_manager", ActionID: "get_manager", Type: "http", Status: "failed", Attempts: 1, StartedAt: &now, FinishedAt: &now,
			Input: json.RawMessage(`{"url":"https://directory.example.com/users/ann/manager","headers":{"X-Key":"` + canary + `"}}`), Error: json.RawMessage(stepErr)},
	}
	if err := b.st.FinishRun(b.ctx, "w", r.ID, store.RunFinish{Status: store.RunFailed, Error: "step get_manager failed", Steps: steps}); err != nil {
		t.Fatal(err)
	}
	return r
}

func (b *bundle) succeed(t *testing.T, flowID int64) store.Run {
	t.Helper()
	r, err := b.st.CreateRun(b.ctx, store.NewRun{FlowID: flowID, FlowVersion: 1, TriggerType: "webhook", LeaseOwner: "w", LeaseUntil: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.st.FinishRun(b.ctx, "w", r.ID, store.RunFinish{Status: store.RunSucceeded}); err != nil {
		t.Fatal(err)
	}
	return r
}

// pass runs the notifier's loops once, in order.
func (b *bundle) pass(t *testing.T) {
	t.Helper()
	if err := b.n.HandleEvents(b.ctx); err != nil {
		t.Fatalf("HandleEvents: %v", err)
	}
	if err := b.n.SendAlerts(b.ctx); err != nil {
		t.Fatalf("SendAlerts: %v", err)
	}
	if err := b.n.DeliverDue(b.ctx); err != nil {
		t.Fatalf("DeliverDue: %v", err)
	}
}

// outbox returns the outbox, oldest first.
func (b *bundle) outbox(t *testing.T) []store.Mail {
	t.Helper()
	m, err := b.st.ListMail(b.ctx, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(m)-1; i < j; i, j = i+1, j-1 {
		m[i], m[j] = m[j], m[i]
	}
	return m
}

func (b *bundle) countRuns(t *testing.T) int {
	t.Helper()
	n, err := b.st.CountRuns(b.ctx, store.RunFilter{FlowID: b.flow.ID})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+/r/([A-Za-z0-9_-]+)`)

// links returns the verified links of a text by purpose.
func links(t *testing.T, key []byte, text string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range linkRE.FindAllStringSubmatch(text, -1) {
		l, err := notify.VerifyLink(key, m[1])
		if err != nil {
			t.Fatalf("link %s does not verify: %v", m[0], err)
		}
		out[l.Purpose] = m[0]
	}
	return out
}

func requireContains(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, s)
		}
	}
}

func TestRepairEmail(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := b.fail(t, b.flow.ID, diagnosisError)

	b.pass(t)
	if got := b.outbox(t); len(got) != 0 {
		t.Fatalf("an email was queued before the grace period: %+v", got[0].Subject)
	}
	b.clock.Advance(time.Minute)
	b.pass(t)
	msgs, err := b.smtp.WaitMessages(1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	b.pass(t) // nothing more is due
	if got := b.smtp.Messages(); len(got) != 1 {
		t.Fatalf("got %d emails, want exactly 1", len(got))
	}
	m := msgs[0]
	if m.To[0] != "ann@example.com" {
		t.Errorf("To = %v", m.To)
	}
	requireContains(t, "subject", m.Subject, "Welcome a new hire", "credentials were refused")
	alert := b.outbox(t)[0]
	if alert.Status != store.MailSent || alert.Kind != notify.MailRepairTip {
		t.Errorf("outbox entry: %+v", alert)
	}
	if got := strings.Trim(m.Header.Get("Message-Id"), "<>"); got != alert.MessageID || !strings.HasPrefix(got, fmt.Sprintf("sluice-outbox-%d-", alert.ID)) {
		t.Errorf("Message-ID %q, outbox recorded %q", got, alert.MessageID)
	}
	for name, body := range map[string]string{"text": m.Text, "html": html.UnescapeString(m.HTML)} {
		requireContains(t, name, body, "Time", "What happened", "How do I fix", "Troubleshooting tips",
			"It failed 1 time since", "directory.example.com refused the credentials of connection directory",
			"Update connection directory", "get_manager", "Fix my flow",
			"sluice users settings --repair-emails never", "sluice flows settings 'Welcome a new hire' --repair-emails off",
			"Learn more", "/help/auth-errors")
		if strings.Contains(body, canary) {
			t.Errorf("%s body contains the step's secret", name)
		}
		if strings.Index(body, "Time") > strings.Index(body, "What happened") ||
			strings.Index(body, "What happened") > strings.Index(body, "How do I fix") ||
			strings.Index(body, "How do I fix") > strings.Index(body, "Troubleshooting tips") {
			t.Errorf("%s sections out of order", name)
		}
	}
	// The HTML escapes what the diagnosis says.
	requireContains(t, "html", m.HTML, "HTTP 401 &lt;Unauthorized&gt;", "<h2", ">Time</h2>")
	runs, err := b.st.ListRuns(b.ctx, store.RunFilter{IDs: []int64{run.ID}})
	if err != nil || len(runs) != 1 {
		t.Fatal(runs, err)
	}
	requireContains(t, "text", m.Text, runs[0].FinishedAt.UTC().Format(time.RFC1123)[:17]) // the day and minute it failed, in UTC

	// The feed has the failure.
	notes, err := b.st.ListNotifications(b.ctx, b.owner.ID, false, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 1 || notes[0].Kind != store.NoteRunFailed || notes[0].RunID != run.ID || notes[0].FlowID != b.flow.ID {
		t.Fatalf("notifications: %+v", notes)
	}

	// The links work, in the text and in the HTML alike.
	lt, lh := links(t, b.key, m.Text), links(t, b.key, m.HTML)
	if lt[notify.PurposeRetry] == "" || lt[notify.PurposeFix] == "" || lh[notify.PurposeRetry] == "" || lh[notify.PurposeFix] == "" {
		t.Fatalf("links: text %v html %v", lt, lh)
	}
	client := b.web.Client()
	before := b.countRuns(t)

	get := func(u string) (int, string) {
		t.Helper()
		resp, err := client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	post := func(u, email, pw string) (int, string) {
		t.Helper()
		resp, err := client.PostForm(u, url.Values{"email": {email}, "password": {pw}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	status, page := get(lt[notify.PurposeRetry])
	if status != http.StatusOK {
		t.Fatalf("GET retry: %d %s", status, page)
	}
	requireContains(t, "retry page", page, "Retry run", "<form method=\"post\">", "What happened", "How do I fix", "get_manager", `value="ann@example.com"`)
	status, page = get(lt[notify.PurposeFix])
	if status != http.StatusOK || strings.Contains(page, "<form") {
		t.Fatalf("GET fix: %d %s", status, page)
	}
	requireContains(t, "fix page", page, `class="bad"`, "st-failed", "Update connection directory")
	if strings.Contains(page, canary) {
		t.Error("page shows the step's secret")
	}
	if got := b.countRuns(t); got != before {
		t.Fatalf("GET changed the runs: %d, want %d", got, before)
	}

	b.user(t, "bob@example.com", store.RoleMaker)
	for _, tc := range []struct{ name, email, pw string }{
		{"wrong password", "ann@example.com", "not the password"},
		{"unknown user", "nobody@example.com", password},
		{"another maker", "bob@example.com", password},
		{"empty", "", ""},
	} {
		status, page := post(lt[notify.PurposeRetry], tc.email, tc.pw)
		if status != http.StatusForbidden {
			t.Errorf("%s: POST status %d", tc.name, status)
		}
		requireContains(t, tc.name, page, "The email or password is wrong, or this account may not retry this run.")
	}
	if status, _ := post(lt[notify.PurposeFix], "ann@example.com", password); status != http.StatusBadRequest {
		t.Errorf("POST to a fix link: %d, want 400", status)
	}
	if got := b.countRuns(t); got != before {
		t.Fatalf("refused POSTs changed the runs: %d, want %d", got, before)
	}
	status, page = post(lt[notify.PurposeRetry], "ann@example.com", password)
	if status != http.StatusOK {
		t.Fatalf("POST retry: %d %s", status, page)
	}
	requireContains(t, "result", page, fmt.Sprintf("Run %d resubmitted as run %d", run.ID, run.ID+1), "queued")
	// An admin may too; the unfinished resubmission is returned again.
	b.user(t, "root@example.com", store.RoleAdmin)
	status, page = post(lh[notify.PurposeRetry], "root@example.com", password)
	if status != http.StatusOK {
		t.Fatalf("POST retry as admin: %d %s", status, page)
	}
	requireContains(t, "result", page, fmt.Sprintf("Run %d resubmitted as run %d", run.ID, run.ID+1))
	if got := b.countRuns(t); got != before+1 {
		t.Fatalf("runs after resubmit: %d, want %d", got, before+1)
	}
	nr, err := b.st.GetRun(b.ctx, run.ID+1)
	if err != nil || nr.ResubmittedFrom == nil || *nr.ResubmittedFrom != run.ID || string(nr.Input) != string(run.Input) {
		t.Fatalf("resubmitted run: %+v %v", nr, err)
	}
}

func TestHundredFailuresOneEmail(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for range 100 {
		b.fail(t, b.flow.ID, diagnosisError)
	}
	b.pass(t)
	b.clock.Advance(time.Minute)
	b.pass(t)
	msgs, err := b.smtp.WaitMessages(1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	requireContains(t, "text", msgs[0].Text, "It failed 100 times since")
	requireContains(t, "html", msgs[0].HTML, "It failed 100 times since")

	// One unread notification, not a hundred.
	if n, err := b.st.CountUnread(b.ctx, b.owner.ID); err != nil || n != 1 {
		t.Fatalf("unread = %d, %v; want 1", n, err)
	}

	// Later failures in the window wait for the next email.
	for range 3 {
		b.fail(t, b.flow.ID, diagnosisError)
	}
	b.clock.Advance(30 * time.Minute)
	b.pass(t)
	if got := len(b.outbox(t)); got != 1 {
		t.Fatalf("%d emails within the window, want 1", got)
	}
	b.clock.Advance(31 * time.Minute)
	b.pass(t)
	msgs, err = b.smtp.WaitMessages(2, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	requireContains(t, "second email", msgs[1].Text, "It failed 3 times since")
	b.pass(t)
	if got := len(b.smtp.Messages()); got != 2 {
		t.Fatalf("%d emails, want 2", got)
	}
	// Once read, the next failure is in the feed again.
	if err := b.st.MarkRead(b.ctx, b.owner.ID, nil); err != nil {
		t.Fatal(err)
	}
	b.fail(t, b.flow.ID, diagnosisError)
	b.pass(t)
	if n, err := b.st.CountUnread(b.ctx, b.owner.ID); err != nil || n != 1 {
		t.Fatalf("unread after reading = %d, %v; want 1", n, err)
	}
}

func TestSMTPDownThenUp(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.sender.Set(deadSMTP(t))
	flows := []store.Flow{b.flow, b.newFlow(t, "Nightly report", b.owner.ID), b.newFlow(t, "Sync CRM", b.owner.ID)}
	for _, f := range flows {
		b.fail(t, f.ID, diagnosisError)
	}
	b.pass(t)
	b.clock.Advance(time.Minute)
	// SMTP is down for several attempts.
	for i := range 4 {
		b.pass(t)
		b.clock.Advance(time.Duration(30<<i) * time.Second)
	}
	out := b.outbox(t)
	if len(out) != 3 {
		t.Fatalf("outbox has %d messages, want 3", len(out))
	}
	for _, m := range out {
		if m.Status != store.MailQueued || m.Attempts != 4 || !strings.Contains(m.LastError, "127.0.0.1") {
			t.Errorf("queued mail %d: status %s attempts %d error %q", m.ID, m.Status, m.Attempts, m.LastError)
		}
	}

	// SMTP comes back; the notifier is running.
	b.sender.Set(smtpTo(b.smtp.Host, b.smtp.Port))
	b.clock.Advance(2 * time.Hour)
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() { done <- b.n.Run(ctx) }()
	msgs, err := b.smtp.WaitMessages(3, 10*time.Second)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(2 * time.Hour)
	b.pass(t)
	msgs = b.smtp.Messages()
	if len(msgs) != 3 {
		t.Fatalf("%d messages arrived, want each of 3 exactly once", len(msgs))
	}
	seen := map[string]bool{}
	for _, m := range msgs {
		id := m.Header.Get("Message-Id")
		if seen[id] {
			t.Errorf("message %s arrived twice", id)
		}
		seen[id] = true
	}
	for _, m := range b.outbox(t) {
		if m.Status != store.MailSent || m.Attempts != 5 || !seen["<"+m.MessageID+">"] {
			t.Errorf("mail %d: status %s attempts %d id %s", m.ID, m.Status, m.Attempts, m.MessageID)
		}
	}
}

func TestNoMailerKeepsMailQueued(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *notify.Config) { c.Mailer = nil })
	b.fail(t, b.flow.ID, diagnosisError)
	b.pass(t)
	b.clock.Advance(time.Minute)
	b.pass(t)
	out := b.outbox(t)
	if len(out) != 1 || out[0].Status != store.MailQueued || out[0].Attempts != 0 {
		t.Fatalf("outbox: %+v", out)
	}
	requireContains(t, "queued text", out[0].Text, "What happened")
}

func TestOptOuts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		set  func(t *testing.T, b *bundle)
	}{
		{"flow off", func(t *testing.T, b *bundle) {
			if err := b.st.SetFlowSettings(b.ctx, b.flow.ID, store.FlowSettings{RepairEmails: false}); err != nil {
				t.Fatal(err)
			}
		}},
		{"user never", func(t *testing.T, b *bundle) {
			if err := b.st.SetUserSettings(b.ctx, b.owner.ID, store.UserSettings{RepairEmails: "never"}); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			tt.set(t, b)
			for range 5 {
				b.fail(t, b.flow.ID, diagnosisError)
			}
			b.pass(t)
			b.clock.Advance(2 * time.Hour)
			b.pass(t)
			if out := b.outbox(t); len(out) != 0 {
				t.Fatalf("opted out, yet %d emails: %s", len(out), out[0].Subject)
			}
			// The failures are not kept to be reported later.
			due, err := b.st.DueAlerts(b.ctx, b.clock.Now().Add(24*time.Hour), time.Hour)
			if err != nil || len(due) != 0 {
				t.Fatalf("due alerts after opting out: %+v %v", due, err)
			}
			// The feed still shows the failure.
			if n, err := b.st.CountUnread(b.ctx, b.owner.ID); err != nil || n != 1 {
				t.Fatalf("unread = %d, %v", n, err)
			}
		})
	}
}

func TestDigest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if err := b.st.SetUserSettings(b.ctx, b.owner.ID, store.UserSettings{RepairEmails: "hourly"}); err != nil {
		t.Fatal(err)
	}
	second := b.newFlow(t, "Nightly report", b.owner.ID)
	for range 2 {
		b.fail(t, b.flow.ID, diagnosisError)
	}
	b.fail(t, second.ID, diagnosisError)
	b.pass(t)
	b.clock.Advance(time.Minute)
	b.pass(t)
	msgs, err := b.smtp.WaitMessages(1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	m := msgs[0]
	requireContains(t, "digest subject", m.Subject, "2 problems", "3 failures")
	requireContains(t, "digest", m.Text, "Welcome a new hire", "Nightly report", "It failed 2 times since", "It failed 1 time since",
		"sluice flows settings 'Nightly report' --repair-emails off")
	if strings.Count(m.Text, "\nHow do I fix\n") != 2 {
		t.Errorf("digest does not have the sections for each problem:\n%s", m.Text)
	}

	// A new problem right after waits for the next digest, an hour after.
	third := b.newFlow(t, "Sync CRM", b.owner.ID)
	b.fail(t, third.ID, diagnosisError)
	b.pass(t)
	b.clock.Advance(30 * time.Minute)
	b.pass(t)
	if got := len(b.outbox(t)); got != 1 {
		t.Fatalf("%d emails within the hour, want 1", got)
	}
	b.clock.Advance(31 * time.Minute)
	b.pass(t)
	msgs, err = b.smtp.WaitMessages(2, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	requireContains(t, "second digest", msgs[1].Text, "Sync CRM")
	if strings.Contains(msgs[1].Text, "Nightly report") {
		t.Error("second digest repeats a problem already reported")
	}

	// A restarted notifier finds the last digest in the store.
	n2, err := notify.New(notify.Config{Store: b.st, Mailer: b.sender, BaseURL: b.web.URL, Key: b.key, Now: b.clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	b.fail(t, third.ID, diagnosisError)
	if err := n2.HandleEvents(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(time.Minute)
	if err := n2.SendAlerts(b.ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(b.outbox(t)); got != 2 {
		t.Fatalf("restarted notifier sent a digest early: %d emails", got)
	}
}

func TestConnectionBroken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, err := b.st.CreateConnection(b.ctx, store.Connection{OwnerID: b.owner.ID, Name: "directory", Type: "bearer", Config: json.RawMessage(`{}`), Secret: []byte(canary)})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // one change, reported once
		if _, err := b.st.SetConnectionHealth(b.ctx, c.ID, store.HealthNeedsAttention, "HTTP 401: the token was refused", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	b.clock.Set(time.Now().Add(time.Second)) // the outbox dates mail by the wall clock
	b.pass(t)
	msgs, err := b.smtp.WaitMessages(1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	b.pass(t)
	if got := len(b.smtp.Messages()); got != 1 {
		t.Fatalf("%d emails, want 1", got)
	}
	requireContains(t, "connection email", msgs[0].Text, "Connection directory needs attention", "HTTP 401: the token was refused",
		"sluice connections update directory --token-stdin", "sluice runs resubmit --connection directory")
	if strings.Contains(msgs[0].Text+msgs[0].HTML, canary) {
		t.Error("email contains the connection's secret")
	}
	notes, err := b.st.ListNotifications(b.ctx, b.owner.ID, true, 10)
	if err != nil || len(notes) != 1 || notes[0].Kind != store.NoteConnectionBroken || notes[0].ConnectionID != c.ID {
		t.Fatalf("notifications: %+v %v", notes, err)
	}
}

func TestAutoDisable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	healthy := b.newFlow(t, "Recovered", b.owner.ID)
	quiet := b.newFlow(t, "Never ran", b.owner.ID)
	b.fail(t, b.flow.ID, diagnosisError)
	b.fail(t, b.flow.ID, diagnosisError)
	b.fail(t, healthy.ID, diagnosisError)
	b.succeed(t, healthy.ID)

	// 13 days on: not yet.
	b.clock.Advance(13 * 24 * time.Hour)
	if err := b.n.DisableFailing(b.ctx); err != nil {
		t.Fatal(err)
	}
	if f, _ := b.st.GetFlow(b.ctx, b.flow.ID); !f.Enabled {
		t.Fatal("turned off before 14 days")
	}
	b.clock.Advance(2 * 24 * time.Hour)
	if err := b.n.DisableFailing(b.ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id   int64
		want bool
	}{{b.flow.ID, false}, {healthy.ID, true}, {quiet.ID, true}} {
		f, err := b.st.GetFlow(b.ctx, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if f.Enabled != tc.want {
			t.Errorf("flow %s enabled = %v, want %v", f.Name, f.Enabled, tc.want)
		}
	}
	notes, err := b.st.ListNotifications(b.ctx, b.owner.ID, true, 10)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range notes {
		if n.Kind == store.NoteFlowTurnedOff && n.FlowID == b.flow.ID {
			found = true
		}
	}
	if !found {
		t.Errorf("no flow_turned_off notification: %+v", notes)
	}
	var off []store.Mail
	for _, m := range b.outbox(t) {
		if m.Kind == notify.MailFlowTurnedOff {
			off = append(off, m)
		}
	}
	if len(off) != 1 {
		t.Fatalf("%d turned-off emails, want 1", len(off))
	}
	requireContains(t, "turned-off email", off[0].Text, "Sluice turned off your flow Welcome a new hire", "sluice flows enable 'Welcome a new hire'", "/r/")

	// Turned back on, it gets the full period again.
	if _, err := b.st.SetFlowEnabled(b.ctx, b.flow.ID, true); err != nil {
		t.Fatal(err)
	}
	b.fail(t, b.flow.ID, diagnosisError)
	b.clock.Set(time.Now().Add(time.Hour))
	if err := b.n.DisableFailing(b.ctx); err != nil {
		t.Fatal(err)
	}
	if f, _ := b.st.GetFlow(b.ctx, b.flow.ID); !f.Enabled {
		t.Fatal("turned off again right after being turned on")
	}
	b.clock.Advance(15 * 24 * time.Hour)
	if err := b.n.DisableFailing(b.ctx); err != nil {
		t.Fatal(err)
	}
	if f, _ := b.st.GetFlow(b.ctx, b.flow.ID); f.Enabled {
		t.Fatal("not turned off after failing another 15 days")
	}
}

func TestLinks(t *testing.T) {
	t.Parallel()
	key := notify.LinkKey([]byte("0123456789abcdef0123456789abcdef"))
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	tok := notify.SignLink(key, notify.PurposeRetry, 42, 7, exp)
	l, err := notify.VerifyLink(key, tok)
	if err != nil {
		t.Fatal(err)
	}
	if l != (notify.Link{Purpose: notify.PurposeRetry, RunID: 42, UserID: 7, Expires: exp.UTC()}) {
		t.Fatalf("link %+v", l)
	}
	if strings.ContainsAny(tok, "+/=") {
		t.Errorf("token %q is not base64url without padding", tok)
	}
	// Every changed character is refused.
	for i := range tok {
		c := byte('A')
		if tok[i] == 'A' {
			c = 'B'
		}
		bad := tok[:i] + string(c) + tok[i+1:]
		if _, err := notify.VerifyLink(key, bad); !errors.Is(err, notify.ErrLinkInvalid) {
			t.Fatalf("tampered at %d: err %v", i, err)
		}
	}
	for name, bad := range map[string]string{"empty": "", "short": tok[:len(tok)-1], "long": tok + "A", "garbage": strings.Repeat("!", len(tok))} {
		if _, err := notify.VerifyLink(key, bad); !errors.Is(err, notify.ErrLinkInvalid) {
			t.Errorf("%s: err %v", name, err)
		}
	}
	other := notify.LinkKey([]byte("another key, another installation"))
	if _, err := notify.VerifyLink(other, tok); !errors.Is(err, notify.ErrLinkInvalid) {
		t.Errorf("other key: err %v", err)
	}
	old := notify.SignLink(key, notify.PurposeFix, 42, 7, time.Now().Add(-time.Second))
	l, err = notify.VerifyLink(key, old)
	if !errors.Is(err, notify.ErrLinkExpired) || l.RunID != 42 || l.Purpose != notify.PurposeFix {
		t.Errorf("expired: %+v %v", l, err)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	_, err := notify.New(notify.Config{BaseURL: "sluice.example.com", Key: []byte("short")})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"Store is required", "Key has 5 bytes", `BaseURL "sluice.example.com"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestDisabledOwnerIsNotTold: of two owners whose flows fail, the one an
// admin disabled gets no repair email, no feed entry, no connection email
// and no turned-off email; the enabled one still gets hers. The disabled
// owner's failures are not saved up for later, and their flow that keeps
// failing is still turned off.
func TestDisabledOwnerIsNotTold(t *testing.T) {
	t.Parallel()
	b := setup(t)
	bob := b.user(t, "bob@example.com", store.RoleMaker)
	bobs := b.newFlow(t, "Bob's sync", bob.ID)
	c, err := b.st.CreateConnection(b.ctx, store.Connection{OwnerID: bob.ID, Name: "crm", Type: "bearer", Config: json.RawMessage(`{}`), Secret: []byte(canary)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.st.SetUserDisabled(b.ctx, bob.ID, true); err != nil {
		t.Fatal(err)
	}
	b.fail(t, b.flow.ID, diagnosisError)
	b.fail(t, bobs.ID, diagnosisError)
	if _, err := b.st.SetConnectionHealth(b.ctx, c.ID, store.HealthNeedsAttention, "HTTP 401", time.Now()); err != nil {
		t.Fatal(err)
	}
	b.clock.Set(time.Now().Add(time.Second))
	b.pass(t)
	b.clock.Advance(2 * time.Hour)
	b.pass(t)
	msgs, err := b.smtp.WaitMessages(1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range b.outbox(t) {
		if m.To[0] != "ann@example.com" {
			t.Errorf("%s email to %v, a disabled user", m.Kind, m.To)
		}
	}
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "Welcome a new hire") {
		t.Fatalf("%d emails; the enabled owner's repair tip is missing", len(msgs))
	}
	if n, err := b.st.CountUnread(b.ctx, bob.ID); err != nil || n != 0 {
		t.Errorf("disabled user has %d unread notifications, %v", n, err)
	}
	if n, err := b.st.CountUnread(b.ctx, b.owner.ID); err != nil || n != 1 {
		t.Errorf("enabled owner has %d unread notifications, %v", n, err)
	}
	due, err := b.st.DueAlerts(b.ctx, b.clock.Now().Add(24*time.Hour), time.Hour)
	if err != nil || len(due) != 0 {
		t.Fatalf("alerts kept for later: %+v %v", due, err)
	}

	// Still failing 15 days on: the flow is turned off, silently for its
	// disabled owner.
	b.clock.Advance(15 * 24 * time.Hour)
	if err := b.n.DisableFailing(b.ctx); err != nil {
		t.Fatal(err)
	}
	if f, err := b.st.GetFlow(b.ctx, bobs.ID); err != nil || f.Enabled {
		t.Fatalf("disabled owner's failing flow enabled = %v, %v", f.Enabled, err)
	}
	for _, m := range b.outbox(t) {
		if m.To[0] == "bob@example.com" {
			t.Errorf("%s email to a disabled user", m.Kind)
		}
	}
	if n, err := b.st.CountUnread(b.ctx, bob.ID); err != nil || n != 0 {
		t.Errorf("disabled user has %d unread notifications, %v", n, err)
	}
}

// TestResolvedProblemNoEmail: a problem that was resolved before its
// grace ended (a later run of the flow, such as the resubmission,
// succeeded) gets no email; a failure after that success does.
func TestResolvedProblemNoEmail(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.fail(t, b.flow.ID, diagnosisError)
	b.pass(t)
	b.succeed(t, b.flow.ID)
	b.clock.Advance(time.Hour)
	b.pass(t)
	if got := b.outbox(t); len(got) != 0 {
		t.Fatalf("%d emails about a resolved problem, want none: %q", len(got), got[0].Subject)
	}
	requireContains(t, "log", b.logs.String(), "repair email dropped: the problem was resolved")
	b.fail(t, b.flow.ID, diagnosisError)
	b.pass(t)
	b.clock.Advance(time.Hour)
	b.pass(t)
	if _, err := b.smtp.WaitMessages(1, 10*time.Second); err != nil {
		t.Fatalf("no email about the failure after the success: %v", err)
	}
	requireContains(t, "email", b.smtp.Messages()[0].Text, "It failed 1 time")
}
