package engine

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice/sluice/internal/connection"
	"github.com/sluice/sluice/internal/diagnose"
	"github.com/sluice/sluice/internal/expression"
	"github.com/sluice/sluice/internal/flow"
	"github.com/sluice/sluice/internal/mail"
	"github.com/sluice/sluice/internal/netguard"
	"github.com/sluice/sluice/internal/store"
)

// Kinds of step errors. Diagnosis reads them together with the HTTP
// status, headers and body.
const (
	KindHTTP       = "http"
	KindAuth       = "auth"
	KindNetwork    = "network"
	KindTimeout    = "timeout"
	KindExpression = "expression"
	KindConfig     = "config"
	KindPayload    = "payload"
	KindFlow       = "flow"
	KindTerminate  = "terminate"
)

// StepError is why a step failed, kept with the step so that a person (and
// diagnosis) can see what the other side said.
type StepError struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
	// Class is the diagnosis class: auth, config, throttled, transient or
	// flow.
	Class string `json:"class,omitempty"`
	// Connection names the connection the step used, if any.
	Connection string `json:"connection,omitempty"`
	// URL is the request URL without its query, for http failures.
	URL string `json:"url,omitempty"`
	// Diagnosis explains the failure and how to fix it.
	Diagnosis *diagnose.Diagnosis `json:"diagnosis,omitempty"`
	Status    int                 `json:"status,omitempty"`
	Headers   map[string]string   `json:"headers,omitempty"`
	Body      any                 `json:"body,omitempty"`
	// Retryable is true for transient and throttled failures.
	Retryable bool `json:"retryable,omitempty"`
	// RetryAfter is the wait the other side asked for, if any.
	RetryAfter time.Duration `json:"-"`
	// Consequence says why this failure is a consequence of another and
	// not the run's root cause: store.ConsequenceContainer for a
	// container that failed because an action inside it did,
	// store.ConsequenceHandler for an action that runs after a sibling's
	// failure (a catch or finally). Empty for a failure of its own.
	Consequence string `json:"consequence,omitempty"`
}

// Error returns the message.
func (e *StepError) Error() string { return e.Message }

// store writes the error into st as the store keeps it: the JSON, and
// the class, diagnosis code and connection as the fault columns that
// problems and runs filter on. A nil error clears both.
func (e *StepError) store(st *store.Step) {
	st.Error, st.Fault = e.encode(), e.fault()
}

// encode returns the error as stored JSON, or nil.
func (e *StepError) encode() json.RawMessage {
	if e == nil {
		return nil
	}
	b, err := json.Marshal(e)
	if err != nil {
		b, _ = json.Marshal(StepError{Kind: e.Kind, Message: e.Message, Status: e.Status})
	}
	return b
}

// fault returns the fault columns of the error (zero for nil).
func (e *StepError) fault() store.StepFault {
	if e == nil {
		return store.StepFault{}
	}
	f := store.StepFault{Class: e.Class, Connection: e.Connection}
	if e.Diagnosis != nil {
		f.Code = e.Diagnosis.Code
	}
	return f
}

// view is what expressions see of the error (steps.x.error).
func (e *StepError) view() map[string]any {
	v := map[string]any{"kind": e.Kind, "message": e.Message}
	if e.Status != 0 {
		v["status"] = e.Status
	}
	return v
}

// decodeStepError reads a stored step error.
func decodeStepError(b json.RawMessage) *StepError {
	if len(b) == 0 {
		return nil
	}
	var e StepError
	if err := json.Unmarshal(b, &e); err != nil {
		return &StepError{Kind: KindFlow, Message: string(b)}
	}
	return &e
}

// diagnose explains a step's failure with the catalog, and lets the
// diagnosis decide what happens next: only transient and throttled
// failures are retried (honouring the wait the other side asked for), and
// an authentication failure marks the step's connection as needing
// attention.
func (rs *runState) diagnose(ctx context.Context, a *flow.Action, serr *StepError) {
	if serr.Diagnosis != nil {
		return
	}
	serr.Connection = a.Connection
	in := diagnose.Input{Kind: serr.Kind, Status: serr.Status, Headers: serr.Headers, Body: serr.Body, Message: rs.redact.String(serr.Message), URL: serr.URL, Connection: a.Connection, Step: a.ID}
	if in.Kind == KindAuth {
		in.Kind = KindConfig
		if in.Status == 0 {
			in.Status = http.StatusUnauthorized
		}
	}
	d := rs.e.cfg.Catalog.Diagnose(in)
	if serr.Kind == KindAuth {
		d.Class, d.Retryable = diagnose.ClassAuth, false
	}
	serr.Diagnosis, serr.Class, serr.Retryable = &d, d.Class, d.Retryable
	if d.RetryAfter > 0 {
		serr.RetryAfter = d.RetryAfter
	}
	if d.Class == diagnose.ClassAuth && a.Connection != "" {
		rs.health(ctx, rs.used(a.Connection), false, d.Title+": "+serr.Message)
	}
}

