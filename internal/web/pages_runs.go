package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/sluice/sluice/internal/diagnose"
	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/notify"
	"github.com/sluice/sluice/internal/store"
)

// timelineStep is one step of the run page's timeline.
type timelineStep struct {
	store.Step
	// Message is the error's message; HTTPStatus its answer's status.
	Message    string
	HTTPStatus int
	// RootCause marks the step the diagnosis is about: it is open and red.
	RootCause bool
	Failed    bool
	// Tries are the step's logged attempts, oldest first.
	Tries []attemptRow
}

// attemptRow is one attempt in a step's table of attempts.
type attemptRow struct {
	store.StepAttempt
	// Took is how long the attempt took, in words.
	Took string
}

// attemptRows are a step's logged attempts as the run page lists them.
func attemptRows(log []store.StepAttempt) []attemptRow {
	out := make([]attemptRow, 0, len(log))
	for _, a := range log {
		out = append(out, attemptRow{StepAttempt: a, Took: duration(&a.StartedAt, &a.FinishedAt)})
	}
	return out
}

// runPageView is the run page.
type runPageView struct {
	base
	Run  store.Run
	Flow store.Flow
	// Steps are the first maxPageSteps steps; MoreAfter, when not 0, says
	// more follow.
	Steps     []timelineStep
	MoreAfter int64
	// Failure is the root cause's diagnosis, nil for a run that did not
	// fail.
	Failure *notify.Failure
	// ConnectionLink is the Fix connection button's address.
	ConnectionLink string
	// SignIn says the connection is fixed by signing in (an OAuth2
	// authorization-code connection): the button says so, "Sign in again"
	// when SignedInBefore (someone signed in once), as on its page.
	SignIn, SignedInBefore bool
	EditFlow               bool
	Resubmit               bool
	// Resubmits are the runs resubmitted from this one, newest first;
	// Succeeded is the newest of them that succeeded, if any.
	Resubmits []store.Run
	Succeeded *store.Run
}

// stepErrorText is the part of a stored step error the timeline shows.
type stepErrorText struct {
	Message string `json:"message"`
	Status  int    `json:"status"`
}

// lookupRun returns the run of the path's id that the caller owns.
func (p *portal) lookupRun(r *http.Request, c *call) (store.Run, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return store.Run{}, err
	}
	return owned(r.Context(), c.user, id, p.st.GetRun, func(run store.Run) int64 { return run.OwnerID })
}

// maxResubmitsShown caps the resubmitted runs the run page lists.
const maxResubmitsShown = 10

// runView builds the run page. Queries: GetRun, GetFlow, ListStepsAfter
// (steps_seq), the run's failures a page at a time (steps_seq), ListRuns
// by resubmitted_from (runs_resubmitted_from), and GetConnectionByName.
func (p *portal) runView(r *http.Request, c *call, run store.Run) (runPageView, error) {
	ctx := r.Context()
	f, err := p.st.GetFlow(ctx, run.FlowID)
	if errors.Is(err, store.ErrNotFound) {
		return runPageView{}, errNotFound
	} else if err != nil {
		return runPageView{}, fmt.Errorf("run %d: %w", run.ID, err)
	}
	v := runPageView{base: c.base(fmt.Sprintf("Run %d of %s", run.ID, f.Name), "runs"), Run: run, Flow: f}
	steps, err := p.st.ListStepsAfter(ctx, run.ID, 0, maxPageSteps+1)
	if err != nil {
		return runPageView{}, fmt.Errorf("run %d: %w", run.ID, err)
	}
	if len(steps) > maxPageSteps {
		steps = steps[:maxPageSteps]
		v.MoreAfter = steps[maxPageSteps-1].Seq
	}
	if run.Status == store.RunFailed {
		fails, _, err := notify.RunFailures(ctx, p.st, run.ID)
		if err != nil {
			return runPageView{}, err
		}
		if len(fails) > 0 {
			// The root cause is the last failed step, as in the emails.
			f := fails[len(fails)-1]
			v.Failure = &f
			v.EditFlow = slices.Contains(f.Actions, diagnose.ActionEditFlow) || len(f.Actions) == 0
			v.Resubmit = true
			if slices.Contains(f.Actions, diagnose.ActionFixConnection) && f.Connection != "" {
				v.ConnectionLink = "/connections/" + urlPath(f.Connection)
				if cn, err := p.st.GetConnectionByName(ctx, run.OwnerID, f.Connection); err == nil {
					v.ConnectionLink = "/connections/" + strconv.FormatInt(cn.ID, 10) + "/fix"
					if p.cfg.Connections != nil {
						if ok, _ := p.cfg.Connections.SignsIn(cn); ok {
							// Its page has the Sign in again button.
							v.ConnectionLink, v.SignIn = "/connections/"+strconv.FormatInt(cn.ID, 10), true
							v.SignedInBefore = cn.HealthAt != nil
						}
					}
				}
			}
		}
	}
	v.Resubmit = v.Resubmit || store.RunFinished(run.Status)
	for _, s := range steps {
		ts := timelineStep{Step: s, Failed: notify.StepFailed(s.Status), Tries: attemptRows(s.AttemptLog)}
		if len(s.Error) > 0 {
			var e stepErrorText
			_ = json.Unmarshal(s.Error, &e)
			ts.Message, ts.HTTPStatus = e.Message, e.Status
		}
		ts.RootCause = v.Failure != nil && s.Key == v.Failure.Key
		v.Steps = append(v.Steps, ts)
	}
	if v.Resubmits, err = p.st.ListRuns(ctx, store.RunFilter{ResubmittedFrom: run.ID, Limit: maxResubmitsShown}); err != nil {
		return runPageView{}, fmt.Errorf("run %d: resubmits: %w", run.ID, err)
	}
	for i := range v.Resubmits {
		if v.Resubmits[i].Status == store.RunSucceeded {
			v.Succeeded = &v.Resubmits[i]
			break
		}
	}
	return v, nil
}

