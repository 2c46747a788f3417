package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/store"
)

// Run list paging.
const (
	defaultRunLimit = 50
	maxRunLimit     = 1000
)

// runStatuses are the statuses GET /runs?status= accepts.
var runStatuses = []string{
	store.RunQueued, store.RunRunning, store.RunWaiting,
	store.RunSucceeded, store.RunFailed, store.RunCancelled,
}

// listRuns answers runs newest first, filtered by flow and status, a page
// at a time: next_before is the before= of the next page, or null on the
// last one. A maker only sees runs of their own flows.
func (s *server) listRuns(w http.ResponseWriter, r *http.Request) error {
	u := caller(r)
	q := r.URL.Query()
	filter := store.RunFilter{Limit: defaultRunLimit}
	if !isAdmin(u) {
		filter.OwnerID = u.ID
	}
	if ref := q.Get("flow"); ref != "" {
		f, err := s.lookupFlow(r.Context(), u, ref)
		if err != nil {
			return err
		}
		filter.FlowID = f.ID
	}
	if st := q.Get("status"); st != "" {
		valid := false
		for _, v := range runStatuses {
			valid = valid || st == v
		}
		if !valid {
			return badRequest("status %q is not one of %v", st, runStatuses)
		}
		filter.Status = st
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxRunLimit {
			return badRequest("limit %q must be a number from 1 to %d", v, maxRunLimit)
		}
		filter.Limit = n
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return badRequest("before %q must be a run id", v)
		}
		filter.BeforeID = n
	}
	runs, err := s.store.ListRuns(r.Context(), filter)
	if err != nil {
		return fmt.Errorf("list runs: %w", err)
	}
	out := make([]runView, 0, len(runs))
	for _, run := range runs {
		out = append(out, viewRun(run))
	}
	var next *int64
	if len(runs) == filter.Limit && len(runs) > 0 {
		id := runs[len(runs)-1].ID
		next = &id
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": out, "next_before": next})
	return nil
}

// showRun answers a run with a page of its steps (steps_limit, at most
// maxRunLimit, after the steps_after cursor): next_steps_after is the
// cursor of the next page, or null on the last one.
func (s *server) showRun(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, after := maxRunLimit, int64(0)
	if v := q.Get("steps_limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxRunLimit {
			return badRequest("steps_limit %q must be a number from 1 to %d", v, maxRunLimit)
		}
		limit = n
	}
	if v := q.Get("steps_after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return badRequest("steps_after %q must be a next_steps_after cursor (a number, 0 or more)", v)
		}
		after = n
	}
	run, err := s.lookupRun(r)
	if err != nil {
		return err
	}
	// One more than asked says whether a next page exists.
	steps, err := s.store.ListStepsAfter(r.Context(), run.ID, after, limit+1)
	if err != nil {
		return fmt.Errorf("show run %d: steps: %w", run.ID, err)
	}
	var next *int64
	if len(steps) > limit {
		steps = steps[:limit]
		seq := steps[limit-1].Seq
		next = &seq
	}
	out := make([]stepView, 0, len(steps))
	for _, st := range steps {
		out = append(out, viewStep(st))
	}
	writeJSON(w, http.StatusOK, runDetailView{runView: viewRun(run), Steps: out, NextStepsAfter: next})
	return nil
}

// cancelRun cancels a run that has not finished; a finished run is
// answered unchanged.
func (s *server) cancelRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.lookupRun(r)
	if err != nil {
		return err
	}
	run, err = s.runner.Cancel(r.Context(), run.ID)
	if err != nil {
		return fmt.Errorf("cancel run: %w", err)
	}
	writeJSON(w, http.StatusOK, viewRun(run))
	return nil
}

// resubmitRequest is POST /runs/{id}/resubmit's optional body.
type resubmitRequest struct {
	// Version is latest (the default) or original.
	Version string `json:"version"`
	// From is trigger (the default) or failed.
	From string `json:"from"`
	// Force creates a new run even when one resubmitted from the same run
	// has not finished, or has already succeeded.
	Force bool `json:"force"`
}

// options checks the request's values and returns them as the engine's
// options; a bad value is a 400 that names the field.
func (q resubmitRequest) options() (engine.ResubmitOptions, error) {
	switch q.Version {
	case "", engine.VersionLatest, engine.VersionOriginal:
	default:
		return engine.ResubmitOptions{}, badRequest("version %q must be %s or %s", q.Version, engine.VersionLatest, engine.VersionOriginal)
	}
	switch q.From {
	case "", engine.FromTrigger, engine.FromFailed:
	default:
		return engine.ResubmitOptions{}, badRequest("from %q must be %s or %s", q.From, engine.FromTrigger, engine.FromFailed)
	}
	return engine.ResubmitOptions{Version: q.Version, From: q.From, Force: q.Force}, nil
}

// resubmitView is a resubmitted run; existing says it is a run already
// resubmitted from the same original that has not finished yet.
type resubmitView struct {
	runView
	Existing bool `json:"existing"`
}

// resubmitRun starts a new run of the run's flow with the same trigger
// input, on the latest version or the original one, from the trigger or
// from the failed step. While a resubmit of the same run has not finished
// it answers that run (200, existing) instead of a new one, and once one
// has succeeded it refuses (409 already_succeeded), unless force.
func (s *server) resubmitRun(w http.ResponseWriter, r *http.Request) error {
	var req resubmitRequest
	if err := decodeJSON(r, &req, true); err != nil {
		return err
	}
	opt, err := req.options()
	if err != nil {
		return err
	}
	run, err := s.lookupRun(r)
	if err != nil {
		return err
	}
	f, err := s.store.GetFlow(r.Context(), run.FlowID)
	if err != nil {
		return fmt.Errorf("resubmit run %d: flow %d: %w", run.ID, run.FlowID, err)
	}
	if !f.Enabled {
		return flowDisabled(f)
	}
	next, existing, err := s.runner.Resubmit(r.Context(), run, opt)
	if errors.Is(err, engine.ErrFlowDisabled) {
		return flowDisabled(f)
	}
	if err != nil {
		return fmt.Errorf("resubmit run %d: %w", run.ID, err)
	}
	status := http.StatusCreated
	if existing {
		status = http.StatusOK
	}
	writeJSON(w, status, resubmitView{runView: viewRun(next), Existing: existing})
	return nil
}
