package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/sluice/sluice/internal/api"
)

// oauthPage is the page the OAuth2 callback shows when it does not send
// the browser back to the connection's page: the outcome in plain words.
type oauthPage struct {
	base
	OK      bool
	Message string
	// ConnectionID links back to the connection, for its signed-in owner.
	ConnectionID int64
}

// signIn answers POST /connections/{ref}/authorize, the Sign in again
// button of an OAuth2 authorization-code connection: it starts a sign-in
// bound to this session and sends the browser to the provider.
func (p *portal) signIn(w http.ResponseWriter, r *http.Request, c *call) error {
	cn, err := p.lookupConnection(r, c)
	if err != nil {
		return err
	}
	if p.cfg.Connections == nil {
		return errNotFound
	}
	to, err := p.cfg.Connections.Authorize(r.Context(), c.user, cn)
	var apiErr *api.Error
	if errors.As(err, &apiErr) && apiErr.Status < 500 {
		return pageErr(apiErr.Status, "This connection cannot be signed in to", apiErr.Message)
	}
	if err != nil {
		return fmt.Errorf("sign in to connection %d: %w", cn.ID, err)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// oauthCallback answers GET /oauth/callback, where a provider sends the
// browser back after a sign-in. A sign-in started from the portal that
// worked returns to the connection's page with a notice; any other
// outcome is shown here, the provider's error in plain words.
func (p *portal) oauthCallback(w http.ResponseWriter, r *http.Request) {
	setHeaders(w)
	// The address carries the code and state: it must not leak to the
	// pages this one links to.
	w.Header().Set("Referrer-Policy", "no-referrer")
	if p.cfg.Connections == nil {
		p.fail(w, r, nil, errNotFound)
		return
	}
	si, signedIn, err := p.cfg.Sessions.lookup(r)
	if err != nil {
		p.fail(w, r, nil, err)
		return
	}
	var sessionUser int64
	var c *call
	if signedIn {
		sessionUser, c = si.user.ID, &call{signedIn: si}
	}
	res := p.cfg.Connections.CompleteAuthorization(r.Context(), r.URL.Query(), sessionUser)
	if res.OK && res.Via == api.ViaPortal && signedIn {
		http.Redirect(w, r, fmt.Sprintf("/connections/%d?signed_in=1", res.ConnectionID), http.StatusSeeOther)
		return
	}
	title := "Signed in"
	status := http.StatusOK
	if !res.OK {
		title, status = "The sign-in did not work", http.StatusBadRequest
	}
	v := oauthPage{base: c.base(title, "connections"), OK: res.OK, Message: res.Message}
	if signedIn && sessionUser != 0 && res.ConnectionID != 0 && strings.TrimSpace(res.ConnectionName) != "" {
		v.ConnectionID = res.ConnectionID
	}
	p.render(w, status, "oauth", v)
}
