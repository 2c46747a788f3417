package diagnose

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"
)

// Catalog is a list of error signatures, each with its diagnosis. Default
// returns the built-in one; Load adds an admin's entries in front of it.
// A Catalog may be used by many goroutines once loading is done; Load must
// not run at the same time as Diagnose.
type Catalog struct {
	admin    []*entry // tried first, in order
	provider []*entry // the most specific match wins
	generic  []*entry // tried last, in order
}

// An entry is one error signature and its diagnosis. Its JSON form is the
// catalog file format, described in catalog/README.md.
type entry struct {
	ID           string   `json:"id"`
	Provider     string   `json:"provider"`
	Source       string   `json:"source"`
	Generic      bool     `json:"generic"`
	Match        match    `json:"match"`
	Class        string   `json:"class"`
	Title        string   `json:"title"`
	WhatHappened string   `json:"what_happened"`
	HowToFix     string   `json:"how_to_fix"`
	Retryable    bool     `json:"retryable"`
	Actions      []string `json:"actions"`

	title, what, how *template.Template
}

// match is a set of conditions that must all hold; an empty match holds
// for everything.
type match struct {
	// Kinds are the step error kinds the entry applies to; empty: any.
	Kinds []string `json:"kinds,omitempty"`
	// Hosts are globs (path.Match) of the request host, e.g.
	// "*.slack.com". When the host is known and none matches, the entry
	// only applies if Signature matches.
	Hosts []string `json:"hosts,omitempty"`
	// Signature identifies the provider from the answer alone, so that the
	// entry applies behind a proxy or on an unknown host.
	Signature *match `json:"signature,omitempty"`
	// Status lists codes (404), families ("4xx") or ranges ("500-599").
	Status []statusSpec `json:"status,omitempty"`
	// URL is a regular expression on the request URL's path.
	URL string `json:"url,omitempty"`
	// Body rules must all hold.
	Body []bodyRule `json:"body,omitempty"`
	// Headers rules must all hold.
	Headers []headerRule `json:"headers,omitempty"`
	// XMLCode lists error codes of an XML body (<Code>, <errorCode>).
	XMLCode []string `json:"xml_code,omitempty"`
	// Text is a regular expression on the body as text.
	Text string `json:"text,omitempty"`
	// Detail is a regular expression on the answer's own message (what
	// What happened quotes: error.message, error_description, detail,
	// faultstring, ...), so that a word in a key or an id elsewhere in
	// the body does not match.
	Detail string `json:"detail,omitempty"`
	// Message is a regular expression on the engine's error message.
	Message string `json:"message,omitempty"`
	// Any holds when at least one of its matches holds.
	Any []match `json:"any,omitempty"`
	// Not holds when none of its matches holds.
	Not []match `json:"not,omitempty"`
	// WaitAtMost holds when the answer names a wait (Retry-After, a reset
	// header, a retry_after in the body) of at most this duration, such
	// as "15m": a limit that lifts soon, as opposed to a quota that
	// resets tomorrow or a plan that must change.
	WaitAtMost string `json:"wait_at_most,omitempty"`

	url, text, detail, message *regexp.Regexp
	waitAtMost                 time.Duration
}

// bodyRule tests the values at a path of the decoded body (JSON, or XML
// rooted at its document element). It holds when one value passes every
// test given.
type bodyRule struct {
	Path     string  `json:"path"`
	Equals   strList `json:"equals,omitempty"`
	Contains strList `json:"contains,omitempty"`
	Regex    string  `json:"regex,omitempty"`
	Exists   *bool   `json:"exists,omitempty"`
	re       *regexp.Regexp
}

// headerRule tests a header, by name in any case.
type headerRule struct {
	Name     string  `json:"name"`
	Equals   strList `json:"equals,omitempty"`
	Contains strList `json:"contains,omitempty"`
	Regex    string  `json:"regex,omitempty"`
	Present  *bool   `json:"present,omitempty"`
	// Exhausted holds for a used/limit counter whose limit is reached, such
	// as "40/40" (Shopify) or "api-usage=15000/15000" (Salesforce).
	Exhausted bool `json:"exhausted,omitempty"`
	re        *regexp.Regexp
}

// strList is a list of strings that may be written as one string, number
// or boolean.
type strList []string

