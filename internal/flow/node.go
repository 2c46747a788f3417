package flow

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// Limits on what Parse accepts, so that a hostile definition cannot exhaust
// memory or the stack.
const (
	// MaxSize is the largest definition text Parse accepts.
	MaxSize = 1 << 20
	// MaxNesting is the deepest nesting of mappings and lists Parse accepts.
	MaxNesting = 64
	// MaxActionDepth is the deepest nesting of actions inside conditions,
	// scopes and foreach bodies.
	MaxActionDepth = 16
	// MaxKeys is the most "key:" pairs a definition may hold; the YAML
	// parser slows down with the square of a mapping's size.
	MaxKeys = 20_000
	// MaxActions is the most actions a definition may hold, nested ones
	// included.
	MaxActions = 1000
	// MaxProblems is the most problems Parse reports; a last problem says
	// how many more were left out.
	MaxProblems = 200
	// maxNodes bounds the values a definition expands to, aliases included,
	// and the values the pre-scan counts before the parser runs: the parser
	// spends about 1.3 KB on each, so 100,000 (100 for each of the most
	// actions) keeps one parse under about 200 MB.
	maxNodes = 100_000
	// MaxExpandedSize bounds the size of a definition once its aliases are
	// expanded, measured as its canonical JSON (the form that is stored):
	// strings and keys as JSON escapes them, plus the punctuation around
	// them. A few hundred bytes of aliases could otherwise expand to
	// hundreds of megabytes.
	MaxExpandedSize = 4 << 20
	// MaxTemplates bounds the {{ }} templates a definition may hold,
	// aliases included, so that checking it and compiling it for a run
	// stay cheap.
	MaxTemplates = 10_000
	// MaxTemplateBytes bounds the total length of those templates.
	MaxTemplateBytes = 512 << 10
)

// kind is the type of a value in the generic tree Parse decodes into before
// it builds a Definition.
type kind int

const (
	kindNull kind = iota
	kindString
	kindInt
	kindFloat
	kindBool
	kindMap
	kindList
)

// describe names the kind the way a problem message does.
func (k kind) describe() string {
	switch k {
	case kindString:
		return "a string"
	case kindInt, kindFloat:
		return "a number"
	case kindBool:
		return "true or false"
	case kindMap:
		return "a mapping"
	case kindList:
		return "a list"
	default:
		return "empty (null)"
	}
}

// node is one value of the definition text with its position.
type node struct {
	kind      kind
	line, col int
	// quoted reports whether a string was written in quotes; the column of
	// its first character is then col+1.
	quoted  bool
	str     string
	i       int64
	f       float64
	b       bool
	entries []entry
	items   []*node
}

// entry is one key of a mapping.
type entry struct {
	key       string
	line, col int
	val       *node
}

// value turns the node into the plain Go value an Action's With holds:
// nil, string, int64, float64, bool, map[string]any or []any.
func (n *node) value() any {
	switch n.kind {
	case kindString:
		return n.str
	case kindInt:
		return n.i
	case kindFloat:
		return n.f
	case kindBool:
		return n.b
	case kindMap:
		m := make(map[string]any, len(n.entries))
		for _, e := range n.entries {
			m[e.key] = e.val.value()
		}
		return m
	case kindList:
		l := make([]any, len(n.items))
		for i, it := range n.items {
			l[i] = it.value()
		}
		return l
	default:
		return nil
	}
}

// converter turns the YAML syntax tree into nodes, resolving anchors,
// aliases and merge keys within the limits above.
type converter struct {
	anchors map[string]ast.Node
	nodes   int
	// size is the expanded size so far, as MaxExpandedSize measures it.
	size     int
	problems []Problem
	// stopped is set once a limit is hit; conversion then stops adding
	// values so that one problem is reported, not thousands.
	stopped bool
}

func (c *converter) fail(line, col int, format string, args ...any) {
	c.problems = append(c.problems, Problem{Message: fmt.Sprintf(format, args...), Line: line, Column: col})
}

func position(n ast.Node) (int, int) {
	if n == nil {
		return 0, 0
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return 0, 0
	}
	return tk.Position.Line, tk.Position.Column
}

func isQuoted(n ast.Node) bool {
	tk := n.GetToken()
	return tk != nil && (tk.Type == token.SingleQuoteType || tk.Type == token.DoubleQuoteType)
}

