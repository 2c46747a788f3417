package api

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluice/sluice/internal/diagnose"
	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/flow"
	"github.com/sluice/sluice/internal/notify"
	"github.com/sluice/sluice/internal/store"
)

// webhookCSP is the Content-Security-Policy of every answer a respond
// action gives: a sandbox, so that a page it serves runs no script, sends
// no form and reads no cookie or storage of the server's origin.
const webhookCSP = "sandbox"

// droppedAnswerHeaders are the headers a respond action may not set: they
// act beyond its answer (cookies, site data, HSTS, service worker scope,
// alternative services) or on the message framing, which the server sets.
var droppedAnswerHeaders = map[string]bool{
	"Set-Cookie": true, "Set-Cookie2": true, "Clear-Site-Data": true,
	"Strict-Transport-Security": true, "Public-Key-Pins": true, "Public-Key-Pins-Report-Only": true,
	"Service-Worker-Allowed": true, "Alt-Svc": true,
	"Content-Length": true, "Transfer-Encoding": true, "Connection": true, "Keep-Alive": true,
	"Upgrade": true, "Trailer": true, "Te": true, "Proxy-Connection": true,
	"X-Sluice-Run": true,
}

// originHeaders are the headers a respond action may set only when
// webhooks have their own origin (WebhookBaseURL): on the server's origin
// they would let other sites read its answers (CORS) or make it redirect
// anywhere (Location, Refresh).
func originHeader(name string) bool {
	return strings.HasPrefix(name, "Access-Control-") || name == "Location" || name == "Refresh"
}

// answerHeaderAllowed reports whether a respond action's header (in
// canonical form) is sent.
func (s *server) answerHeaderAllowed(name string) bool {
	if droppedAnswerHeaders[name] {
		return false
	}
	return s.hookOrigin || !originHeader(name)
}

// RequestHost is the host a request was sent to (its Host header),
// without the port.
func RequestHost(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		return h
	}
	return strings.Trim(r.Host, "[]")
}

// webhook serves a webhook trigger at /hooks/{token}: any method, the
// body parsed by its content type. The run is committed before the
// answer, which is 202 with the run id, or the response of the flow's
// respond action, or, when that action does not respond, 502 or 504
// (unanswered).
func (s *server) webhook(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Security-Policy", webhookCSP)
	if s.hookOrigin && !strings.EqualFold(RequestHost(r), s.hookHost) {
		return notFound("this server answers webhooks only at %s/hooks/...: use the webhook_url that `sluice flows show` prints", s.hookBaseURL)
	}
	token := r.PathValue("token")
	f, err := s.store.GetFlowByWebhookToken(r.Context(), token)
	if errors.Is(err, store.ErrNotFound) || (err == nil && f.TriggerType != flow.TriggerWebhook) {
		return notFound("no webhook flow has this URL: check the URL in `sluice flows show`")
	}
	if err != nil {
		return fmt.Errorf("webhook: look up flow: %w", err)
	}
	if !f.Enabled {
		return &Error{Status: http.StatusConflict, Code: CodeFlowDisabled,
			Message: fmt.Sprintf("flow %q is turned off: turn it on with `sluice flows enable %s`", f.Name, diagnose.ShellQuote(f.Name))}
	}
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	if s.writeTimeout > 0 {
		// The body is in, within the read timeout. What follows may wait
		// for a worker and then for the respond action (each up to the
		// respond timeout): the server's read deadline would cancel the
		// request meanwhile, and its write deadline counts from the end of
		// the headers. This connection's next request gets the server's
		// deadlines again.
		_ = rc.SetReadDeadline(time.Time{})
		_ = rc.SetWriteDeadline(time.Now().Add(s.writeTimeout))
	}
	trig, err := engine.WebhookTrigger(r, raw)
	if err != nil {
		return badRequest("%v", err)
	}
	run, pending, err := s.runner.StartWebhook(r.Context(), f, trig)
	if err != nil {
		return fmt.Errorf("webhook: start a run of flow %d: %w", f.ID, err)
	}
	h := w.Header()
	h.Set("X-Sluice-Run", strconv.FormatInt(run.ID, 10))
	if pending != nil {
		if s.writeTimeout > 0 {
			// This connection alone may take as long as the run does to
			// respond, then the usual time to write.
			_ = rc.SetWriteDeadline(pending.Deadline().Add(s.writeTimeout))
		}
		if out := pending.Wait(r.Context()); out != nil {
			for k, v := range out.Headers {
				switch k = http.CanonicalHeaderKey(k); {
				case k == "Content-Security-Policy":
					h.Add(k, v) // both policies apply: it can only narrow the sandbox
				case s.answerHeaderAllowed(k):
					h.Set(k, v)
				}
			}
			w.WriteHeader(out.Status)
			_, err := w.Write(out.Body)
			return err
		}
		if r.Context().Err() != nil {
			return nil // the caller is gone
		}
		if err := s.unanswered(r, run.ID); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusAccepted, map[string]int64{"run_id": run.ID})
	return nil
}

// RunOutcome is the details of a synchronous webhook's error: the run
// that did not respond and, when it failed, its root cause's step and
// diagnosis title (never the other side's answer, which may hold secrets).
type RunOutcome struct {
	RunID int64  `json:"run_id"`
	Step  string `json:"step,omitempty"`
	Code  string `json:"code,omitempty"`
	Title string `json:"title,omitempty"`
}

// unanswered is the answer to a webhook whose flow has a respond action
// that did not respond: 502 run_failed naming the run and its root
// cause's diagnosis when the run failed or was cancelled first, as a
// gateway whose upstream failed; 504 run_not_finished with the run id
// when the run goes on past the respond timeout (or parked on a delay or
// a retry's wait); nil, for the usual 202, when it succeeded without
// reaching its respond action (a respond in a branch not taken).
func (s *server) unanswered(r *http.Request, runID int64) error {
	run, err := s.store.GetRun(r.Context(), runID)
	if err != nil {
		return fmt.Errorf("webhook: run %d: %w", runID, err)
	}
	switch run.Status {
	case store.RunSucceeded:
		return nil
	case store.RunFailed, store.RunCancelled:
		fails, _, err := notify.RunFailures(r.Context(), s.store, run.ID)
		if err != nil {
			return fmt.Errorf("webhook: run %d: %w", runID, err)
		}
		root, _ := notify.RootCause(fails)
		if run.Status == store.RunCancelled && len(fails) == 0 {
			root = notify.Failure{Step: "run", Code: "run.cancelled", Title: "The run was cancelled"}
		}
		return &Error{Status: http.StatusBadGateway, Code: CodeRunFailed,
			Message: fmt.Sprintf("run %d %s at step %s before it responded: %s (see `sluice runs show %d`)", run.ID, run.Status, root.Step, root.Title, run.ID),
			Details: RunOutcome{RunID: run.ID, Step: root.Step, Code: root.Code, Title: root.Title}}
	}
	return &Error{Status: http.StatusGatewayTimeout, Code: CodeRunNotFinished,
		Message: fmt.Sprintf("run %d goes on but did not respond in time; follow it with `sluice runs show %d`", run.ID, run.ID),
		Details: RunOutcome{RunID: run.ID}}
}
