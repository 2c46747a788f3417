package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/sluice/sluice/internal/auth"
	"github.com/sluice/sluice/internal/connection"
	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/notify"
	"github.com/sluice/sluice/internal/store"
)

// The browser tests drive Debian's chromium, headless: one browser for
// the test binary, a tab per test. They skip when chromium is absent,
// unless SLUICE_TEST_BROWSER is set (CI sets it). Screenshots go to the
// folder SLUICE_TEST_ARTIFACTS names, else to the test's temporary folder.

var chrome struct {
	once   sync.Once
	ctx    context.Context
	cancel func()
	dir    string
	err    error
}

// chromiumPath returns the browser to drive, "" when there is none.
func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// startBrowser starts the shared browser once.
func startBrowser() {
	dir, err := os.MkdirTemp("", "sluice-chromium")
	if err != nil {
		chrome.err = err
		return
	}
	chrome.dir = dir
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(dir),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	chrome.ctx, chrome.cancel = ctx, func() { cancelCtx(); cancelAlloc() }
	// The first run starts the browser; it must not have a timeout.
	chrome.err = chromedp.Do(ctx)
}

// stopBrowser stops the shared browser, if it started.
func stopBrowser() {
	if chrome.cancel == nil {
		return
	}
	chrome.cancel()
	// Chromium's children may still write in the folder for a moment.
	for range 50 {
		if os.RemoveAll(chrome.dir) == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tab opens a tab of the shared browser for the test, with a deadline,
// in a browser context of its own (its own cookies: the tests' servers
// share the host 127.0.0.1).
func tab(t *testing.T) context.Context {
	t.Helper()
	if chromiumPath() == "" {
		if os.Getenv("SLUICE_TEST_BROWSER") != "" {
			t.Fatal("SLUICE_TEST_BROWSER is set but chromium is not installed: apt-get install chromium")
		}
		t.Skip("chromium is not installed (apt-get install chromium); set SLUICE_TEST_BROWSER to make this a failure")
	}
	chrome.once.Do(startBrowser)
	if chrome.err != nil {
		t.Fatalf("start chromium: %v", chrome.err)
	}
	ctx, cancel := context.WithTimeout(chrome.ctx, 60*time.Second)
	ctx, cancelTab := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(func() { cancelTab(); cancel() })
	return ctx
}

// artifacts returns the folder for the test's screenshots.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SLUICE_TEST_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// screenshot keeps a full-page PNG of the tab as name.png.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(artifacts(t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// must fails the test on an error of a browser step.
func must[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

// do runs browser steps, failing the test on an error.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// clickAndLoad clicks and waits for the page it leads to.
func clickAndLoad(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(cdppage.LoadEventFired, nil, chromedp.Click(sel))); err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
}

// signInWith fills the sign-in form the tab is on.
func signInWith(t *testing.T, ctx context.Context, email string) {
	t.Helper()
	do(t, ctx, "fill the sign-in form", chromedp.WaitVisible("#email"), chromedp.SendKeys("#email", email), chromedp.SendKeys("#password", sitePassword))
	clickAndLoad(t, ctx, `button[type="submit"]`)
}

// location returns the tab's address without the server's.
func location(t *testing.T, ctx context.Context, base string) string {
	t.Helper()
	return strings.TrimPrefix(must[string](t, "location")(chromedp.Run(ctx, chromedp.Location())), base)
}

// flaky502 is a target that answers 502 until fixed.
type flaky502 struct {
	fixed atomic.Bool
	calls atomic.Int64
}

func (f *flaky502) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	w.Header().Set("Content-Type", "application/json")
	if !f.fixed.Load() {
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, `{"error":"upstream orders service is down"}`)
		return
	}
	fmt.Fprint(w, `{"orders":3}`)
}

// failed502Run runs ann's flow "Sync orders" against target, which
// answers 502, and returns the failed run.
func (s *site) failed502Run(t *testing.T, target *flaky502) store.Run {
	t.Helper()
	ts := httptest.NewServer(target)
	t.Cleanup(ts.Close)
	f := s.saveFlow(t, s.ann, flowSource("Sync orders", ts.URL+"/orders"))
	run, err := s.eng.Start(t.Context(), engine.StartRequest{Flow: f, TriggerType: "manual", Trigger: engine.Trigger{Input: map[string]any{"day": "monday"}}})
	if err != nil {
		t.Fatal(err)
	}
	if run = s.waitRun(t, run.ID); run.Status != store.RunFailed {
		t.Fatalf("the run against a 502 %s, want failed", run.Status)
	}
	return run
}