// convert returns the node for n, or nil when a limit was hit.
func (c *converter) convert(n ast.Node, depth int) *node {
	if c.stopped {
		return nil
	}
	line, col := position(n)
	if depth > MaxNesting {
		c.stopped = true
		c.fail(line, col, "nesting is deeper than %d levels", MaxNesting)
		return nil
	}
	c.nodes++
	if c.nodes > maxNodes {
		c.stopped = true
		c.fail(line, col, "definition has more than %d values (aliases included)", maxNodes)
		return nil
	}
	if !c.charge(n, line, col) {
		return nil
	}
	out := &node{line: line, col: col}
	switch v := n.(type) {
	case nil, *ast.NullNode:
		out.kind = kindNull
	case *ast.StringNode:
		out.kind, out.str, out.quoted = kindString, v.Value, isQuoted(v)
	case *ast.LiteralNode:
		out.kind = kindString
		if v.Value != nil {
			out.str = v.Value.Value
		}
	case *ast.IntegerNode:
		switch x := v.Value.(type) {
		case int64:
			out.kind, out.i = kindInt, x
		case uint64:
			if x <= math.MaxInt64 {
				out.kind, out.i = kindInt, int64(x)
			} else {
				out.kind, out.f = kindFloat, float64(x)
			}
		default:
			out.kind, out.str = kindString, v.GetToken().Value
		}
	case *ast.FloatNode:
		out.kind, out.f = kindFloat, v.Value
		if math.IsInf(v.Value, 0) || math.IsNaN(v.Value) {
			c.fail(line, col, "numbers must be finite")
			out.f = 0
		}
	case *ast.InfinityNode, *ast.NanNode:
		c.fail(line, col, "numbers must be finite")
		out.kind = kindFloat
	case *ast.BoolNode:
		out.kind, out.b = kindBool, v.Value
	case *ast.TagNode:
		inner := c.convert(v.Value, depth+1)
		if inner == nil {
			return nil
		}
		if v.Start != nil && (v.Start.Value == "!!str" || v.Start.Value == "!str") && inner.kind != kindMap && inner.kind != kindList {
			inner.kind, inner.str = kindString, scalarText(v.Value)
		}
		return inner
	case *ast.AnchorNode:
		inner := c.convert(v.Value, depth+1)
		if v.Name != nil {
			c.anchors[v.Name.GetToken().Value] = v.Value
		}
		return inner
	case *ast.AliasNode:
		name := ""
		if v.Value != nil {
			name = v.Value.GetToken().Value
		}
		target, ok := c.anchors[name]
		if !ok {
			c.fail(line, col, "unknown anchor %q", name)
			return out
		}
		inner := c.convert(target, depth+1)
		if inner == nil {
			return nil
		}
		cp := *inner
		cp.line, cp.col = line, col
		return &cp
	case *ast.MappingNode:
		out.kind = kindMap
		if len(v.Values) > 0 {
			out.line, out.col = position(v.Values[0].Key)
		}
		if !c.mapping(out, v.Values, depth) {
			return nil
		}
	case *ast.MappingValueNode:
		out.kind = kindMap
		out.line, out.col = position(v.Key)
		if !c.mapping(out, []*ast.MappingValueNode{v}, depth) {
			return nil
		}
	case *ast.SequenceNode:
		out.kind = kindList
		for _, it := range v.Values {
			cn := c.convert(it, depth+1)
			if cn == nil {
				return nil
			}
			out.items = append(out.items, cn)
		}
	default:
		c.fail(line, col, "unsupported YAML value (%s)", n.Type())
		out.kind = kindNull
	}
	return out
}

// charge adds the size of scalar n to the expanded size, and reports false
// (with a problem) once the size passes MaxExpandedSize. Charging each value
// as it is converted refuses an alias bomb after at most MaxExpandedSize
// bytes of work.
func (c *converter) charge(n ast.Node, line, col int) bool {
	size := 1 // the comma or bracket after the value
	switch v := n.(type) {
	case *ast.StringNode:
		size += jsonSize(v.Value)
	case *ast.LiteralNode:
		if v.Value != nil {
			size += jsonSize(v.Value.Value)
		}
	case *ast.MappingNode, *ast.MappingValueNode, *ast.SequenceNode:
		size++ // the closing bracket
	default:
		size += len(scalarText(n))
	}
	c.size += size
	if c.size > MaxExpandedSize {
		c.stopped = true
		c.fail(line, col, "the definition expands to more than %d bytes (aliases included); the limit is %d MiB", MaxExpandedSize, MaxExpandedSize>>20)
		return false
	}
	return true
}

