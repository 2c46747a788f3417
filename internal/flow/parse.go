package flow

import (
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// parsing holds a slot for each definition being parsed: a parse may take
// a couple of hundred megabytes at the limits, so at most one per CPU runs
// at once and a flood of checks queues instead of exhausting memory (as
// password hashes do in package auth).
var parsing = make(chan struct{}, max(1, runtime.NumCPU()))

// Parse reads a definition written in YAML or JSON and checks it. It
// reports every problem it finds, each with the path of the field at fault
// and its line and column, sorted by position; the definition is usable
// only when no problem is returned. The returned definition is nil when the
// text is not a YAML mapping at all.
func Parse(src []byte) (def *Definition, problems []Problem) {
	defer func() {
		// The checker must answer bad input with a problem, never a
		// crash; a panic here is a bug in a parser we depend on.
		if r := recover(); r != nil {
			def, problems = nil, []Problem{{Message: fmt.Sprintf("cannot read the definition: %v", r)}}
		}
	}()
	if len(src) > MaxSize {
		return nil, []Problem{{Message: fmt.Sprintf("the definition is %d bytes; the limit is %d bytes (1 MiB)", len(src), MaxSize)}}
	}
	// The parser's memory grows with the square of the depth, and by about
	// a kilobyte a value: refuse deep or crowded text before it is parsed.
	if err := prescan(src, MaxNesting, maxNodes); err != nil {
		var de *DepthError
		if errors.As(err, &de) {
			return nil, []Problem{de.problem()}
		}
		return nil, []Problem{{Message: err.Error()}}
	}
	if n := countKeys(src); n > MaxKeys {
		return nil, []Problem{{Message: fmt.Sprintf("the definition has %d keys; the limit is %d", n, MaxKeys)}}
	}
	parsing <- struct{}{}
	defer func() { <-parsing }()
	file, err := parser.ParseBytes(src, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		return nil, []Problem{syntaxProblem(err)}
	}
	var bodies []*ast.DocumentNode
	for _, doc := range file.Docs {
		if doc != nil && doc.Body != nil {
			bodies = append(bodies, doc)
		}
	}
	switch {
	case len(bodies) == 0:
		return nil, []Problem{{Message: "the definition is empty; it needs a name, a trigger and actions", Line: 1, Column: 1}}
	case len(bodies) > 1:
		l, c := position(bodies[1].Body)
		if bodies[1].Start != nil {
			l, c = bodies[1].Start.Position.Line, bodies[1].Start.Position.Column
		}
		return nil, []Problem{{Message: "a definition is one YAML document; remove the second document (---)", Line: l, Column: c}}
	}
	conv := &converter{anchors: map[string]ast.Node{}}
	root := conv.convert(bodies[0].Body, 0)
	if root == nil {
		return nil, sortProblems(conv.problems)
	}
	ck := &checker{problems: conv.problems, byID: map[string]*actionInfo{}, compiled: map[string]compiledTemplate{}}
	def = ck.definition(root)
	if def == nil {
		return nil, sortProblems(ck.problems)
	}
	ck.crossCheck()
	return def, sortProblems(ck.problems)
}

// syntaxProblem turns a YAML parse error into a Problem with its position.
func syntaxProblem(err error) Problem {
	var yerr yaml.Error
	if errors.As(err, &yerr) {
		p := Problem{Message: "not valid YAML or JSON: " + yerr.GetMessage()}
		tk := yerr.GetToken()
		if tk != nil && tk.Next != nil && tk.Next.Type == token.MappingValueType && strings.Contains(yerr.GetMessage(), "mapping value") {
			// The parser names the value before the misplaced colon, which
			// a plain scalar running over lines starts on an earlier line
			// ("type: manual" then "   bad: 1"): point at the colon.
			tk = tk.Next
		}
		if tk != nil && tk.Position != nil {
			p.Line, p.Column = tk.Position.Line, tk.Position.Column
		}
		return p
	}
	return Problem{Message: "not valid YAML or JSON: " + err.Error()}
}

func sortProblems(ps []Problem) []Problem {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Line != ps[j].Line {
			return ps[i].Line < ps[j].Line
		}
		return ps[i].Column < ps[j].Column
	})
	if len(ps) > MaxProblems {
		more := len(ps) - MaxProblems + 1
		last := ps[MaxProblems-1]
		ps = append(ps[:MaxProblems-1], Problem{Message: fmt.Sprintf("%d more problems not shown; fix the ones above first", more), Line: last.Line, Column: last.Column})
	}
	return ps
}