// TestBrowser502Journey is journey 3 with sign in → / → run page: a run
// failed with a 502; the owner signs in, Home sends them to the run page,
// which shows the failed step open and red with How do I fix; Resubmit
// makes a run that succeeds.
func TestBrowser502Journey(t *testing.T) {
	t.Parallel()
	ctx := tab(t)
	s := newSite(t)
	target := &flaky502{}
	run := s.failed502Run(t, target)

	do(t, ctx, "laptop viewport", chromedp.EmulateViewport(1280, 900))
	do(t, ctx, "open /", chromedp.Navigate(s.srv.URL+"/"))
	if loc := location(t, ctx, s.srv.URL); loc != "/signin?next=%2F" {
		t.Fatalf("anonymous / went to %q", loc)
	}
	screenshot(t, ctx, "502-1-signin-laptop")
	signInWith(t, ctx, "ann@example.com")
	if loc := location(t, ctx, s.srv.URL); loc != "/" {
		t.Fatalf("after sign-in: %q, want /", loc)
	}
	home := must[string](t, "home text")(chromedp.Run(ctx, chromedp.Text("main")))
	if !strings.Contains(home, "1 problem needs your attention") {
		t.Fatalf("home does not show the problem:\n%s", home)
	}
	screenshot(t, ctx, "502-2-home-laptop")
	clickAndLoad(t, ctx, "a.button.primary")
	if loc, want := location(t, ctx, s.srv.URL), fmt.Sprintf("/runs/%d", run.ID); loc != want {
		t.Fatalf("Home's button went to %q, want %q", loc, want)
	}
	// The failed step is open and red, with its diagnosis.
	open := must[bool](t, "root step open")(chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("li.step.root > details").open`)))
	color := must[string](t, "root step colour")(chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("li.step.root .st")).color`)))
	word := must[string](t, "root step status")(chromedp.Run(ctx, chromedp.Text("li.step.root .st")))
	if !open || color != "rgb(207, 34, 46)" || strings.TrimSpace(word) != "Failed" {
		t.Fatalf("root step: open=%t colour=%s word=%q; want open, red, Failed", open, color, word)
	}
	diag := must[string](t, "diagnosis")(chromedp.Run(ctx, chromedp.Text("section.diagnosis")))
	if !strings.Contains(diag, "How do I fix") || !strings.Contains(diag, "What happened") {
		t.Fatalf("diagnosis panel:\n%s", diag)
	}
	screenshot(t, ctx, "502-3-run-failed-laptop")

	// The other side is back: Resubmit.
	target.fixed.Store(true)
	clickAndLoad(t, ctx, "form.resubmit button.primary")
	newRun := s.waitRun(t, lastRunID(t, s))
	if newRun.ID == run.ID || newRun.Status != store.RunSucceeded {
		t.Fatalf("the resubmitted run: %+v, want a new run that succeeded", newRun)
	}
	if loc, want := location(t, ctx, s.srv.URL), fmt.Sprintf("/runs/%d", newRun.ID); loc != want {
		t.Fatalf("Resubmit went to %q, want %q", loc, want)
	}
	do(t, ctx, "reload the new run", chromedp.Reload())
	head := must[string](t, "run header")(chromedp.Run(ctx, chromedp.Text("section.runhead")))
	if !strings.Contains(head, "Succeeded") || !strings.Contains(head, fmt.Sprintf("resubmitted from run %d", run.ID)) {
		t.Fatalf("the new run's header:\n%s", head)
	}
	screenshot(t, ctx, "502-4-run-succeeded-laptop")
	// The original now says so.
	do(t, ctx, "open the original", chromedp.Navigate(fmt.Sprintf("%s/runs/%d", s.srv.URL, run.ID)))
	notice := must[string](t, "notice")(chromedp.Run(ctx, chromedp.Text("p.notice")))
	if !strings.Contains(notice, fmt.Sprintf("run %d succeeded", newRun.ID)) {
		t.Fatalf("the original run's notice: %q", notice)
	}
	screenshot(t, ctx, "502-5-original-resubmitted-laptop")
	if target.calls.Load() != 2 {
		t.Fatalf("the target was called %d times, want 2", target.calls.Load())
	}
}

