package web

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/sqlite"
)

// sessionSetup returns sessions on a real SQLite store with a clock the
// test moves, and a signed-in user's request maker.
func sessionSetup(t *testing.T, cfg SessionConfig) (*Sessions, *time.Time, store.User) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "s.db"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	u, err := st.CreateUser(t.Context(), store.User{Email: "ann@example.com", PasswordHash: "x", Role: store.RoleMaker})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store = st
	s := NewSessions(cfg)
	now := time.Now()
	s.now = func() time.Time { return now }
	return s, &now, u
}

// startSession signs u in and returns the Set-Cookie of the session.
func startSession(t *testing.T, s *Sessions, r *http.Request, u store.User) *http.Cookie {
	t.Helper()
	w := httptest.NewRecorder()
	if err := s.start(t.Context(), w, r, u); err != nil {
		t.Fatal(err)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == sessionCookie {
			return c
		}
	}
	t.Fatal("no session cookie")
	return nil
}

func withCookie(c *http.Cookie) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(c)
	return r
}

func TestSessionIdleAndAbsoluteExpiry(t *testing.T) {
	t.Parallel()
	s, now, u := sessionSetup(t, SessionConfig{Idle: time.Hour, Lifetime: 3 * time.Hour})
	c := startSession(t, s, httptest.NewRequest("GET", "/", nil), u)
	if c.MaxAge != int((3 * time.Hour).Seconds()) {
		t.Errorf("cookie Max-Age %d, want the lifetime", c.MaxAge)
	}
	lookup := func(what string, want bool) {
		t.Helper()
		_, ok, err := s.lookup(withCookie(c))
		if err != nil || ok != want {
			t.Fatalf("%s: signed in = %t (%v), want %t", what, ok, err, want)
		}
	}
	// Used every 50 minutes, the session lives on past its first idle
	// end, until the absolute end.
	for i := 1; i <= 3; i++ {
		*now = now.Add(50 * time.Minute)
		lookup("used within the idle time", true)
	}
	*now = now.Add(40 * time.Minute) // 3h10 after sign-in
	lookup("past the absolute end", false)

	// Unused for longer than the idle time, it ends.
	c = startSession(t, s, httptest.NewRequest("GET", "/", nil), u)
	*now = now.Add(61 * time.Minute)
	lookup("idle past the idle time", false)
}

func TestSessionNewIDAtEverySignIn(t *testing.T) {
	t.Parallel()
	s, _, u := sessionSetup(t, SessionConfig{})
	planted := &http.Cookie{Name: sessionCookie, Value: "planted-by-an-attacker"}
	r := withCookie(planted)
	a := startSession(t, s, r, u)
	b := startSession(t, s, r, u)
	if a.Value == planted.Value || a.Value == b.Value || len(a.Value) < 20 {
		t.Fatalf("session ids %q, %q after a planted %q: want new random ids", a.Value, b.Value, planted.Value)
	}
	// The store keeps only the hash.
	if _, _, err := s.cfg.Store.GetSession(t.Context(), []byte(a.Value)); err == nil {
		t.Fatal("the store finds a session by its raw id")
	}
}

func TestSessionCookieFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		secure     bool
		tls        bool
		wantSecure bool
	}{
		{"plain http", false, false, false},
		{"https base URL", true, false, true},
		{"tls request", false, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, u := sessionSetup(t, SessionConfig{Secure: tc.secure})
			r := httptest.NewRequest("GET", "/", nil)
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			c := startSession(t, s, r, u)
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != tc.wantSecure || c.Path != "/" {
				t.Fatalf("cookie %+v: want HttpOnly, SameSite=Lax, Secure=%t, Path=/", c, tc.wantSecure)
			}
		})
	}
}

func TestCSRFToken(t *testing.T) {
	t.Parallel()
	a, b := csrfToken("session-a"), csrfToken("session-b")
	if a == b || !csrfValid("session-a", a) || csrfValid("session-b", a) || csrfValid("", csrfToken("")) || csrfValid("session-a", "") {
		t.Fatal("CSRF tokens are not tied to their session")
	}
	if strings.Contains(a, "session-a") {
		t.Fatal("the CSRF token shows the session id")
	}
}

func TestLocalPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/runs/1": "/runs/1", "/": "/", "": "/", "runs": "/", "//x.example": "/", "/\\x.example": "/",
		"https://x.example": "/", "/a\r\nb": "/", "/ok?next=//x": "/ok?next=//x",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}
