// Package expression compiles and evaluates the {{ }} templates found in flow
// definitions, such as "https://x/users/{{ trigger.body.user }}/manager".
//
// Each {{ }} part is an expr-lang/expr expression. Expressions may only start
// from the names in Roots: trigger, steps, run, item and index. A template that
// is exactly one {{ }} part keeps the expression's type; anything else is
// concatenated into a string (nil as "", numbers in shortest form, maps and
// lists as compact JSON).
//
// Templates are compiled once per flow version and evaluated many times, often
// concurrently; a compiled Template or Value is safe for concurrent use.
//
// # Functions
//
// Expressions may call expr's loop builtins (all, none, any, one, filter,
// map, find, findIndex, findLast, findLastIndex, count, sum, groupBy,
// sortBy, reduce) and the functions in builtins.go: expr's other builtins
// reimplemented or wrapped so that they charge the budget (len, upper,
// split, uniq, sort, fromJSON, keys, ...), and Sluice's own:
//
//   - json(v): v encoded as compact JSON.
//   - string(v): v formatted the way template concatenation formats it.
//   - join(list, sep): list elements formatted and joined by sep ("" when omitted).
//   - replace(s, old, new): s with every old replaced by new.
//   - now(): the current time as an RFC 3339 string in UTC.
//   - default(v, fallback): fallback when v is nil or "", else v.
//
// expr's concat, flatten, toJSON, date and timezone are not available.
//
// # Budgets
//
// Flow definitions are written by users, so a hostile definition must not hang
// or exhaust the server. Compile and Eval enforce these limits and return an
// error when one is exceeded (at Eval, an error wrapping ErrBudget):
//
//   - a template source is at most MaxSourceBytes (64 KiB) and each expression
//     at most MaxExprBytes (4 KiB) and MaxNodes (2000) syntax nodes;
//   - expr's VM memory budget is MemoryBudget (1,000,000 units; a range or a
//     list costs one unit per element), so 1..1000000000 fails at once;
//   - predicate loops (map, filter, reduce, ...) run at most MaxIterations
//     (200,000) bodies in total per Eval;
//   - every function call and every operator whose cost grows with its
//     operands (+, ==, !=, <, >, <=, >=, in, contains, startsWith, endsWith,
//     matches) charges one account, the budget, before it works: at most
//     MaxSteps (10,000,000) steps of work and MaxAllocBytes (16 MiB) built
//     per Eval, every string and the result at most MaxResultBytes (1 MiB);
//   - a matches pattern is at most MaxExprBytes long and MaxRegexInsts
//     compiled instructions;
//   - every 4,096 steps, Eval checks its context and its EvalTimeout (2 s)
//     deadline, so that a cancelled run stops evaluating at once;
//   - when the context carries a run's Meter (WithMeter), every Eval also
//     adds its steps and time to the run's total, and fails with an error
//     wrapping ErrRunWork once that total passes the run's limits.
//
// EvalList evaluates the list a foreach iterates: any list, converted to
// []any, with its item count checked first and MaxListBytes (32 MiB) in
// place of MaxResultBytes.
//
// Expressions have no access to files, the environment or the network.
package expression

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/expr-lang/expr/vm"
)

// Budgets applied by Compile and Eval; see the package documentation.
const (
	// MaxSourceBytes caps the length of a template source.
	MaxSourceBytes = 64 << 10
	// MaxExprBytes caps the length of one {{ }} expression.
	MaxExprBytes = 4 << 10
	// MaxNodes caps the syntax nodes of one expression.
	MaxNodes = 2000
	// MemoryBudget is expr's VM memory budget for one expression run.
	MemoryBudget = 1_000_000
	// MaxIterations caps predicate loop bodies run in one Eval.
	MaxIterations = 200_000
	// MaxSteps caps the work of one Eval: a step is a loop body, a
	// function call, an element visited or built, a comparison, or 64
	// bytes read.
	MaxSteps = 10_000_000
	// MaxResultBytes caps any single string built and the size of an Eval result.
	MaxResultBytes = 1 << 20
	// MaxAllocBytes caps the string bytes built by budgeted operations in one Eval.
	MaxAllocBytes = 16 << 20
	// MaxDepth caps the nesting of values compiled or returned.
	MaxDepth = 200
)

