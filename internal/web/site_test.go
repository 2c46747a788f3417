package web_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/api"
	"github.com/sluice/sluice/internal/auth"
	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/flow"
	"github.com/sluice/sluice/internal/netguard"
	"github.com/sluice/sluice/internal/notify"
	"github.com/sluice/sluice/internal/sample"
	"github.com/sluice/sluice/internal/secret"
	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/sqlite"
	"github.com/sluice/sluice/internal/web"
)

// site is the portal and the email-link pages over a real SQLite store
// and a real, running engine, served by an httptest server, with an
// admin and two makers (ann and bob).
type site struct {
	st    *sqlite.Store
	eng   *engine.Engine
	srv   *httptest.Server
	key   []byte
	box   *secret.Box
	admin store.User
	ann   store.User
	bob   store.User
}

// sitePassword is every test user's password.
const sitePassword = "correct horse battery"

// sampleBase is the site's base URL for the sample service, which the
// engine's client serves in process.
const sampleBase = "http://sluice.test"

// newSite starts a site; the engine may reach loopback addresses, so
// that flows can call httptest servers, and the sample service at
// sampleBase. opts change the portal's configuration.
func newSite(t *testing.T, opts ...func(*web.PortalConfig)) *site {
	t.Helper()
	ctx := t.Context()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sluice.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	allow, err := netguard.ParseAllow("127.0.0.1/32")
	if err != nil {
		t.Fatal(err)
	}
	box, err := secret.NewBox([]byte("fedcba9876543210fedcba9876543210"))
	if err != nil {
		t.Fatal(err)
	}
	client := netguard.NewClient(netguard.Options{Allow: allow})
	client.Transport = sample.New().Transport(sampleBase, client.Transport)
	eng, err := engine.New(engine.Config{Store: st, Logger: logger, Secrets: box, HTTPClient: client, SingleNode: true})
	if err != nil {
		t.Fatal(err)
	}
	engCtx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = eng.Run(engCtx) })
	s := &site{st: st, eng: eng, box: box, key: notify.LinkKey([]byte("0123456789abcdef0123456789abcdef"))}
	sessions := web.NewSessions(web.SessionConfig{Store: st})
	mux := http.NewServeMux()
	mux.Handle("/r/", web.New(web.Config{Store: st, Key: s.key, Logger: logger, Sessions: sessions,
		Resubmit: func(ctx context.Context, r store.Run, again bool) (store.Run, error) {
			nr, _, err := eng.Resubmit(ctx, r, engine.ResubmitOptions{Again: again})
			return nr, err
		}}))
	pc := web.PortalConfig{Store: st, Sessions: sessions, Runner: eng, Logger: logger,
		SaveFlow: api.NewFlowSaver(api.Config{Store: st, Runner: eng, Logger: logger}),
		BaseURL:  "http://sluice.test", SearchWindow: 20, Connections: api.NewConnectionFixer(api.Config{Store: st, Secrets: box, Logger: logger}),
		Verify: func(ctx context.Context, c store.Connection) (string, error) {
			_, err := st.SetConnectionHealth(ctx, c.ID, store.HealthOK, "", time.Now())
			return "", err
		}}
	for _, o := range opts {
		o(&pc)
	}
	mux.Handle("/", web.NewPortal(pc))
	s.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		s.srv.Close()
		stop()
		wg.Wait()
		st.Close()
	})
	hash, err := auth.HashPassword(sitePassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		to          *store.User
		email, role string
	}{{&s.admin, "admin@example.com", store.RoleAdmin}, {&s.ann, "ann@example.com", store.RoleMaker}, {&s.bob, "bob@example.com", store.RoleMaker}} {
		if *u.to, err = st.CreateUser(ctx, store.User{Email: u.email, Name: u.email, PasswordHash: hash, Role: u.role}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// saveFlow saves a flow from its YAML source for the owner.
func (s *site) saveFlow(t *testing.T, owner store.User, src string) store.Flow {
	t.Helper()
	def, problems := flow.Parse([]byte(src))
	if len(problems) > 0 {
		t.Fatalf("flow problems: %v", problems)
	}
	canon, err := def.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := auth.NewWebhookToken()
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.st.CreateFlow(t.Context(), store.NewFlow{Name: def.Name, OwnerID: owner.ID, TriggerType: def.Trigger.Type,
		WebhookToken: tok, Definition: canon, Source: src})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// failedRun records a finished failed run of f with the steps, without
// running anything.
func (s *site) failedRun(t *testing.T, f store.Flow, steps ...store.Step) store.Run {
	t.Helper()
	r, err := s.st.CreateRun(t.Context(), store.NewRun{FlowID: f.ID, FlowVersion: 1, TriggerType: "manual", Input: json.RawMessage(`{"input":{}}`),
		LeaseOwner: "test", LeaseUntil: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.st.FinishRun(t.Context(), "test", r.ID, store.RunFinish{Status: store.RunFailed, Error: "step failed", Steps: steps}); err != nil {
		t.Fatal(err)
	}
	if r, err = s.st.GetRun(t.Context(), r.ID); err != nil {
		t.Fatal(err)
	}
	return r
}

// waitRun waits until the run has finished and returns it.
func (s *site) waitRun(t *testing.T, id int64) store.Run {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := s.st.GetRun(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if store.RunFinished(r.Status) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %d did not finish: %s", id, r.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// browser is an HTTP client with its own cookies that does not follow
// redirects, so that tests see them.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (s *site) browser(t *testing.T) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: s.srv.URL, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is an answer.
type page struct {
	status int
	body   string
	header http.Header
}

func (b *browser) do(method, path string, form url.Values) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return page{status: resp.StatusCode, body: string(out), header: resp.Header}
}

func (b *browser) get(path string) page { b.t.Helper(); return b.do("GET", path, nil) }

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of a page's first form.
func (p page) csrf(t *testing.T) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no csrf input in the page (status %d):\n%s", p.status, p.body)
	}
	return m[1]
}

// post sends a form from the page at from, with that page's CSRF token.
func (b *browser) post(from, path string, form url.Values) page {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", b.get(from).csrf(b.t))
	return b.do("POST", path, form)
}

// signIn signs the browser in as email and checks it lands on next.
func (b *browser) signIn(email, next string) {
	b.t.Helper()
	p := b.do("POST", "/signin", url.Values{"email": {email}, "password": {sitePassword}, "next": {next},
		"csrf": {b.get("/signin?next=" + url.QueryEscape(next)).csrf(b.t)}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != next {
		b.t.Fatalf("sign in as %s: %d to %q, want 303 to %q\n%s", email, p.status, p.header.Get("Location"), next, p.body)
	}
}

// requireStatus checks an answer's status.
func requireStatus(t *testing.T, p page, want int, what string) {
	t.Helper()
	if p.status != want {
		t.Fatalf("%s: status %d, want %d\n%s", what, p.status, want, p.body)
	}
}
