package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/sluice/sluice/internal/signin"
)

// signinPage is the sign-in form's view.
type signinPage struct {
	base
	Next, Email, FormError string
}

// signinForm answers GET /signin; a signed-in visitor goes on to next.
func (p *portal) signinForm(w http.ResponseWriter, r *http.Request) error {
	next := localPath(r.URL.Query().Get("next"))
	if _, ok, err := p.cfg.Sessions.lookup(r); err != nil {
		return err
	} else if ok {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	}
	pre := p.cfg.Sessions.preSession(w, r)
	p.render(w, http.StatusOK, "signin", signinPage{base: base{Title: "Sign in", CSRF: csrfToken(pre)}, Next: next})
	return nil
}

// signin answers POST /signin: it checks the password (throttled), starts
// a new session and goes on to next, a path on this server.
func (p *portal) signin(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return formError(err)
	}
	pre, err := r.Cookie(preCookie)
	if err != nil || !csrfValid(pre.Value, r.PostFormValue("csrf")) {
		return errCSRF
	}
	next := localPath(r.PostFormValue("next"))
	email, password := strings.TrimSpace(r.PostFormValue("email")), r.PostFormValue("password")
	u, err := p.cfg.SignIn.Check(r.Context(), signin.Attempt{Email: email, Password: password, RemoteAddr: r.RemoteAddr, Via: "portal"})
	switch {
	case isThrottled(err):
		return throttledPage(w, err, "sign-in")
	case errors.Is(err, signin.ErrInvalid), errors.Is(err, signin.ErrDisabled):
		p.render(w, http.StatusUnauthorized, "signin", signinPage{base: base{Title: "Sign in", CSRF: csrfToken(pre.Value)},
			Next: next, Email: email, FormError: "The email or password is wrong, or the account is disabled."})
		return nil
	case err != nil:
		return err
	}
	if err := p.cfg.Sessions.start(r.Context(), w, r, u); err != nil {
		return err
	}
	p.log.Info("signed in to the portal", "user", u.ID)
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// signout answers POST /signout.
func (p *portal) signout(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := p.cfg.Sessions.end(r.Context(), w, r, c.signedIn); err != nil {
		return err
	}
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
	return nil
}

// isThrottled reports whether a password check was refused before it
// was made (a *signin.ThrottledError).
func isThrottled(err error) bool {
	var throttled *signin.ThrottledError
	return errors.As(err, &throttled)
}

// throttledPage is the 429 page of a throttled password check, with
// Retry-After; what names the attempts ("sign-in", "password").
func throttledPage(w http.ResponseWriter, err error, what string) error {
	var throttled *signin.ThrottledError
	errors.As(err, &throttled)
	w.Header().Set("Retry-After", throttled.RetryAfterHeader())
	return pageErr(http.StatusTooManyRequests, "Too many attempts",
		fmt.Sprintf("Too many %s attempts. Wait %s, then try again.", what, throttled.RetryAfter.Round(1e9)))
}
