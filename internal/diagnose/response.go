package diagnose

import (
	"encoding/json"
	"encoding/xml"
	"html"
	"io"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxBody is how much of a body is parsed and searched; error bodies are
// small, and a cap keeps a hostile answer from costing much.
const maxBody = 64 << 10

// response is an Input read once into the signals that match rules use.
type response struct {
	in      Input
	kind    string
	status  int    // the status that classifies: in.Status, or a problem document's
	problem bool   // the body is an RFC 9457 problem document
	host    string // lower case, without port
	path    string
	headers map[string]string // lower-case names

	doc      any      // decoded JSON, or the XML tree, or nil
	isXML    bool     // doc came from XML
	xmlCodes []string // text of <Code>, <code> and <errorCode> elements
	text     string   // the body as text: raw, or HTML without tags
	title    string   // an HTML page's <title>

	wait             time.Duration // namedWait, once read
	waitOK, waitDone bool
	detailText       string // detail, once read
	detailDone       bool
}

var urlInMessage = regexp.MustCompile(`https?://[^\s"'<>]+`)

func newResponse(in Input) *response {
	r := &response{in: in, kind: strings.ToLower(strings.TrimSpace(in.Kind))}
	if r.kind == "" && in.Status > 0 {
		r.kind = KindHTTP
	}
	r.headers = make(map[string]string, len(in.Headers))
	for k, v := range in.Headers {
		r.headers[strings.ToLower(strings.TrimSpace(k))] = v
	}
	raw := in.URL
	if raw == "" {
		raw = urlInMessage.FindString(in.Message)
	}
	if u, err := url.Parse(strings.TrimSpace(raw)); err == nil {
		r.host = strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
		r.path = u.EscapedPath()
	}
	r.readBody()
	r.status = in.Status
	r.problem = r.isProblem()
	if ct, _ := r.header("Content-Type"); r.problem && r.status < 400 && strings.Contains(strings.ToLower(ct), "problem+json") {
		// A problem document is about an error; when it came with a
		// success status (a gateway or a framework that wraps it), its
		// own status says which. Only when its Content-Type says so: a
		// record with a title and a status (an uptime check's "status":
		// 500) is not a problem document.
		if m, _ := r.doc.(map[string]any); m != nil {
			if f, ok := m["status"].(float64); ok && f >= 400 && f <= 599 && f == float64(int(f)) {
				r.status = int(f)
			}
		}
	}
	return r
}

// isProblem reports whether the body is an RFC 9457 (formerly 7807)
// problem document: its Content-Type says so, or it is a JSON object with
// a string "title" and a numeric "status" or a string "type", and with
// neither GraphQL's "errors" list nor an "error" object beside them.
func (r *response) isProblem() bool {
	m, ok := r.doc.(map[string]any)
	if !ok || r.isXML {
		return false
	}
	if ct, _ := r.header("Content-Type"); strings.Contains(strings.ToLower(ct), "problem+json") {
		return true
	}
	if _, ok := m["title"].(string); !ok {
		return false
	}
	if _, ok := m["error"].(map[string]any); ok {
		return false
	}
	if _, ok := m["errors"].([]any); ok {
		return false
	}
	_, num := m["status"].(float64)
	_, typ := m["type"].(string)
	return num || typ
}

// header returns the value of the header name (any case).
func (r *response) header(name string) (string, bool) {
	v, ok := r.headers[strings.ToLower(name)]
	return v, ok
}

// readBody decodes the body into doc, text and title.
func (r *response) readBody() {
	var raw string
	switch b := r.in.Body.(type) {
	case nil:
		raw = r.in.RawBody
	case string:
		raw = b
	case []byte:
		raw = string(b)
	default:
		r.doc = b
		if r.in.RawBody != "" {
			r.text = truncate(r.in.RawBody, maxBody)
		} else if j, err := json.Marshal(b); err == nil {
			r.text = truncate(string(j), maxBody)
		}
		return
	}
	raw = truncate(raw, maxBody)
	r.text = raw
	t := strings.TrimSpace(raw)
	switch {
	case t == "":
	case t[0] == '{' || t[0] == '[':
		var v any
		d := json.NewDecoder(strings.NewReader(t))
		d.UseNumber()
		if d.Decode(&v) == nil {
			r.doc = normalizeNumbers(v, 0)
		}
	case isHTML(t):
		if m := titleRE.FindStringSubmatch(t); m != nil {
			r.title = oneLine(html.UnescapeString(m[1]))
		}
		r.text = oneLine(html.UnescapeString(tagRE.ReplaceAllString(scriptRE.ReplaceAllString(t, " "), " ")))
	case t[0] == '<':
		r.doc, r.xmlCodes = parseXML(t)
		r.isXML = r.doc != nil
	}
}

// normalizeNumbers turns json.Number into float64, as encoding/json would
// without UseNumber, so that a body given as text and one given decoded
// look the same. depth stops a deep document from costing much.
func normalizeNumbers(v any, depth int) any {
	if depth > 64 {
		return nil
	}
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return x.String()
		}
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeNumbers(e, depth+1)
		}
	case []any:
		for i, e := range x {
			x[i] = normalizeNumbers(e, depth+1)
		}
	}
	return v
}