// TestBrowserActivityOnAPhone is journey 5: the Activity page at 375 px
// wide, and the other pages of the slice, with nothing scrolling sideways.
func TestBrowserActivityOnAPhone(t *testing.T) {
	t.Parallel()
	ctx := tab(t)
	s := newSite(t)
	rec := annRecords(t, s)
	long := strings.Repeat("a-very-long-flow-name-without-spaces-", 4)
	f := s.saveFlow(t, s.ann, flowSource(long, "https://api.example.com/"+strings.Repeat("x", 120)))
	r := s.failedRun(t, f)
	now := time.Now()
	for i, n := range []store.Notification{
		{Kind: store.NoteFlowTurnedOff, Title: "Flow Sync orders was turned off", Body: "It failed for 14 days in a row.", FlowID: f.ID, CreatedAt: now.Add(-50 * time.Hour)},
		{Kind: store.NoteConnectionBroken, Title: "Connection crm needs attention", Body: "Verify failed: 401 Unauthorized.", ConnectionID: rec.conn.ID, CreatedAt: now.Add(-2 * time.Hour)},
		{Kind: store.NoteRunFailed, Title: long + " failed: The server answered 502 Bad Gateway", Body: "Run failed at step call. The orders service did not answer.", FlowID: f.ID, RunID: r.ID, CreatedAt: now.Add(-3 * time.Minute)},
	} {
		n.UserID = s.ann.ID
		if _, err := s.st.AddNotification(t.Context(), n); err != nil {
			t.Fatal(i, err)
		}
	}
	do(t, ctx, "phone viewport", chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	do(t, ctx, "open /activity", chromedp.Navigate(s.srv.URL+"/activity"))
	signInWith(t, ctx, "ann@example.com")
	if loc := location(t, ctx, s.srv.URL); loc != "/activity" {
		t.Fatalf("after sign-in: %q, want back on /activity", loc)
	}
	for _, p := range []struct{ path, name string }{
		{"/activity", "activity"}, {"/", "home"}, {"/flows", "flows"}, {fmt.Sprintf("/runs/%d", rec.run.ID), "run"},
		{fmt.Sprintf("/flows/%d", f.ID), "flow"}, {"/connections", "connections"}, {fmt.Sprintf("/connections/%d", rec.conn.ID), "connection"},
	} {
		do(t, ctx, "open "+p.path, chromedp.Navigate(s.srv.URL+p.path))
		width := must[int](t, "scroll width")(chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)))
		if width > 375 {
			t.Errorf("%s at 375 px scrolls sideways: scrollWidth %d", p.path, width)
		}
		screenshot(t, ctx, "phone-"+p.name)
	}
	// The bell is in the header at 375 px, and marking read works.
	do(t, ctx, "open /activity", chromedp.Navigate(s.srv.URL+"/activity"))
	bell := must[string](t, "bell")(chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("a.bell").getAttribute("aria-label")`)))
	if bell != "Notifications: 4 unread" {
		t.Fatalf("bell: %q", bell)
	}
	clickAndLoad(t, ctx, `.titlebar form button`)
	bell = must[string](t, "bell")(chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("a.bell").getAttribute("aria-label")`)))
	if bell != "Notifications: 0 unread" {
		t.Fatalf("bell after Mark all read: %q", bell)
	}
}

// phonePage is a page to look at on a phone, and its screenshot's name.
type phonePage struct{ path, name string }

// onAPhone opens each page in the tab (already at 375 px), checks that
// nothing scrolls sideways and keeps a screenshot named prefix+name.
func onAPhone(t *testing.T, ctx context.Context, base, prefix string, pages []phonePage) {
	t.Helper()
	for _, p := range pages {
		do(t, ctx, "open "+p.path, chromedp.Navigate(base+p.path))
		if w := must[int](t, "scroll width")(chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))); w > 375 {
			t.Errorf("%s at 375 px scrolls sideways: scrollWidth %d", p.path, w)
		}
		screenshot(t, ctx, prefix+p.name)
	}
}

// tokenTarget is a directory API that answers 401 unless the request
// carries the bearer token it expects.
type tokenTarget struct {
	token string
	calls atomic.Int64
}

func (d *tokenTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.calls.Add(1)
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") != "Bearer "+d.token {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"invalid_token","error_description":"The access token expired"}`)
		return
	}
	fmt.Fprint(w, `{"manager":"grace@example.com"}`)
}

