package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// List sizes of the problems, notifications and outbox routes.
const (
	defaultProblemLimit = 100
	defaultNoteLimit    = 50
	defaultMailLimit    = 50
	maxListLimit        = 1000
)

// repairEmailFrequencies are the values of a user's repair_emails setting.
var repairEmailFrequencies = []string{"immediately", "hourly", "daily", "never"}

// mailStatuses are the statuses GET /outbox?status= accepts.
var mailStatuses = []string{store.MailQueued, store.MailSent, store.MailFailed}

// notificationView is an entry of the caller's feed.
type notificationView struct {
	ID           int64      `json:"id"`
	Kind         string     `json:"kind"`
	Title        string     `json:"title"`
	Body         string     `json:"body"`
	FlowID       *int64     `json:"flow_id"`
	RunID        *int64     `json:"run_id"`
	ConnectionID *int64     `json:"connection_id"`
	ReadAt       *time.Time `json:"read_at"`
	CreatedAt    time.Time  `json:"created_at"`
	// Resolved says that what the notification reports is over: a run of
	// the flow succeeded after the failed run, or the broken connection
	// works again. Always false for other kinds.
	Resolved bool `json:"resolved"`
}

// idOrNull returns nil for a zero id, so that it is sent as null.
func idOrNull(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

func viewNotification(n store.Notification) notificationView {
	return notificationView{
		ID: n.ID, Kind: n.Kind, Title: n.Title, Body: n.Body, FlowID: idOrNull(n.FlowID), RunID: idOrNull(n.RunID),
		ConnectionID: idOrNull(n.ConnectionID), ReadAt: n.ReadAt, CreatedAt: n.CreatedAt,
	}
}

// queryLimit reads the limit query parameter: def when absent, else a
// number from 1 to maxListLimit.
func queryLimit(r *http.Request, def int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxListLimit {
		return 0, badRequest("limit %q must be a number from 1 to %d", v, maxListLimit)
	}
	return n, nil
}

// listProblems answers failures grouped by flow, step and diagnosis code,
// most recently seen first. A maker only sees their own flows' problems.
func (s *server) listProblems(w http.ResponseWriter, r *http.Request) error {
	u := caller(r)
	q := r.URL.Query()
	pf := store.ProblemFilter{}
	if !isAdmin(u) {
		pf.OwnerID = u.ID
	}
	var err error
	if pf.Limit, err = queryLimit(r, defaultProblemLimit); err != nil {
		return err
	}
	if v := q.Get("since"); v != "" {
		if pf.Since, err = store.ParseSince(v, time.Now()); err != nil {
			return badRequest("since: %v", err)
		}
	}
	if ref := q.Get("flow"); ref != "" {
		f, err := s.lookupFlow(r.Context(), u, ref)
		if err != nil {
			return err
		}
		pf.FlowID = f.ID
	}
	problems, err := s.store.ListProblems(r.Context(), pf)
	if err != nil {
		return fmt.Errorf("list problems: %w", err)
	}
	if problems == nil {
		problems = []store.Problem{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"problems": problems})
	return nil
}

// listNotifications answers the caller's feed, newest first, with the
// number of unread entries.
func (s *server) listNotifications(w http.ResponseWriter, r *http.Request) error {
	u := caller(r)
	unreadOnly := false
	if v := r.URL.Query().Get("unread"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return badRequest("unread %q must be true or false", v)
		}
		unreadOnly = b
	}
	limit, err := queryLimit(r, defaultNoteLimit)
	if err != nil {
		return err
	}
	notes, err := s.store.ListNotifications(r.Context(), u.ID, unreadOnly, limit)
	if err != nil {
		return fmt.Errorf("list notifications: %w", err)
	}
	unread, err := s.store.CountUnread(r.Context(), u.ID)
	if err != nil {
		return fmt.Errorf("list notifications: %w", err)
	}
	out := make([]notificationView, 0, len(notes))
	res := resolver{store: s.store, lastSuccess: map[int64]int64{}, healthy: map[int64]bool{}}
	for _, n := range notes {
		v := viewNotification(n)
		if v.Resolved, err = res.resolved(r.Context(), n); err != nil {
			return fmt.Errorf("list notifications: %w", err)
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"notifications": out, "unread": unread})
	return nil
}

// resolver tells whether notifications report something that is over,
// reading each flow's latest succeeded run and each connection's health
// once for a whole page.
type resolver struct {
	store store.Store
	// lastSuccess is the id of a flow's latest succeeded run (0: none).
	lastSuccess map[int64]int64
	// healthy is whether a connection works (a deleted one counts).
	healthy map[int64]bool
}

// resolved reports whether a failed run's flow succeeded since, or a
// broken connection works again.
func (rv resolver) resolved(ctx context.Context, n store.Notification) (bool, error) {
	switch {
	case n.Kind == store.NoteRunFailed && n.FlowID != 0 && n.RunID != 0:
		last, ok := rv.lastSuccess[n.FlowID]
		if !ok {
			runs, err := rv.store.ListRuns(ctx, store.RunFilter{FlowID: n.FlowID, Status: store.RunSucceeded, Limit: 1})
			if err != nil {
				return false, fmt.Errorf("latest success of flow %d: %w", n.FlowID, err)
			}
			if len(runs) > 0 {
				last = runs[0].ID
			}
			rv.lastSuccess[n.FlowID] = last
		}
		return last > n.RunID, nil
	case n.Kind == store.NoteConnectionBroken && n.ConnectionID != 0:
		ok, seen := rv.healthy[n.ConnectionID]
		if !seen {
			c, err := rv.store.GetConnection(ctx, n.ConnectionID)
			switch {
			case errors.Is(err, store.ErrNotFound):
				ok = true
			case err != nil:
				return false, fmt.Errorf("health of connection %d: %w", n.ConnectionID, err)
			default:
				ok = c.Health == store.HealthOK
			}
			rv.healthy[n.ConnectionID] = ok
		}
		return ok, nil
	}
	return false, nil
}

