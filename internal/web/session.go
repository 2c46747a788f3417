package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// Cookie names. The session cookie carries the session id, of which the
// store keeps only a hash; the pre-session cookie ties the sign-in form's
// CSRF token to the browser before there is a session.
const (
	sessionCookie = "sluice_session"
	preCookie     = "sluice_pre"
)

// SessionConfig configures the portal's sessions.
type SessionConfig struct {
	// Store keeps the sessions. Required.
	Store store.Store
	// Idle ends a session that is not used for that long. Defaults to 8
	// hours.
	Idle time.Duration
	// Lifetime ends a session that long after sign-in, however active.
	// Defaults to 7 days.
	Lifetime time.Duration
	// Secure marks the cookies Secure even on a plain HTTP request, as
	// behind a proxy that ends TLS; requests that came over TLS always
	// get Secure cookies. Defaults to false.
	Secure bool
}

// Sessions signs browsers in and finds who a request is from. The portal
// and the email-link pages share one, so that a signed-in owner following
// a link is not asked for a password again.
type Sessions struct {
	cfg SessionConfig
	now func() time.Time
}

// NewSessions returns the sessions on cfg.Store.
func NewSessions(cfg SessionConfig) *Sessions {
	if cfg.Idle <= 0 {
		cfg.Idle = 8 * time.Hour
	}
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = 7 * 24 * time.Hour
	}
	return &Sessions{cfg: cfg, now: time.Now}
}

// signedIn is who a request is from: the user and the session's id (the
// cookie's value), which the CSRF token derives from.
type signedIn struct {
	user store.User
	id   string
}

// extendEvery is how stale a session's idle end may get before a request
// moves it on: a write at most once a minute per session, not per request.
const extendEvery = time.Minute

// hashID returns what the store keeps of a session id.
func hashID(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

// Lookup returns who the request is from; ok is false when it has no
// session or one that ended (idle, expired, deleted, or its user
// disabled). The user is read from the store on every request, so that a
// disable takes effect at once on every node.
func (s *Sessions) lookup(r *http.Request) (signedIn, bool, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 64 {
		return signedIn{}, false, nil
	}
	sess, u, err := s.cfg.Store.GetSession(r.Context(), hashID(c.Value))
	if errors.Is(err, store.ErrNotFound) {
		return signedIn{}, false, nil
	}
	if err != nil {
		return signedIn{}, false, fmt.Errorf("look up session: %w", err)
	}
	now := s.now()
	if !sess.Active(now) || u.DisabledAt != nil {
		return signedIn{}, false, nil
	}
	if next := now.Add(s.cfg.Idle); next.Sub(sess.IdleUntil) > extendEvery && sess.IdleUntil.Before(sess.ExpiresAt) {
		if err := s.cfg.Store.ExtendSession(r.Context(), sess.Hash, next); err != nil && !errors.Is(err, store.ErrNotFound) {
			return signedIn{}, false, fmt.Errorf("extend session: %w", err)
		}
	}
	return signedIn{user: u, id: c.Value}, true, nil
}

// User returns the signed-in user of the request, if any.
func (s *Sessions) User(r *http.Request) (store.User, bool, error) {
	si, ok, err := s.lookup(r)
	return si.user, ok, err
}

// start signs u in: a new session id every time (so that an id planted
// before sign-in is worthless), stored as a hash.
func (s *Sessions) start(ctx context.Context, w http.ResponseWriter, r *http.Request, u store.User) error {
	id := rand.Text()
	now := s.now()
	sess := store.Session{Hash: hashID(id), UserID: u.ID, CreatedAt: now, IdleUntil: now.Add(s.cfg.Idle), ExpiresAt: now.Add(s.cfg.Lifetime)}
	if err := s.cfg.Store.CreateSession(ctx, sess); err != nil {
		return fmt.Errorf("sign in user %d: %w", u.ID, err)
	}
	s.setCookie(w, r, sessionCookie, id, s.cfg.Lifetime)
	s.setCookie(w, r, preCookie, "", -1)
	return nil
}

// end signs the request's session out.
func (s *Sessions) end(ctx context.Context, w http.ResponseWriter, r *http.Request, si signedIn) error {
	s.setCookie(w, r, sessionCookie, "", -1)
	if err := s.cfg.Store.DeleteSession(ctx, hashID(si.id)); err != nil {
		return fmt.Errorf("sign out: %w", err)
	}
	return nil
}

// setCookie sets (maxAge > 0) or clears (maxAge < 0) a cookie of the
// portal: HttpOnly, SameSite=Lax, Secure under TLS or when configured.
func (s *Sessions) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: s.cfg.Secure || r.TLS != nil}
	if maxAge < 0 {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, c)
}

// preSession returns the browser's pre-session value, setting a new one
// when it has none: the sign-in form's CSRF token derives from it.
func (s *Sessions) preSession(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(preCookie); err == nil && len(c.Value) >= 16 && len(c.Value) <= 64 {
		return c.Value
	}
	v := rand.Text()
	s.setCookie(w, r, preCookie, v, time.Hour)
	return v
}

// csrfToken is the CSRF token of a session (or pre-session) id: an HMAC
// of a fixed label under the id, so that it needs no storage, changes
// with every sign-in, and cannot be made without the HttpOnly cookie.
func csrfToken(id string) string {
	m := hmac.New(sha256.New, []byte(id))
	m.Write([]byte("sluice portal csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfValid compares a form's token with the id's, in constant time.
func csrfValid(id, got string) bool {
	return id != "" && hmac.Equal([]byte(csrfToken(id)), []byte(got))
}

// localPath returns next when it is a path on this server, else "/": a
// sign-in never redirects to another site.
func localPath(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return next
}