// exprError wraps an expression failure in a field.
func exprError(field string, err error) *StepError {
	return &StepError{Kind: KindExpression, Message: fmt.Sprintf("%s: %v", field, err)}
}

// evaluator is a compiled template or value.
type evaluator interface {
	Eval(ctx context.Context, env map[string]any) (any, error)
}

// eval evaluates the expressions of field of action a with the run's
// context. A run stopped meanwhile (cancelled, lease lost, shutting down,
// or a container's deadline) gets errStopped, so nothing is recorded for
// it. A failed evaluation gets a step error, which diagnosis classes as
// flow and which is therefore never retried. One that spent an expression
// budget, one evaluation's or the run's (expression.ErrRunWork), also ends
// the run as failed, as a terminate action would: the
// definition and its data are at fault, so evaluating again, on a retry, a
// later foreach iteration or a resumed run, would burn the same budget
// again; the failure is recorded when the run finishes.
func (rs *runState) eval(ctx context.Context, a *flow.Action, field string, e evaluator, scope map[string]any) (any, *StepError, error) {
	v, err := e.Eval(ctx, scope)
	if err == nil {
		return v, nil, nil
	}
	if ctx.Err() != nil {
		return nil, nil, errStopped
	}
	serr := exprError(field, err)
	if errors.Is(err, expression.ErrBudget) || errors.Is(err, expression.ErrRunWork) {
		rs.failRun(a, serr)
	}
	return nil, serr, nil
}

