// Package flow defines a flow's definition (a trigger followed by actions),
// parses it from YAML or JSON, and checks it, reporting every problem with
// the path of the field at fault so that a maker can fix a flow before it is
// saved.
package flow

import (
	"encoding/json"
	"fmt"
	"time"
)

// Trigger types.
const (
	TriggerManual   = "manual"
	TriggerWebhook  = "webhook"
	TriggerSchedule = "schedule"
)

// Action types.
const (
	ActionHTTP      = "http"
	ActionEmail     = "email"
	ActionCompose   = "compose"
	ActionCondition = "condition"
	ActionForeach   = "foreach"
	ActionDelay     = "delay"
	ActionTerminate = "terminate"
	ActionRespond   = "respond"
	ActionScope     = "scope"
)

// Step statuses that run_after can test, and that a finished step records.
const (
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusSkipped   = "skipped"
	StatusTimedOut  = "timed_out"
	StatusCancelled = "cancelled"
)

// Retry policies.
const (
	RetryNone        = "none"
	RetryFixed       = "fixed"
	RetryExponential = "exponential"
)

// Definition is one version of a flow: a trigger and the actions it runs.
// It is stored as canonical JSON (see json.Marshal on it) next to the text
// the maker wrote.
type Definition struct {
	// Name names the flow; it is unique per owner.
	Name string `json:"name"`
	// Description says what the flow is for.
	Description string `json:"description,omitempty"`
	// Trigger starts a run.
	Trigger Trigger `json:"trigger"`
	// Actions run in order, each after the previous one succeeded unless
	// its RunAfter says otherwise.
	Actions []*Action `json:"actions"`
}

// Trigger says what starts a run of a flow.
type Trigger struct {
	// Type is manual, webhook or schedule.
	Type string `json:"type"`
	// Cron is a schedule trigger's cron expression: five fields, or six with
	// seconds first.
	Cron string `json:"cron,omitempty"`
	// Every is a schedule trigger's fixed interval, such as 5m.
	Every Duration `json:"every,omitempty"`
	// Timezone is the IANA zone a cron expression is read in. Defaults to UTC.
	Timezone string `json:"timezone,omitempty"`
}

// Action is one step of a flow.
type Action struct {
	// ID names the action; it is unique in the whole flow and is how
	// expressions reach its result (steps.<id>).
	ID string `json:"id"`
	// Type is one of the Action* constants.
	Type string `json:"type"`
	// Description says what the action is for.
	Description string `json:"description,omitempty"`
	// Connection names a stored credential used by http and email actions.
	Connection string `json:"connection,omitempty"`
	// With holds the action's inputs; strings may hold {{ }} templates.
	With map[string]any `json:"with,omitempty"`
	// RunAfter maps earlier sibling action ids to the statuses that let this
	// action run. Empty means: after the previous sibling succeeded.
	RunAfter map[string][]string `json:"run_after,omitempty"`
	// Retry says how a transient or throttled failure is retried.
	Retry *Retry `json:"retry,omitempty"`
	// Timeout bounds one attempt of the action. Zero means the default.
	Timeout Duration `json:"timeout,omitempty"`
	// If is a condition action's test, a {{ }} template.
	If string `json:"if,omitempty"`
	// Then runs when a condition's test is true.
	Then []*Action `json:"then,omitempty"`
	// Else runs when a condition's test is false.
	Else []*Action `json:"else,omitempty"`
	// Foreach is a foreach action's list, a {{ }} template.
	Foreach string `json:"foreach,omitempty"`
	// Concurrency is how many foreach iterations run at once. Defaults to 1.
	Concurrency int `json:"concurrency,omitempty"`
	// Actions is the body of a scope or a foreach.
	Actions []*Action `json:"actions,omitempty"`
}

// Retry is an action's retry policy.
type Retry struct {
	// Policy is none, fixed or exponential. Defaults to exponential.
	Policy string `json:"policy,omitempty"`
	// Count is the number of retries after the first attempt. Defaults to 4.
	Count *int `json:"count,omitempty"`
	// Interval is the wait before the first retry. Defaults to 2s.
	Interval Duration `json:"interval,omitempty"`
	// MaxInterval caps the wait between retries. Defaults to 1h.
	MaxInterval Duration `json:"max_interval,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("7s", "5m",
// "1h30m") in definitions.
type Duration time.Duration

// MarshalJSON writes the duration as a string such as "7s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string such as "7s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"5s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Problem is one thing wrong with a definition.
type Problem struct {
	// Path is where the problem is, such as actions[2].with.to.
	Path string `json:"path"`
	// Message says what is wrong and, where it can, how to fix it.
	Message string `json:"message"`
	// Line and Column locate the problem in the source text (1-based), when
	// known.
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
}

// String formats the problem as "path: message" with the line when known.
func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s (line %d): %s", p.Path, p.Line, p.Message)
	}
	return fmt.Sprintf("%s: %s", p.Path, p.Message)
}

// Walk calls fn for every action in the definition, depth first, including
// the actions nested in conditions, scopes and foreach bodies.
func (d *Definition) Walk(fn func(a *Action)) {
	var walk func([]*Action)
	walk = func(list []*Action) {
		for _, a := range list {
			fn(a)
			walk(a.Then)
			walk(a.Else)
			walk(a.Actions)
		}
	}
	walk(d.Actions)
}

// Handles reports whether the action is a handler: its run_after lets it
// run after a sibling failed or timed out, as a catch or a finally does.
// A handler's own failure is a consequence, never a run's root cause
// (see store.ConsequenceHandler).
func (a *Action) Handles() bool {
	for _, want := range a.RunAfter {
		for _, w := range want {
			if w == StatusFailed || w == StatusTimedOut {
				return true
			}
		}
	}
	return false
}

// HasRespond reports whether any action of the definition is a respond
// action, in which case a webhook waits for it before answering.
func (d *Definition) HasRespond() bool {
	found := false
	d.Walk(func(a *Action) {
		if a.Type == ActionRespond {
			found = true
		}
	})
	return found
}
