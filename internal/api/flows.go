package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
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
	u := caller(r)
	f, created, problems, err := s.saveSource(r.Context(), u, req.Source, 0)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return invalidFlow(problems)
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, s.viewFlow(u, f))
	return nil
}

// saveSource checks a flow's source and saves it for u: with into 0, as a
// new version of u's flow with the definition's name, or as a new flow;
// with into, as a new version of that flow, whose name the definition must
// keep. It reports whether it created a flow; problems, when there are
// any, mean nothing was saved.
func (s *server) saveSource(ctx context.Context, u store.User, src string, into int64) (store.Flow, bool, []flow.Problem, error) {
	p, problems, err := parseSource(src, time.Now())
	if err != nil || len(problems) > 0 {
		return store.Flow{}, false, problems, err
	}
	if problems, err := s.checkConnections(ctx, u, p.def, src); err != nil || len(problems) > 0 {
		return store.Flow{}, false, problems, err
	}
	addVersion := func(id int64) (store.Flow, error) {
		f, err := s.store.AddFlowVersion(ctx, store.NewFlowVersion{
			FlowID: id, CreatedBy: u.ID, TriggerType: p.def.Trigger.Type,
			Definition: p.canonical, Source: src, NextFireAt: p.nextFireAt,
		})
		if err != nil {
			return store.Flow{}, fmt.Errorf("save flow %q: %w", p.def.Name, err)
		}
		return f, nil
	}
	if into != 0 {
		f, err := s.store.GetFlow(ctx, into)
		if err != nil {
			return store.Flow{}, false, nil, fmt.Errorf("save flow %d: %w", into, err)
		}
		if f.Name != p.def.Name {
			return store.Flow{}, false, []flow.Problem{renamed(src, f.Name, p.def.Name)}, nil
		}
		f, err = addVersion(f.ID)
		return f, false, nil, err
	}
	for attempt := 0; ; attempt++ {
		existing, err := s.store.GetFlowByName(ctx, u.ID, p.def.Name)
		switch {
		case err == nil:
			f, err := addVersion(existing.ID)
			return f, false, nil, err
		case !errors.Is(err, store.ErrNotFound):
			return store.Flow{}, false, nil, fmt.Errorf("save flow %q: %w", p.def.Name, err)
		}
		token, err := auth.NewWebhookToken()
		if err != nil {
			return store.Flow{}, false, nil, fmt.Errorf("save flow %q: %w", p.def.Name, err)
		}
		f, err := s.store.CreateFlow(ctx, store.NewFlow{
			Name: p.def.Name, OwnerID: u.ID, TriggerType: p.def.Trigger.Type, WebhookToken: token,
			Definition: p.canonical, Source: src, NextFireAt: p.nextFireAt,
		})
		if errors.Is(err, store.ErrConflict) && attempt == 0 {
			// Another request created the flow since we looked: save
			// this one as its next version.
			continue
		}
		if err != nil {
			return store.Flow{}, false, nil, fmt.Errorf("save flow %q: %w", p.def.Name, err)
		}
		return f, true, nil, nil
	}
}

// renamed is the problem of a new version that changes its flow's name,
// on the least indented line that sets a name (the top level's, as far
// as a look at the lines can tell).
func renamed(src, was, now string) flow.Problem {
	pr := flow.Problem{Path: "name", Message: fmt.Sprintf(
		"the flow is named %q, and a new version keeps its name: change name back to %q (or save the definition as a new flow named %q)", was, was, now)}
	for i, line := range strings.Split(src, "\n") {
		t := strings.TrimLeft(line, " \t{")
		col := len(line) - len(t) + 1
		if (strings.HasPrefix(t, "name:") || strings.HasPrefix(t, `"name"`)) && (pr.Line == 0 || col < pr.Column) {
			pr.Line, pr.Column = i+1, col
		}
	}
	return pr
}

// FlowSaver saves a flow's source for a user as the API does (see
// NewFlowSaver).
type FlowSaver func(ctx context.Context, u store.User, src string, into int64) (f store.Flow, created bool, problems []flow.Problem, err error)

// NewFlowSaver returns what the portal's Save and Create buttons do: the
// API's save of a flow's source, checked by the flow checker. With into 0
// it saves like POST /flows (a new version of u's flow of that name, or a
// new flow); with into, a new version of that flow, which must keep its
// name. Problems, when there are any, mean nothing was saved.
func NewFlowSaver(c Config) FlowSaver { return Build(c).FlowSaver() }

// FlowSaver returns the portal's save of a flow (see NewFlowSaver).
func (a *Server) FlowSaver() FlowSaver { return a.s.saveSource }

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