var (
	titleRE  = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)
	tagRE    = regexp.MustCompile(`(?s)<[^>]*>`)
	scriptRE = regexp.MustCompile(`(?is)<(script|style)[^>]*>.*?</(script|style)>`)
	spaceRE  = regexp.MustCompile(`\s+`)
)

// firstTagRE finds the name of the first element of a document, after
// an XML declaration, comments and a doctype.
var firstTagRE = regexp.MustCompile(`^(?:\s*(?:<\?[^>]*\?>|<!--(?s:.*?)-->|<![^>]*>))*\s*<([a-zA-Z][\w:.-]*)`)

// isHTML reports whether t is an HTML page, from its doctype, an <html>
// element, or a first element that only HTML has; an XML document whose
// elements are called Header or Body (SOAP) is not one.
func isHTML(t string) bool {
	head := strings.ToLower(t[:min(len(t), 512)])
	if strings.HasPrefix(head, "<!doctype html") || strings.Contains(head, "<html") {
		return true
	}
	m := firstTagRE.FindStringSubmatch(head)
	if m == nil {
		return false
	}
	switch m[1] {
	case "head", "title", "body", "h1", "h2", "p", "div", "center", "pre", "meta", "style", "script":
		return true
	}
	return false
}

func oneLine(s string) string {
	return strings.TrimSpace(spaceRE.ReplaceAllString(s, " "))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// parseXML reads an XML document into nested maps (element name to a
// string, a map, or a slice of those when repeated), rooted at the
// document element, and collects the text of code elements. It returns nil
// when the text is not XML.
func parseXML(s string) (any, []string) {
	type frame struct {
		name string
		m    map[string]any
		text strings.Builder
	}
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = false
	d.Entity = xml.HTMLEntity
	var stack []*frame
	var root map[string]any
	var codes []string
	for n := 0; n < 10000; n++ {
		tok, err := d.Token()
		if err != nil {
			if err != io.EOF && root == nil {
				return nil, nil
			}
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) > 64 {
				return root, codes
			}
			stack = append(stack, &frame{name: t.Name.Local, m: map[string]any{}})
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text.Write(t)
			}
		case xml.EndElement:
			if len(stack) == 0 {
				continue
			}
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			var v any = f.m
			if len(f.m) == 0 {
				v = strings.TrimSpace(f.text.String())
				switch f.name {
				case "Code", "code", "errorCode", "ErrorCode":
					codes = append(codes, v.(string))
				}
			}
			if len(stack) == 0 {
				root = map[string]any{f.name: v}
				continue
			}
			parent := stack[len(stack)-1].m
			switch old := parent[f.name].(type) {
			case nil:
				parent[f.name] = v
			case []any:
				parent[f.name] = append(old, v)
			default:
				parent[f.name] = []any{old, v}
			}
		}
	}
	if root == nil {
		return nil, nil
	}
	return root, codes
}

// lookup returns the values at path in doc. A path is dot-separated keys,
// each optionally followed by [N] (one element) or [] (every element);
// arrays met on the way are searched element by element, so "errors.code"
// finds the code of every error. An empty path or "$" is the document.
func lookup(doc any, path string) []any {
	cur := []any{doc}
	if path == "" || path == "$" {
		return flatten(cur, 0)
	}
	for _, seg := range strings.Split(path, ".") {
		name, idx := seg, -2 // -2: no index, -1: every element
		if i := strings.IndexByte(seg, '['); i >= 0 && strings.HasSuffix(seg, "]") {
			name = seg[:i]
			switch in := seg[i+1 : len(seg)-1]; in {
			case "", "*":
				idx = -1
			default:
				n, err := strconv.Atoi(in)
				if err != nil || n < 0 {
					return nil
				}
				idx = n
			}
		}
		var next []any
		for _, v := range flatten(cur, 0) {
			if name != "" {
				m, ok := v.(map[string]any)
				if !ok {
					continue
				}
				if v, ok = m[name]; !ok {
					continue
				}
			}
			arr, isArr := v.([]any)
			switch {
			case idx == -2:
				next = append(next, v)
			case !isArr:
				continue
			case idx == -1:
				next = append(next, arr...)
			case idx < len(arr):
				next = append(next, arr[idx])
			}
		}
		cur = next
		if len(cur) == 0 {
			return nil
		}
	}
	return flatten(cur, 0)
}

