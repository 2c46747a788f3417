package flow

import (
	"strings"
	"time"
)

// MaxDelay is the longest a delay action may wait.
const MaxDelay = 30 * 24 * time.Hour

// HTTPMethods are the methods an http action may use.
var HTTPMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}

// TerminateStatuses are the statuses a terminate action may end a run with.
var TerminateStatuses = []string{StatusSucceeded, StatusFailed, StatusCancelled}

// withFields lists the with fields of each action type that has them.
var withFields = map[string][]string{
	ActionHTTP:      {"method", "url", "headers", "query", "body", "json", "form", "idempotency_key"},
	ActionEmail:     {"to", "cc", "bcc", "reply_to", "subject", "body", "html"},
	ActionCompose:   {"value"},
	ActionDelay:     {"duration"},
	ActionTerminate: {"status", "message"},
	ActionRespond:   {"status", "headers", "body"},
}

// requiredWith lists the with fields each action type must have.
var requiredWith = map[string][]string{
	ActionHTTP:      {"url"},
	ActionEmail:     {"to", "subject"},
	ActionCompose:   {"value"},
	ActionDelay:     {"duration"},
	ActionTerminate: {"status"},
}

// with reads an action's with mapping, checks the fields its type expects,
// and records the steps its templates use.
func (c *checker) with(info *actionInfo, n *node, path string) map[string]any {
	if n.kind != kindMap {
		c.reportAt(path, n, "must be a mapping, not %s", n.kind.describe())
		return nil
	}
	c.templates(info, n, path)
	t := info.action.Type
	allowed, known := withFields[t]
	if !known {
		return n.value().(map[string]any)
	}
	f, _ := c.fields(n, path, allowed)
	for _, name := range requiredWith[t] {
		if _, ok := f[name]; !ok {
			c.reportAt(join(path, name), n, "missing; a %s action needs with.%s", t, name)
		}
	}
	switch t {
	case ActionHTTP:
		c.httpWith(f, path)
	case ActionEmail:
		c.emailWith(f, path)
	case ActionDelay:
		if e, ok := f["duration"]; ok {
			c.delayDuration(e, path+".duration")
		}
	case ActionTerminate:
		if e, ok := f["status"]; ok {
			if s, ok := c.str(e, path+".status"); ok && !hasTemplate(s) {
				if _, err := TerminateStatus(s); err != nil {
					c.reportAt(path+".status", e.val, "unknown status %q%s; use %s", s, c.didYouMean(s, TerminateStatuses), oneOf(TerminateStatuses))
				}
			}
		}
		if e, ok := f["message"]; ok {
			c.str(e, path+".message")
		}
	case ActionRespond:
		if e, ok := f["status"]; ok {
			c.respondStatus(e, path+".status")
		}
		if e, ok := f["headers"]; ok {
			c.scalarMap(e, path+".headers", true)
		}
	}
	return n.value().(map[string]any)
}

// templates checks every string in n that holds a template.
func (c *checker) templates(info *actionInfo, n *node, path string) {
	switch n.kind {
	case kindString:
		if hasTemplate(n.str) {
			c.template(info, n, path)
		}
	case kindMap:
		for _, e := range n.entries {
			c.templates(info, e.val, join(path, e.key))
		}
	case kindList:
		for i, it := range n.items {
			c.templates(info, it, at(path, i))
		}
	}
}

func isTemplate(n *node) bool {
	return n.kind == kindString && hasTemplate(n.str)
}

func (c *checker) httpWith(f map[string]entry, path string) {
	if e, ok := f["url"]; ok {
		if s, ok := c.str(e, path+".url"); ok && !hasTemplate(s) {
			if _, err := HTTPURL(s); err != nil {
				c.reportAt(path+".url", e.val, "%v", err)
			}
		}
	}
	if e, ok := f["method"]; ok {
		if s, ok := c.str(e, path+".method"); ok && !hasTemplate(s) {
			if _, err := HTTPMethod(s); err != nil {
				c.reportAt(path+".method", e.val, "%v", err)
			}
		}
	}
	if e, ok := f["headers"]; ok {
		c.scalarMap(e, path+".headers", true)
	}
	if e, ok := f["query"]; ok {
		c.scalarMap(e, path+".query", false)
	}
	if e, ok := f["form"]; ok {
		c.scalarMap(e, path+".form", false)
	}
	if e, ok := f["body"]; ok && e.val.kind != kindString && e.val.kind != kindNull {
		c.reportAt(path+".body", e.val, "is sent as text and must be a string, not %s; use json for structured data", e.val.kind.describe())
	}
	var given []entry
	for _, name := range []string{"body", "json", "form"} {
		if e, ok := f[name]; ok {
			given = append(given, e)
		}
	}
	for _, e := range given[min(1, len(given)):] {
		c.report(join(path, e.key), e.line, e.col, "body, json and form cannot be combined; %s is already given", given[0].key)
	}
	if e, ok := f["idempotency_key"]; ok && e.val.kind != kindBool {
		c.reportAt(path+".idempotency_key", e.val, "must be true or false, not %s", e.val.kind.describe())
	}
}

