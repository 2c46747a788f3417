package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// Resubmit versions and starting points.
const (
	VersionLatest   = "latest"
	VersionOriginal = "original"
	FromTrigger     = "trigger"
	FromFailed      = "failed"
)

// ErrFlowDisabled is returned when a run of a disabled flow is asked for.
var ErrFlowDisabled = errors.New("flow is turned off")

// ResubmitOptions say how a run is resubmitted.
type ResubmitOptions struct {
	// Version is latest (the default) or original.
	Version string `json:"version,omitempty"`
	// From is trigger (the default: every step runs again) or failed
	// (the steps that succeeded are reused and the run resumes at the
	// failed step).
	From string `json:"from,omitempty"`
	// Force creates a new run even when one resubmitted from the same
	// original has not finished yet, or has already succeeded (Again).
	Force bool `json:"force,omitempty"`
	// Again creates a new run even when one resubmitted from the same
	// original has already succeeded, which would otherwise be refused
	// with an *AlreadySucceededError: running a flow again may repeat its
	// effects (a second invoice, a second POST).
	Again bool `json:"again,omitempty"`
}

// Validate checks the options' values.
func (o ResubmitOptions) Validate() error {
	switch o.Version {
	case "", VersionLatest, VersionOriginal:
	default:
		return fmt.Errorf("version %q must be latest or original", o.Version)
	}
	switch o.From {
	case "", FromTrigger, FromFailed:
	default:
		return fmt.Errorf("from %q must be trigger or failed", o.From)
	}
	return nil
}

// AlreadySucceededError refuses to resubmit a run whose resubmission
// already succeeded, unless asked again (ResubmitOptions.Again or Force).
type AlreadySucceededError struct {
	// RunID is the run asked to be resubmitted; Succeeded is its
	// resubmission that succeeded.
	RunID     int64
	Succeeded store.Run
}

// Error says which run already succeeded.
func (e *AlreadySucceededError) Error() string {
	return fmt.Sprintf("run %d was already resubmitted as run %d, which succeeded", e.RunID, e.Succeeded.ID)
}

// Resubmit starts a run of the original run's flow with the same trigger
// input. It reports whether it returned a run already resubmitted from
// the same original (two resubmits at once yield one run unless Force).
// A run whose resubmission already succeeded is not resubmitted again
// unless opt says so (Again or Force): it returns an
// *AlreadySucceededError.
func (e *Engine) Resubmit(ctx context.Context, orig store.Run, opt ResubmitOptions) (store.Run, bool, error) {
	if err := opt.Validate(); err != nil {
		return store.Run{}, false, err
	}
	f, err := e.st.GetFlow(ctx, orig.FlowID)
	if err != nil {
		return store.Run{}, false, fmt.Errorf("resubmit run %d: %w", orig.ID, err)
	}
	if !f.Enabled {
		return store.Run{}, false, fmt.Errorf("resubmit run %d: flow %q: %w", orig.ID, f.Name, ErrFlowDisabled)
	}
	if !opt.Force && !opt.Again {
		ok, err := store.SucceededResubmit(ctx, e.st, orig.ID)
		if err == nil {
			return store.Run{}, false, &AlreadySucceededError{RunID: orig.ID, Succeeded: ok}
		}
		if !errors.Is(err, store.ErrNotFound) {
			return store.Run{}, false, err
		}
	}
	version := f.Version
	if opt.Version == VersionOriginal {
		version = orig.FlowVersion
	}
	from := orig.ID
	nr := store.NewRun{
		FlowID: f.ID, FlowVersion: version, TriggerType: "resubmit", Input: orig.Input, ResubmittedFrom: &from,
		CopySucceeded: opt.From == FromFailed, Dedupe: !opt.Force,
	}
	r, existing, _, err := e.admit(ctx, nr, nil, e.st.ResubmitRun, nil)
	return r, existing, err
}

// JobParams are a bulk job's filter and options, stored with the job.
type JobParams struct {
	// OwnerID limits the job to one owner's runs; 0 (admins) means all.
	OwnerID int64  `json:"owner_id,omitempty"`
	FlowID  int64  `json:"flow_id,omitempty"`
	Status  string `json:"status,omitempty"`
	// Since keeps runs created at or after it.
	Since time.Time `json:"since,omitzero"`
	// Connection keeps failed runs with a step that failed authenticating
	// with that connection (of OwnerID's).
	Connection string  `json:"connection,omitempty"`
	IDs        []int64 `json:"ids,omitempty"`
	// Resubmit options, for resubmit jobs.
	Resubmit ResubmitOptions `json:"resubmit,omitzero"`
}