// actionInfo is what the checker keeps about one action while it checks
// the references between actions.
type actionInfo struct {
	action *Action
	node   *node
	path   string
	order  int
	parent *actionInfo
	// siblings are the actions before this one in the same list.
	siblings []*actionInfo
	// later are set once the whole list is read: the actions after this
	// one in the same list.
	later    []*actionInfo
	refs     []stepRef
	runAfter []stepRef
	loopVars []stepRef
}

// stepRef is a name used somewhere in an action: a step in a template, an
// action in run_after, or a loop variable.
type stepRef struct {
	id        string
	path      string
	line, col int
}

// checker builds a Definition from the generic tree and collects problems.
type checker struct {
	problems []Problem
	trigger  string
	actions  []*actionInfo
	byID     map[string]*actionInfo
	// templateCount and templateBytes charge every template compiled, aliases
	// included, against MaxTemplates and MaxTemplateBytes; overBudget is
	// set once either is spent.
	templateCount, templateBytes int
	overBudget                   bool
	// compiled remembers each distinct template's result, so that a
	// template repeated by aliases is compiled once.
	compiled map[string]compiledTemplate
}

// compiledTemplate is what compiling one template string gave.
type compiledTemplate struct {
	refs []string
	err  *templateError
}

// didYouMean is the package didYouMean until MaxProblems are found; after
// that, hints are dropped so that a hostile flow stays cheap to check.
func (c *checker) didYouMean(word string, candidates []string) string {
	if len(c.problems) >= MaxProblems {
		return ""
	}
	return didYouMean(word, candidates)
}

func (c *checker) report(path string, line, col int, format string, args ...any) {
	c.problems = append(c.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...), Line: line, Column: col})
}

func (c *checker) reportAt(path string, n *node, format string, args ...any) {
	c.report(path, n.line, n.col, format, args...)
}

var (
	definitionFields = []string{"name", "description", "trigger", "actions"}
	triggerFields    = []string{"type", "cron", "every", "timezone"}
	actionFields     = []string{"id", "type", "description", "connection", "with", "run_after", "retry", "timeout", "if", "then", "else", "foreach", "concurrency", "actions"}
	retryFields      = []string{"policy", "count", "interval", "max_interval"}
	triggerTypes     = []string{TriggerManual, TriggerWebhook, TriggerSchedule}
	actionTypes      = []string{ActionHTTP, ActionEmail, ActionCompose, ActionCondition, ActionForeach, ActionDelay, ActionTerminate, ActionRespond, ActionScope}
	runAfterStatuses = []string{StatusSucceeded, StatusFailed, StatusSkipped, StatusTimedOut}
	retryPolicies    = []string{RetryNone, RetryFixed, RetryExponential}
	idPattern        = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
)

// MaxIDLength is the longest action id accepted.
const MaxIDLength = 64

// typeFields lists, per action type, the action fields other than id, type,
// description and run_after that the type accepts.
var typeFields = map[string][]string{
	ActionHTTP:      {"connection", "with", "retry", "timeout"},
	ActionEmail:     {"connection", "with", "retry", "timeout"},
	ActionCompose:   {"with"},
	ActionDelay:     {"with"},
	ActionTerminate: {"with"},
	ActionRespond:   {"with"},
	ActionCondition: {"if", "then", "else", "timeout"},
	ActionForeach:   {"foreach", "concurrency", "actions", "timeout"},
	ActionScope:     {"actions", "timeout"},
}

// fields checks that n is a mapping whose keys are all in allowed, and
// returns its entries by key. Unknown and repeated keys are reported.
func (c *checker) fields(n *node, path string, allowed []string) (map[string]entry, bool) {
	if n.kind != kindMap {
		c.reportAt(path, n, "must be a mapping, not %s", n.kind.describe())
		return nil, false
	}
	out := make(map[string]entry, len(n.entries))
	for _, e := range n.entries {
		p := join(path, e.key)
		if !slices.Contains(allowed, e.key) {
			c.report(p, e.line, e.col, "unknown field %q%s", e.key, c.didYouMean(e.key, allowed))
			continue
		}
		if _, dup := out[e.key]; dup {
			c.report(p, e.line, e.col, "%q is given twice", e.key)
			continue
		}
		out[e.key] = e
	}
	return out, true
}

