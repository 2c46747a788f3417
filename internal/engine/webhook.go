package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluice/sluice/internal/flow"
	"github.com/sluice/sluice/internal/store"
)

// responder carries a respond action's response to the webhook request
// that started the run. send(nil) means the run will not respond (it
// finished, parked or stopped first); the first send wins.
type responder struct {
	once sync.Once
	ch   chan *Response
}

func newResponder() *responder { return &responder{ch: make(chan *Response, 1)} }

// send delivers the response once; later sends are dropped.
func (r *responder) send(resp *Response) {
	if r == nil {
		return
	}
	r.once.Do(func() { r.ch <- resp })
}

// WebhookHandler serves webhook triggers at /hooks/{token}: any method,
// the body parsed by its content type. The run is committed before the
// answer, which is 202 with the run id, or the response of the flow's
// respond action.
func (e *Engine) WebhookHandler() http.Handler {
	return http.HandlerFunc(e.serveWebhook)
}

func (e *Engine) serveWebhook(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	if token == "" {
		token = strings.TrimPrefix(r.URL.Path, "/hooks/")
	}
	f, err := e.st.GetFlowByWebhookToken(r.Context(), token)
	if errors.Is(err, store.ErrNotFound) || (err == nil && f.TriggerType != flow.TriggerWebhook) {
		webhookError(w, http.StatusNotFound, "not_found", "no webhook flow has this URL: check the URL in `sluice flows show`")
		return
	}
	if err != nil {
		e.internalError(w, r, err)
		return
	}
	if !f.Enabled {
		webhookError(w, http.StatusConflict, "flow_disabled", fmt.Sprintf("flow %q is turned off: turn it on with `sluice flows enable %s`", f.Name, f.Name))
		return
	}
	trig, status, msg := e.readTrigger(w, r)
	if status != 0 {
		webhookError(w, status, "bad_request", msg)
		return
	}
	pl, err := e.plans.get(r.Context(), e.st, f.ID, f.Version)
	if err != nil {
		e.internalError(w, r, err)
		return
	}
	var resp *responder
	if pl.def.HasRespond() {
		resp = newResponder()
	}
	run, local, err := e.start(r.Context(), StartRequest{Flow: f, Version: f.Version, TriggerType: flow.TriggerWebhook, Trigger: trig}, resp)
	if errors.Is(err, ErrTooLarge) {
		webhookError(w, http.StatusRequestEntityTooLarge, "too_large", err.Error())
		return
	}
	if err != nil {
		e.internalError(w, r, err)
		return
	}
	if resp != nil && local {
		t := time.NewTimer(e.cfg.RespondTimeout)
		defer t.Stop()
		select {
		case out := <-resp.ch:
			if out != nil {
				for k, v := range out.Headers {
					w.Header().Set(k, v)
				}
				w.Header().Set("X-Sluice-Run", strconv.FormatInt(run.ID, 10))
				w.WriteHeader(out.Status)
				w.Write(out.Body)
				return
			}
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Sluice-Run", strconv.FormatInt(run.ID, 10))
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, `{"run_id":%d}`+"\n", run.ID)
}

// readTrigger builds the trigger object from a webhook request: method,
// path, headers and query (first values, header names in lower case), and
// the body parsed by content type. It returns a status and message for bad
// input.
func (e *Engine) readTrigger(w http.ResponseWriter, r *http.Request) (Trigger, int, string) {
	t := Trigger{Method: r.Method, Path: r.URL.Path, Headers: map[string]string{}, Query: map[string]string{}}
	for k, v := range r.Header {
		t.Headers[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	for k, v := range r.URL.Query() {
		t.Query[k] = v[0]
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, e.cfg.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return t, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than the %s cap", byteSize(mbe.Limit))
		}
		return t, http.StatusBadRequest, "read request body: " + err.Error()
	}
	if len(raw) == 0 {
		return t, 0, ""
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		if err := flow.CheckDepth(raw, flow.MaxInputNesting); err != nil {
			return t, http.StatusBadRequest, "request body: " + err.Error()
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return t, http.StatusBadRequest, "request body is not valid JSON: " + jsonErrorText(raw, err)
		}
		t.Body = v
	case mt == "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(raw))
		if err != nil {
			return t, http.StatusBadRequest, "request body is not a valid form: " + err.Error()
		}
		form := make(map[string]any, len(vals))
		for k, v := range vals {
			if len(v) == 1 {
				form[k] = v[0]
			} else {
				list := make([]any, len(v))
				for i, s := range v {
					list[i] = s
				}
				form[k] = list
			}
		}
		t.Body = form
	default:
		t.Body = parseBody(mt, raw)
	}
	return t, 0, ""
}

// jsonErrorText says where JSON went wrong, with line and column.
func jsonErrorText(raw []byte, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	off := int64(-1)
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 {
		return err.Error()
	}
	line, col := 1, 1
	for _, c := range raw[:min(int(off), len(raw))] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Sprintf("%v (line %d, column %d)", err, line, col)
}

// webhookError answers with the API's JSON error shape.
func webhookError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg}})
}

// internalError logs an unexpected failure and answers 500 with a
// request id, never the internal text.
func (e *Engine) internalError(w http.ResponseWriter, r *http.Request, err error) {
	id := fmt.Sprintf("%x", time.Now().UnixNano())
	e.log.Error("webhook", slog.String("request_id", id), slog.String("path", "/hooks/..."), slog.Any("err", err))
	webhookError(w, http.StatusInternalServerError, "internal", "internal error (request id "+id+")")
}