// execLeaf runs an action that does one thing (all but condition, scope
// and foreach). A failed attempt that may be retried parks the step until
// its backoff ends; the run resumes then.
func (rs *runState) execLeaf(ctx context.Context, a *flow.Action, key string, rec store.Step, seen bool, scope map[string]any) (outcome, error) {
	now := time.Now().UTC()
	started, attempts := now, 0
	if seen {
		attempts = rec.Attempts
		if rec.StartedAt != nil {
			started = *rec.StartedAt
		}
		if rec.Status == store.StepWaiting && rec.NextAttemptAt != nil && rec.NextAttemptAt.After(now) {
			return outcome{blocked: true, wake: *rec.NextAttemptAt}, nil
		}
	}
	step := store.Step{Key: key, ActionID: a.ID, Type: a.Type, Attempts: attempts, StartedAt: &started}
	if seen {
		step.AttemptLog = rec.AttemptLog
	}
	done := func(status string, output any, serr *StepError) (outcome, error) {
		fin := time.Now().UTC()
		step.Status, step.FinishedAt = status, &fin
		step.Attempts = max(step.Attempts, 1)
		var err error
		if step.Output, err = rs.encodeOutput(a, output); err != nil {
			status, output, serr = flow.StatusFailed, nil, &StepError{Kind: KindPayload, Message: err.Error()}
			step.Status = status
		}
		if serr != nil {
			rs.diagnose(ctx, a, serr)
		}
		serr.store(&step)
		rs.record(step)
		return outcome{status: status, output: output, err: serr}, nil
	}
	if a.Type == flow.ActionDelay && seen && rec.Status == store.StepWaiting {
		step.Input = rec.Input
		return done(flow.StatusSucceeded, decodeJSON(rec.Output), nil)
	}

	with := map[string]any{}
	if c := rs.plan.actions[a]; c.with != nil {
		v, serr, err := rs.eval(ctx, a, "with", c.with, scope)
		if err != nil {
			return outcome{}, err
		}
		if serr != nil {
			return done(flow.StatusFailed, nil, serr)
		}
		if m, ok := v.(map[string]any); ok {
			with = m
		}
	}
	var err error
	if step.Input, err = rs.encode(with); err != nil {
		return done(flow.StatusFailed, nil, &StepError{Kind: KindPayload, Message: "input: " + err.Error()})
	}

	switch a.Type {
	case flow.ActionCompose:
		return done(flow.StatusSucceeded, with["value"], nil)
	case flow.ActionDelay:
		d, err := flow.DelayDuration(with["duration"])
		if err != nil {
			return done(flow.StatusFailed, nil, &StepError{Kind: KindConfig, Message: "with.duration: " + err.Error()})
		}
		until := now.Add(d)
		if d <= 0 {
			return done(flow.StatusSucceeded, map[string]any{"until": until.Format(time.RFC3339Nano)}, nil)
		}
		step.Status, step.NextAttemptAt, step.Attempts = store.StepWaiting, &until, 1
		step.Output, _ = json.Marshal(map[string]any{"until": until.Format(time.RFC3339Nano)})
		rs.record(step)
		return outcome{blocked: true, wake: until}, nil
	case flow.ActionTerminate:
		status, err := flow.TerminateStatus(with["status"])
		if err != nil {
			return done(flow.StatusFailed, nil, &StepError{Kind: KindConfig, Message: "with.status: " + err.Error()})
		}
		msg, _ := with["message"].(string)
		rs.mu.Lock()
		rs.term = &termination{status: status, message: msg}
		rs.mu.Unlock()
		out := map[string]any{"status": status, "message": msg}
		if status == store.RunFailed {
			// The step that failed the run is shown failed, with a
			// diagnosis, so that the run page and the owner's emails point
			// at it.
			if msg == "" {
				msg = fmt.Sprintf("the flow ended the run as failed at step %q", a.ID)
			}
			return done(flow.StatusFailed, out, &StepError{Kind: KindTerminate, Message: msg})
		}
		return done(flow.StatusSucceeded, out, nil)
	case flow.ActionRespond:
		resp, serr := buildResponse(with)
		if serr != nil {
			return done(flow.StatusFailed, nil, serr)
		}
		if err := rs.answer(ctx, resp); err != nil {
			return outcome{}, err
		}
		return done(flow.StatusSucceeded, map[string]any{"status": resp.Status}, nil)
	}

	// http and email act outside the run: commit what came before first.
	if err := rs.flush(ctx); err != nil {
		return outcome{}, err
	}
	step.Attempts++
	actx, cancel := context.WithTimeout(ctx, a.AttemptTimeout())
	var output any
	var serr *StepError
	attemptStart := time.Now().UTC()
	if a.Type == flow.ActionHTTP {
		output, serr = rs.doHTTP(actx, a, key, with)
	} else {
		output, serr = rs.doEmail(actx, a, with)
	}
	cancel()
	if ctx.Err() != nil {
		return outcome{}, errStopped
	}
	attempt := rs.attempt(step.Attempts, attemptStart, output, serr)
	if serr == nil {
		step.AttemptLog = appendAttempt(step.AttemptLog, attempt)
		return done(flow.StatusSucceeded, output, nil)
	}
	rs.diagnose(ctx, a, serr)
	if serr.Retryable {
		if r := a.RetryPolicy(); step.Attempts <= *r.Count {
			at := time.Now().Add(r.Backoff(step.Attempts, serr.RetryAfter)).UTC()
			attempt.RetryAt = &at
			step.AttemptLog = appendAttempt(step.AttemptLog, attempt)
			step.Status, step.NextAttemptAt = store.StepWaiting, &at
			serr.store(&step)
			step.Output, _ = rs.encode(output)
			rs.record(step)
			return outcome{blocked: true, wake: at}, nil
		}
	}
	if serr.Kind == KindTimeout {
		attempt.Outcome = flow.StatusTimedOut
	}
	step.AttemptLog = appendAttempt(step.AttemptLog, attempt)
	return done(attempt.Outcome, output, serr)
}