// flatten replaces arrays in vs by their elements.
func flatten(vs []any, depth int) []any {
	has := false
	for _, v := range vs {
		if _, ok := v.([]any); ok {
			has = true
			break
		}
	}
	if !has || depth > 4 {
		return vs
	}
	out := make([]any, 0, len(vs))
	for _, v := range vs {
		if a, ok := v.([]any); ok {
			out = append(out, flatten(a, depth+1)...)
		} else {
			out = append(out, v)
		}
	}
	return out
}

// scalar returns a JSON scalar as text: strings as they are, numbers as
// written without exponent, booleans as true/false, null as "null".
func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	case json.Number:
		return x.String(), true
	case int:
		return strconv.Itoa(x), true
	case nil:
		return "null", true
	}
	return "", false
}

// detailPaths are where APIs put their human-readable error message, most
// specific first.
var detailPaths = []string{
	"error.message", "error_description", "error.error_description", "description",
	"errors[0].message", "errors[0].detail", "errors[0].title", "errorMessages[0]",
	"error.errors[0].message", "message", "Message", "errorMessage", "error_message",
	"fault.faultstring", "detail", "error.detail", "title", "error", "errors", "msg", "reason",
	"ErrorResponse.Error.Message", "Error.Message", "Response.Errors.Error.Message",
	// SOAP 1.1 and 1.2 faults.
	"Envelope.Body.Fault.faultstring", "Envelope.Body.Fault.Reason.Text",
}

// maxDetail bounds the quoted message.
const maxDetail = 240

// detail is what the other side said about the error, in one short line,
// or "".
func (r *response) detail() string {
	if !r.detailDone {
		r.detailText, r.detailDone = r.readDetail(), true
	}
	return r.detailText
}

func (r *response) readDetail() string {
	if r.problem {
		if d := r.problemDetail(); d != "" {
			return d
		}
	}
	if r.doc != nil {
		for _, p := range detailPaths {
			for _, v := range lookup(r.doc, p) {
				if s, ok := v.(string); ok && strings.TrimSpace(s) != "" {
					return clip(oneLine(s), maxDetail)
				}
				if m, ok := v.(map[string]any); ok && p == "errors" {
					// Jira and Shopify: {"errors": {"field": "message"}}.
					for k, e := range m {
						if s, ok := scalar(e); ok && s != "" {
							return clip(oneLine(k+": "+s), maxDetail)
						}
					}
				}
			}
		}
		if r.isXML {
			return ""
		}
		if _, ok := r.doc.(map[string]any); ok {
			return ""
		}
		if _, ok := r.doc.([]any); ok {
			return ""
		}
	}
	if r.title != "" {
		return clip(r.title, maxDetail)
	}
	t := strings.TrimSpace(r.text)
	if t == "" || strings.HasPrefix(t, "<") {
		return ""
	}
	if i := strings.IndexByte(t, '\n'); i >= 0 {
		t = t[:i]
	}
	return clip(oneLine(t), maxDetail)
}

// problemDetail is what a problem document says: its title and its
// detail (the title alone when it has no detail, the detail alone when it
// repeats the title), then the first of the invalid fields that ASP.NET
// ("errors": {"Email": ["..."]}) and Zalando ("violations": [{"field",
// "message"}]) list.
func (r *response) problemDetail() string {
	m := r.doc.(map[string]any)
	title, _ := m["title"].(string)
	detail, _ := m["detail"].(string)
	title, detail = oneLine(title), oneLine(detail)
	var parts []string
	switch {
	case detail == "":
		parts = append(parts, title)
	case title == "" || strings.Contains(strings.ToLower(detail), strings.ToLower(title)):
		parts = append(parts, detail)
	default:
		parts = append(parts, strings.TrimSuffix(title, ".")+": "+detail)
	}
	if f := firstInvalidField(m); f != "" {
		parts = append(parts, f)
	}
	out := strings.TrimSpace(strings.Join(parts, " "))
	return clip(out, maxDetail)
}

