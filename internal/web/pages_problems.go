package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/store"
)

// Bounds of the problem pages.
const (
	// problemDays is the window of the problem pages and of the bars.
	problemDays = 30
	// maxProblems caps the problem list.
	maxProblems = 100
	// maxProblemRuns caps the failures one problem page reads, and so the
	// runs its Resubmit takes.
	maxProblemRuns = 1000
)

// problemID is a problem's address: its flow, step and diagnosis code
// (a step id has no dot; a code may).
func problemID(p store.Problem) string {
	return fmt.Sprintf("%d.%s.%s", p.FlowID, p.Step, url.PathEscape(p.Code))
}

// problemsPage is the problem list.
type problemsPage struct {
	base
	Problems []store.Problem
	Days     int
}

// problems answers GET /problems: what keeps failing, grouped by flow,
// step and cause, over the last problemDays days. Queries: ListProblems
// (failed steps by steps_failed, joined to their runs and flows).
func (p *portal) problems(w http.ResponseWriter, r *http.Request, c *call) error {
	probs, err := p.st.ListProblems(r.Context(), store.ProblemFilter{OwnerID: scope(c.user), Since: p.now().Add(-problemDays * day), Limit: maxProblems})
	if err != nil {
		return fmt.Errorf("problems: %w", err)
	}
	p.render(w, http.StatusOK, "problems", problemsPage{base: c.base("Problems", "problems"), Problems: probs, Days: problemDays})
	return nil
}

// dayBar is one day of a problem's bar chart.
type dayBar struct {
	X, Y, H int
	Day     string
	Count   int
}

// problemPage is one problem.
type problemPage struct {
	base
	Problem store.Problem
	ID      string
	Bars    []dayBar
	// Max is the tallest bar's count.
	Max  int
	Days int
	// Failed counts the runs that failed this way and were not
	// resubmitted yet, which Resubmit takes; Capped says the count
	// stopped at maxBulk.
	Failed int
	Capped bool
}

// unresubmitted returns the runs of a problem that are failed and were
// never resubmitted, newest first, at most maxBulk: a run resubmitted
// before is represented by its newest resubmit (which is in the list if
// it failed this way too), so that no input runs twice. One probe of
// runs_resubmitted_from per failed run.
func (p *portal) unresubmitted(ctx context.Context, runs []store.ProblemRun) ([]int64, error) {
	var ids []int64
	for _, run := range runs {
		if run.Status != store.RunFailed {
			continue
		}
		again, err := p.st.ListRuns(ctx, store.RunFilter{ResubmittedFrom: run.RunID, Limit: 1})
		if err != nil {
			return nil, fmt.Errorf("problem: resubmits of run %d: %w", run.RunID, err)
		}
		if len(again) == 0 {
			ids = append(ids, run.RunID)
			if len(ids) == maxBulk {
				break
			}
		}
	}
	return ids, nil
}

// lookupProblem finds the problem of the path's id among the caller's.
func (p *portal) lookupProblem(r *http.Request, c *call) (store.Problem, []store.ProblemRun, error) {
	flowPart, rest, ok1 := strings.Cut(r.PathValue("id"), ".")
	step, code, ok2 := strings.Cut(rest, ".")
	flowID, err := strconv.ParseInt(flowPart, 10, 64)
	if !ok1 || !ok2 || err != nil || flowID < 1 {
		return store.Problem{}, nil, errNotFound
	}
	if code, err = url.PathUnescape(code); err != nil {
		return store.Problem{}, nil, errNotFound
	}
	ctx := r.Context()
	f, err := owned(ctx, c.user, flowID, p.st.GetFlow, func(f store.Flow) int64 { return f.OwnerID })
	if err != nil {
		return store.Problem{}, nil, err
	}
	since := p.now().Add(-problemDays * day)
	probs, err := p.st.ListProblems(ctx, store.ProblemFilter{FlowID: f.ID, Since: since, Limit: maxProblems})
	if err != nil {
		return store.Problem{}, nil, fmt.Errorf("problem: %w", err)
	}
	for _, pr := range probs {
		if pr.Step == step && pr.Code == code {
			runs, err := p.st.ListProblemRuns(ctx, store.ProblemRunFilter{FlowID: f.ID, Step: step, Code: code, Since: since, Limit: maxProblemRuns})
			if err != nil {
				return store.Problem{}, nil, fmt.Errorf("problem: %w", err)
			}
			return pr, runs, nil
		}
	}
	return store.Problem{}, nil, errNotFound
}

// bars draws a bar per day of the last days days, the oldest left, 8 px
// apart, 40 px tall at most.
func bars(runs []store.ProblemRun, now time.Time, days int) ([]dayBar, int) {
	today := now.UTC().Truncate(24 * time.Hour)
	counts := make([]int, days)
	for _, r := range runs {
		i := days - 1 - int(today.Sub(r.At.UTC().Truncate(24*time.Hour))/(24*time.Hour))
		if i >= 0 && i < days {
			counts[i]++
		}
	}
	most := 0
	for _, n := range counts {
		most = max(most, n)
	}
	out := make([]dayBar, days)
	for i, n := range counts {
		h := 0
		if n > 0 {
			h = max(2, n*40/most)
		}
		out[i] = dayBar{X: i * 8, Y: 40 - h, H: h, Count: n, Day: today.AddDate(0, 0, i-days+1).Format(time.DateOnly)}
	}
	return out, most
}

// problem answers GET /problems/{id}: a problem as one object (title,
// count, first and last seen, a bar per day) and Resubmit the runs that
// failed this way. Queries: ListProblems of the flow, ListProblemRuns
// (runs_flow).
func (p *portal) problem(w http.ResponseWriter, r *http.Request, c *call) error {
	pr, runs, err := p.lookupProblem(r, c)
	if err != nil {
		return err
	}
	v := problemPage{base: c.base(pr.Title, "problems"), Problem: pr, ID: problemID(pr), Days: problemDays}
	v.Bars, v.Max = bars(runs, p.now(), problemDays)
	ids, err := p.unresubmitted(r.Context(), runs)
	if err != nil {
		return err
	}
	v.Failed, v.Capped = len(ids), len(ids) == maxBulk
	p.render(w, http.StatusOK, "problem", v)
	return nil
}

// resubmitProblem answers POST /problems/{id}/resubmit: a bulk resubmit
// job of the problem's runs that are failed and not resubmitted yet (at
// most maxBulk, the newest).
func (p *portal) resubmitProblem(w http.ResponseWriter, r *http.Request, c *call) error {
	pr, runs, err := p.lookupProblem(r, c)
	if err != nil {
		return err
	}
	params := engine.JobParams{OwnerID: pr.OwnerID, FlowID: pr.FlowID, Status: store.RunFailed}
	if params.IDs, err = p.unresubmitted(r.Context(), runs); err != nil {
		return err
	}
	if len(params.IDs) == 0 {
		return pageErr(http.StatusConflict, "Nothing to resubmit", "Every run that failed this way was resubmitted already.")
	}
	return p.submitJob(w, r, c, store.JobResubmit, params)
}