// run answers GET /runs/{id}: why the run failed, first.
func (p *portal) run(w http.ResponseWriter, r *http.Request, c *call) error {
	run, err := p.lookupRun(r, c)
	if err != nil {
		return err
	}
	v, err := p.runView(r, c, run)
	if err != nil {
		return err
	}
	p.render(w, http.StatusOK, "run", v)
	return nil
}

// confirmPage asks again before resubmitting a run whose resubmit
// already succeeded.
type confirmPage struct {
	base
	Run       store.Run
	Succeeded store.Run
	Version   string
	From      string
}

// resubmit answers POST /runs/{id}/resubmit (version latest|original,
// from trigger|failed) through the engine's resubmit, as the API does,
// and goes to the new run. When a run resubmitted from this one already
// succeeded, it asks again first, unless the form says again=1.
func (p *portal) resubmit(w http.ResponseWriter, r *http.Request, c *call) error {
	run, err := p.lookupRun(r, c)
	if err != nil {
		return err
	}
	opt := engine.ResubmitOptions{Version: r.PostFormValue("version"), From: r.PostFormValue("from")}
	if err := opt.Validate(); err != nil {
		return pageErr(http.StatusBadRequest, "This resubmit cannot be done", "The form asked for "+err.Error()+". Go back and choose from the buttons.")
	}
	// The engine refuses a run whose resubmission already succeeded unless
	// asked again: the page asks that second question.
	opt.Again = r.PostFormValue("again") == "1"
	nr, _, err := p.cfg.Runner.Resubmit(r.Context(), run, opt)
	var done *engine.AlreadySucceededError
	if errors.As(err, &done) {
		p.render(w, http.StatusConflict, "confirm", confirmPage{base: c.base(fmt.Sprintf("Resubmit run %d again?", run.ID), "runs"),
			Run: run, Succeeded: done.Succeeded, Version: opt.Version, From: opt.From})
		return nil
	}
	if errors.Is(err, engine.ErrFlowDisabled) {
		return pageErr(http.StatusConflict, "The flow is turned off",
			fmt.Sprintf("Run %d cannot run again while its flow is off. Turn the flow on from its page, then resubmit.", run.ID))
	}
	if err != nil {
		return fmt.Errorf("resubmit run %d: %w", run.ID, err)
	}
	p.log.Info("run resubmitted from the portal", "run", run.ID, "new_run", nr.ID, "user", c.user.ID)
	http.Redirect(w, r, fmt.Sprintf("/runs/%d", nr.ID), http.StatusSeeOther)
	return nil
}
