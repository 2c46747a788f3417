package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/sluice/sluice/internal/auth"
	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/flow"
	"github.com/sluice/sluice/internal/store"
)

// sourceRequest is the body of POST /flows and POST /flows/check.
type sourceRequest struct {
	Source string `json:"source"`
}

// listFlows answers the caller's flows, or every flow for an admin.
func (s *server) listFlows(w http.ResponseWriter, r *http.Request) error {
	u := caller(r)
	var filter store.FlowFilter
	if !isAdmin(u) {
		filter.OwnerID = u.ID
	}
	flows, err := s.store.ListFlows(r.Context(), filter)
	if err != nil {
		return fmt.Errorf("list flows: %w", err)
	}
	out := make([]flowView, 0, len(flows))
	for _, f := range flows {
		out = append(out, s.viewFlow(u, f))
	}
	writeJSON(w, http.StatusOK, map[string]any{"flows": out})
	return nil
}

// parsed is a source that passed the flow checker.
type parsed struct {
	def       *flow.Definition
	canonical json.RawMessage
	// nextFireAt is a schedule trigger's first firing; nil otherwise.
	nextFireAt *time.Time
}

// parseSource checks a flow's source. Problems are returned as a list,
// not as an error, so that check and save can answer them differently.
func parseSource(src string, now time.Time) (parsed, []flow.Problem, error) {
	if src == "" {
		return parsed{}, []flow.Problem{{Path: "source", Message: "source is empty: send the flow's YAML or JSON text"}}, nil
	}
	def, problems := flow.Parse([]byte(src))
	if len(problems) > 0 {
		return parsed{}, problems, nil
	}
	if def == nil {
		return parsed{}, nil, errors.New("flow.Parse returned neither a definition nor problems")
	}
	canonical, err := def.Canonical()
	if err != nil {
		return parsed{}, nil, fmt.Errorf("canonical form of flow %q: %w", def.Name, err)
	}
	p := parsed{def: def, canonical: canonical}
	if def.Trigger.Type == flow.TriggerSchedule {
		next, err := def.Trigger.Next(now)
		if err != nil {
			return parsed{}, []flow.Problem{{Path: "trigger", Message: "the schedule never fires: " + err.Error()}}, nil
		}
		p.nextFireAt = &next
	}
	return p, nil, nil
}

// checkConnections checks the connections def names against those of
// its owner, the caller (runs look connections up by the flow owner's
// id), so that a misspelt name is refused at save rather than failing
// the first run. The flow checker knows no store; it is given the names.
func (s *server) checkConnections(ctx context.Context, u store.User, def *flow.Definition, src string) ([]flow.Problem, error) {
	uses := false
	def.Walk(func(a *flow.Action) { uses = uses || a.Connection != "" })
	if !uses {
		return nil, nil
	}
	conns, err := s.store.ListConnections(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("check the connections of flow %q: %w", def.Name, err)
	}
	names := make([]string, len(conns))
	for i, c := range conns {
		names[i] = c.Name
	}
	return def.CheckConnections([]byte(src), names), nil
}

// invalidFlow is the 422 answer to a flow with problems.
func invalidFlow(problems []flow.Problem) *Error {
	return &Error{
		Status:  http.StatusUnprocessableEntity,
		Code:    CodeInvalidFlow,
		Message: fmt.Sprintf("the flow has %d problem(s); fix them and save again", len(problems)),
		Details: problems,
	}
}

