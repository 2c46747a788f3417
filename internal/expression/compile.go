package expression

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/types"
	"github.com/expr-lang/expr/vm"
)

// Hidden names injected by the patcher; user expressions may not use them.
const (
	budgetName = "__budget"
	opName     = "__op"
	tickName   = "__tick"
)

// chargedOperators are the binary operators whose cost depends on their
// operands' size; the patcher routes them through the budget.
var chargedOperators = func() map[string]bool {
	m := map[string]bool{"+": true, "==": true, "!=": true, "in": true}
	for op := range ordering {
		m[op] = true
	}
	for op := range textOps {
		m[op] = true
	}
	return m
}()

// compileEnv declares the names an expression may use; every root is typed
// any so that member access on maps of unknown shape compiles.
var compileEnv = func() types.Map {
	env := types.Map{budgetName: types.TypeOf((*budget)(nil))}
	for _, r := range Roots {
		env[r] = types.Any
	}
	return env
}()

// options are shared by every Compile call.
var options = func() []expr.Option {
	opts := []expr.Option{
		expr.Env(compileEnv),
		expr.MaxNodes(MaxNodes),
		expr.DisableAllBuiltins(),
	}
	for _, name := range predicates {
		opts = append(opts, expr.EnableBuiltin(name))
	}
	for name, fn := range functions {
		opts = append(opts, expr.Function(name, fn))
	}
	return opts
}()

// compileProgram compiles one trimmed expression, adding the step ids it
// references to refs. Offsets in the returned *Error are relative to code.
func compileProgram(code string, refs map[string]bool) (*vm.Program, error) {
	p := &patcher{refs: map[string]bool{}}
	program, err := expr.Compile(code, append(slices.Clip(options), expr.Patch(p))...)
	if p.err != nil {
		p.err.Offset = byteOffset(code, p.err.Offset)
		return nil, p.err
	}
	if err != nil {
		return nil, compileError(code, err)
	}
	for id := range p.refs {
		refs[id] = true
	}
	return program, nil
}

// compileError turns an expr error into an *Error with a friendly message.
func compileError(code string, err error) *Error {
	var fe *file.Error
	if !errors.As(err, &fe) {
		return &Error{Message: err.Error()}
	}
	msg := fe.Message
	off := byteOffset(code, fe.From)
	if name, ok := strings.CutPrefix(msg, "unknown name "); ok {
		msg = unknownName(name)
		if rest := code[min(off+len(name), len(code)):]; strings.HasPrefix(code[off:], name) && strings.HasPrefix(strings.TrimSpace(rest), "(") {
			msg = fmt.Sprintf("unknown function %q", name)
		}
	}
	return &Error{Offset: off, Message: msg}
}

// unknownName builds the message for an identifier that is not a root.
func unknownName(name string) string {
	msg := fmt.Sprintf("unknown name %q", name)
	if s := suggest(name); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else {
		msg += " (expressions start from " + strings.Join(Roots, ", ") + ")"
	}
	return msg
}

// suggest returns the root closest to name, or "" when none is close.
func suggest(name string) string {
	best, bestDist := "", 3
	for _, r := range Roots {
		if d := levenshtein(strings.ToLower(name), r); d < bestDist || (d == bestDist && best == "" && d <= len(r)/2) {
			best, bestDist = r, d
		}
	}
	if best != "" && bestDist > len(best)/2 {
		return ""
	}
	return best
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 {
		return len(ra)
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// patcher checks identifiers, records step references and rewrites the tree
// so that budgets are charged: a + b becomes __op(__budget, "+", a, b) (and
// so do the other chargedOperators), predicate bodies become
// __tick(__budget, body), count and sum without a predicate get one, and
// every call of one of our functions gets __budget as first argument.
// ast.Walk visits children before parents, and nodes the patcher creates
// are never walked, so hidden names come only from here.
type patcher struct {
	refs map[string]bool
	err  *Error
}

// Visit implements ast.Visitor.
func (p *patcher) Visit(node *ast.Node) {
	if p.err != nil {
		return
	}
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if strings.HasPrefix(n.Value, "__") || strings.HasPrefix(n.Value, "$") {
			p.err = &Error{Offset: n.Location().From, Message: unknownName(n.Value)}
		}
	case *ast.MemberNode:
		if id, ok := n.Node.(*ast.IdentifierNode); ok && id.Value == "steps" {
			if s, ok := n.Property.(*ast.StringNode); ok {
				p.refs[s.Value] = true
			}
		}
	case *ast.BinaryNode:
		if !chargedOperators[n.Operator] {
			return
		}
		if s, ok := n.Right.(*ast.StringNode); ok && n.Operator == "matches" {
			if _, err := compileRegex(nil, s.Value); err != nil {
				p.err = &Error{Offset: s.Location().From, Message: err.Error()}
				return
			}
		}
		p.replace(node, opName, &ast.StringNode{Value: n.Operator}, n.Left, n.Right)
	case *ast.PredicateNode:
		n.Node = tickCall(n.Node)
	case *ast.BuiltinNode:
		// Without a predicate, expr loops over the list uncharged.
		if (n.Name == "count" || n.Name == "sum") && len(n.Arguments) == 1 {
			n.Arguments = append(n.Arguments, &ast.PredicateNode{Node: tickCall(&ast.PointerNode{})})
		}
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok {
			if _, ours := builtins[id.Value]; ours {
				n.Arguments = append([]ast.Node{&ast.IdentifierNode{Value: budgetName}}, n.Arguments...)
			}
		}
	}
}

// tickCall wraps a loop body in __tick(__budget, body).
func tickCall(body ast.Node) ast.Node {
	return &ast.CallNode{
		Callee:    &ast.IdentifierNode{Value: tickName},
		Arguments: []ast.Node{&ast.IdentifierNode{Value: budgetName}, body},
	}
}

// replace swaps node for a call of fn with the budget and args.
func (p *patcher) replace(node *ast.Node, fn string, args ...ast.Node) {
	call := &ast.CallNode{
		Callee:    &ast.IdentifierNode{Value: fn},
		Arguments: append([]ast.Node{&ast.IdentifierNode{Value: budgetName}}, args...),
	}
	ast.Patch(node, call)
}