func (l *strList) UnmarshalJSON(b []byte) error {
	var many []any
	if err := json.Unmarshal(b, &many); err != nil {
		var one any
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		many = []any{one}
	}
	*l = nil
	for _, v := range many {
		s, ok := scalar(v)
		if !ok || v == nil {
			return fmt.Errorf("%s: want a string, number or boolean", compactText(b))
		}
		*l = append(*l, s)
	}
	return nil
}

// statusSpec is a status code, a family ("4xx") or a range ("500-599").
type statusSpec struct{ lo, hi int }

func (s *statusSpec) UnmarshalJSON(b []byte) error {
	var n int
	if err := json.Unmarshal(b, &n); err == nil {
		if n < 100 || n > 599 {
			return fmt.Errorf("%d is not an HTTP status (100 to 599)", n)
		}
		*s = statusSpec{n, n}
		return nil
	}
	var t string
	if err := json.Unmarshal(b, &t); err != nil {
		return fmt.Errorf("%s: want a status such as 404, \"4xx\" or \"500-599\"", compactText(b))
	}
	spec, err := parseStatusSpec(t)
	if err != nil {
		return err
	}
	*s = spec
	return nil
}

func (s statusSpec) MarshalJSON() ([]byte, error) {
	if s.lo == s.hi {
		return json.Marshal(s.lo)
	}
	return json.Marshal(fmt.Sprintf("%d-%d", s.lo, s.hi))
}

func parseStatusSpec(t string) (statusSpec, error) {
	bad := fmt.Errorf("%q is not a status such as 404, \"4xx\" or \"500-599\"", t)
	t = strings.TrimSpace(strings.ToLower(t))
	if len(t) == 3 && strings.HasSuffix(t, "xx") && t[0] >= '1' && t[0] <= '5' {
		f := int(t[0]-'0') * 100
		return statusSpec{f, f + 99}, nil
	}
	lo, hi, isRange := strings.Cut(t, "-")
	a, err := strconv.Atoi(lo)
	if err != nil {
		return statusSpec{}, bad
	}
	b := a
	if isRange {
		if b, err = strconv.Atoi(hi); err != nil {
			return statusSpec{}, bad
		}
	}
	if a < 100 || b > 599 || a > b {
		return statusSpec{}, bad
	}
	return statusSpec{a, b}, nil
}

func compactText(b []byte) string { return clip(string(b), 60) }

//go:embed catalog/*.json
var builtinFS embed.FS

var (
	builtinOnce sync.Once
	builtin     Catalog
)

// Default returns a catalog holding the built-in entries. Each call returns
// a new Catalog sharing the parsed entries, so that Load on one does not
// change another. It panics if the embedded catalog is invalid, which the
// package's tests rule out.
func Default() *Catalog {
	builtinOnce.Do(func() {
		files, err := builtinFS.ReadDir("catalog")
		if err != nil {
			panic(err)
		}
		for _, f := range files {
			b, err := builtinFS.ReadFile("catalog/" + f.Name())
			if err != nil {
				panic(err)
			}
			entries, err := parseEntries(b)
			if err != nil {
				panic(fmt.Sprintf("diagnose: built-in catalog %s: %v", f.Name(), err))
			}
			for _, e := range entries {
				if e.Generic {
					builtin.generic = append(builtin.generic, e)
				} else {
					builtin.provider = append(builtin.provider, e)
				}
			}
		}
		if err := checkUnique(builtin.provider, builtin.generic); err != nil {
			panic("diagnose: built-in catalog: " + err.Error())
		}
	})
	return &Catalog{provider: builtin.provider, generic: builtin.generic}
}

// Entries returns the number of entries in the catalog.
func (c *Catalog) Entries() int {
	return len(c.admin) + len(c.provider) + len(c.generic)
}

// Load adds the entries read from r, in the catalog format (a JSON array
// of entries, or an object whose "entries" holds one), in front of those
// the catalog has, so that they win. Nothing is added when the file has an
// error; the error names the entry (by index and id) and the field.
func (c *Catalog) Load(r io.Reader) error {
	b, err := io.ReadAll(io.LimitReader(r, 16<<20))
	if err != nil {
		return fmt.Errorf("reading catalog: %w", err)
	}
	entries, err := parseEntries(b)
	if err != nil {
		return err
	}
	if err := checkUnique(entries, nil); err != nil {
		return err
	}
	c.admin = append(entries, c.admin...)
	return nil
}