// Roots are the names an expression may use at top level.
var Roots = []string{"trigger", "steps", "run", "item", "index"}

// Error describes a bad template: where and what. Path locates the string in a
// Value ("headers.Authorization", "items[2]"); Offset is the byte offset in the
// template source.
type Error struct {
	Path    string
	Offset  int
	Message string
}

// Error returns e.g. `headers.Authorization: at offset 12: unknown name "trigr"`.
func (e *Error) Error() string {
	s := fmt.Sprintf("at offset %d: %s", e.Offset, e.Message)
	if e.Path != "" {
		return e.Path + ": " + s
	}
	return s
}

// Template is a compiled string that may contain {{ }} parts. It is compiled
// once per flow version and is safe for concurrent Eval.
type Template struct {
	src   string
	parts []part
	// single is true when the template is exactly one {{ }} part, whose value
	// keeps its type.
	single bool
	refs   []string
}

// part is either literal text or a compiled expression.
type part struct {
	text    string
	code    string // expression source, for error messages
	offset  int    // byte offset of code in the template
	program *vm.Program
}

// HasTemplate reports whether s contains a {{ opening, i.e. needs compiling.
func HasTemplate(s string) bool { return strings.Contains(s, "{{") }

// Compile parses src and compiles every {{ }} part so that a bad template is
// reported when the flow is saved, not when it runs. The error is an *Error.
func Compile(src string) (*Template, error) {
	if len(src) > MaxSourceBytes {
		return nil, &Error{Message: fmt.Sprintf("template is %d bytes, over the %d byte limit", len(src), MaxSourceBytes)}
	}
	t := &Template{src: src}
	refs := map[string]bool{}
	rest, pos := src, 0
	for {
		open := strings.Index(rest, "{{")
		if open < 0 {
			if rest != "" {
				t.parts = append(t.parts, part{text: rest})
			}
			break
		}
		if open > 0 {
			t.parts = append(t.parts, part{text: rest[:open]})
		}
		start := pos + open + 2
		end := closing(src[start:])
		if end < 0 {
			return nil, &Error{Offset: pos + open, Message: "unterminated {{: missing }}"}
		}
		code := src[start : start+end]
		p, err := compileExpr(code, start, refs)
		if err != nil {
			return nil, err
		}
		t.parts = append(t.parts, p)
		pos = start + end + 2
		rest = src[pos:]
	}
	t.single = len(t.parts) == 1 && t.parts[0].program != nil
	if !t.single && len(t.parts) > 1 {
		// Whitespace around a lone {{ }} does not turn it into text.
		var expr []part
		blank := true
		for _, p := range t.parts {
			if p.program != nil {
				expr = append(expr, p)
			} else if strings.TrimSpace(p.text) != "" {
				blank = false
			}
		}
		if blank && len(expr) == 1 {
			t.parts, t.single = expr, true
		}
	}
	t.refs = sortedKeys(refs)
	return t, nil
}

// closing returns the index of the }} that ends the expression starting at s,
// skipping quoted strings so that "}}" inside a literal does not end it, or -1.
func closing(s string) int {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && quote != '`' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '}' && i+1 < len(s) && s[i+1] == '}':
			return i
		}
	}
	return -1
}