// TestBrowser401Journey is journey 1: a run failed with a 401; the bell
// shows it, the run page shows the failed step in red with How do I fix
// and Fix connection; the owner enters a new token, resubmits the runs
// that failed because of the connection, and the run succeeds against a
// target that checks the token.
func TestBrowser401Journey(t *testing.T) {
	t.Parallel()
	ctx := tab(t)
	s := newSite(t)
	target := &tokenTarget{token: "fresh-token"}
	ts := httptest.NewServer(target)
	t.Cleanup(ts.Close)
	sealed := must[[]byte](t, "seal")(connection.Seal(s.box, connection.Secret{Token: "expired-token"}))
	cn := must[store.Connection](t, "create connection")(s.st.CreateConnection(t.Context(), store.Connection{OwnerID: s.ann.ID, Name: "directory",
		Type: "bearer", Config: json.RawMessage(`{"test_url":"` + ts.URL + `/me"}`), Secret: sealed}))
	f := s.saveFlow(t, s.ann, `name: Look up the manager
trigger:
  type: manual
actions:
  - id: get_manager
    type: http
    connection: directory
    retry: {policy: none}
    with:
      method: GET
      url: `+ts.URL+`/users/ann/manager
`)
	nt := must[*notify.Notifier](t, "notifier")(notify.New(notify.Config{Store: s.st, BaseURL: s.srv.URL, Key: s.key,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Poll: 20 * time.Millisecond}))
	nctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = nt.Run(nctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })

	run, err := s.eng.Start(t.Context(), engine.StartRequest{Flow: f, TriggerType: "manual", Trigger: engine.Trigger{Input: map[string]any{"user": "ann"}}})
	if err != nil {
		t.Fatal(err)
	}
	if run = s.waitRun(t, run.ID); run.Status != store.RunFailed {
		t.Fatalf("the run with an expired token %s, want failed", run.Status)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if n, _ := s.st.CountUnread(t.Context(), s.ann.ID); n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the notifier did not tell ann")
		}
	}

	do(t, ctx, "laptop viewport", chromedp.EmulateViewport(1280, 900))
	do(t, ctx, "open /", chromedp.Navigate(s.srv.URL+"/"))
	signInWith(t, ctx, "ann@example.com")
	bell := must[string](t, "bell")(chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("a.bell").getAttribute("aria-label")`)))
	if unread, _ := s.st.CountUnread(t.Context(), s.ann.ID); bell != fmt.Sprintf("Notifications: %d unread", unread) || unread == 0 {
		t.Fatalf("bell: %q, ann has %d unread", bell, unread)
	}
	screenshot(t, ctx, "401-1-bell-laptop")
	clickAndLoad(t, ctx, "a.bell")
	screenshot(t, ctx, "401-2-activity-laptop")
	do(t, ctx, "open the run", chromedp.Navigate(fmt.Sprintf("%s/runs/%d", s.srv.URL, run.ID)))
	color := must[string](t, "root step colour")(chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("li.step.root .st")).color`)))
	word := must[string](t, "root step status")(chromedp.Run(ctx, chromedp.Text("li.step.root .st")))
	if color != "rgb(207, 34, 46)" || strings.TrimSpace(word) != "Failed" {
		t.Fatalf("root step: colour=%s word=%q; want red, Failed", color, word)
	}
	diag := must[string](t, "diagnosis")(chromedp.Run(ctx, chromedp.Text("section.diagnosis")))
	button := must[string](t, "Fix connection")(chromedp.Run(ctx, chromedp.Text(`main a.button[href$="/fix"]`)))
	if !strings.Contains(diag, "How do I fix") || button != "Fix connection" {
		t.Fatalf("diagnosis panel:\n%s\nbutton %q", diag, button)
	}
	screenshot(t, ctx, "401-3-run-failed-laptop")
	clickAndLoad(t, ctx, `main a.button[href$="/fix"]`)
	if loc, want := location(t, ctx, s.srv.URL), fmt.Sprintf("/connections/%d/fix", cn.ID); loc != want {
		t.Fatalf("Fix connection went to %q, want %q", loc, want)
	}
	form := must[string](t, "fix form")(chromedp.Run(ctx, chromedp.Text("main")))
	if strings.Contains(form, "expired-token") || !strings.Contains(form, "••••") {
		t.Fatalf("the fix form shows the secret, or not its mask:\n%s", form)
	}
	do(t, ctx, "enter the new token", chromedp.SendKeys("#f-token", "fresh-token"))
	screenshot(t, ctx, "401-4-fix-connection-laptop")
	clickAndLoad(t, ctx, `main form button.primary`)
	if loc, want := location(t, ctx, s.srv.URL), fmt.Sprintf("/connections/%d?saved=1", cn.ID); loc != want {
		t.Fatalf("after Save: %q, want %q", loc, want)
	}
	screenshot(t, ctx, "401-5-connection-fixed-laptop")
	clickAndLoad(t, ctx, `form[action$="/resubmit"] button`)
	if loc := location(t, ctx, s.srv.URL); !strings.HasPrefix(loc, "/jobs/") {
		t.Fatalf("resubmit went to %q, want the job's progress", loc)
	}
	// The bulk job creates the new run after the page has moved on.
	newID := lastRunID(t, s)
	for deadline := time.Now().Add(30 * time.Second); newID == run.ID && time.Now().Before(deadline); newID = lastRunID(t, s) {
		time.Sleep(20 * time.Millisecond)
	}
	newRun := s.waitRun(t, newID)
	if newRun.ID == run.ID || newRun.Status != store.RunSucceeded {
		t.Fatalf("the resubmitted run: %+v, want a new run that succeeded", newRun)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		do(t, ctx, "reload the job", chromedp.Reload())
		if txt := must[string](t, "job")(chromedp.Run(ctx, chromedp.Text("main"))); strings.Contains(txt, "1 done") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job page did not say 1 done")
		}
	}
	screenshot(t, ctx, "401-6-job-done-laptop")
	do(t, ctx, "open the new run", chromedp.Navigate(fmt.Sprintf("%s/runs/%d", s.srv.URL, newRun.ID)))
	head := must[string](t, "run header")(chromedp.Run(ctx, chromedp.Text("section.runhead")))
	if !strings.Contains(head, "Succeeded") {
		t.Fatalf("the new run's header:\n%s", head)
	}
	screenshot(t, ctx, "401-7-run-succeeded-laptop")
	do(t, ctx, "phone viewport", chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	onAPhone(t, ctx, s.srv.URL, "401-phone-", []phonePage{
		{fmt.Sprintf("/connections/%d/fix", cn.ID), "fix"}, {"/runs?col=input.user", "runs"}, {fmt.Sprintf("/connections/%d", cn.ID), "connection"},
		{"/problems", "problems"}, {fmt.Sprintf("/problems/%d.get_manager.http.invalid_token", f.ID), "problem"}, {"/settings", "settings"},
	})
	if target.calls.Load() != 2 {
		t.Fatalf("the target was called %d times, want 2", target.calls.Load())
	}
}