// str reads a string field; ok is false (and a problem reported) when the
// value is not a string.
func (c *checker) str(e entry, path string) (string, bool) {
	if e.val.kind != kindString {
		c.reportAt(path, e.val, "must be a string, not %s", e.val.kind.describe())
		return "", false
	}
	return e.val.str, true
}

// duration reads a duration field written like 30s, 5m or 1h30m.
func (c *checker) duration(e entry, path string) (time.Duration, bool) {
	if e.val.kind != kindString {
		c.reportAt(path, e.val, "must be a duration such as \"30s\", \"5m\" or \"1h30m\", not %s", e.val.kind.describe())
		return 0, false
	}
	d, err := time.ParseDuration(e.val.str)
	if err != nil {
		hint := ""
		if days, err := strconv.Atoi(strings.TrimSuffix(e.val.str, "d")); err == nil && strings.HasSuffix(e.val.str, "d") && days > 0 && days < 1e6 {
			hint = fmt.Sprintf(" (durations have no days: write %dh)", days*24)
		}
		c.reportAt(path, e.val, "%q is not a duration; write it like 30s, 5m or 1h30m%s", e.val.str, hint)
		return 0, false
	}
	return d, true
}

// integer reads a whole number field.
func (c *checker) integer(e entry, path string) (int64, bool) {
	switch e.val.kind {
	case kindInt:
		return e.val.i, true
	case kindFloat:
		if e.val.f == float64(int64(e.val.f)) && e.val.f < 1<<53 && e.val.f > -(1<<53) {
			return int64(e.val.f), true
		}
		c.reportAt(path, e.val, "must be a whole number")
		return 0, false
	default:
		c.reportAt(path, e.val, "must be a whole number, not %s", e.val.kind.describe())
		return 0, false
	}
}

func (c *checker) definition(root *node) *Definition {
	f, ok := c.fields(root, "", definitionFields)
	if !ok {
		c.problems[len(c.problems)-1].Message = "a definition must be a mapping with name, trigger and actions, not " + root.kind.describe()
		return nil
	}
	def := &Definition{}
	if e, ok := f["name"]; ok {
		if s, ok := c.str(e, "name"); ok {
			if s == "" {
				c.reportAt("name", e.val, "must not be empty")
			}
			def.Name = s
		}
	} else {
		c.reportAt("name", root, "missing; a flow needs a name")
	}
	if e, ok := f["description"]; ok {
		def.Description, _ = c.str(e, "description")
	}
	if e, ok := f["trigger"]; ok {
		def.Trigger = c.triggerDef(e.val, "trigger")
	} else {
		c.reportAt("trigger", root, "missing; a flow needs a trigger (manual, webhook or schedule)")
	}
	c.trigger = def.Trigger.Type
	if e, ok := f["actions"]; ok {
		def.Actions = c.actionList(e.val, "actions", nil, 1)
	} else {
		c.reportAt("actions", root, "missing; a flow needs at least one action")
	}
	return def
}

func (c *checker) triggerDef(n *node, path string) Trigger {
	var t Trigger
	f, ok := c.fields(n, path, triggerFields)
	if !ok {
		return t
	}
	if e, ok := f["type"]; ok {
		if s, ok := c.str(e, path+".type"); ok {
			t.Type = s
			if !slices.Contains(triggerTypes, s) {
				c.reportAt(path+".type", e.val, "unknown trigger type %q%s; use %s", s, c.didYouMean(s, triggerTypes), oneOf(triggerTypes))
			}
		}
	} else {
		c.reportAt(path+".type", n, "missing; the trigger type is manual, webhook or schedule")
	}
	cronEntry, hasCron := f["cron"]
	everyEntry, hasEvery := f["every"]
	tzEntry, hasTZ := f["timezone"]
	if hasCron {
		if s, ok := c.str(cronEntry, path+".cron"); ok {
			t.Cron = s
			if _, err := parseCron(s); err != nil {
				c.reportAt(path+".cron", cronEntry.val, "%s", err.Error())
			}
		}
	}
	if hasEvery {
		if d, ok := c.duration(everyEntry, path+".every"); ok {
			t.Every = Duration(d)
			if d < time.Second {
				c.reportAt(path+".every", everyEntry.val, "must be at least 1s")
			}
		}
	}
	if hasTZ {
		if s, ok := c.str(tzEntry, path+".timezone"); ok {
			t.Timezone = s
			if _, err := loadZone(s); err != nil {
				c.reportAt(path+".timezone", tzEntry.val, "%s", err.Error())
			}
		}
	}
	if t.Type != TriggerSchedule {
		for _, name := range []string{"cron", "every", "timezone"} {
			if e, ok := f[name]; ok && t.Type != "" && slices.Contains(triggerTypes, t.Type) {
				c.report(path+"."+name, e.line, e.col, "%s applies only to schedule triggers, not %s", name, t.Type)
			}
		}
		return t
	}
	switch {
	case hasCron && hasEvery:
		c.report(path+".every", everyEntry.line, everyEntry.col, "a schedule has either cron or every, not both")
	case !hasCron && !hasEvery:
		c.reportAt(path, n, "a schedule trigger needs cron (such as \"0 9 * * 1-5\") or every (such as 15m)")
	case hasTZ && hasEvery:
		c.report(path+".timezone", tzEntry.line, tzEntry.col, "timezone applies only to cron; every counts from the last run")
	}
	return t
}