// markReadRequest is POST /notifications/read's optional body.
type markReadRequest struct {
	// IDs are the notifications to mark read; empty marks them all.
	IDs []int64 `json:"ids"`
}

// markNotificationsRead marks the caller's notifications read: those
// named, or all. Ids of other users' notifications are ignored.
func (s *server) markNotificationsRead(w http.ResponseWriter, r *http.Request) error {
	var req markReadRequest
	if err := decodeJSON(r, &req, true); err != nil {
		return err
	}
	for _, id := range req.IDs {
		if id <= 0 {
			return badRequest("ids: %d is not a notification id", id)
		}
	}
	if err := s.store.MarkRead(r.Context(), caller(r).ID, req.IDs); err != nil {
		return fmt.Errorf("mark notifications read: %w", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// userSettingsView is a user's notification settings.
type userSettingsView struct {
	// RepairEmails is immediately, hourly, daily or never.
	RepairEmails string `json:"repair_emails"`
}

// flowSettingsView is a flow's settings.
type flowSettingsView struct {
	// RepairEmails says whether the flow's owners get repair-tip emails.
	RepairEmails bool `json:"repair_emails"`
}

// userSettingsRequest is PUT /me/settings's body.
type userSettingsRequest struct {
	RepairEmails *string `json:"repair_emails"`
}

// showUserSettings answers the caller's notification settings.
func (s *server) showUserSettings(w http.ResponseWriter, r *http.Request) error {
	st, err := s.store.GetUserSettings(r.Context(), caller(r).ID)
	if err != nil {
		return fmt.Errorf("show user settings: %w", err)
	}
	writeJSON(w, http.StatusOK, userSettingsView{RepairEmails: st.RepairEmails})
	return nil
}

// updateUserSettings sets how often the caller gets repair-tip emails.
func (s *server) updateUserSettings(w http.ResponseWriter, r *http.Request) error {
	var req userSettingsRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if req.RepairEmails == nil {
		return badRequest("repair_emails is missing: give one of %v", repairEmailFrequencies)
	}
	if !slices.Contains(repairEmailFrequencies, *req.RepairEmails) {
		return badRequest("repair_emails %q must be one of %v", *req.RepairEmails, repairEmailFrequencies)
	}
	u := caller(r)
	st := store.UserSettings{RepairEmails: *req.RepairEmails}
	if err := s.store.SetUserSettings(r.Context(), u.ID, st); err != nil {
		return fmt.Errorf("update user settings: %w", err)
	}
	writeJSON(w, http.StatusOK, userSettingsView{RepairEmails: st.RepairEmails})
	return nil
}

// flowSettingsRequest is PUT /flows/{flow}/settings's body.
type flowSettingsRequest struct {
	RepairEmails *bool `json:"repair_emails"`
}

// showFlowSettings answers a flow's settings.
func (s *server) showFlowSettings(w http.ResponseWriter, r *http.Request) error {
	f, err := s.lookupFlow(r.Context(), caller(r), r.PathValue("flow"))
	if err != nil {
		return err
	}
	st, err := s.store.GetFlowSettings(r.Context(), f.ID)
	if err != nil {
		return fmt.Errorf("show settings of flow %d: %w", f.ID, err)
	}
	writeJSON(w, http.StatusOK, flowSettingsView{RepairEmails: st.RepairEmails})
	return nil
}

// updateFlowSettings turns a flow's repair-tip emails on or off.
func (s *server) updateFlowSettings(w http.ResponseWriter, r *http.Request) error {
	var req flowSettingsRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if req.RepairEmails == nil {
		return badRequest("repair_emails is missing: give true or false")
	}
	f, err := s.lookupFlow(r.Context(), caller(r), r.PathValue("flow"))
	if err != nil {
		return err
	}
	st := store.FlowSettings{RepairEmails: *req.RepairEmails}
	if err := s.store.SetFlowSettings(r.Context(), f.ID, st); err != nil {
		return fmt.Errorf("update settings of flow %d: %w", f.ID, err)
	}
	writeJSON(w, http.StatusOK, flowSettingsView{RepairEmails: st.RepairEmails})
	return nil
}

// listOutbox answers the mail outbox, newest first (admins only: it holds
// every user's mail).
func (s *server) listOutbox(w http.ResponseWriter, r *http.Request) error {
	status := r.URL.Query().Get("status")
	if status != "" && !slices.Contains(mailStatuses, status) {
		return badRequest("status %q is not one of %v", status, mailStatuses)
	}
	limit, err := queryLimit(r, defaultMailLimit)
	if err != nil {
		return err
	}
	mail, err := s.store.ListMail(r.Context(), status, limit)
	if err != nil {
		return fmt.Errorf("list outbox: %w", err)
	}
	out := make([]store.Mail, 0, len(mail))
	for _, m := range mail {
		if m.To == nil {
			m.To = []string{}
		}
		out = append(out, m)
	}
	writeJSON(w, http.StatusOK, map[string]any{"mail": out})
	return nil
}