// checkFlow runs the flow checker without saving.
func (s *server) checkFlow(w http.ResponseWriter, r *http.Request) error {
	var req sourceRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	p, problems, err := parseSource(req.Source, time.Now())
	if err != nil {
		return err
	}
	if problems == nil {
		if problems, err = s.checkConnections(r.Context(), caller(r), p.def, req.Source); err != nil {
			return err
		}
	}
	if problems == nil {
		problems = []flow.Problem{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": len(problems) == 0, "problems": problems})
	return nil
}

// saveFlow saves a flow: a new version of the caller's flow with the same
// name (200), or a new flow (201).
func (s *server) saveFlow(w http.ResponseWriter, r *http.Request) error {
	var req sourceRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	p, problems, err := parseSource(req.Source, time.Now())
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return invalidFlow(problems)
	}
	u := caller(r)
	ctx := r.Context()
	if problems, err := s.checkConnections(ctx, u, p.def, req.Source); err != nil {
		return err
	} else if len(problems) > 0 {
		return invalidFlow(problems)
	}
	for attempt := 0; ; attempt++ {
		existing, err := s.store.GetFlowByName(ctx, u.ID, p.def.Name)
		switch {
		case err == nil:
			f, err := s.store.AddFlowVersion(ctx, store.NewFlowVersion{
				FlowID: existing.ID, CreatedBy: u.ID, TriggerType: p.def.Trigger.Type,
				Definition: p.canonical, Source: req.Source, NextFireAt: p.nextFireAt,
			})
			if err != nil {
				return fmt.Errorf("save flow %q: %w", p.def.Name, err)
			}
			writeJSON(w, http.StatusOK, s.viewFlow(u, f))
			return nil
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("save flow %q: %w", p.def.Name, err)
		}
		token, err := auth.NewWebhookToken()
		if err != nil {
			return fmt.Errorf("save flow %q: %w", p.def.Name, err)
		}
		f, err := s.store.CreateFlow(ctx, store.NewFlow{
			Name: p.def.Name, OwnerID: u.ID, TriggerType: p.def.Trigger.Type, WebhookToken: token,
			Definition: p.canonical, Source: req.Source, NextFireAt: p.nextFireAt,
		})
		if errors.Is(err, store.ErrConflict) && attempt == 0 {
			// Another request created the flow since we looked: save
			// this one as its next version.
			continue
		}
		if err != nil {
			return fmt.Errorf("save flow %q: %w", p.def.Name, err)
		}
		writeJSON(w, http.StatusCreated, s.viewFlow(u, f))
		return nil
	}
}

// showFlow answers a flow with its latest definition and source.
func (s *server) showFlow(w http.ResponseWriter, r *http.Request) error {
	u := caller(r)
	f, err := s.lookupFlow(r.Context(), u, r.PathValue("flow"))
	if err != nil {
		return err
	}
	v, err := s.store.GetFlowVersion(r.Context(), f.ID, f.Version)
	if err != nil {
		return fmt.Errorf("show flow %d: version %d: %w", f.ID, f.Version, err)
	}
	n, err := s.store.CountRuns(r.Context(), store.RunFilter{FlowID: f.ID})
	if err != nil {
		return fmt.Errorf("show flow %d: count runs: %w", f.ID, err)
	}
	writeJSON(w, http.StatusOK, flowDetailView{flowView: s.viewFlow(u, f), Definition: rawOrNull(v.Definition), Source: v.Source, RunCount: n})
	return nil
}

// deleteFlow removes a flow with its versions and runs.
func (s *server) deleteFlow(w http.ResponseWriter, r *http.Request) error {
	f, err := s.lookupFlow(r.Context(), caller(r), r.PathValue("flow"))
	if err != nil {
		return err
	}
	if err := s.store.DeleteFlow(r.Context(), f.ID); err != nil {
		return fmt.Errorf("delete flow %d: %w", f.ID, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// enableFlow turns a flow on.
func (s *server) enableFlow(w http.ResponseWriter, r *http.Request) error {
	return s.setEnabled(w, r, true)
}

// disableFlow turns a flow off: its webhook and schedule stop starting
// runs, and it cannot be triggered.
func (s *server) disableFlow(w http.ResponseWriter, r *http.Request) error {
	return s.setEnabled(w, r, false)
}

func (s *server) setEnabled(w http.ResponseWriter, r *http.Request, enabled bool) error {
	u := caller(r)
	f, err := s.lookupFlow(r.Context(), u, r.PathValue("flow"))
	if err != nil {
		return err
	}
	f, err = s.store.SetFlowEnabled(r.Context(), f.ID, enabled)
	if err != nil {
		return fmt.Errorf("set flow %d enabled=%t: %w", f.ID, enabled, err)
	}
	writeJSON(w, http.StatusOK, s.viewFlow(u, f))
	return nil
}

// listVersions answers a flow's saved versions, newest first.
func (s *server) listVersions(w http.ResponseWriter, r *http.Request) error {
	f, err := s.lookupFlow(r.Context(), caller(r), r.PathValue("flow"))
	if err != nil {
		return err
	}
	versions, err := s.store.ListFlowVersions(r.Context(), f.ID)
	if err != nil {
		return fmt.Errorf("list versions of flow %d: %w", f.ID, err)
	}
	out := make([]versionView, 0, len(versions))
	for _, v := range versions {
		out = append(out, viewVersion(v))
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": out})
	return nil
}

// showVersion answers one saved version of a flow.
func (s *server) showVersion(w http.ResponseWriter, r *http.Request) error {
	f, err := s.lookupFlow(r.Context(), caller(r), r.PathValue("flow"))
	if err != nil {
		return err
	}
	raw := r.PathValue("version")
	n, err := strconv.Atoi(raw)
	if err != nil || n <= 0 {
		return badRequest("version %q is not a positive integer", raw)
	}
	v, err := s.store.GetFlowVersion(r.Context(), f.ID, n)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("flow %q has no version %d", f.Name, n)
	}
	if err != nil {
		return fmt.Errorf("show version %d of flow %d: %w", n, f.ID, err)
	}
	writeJSON(w, http.StatusOK, versionDetailView{versionView: viewVersion(v), Definition: rawOrNull(v.Definition), Source: v.Source})
	return nil
}

// triggerRequest is POST /flows/{flow}/trigger's optional body.
type triggerRequest struct {
	// Input is any JSON value, null included.
	Input json.RawMessage `json:"input" nullable:"true"`
}

// flowDisabled is the 409 answer to running a flow that is off.
func flowDisabled(f store.Flow) *Error {
	return &Error{Status: http.StatusConflict, Code: CodeFlowDisabled,
		Message: fmt.Sprintf("flow %q is disabled: enable it first", f.Name)}
}

// triggerFlow starts a manual run of a flow with the given input.
func (s *server) triggerFlow(w http.ResponseWriter, r *http.Request) error {
	var req triggerRequest
	if err := decodeJSON(r, &req, true); err != nil {
		return err
	}
	f, err := s.lookupFlow(r.Context(), caller(r), r.PathValue("flow"))
	if err != nil {
		return err
	}
	if !f.Enabled {
		return flowDisabled(f)
	}
	var input any
	if len(req.Input) > 0 && string(req.Input) != "null" {
		input = req.Input
	}
	run, err := s.runner.Start(r.Context(), engine.StartRequest{
		Flow:        f,
		TriggerType: flow.TriggerManual,
		Trigger:     engine.Trigger{Input: input}, // also trigger.body when the run works
	})
	if err != nil {
		return fmt.Errorf("trigger flow %d: %w", f.ID, err)
	}
	writeJSON(w, http.StatusCreated, viewRun(run))
	return nil
}