// actionList reads a list of actions. parent is the action that holds the
// list, nil for the top level.
func (c *checker) actionList(n *node, path string, parent *actionInfo, depth int) []*Action {
	if n.kind != kindList {
		c.reportAt(path, n, "must be a list of actions, not %s", n.kind.describe())
		return nil
	}
	if len(n.items) == 0 {
		c.reportAt(path, n, "must list at least one action")
		return nil
	}
	if depth > MaxActionDepth {
		c.reportAt(path, n, "actions are nested deeper than %d levels", MaxActionDepth)
		return nil
	}
	var infos []*actionInfo
	var out []*Action
	for i, item := range n.items {
		if len(c.actions) >= MaxActions {
			c.reportAt(at(path, i), item, "the flow has more than %d actions", MaxActions)
			break
		}
		info := c.action(item, at(path, i), parent, infos, depth)
		if info == nil {
			continue
		}
		for _, prev := range infos {
			prev.later = append(prev.later, info)
		}
		infos = append(infos, info)
		out = append(out, info.action)
	}
	return out
}

func (c *checker) action(n *node, path string, parent *actionInfo, siblings []*actionInfo, depth int) *actionInfo {
	f, ok := c.fields(n, path, actionFields)
	if !ok {
		return nil
	}
	a := &Action{}
	info := &actionInfo{action: a, node: n, path: path, order: len(c.actions), parent: parent, siblings: siblings}
	c.actions = append(c.actions, info)

	if e, ok := f["id"]; ok {
		if s, ok := c.str(e, path+".id"); ok {
			a.ID = s
			c.checkID(info, e)
		}
	} else {
		c.reportAt(path+".id", n, "missing; every action needs an id such as get_manager")
	}
	if e, ok := f["type"]; ok {
		if s, ok := c.str(e, path+".type"); ok {
			a.Type = s
			if !slices.Contains(actionTypes, s) {
				c.reportAt(path+".type", e.val, "unknown action type %q%s; use %s", s, c.didYouMean(s, actionTypes), oneOf(actionTypes))
			}
		}
	} else {
		c.reportAt(path+".type", n, "missing; the action type is one of %s", oneOf(actionTypes))
	}
	allowed, known := typeFields[a.Type]
	for _, name := range actionFields {
		e, ok := f[name]
		if !ok || !known || slices.Contains([]string{"id", "type", "description", "run_after"}, name) || slices.Contains(allowed, name) {
			continue
		}
		c.report(join(path, name), e.line, e.col, "%s does not apply to %s actions; it is for %s actions", name, a.Type, oneOf(typesWithField(name)))
		delete(f, name)
	}

	if e, ok := f["description"]; ok {
		a.Description, _ = c.str(e, path+".description")
	}
	if e, ok := f["connection"]; ok {
		if s, ok := c.str(e, path+".connection"); ok {
			a.Connection = s
			if s == "" {
				c.reportAt(path+".connection", e.val, "must not be empty; leave it out to use no connection")
			}
		}
	}
	if e, ok := f["run_after"]; ok {
		a.RunAfter = c.runAfter(info, e.val, path+".run_after")
	}
	if e, ok := f["retry"]; ok {
		a.Retry = c.retry(e.val, path+".retry")
	}
	if e, ok := f["timeout"]; ok {
		if d, ok := c.duration(e, path+".timeout"); ok {
			a.Timeout = Duration(d)
			if d <= 0 {
				c.reportAt(path+".timeout", e.val, "must be more than 0s")
			}
		}
	}
	if e, ok := f["if"]; ok {
		if s, ok := c.templateField(info, e, path+".if"); ok {
			a.If = s
		}
	}
	if e, ok := f["foreach"]; ok {
		if s, ok := c.templateField(info, e, path+".foreach"); ok {
			a.Foreach = s
		}
	}
	if e, ok := f["concurrency"]; ok {
		if v, ok := c.integer(e, path+".concurrency"); ok {
			if v < 1 || v > 64 {
				c.reportAt(path+".concurrency", e.val, "must be between 1 and 64, not %d", v)
			} else {
				a.Concurrency = int(v)
			}
		}
	}
	if e, ok := f["with"]; ok {
		a.With = c.with(info, e.val, path+".with")
	} else if slices.Contains(allowed, "with") && a.Type != ActionRespond {
		c.reportAt(path+".with", n, "missing; a %s action needs with: %s", a.Type, oneOf(requiredWith[a.Type]))
	}
	switch a.Type {
	case ActionCondition:
		if _, ok := f["if"]; !ok {
			c.reportAt(path+".if", n, "missing; a condition needs an if template such as \"{{ steps.check.output.status == 200 }}\"")
		}
		_, hasThen := f["then"]
		_, hasElse := f["else"]
		if !hasThen && !hasElse {
			c.reportAt(path, n, "a condition needs then, else or both")
		}
	case ActionForeach:
		if _, ok := f["foreach"]; !ok {
			c.reportAt(path+".foreach", n, "missing; a foreach needs a list template such as \"{{ trigger.body.items }}\"")
		}
		if _, ok := f["actions"]; !ok {
			c.reportAt(path+".actions", n, "missing; a foreach needs the actions to run for each item")
		}
	case ActionScope:
		if _, ok := f["actions"]; !ok {
			c.reportAt(path+".actions", n, "missing; a scope needs actions")
		}
	case ActionRespond:
		if c.trigger != "" && c.trigger != TriggerWebhook && slices.Contains(triggerTypes, c.trigger) {
			c.reportAt(path+".type", f["type"].val, "respond works only in flows with a webhook trigger, not %s", c.trigger)
		}
	}
	// Nested lists come last so that document order is kept in c.actions.
	if e, ok := f["then"]; ok {
		a.Then = c.actionList(e.val, path+".then", info, depth+1)
	}
	if e, ok := f["else"]; ok {
		a.Else = c.actionList(e.val, path+".else", info, depth+1)
	}
	if e, ok := f["actions"]; ok {
		a.Actions = c.actionList(e.val, path+".actions", info, depth+1)
	}
	return info
}

