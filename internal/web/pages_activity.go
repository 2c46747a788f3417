package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/sluice/sluice/internal/store"
)

// urlPath escapes a name for a path segment.
func urlPath(s string) string { return url.PathEscape(s) }

// connectionPage is a connection's page (this slice: its status and
// Verify; fixing it comes later).
type connectionPage struct {
	base
	Conn      store.Connection
	CanVerify bool
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
	p.render(w, http.StatusOK, "connection", connectionPage{base: c.base("Connection "+cn.Name, "flows"), Conn: cn, CanVerify: p.cfg.Verify != nil})
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

// maxActivity caps the activity feed's page.
const maxActivity = 50

// activityPage is the notification feed.
type activityPage struct {
	base
	Notes []store.Notification
}

// activity answers GET /activity: the newest notifications (one range of
// notifications_user).
func (p *portal) activity(w http.ResponseWriter, r *http.Request, c *call) error {
	notes, err := p.st.ListNotifications(r.Context(), c.user.ID, false, maxActivity)
	if err != nil {
		return fmt.Errorf("activity: %w", err)
	}
	p.render(w, http.StatusOK, "activity", activityPage{base: c.base("Activity", "activity"), Notes: notes})
	return nil
}

// markRead answers POST /activity/read: the notification id= given, or
// all of them without one.
func (p *portal) markRead(w http.ResponseWriter, r *http.Request, c *call) error {
	var ids []int64
	if v := r.PostFormValue("id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return pageErr(http.StatusBadRequest, "No such notification", "Go back to Activity and try again.")
		}
		ids = append(ids, id)
	}
	if err := p.st.MarkRead(r.Context(), c.user.ID, ids); err != nil {
		return fmt.Errorf("mark read: %w", err)
	}
	http.Redirect(w, r, "/activity", http.StatusSeeOther)
	return nil
}
