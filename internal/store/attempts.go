package store

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// StepAttempt is one attempt of a step that acts outside the run (http,
// email): when it started and ended, how it ended, and a short excerpt of
// the answer or error, secrets already redacted by the engine.
type StepAttempt struct {
	// N numbers the step's attempts from 1.
	N          int       `json:"n"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// Outcome is succeeded, failed or timed_out.
	Outcome string `json:"outcome"`
	// HTTPStatus is the answer's status for an http step, 0 when there
	// was no answer (a network error, an email).
	HTTPStatus int `json:"http_status,omitempty"`
	// Answer is the start of the answer's body, or the error, at most
	// MaxAttemptAnswer bytes.
	Answer string `json:"answer,omitempty"`
	// RetryAt is when the next attempt was set to start, for a failed
	// attempt that is retried.
	RetryAt *time.Time `json:"retry_at,omitempty"`
}

// MaxAttemptsKept is how many attempts a step keeps, the last ones: a
// retry policy of many attempts does not grow a step's row without end.
const MaxAttemptsKept = 10

// MaxAttemptAnswer caps an attempt's Answer, in bytes.
const MaxAttemptAnswer = 512

// CutAnswer returns s cut to MaxAttemptAnswer bytes at a character
// boundary, with "…" at the end when it was cut. Cut an answer only
// after redacting it: a cut through a secret would hide it from the
// redactor.
func CutAnswer(s string) string {
	if len(s) <= MaxAttemptAnswer {
		return s
	}
	const more = "…"
	n := MaxAttemptAnswer - len(more)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + more
}

// BoundAttempts returns the last MaxAttemptsKept attempts with their
// answers cut by CutAnswer and their times in UTC to the microsecond, as
// PostgreSQL keeps times (so that a log reads the same from either driver
// and after export and import). The drivers bound what they write with
// it, whatever the caller passed.
func BoundAttempts(log []StepAttempt) []StepAttempt {
	if len(log) > MaxAttemptsKept {
		log = log[len(log)-MaxAttemptsKept:]
	}
	out := make([]StepAttempt, len(log))
	for i, a := range log {
		a.Answer = CutAnswer(a.Answer)
		a.StartedAt, a.FinishedAt = a.StartedAt.UTC().Truncate(time.Microsecond), a.FinishedAt.UTC().Truncate(time.Microsecond)
		if a.RetryAt != nil {
			at := a.RetryAt.UTC().Truncate(time.Microsecond)
			a.RetryAt = &at
		}
		out[i] = a
	}
	return out
}

// EncodeAttempts returns the bounded attempt log as the drivers store it
// (a JSON array), or nil for none.
func EncodeAttempts(log []StepAttempt) ([]byte, error) {
	if len(log) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(BoundAttempts(log))
	if err != nil {
		return nil, fmt.Errorf("encode attempts: %w", err)
	}
	return b, nil
}

// DecodeAttempts reads a stored attempt log; empty is none.
func DecodeAttempts(b []byte) ([]StepAttempt, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var out []StepAttempt
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decode attempts: %w", err)
	}
	return out, nil
}