// typesWithField lists the action types that accept an action field.
func typesWithField(name string) []string {
	var out []string
	for _, t := range actionTypes {
		if slices.Contains(typeFields[t], name) {
			out = append(out, t)
		}
	}
	return out
}

func (c *checker) checkID(info *actionInfo, e entry) {
	id, path := info.action.ID, info.path+".id"
	switch {
	case len(id) > MaxIDLength:
		c.reportAt(path, e.val, "id is longer than %d characters", MaxIDLength)
		return
	case !idPattern.MatchString(id):
		c.reportAt(path, e.val, "id %q must match ^[a-z_][a-z0-9_]*$ (lower-case letters, digits and _, not starting with a digit)", id)
		return
	}
	if first, dup := c.byID[id]; dup {
		c.reportAt(path, e.val, "duplicate id %q, first used at %s (line %d); ids must be unique in the whole flow, nested actions included", id, first.path, first.node.line)
		return
	}
	c.byID[id] = info
}

func (c *checker) runAfter(info *actionInfo, n *node, path string) map[string][]string {
	if n.kind != kindMap {
		c.reportAt(path, n, "must be a mapping of earlier action ids to statuses, such as {get_manager: [failed]}, not %s", n.kind.describe())
		return nil
	}
	out := map[string][]string{}
	for _, e := range n.entries {
		p := join(path, e.key)
		if _, dup := out[e.key]; dup {
			c.report(p, e.line, e.col, "%q is given twice", e.key)
			continue
		}
		info.runAfter = append(info.runAfter, stepRef{id: e.key, path: p, line: e.line, col: e.col})
		if e.val.kind != kindList {
			c.reportAt(p, e.val, "must be a list of statuses such as [failed], not %s", e.val.kind.describe())
			out[e.key] = nil
			continue
		}
		if len(e.val.items) == 0 {
			c.reportAt(p, e.val, "list at least one status: %s", oneOf(runAfterStatuses))
		}
		statuses := []string{}
		for i, it := range e.val.items {
			ip := at(p, i)
			if it.kind != kindString {
				c.reportAt(ip, it, "must be a status (%s), not %s", oneOf(runAfterStatuses), it.kind.describe())
				continue
			}
			if !slices.Contains(runAfterStatuses, it.str) {
				c.reportAt(ip, it, "unknown status %q%s; use %s", it.str, c.didYouMean(it.str, runAfterStatuses), oneOf(runAfterStatuses))
				continue
			}
			if slices.Contains(statuses, it.str) {
				c.reportAt(ip, it, "status %q is given twice", it.str)
				continue
			}
			statuses = append(statuses, it.str)
		}
		out[e.key] = statuses
	}
	return out
}

