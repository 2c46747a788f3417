package flow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Retry defaults, used for an http or email action without retry settings.
const (
	DefaultRetryCount       = 4
	DefaultRetryInterval    = 2 * time.Second
	DefaultRetryMaxInterval = time.Hour
)

// DefaultTimeout bounds one attempt of an http or email action without a
// timeout of its own.
const DefaultTimeout = 60 * time.Second

// MaxPayload is the most bytes a step's output (or an http response body)
// may hold.
const MaxPayload = 10 << 20

// RetryPolicy returns the action's effective retry policy with every field
// set. Only http and email actions retry; for them the default is
// exponential, 4 retries, 2s first interval, 1h maximum interval, and a
// partial retry block is completed with these defaults. Policy none (and
// every other action type) yields count 0.
func (a *Action) RetryPolicy() Retry {
	zero := 0
	if a.Type != ActionHTTP && a.Type != ActionEmail {
		return Retry{Policy: RetryNone, Count: &zero}
	}
	r := Retry{Policy: RetryExponential, Interval: Duration(DefaultRetryInterval), MaxInterval: Duration(DefaultRetryMaxInterval)}
	count := DefaultRetryCount
	if a.Retry != nil {
		if a.Retry.Policy != "" {
			r.Policy = a.Retry.Policy
		}
		if a.Retry.Count != nil {
			count = *a.Retry.Count
		}
		if a.Retry.Interval > 0 {
			r.Interval = a.Retry.Interval
		}
		if a.Retry.MaxInterval > 0 {
			r.MaxInterval = a.Retry.MaxInterval
		}
	}
	if r.MaxInterval < r.Interval {
		r.MaxInterval = r.Interval
	}
	if r.Policy == RetryNone {
		count = 0
	}
	r.Count = &count
	return r
}

// Backoff returns how long to wait before retry number n (1 for the first
// retry) under an effective policy from RetryPolicy: the interval for
// fixed, the interval doubled per retry for exponential, never more than
// MaxInterval. A positive retryAfter (from a Retry-After header) replaces
// the computed wait, still capped at MaxInterval.
func (r Retry) Backoff(n int, retryAfter time.Duration) time.Duration {
	limit := time.Duration(r.MaxInterval)
	if limit <= 0 {
		limit = DefaultRetryMaxInterval
	}
	if retryAfter > 0 {
		return min(retryAfter, limit)
	}
	wait := time.Duration(r.Interval)
	if wait <= 0 {
		wait = DefaultRetryInterval
	}
	if r.Policy == RetryExponential {
		for i := 1; i < n && wait < limit; i++ {
			wait *= 2
		}
	}
	return min(wait, limit)
}

// AttemptTimeout returns how long one attempt of the action may take: its
// timeout, or DefaultTimeout for http and email actions. Zero means no
// limit.
func (a *Action) AttemptTimeout() time.Duration {
	if a.Timeout > 0 {
		return time.Duration(a.Timeout)
	}
	if a.Type == ActionHTTP || a.Type == ActionEmail {
		return DefaultTimeout
	}
	return 0
}

// Canonical returns the definition as canonical JSON for storage: the
// fields in declaration order, map keys sorted, durations as strings.
// Equal definitions give equal bytes.
func (d *Definition) Canonical() ([]byte, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("canonical definition %q: %w", d.Name, err)
	}
	return b, nil
}

// FromCanonical reads a definition stored by Canonical. Numbers in with
// values come back as int64 when whole and float64 otherwise, as Parse
// gives them. It does not check the definition again.
func FromCanonical(b []byte) (*Definition, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var d Definition
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("read canonical definition: %w", err)
	}
	if dec.More() {
		return nil, errors.New("read canonical definition: trailing data after the definition")
	}
	if hasNil(d.Actions) {
		return nil, errors.New("read canonical definition: an action is null")
	}
	d.Walk(func(a *Action) {
		if a.With != nil {
			a.With = numbers(a.With).(map[string]any)
		}
	})
	return &d, nil
}

// numbers replaces json.Number values with int64 or float64.
func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
		return x
	}
	return v
}

// hasNil reports whether a list of actions, nested lists included, holds a
// nil action.
func hasNil(list []*Action) bool {
	for _, a := range list {
		if a == nil || hasNil(a.Then) || hasNil(a.Else) || hasNil(a.Actions) {
			return true
		}
	}
	return false
}
