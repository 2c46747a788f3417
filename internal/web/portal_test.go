package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/notify"
	"github.com/sluice/sluice/internal/store"
)

// hostile is text that would run as script if a page did not escape it.
const hostile = `<script>alert(1)</script><img src=x onerror=alert(2)>`

// annFlowSource is a manual flow with one http step.
func flowSource(name, url string) string {
	return fmt.Sprintf(`name: %q
trigger:
  type: manual
actions:
  - id: call
    type: http
    retry: {policy: none}
    with:
      method: GET
      url: %s
`, name, url)
}

// records is what the authorization tests look at: ann's flow, failed
// run and connection.
type records struct {
	flow store.Flow
	run  store.Run
	conn store.Connection
}

// annRecords gives ann a flow named with a script, a failed run whose
// output, error message and error body carry scripts, a connection and a
// notification.
func annRecords(t *testing.T, s *site) records {
	t.Helper()
	f := s.saveFlow(t, s.ann, flowSource(hostile, "https://api.example.com/x"))
	now := time.Now()
	errBody, _ := json.Marshal(map[string]any{"kind": "http", "status": 502, "message": "bad gateway " + hostile, "body": hostile,
		"connection": "crm", "diagnosis": map[string]any{"class": "transient", "code": "http.502", "title": "The server failed " + hostile,
			"what_happened": "It said " + hostile, "how_to_fix": "Wait " + hostile, "actions": []string{"resubmit", "fix_connection", "edit_flow"}}})
	out, _ := json.Marshal(map[string]any{"status": 502, "body": hostile})
	r := s.failedRun(t, f, store.Step{Key: "call", ActionID: "call", Type: "http", Status: "failed", Attempts: 1, StartedAt: &now, FinishedAt: &now,
		Output: out, Error: errBody, Fault: store.StepFault{Class: "transient", Code: "http.502", Connection: "crm"}})
	c, err := s.st.CreateConnection(t.Context(), store.Connection{OwnerID: s.ann.ID, Name: "crm", Type: "bearer", Config: json.RawMessage(`{}`), Secret: []byte("sealed")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.st.SetConnectionHealth(t.Context(), c.ID, store.HealthNeedsAttention, "401 "+hostile, now); err != nil {
		t.Fatal(err)
	}
	if c, err = s.st.GetConnection(t.Context(), c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.st.AddNotification(t.Context(), store.Notification{UserID: s.ann.ID, Kind: store.NoteRunFailed, Title: hostile + " failed",
		Body: "Run failed " + hostile, FlowID: f.ID, RunID: r.ID, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	return records{flow: f, run: r, conn: c}
}

func TestPortalRefusesAnonymous(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	rec := annRecords(t, s)
	b := s.browser(t)
	for _, path := range []string{"/", "/flows", fmt.Sprintf("/flows/%d", rec.flow.ID), "/runs", fmt.Sprintf("/runs/%d", rec.run.ID),
		"/connections", fmt.Sprintf("/connections/%d", rec.conn.ID), "/connections/crm", "/activity", "/no/such/page"} {
		p := b.get(path)
		if want := "/signin?next=" + url.QueryEscape(path); p.status != http.StatusSeeOther || p.header.Get("Location") != want {
			t.Errorf("anonymous GET %s: %d to %q, want 303 to %q", path, p.status, p.header.Get("Location"), want)
		}
	}
	for _, path := range []string{"/signout", fmt.Sprintf("/runs/%d/resubmit", rec.run.ID), fmt.Sprintf("/flows/%d/enabled", rec.flow.ID),
		fmt.Sprintf("/connections/%d/verify", rec.conn.ID), "/activity/read"} {
		p := b.do("POST", path, url.Values{"csrf": {"x"}})
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/signin?next=") {
			t.Errorf("anonymous POST %s: %d to %q, want 303 to the sign-in form", path, p.status, p.header.Get("Location"))
		}
	}
	if n, err := s.st.CountRuns(t.Context(), store.RunFilter{}); err != nil || n != 1 {
		t.Fatalf("runs after anonymous posts: %d, %v; want the 1 run only", n, err)
	}
}

func TestPortalOtherMakerGets404(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	rec := annRecords(t, s)
	bob, admin, ann := s.browser(t), s.browser(t), s.browser(t)
	bob.signIn("bob@example.com", "/")
	admin.signIn("admin@example.com", "/")
	ann.signIn("ann@example.com", "/")
	paths := []string{fmt.Sprintf("/flows/%d", rec.flow.ID), fmt.Sprintf("/runs/%d", rec.run.ID), fmt.Sprintf("/connections/%d", rec.conn.ID), "/connections/crm"}
	for _, path := range paths {
		requireStatus(t, bob.get(path), http.StatusNotFound, "bob GET "+path)
		requireStatus(t, ann.get(path), http.StatusOK, "ann GET "+path)
		if path != "/connections/crm" { // a name is the caller's own
			requireStatus(t, admin.get(path), http.StatusOK, "admin GET "+path)
		}
	}
	for _, path := range []string{fmt.Sprintf("/runs/%d/resubmit", rec.run.ID), fmt.Sprintf("/flows/%d/enabled", rec.flow.ID), fmt.Sprintf("/connections/%d/verify", rec.conn.ID)} {
		requireStatus(t, bob.post("/", path, url.Values{"version": {"latest"}, "from": {"trigger"}}), http.StatusNotFound, "bob POST "+path)
	}
	// Bob's lists do not show ann's records.
	for _, path := range []string{"/", "/flows", "/runs", "/activity", "/connections"} {
		if p := bob.get(path); strings.Contains(p.body, "alert(1)") || strings.Contains(p.body, fmt.Sprintf("/runs/%d", rec.run.ID)) ||
			strings.Contains(p.body, fmt.Sprintf("/connections/%d", rec.conn.ID)) {
			t.Errorf("bob's %s shows ann's records:\n%s", path, p.body)
		}
	}
	if n, err := s.st.CountRuns(t.Context(), store.RunFilter{}); err != nil || n != 1 {
		t.Fatalf("runs after bob's posts: %d, %v; want the 1 run only", n, err)
	}
}

func TestPortalRefusesPostsWithoutCSRF(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	rec := annRecords(t, s)
	ann, bob := s.browser(t), s.browser(t)
	ann.signIn("ann@example.com", "/")
	bob.signIn("bob@example.com", "/")
	bobsToken := bob.get("/").csrf(t)
	path := fmt.Sprintf("/runs/%d/resubmit", rec.run.ID)
	for name, form := range map[string]url.Values{
		"no token":              {"version": {"latest"}},
		"empty token":           {"csrf": {""}},
		"wrong token":           {"csrf": {"AAAA"}},
		"another session's one": {"csrf": {bobsToken}},
	} {
		p := ann.do("POST", path, form)
		requireStatus(t, p, http.StatusForbidden, name)
		if !strings.Contains(p.body, "This form has expired") {
			t.Errorf("%s: the 403 page does not say why:\n%s", name, p.body)
		}
	}
	requireStatus(t, ann.do("POST", "/signout", url.Values{}), http.StatusForbidden, "sign out without a token")
	requireStatus(t, ann.do("POST", "/activity/read", url.Values{}), http.StatusForbidden, "mark read without a token")
	if n, err := s.st.CountRuns(t.Context(), store.RunFilter{}); err != nil || n != 1 {
		t.Fatalf("runs after refused posts: %d, %v; want the 1 run only", n, err)
	}
	// The sign-in form has its own token, tied to the browser's
	// pre-session cookie.
	fresh := s.browser(t)
	requireStatus(t, fresh.do("POST", "/signin", url.Values{"email": {"ann@example.com"}, "password": {sitePassword}}), http.StatusForbidden, "sign in without a token")
	other := s.browser(t)
	stolen := other.get("/signin").csrf(t)
	fresh.get("/signin")
	requireStatus(t, fresh.do("POST", "/signin", url.Values{"email": {"ann@example.com"}, "password": {sitePassword}, "csrf": {stolen}}), http.StatusForbidden, "sign in with another browser's token")
	// With the right token, the post goes through.
	p := ann.post("/", path, url.Values{"version": {"latest"}, "from": {"trigger"}})
	requireStatus(t, p, http.StatusSeeOther, "resubmit with the token")
}

func TestPortalShowsHostileTextAsText(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	rec := annRecords(t, s)
	ann := s.browser(t)
	ann.signIn("ann@example.com", "/")
	for _, path := range []string{"/", "/flows", fmt.Sprintf("/flows/%d", rec.flow.ID), "/runs", fmt.Sprintf("/runs/%d", rec.run.ID), "/activity",
		fmt.Sprintf("/connections/%d", rec.conn.ID)} {
		p := ann.get(path)
		requireStatus(t, p, http.StatusOK, path)
		if strings.Contains(p.body, "<script>alert") || strings.Contains(p.body, "<img src=x") {
			t.Errorf("%s renders hostile text as markup:\n%s", path, p.body)
		}
		if !strings.Contains(p.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s does not show the hostile text as text:\n%s", path, p.body)
		}
		if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
	}
}

func TestPortalRunPage(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	rec := annRecords(t, s)
	ann := s.browser(t)
	ann.signIn("ann@example.com", "/")
	p := ann.get(fmt.Sprintf("/runs/%d", rec.run.ID))
	for _, want := range []string{
		`<li id="step-call" class="step step-failed root">`, "<details open>", "What happened", "How do I fix",
		`>Resubmit</button>`, fmt.Sprintf(`href="/connections/%d/fix">Fix connection</a>`, rec.conn.ID),
		fmt.Sprintf(`href="/flows/%d/edit#step-call">Edit flow</a>`, rec.flow.ID), "HTTP 502",
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("run page lacks %q", want)
		}
	}
	// The connection and flow pages the buttons lead to exist.
	requireStatus(t, ann.get(fmt.Sprintf("/connections/%d/fix", rec.conn.ID)), http.StatusOK, "Fix connection's page")
	requireStatus(t, ann.get(fmt.Sprintf("/flows/%d", rec.flow.ID)), http.StatusOK, "Edit flow's page")

	// Resubmit goes to the new run; the original then links it.
	run := fmt.Sprintf("/runs/%d", rec.run.ID)
	p = ann.post(run, run+"/resubmit", url.Values{"version": {"original"}, "from": {"failed"}})
	requireStatus(t, p, http.StatusSeeOther, "resubmit")
	newRun := s.waitRun(t, lastRunID(t, s))
	if p.header.Get("Location") != fmt.Sprintf("/runs/%d", newRun.ID) || newRun.ResubmittedFrom == nil || *newRun.ResubmittedFrom != rec.run.ID {
		t.Fatalf("resubmit went to %q; new run %+v", p.header.Get("Location"), newRun)
	}
	if p := ann.get(run); !strings.Contains(p.body, fmt.Sprintf(`href="/runs/%d">run %d</a>`, newRun.ID, newRun.ID)) {
		t.Fatalf("the original run does not link the resubmitted one:\n%s", p.body)
	}
}

// lastRunID returns the newest run's id.
func lastRunID(t *testing.T, s *site) int64 {
	t.Helper()
	runs, err := s.st.ListRuns(t.Context(), store.RunFilter{Limit: 1})
	if err != nil || len(runs) == 0 {
		t.Fatalf("newest run: %v, %v", runs, err)
	}
	return runs[0].ID
}

func TestPortalAsksAgainAfterASuccessfulResubmit(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	f := s.saveFlow(t, s.ann, flowSource("again", "https://api.example.com/x"))
	orig := s.failedRun(t, f)
	ok, err := s.st.CreateRun(t.Context(), store.NewRun{FlowID: f.ID, FlowVersion: 1, TriggerType: "resubmit", ResubmittedFrom: &orig.ID,
		LeaseOwner: "test", LeaseUntil: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.st.FinishRun(t.Context(), "test", ok.ID, store.RunFinish{Status: store.RunSucceeded}); err != nil {
		t.Fatal(err)
	}
	ann := s.browser(t)
	ann.signIn("ann@example.com", "/")
	run := fmt.Sprintf("/runs/%d", orig.ID)
	if p := ann.get(run); !strings.Contains(p.body, fmt.Sprintf(`This run was already resubmitted, and <a href="/runs/%d">run %d</a> succeeded`, ok.ID, ok.ID)) {
		t.Fatalf("run page does not say the resubmit succeeded:\n%s", p.body)
	}
	p := ann.post(run, run+"/resubmit", url.Values{"version": {"latest"}, "from": {"trigger"}})
	requireStatus(t, p, http.StatusConflict, "resubmit of a run already resubmitted with success")
	if !strings.Contains(p.body, "Yes, resubmit again") || !strings.Contains(p.body, `name="again" value="1"`) {
		t.Fatalf("the confirmation page does not ask again:\n%s", p.body)
	}
	if n, _ := s.st.CountRuns(t.Context(), store.RunFilter{}); n != 2 {
		t.Fatalf("runs after the first ask: %d, want 2 (none created)", n)
	}
	p = ann.post(run, run+"/resubmit", url.Values{"version": {"latest"}, "from": {"trigger"}, "again": {"1"}})
	requireStatus(t, p, http.StatusSeeOther, "resubmit confirmed twice")
	if n, _ := s.st.CountRuns(t.Context(), store.RunFilter{}); n != 3 {
		t.Fatalf("runs after the confirmation: %d, want 3", n)
	}
	requireStatus(t, ann.post(run, run+"/resubmit", url.Values{"version": {"newest"}}), http.StatusBadRequest, "a bad version")
}

func TestPortalSessionEnds(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	for name, end := range map[string]func(u store.User) error{
		"password reset": func(u store.User) error {
			_, err := s.st.SetUserPassword(t.Context(), u.ID, u.PasswordHash)
			return err
		},
		"disable": func(u store.User) error { _, err := s.st.SetUserDisabled(t.Context(), u.ID, true); return err },
	} {
		ann := s.browser(t)
		ann.signIn("ann@example.com", "/")
		requireStatus(t, ann.get("/flows"), http.StatusOK, name+": before")
		u, err := s.st.GetUser(t.Context(), s.ann.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := end(u); err != nil {
			t.Fatal(err)
		}
		p := ann.get("/flows")
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/signin") {
			t.Fatalf("%s: GET /flows answered %d to %q, want the sign-in form", name, p.status, p.header.Get("Location"))
		}
		if _, err := s.st.SetUserDisabled(t.Context(), s.ann.ID, false); err != nil {
			t.Fatal(err)
		}
	}
	// Sign out ends the session on the server, not only in the browser.
	ann := s.browser(t)
	ann.signIn("ann@example.com", "/")
	u, _ := url.Parse(s.srv.URL)
	cookies := ann.c.Jar.Cookies(u)
	requireStatus(t, ann.post("/", "/signout", nil), http.StatusSeeOther, "sign out")
	replay := s.browser(t)
	replay.c.Jar.SetCookies(u, cookies)
	if p := replay.get("/"); p.status != http.StatusSeeOther {
		t.Fatalf("a signed-out session's cookie still works: %d", p.status)
	}
}

func TestPortalSignIn(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	b := s.browser(t)
	p := b.get("/")
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/signin?next=%2F" {
		t.Fatalf("anonymous /: %d to %q", p.status, p.header.Get("Location"))
	}
	// The cookie's flags.
	b.signIn("ann@example.com", "/flows")
	var set string
	{
		pre := b.get("/signin") // signed in: goes on
		requireStatus(t, pre, http.StatusSeeOther, "sign-in form when signed in")
	}
	fresh := s.browser(t)
	form := url.Values{"email": {"ann@example.com"}, "password": {sitePassword}, "next": {"/"}, "csrf": {fresh.get("/signin").csrf(t)}}
	p = fresh.do("POST", "/signin", form)
	for _, c := range p.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "sluice_session=") {
			set = c
		}
	}
	for _, flag := range []string{"HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="} {
		if !strings.Contains(set, flag) {
			t.Errorf("session cookie %q lacks %s", set, flag)
		}
	}
	// A wrong password is a 401 form, not a session.
	wrong := s.browser(t)
	p = wrong.do("POST", "/signin", url.Values{"email": {"ann@example.com"}, "password": {"nope"}, "csrf": {wrong.get("/signin").csrf(t)}})
	requireStatus(t, p, http.StatusUnauthorized, "wrong password")
	if !strings.Contains(p.body, "The email or password is wrong") {
		t.Fatalf("wrong password page:\n%s", p.body)
	}
	// next is a local path only.
	for next, want := range map[string]string{
		"/runs/5?x=1":             "/runs/5?x=1",
		"https://evil.example/":   "/",
		"//evil.example/":         "/",
		"/\\evil.example":         "/",
		"javascript:alert(1)":     "/",
		"":                        "/",
		"/%0d%0aSet-Cookie:x=1":   "/%0d%0aSet-Cookie:x=1",
		"http:/evil.example/path": "/",
	} {
		c := s.browser(t)
		p := c.do("POST", "/signin", url.Values{"email": {"bob@example.com"}, "password": {sitePassword}, "next": {next}, "csrf": {c.get("/signin").csrf(t)}})
		if p.status != http.StatusSeeOther || p.header.Get("Location") != want {
			t.Errorf("next %q: %d to %q, want 303 to %q", next, p.status, p.header.Get("Location"), want)
		}
	}
}

func TestPortalSignInThrottled(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	var p page
	for i := 0; i < 20; i++ {
		b := s.browser(t)
		p = b.do("POST", "/signin", url.Values{"email": {"ann@example.com"}, "password": {"wrong"}, "csrf": {b.get("/signin").csrf(t)}})
		if p.status == http.StatusTooManyRequests {
			break
		}
	}
	requireStatus(t, p, http.StatusTooManyRequests, "many wrong passwords")
	if !strings.Contains(p.body, "Too many sign-in attempts. Wait") || p.header.Get("Retry-After") == "" {
		t.Fatalf("429 page does not say how long to wait:\n%s", p.body)
	}
}

func TestEmailLinkLeadsSignedInOwnerToRunPage(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	rec := annRecords(t, s)
	link := "/r/" + notify.SignLink(s.key, notify.PurposeFix, rec.run.ID, s.ann.ID, time.Now().Add(time.Hour))
	// Not signed in: the link's page, with a way to sign in and come back.
	anon := s.browser(t)
	p := anon.get(link)
	requireStatus(t, p, http.StatusOK, "link page, not signed in")
	signIn := "/signin?next=" + url.QueryEscape(link)
	if !strings.Contains(p.body, `href="`+strings.ReplaceAll(signIn, "%", "%25")+`"`) && !strings.Contains(p.body, `href="`+signIn+`"`) {
		t.Fatalf("link page lacks the sign-in link %q:\n%s", signIn, p.body)
	}
	anon.signIn("ann@example.com", link)
	p = anon.get(link)
	if want := fmt.Sprintf("/runs/%d", rec.run.ID); p.status != http.StatusSeeOther || p.header.Get("Location") != want {
		t.Fatalf("signed-in owner on the link: %d to %q, want 303 to %q", p.status, p.header.Get("Location"), want)
	}
	// Another maker signed in still gets the link's own checks.
	bob := s.browser(t)
	bob.signIn("bob@example.com", "/")
	requireStatus(t, bob.get(link), http.StatusOK, "another maker on ann's link")
}

func TestPortalPages(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ann := s.browser(t)
	ann.signIn("ann@example.com", "/")
	p := ann.get("/")
	requireStatus(t, p, http.StatusOK, "home, nothing failed")
	if !strings.Contains(p.body, "Nothing needs your attention") {
		t.Fatalf("empty home does not say so:\n%s", p.body)
	}
	rec := annRecords(t, s)
	p = ann.get("/")
	for _, want := range []string{"1 problem needs your attention", fmt.Sprintf(`href="/runs/%d">Open the latest failed run`, rec.run.ID), "Connections that need attention"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("home lacks %q:\n%s", want, p.body)
		}
	}
	p = ann.get("/flows")
	for _, want := range []string{`<span class="pill on">On</span>`, fmt.Sprintf(`href="/runs/%d"`, rec.run.ID), `<strong class="bad">1</strong>`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("flow list lacks %q:\n%s", want, p.body)
		}
	}
	// The bell counts the unread notification; reading it clears it.
	if !strings.Contains(p.body, `aria-label="Notifications: 1 unread"`) {
		t.Errorf("bell does not count 1 unread:\n%s", p.body)
	}
	requireStatus(t, ann.post("/activity", "/activity/read", nil), http.StatusSeeOther, "mark all read")
	if p := ann.get("/activity"); !strings.Contains(p.body, `aria-label="Notifications: 0 unread"`) {
		t.Errorf("bell after mark read:\n%s", p.body)
	}
	// Turn the flow off and on.
	fp := fmt.Sprintf("/flows/%d", rec.flow.ID)
	requireStatus(t, ann.post(fp, fp+"/enabled", url.Values{"on": {"0"}}), http.StatusSeeOther, "turn off")
	if f, _ := s.st.GetFlow(t.Context(), rec.flow.ID); f.Enabled {
		t.Fatal("flow still on")
	}
	// Verify records the connection's health.
	cp := fmt.Sprintf("/connections/%d", rec.conn.ID)
	requireStatus(t, ann.post(cp, cp+"/verify", nil), http.StatusSeeOther, "verify")
	if c, _ := s.st.GetConnection(t.Context(), rec.conn.ID); c.Health != store.HealthOK {
		t.Fatalf("connection health after verify: %s", c.Health)
	}
	requireStatus(t, ann.get("/no/such/page"), http.StatusNotFound, "unknown page")
	requireStatus(t, ann.get("/runs/abc"), http.StatusNotFound, "run id not a number")
	requireStatus(t, ann.get("/static/portal.css"), http.StatusOK, "stylesheet")
}

func TestPortalUnknownErrorHidesItsText(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ann := s.browser(t)
	ann.signIn("ann@example.com", "/")
	s.st.Close()
	p := ann.get("/flows")
	requireStatus(t, p, http.StatusInternalServerError, "a closed store")
	if !strings.Contains(p.body, "Request id: <code>") || strings.Contains(p.body, "closed") || strings.Contains(p.body, "session") {
		t.Fatalf("500 page shows internals or no request id:\n%s", p.body)
	}
}

func TestPortalRefusesLargeForms(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ann := s.browser(t)
	ann.signIn("ann@example.com", "/")
	big := url.Values{"csrf": {ann.get("/").csrf(t)}, "pad": {strings.Repeat("x", 65<<10)}}
	p := ann.do("POST", "/activity/read", big)
	requireStatus(t, p, http.StatusRequestEntityTooLarge, "a 65 KiB form")
	if !strings.Contains(p.body, "at most 64 KiB") {
		t.Fatalf("413 page:\n%s", p.body)
	}
	fresh := s.browser(t)
	big.Set("csrf", fresh.get("/signin").csrf(t))
	requireStatus(t, fresh.do("POST", "/signin", big), http.StatusRequestEntityTooLarge, "a 65 KiB sign-in form")
}