func (c *checker) retry(n *node, path string) *Retry {
	f, ok := c.fields(n, path, retryFields)
	if !ok {
		return nil
	}
	r := &Retry{}
	if e, ok := f["policy"]; ok {
		if s, ok := c.str(e, path+".policy"); ok {
			if slices.Contains(retryPolicies, s) {
				r.Policy = s
			} else {
				c.reportAt(path+".policy", e.val, "unknown retry policy %q%s; use %s", s, c.didYouMean(s, retryPolicies), oneOf(retryPolicies))
			}
		}
	}
	if e, ok := f["count"]; ok {
		if v, ok := c.integer(e, path+".count"); ok {
			if v < 0 || v > 100 {
				c.reportAt(path+".count", e.val, "must be between 0 and 100, not %d", v)
			} else {
				n := int(v)
				r.Count = &n
			}
		}
	}
	if e, ok := f["interval"]; ok {
		if d, ok := c.duration(e, path+".interval"); ok {
			if d <= 0 {
				c.reportAt(path+".interval", e.val, "must be more than 0s")
			}
			r.Interval = Duration(d)
		}
	}
	if e, ok := f["max_interval"]; ok {
		if d, ok := c.duration(e, path+".max_interval"); ok {
			if d <= 0 {
				c.reportAt(path+".max_interval", e.val, "must be more than 0s")
			}
			r.MaxInterval = Duration(d)
		}
	}
	if r.Interval > 0 && r.MaxInterval > 0 && r.MaxInterval < r.Interval {
		e := f["max_interval"]
		c.reportAt(path+".max_interval", e.val, "must not be shorter than interval (%s)", time.Duration(r.Interval))
	}
	if r.Policy == RetryNone {
		for _, name := range []string{"count", "interval", "max_interval"} {
			if e, ok := f[name]; ok {
				c.report(path+"."+name, e.line, e.col, "%s does not apply to policy none", name)
			}
		}
	}
	return r
}

// templateField reads a field that must hold a {{ }} template (if,
// foreach) and records the steps it uses.
func (c *checker) templateField(info *actionInfo, e entry, path string) (string, bool) {
	s, ok := c.str(e, path)
	if !ok {
		return "", false
	}
	if !hasTemplate(s) {
		c.reportAt(path, e.val, "must be a {{ }} template, such as \"{{ trigger.body.items }}\"")
		return s, true
	}
	c.template(info, e.val, path)
	return s, true
}

