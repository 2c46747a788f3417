// Package diagnose explains why a step failed and what its owner can do
// about it. It reads what the failed step recorded (the kind of failure,
// the status code, the headers and the body of the answer, or the message
// of a network or expression error) and matches it against a catalog of
// known error signatures: documented errors of widely used APIs, generic
// HTTP and network failures, and the engine's own failures.
//
// The status code alone is not enough: APIs report a revoked token with a
// 200 (Slack), rate limits with a 403 (GitHub, Google) or a 400 (AWS), and
// a missing record with a 404 that the owner fixes in their data (Microsoft
// Graph's manager lookup). The catalog therefore matches on the host, the
// status, the headers and the body together.
//
// The catalog is data embedded in the binary (catalog/*.json); admins add
// their own entries with Catalog.Load, which win over the built-in ones.
package diagnose

import (
	"time"
)

// Classes of failure. The class decides what the engine does: transient
// and throttled failures are retried by the action's policy, the others
// fail at once.
const (
	// ClassAuth means the credentials were refused: a wrong, expired or
	// revoked token, or an account without the permission needed.
	ClassAuth = "auth"
	// ClassConfig means the request or its data is wrong: a bad URL, a
	// missing record, an invalid field. Retrying the same request fails again.
	ClassConfig = "config"
	// ClassThrottled means the other side asked to slow down.
	ClassThrottled = "throttled"
	// ClassTransient means a temporary failure: a server error, a timeout,
	// a broken connection. The same request may succeed later.
	ClassTransient = "transient"
	// ClassFlow means the flow itself failed: an expression error, a
	// terminate action, a payload over the cap.
	ClassFlow = "flow"
)

// Suggested actions, shown as buttons and links next to a diagnosis.
const (
	// ActionFixConnection suggests opening the connection to update or
	// re-authorize its credentials.
	ActionFixConnection = "fix_connection"
	// ActionEditFlow suggests changing the flow definition.
	ActionEditFlow = "edit_flow"
	// ActionResubmit suggests running the failed run again with the same input.
	ActionResubmit = "resubmit"
	// ActionWait suggests waiting before trying again.
	ActionWait = "wait"
)

// Kinds of step error, as recorded by the engine (engine.StepError.Kind).
const (
	// KindHTTP is an answer with an error status (or an error body).
	KindHTTP = "http"
	// KindNetwork is a request that got no answer: refused, reset, DNS.
	KindNetwork = "network"
	// KindTimeout is a request or step that ran out of time.
	KindTimeout = "timeout"
	// KindExpression is a {{ }} expression that failed to evaluate.
	KindExpression = "expression"
	// KindConfig is a step whose settings are invalid, or a refused address.
	KindConfig = "config"
	// KindPayload is data over the per-step cap, or unreadable.
	KindPayload = "payload"
	// KindFlow is any other failure inside the flow.
	KindFlow = "flow"
	// KindTerminate is a terminate action that failed the run on purpose.
	KindTerminate = "terminate"
)

// Input is what a failed step recorded, plus the names a tip should
// mention. Every field is optional; the more is given, the more specific
// the diagnosis.
type Input struct {
	// Kind is the engine's kind of failure: http, network, timeout,
	// expression, config, payload, flow or terminate. Empty means http when
	// Status is set.
	Kind string
	// Status is the HTTP status code of the answer, 0 when there was none.
	Status int
	// Headers are the answer's headers, one value each. Names are matched
	// without regard to case.
	Headers map[string]string
	// Body is the answer's body as the engine decoded it: a JSON value
	// (map[string]any, []any, string, float64, bool) or the raw text.
	Body any
	// RawBody is the body as received, when known. It is parsed when Body
	// is empty.
	RawBody string
	// Message is the engine's error message, such as "GET https://x/y:
	// connection refused".
	Message string
	// URL is the request URL without its query. When empty, a URL found in
	// Message is used.
	URL string
	// Connection is the name of the connection the step used, for tips.
	Connection string
	// Step is the id of the failed step, for tips.
	Step string
	// Field is the path of the step's field involved, such as "with.url",
	// for tips.
	Field string
}

// Diagnosis explains a failure: what kind it is, what happened and how to
// fix it. Its JSON form is what the API, the CLI and the emails show.
type Diagnosis struct {
	// Class is one of auth, config, throttled, transient and flow.
	Class string `json:"class"`
	// Code is the id of the catalog entry that matched, such as
	// "graph.no_manager" or "http.404".
	Code string `json:"code"`
	// Title is a one-line summary.
	Title string `json:"title"`
	// WhatHappened says what went wrong, in plain words.
	WhatHappened string `json:"what_happened"`
	// HowToFix gives concrete steps, naming the connection, step and field.
	HowToFix string `json:"how_to_fix"`
	// Retryable is true when the same request may succeed later, so the
	// engine retries it by the action's policy.
	Retryable bool `json:"retryable"`
	// Actions are suggested next steps: fix_connection, edit_flow,
	// resubmit and wait.
	Actions []string `json:"actions"`
	// Article names the help article that explains this kind of failure
	// (ArticleFor): the "Learn more" link of the run page, `runs show`,
	// the repair-tip email and the API. Empty in diagnoses recorded
	// before it existed.
	Article string `json:"article,omitempty"`
	// RetryAfter is how long the other side asked to wait (Retry-After,
	// rate-limit reset headers, or a retry_after in the body), or 0. It is
	// never more than MaxRetryAfter.
	RetryAfter time.Duration `json:"-"`
}

// MaxRetryAfter caps Diagnosis.RetryAfter, so that a bogus header cannot
// ask for a wait of years.
const MaxRetryAfter = 7 * 24 * time.Hour

// Diagnose explains in with the built-in catalog. It is Default().Diagnose(in).
func Diagnose(in Input) Diagnosis {
	return Default().Diagnose(in)
}

// Diagnose explains in. It tries the admins' entries in the order they were
// loaded, then the built-in provider entries (the most specific match
// wins), then the generic entries in order; an error that matches nothing
// gets a diagnosis from its status family or kind. It never fails and
// never panics, whatever the input.
func (c *Catalog) Diagnose(in Input) Diagnosis {
	r := newResponse(in)
	e := c.find(r)
	d := e.render(r)
	if d.Retryable || d.Class == ClassThrottled {
		d.RetryAfter = r.retryAfter()
	}
	return d
}