// firstInvalidField returns "field: message" for the first invalid field
// a problem document lists, or "". Map keys are sorted so that the
// quote is the same on every run.
func firstInvalidField(m map[string]any) string {
	if errs, ok := m["errors"].(map[string]any); ok {
		keys := make([]string, 0, len(errs))
		for k := range errs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			for _, v := range flatten([]any{errs[k]}, 0) {
				if s, ok := v.(string); ok && strings.TrimSpace(s) != "" {
					return oneLine(s)
				}
			}
		}
	}
	for _, list := range []string{"violations", "invalid-params", "invalid_params"} {
		for _, v := range lookup(m, list) {
			f, _ := v.(map[string]any)
			if f == nil {
				continue
			}
			name, _ := f["field"].(string)
			if name == "" {
				name, _ = f["name"].(string)
			}
			msg, _ := f["message"].(string)
			if msg == "" {
				msg, _ = f["reason"].(string)
			}
			if msg != "" {
				if name != "" {
					return oneLine(name + ": " + msg)
				}
				return oneLine(msg)
			}
		}
	}
	return ""
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// date is the time the answer was sent (its Date header), or now.
func (r *response) date() time.Time {
	if v, ok := r.header("Date"); ok {
		if t, err := http.ParseTime(strings.TrimSpace(v)); err == nil {
			return t
		}
	}
	return time.Now()
}

// retryAfter reads how long the other side asked to wait, from, in order:
// Retry-After (seconds or an HTTP date), a retry_after in the body
// (Discord, Telegram), RateLimit-Reset and RateLimit's reset= (IETF
// draft), X-RateLimit-Reset-After (Discord) and X-RateLimit-Reset (epoch
// seconds, or seconds from now when small). It returns 0 when none says.
func (r *response) retryAfter() time.Duration {
	d, _ := r.namedWait()
	return d
}

// namedWait is retryAfter, with ok false when the answer names no wait
// at all (as opposed to a wait of 0).
func (r *response) namedWait() (time.Duration, bool) {
	if r.waitDone {
		return r.wait, r.waitOK
	}
	r.wait, r.waitOK = r.readWait()
	r.waitDone = true
	return r.wait, r.waitOK
}

func (r *response) readWait() (time.Duration, bool) {
	if v, ok := r.header("Retry-After"); ok {
		if d, ok := r.parseWait(v, false); ok {
			return d, true
		}
	}
	if r.doc != nil {
		for _, p := range []string{"retry_after", "parameters.retry_after", "RetryAfterSeconds", "error.retry_after"} {
			for _, v := range lookup(r.doc, p) {
				if s, ok := scalar(v); ok {
					if d, ok := secondsToDuration(s); ok {
						return d, true
					}
				}
			}
		}
	}
	if v, ok := r.header("RateLimit-Reset"); ok {
		if d, ok := secondsToDuration(v); ok {
			return d, true
		}
	}
	if v, ok := r.header("RateLimit"); ok {
		if m := resetParam.FindStringSubmatch(v); m != nil {
			if d, ok := secondsToDuration(m[1]); ok {
				return d, true
			}
		}
	}
	if v, ok := r.header("X-RateLimit-Reset-After"); ok {
		if d, ok := secondsToDuration(v); ok {
			return d, true
		}
	}
	if v, ok := r.header("X-RateLimit-Reset"); ok {
		if d, ok := r.parseWait(v, true); ok {
			return d, true
		}
	}
	return 0, false
}

var resetParam = regexp.MustCompile(`(?i)\breset=(\d+(?:\.\d+)?)`)

// parseWait reads seconds, an HTTP date, or (epoch true) Unix seconds.
func (r *response) parseWait(v string, epoch bool) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		if epoch && f > 1e9 {
			if f > 1e12 { // milliseconds
				f /= 1000
			}
			at := time.Unix(int64(f), 0)
			return clampWait(at.Sub(r.date()))
		}
		return secondsToDuration(v)
	}
	if t, err := http.ParseTime(v); err == nil {
		return clampWait(t.Sub(r.date()))
	}
	return 0, false
}

func secondsToDuration(v string) (time.Duration, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || f < 0 {
		return 0, false
	}
	if f > MaxRetryAfter.Seconds() {
		return MaxRetryAfter, true
	}
	return time.Duration(f * float64(time.Second)).Round(time.Millisecond), true
}

func clampWait(d time.Duration) (time.Duration, bool) {
	switch {
	case d < 0:
		return 0, true
	case d > MaxRetryAfter:
		return MaxRetryAfter, true
	}
	return d.Round(time.Second), true
}