func (c *checker) emailWith(f map[string]entry, path string) {
	for _, name := range []string{"to", "cc", "bcc", "reply_to"} {
		e, ok := f[name]
		if !ok {
			continue
		}
		p := path + "." + name
		switch {
		case name == "reply_to" && e.val.kind == kindString:
			if !hasTemplate(e.val.str) {
				if _, err := EmailReplyTo(e.val.str); err != nil {
					c.reportAt(p, e.val, "%v", err)
				}
			}
		case e.val.kind == kindString:
			c.addresses(e.val, p)
		case e.val.kind == kindList && name != "reply_to":
			if len(e.val.items) == 0 {
				c.reportAt(p, e.val, "must list at least one address")
			}
			for i, it := range e.val.items {
				if it.kind != kindString {
					c.reportAt(at(p, i), it, "must be an email address, not %s", it.kind.describe())
					continue
				}
				c.addresses(it, at(p, i))
			}
		case name == "reply_to":
			c.reportAt(p, e.val, "must be an email address, not %s", e.val.kind.describe())
		default:
			c.reportAt(p, e.val, "must be an email address or a list of them, not %s", e.val.kind.describe())
		}
	}
	for _, name := range []string{"subject", "body", "html"} {
		if e, ok := f[name]; ok {
			if s, ok := c.str(e, path+"."+name); ok && name == "subject" && !hasTemplate(s) {
				if err := EmailSubject(s); err != nil {
					c.reportAt(path+"."+name, e.val, "%v", err)
				}
			}
		}
	}
}

// addresses checks a written address list such as "a@example.com, Bo
// <b@example.com>".
func (c *checker) addresses(n *node, path string) {
	if hasTemplate(n.str) {
		return
	}
	switch list, err := EmailAddresses(n.str); {
	case err != nil:
		c.reportAt(path, n, "%v", err)
	case len(list) == 0:
		c.reportAt(path, n, "is empty; write an email address such as ann@example.com")
	}
}

// delayDuration checks a written duration with the engine's rule, and
// refuses one of 0s or less, which would not wait.
func (c *checker) delayDuration(e entry, path string) {
	if isTemplate(e.val) {
		return
	}
	d, err := DelayDuration(e.val.value())
	switch {
	case err != nil:
		c.reportAt(path, e.val, "%v", err)
	case d <= 0:
		c.reportAt(path, e.val, "%v", errDelayRange)
	}
}

// respondStatus checks a written status with the engine's rule.
func (c *checker) respondStatus(e entry, path string) {
	if isTemplate(e.val) {
		return
	}
	if _, err := RespondStatus(e.val.value()); err != nil {
		c.reportAt(path, e.val, "%v", err)
	}
}

// scalarMap checks a mapping whose values are strings, numbers or booleans
// (and, for query and form, lists of them).
func (c *checker) scalarMap(e entry, path string, headers bool) {
	if e.val.kind != kindMap {
		c.reportAt(path, e.val, "must be a mapping, not %s", e.val.kind.describe())
		return
	}
	for _, h := range e.val.entries {
		p := join(path, h.key)
		if headers && !validHeaderName(h.key) {
			c.report(p, h.line, h.col, "%q is not a valid header name", h.key)
		}
		items := []*node{h.val}
		if h.val.kind == kindList && !headers {
			items = h.val.items
		}
		for _, it := range items {
			switch it.kind {
			case kindString:
				if headers && !hasTemplate(it.str) {
					if err := HeaderValue(it.str); err != nil {
						c.reportAt(p, it, "%v", err)
					}
				}
			case kindInt, kindFloat, kindBool:
			default:
				c.reportAt(p, it, "must be a string, number or boolean, not %s", it.kind.describe())
			}
		}
	}
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b <= ' ' || b >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, b) >= 0 {
			return false
		}
	}
	return true
}