// LoadFile is Load on the file at name.
func (c *Catalog) LoadFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	defer f.Close()
	if err := c.Load(f); err != nil {
		return fmt.Errorf("catalog %s: %w", name, err)
	}
	return nil
}

// parseEntries decodes and validates a catalog file.
func parseEntries(b []byte) ([]*entry, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(b, &raws); err != nil {
		var obj struct {
			Entries []json.RawMessage `json:"entries"`
		}
		if err2 := json.Unmarshal(b, &obj); err2 != nil || obj.Entries == nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				return nil, fmt.Errorf("not valid JSON: %v (at byte %d)", se, se.Offset)
			}
			return nil, errors.New(`want a JSON array of entries or an object {"entries": [...]}`)
		}
		raws = obj.Entries
	}
	out := make([]*entry, 0, len(raws))
	for i, raw := range raws {
		e := new(entry)
		d := json.NewDecoder(strings.NewReader(string(raw)))
		d.DisallowUnknownFields()
		if err := d.Decode(e); err != nil {
			return nil, fmt.Errorf("entries[%d]%s: %v", i, idHint(raw), decodeError(err))
		}
		if err := e.compile(); err != nil {
			return nil, fmt.Errorf("entries[%d] (id %q): %w", i, e.ID, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// idHint names an entry that failed to decode by its id, if it has one.
func idHint(raw json.RawMessage) string {
	var v struct {
		ID any `json:"id"`
	}
	if json.Unmarshal(raw, &v) == nil {
		if s, ok := v.ID.(string); ok && s != "" {
			return fmt.Sprintf(" (id %q)", s)
		}
	}
	return ""
}

// decodeError words a decoding error with the field it is about.
func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Errorf("%s: want %s, got %s", te.Field, te.Type, te.Value)
	}
	if s := err.Error(); strings.HasPrefix(s, "json: unknown field ") {
		return fmt.Errorf("unknown field %s", strings.TrimPrefix(s, "json: unknown field "))
	}
	return err
}

func checkUnique(lists ...[]*entry) error {
	seen := map[string]bool{}
	for _, l := range lists {
		for _, e := range l {
			if seen[e.ID] {
				return fmt.Errorf("id %q: used by two entries", e.ID)
			}
			seen[e.ID] = true
		}
	}
	return nil
}

var (
	idRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*(\.[a-zA-Z0-9_-]+)+$`)
	classes   = []string{ClassAuth, ClassConfig, ClassThrottled, ClassTransient, ClassFlow}
	actionSet = []string{ActionFixConnection, ActionEditFlow, ActionResubmit, ActionWait}
	kinds     = []string{KindHTTP, KindNetwork, KindTimeout, KindExpression, KindConfig, KindPayload, KindFlow, KindTerminate}
)

// compile checks the entry and prepares its expressions and templates.
func (e *entry) compile() error {
	if !idRE.MatchString(e.ID) {
		return fmt.Errorf("id: %q must be lower-case words joined by dots, such as \"acme.quota\"", e.ID)
	}
	if !slices.Contains(classes, e.Class) {
		return fmt.Errorf("class: %q is not one of %s", e.Class, strings.Join(classes, ", "))
	}
	for i, a := range e.Actions {
		if !slices.Contains(actionSet, a) {
			return fmt.Errorf("actions[%d]: %q is not one of %s", i, a, strings.Join(actionSet, ", "))
		}
	}
	var err error
	for _, t := range []struct {
		field string
		text  string
		dst   **template.Template
	}{
		{"title", e.Title, &e.title},
		{"what_happened", e.WhatHappened, &e.what},
		{"how_to_fix", e.HowToFix, &e.how},
	} {
		if strings.TrimSpace(t.text) == "" {
			return fmt.Errorf("%s: must not be empty", t.field)
		}
		if *t.dst, err = template.New(t.field).Option("missingkey=zero").Funcs(tipFuncs).Parse(t.text); err != nil {
			return fmt.Errorf("%s: %v", t.field, err)
		}
		// Catch unknown fields such as {{.Conection}} now, not at the
		// first failure they should explain.
		if err := (*t.dst).Execute(io.Discard, tipData{}); err != nil {
			return fmt.Errorf("%s: %v", t.field, err)
		}
	}
	return e.Match.compile("match")
}

func (m *match) compile(where string) error {
	var err error
	for i, k := range m.Kinds {
		if !slices.Contains(kinds, k) {
			return fmt.Errorf("%s.kinds[%d]: %q is not one of %s", where, i, k, strings.Join(kinds, ", "))
		}
	}
	for i, h := range m.Hosts {
		if _, err := path.Match(h, ""); err != nil || h == "" {
			return fmt.Errorf("%s.hosts[%d]: %q is not a host glob", where, i, h)
		}
		m.Hosts[i] = strings.ToLower(h)
	}
	compile := func(field, expr string, dst **regexp.Regexp) error {
		if expr == "" {
			return nil
		}
		if *dst, err = regexp.Compile(expr); err != nil {
			return fmt.Errorf("%s.%s: %v", where, field, err)
		}
		return nil
	}
	if err := compile("url", m.URL, &m.url); err != nil {
		return err
	}
	if err := compile("text", m.Text, &m.text); err != nil {
		return err
	}
	if err := compile("detail", m.Detail, &m.detail); err != nil {
		return err
	}
	if err := compile("message", m.Message, &m.message); err != nil {
		return err
	}
	for i := range m.Body {
		b := &m.Body[i]
		at := fmt.Sprintf("body[%d]", i)
		if b.Path == "" {
			return fmt.Errorf("%s.%s.path: must not be empty (use \"$\" for the whole body)", where, at)
		}
		if err := compile(at+".regex", b.Regex, &b.re); err != nil {
			return err
		}
	}
	for i := range m.Headers {
		h := &m.Headers[i]
		at := fmt.Sprintf("headers[%d]", i)
		if strings.TrimSpace(h.Name) == "" {
			return fmt.Errorf("%s.%s.name: must not be empty", where, at)
		}
		if err := compile(at+".regex", h.Regex, &h.re); err != nil {
			return err
		}
	}
	if m.Signature != nil {
		if len(m.Hosts) == 0 {
			return fmt.Errorf("%s.signature: only makes sense with hosts", where)
		}
		if err := m.Signature.compile(where + ".signature"); err != nil {
			return err
		}
	}
	for i := range m.Any {
		if err := m.Any[i].compile(fmt.Sprintf("%s.any[%d]", where, i)); err != nil {
			return err
		}
	}
	for i := range m.Not {
		if err := m.Not[i].compile(fmt.Sprintf("%s.not[%d]", where, i)); err != nil {
			return err
		}
	}
	if m.WaitAtMost != "" {
		d, err := time.ParseDuration(m.WaitAtMost)
		if err != nil || d <= 0 {
			return fmt.Errorf("%s.wait_at_most: %q is not a positive duration such as \"15m\"", where, m.WaitAtMost)
		}
		m.waitAtMost = d
	}
	return nil
}

// score is how specific a match was; 0 means it did not hold.
func (m *match) score(r *response) int {
	s := 1
	if len(m.Kinds) > 0 {
		if !slices.Contains(m.Kinds, r.kind) {
			return 0
		}
		s++
	}
	if len(m.Status) > 0 {
		ok := false
		for _, st := range m.Status {
			if r.status >= st.lo && r.status <= st.hi {
				ok = true
				if st.lo == st.hi {
					s++
				}
				break
			}
		}
		if !ok {
			return 0
		}
		s++
	}
	if m.url != nil {
		if !m.url.MatchString(r.path) {
			return 0
		}
		s += 2
	}
	for i := range m.Body {
		if !m.Body[i].holds(r) {
			return 0
		}
		s += 3
	}
	for i := range m.Headers {
		if !m.Headers[i].holds(r) {
			return 0
		}
		s += 3
	}
	if len(m.XMLCode) > 0 {
		ok := false
		for _, c := range r.xmlCodes {
			if slices.Contains(m.XMLCode, c) {
				ok = true
				break
			}
		}
		if !ok {
			return 0
		}
		s += 3
	}
	if m.text != nil {
		if !m.text.MatchString(r.text) {
			return 0
		}
		s += 2
	}
	if m.detail != nil {
		if !m.detail.MatchString(r.detail()) {
			return 0
		}
		s += 2
	}
	if m.message != nil {
		if !m.message.MatchString(r.in.Message) {
			return 0
		}
		s += 2
	}
	if m.waitAtMost > 0 {
		if d, ok := r.namedWait(); !ok || d > m.waitAtMost {
			return 0
		}
		s++
	}
	for i := range m.Not {
		if m.Not[i].score(r) > 0 {
			return 0
		}
	}
	if len(m.Any) > 0 {
		best := 0
		for i := range m.Any {
			best = max(best, m.Any[i].score(r))
		}
		if best == 0 {
			return 0
		}
		s += best
	}
	if len(m.Hosts) > 0 {
		switch {
		case r.host != "" && hostMatches(m.Hosts, r.host):
			s += 5
		case m.Signature != nil:
			sig := m.Signature.score(r)
			if sig == 0 {
				return 0
			}
			s += sig
		default:
			return 0
		}
	}
	return s
}

func hostMatches(globs []string, host string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, host); ok {
			return true
		}
	}
	return false
}

func (b *bodyRule) holds(r *response) bool {
	if r.doc == nil {
		return b.Exists != nil && !*b.Exists
	}
	vals := lookup(r.doc, b.Path)
	if b.Exists != nil {
		if *b.Exists != (len(vals) > 0) {
			return false
		}
		if !*b.Exists {
			return true
		}
	}
	if len(b.Equals) == 0 && len(b.Contains) == 0 && b.re == nil {
		return len(vals) > 0
	}
	for _, v := range vals {
		s, ok := scalar(v)
		if !ok {
			continue
		}
		if valueHolds(s, b.Equals, b.Contains, b.re, false) {
			return true
		}
	}
	return false
}

func (h *headerRule) holds(r *response) bool {
	v, ok := r.header(h.Name)
	if h.Present != nil && *h.Present != ok {
		return false
	}
	if !ok {
		return h.Present != nil && !*h.Present
	}
	if h.Exhausted && !exhausted(v) {
		return false
	}
	return valueHolds(strings.TrimSpace(v), h.Equals, h.Contains, h.re, true)
}

// valueHolds tests s against the equals (any of), contains (any of,
// ignoring case) and regex tests that are given.
func valueHolds(s string, equals, contains strList, re *regexp.Regexp, fold bool) bool {
	if len(equals) > 0 {
		ok := false
		for _, e := range equals {
			if s == e || (fold && strings.EqualFold(s, e)) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(contains) > 0 {
		ok := false
		ls := strings.ToLower(s)
		for _, c := range contains {
			if strings.Contains(ls, strings.ToLower(c)) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return re == nil || re.MatchString(s)
}

var counterRE = regexp.MustCompile(`(\d+)\s*/\s*(\d+)`)

// exhausted reports whether a "used/limit" counter has reached its limit.
func exhausted(v string) bool {
	m := counterRE.FindStringSubmatch(v)
	if m == nil {
		return false
	}
	used, err1 := strconv.ParseInt(m[1], 10, 64)
	limit, err2 := strconv.ParseInt(m[2], 10, 64)
	return err1 == nil && err2 == nil && limit > 0 && used >= limit
}

// fallback is used when no entry matches, which the built-in generic
// entries make rare (an empty catalog, or an odd kind).
var fallback = &entry{
	ID: "error.unknown", Class: ClassTransient,
	Actions: []string{ActionResubmit},
	title:   template.Must(template.New("").Parse("The step failed")),
	what:    template.Must(template.New("").Parse("{{.StepTitle}} failed and Sluice could not tell why.")),
	how:     template.Must(template.New("").Parse("Open the run, read the error of {{.Step}}, and resubmit the run once the cause is fixed.")),
}

// find returns the entry that explains r.
func (c *Catalog) find(r *response) *entry {
	for _, e := range c.admin {
		if e.Match.score(r) > 0 {
			return e
		}
	}
	var best *entry
	bestScore := 0
	for _, e := range c.provider {
		if s := e.Match.score(r); s > bestScore {
			best, bestScore = e, s
		}
	}
	if best != nil {
		return best
	}
	for _, e := range c.generic {
		if e.Match.score(r) > 0 {
			return e
		}
	}
	return fallback
}

// IDs returns the ids of the catalog's entries in the order they are tried
// (admin, provider, generic), for listings and tests.
func (c *Catalog) IDs() []string {
	var ids []string
	for _, l := range [][]*entry{c.admin, c.provider, c.generic} {
		for _, e := range l {
			ids = append(ids, e.ID)
		}
	}
	return ids
}

// Providers returns the names of the providers the catalog covers, sorted.
func (c *Catalog) Providers() []string {
	seen := map[string]bool{}
	for _, l := range [][]*entry{c.admin, c.provider} {
		for _, e := range l {
			if e.Provider != "" {
				seen[e.Provider] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