// TestBrowserAdminOnAPhone shows the admin pages at 375 px, with a
// generated password shown once, and nothing scrolling sideways.
func TestBrowserAdminOnAPhone(t *testing.T) {
	t.Parallel()
	ctx := tab(t)
	s := newSite(t)
	if _, err := s.st.EnqueueMail(t.Context(), store.Mail{To: []string{"ann@example.com"}, Subject: "Look up the manager failed: The access token is invalid or expired",
		Text: "Time: now\nWhat happened: the token expired.\nHow do I fix: Fix connection.", Kind: "repair_tip"}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "phone viewport", chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	do(t, ctx, "open /admin/users", chromedp.Navigate(s.srv.URL+"/admin/users"))
	signInWith(t, ctx, "admin@example.com")
	do(t, ctx, "fill the new user", chromedp.SendKeys("#uemail", "carl@example.com"), chromedp.SendKeys("#uname", "Carl"))
	clickAndLoad(t, ctx, `form[action="/admin/users"] button.primary`)
	pw := must[string](t, "generated password")(chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("newpw").value`)))
	if carl, err := s.st.GetUserByEmail(t.Context(), "carl@example.com"); err != nil || !auth.CheckPassword(carl.PasswordHash, pw) {
		t.Fatalf("carl was not created with the password shown: %v", err)
	}
	onAPhone(t, ctx, s.srv.URL, "admin-phone-", []phonePage{{"/admin/users", "users"}, {"/admin/outbox", "outbox"}})
}
