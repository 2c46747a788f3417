package notify

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/sluice/sluice/internal/diagnose"
	"github.com/sluice/sluice/internal/store"
)

// Failure is what Sluice tells people about one failed step: which step,
// which connection, and its diagnosis. It holds nothing of the step's
// input or output, so it is safe to put in an email or on a page reached
// by a link.
type Failure struct {
	// Step is the action id; Key is the step's key in the run (they
	// differ inside a foreach, such as "loop[3].send").
	Step, Key string
	// Status is the step's status: failed or timed_out.
	Status string
	// Connection names the connection the step used, if any.
	Connection string
	// HTTPStatus is the status code the other side answered, if any.
	HTTPStatus int
	// Class, Code, Title, WhatHappened and HowToFix come from the
	// diagnosis; a step without one gets a generic explanation.
	Class, Code, Title, WhatHappened, HowToFix string
	// Actions are the diagnosis's suggested next steps.
	Actions []string
	// Article names the help article that explains the failure.
	Article string
	// Consequence is empty for the run's root cause, and otherwise says
	// why this failure follows from it (store.ConsequenceContainer).
	Consequence string
}

// stepError is the part of a stored step error that is safe to show. The
// raw response headers and body are deliberately not read.
type stepError struct {
	Kind       string              `json:"kind"`
	Connection string              `json:"connection"`
	Status     int                 `json:"status"`
	Diagnosis  *diagnose.Diagnosis `json:"diagnosis"`
	// Consequence is store.ConsequenceContainer and the like.
	Consequence string `json:"consequence"`
}

// StepFailed reports whether a step status is a failure (store.StepFailed).
func StepFailed(status string) bool { return store.StepFailed(status) }

// failurePage is how many steps RunFailures reads at a time.
const failurePage = 1000

// RunFailures returns the failed steps of a run, in the order they were
// recorded, with their diagnoses, and whether the run has any step. It
// reads the steps a page at a time, so that a run with 100,000 steps is
// never held in memory whole.
func RunFailures(ctx context.Context, st store.Store, runID int64) (fails []Failure, anySteps bool, err error) {
	for after := int64(0); ; {
		steps, err := st.ListStepsAfter(ctx, runID, after, failurePage)
		if err != nil {
			return nil, false, fmt.Errorf("failed steps of run %d: %w", runID, err)
		}
		anySteps = anySteps || len(steps) > 0
		fails = append(fails, Failures(steps)...)
		if len(steps) < failurePage {
			return fails, anySteps, nil
		}
		after = steps[len(steps)-1].Seq
	}
}

// Failures returns the failed steps of a run, in the order they were
// recorded, with their diagnoses.
func Failures(steps []store.Step) []Failure {
	var out []Failure
	for _, s := range steps {
		if !StepFailed(s.Status) {
			continue
		}
		out = append(out, failureOf(s))
	}
	return out
}

func failureOf(s store.Step) Failure {
	f := Failure{Step: s.ActionID, Key: s.Key, Status: s.Status}
	if f.Step == "" {
		f.Step = s.Key
	}
	var e stepError
	if len(s.Error) > 0 {
		// A step error that does not decode still gets the generic text.
		_ = json.Unmarshal(s.Error, &e)
	}
	f.Connection, f.HTTPStatus, f.Consequence = e.Connection, e.Status, e.Consequence
	if d := e.Diagnosis; d != nil && d.Code != "" {
		f.Class, f.Code, f.Title, f.WhatHappened, f.HowToFix, f.Actions = d.Class, d.Code, d.Title, d.WhatHappened, d.HowToFix, d.Actions
		// A diagnosis recorded before diagnoses named their article gets
		// it from the same function.
		f.Article = cmp.Or(d.Article, diagnose.ArticleFor(d.Code, d.Class))
		return f
	}
	kind := e.Kind
	if kind == "" {
		kind = "unknown"
	}
	if s.Status == "timed_out" {
		kind = "timeout"
	}
	f.Class, f.Code, f.Article = "flow", "step."+kind, diagnose.ArticleFor("", "flow")
	f.Title = "Step " + f.Step + " failed"
	f.WhatHappened = "Step " + f.Step + " failed (" + strings.ReplaceAll(kind, "_", " ") + ") and Sluice has no diagnosis for it."
	f.HowToFix = "Open the run, read the error of step " + f.Step + ", fix the flow or its connection, then resubmit the run."
	return f
}

// RootCause splits a failed run's failures, in recorded order, into its
// root cause and the failures that are its consequences (see
// store.ConsequenceContainer). A run with no failed step has the run
// itself as its root cause.
func RootCause(fails []Failure) (root Failure, consequences []Failure) {
	i := slices.IndexFunc(fails, func(f Failure) bool { return f.Consequence == "" })
	switch {
	case len(fails) == 0:
		return runFailure(), nil
	case i < 0:
		i = 0 // recorded before consequences were marked
	}
	return fails[i], append(slices.Clip(fails[:i]), fails[i+1:]...)
}

// runFailure stands for a failed run with no failed step, such as one
// stopped by the engine before any step ran.
func runFailure() Failure {
	return Failure{
		Step: "run", Key: "run", Status: store.RunFailed, Class: "flow", Code: "run.failed",
		Title:        "The run failed",
		WhatHappened: "The run ended as failed before any step reported an error.",
		HowToFix:     "Open the run to see where it stopped, fix the flow, then resubmit the run.",
	}
}