// jsonSize is the length of s as a JSON string, quotes included, the way
// encoding/json escapes it: \" \\ \n \r \t in two bytes, other control
// characters, < > &, U+2028, U+2029 and invalid UTF-8 in six.
func jsonSize(s string) int {
	n := 2 + len(s)
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			switch {
			case b == '"' || b == '\\' || b == '\n' || b == '\r' || b == '\t':
				n++
			case b < 0x20 || b == '<' || b == '>' || b == '&':
				n += 5
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 5
		case r == '\u2028' || r == '\u2029':
			n += 3
		}
		i += size
	}
	return n
}

// mapping fills out with the entries of a mapping. Explicit keys win over
// keys merged in with "<<".
func (c *converter) mapping(out *node, values []*ast.MappingValueNode, depth int) bool {
	var merged []entry
	for _, mv := range values {
		if mv == nil {
			continue
		}
		if _, ok := mv.Key.(*ast.MergeKeyNode); ok {
			src := c.convert(mv.Value, depth+1)
			if src == nil {
				return false
			}
			var maps []*node
			switch src.kind {
			case kindMap:
				maps = []*node{src}
			case kindList:
				maps = src.items
			}
			for _, m := range maps {
				if m.kind != kindMap {
					c.fail(src.line, src.col, "a merge key (<<) needs a mapping or a list of mappings")
					continue
				}
				merged = append(merged, m.entries...)
			}
			if len(maps) == 0 {
				c.fail(src.line, src.col, "a merge key (<<) needs a mapping or a list of mappings")
			}
			continue
		}
		var keyNode ast.Node = mv.Key
		if mk, ok := mv.Key.(*ast.MappingKeyNode); ok {
			keyNode = mk.Value
		}
		kl, kc := position(keyNode)
		key := c.convert(keyNode, depth+1)
		if key == nil {
			return false
		}
		var name string
		switch key.kind {
		case kindMap, kindList:
			c.fail(kl, kc, "mapping keys must be strings, not %s", key.kind.describe())
			continue
		case kindNull:
			name = ""
		default:
			name = scalarText(keyNode)
			if key.kind == kindString {
				name = key.str
			}
		}
		val := c.convert(mv.Value, depth+1)
		if val == nil {
			return false
		}
		if mv.Value == nil {
			val.line, val.col = kl, kc
		}
		out.entries = append(out.entries, entry{key: name, line: kl, col: kc, val: val})
	}
	for _, m := range merged {
		if !out.has(m.key) {
			out.entries = append(out.entries, m)
		}
	}
	return true
}

// has reports whether a mapping node has the key.
func (n *node) has(key string) bool {
	for _, e := range n.entries {
		if e.key == key {
			return true
		}
	}
	return false
}

// scalarText is the source text of a scalar node.
func scalarText(n ast.Node) string {
	if n == nil {
		return ""
	}
	if tk := n.GetToken(); tk != nil {
		return tk.Value
	}
	return ""
}

// countKeys counts the colons in src that can end a mapping key: those
// followed by a space, a tab, a line end or the end of the text.
func countKeys(src []byte) int {
	n := 0
	for i, b := range src {
		if b == ':' && (i+1 == len(src) || src[i+1] == ' ' || src[i+1] == '\t' || src[i+1] == '\n' || src[i+1] == '\r') {
			n++
		}
	}
	return n
}

// segment formats one step of a path: .key for plain keys, ["key"] for
// others.
func segment(key string) string {
	if key != "" && plainKey(key) {
		return "." + key
	}
	return "[" + strconv.Quote(key) + "]"
}

func plainKey(key string) bool {
	for i, r := range key {
		ok := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || (i > 0 && (r >= '0' && r <= '9' || r == '-'))
		if !ok {
			return false
		}
	}
	return true
}

// join appends a key to a path.
func join(path, key string) string {
	s := segment(key)
	if path == "" {
		return strings.TrimPrefix(s, ".")
	}
	return path + s
}

// at appends a list index to a path.
func at(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}