// attempt describes attempt n of a step that acts outside the run, begun
// at start, from its output and error: how it ended, the answer's status
// and an excerpt of the answer or error. The excerpt is redacted before it
// is cut (a cut through a secret would hide it from the redactor), and
// record redacts it again with the step.
func (rs *runState) attempt(n int, start time.Time, output any, serr *StepError) store.StepAttempt {
	a := store.StepAttempt{N: n, StartedAt: start, FinishedAt: time.Now().UTC(), Outcome: flow.StatusSucceeded}
	var answer string
	if out, ok := output.(map[string]any); ok {
		a.HTTPStatus, _ = out["status"].(int)
	}
	switch {
	case serr != nil:
		a.Outcome = flow.StatusFailed
		if serr.Kind == KindTimeout {
			a.Outcome = flow.StatusTimedOut
		}
		if serr.Status != 0 {
			a.HTTPStatus = serr.Status
		}
		answer = serr.Message
		if serr.Body != nil {
			answer += " · " + compactJSON(serr.Body)
		}
	case a.HTTPStatus != 0:
		answer = compactJSON(output.(map[string]any)["body"])
	default:
		answer = compactJSON(output)
	}
	a.Answer = store.CutAnswer(rs.redact.String(answer))
	return a
}

// appendAttempt adds an attempt to a step's log, keeping the last
// store.MaxAttemptsKept.
func appendAttempt(log []store.StepAttempt, a store.StepAttempt) []store.StepAttempt {
	log = append(slices.Clone(log), a)
	if len(log) > store.MaxAttemptsKept {
		log = log[len(log)-store.MaxAttemptsKept:]
	}
	return log
}

// compactJSON returns v as one line of JSON, without escaping <, > and &
// (people read it), or a string as it is; "" for nil.
func compactJSON(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// Response is what a respond action sends to the webhook caller.
type Response struct {
	Status  int
	Headers map[string]string
	Body    []byte
}

// buildResponse turns a respond action's inputs into a response.
func buildResponse(with map[string]any) (*Response, *StepError) {
	resp := &Response{Status: http.StatusOK, Headers: map[string]string{}}
	if s, ok := with["status"]; ok && s != nil {
		n, err := flow.RespondStatus(s)
		if err != nil {
			return nil, &StepError{Kind: KindConfig, Message: "with.status: " + err.Error()}
		}
		resp.Status = n
	}
	if h, ok := with["headers"].(map[string]any); ok {
		for k, v := range h {
			if err := flow.HeaderValue(fmt.Sprint(v)); err != nil {
				return nil, &StepError{Kind: KindConfig, Message: fmt.Sprintf("with.headers.%s: %v", k, err)}
			}
			resp.Headers[k] = fmt.Sprint(v)
		}
	}
	switch b := with["body"].(type) {
	case nil:
	case string:
		resp.Body = []byte(b)
		setDefault(resp.Headers, "Content-Type", "text/plain; charset=utf-8")
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			return nil, &StepError{Kind: KindConfig, Message: "with.body: " + err.Error()}
		}
		resp.Body = enc
		setDefault(resp.Headers, "Content-Type", "application/json")
	}
	return resp, nil
}

// setDefault sets a header unless it is set in any letter case.
func setDefault(h map[string]string, name, value string) {
	for k := range h {
		if strings.EqualFold(k, name) {
			return
		}
	}
	h[name] = value
}

