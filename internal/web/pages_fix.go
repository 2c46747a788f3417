package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sluice/sluice/internal/api"
	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/store"
)

// failedOn is the filter of the runs that failed authenticating with cn
// since it broke (a minute of slack, as the bulk job uses), the ones a
// fix can rescue.
func failedOn(cn store.Connection) store.RunFilter {
	f := store.RunFilter{OwnerID: cn.OwnerID, FailedOnConnection: cn.Name}
	if cn.BrokenAt != nil {
		f.Since = cn.BrokenAt.Add(-time.Minute)
	}
	return f
}

// fixPage is the Fix connection form: a field per secret of the
// connection's type, empty; the stored secret is never sent back, only
// shown as •••• beside the connection's name.
type fixPage struct {
	base
	Conn   store.Connection
	Fields []string
	// Problem says what was wrong with the last try.
	Problem string
}

// fieldLabels are the secret fields in words.
var fieldLabels = map[string]string{"token": "New token", "password": "New password", "key": "New API key", "client_secret": "New client secret"}

// fixForm answers GET /connections/{ref}/fix.
func (p *portal) fixForm(w http.ResponseWriter, r *http.Request, c *call) error {
	cn, err := p.lookupConnection(r, c)
	if err != nil {
		return err
	}
	if p.cfg.Connections == nil {
		return errNotFound
	}
	if ok, _ := p.cfg.Connections.SignsIn(cn); ok {
		// Its fix is Sign in again, on its page.
		http.Redirect(w, r, fmt.Sprintf("/connections/%d", cn.ID), http.StatusSeeOther)
		return nil
	}
	p.render(w, http.StatusOK, "fix", fixPage{base: c.base("Fix connection "+cn.Name, "connections"), Conn: cn, Fields: p.cfg.Connections.SecretFields(cn)})
	return nil
}

// fix answers POST /connections/{ref}/fix: the secret fields filled in
// replace the stored ones (through the API's update), then the
// connection is verified when it can be, and the page shows the result
// with the runs that can now be resubmitted.
func (p *portal) fix(w http.ResponseWriter, r *http.Request, c *call) error {
	cn, err := p.lookupConnection(r, c)
	if err != nil {
		return err
	}
	if p.cfg.Connections == nil {
		return errNotFound
	}
	fields := p.cfg.Connections.SecretFields(cn)
	secret := map[string]string{}
	for _, f := range fields {
		if v := strings.TrimSpace(r.PostFormValue(f)); v != "" {
			secret[f] = v
		}
	}
	view := fixPage{base: c.base("Fix connection "+cn.Name, "connections"), Conn: cn, Fields: fields}
	if len(secret) == 0 {
		view.Problem = "Enter the new credentials: every field was empty, so nothing was changed."
		p.render(w, http.StatusBadRequest, "fix", view)
		return nil
	}
	fixed, err := p.cfg.Connections.Fix(r.Context(), cn, secret)
	var apiErr *api.Error
	if errors.As(err, &apiErr) && apiErr.Status < 500 {
		view.Problem = apiErr.Message
		p.render(w, apiErr.Status, "fix", view)
		return nil
	}
	if err != nil {
		return fmt.Errorf("fix connection %d: %w", cn.ID, err)
	}
	p.log.Info("connection fixed from the portal", "connection", cn.ID, "user", c.user.ID)
	if p.cfg.Verify != nil {
		if _, err := p.cfg.Verify(r.Context(), fixed); err != nil {
			return fmt.Errorf("verify connection %d: %w", cn.ID, err)
		}
	}
	http.Redirect(w, r, fmt.Sprintf("/connections/%d?saved=1", cn.ID), http.StatusSeeOther)
	return nil
}

// resubmitConnection answers POST /connections/{ref}/resubmit: a bulk
// resubmit job of the runs that failed because of the connection, as
// POST /api/v1/runs/resubmit with filter.connection does.
func (p *portal) resubmitConnection(w http.ResponseWriter, r *http.Request, c *call) error {
	cn, err := p.lookupConnection(r, c)
	if err != nil {
		return err
	}
	return p.submitJob(w, r, c, store.JobResubmit, engine.JobParams{OwnerID: cn.OwnerID, Connection: cn.Name})
}
