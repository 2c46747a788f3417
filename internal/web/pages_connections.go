package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sluice/sluice/internal/store"
)

// urlPath escapes a name for a path segment.
func urlPath(s string) string { return url.PathEscape(s) }

// connectionsPage is the connection list (this slice: each with its
// status; the flows using it come later).
type connectionsPage struct {
	base
	Conns []store.Connection
}

// connections answers GET /connections: the caller's connections (all
// for an admin), by name, from ListConnections (by owner).
func (p *portal) connections(w http.ResponseWriter, r *http.Request, c *call) error {
	conns, err := p.st.ListConnections(r.Context(), scope(c.user))
	if err != nil {
		return fmt.Errorf("connection list: %w", err)
	}
	p.render(w, http.StatusOK, "connections", connectionsPage{base: c.base("Connections", "connections"), Conns: conns})
	return nil
}

// connectionPage is a connection's page: its status, Verify, Fix
// connection, the flows using it and the runs that failed because of it.
type connectionPage struct {
	base
	Conn      store.Connection
	CanVerify bool
	CanFix    bool
	// Flows use the connection; Failed counts the runs that failed
	// authenticating with it since it broke.
	Flows  []store.Flow
	Failed int
	// Saved is set after Fix connection saved new credentials.
	Saved bool
	// SignIn replaces Fix connection with Sign in again (an OAuth2
	// authorization-code connection); SignedIn is set after a sign-in
	// that worked, SignedInBefore when the connection has tokens.
	SignIn, SignedIn, SignedInBefore bool
}

// lookupConnection returns the caller's connection named by the path: a
// number is its id, anything else the name of one of the caller's.
func (p *portal) lookupConnection(r *http.Request, c *call) (store.Connection, error) {
	ref := r.PathValue("ref")
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		return owned(r.Context(), c.user, id, p.st.GetConnection, func(cn store.Connection) int64 { return cn.OwnerID })
	}
	cn, err := p.st.GetConnectionByName(r.Context(), c.user.ID, ref)
	if errors.Is(err, store.ErrNotFound) {
		return store.Connection{}, errNotFound
	}
	return cn, err
}

// connection answers GET /connections/{ref}.
func (p *portal) connection(w http.ResponseWriter, r *http.Request, c *call) error {
	cn, err := p.lookupConnection(r, c)
	if err != nil {
		return err
	}
	v := connectionPage{base: c.base("Connection "+cn.Name, "connections"), Conn: cn, CanVerify: p.cfg.Verify != nil,
		CanFix: p.cfg.Connections != nil, Saved: r.URL.Query().Get("saved") == "1"}
	if p.cfg.Connections != nil {
		if v.Flows, err = p.cfg.Connections.FlowsUsing(r.Context(), cn); err != nil {
			return fmt.Errorf("connection %d: %w", cn.ID, err)
		}
	}
	if v.Failed, err = p.st.CountRuns(r.Context(), failedOn(cn)); err != nil {
		return fmt.Errorf("connection %d: %w", cn.ID, err)
	}
	if p.cfg.Connections != nil {
		var origin string
		if v.SignIn, origin = p.cfg.Connections.SignsIn(cn); v.SignIn {
			v.SignedIn = r.URL.Query().Get("signed_in") == "1"
			v.SignedInBefore = cn.HealthAt != nil
			if origin != "" {
				// The Sign in again form is answered with a redirect to
				// the provider, which form-action must allow.
				csp := w.Header().Get("Content-Security-Policy")
				w.Header().Set("Content-Security-Policy", strings.Replace(csp, "form-action 'self'", "form-action 'self' "+origin, 1))
			}
		}
	}
	p.render(w, http.StatusOK, "connection", v)
	return nil
}

// verify answers POST /connections/{ref}/verify: it runs the connection's
// test request and shows the page with the health it recorded.
func (p *portal) verify(w http.ResponseWriter, r *http.Request, c *call) error {
	cn, err := p.lookupConnection(r, c)
	if err != nil {
		return err
	}
	if p.cfg.Verify == nil {
		return errNotFound
	}
	reason, err := p.cfg.Verify(r.Context(), cn)
	if err != nil {
		return fmt.Errorf("verify connection %d: %w", cn.ID, err)
	}
	if reason != "" {
		return pageErr(http.StatusConflict, "This connection cannot be checked", reason)
	}
	http.Redirect(w, r, fmt.Sprintf("/connections/%d", cn.ID), http.StatusSeeOther)
	return nil
}