// template compiles one template string and records what it reads. Every
// template is charged to the definition's budget, so that an alias repeated
// ten thousand times cannot make the check, or the compile before a run,
// cost minutes.
func (c *checker) template(info *actionInfo, n *node, path string) {
	if c.overBudget {
		return
	}
	c.templateCount++
	c.templateBytes += len(n.str)
	switch {
	case c.templateCount > MaxTemplates:
		c.overBudget = true
		c.reportAt(path, n, "the definition holds more than %d templates (aliases included), the most a definition may hold", MaxTemplates)
		return
	case c.templateBytes > MaxTemplateBytes:
		c.overBudget = true
		c.reportAt(path, n, "the definition's templates add up to more than %d KiB (aliases included), the most a definition may hold", MaxTemplateBytes>>10)
		return
	}
	ct, ok := c.compiled[n.str]
	if !ok {
		ct.refs, ct.err = compileTemplate(n.str)
		c.compiled[n.str] = ct
	}
	refs, terr := ct.refs, ct.err
	if terr != nil {
		line, col := n.line, n.col
		if n.quoted {
			col++
		}
		if line > 0 && !strings.Contains(n.str, "\n") {
			col += terr.Offset
		}
		c.report(path, line, col, "bad template: %s", terr.Message)
		return
	}
	seen := map[string]bool{}
	for _, id := range refs {
		if seen[id] {
			continue
		}
		seen[id] = true
		info.refs = append(info.refs, stepRef{id: id, path: path, line: n.line, col: n.col})
	}
	for _, v := range loopVariables(n.str) {
		info.loopVars = append(info.loopVars, stepRef{id: v, path: path, line: n.line, col: n.col})
	}
}

// crossCheck checks what needs every action read first: run_after names
// and the steps templates use.
func (c *checker) crossCheck() {
	for _, info := range c.actions {
		c.checkRunAfter(info)
		c.checkRefs(info)
	}
}

func (c *checker) checkRunAfter(info *actionInfo) {
	for _, r := range info.runAfter {
		if r.id == info.action.ID && r.id != "" {
			c.report(r.path, r.line, r.col, "an action cannot run after itself")
			continue
		}
		var earlier []string
		found := false
		for _, s := range info.siblings {
			earlier = append(earlier, s.action.ID)
			if s.action.ID == r.id {
				found = true
			}
		}
		if found {
			continue
		}
		if slices.ContainsFunc(info.later, func(s *actionInfo) bool { return s.action.ID == r.id }) {
			c.report(r.path, r.line, r.col, "%q comes after this action; run_after can only name earlier actions in the same list (this also rules out cycles)", r.id)
			continue
		}
		if _, ok := c.byID[r.id]; ok {
			c.report(r.path, r.line, r.col, "%q is not in the same list as this action; run_after can only name earlier actions in the same list", r.id)
			continue
		}
		hint := c.didYouMean(r.id, earlier)
		if hint == "" {
			hint = c.didYouMean(r.id, c.ids())
		}
		c.report(r.path, r.line, r.col, "unknown action %q%s", r.id, hint)
	}
}

func (c *checker) ids() []string {
	out := make([]string, 0, len(c.actions))
	for _, a := range c.actions {
		out = append(out, a.action.ID)
	}
	return out
}

// checkRefs applies the visibility rule: an action may use a step whose
// action comes before it in document order, except its own enclosing
// actions and steps inside a foreach body it is not in.
func (c *checker) checkRefs(info *actionInfo) {
	for _, r := range info.refs {
		target, ok := c.byID[r.id]
		switch {
		case !ok:
			c.report(r.path, r.line, r.col, "unknown step %q%s", r.id, c.didYouMean(r.id, c.ids()))
		case target == info:
			c.report(r.path, r.line, r.col, "step %q is this action; an action cannot use its own result", r.id)
		case isAncestor(target, info):
			c.report(r.path, r.line, r.col, "step %q contains this action; its result is not ready until this action finishes", r.id)
		case target.order > info.order:
			c.report(r.path, r.line, r.col, "step %q comes after this action; an action can only use steps that come before it", r.id)
		default:
			if loop := foreachOutside(target, info); loop != nil {
				c.report(r.path, r.line, r.col, "step %q is inside foreach %q; outside the loop use steps.%s.output, the list of its iterations", r.id, loop.action.ID, loop.action.ID)
			}
		}
	}
	inLoop := false
	for p := info.parent; p != nil; p = p.parent {
		if p.action.Type == ActionForeach {
			inLoop = true
		}
	}
	if !inLoop {
		for _, v := range info.loopVars {
			c.report(v.path, v.line, v.col, "%s is only available inside the actions of a foreach", v.id)
		}
	}
}

func isAncestor(a, b *actionInfo) bool {
	for p := b.parent; p != nil; p = p.parent {
		if p == a {
			return true
		}
	}
	return false
}

// foreachOutside returns the innermost foreach that holds target but not
// from, or nil.
func foreachOutside(target, from *actionInfo) *actionInfo {
	for p := target.parent; p != nil; p = p.parent {
		if p.action.Type == ActionForeach && !isAncestor(p, from) {
			return p
		}
	}
	return nil
}
