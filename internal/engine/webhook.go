package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sluice/sluice/internal/flow"
	"github.com/sluice/sluice/internal/secret"
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

// Pending is the answer a webhook run's respond action will give.
type Pending struct {
	resp     *responder
	deadline time.Time
}

// Deadline is when Wait stops waiting: the respond timeout after the run
// started.
func (p *Pending) Deadline() time.Time { return p.deadline }

// Wait returns the respond action's response, or nil when the run will not
// respond (it finished, parked or stopped first), the respond timeout
// passed, or ctx ended.
func (p *Pending) Wait(ctx context.Context) *Response {
	t := time.NewTimer(time.Until(p.deadline))
	defer t.Stop()
	select {
	case out := <-p.resp.ch:
		return out
	case <-t.C:
	case <-ctx.Done():
	}
	return nil
}

// StartWebhook commits a run of the webhook flow f for trig (see
// WebhookTrigger). When the flow has a respond action and the run is
// worked on this node, it also returns the answer to wait for; otherwise
// Pending is nil and the caller answers 202 at once. A trigger over the
// payload cap is an error wrapping ErrTooLarge.
func (e *Engine) StartWebhook(ctx context.Context, f store.Flow, trig Trigger) (store.Run, *Pending, error) {
	pl, err := e.plans.get(ctx, e.st, f.ID, f.Version)
	if err != nil {
		return store.Run{}, nil, err
	}
	var resp *responder
	if pl.def.HasRespond() {
		resp = newResponder()
	}
	run, local, err := e.start(ctx, StartRequest{Flow: f, Version: f.Version, TriggerType: flow.TriggerWebhook, Trigger: trig}, resp)
	if err != nil || resp == nil || !local {
		return run, nil, err
	}
	return run, &Pending{resp: resp, deadline: time.Now().Add(e.cfg.RespondTimeout)}, nil
}

// WebhookTrigger builds the trigger object of a webhook request whose
// body is raw: method, path, headers and query (first values, header
// names in lower case), and the body parsed by its content type. The
// webhook token in the path and the credentials a caller sends (see
// SensitiveName) are replaced by secret.Mask, so that the run input
// never stores them. An error says what is wrong with the body.
func WebhookTrigger(r *http.Request, raw []byte) (Trigger, error) {
	path := r.URL.Path
	if token := r.PathValue("token"); token != "" {
		path = strings.ReplaceAll(path, token, secret.Mask)
	}
	t := Trigger{Method: r.Method, Path: path, Headers: map[string]string{}, Query: map[string]string{}}
	for k, v := range r.Header {
		k = strings.ToLower(k)
		t.Headers[k] = strings.Join(v, ", ")
		if SensitiveName(k) {
			t.Headers[k] = secret.Mask
		}
	}
	for k, v := range r.URL.Query() {
		t.Query[k] = v[0]
		if SensitiveName(k) {
			t.Query[k] = secret.Mask
		}
	}
	if len(raw) == 0 {
		return t, nil
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		if err := flow.CheckDepth(raw, flow.MaxInputNesting); err != nil {
			return t, fmt.Errorf("request body: %w", err)
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return t, fmt.Errorf("request body is not valid JSON: %s", jsonErrorText(raw, err))
		}
		t.Body = v
	case mt == "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(raw))
		if err != nil {
			return t, fmt.Errorf("request body is not a valid form: %w", err)
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
		t.Body = DecodeBody(mt, raw)
	}
	return t, nil
}

// sensitiveNames are the request headers and query parameters, in lower
// case, that carry a caller's credentials.
var sensitiveNames = map[string]bool{
	"authorization": true, "proxy-authorization": true, "cookie": true, "key": true,
}

// sensitiveParts mark a credential wherever they appear in a name.
var sensitiveParts = []string{"token", "secret", "password", "passwd", "apikey", "api-key", "api_key", "credential"}

// sensitiveWords mark a credential when they are a whole word of a name
// (words are separated by -, _ and .), so that X-Auth-User and X-Session-Id
// are caught but X-Author and Idempotency-Key are not.
var sensitiveWords = map[string]bool{"auth": true, "authorization": true, "session": true, "sessionid": true, "sid": true, "cookie": true}

// SensitiveName reports whether a request header or query parameter named
// name (any case) carries a credential whose value a run must not store:
// Authorization, Proxy-Authorization, Cookie and the query parameter key;
// any name containing token, secret, password, passwd, apikey, api-key,
// api_key or credential; and any name with the word auth, authorization,
// session, sessionid, sid or cookie. Signatures (X-Hub-Signature-256,
// Stripe-Signature) are kept: flows verify them, and they are worth
// nothing for another body.
func SensitiveName(name string) bool {
	name = strings.ToLower(name)
	if sensitiveNames[name] {
		return true
	}
	for _, p := range sensitiveParts {
		if strings.Contains(name, p) {
			return true
		}
	}
	for _, w := range strings.FieldsFunc(name, func(r rune) bool { return r == '-' || r == '_' || r == '.' }) {
		if sensitiveWords[w] {
			return true
		}
	}
	return false
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
