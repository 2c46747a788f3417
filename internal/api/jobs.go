package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/store"
)

// refValue is a flow or connection reference in a JSON body: a name, or
// an id given as a number or a string.
type refValue string

// UnmarshalJSON accepts a string or an integer. A null leaves v empty for
// decodeJSON to refuse; a number that is not an int64 is a type error that
// says so.
func (v *refValue) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*v = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*v = refValue(s)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Value == "number "+string(b) {
			return err
		}
		return &json.UnmarshalTypeError{Value: string(b), Type: reflect.TypeFor[string]()}
	}
	*v = refValue(strconv.FormatInt(n, 10))
	return nil
}

// runFilterRequest is the filter of a bulk resubmit or cancel. At least
// one field must be set, so that no request acts on every run by mistake.
type runFilterRequest struct {
	// Flow is a flow id, or the name of one of the caller's flows.
	Flow refValue `json:"flow"`
	// Status keeps runs with that status.
	Status string `json:"status"`
	// Since keeps runs created since then: a duration back from now
	// ("24h", "7d") or an RFC 3339 time.
	Since string `json:"since"`
	// Connection keeps failed runs with a step that failed authenticating
	// with that connection (id, or the name of one of the caller's).
	Connection refValue `json:"connection"`
	// IDs keeps only these runs.
	IDs []int64 `json:"ids"`
}

// bulkResubmitRequest is POST /runs/resubmit's body.
type bulkResubmitRequest struct {
	Filter  runFilterRequest `json:"filter"`
	Version string           `json:"version"`
	From    string           `json:"from"`
	Force   bool             `json:"force"`
}

// bulkCancelRequest is POST /runs/cancel's body.
type bulkCancelRequest struct {
	Filter runFilterRequest `json:"filter"`
}

// jobView is a bulk job as the API shows it.
type jobView struct {
	ID         int64           `json:"id"`
	OwnerID    int64           `json:"owner_id"`
	Kind       string          `json:"kind"`
	Status     string          `json:"status"`
	Params     json.RawMessage `json:"params"`
	Total      int             `json:"total"`
	Done       int             `json:"done"`
	Failed     int             `json:"failed"`
	Error      string          `json:"error"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
	FinishedAt *time.Time      `json:"finished_at"`
}

func viewJob(j store.Job) jobView {
	return jobView{
		ID: j.ID, OwnerID: j.OwnerID, Kind: j.Kind, Status: j.Status, Params: rawOrNull(j.Params),
		Total: j.Total, Done: j.Done, Failed: j.Failed, Error: j.Error,
		CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, FinishedAt: j.FinishedAt,
	}
}

// bulkResubmit queues a job that resubmits every run the filter keeps.
func (s *server) bulkResubmit(w http.ResponseWriter, r *http.Request) error {
	var req bulkResubmitRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	opt, err := resubmitRequest{Version: req.Version, From: req.From, Force: req.Force}.options()
	if err != nil {
		return err
	}
	p, err := s.jobParams(r.Context(), caller(r), req.Filter, time.Now())
	if err != nil {
		return err
	}
	p.Resubmit = opt
	return s.submitJob(w, r, store.JobResubmit, p)
}

// bulkCancel queues a job that cancels every run the filter keeps.
func (s *server) bulkCancel(w http.ResponseWriter, r *http.Request) error {
	var req bulkCancelRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	p, err := s.jobParams(r.Context(), caller(r), req.Filter, time.Now())
	if err != nil {
		return err
	}
	return s.submitJob(w, r, store.JobCancel, p)
}

// submitJob queues the job for the caller and answers 202 with it.
func (s *server) submitJob(w http.ResponseWriter, r *http.Request, kind string, p engine.JobParams) error {
	u := caller(r)
	j, err := s.runner.SubmitJob(r.Context(), u.ID, kind, p)
	if err != nil {
		return fmt.Errorf("submit %s job: %w", kind, err)
	}
	writeJSON(w, http.StatusAccepted, viewJob(j))
	return nil
}

// jobParams checks a bulk filter and turns it into job parameters. A
// maker's job only ever sees their own runs; an admin's sees everyone's,
// except that a connection filter narrows it to the connection's owner.
func (s *server) jobParams(ctx context.Context, u store.User, f runFilterRequest, now time.Time) (engine.JobParams, error) {
	var p engine.JobParams
	if !isAdmin(u) {
		p.OwnerID = u.ID
	}
	if f.Flow == "" && f.Status == "" && f.Since == "" && f.Connection == "" && len(f.IDs) == 0 {
		return p, badRequest("filter must narrow the runs: give at least one of filter.flow, filter.status, filter.since, filter.connection, filter.ids")
	}
	if f.Status != "" {
		if !slices.Contains(runStatuses, f.Status) {
			return p, badRequest("filter.status %q is not one of %v", f.Status, runStatuses)
		}
		p.Status = f.Status
	}
	if f.Since != "" {
		since, err := store.ParseSince(f.Since, now)
		if err != nil {
			return p, badRequest("filter.since: %v", err)
		}
		p.Since = since
	}
	for _, id := range f.IDs {
		if id <= 0 {
			return p, badRequest("filter.ids: %d is not a run id", id)
		}
	}
	p.IDs = f.IDs
	if f.Flow != "" {
		fl, err := s.lookupFlow(ctx, u, string(f.Flow))
		if err != nil {
			return p, err
		}
		p.FlowID = fl.ID
	}
	if f.Connection != "" {
		c, err := s.connectionForJob(ctx, u, string(f.Connection))
		if err != nil {
			return p, err
		}
		p.OwnerID, p.Connection = c.OwnerID, c.Name
	}
	return p, nil
}

// connectionForJob resolves a bulk filter's connection. A maker names
// one of their own; an admin may also name another user's connection by
// id, or by name when only one user has a connection with that name.
func (s *server) connectionForJob(ctx context.Context, u store.User, ref string) (store.Connection, error) {
	c, err := s.lookupConnection(ctx, u, ref)
	var apiErr *Error
	if !isAdmin(u) || err == nil || !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		return c, err
	}
	if _, perr := strconv.ParseInt(ref, 10, 64); perr == nil {
		return c, err
	}
	all, lerr := s.store.ListConnections(ctx, 0)
	if lerr != nil {
		return store.Connection{}, fmt.Errorf("look up connection %q: %w", ref, lerr)
	}
	var found []store.Connection
	for _, cand := range all {
		if cand.Name == ref {
			found = append(found, cand)
		}
	}
	switch len(found) {
	case 0:
		return store.Connection{}, err
	case 1:
		return found[0], nil
	default:
		return store.Connection{}, badRequest("filter.connection: %d users have a connection named %q: give its id", len(found), ref)
	}
}

// showJob answers a bulk job and its progress, to its owner or an admin.
func (s *server) showJob(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	u := caller(r)
	j, err := s.store.GetJob(r.Context(), id)
	if err == nil && !isAdmin(u) && j.OwnerID != u.ID {
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) {
		return notFound("job %d not found", id)
	}
	if err != nil {
		return fmt.Errorf("show job %d: %w", id, err)
	}
	writeJSON(w, http.StatusOK, viewJob(j))
	return nil
}
