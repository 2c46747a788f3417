package web

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/sluice/sluice/internal/store"
)

// flowRow is one line of the flow list.
type flowRow struct {
	Flow   store.Flow
	Owner  string
	Health store.FlowHealth
}

// flowsPage is the flow list.
type flowsPage struct {
	base
	Flows []flowRow
	// ShowOwner is true for admins, who see everyone's flows.
	ShowOwner bool
}

// flows answers GET /flows: every flow of the user (all for an admin)
// with on/off, owner, last run status and failures in the last 24 hours.
// Queries: ListFlows (by owner), FlowsHealth (one probe of runs_flow and
// one range of runs_flow_failed per flow), and for an admin ListUsers.
func (p *portal) flows(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	owner := scope(c.user)
	fs, err := p.st.ListFlows(ctx, store.FlowFilter{OwnerID: owner})
	if err != nil {
		return fmt.Errorf("flow list: %w", err)
	}
	ids := make([]int64, len(fs))
	for i, f := range fs {
		ids[i] = f.ID
	}
	hs, err := p.st.FlowsHealth(ctx, ids, p.now().Add(-day))
	if err != nil {
		return fmt.Errorf("flow list: %w", err)
	}
	health := map[int64]store.FlowHealth{}
	for _, h := range hs {
		health[h.FlowID] = h
	}
	names := map[int64]string{c.user.ID: c.user.Email}
	if owner == 0 {
		users, err := p.st.ListUsers(ctx)
		if err != nil {
			return fmt.Errorf("flow list: %w", err)
		}
		for _, u := range users {
			names[u.ID] = u.Email
		}
	}
	v := flowsPage{base: c.base("Flows", "flows"), ShowOwner: owner == 0}
	for _, f := range fs {
		v.Flows = append(v.Flows, flowRow{Flow: f, Owner: names[f.OwnerID], Health: health[f.ID]})
	}
	p.render(w, http.StatusOK, "flows", v)
	return nil
}

// lookupFlow returns the flow of the path's id that the caller owns.
func (p *portal) lookupFlow(r *http.Request, c *call) (store.Flow, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return store.Flow{}, err
	}
	return owned(r.Context(), c.user, id, p.st.GetFlow, func(f store.Flow) int64 { return f.OwnerID })
}

// setFlowEnabled answers POST /flows/{id}/enabled: on=1 turns the flow
// on, anything else off.
func (p *portal) setFlowEnabled(w http.ResponseWriter, r *http.Request, c *call) error {
	f, err := p.lookupFlow(r, c)
	if err != nil {
		return err
	}
	if _, err := p.st.SetFlowEnabled(r.Context(), f.ID, r.PostFormValue("on") == "1"); errors.Is(err, store.ErrNotFound) {
		return errNotFound
	} else if err != nil {
		return fmt.Errorf("turn flow %d on or off: %w", f.ID, err)
	}
	http.Redirect(w, r, fmt.Sprintf("/flows/%d", f.ID), http.StatusSeeOther)
	return nil
}
