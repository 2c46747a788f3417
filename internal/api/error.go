package api

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/secret"
	"github.com/sluice/sluice/internal/signin"
	"github.com/sluice/sluice/internal/store"
)

// Error codes the API answers with, in the "code" field of an error.
const (
	CodeBadRequest         = "bad_request"
	CodeUnauthorized       = "unauthorized"
	CodeInvalidCredentials = "invalid_credentials"
	CodeAccountDisabled    = "account_disabled"
	CodeTooManyRequests    = "too_many_requests"
	CodeForbidden          = "forbidden"
	CodeNotFound           = "not_found"
	CodeMethodNotAllowed   = "method_not_allowed"
	CodeConflict           = "conflict"
	CodeFlowDisabled       = "flow_disabled"
	CodeTooLarge           = "too_large"
	CodeUnsupportedMedia   = "unsupported_media_type"
	CodeInvalidFlow        = "invalid_flow"
	// CodeAlreadySucceeded refuses to resubmit a run whose resubmission
	// already succeeded, unless the request says force (409).
	CodeAlreadySucceeded = "already_succeeded"
	// CodeRunFailed answers a webhook whose run failed before its
	// respond action answered (502).
	CodeRunFailed = "run_failed"
	// CodeRunNotFinished answers a webhook whose run goes on past the
	// respond timeout (504).
	CodeRunNotFinished = "run_not_finished"
	CodeInternal       = "internal"
)

// Error is an error a handler means the client to see: its status, code,
// message and details are sent as they are. Any other error is a 500 whose
// text is logged, not sent.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Code is a stable, machine-readable code such as "not_found".
	Code string
	// Message is a sentence for a person.
	Message string
	// Details, when not nil, is sent as "details" (for invalid_flow, the
	// list of problems).
	Details any
}

// Error returns the message with its code.
func (e *Error) Error() string {
	return e.Code + ": " + e.Message
}

// errorBody is the JSON shape of every error answer.
type errorBody struct {
	Error errorFields `json:"error"`
}

type errorFields struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Details   any    `json:"details,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// panicError carries a recovered panic to the mapper as an unknown error.
type panicError struct{ v any }

func (p panicError) Error() string { return fmt.Sprintf("panic: %v", p.v) }

// badRequest returns a 400 with the message.
func badRequest(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: fmt.Sprintf(format, args...)}
}

// notFound returns a 404 with the message.
func notFound(format string, args ...any) *Error {
	return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: fmt.Sprintf(format, args...)}
}

// writeError is the one error mapper: it turns err into a status and the
// JSON error shape. An *Error is sent as it is; store.ErrNotFound is a 404,
// store.ErrConflict and engine.AlreadySucceededError a 409, an oversized body or trigger input a 413, a
// throttled sign-in a 429 with Retry-After; anything else is a 500 whose
// text is logged with a request id and never sent.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		apiErr    *Error
		tooBig    *http.MaxBytesError
		tooLarge  *engine.TooLargeError
		again     *engine.AlreadySucceededError
		throttled *signin.ThrottledError
		fields    errorFields
		status    int
	)
	switch {
	case errors.As(err, &apiErr):
		status = apiErr.Status
		fields = errorFields{Code: apiErr.Code, Message: apiErr.Message, Details: apiErr.Details}
	case errors.As(err, &tooBig):
		status = http.StatusRequestEntityTooLarge
		fields = errorFields{Code: CodeTooLarge, Message: fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit)}
	case errors.As(err, &throttled):
		status = http.StatusTooManyRequests
		w.Header().Set("Retry-After", throttled.RetryAfterHeader())
		fields = errorFields{Code: CodeTooManyRequests, Message: fmt.Sprintf("too many sign-in attempts for this %s: try again in %s seconds", throttled.Scope, throttled.RetryAfterHeader())}
	case errors.As(err, &tooLarge):
		status = http.StatusRequestEntityTooLarge
		fields = errorFields{Code: CodeTooLarge, Message: tooLarge.Error()}
	case errors.As(err, &again):
		status = http.StatusConflict
		fields = errorFields{Code: CodeAlreadySucceeded, Message: fmt.Sprintf(
			"%s; running the flow again may repeat its effects: to resubmit run %d anyway, send \"force\": true (sluice runs resubmit %d --force)",
			again.Error(), again.RunID, again.RunID)}
	case errors.Is(err, store.ErrNotFound):
		status = http.StatusNotFound
		fields = errorFields{Code: CodeNotFound, Message: "not found"}
	case errors.Is(err, store.ErrConflict):
		status = http.StatusConflict
		fields = errorFields{Code: CodeConflict, Message: "conflicts with an existing record"}
	default:
		id := newRequestID()
		s.log.ErrorContext(r.Context(), "api request failed",
			slog.String("request_id", id),
			slog.String("method", r.Method),
			slog.String("path", logPath(r)),
			slog.Any("error", err))
		status = http.StatusInternalServerError
		fields = errorFields{Code: CodeInternal, Message: "internal error (request id " + id + ")", RequestID: id}
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
	}
	writeJSON(w, status, errorBody{Error: fields})
}

// logPath is the request's path for the log, with a webhook token masked:
// the token is the webhook's secret.
func logPath(r *http.Request) string {
	if token := r.PathValue("token"); token != "" {
		return strings.ReplaceAll(r.URL.Path, token, secret.Mask)
	}
	return r.URL.Path
}

// newRequestID returns 8 random bytes in hex, to tie a 500 answer to its
// log line.
func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails.
	return hex.EncodeToString(b)
}

// writeJSON writes v as the JSON answer with the status. A value that
// cannot be encoded is a programming error; it is caught before the status
// is written and answered as a 500.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"internal error: cannot encode the answer"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