// filter turns the params into a run filter over the runs that existed
// when the job was created, so that the runs a job creates never feed it.
func (p JobParams) filter(j store.Job) store.RunFilter {
	return store.RunFilter{
		OwnerID: p.OwnerID, FlowID: p.FlowID, Status: p.Status, Since: p.Since, Until: j.CreatedAt.Add(time.Nanosecond),
		IDs: p.IDs, FailedOnConnection: p.Connection,
	}
}

// SubmitJob queues a bulk resubmit or cancel, to be worked in the
// background by any node.
func (e *Engine) SubmitJob(ctx context.Context, ownerID int64, kind string, p JobParams) (store.Job, error) {
	if kind != store.JobResubmit && kind != store.JobCancel {
		return store.Job{}, fmt.Errorf("job kind %q must be resubmit or cancel", kind)
	}
	if err := p.Resubmit.Validate(); err != nil {
		return store.Job{}, err
	}
	params, err := json.Marshal(p)
	if err != nil {
		return store.Job{}, fmt.Errorf("encode job: %w", err)
	}
	j, err := e.st.CreateJob(ctx, store.Job{OwnerID: ownerID, Kind: kind, Params: params})
	if err != nil {
		return store.Job{}, err
	}
	select {
	case e.jobWake <- struct{}{}:
	default:
	}
	return j, nil
}

// jobPage is how many runs a job handles between progress commits.
const jobPage = 200

// jobLoop works bulk jobs one at a time.
func (e *Engine) jobLoop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-e.jobWake:
		}
		for ctx.Err() == nil {
			j, err := e.st.ClaimJob(ctx, e.owner, time.Now(), time.Now().Add(e.cfg.Lease))
			if errors.Is(err, store.ErrNotFound) {
				break
			}
			if err != nil {
				if ctx.Err() == nil {
					e.log.Error("claim job", "err", err)
				}
				break
			}
			if err := e.workJob(ctx, j); err != nil && ctx.Err() == nil {
				e.log.Error("job", "job_id", j.ID, "kind", j.Kind, "err", err)
			}
		}
		t.Reset(time.Second)
	}
}

// workJob walks the job's runs by id from its cursor, a page at a time,
// committing progress after each page so that a restart resumes it.
func (e *Engine) workJob(ctx context.Context, j store.Job) error {
	var p JobParams
	if err := json.Unmarshal(j.Params, &p); err != nil {
		return e.st.UpdateJob(ctx, e.owner, j.ID, store.JobProgress{Status: store.JobFailed, Error: "bad job parameters: " + err.Error()}, time.Now())
	}
	rf := p.filter(j)
	if p.Connection != "" {
		c, err := e.st.GetConnectionByName(ctx, p.OwnerID, p.Connection)
		if err != nil {
			return e.st.UpdateJob(ctx, e.owner, j.ID, store.JobProgress{Status: store.JobFailed, Error: fmt.Sprintf("connection %q: %v", p.Connection, err)}, time.Now())
		}
		// The runs that failed because the connection broke, not earlier
		// failures it may have had before a previous fix.
		if c.BrokenAt != nil && c.BrokenAt.After(rf.Since) {
			rf.Since = c.BrokenAt.Add(-time.Minute)
		}
	}
	prog := store.JobProgress{Cursor: j.Cursor, Total: j.Total, Done: j.Done, Failed: j.Failed}
	if prog.Cursor == 0 {
		n, err := e.st.CountRuns(ctx, rf)
		if err != nil {
			return err
		}
		prog.Total = n
	}
	for {
		page := rf
		page.AfterID, page.Oldest, page.Limit = prog.Cursor, true, jobPage
		runs, err := e.st.ListRuns(ctx, page)
		if err != nil {
			return err
		}
		for _, r := range runs {
			if err := e.jobStep(ctx, j.Kind, r, p); err != nil {
				prog.Failed++
				e.log.Info("bulk job skipped a run", "job_id", j.ID, "run_id", r.ID, "reason", err)
			} else {
				prog.Done++
			}
			prog.Cursor = r.ID
		}
		if len(runs) < jobPage {
			prog.Status = store.JobSucceeded
		}
		if err := e.st.UpdateJob(ctx, e.owner, j.ID, prog, time.Now().Add(e.cfg.Lease)); err != nil {
			return err
		}
		if prog.Status != "" {
			return nil
		}
	}
}

// jobStep resubmits or cancels one run of a job.
func (e *Engine) jobStep(ctx context.Context, kind string, r store.Run, p JobParams) error {
	if kind == store.JobCancel {
		_, err := e.Cancel(ctx, r.ID)
		return err
	}
	_, _, err := e.Resubmit(ctx, r, p.Resubmit)
	return err
}
