package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluice/sluice/internal/auth"
	"github.com/sluice/sluice/internal/notify"
	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/sqlite"
	"github.com/sluice/sluice/internal/web"
)

func TestMain(m *testing.M) {
	code := m.Run()
	// The browser tests share one browser; it stops before the leak check.
	stopBrowser()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

const password = "correct horse battery"

type bundle struct {
	st        *sqlite.Store
	key       []byte
	h         http.Handler
	owner     store.User
	other     store.User
	run       store.Run
	resubmits int
}

func setup(t *testing.T) *bundle {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sluice.db"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := &bundle{st: st, key: notify.LinkKey([]byte("0123456789abcdef0123456789abcdef"))}
	hash, err := auth.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	if b.owner, err = st.CreateUser(ctx, store.User{Email: "ann@example.com", PasswordHash: hash, Role: store.RoleMaker}); err != nil {
		t.Fatal(err)
	}
	if b.other, err = st.CreateUser(ctx, store.User{Email: "bob@example.com", PasswordHash: hash, Role: store.RoleMaker}); err != nil {
		t.Fatal(err)
	}
	f, err := st.CreateFlow(ctx, store.NewFlow{Name: "<script>alert(1)</script>", OwnerID: b.owner.ID, TriggerType: "manual", WebhookToken: "wh",
		Definition: json.RawMessage(`{}`), Source: "x"})
	if err != nil {
		t.Fatal(err)
	}
	b.run, err = st.CreateRun(ctx, store.NewRun{FlowID: f.ID, FlowVersion: 1, TriggerType: "manual", LeaseOwner: "w", LeaseUntil: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	err = st.FinishRun(ctx, "w", b.run.ID, store.RunFinish{Status: store.RunFailed, Steps: []store.Step{{Key: "call", ActionID: "call", Type: "http", Status: "timed_out", Attempts: 2, StartedAt: &now, FinishedAt: &now,
		Output: json.RawMessage(`{"secret":"hunter2-output"}`), Error: json.RawMessage(`{"kind":"timeout","message":"deadline"}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	b.h = web.New(web.Config{Store: st, Key: b.key, BaseURL: "https://sluice.example.com", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Resubmit: func(ctx context.Context, r store.Run, again bool) (store.Run, error) {
			b.resubmits++
			return store.Run{}, errors.New("engine says no: internal detail")
		}})
	return b
}

func (b *bundle) do(method, token string, form url.Values) (int, string, http.Header) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, "/r/"+token, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String(), rec.Header()
}

func TestPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	later := time.Now().Add(time.Hour)
	retry := notify.SignLink(b.key, notify.PurposeRetry, b.run.ID, b.owner.ID, later)
	creds := url.Values{"email": {"ann@example.com"}, "password": {password}}
	tests := []struct {
		name   string
		method string
		token  string
		form   url.Values
		status int
		want   []string
	}{
		{"fix page", "GET", notify.SignLink(b.key, notify.PurposeFix, b.run.ID, b.owner.ID, later), nil, 200,
			[]string{"&lt;script&gt;alert(1)&lt;/script&gt;", `class="bad"`, "timed_out", "Step call failed", "How do I fix"}},
		{"retry page", "GET", retry, nil, 200, []string{"<form method=\"post\">", `type="password"`}},
		{"expired", "GET", notify.SignLink(b.key, notify.PurposeRetry, b.run.ID, b.owner.ID, time.Now().Add(-time.Minute)), nil, 410,
			[]string{"This link has expired", "sluice runs show 1"}},
		{"tampered", "GET", retry[:10] + "x" + retry[11:], nil, 400, []string{"This link is not valid"}},
		{"garbage", "GET", "nope", nil, 400, []string{"This link is not valid"}},
		{"not the owner's any more", "GET", notify.SignLink(b.key, notify.PurposeFix, b.run.ID, b.other.ID, later), nil, 404, []string{"no longer available"}},
		{"unknown run", "GET", notify.SignLink(b.key, notify.PurposeFix, 999, b.owner.ID, later), nil, 404, []string{"no longer available"}},
		{"resubmit fails", "POST", retry, creds, 500, []string{"Something went wrong", "Request id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, hdr := b.do(tt.method, tt.token, tt.form)
			if status != tt.status {
				t.Fatalf("status %d, want %d\n%s", status, tt.status, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("page does not contain %q:\n%s", w, body)
				}
			}
			for _, never := range []string{"hunter2-output", "internal detail", "<script>alert"} {
				if strings.Contains(body, never) {
					t.Errorf("page shows %q", never)
				}
			}
			if hdr.Get("Referrer-Policy") != "no-referrer" || hdr.Get("Cache-Control") != "no-store" || !strings.Contains(hdr.Get("Content-Security-Policy"), "form-action 'self'") {
				t.Errorf("headers: %v", hdr)
			}
		})
	}
	if b.resubmits != 1 {
		t.Errorf("Resubmit called %d times, want 1 (only the signed-in POST)", b.resubmits)
	}
}

func TestTooManyAttempts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	retry := notify.SignLink(b.key, notify.PurposeRetry, b.run.ID, b.owner.ID, time.Now().Add(time.Hour))
	for i := range 10 {
		// Guesses at several accounts: the link's own limit is what stops
		// them.
		wrong := url.Values{"email": {fmt.Sprintf("guess%d@example.com", i)}, "password": {"guess-guess"}}
		if status, _, _ := b.do("POST", retry, wrong); status != http.StatusForbidden {
			t.Fatalf("attempt %d: status %d", i, status)
		}
	}
	status, body, hdr := b.do("POST", retry, url.Values{"email": {"ann@example.com"}, "password": {password}})
	if status != http.StatusTooManyRequests || !strings.Contains(body, "Too many attempts") || hdr.Get("Retry-After") != "900" {
		t.Fatalf("after 10 failures: %d, Retry-After %q, %s", status, hdr.Get("Retry-After"), body)
	}
	if b.resubmits != 0 {
		t.Fatal("resubmitted")
	}
}

// TestConcurrentAttemptsCheckAtMostTheLimit: 40 wrong attempts at once
// through one link, from 40 addresses at 40 accounts, check at most the
// link's 10 passwords (each check answers 403); the others are refused
// before any hashing (429).
func TestConcurrentAttemptsCheckAtMostTheLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	retry := notify.SignLink(b.key, notify.PurposeRetry, b.run.ID, b.owner.ID, time.Now().Add(time.Hour))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
	)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			form := url.Values{"email": {fmt.Sprintf("guess%d@example.com", i)}, "password": {"guess-guess"}}
			req := httptest.NewRequest("POST", "/r/"+retry, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.RemoteAddr = fmt.Sprintf("198.51.100.%d:4000", i+1)
			rec := httptest.NewRecorder()
			b.h.ServeHTTP(rec, req)
			mu.Lock()
			statuses[rec.Code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[http.StatusForbidden] != 10 || statuses[http.StatusTooManyRequests] != 30 {
		t.Fatalf("answers by status: %v, want 10 checked (403) and 30 refused (429)", statuses)
	}
}

func TestDisabledUsersLinksStop(t *testing.T) {
	t.Parallel()
	b := setup(t)
	retry := notify.SignLink(b.key, notify.PurposeRetry, b.run.ID, b.owner.ID, time.Now().Add(time.Hour))
	if status, _, _ := b.do("GET", retry, nil); status != http.StatusOK {
		t.Fatalf("before: status %d", status)
	}
	if _, err := b.st.SetUserDisabled(t.Context(), b.owner.ID, true); err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{"GET", "POST"} {
		status, body, _ := b.do(method, retry, url.Values{"email": {"ann@example.com"}, "password": {password}})
		if status != http.StatusNotFound || !strings.Contains(body, "no longer available") {
			t.Fatalf("%s after disable: %d %s", method, status, body)
		}
	}
	if b.resubmits != 0 {
		t.Fatal("resubmitted")
	}
}

// TestLongRunPage checks that the run page of a run with more steps than
// it lists shows the first 1,000, says how to see the others, and still
// finds the failure past them.
func TestLongRunPage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	r, err := b.st.CreateRun(ctx, store.NewRun{FlowID: b.run.FlowID, FlowVersion: 1, TriggerType: "manual", LeaseOwner: "w", LeaseUntil: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000 + 5
	steps := make([]store.Step, n)
	for i := range steps {
		steps[i] = store.Step{Key: fmt.Sprintf("loop[%d].c", i), ActionID: "c", Type: "compose", Status: "succeeded", Attempts: 1}
	}
	steps[n-1].Key, steps[n-1].ActionID, steps[n-1].Status = "last", "last", "failed"
	if err := b.st.FinishRun(ctx, "w", r.ID, store.RunFinish{Status: store.RunFailed, Steps: steps}); err != nil {
		t.Fatal(err)
	}
	status, body, _ := b.do("GET", notify.SignLink(b.key, notify.PurposeFix, r.ID, b.owner.ID, time.Now().Add(time.Hour)), nil)
	if status != 200 {
		t.Fatalf("status %d\n%s", status, body)
	}
	if rows := strings.Count(body, "<td>loop["); rows != 1000 {
		t.Fatalf("%d step rows, want 1000", rows)
	}
	for _, w := range []string{"More steps follow", fmt.Sprintf("sluice runs show %d --steps-after", r.ID), "Step last failed"} {
		if !strings.Contains(body, w) {
			t.Fatalf("page lacks %q", w)
		}
	}
}

// countingReader counts the bytes read from an endless body.
type countingReader struct{ n int64 }

func (c *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	c.n += int64(len(p))
	return len(p), nil
}

// TestOversizedForm: a retry form over the cap is answered 413 with an
// HTML page, after reading no more than the cap (the body is endless), and
// nothing is signed in or resubmitted. A GET's body is never read.
func TestOversizedForm(t *testing.T) {
	t.Parallel()
	b := setup(t)
	retry := notify.SignLink(b.key, notify.PurposeRetry, b.run.ID, b.owner.ID, time.Now().Add(time.Hour))
	for _, method := range []string{"POST", "GET"} {
		t.Run(method, func(t *testing.T) {
			body := &countingReader{}
			req := httptest.NewRequest(method, "/r/"+retry, io.MultiReader(strings.NewReader("email=ann%40example.com&password="), body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			b.h.ServeHTTP(rec, req)
			if method == "GET" {
				if rec.Code != http.StatusOK || body.n != 0 {
					t.Fatalf("GET: status %d, %d body bytes read", rec.Code, body.n)
				}
				return
			}
			if rec.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d, want 413\n%s", rec.Code, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type %q", ct)
			}
			for _, w := range []string{"The form is too large", "at most 16 KiB"} {
				if !strings.Contains(rec.Body.String(), w) {
					t.Errorf("page lacks %q:\n%s", w, rec.Body)
				}
			}
			if body.n > 64<<10 {
				t.Errorf("read %d bytes of an endless body; the cap is 16 KB", body.n)
			}
		})
	}
	if b.resubmits != 0 {
		t.Fatal("resubmitted")
	}
}

// TestRetryAfterSuccessAsksAgain: the retry page of a run whose
// resubmission already succeeded warns, and a signed-in POST without the
// second yes resubmits nothing (409, the question asked); with it, the
// page resubmits with again set.
func TestRetryAfterSuccessAsksAgain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ok, err := b.st.CreateRun(t.Context(), store.NewRun{FlowID: b.run.FlowID, FlowVersion: 1, TriggerType: "resubmit", ResubmittedFrom: &b.run.ID,
		LeaseOwner: "w", LeaseUntil: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.st.FinishRun(t.Context(), "w", ok.ID, store.RunFinish{Status: store.RunSucceeded}); err != nil {
		t.Fatal(err)
	}
	var agains []bool
	b.h = web.New(web.Config{Store: b.st, Key: b.key, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Resubmit: func(ctx context.Context, r store.Run, again bool) (store.Run, error) {
			agains = append(agains, again)
			return store.Run{ID: ok.ID + 1, Status: store.RunQueued, CreatedAt: time.Now()}, nil
		}})
	retry := notify.SignLink(b.key, notify.PurposeRetry, b.run.ID, b.owner.ID, time.Now().Add(time.Hour))
	warning := fmt.Sprintf("was already resubmitted as run %d, which succeeded", ok.ID)
	if status, body, _ := b.do("GET", retry, nil); status != 200 || !strings.Contains(body, warning) || !strings.Contains(body, `name="again"`) {
		t.Fatalf("GET: %d, want the warning and the second question:\n%s", status, body)
	}
	creds := url.Values{"email": {"ann@example.com"}, "password": {password}}
	if status, body, _ := b.do("POST", retry, creds); status != http.StatusConflict || !strings.Contains(body, "Run it again anyway") {
		t.Fatalf("POST without the second yes: %d\n%s", status, body)
	}
	if len(agains) != 0 {
		t.Fatalf("Resubmit called without the second yes: %v", agains)
	}
	creds.Set("again", "1")
	if status, body, _ := b.do("POST", retry, creds); status != 200 || !strings.Contains(body, "resubmitted") {
		t.Fatalf("POST with the second yes: %d\n%s", status, body)
	}
	if len(agains) != 1 || !agains[0] {
		t.Fatalf("Resubmit calls: %v, want one with again", agains)
	}
}