// doHTTP makes an http action's request.
func (rs *runState) doHTTP(ctx context.Context, a *flow.Action, key string, with map[string]any) (any, *StepError) {
	var conn *usedConnection
	if a.Connection != "" {
		var serr *StepError
		if conn, serr = rs.connection(ctx, a.Connection, "http"); serr != nil {
			return nil, serr
		}
	}
	method := http.MethodGet
	if m, ok := with["method"]; ok && m != nil && m != "" {
		var err error
		if method, err = flow.HTTPMethod(m); err != nil {
			return nil, &StepError{Kind: KindConfig, Message: "with.method: " + err.Error()}
		}
	}
	u, err := flow.HTTPURL(with["url"])
	if err != nil {
		return nil, &StepError{Kind: KindConfig, Message: "with.url: " + err.Error()}
	}
	if q, ok := with["query"].(map[string]any); ok {
		vals := u.Query()
		for k, v := range q {
			vals.Set(k, str(v))
		}
		u.RawQuery = vals.Encode()
	}
	var body io.Reader
	contentType := ""
	switch {
	case with["json"] != nil:
		b, err := json.Marshal(with["json"])
		if err != nil {
			return nil, &StepError{Kind: KindConfig, Message: "with.json: " + err.Error()}
		}
		body, contentType = bytes.NewReader(b), "application/json"
	case with["form"] != nil:
		f, ok := with["form"].(map[string]any)
		if !ok {
			return nil, &StepError{Kind: KindConfig, Message: "with.form: expected an object of fields"}
		}
		vals := url.Values{}
		for k, v := range f {
			vals.Set(k, str(v))
		}
		body, contentType = strings.NewReader(vals.Encode()), "application/x-www-form-urlencoded"
	case with["body"] != nil:
		switch b := with["body"].(type) {
		case string:
			body, contentType = strings.NewReader(b), "text/plain; charset=utf-8"
		default:
			enc, err := json.Marshal(b)
			if err != nil {
				return nil, &StepError{Kind: KindConfig, Message: "with.body: " + err.Error()}
			}
			body, contentType = bytes.NewReader(enc), "application/json"
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, &StepError{Kind: KindConfig, Message: "build request: " + err.Error()}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("User-Agent", "Sluice")
	if h, ok := with["headers"].(map[string]any); ok {
		for k, v := range h {
			if err := flow.HeaderValue(str(v)); err != nil {
				return nil, &StepError{Kind: KindConfig, Message: fmt.Sprintf("with.headers.%s: %v", k, err)}
			}
			req.Header.Set(k, str(v))
		}
	}
	if b, _ := with["idempotency_key"].(bool); b {
		req.Header.Set("Idempotency-Key", fmt.Sprintf("sluice-%d-%s", rs.run.ID, key))
	}
	if conn != nil {
		if err := rs.e.auth.Apply(ctx, conn.spec, req, &rs.redact); err != nil {
			if errors.Is(err, connection.ErrToken) {
				return nil, &StepError{Kind: KindAuth, Message: fmt.Sprintf("connection %q: %v", a.Connection, err)}
			}
			return nil, networkError(ctx, method, u, err)
		}
	}
	resp, err := rs.e.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, networkError(ctx, method, u, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, rs.e.cfg.MaxPayload+1))
	if err != nil {
		return nil, networkError(ctx, method, u, err)
	}
	if int64(len(raw)) > rs.e.cfg.MaxPayload {
		return nil, &StepError{Kind: KindPayload, Status: resp.StatusCode, Message: fmt.Sprintf("the response of %s %s is larger than the %s cap per step", method, redactURL(u), byteSize(rs.e.cfg.MaxPayload))}
	}
	// Redact before anything decodes, encodes or cuts the answer: a
	// non-UTF-8 body is stored as base64, and a diagnosis quotes a part of
	// a message, either of which would hide a secret from the redactor.
	raw = rs.redact.Bytes(raw)
	headers := flatHeaders(resp.Header)
	for k, v := range headers {
		headers[k] = rs.redact.String(v)
	}
	out := map[string]any{"status": resp.StatusCode, "headers": headers, "body": DecodeBody(resp.Header.Get("Content-Type"), raw)}
	failed := resp.StatusCode >= 400 || rs.e.cfg.Catalog.IsFailure(resp.StatusCode, headers, out["body"])
	if !failed {
		rs.health(ctx, conn, true, "")
		return out, nil
	}
	if resp.StatusCode == http.StatusUnauthorized && conn != nil && conn.spec.Type == connection.TypeOAuth2 {
		rs.e.auth.Forget(conn.spec)
	}
	serr := &StepError{
		Kind:    KindHTTP,
		Status:  resp.StatusCode,
		Headers: headers,
		Body:    out["body"],
		URL:     (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String(),
		Message: fmt.Sprintf("HTTP %d %s from %s %s", resp.StatusCode, http.StatusText(resp.StatusCode), method, redactURL(u)),
	}
	if resp.StatusCode < 400 {
		serr.Message += ", whose body reports an error"
	}
	return out, serr
}

// networkError classifies a failed request: timeouts and broken
// connections are transient; refused addresses, unknown hosts and TLS
// failures are configuration.
func networkError(ctx context.Context, method string, u *url.URL, err error) *StepError {
	where := method + " " + redactURL(u)
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	switch {
	case netguard.IsBlocked(err):
		return &StepError{Kind: KindConfig, Message: fmt.Sprintf("%s: %v", where, unwrapURL(err))}
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || isTimeout(err):
		return &StepError{Kind: KindTimeout, Retryable: true, Message: fmt.Sprintf("%s: timed out", where)}
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return &StepError{Kind: KindConfig, Message: fmt.Sprintf("%s: host %q not found", where, u.Hostname())}
	case errors.As(err, &certErr):
		return &StepError{Kind: KindConfig, Message: fmt.Sprintf("%s: TLS certificate: %v", where, certErr.Err)}
	}
	return &StepError{Kind: KindNetwork, Retryable: true, Message: fmt.Sprintf("%s: %v", where, unwrapURL(err))}
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// unwrapURL drops the *url.Error wrapper, whose text repeats the URL.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redactURL prints a URL without credentials or query values, which may
// carry secrets.
func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	if c.RawQuery != "" {
		q := c.Query()
		keys := make([]string, 0, len(q))
		for k := range q {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			keys[i] = url.QueryEscape(k) + "=..."
		}
		c.RawQuery = strings.Join(keys, "&")
	}
	return c.String()
}

// flatHeaders joins repeated headers, for storage and expressions.
func flatHeaders(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[k] = strings.Join(v, ", ")
	}
	return out
}

// DecodeBody decodes an HTTP answer's body by its content type as an
// http step's output holds it: JSON into values, text as a string,
// anything else as a string when it is UTF-8 or else as {"base64": ...}.
// Connection verify decodes its test request's answer with it too, so
// that the catalog judges both alike.
func DecodeBody(contentType string, raw []byte) any {
	if len(raw) == 0 {
		return nil
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/json" || strings.HasSuffix(mt, "+json") {
		var v any
		if err := json.Unmarshal(raw, &v); err == nil {
			return v
		}
	}
	if utf8.Valid(raw) {
		return string(raw)
	}
	return map[string]any{"base64": base64.StdEncoding.EncodeToString(raw)}
}

// str formats a decoded value as text.
func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// doEmail sends an email action's message through the server's mailer.
func (rs *runState) doEmail(ctx context.Context, a *flow.Action, with map[string]any) (any, *StepError) {
	mailer, from := rs.e.cfg.Mailer, rs.e.cfg.MailFrom
	var conn *usedConnection
	if a.Connection != "" {
		var serr *StepError
		if conn, serr = rs.connection(ctx, a.Connection, "email"); serr != nil {
			return nil, serr
		}
		var opts []mail.SenderOption
		if rs.e.cfg.SMTPDial != nil {
			opts = append(opts, mail.WithDial(rs.e.cfg.SMTPDial))
		}
		mailer = mail.NewSMTPSender(conn.spec.SMTP(), opts...)
		if conn.spec.Config.From != "" {
			from = conn.spec.Config.From
		}
	}
	if mailer == nil {
		return nil, &StepError{Kind: KindConfig, Message: "no SMTP server is configured: set SLUICE_SMTP_URL, or give the action an smtp connection"}
	}
	m := mail.Message{
		From:    from,
		Subject: str(with["subject"]),
		Text:    str(with["body"]),
		HTML:    str(with["html"]),
	}
	for _, f := range []struct {
		name string
		dst  *[]string
	}{{"to", &m.To}, {"cc", &m.Cc}, {"bcc", &m.Bcc}} {
		v, ok := with[f.name]
		if !ok || v == nil {
			continue
		}
		list, err := flow.EmailAddresses(v)
		if err != nil {
			return nil, &StepError{Kind: KindConfig, Message: fmt.Sprintf("with.%s: %v", f.name, err)}
		}
		*f.dst = list
	}
	if v, ok := with["reply_to"]; ok && v != nil && v != "" {
		a, err := flow.EmailReplyTo(v)
		if err != nil {
			return nil, &StepError{Kind: KindConfig, Message: "with.reply_to: " + err.Error()}
		}
		m.ReplyTo = a
	}
	if err := flow.EmailSubject(m.Subject); err != nil {
		return nil, &StepError{Kind: KindConfig, Message: "with.subject: " + err.Error()}
	}
	if len(m.To) == 0 {
		return nil, &StepError{Kind: KindConfig, Message: "with.to: no recipient"}
	}
	id, err := mailer.Send(ctx, m)
	if err != nil {
		serr := &StepError{Kind: KindNetwork, Retryable: true, Message: "send email: " + err.Error()}
		switch {
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			serr.Kind = KindTimeout
		case errors.Is(err, mail.ErrAuthFailed):
			serr.Kind, serr.Retryable = KindAuth, false
		case errors.Is(err, mail.ErrInvalidMessage) || errors.Is(err, mail.ErrInvalidConfig) || netguard.IsBlocked(err):
			serr.Kind, serr.Retryable = KindConfig, false
		}
		return nil, serr
	}
	rs.health(ctx, conn, true, "")
	return map[string]any{"message_id": id, "to": m.To}, nil
}