// compileExpr compiles one expression found at offset in its template.
func compileExpr(code string, offset int, refs map[string]bool) (part, error) {
	trimmed := strings.TrimSpace(code)
	lead := offset + strings.Index(code, trimmed)
	if trimmed == "" {
		return part{}, &Error{Offset: offset - 2, Message: "empty {{ }}"}
	}
	if len(trimmed) > MaxExprBytes {
		return part{}, &Error{Offset: lead, Message: fmt.Sprintf("expression is %d bytes, over the %d byte limit", len(trimmed), MaxExprBytes)}
	}
	program, err := compileProgram(trimmed, refs)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Offset += lead
			return part{}, e
		}
		return part{}, &Error{Offset: lead, Message: err.Error()}
	}
	return part{code: trimmed, offset: lead, program: program}, nil
}

// Eval evaluates the template against env, whose keys are the Roots (a missing
// key evaluates as nil). A single {{ }} template returns the expression's
// value; any other template returns a string.
//
// ctx is the run's: evaluation stops soon after it ends, with an error
// wrapping its cause. An error that wraps ErrBudget means a budget was
// spent; evaluating again would fail again.
func (t *Template) Eval(ctx context.Context, env map[string]any) (_ any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("evaluate %q: internal error: %v", t.src, r)
		}
	}()
	if t.IsStatic() {
		if len(t.parts) == 0 {
			return "", nil
		}
		return t.parts[0].text, nil
	}
	b := newBudget(ctx)
	return b.run(func() (any, error) { return t.eval(env, b) })
}

// env returns the environment an expression runs in: the Roots of env and
// the budget.
func (t *Template) env(env map[string]any, b *budget) map[string]any {
	runEnv := make(map[string]any, len(Roots)+1)
	for _, r := range Roots {
		runEnv[r] = env[r]
	}
	runEnv[budgetName] = b
	return runEnv
}

// eval evaluates t charging budget b, shared by all strings of a Value.
func (t *Template) eval(env map[string]any, b *budget) (any, error) {
	runEnv := t.env(env, b)
	if t.single {
		v, err := t.parts[0].run(runEnv)
		if err != nil {
			return nil, err
		}
		if err := checkSize(v); err != nil {
			return nil, fmt.Errorf("evaluate {{ %s }}: %w", t.parts[0].code, err)
		}
		return v, nil
	}
	var sb strings.Builder
	for _, p := range t.parts {
		if p.program == nil {
			sb.WriteString(p.text)
		} else {
			v, err := p.run(runEnv)
			if err != nil {
				return nil, err
			}
			s, err := format(v, MaxResultBytes-sb.Len())
			if err != nil {
				return nil, fmt.Errorf("evaluate {{ %s }}: %w", p.code, err)
			}
			sb.WriteString(s)
		}
		if sb.Len() > MaxResultBytes {
			return nil, fmt.Errorf("evaluate %q: %w", t.src, errTooLarge)
		}
	}
	return sb.String(), nil
}

// run executes one compiled expression with expr's VM and the memory budget.
func (p part) run(env map[string]any) (any, error) {
	machine := vm.VM{MemoryBudget: MemoryBudget}
	v, err := machine.Run(p.program, env)
	if err != nil {
		err = cleanRunError(err)
		if !errors.Is(err, ErrBudget) && strings.Contains(err.Error(), "memory budget exceeded") {
			// expr's own memory budget (ranges, list and map literals).
			err = fmt.Errorf("%w: %w", ErrBudget, err)
		}
		return nil, fmt.Errorf("evaluate {{ %s }}: %w", p.code, err)
	}
	return v, nil
}

// IsStatic reports whether the template has no {{ }} part at all, so its
// value is its source.
func (t *Template) IsStatic() bool {
	return !slices.ContainsFunc(t.parts, func(p part) bool { return p.program != nil })
}

// StepRefs returns the step ids referenced as steps.X or steps["X"], sorted and
// unique, so a flow checker can verify that they exist and run earlier.
func (t *Template) StepRefs() []string { return slices.Clone(t.refs) }

// Source returns the template text as given to Compile.
func (t *Template) Source() string { return t.src }

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// byteOffset converts a rune offset in s to a byte offset.
func byteOffset(s string, runes int) int {
	for i := range s {
		if runes == 0 {
			return i
		}
		runes--
	}
	return len(s)
}
