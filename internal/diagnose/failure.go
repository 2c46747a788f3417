package diagnose

import "strings"

// IsFailure reports whether an HTTP answer is a failure: a status of 400
// or more, or a 2xx whose body says it failed. The engine calls it on
// every answer so that an error reported with a 200, such as Slack's
// {"ok": false, "error": "invalid_auth"} or Telegram's
// {"ok": false, "error_code": 401}, fails the step and gets a diagnosis
// instead of passing as a success. It is Default().IsFailure.
func IsFailure(status int, headers map[string]string, body any) bool {
	return Default().IsFailure(status, headers, body)
}

// IsFailure reports whether an HTTP answer is a failure. Besides a status
// of 400 or more, a 2xx (or 1xx/3xx) answer fails when:
//   - its body is a JSON object with "ok": false (Slack, Telegram), or
//     "success": false together with an error field;
//   - it is a GraphQL answer with "errors" and no data: "data" absent,
//     null, or an object whose every field is null (the one operation
//     asked for failed); or its errors say it was throttled. A partial
//     answer, with errors beside some data, is a success: GraphQL allows
//     it, the data is usable, and the flow can read body.errors;
//   - it is a JSON-RPC 2.0 answer with an "error" object;
//   - it is an RFC 9457 problem document (Content-Type
//     application/problem+json) whose "status" is 400 or more;
//   - it is a SOAP envelope holding a Fault;
//   - its body holds nothing but an error: an object whose only keys are
//     "error", "errors", "message", "error_description", "code" or "status"
//     and that has "error" or "errors";
//   - a catalog entry that lists that 2xx status explicitly matches it.
//
// A 2xx body that merely contains an "error" key among its data is not a
// failure.
func (c *Catalog) IsFailure(status int, headers map[string]string, body any) bool {
	if status >= 400 {
		return true
	}
	r := newResponse(Input{Kind: KindHTTP, Status: status, Headers: headers, Body: body})
	if m, ok := r.doc.(map[string]any); ok && !r.isXML {
		if v, ok := m["ok"].(bool); ok && !v {
			return true
		}
		if v, ok := m["success"].(bool); ok && !v && (m["error"] != nil || m["errors"] != nil || m["message"] != nil) {
			return true
		}
		if errs, ok := m["errors"].([]any); ok && len(errs) > 0 {
			if data, has := m["data"]; !has || allNull(data) {
				return true
			}
			if strings.Contains(strings.ToUpper(r.text), `"THROTTLED"`) {
				return true
			}
		}
		if _, rpc := m["jsonrpc"].(string); rpc {
			if _, ok := m["error"].(map[string]any); ok {
				return true
			}
		}
		if r.problem && r.status >= 400 {
			return true
		}
		if m["error"] != nil || m["errors"] != nil {
			only := true
			for k := range m {
				switch k {
				case "error", "errors", "message", "error_description", "code", "status", "error_code", "description":
				default:
					only = false
				}
			}
			if only {
				if s, ok := m["error"].(string); !ok || s != "" {
					return true
				}
			}
		}
	}
	if r.isXML && len(lookup(r.doc, "Envelope.Body.Fault")) > 0 {
		return true
	}
	// An entry naming this status explicitly (such as a 200) describes an
	// error reported with it.
	for _, l := range [][]*entry{c.admin, c.provider} {
		for _, e := range l {
			if e.Match.namesStatus(status) && e.Match.score(r) > 0 {
				return true
			}
		}
	}
	return false
}

// namesStatus reports whether the match lists status as a single code.
func (m *match) namesStatus(status int) bool {
	for _, s := range m.Status {
		if s.lo == status && s.hi == status {
			return true
		}
	}
	return false
}

// allNull reports whether a GraphQL "data" holds nothing: null, or an
// object whose every field is null.
func allNull(data any) bool {
	switch d := data.(type) {
	case nil:
		return true
	case map[string]any:
		for _, v := range d {
			if v != nil {
				return false
			}
		}
		return true
	}
	return false
}
