package expression

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
)

// Value is a compiled decoded-YAML/JSON value (map[string]any, []any, string,
// numbers, bool, nil) whose strings may hold templates, such as the inputs of
// an action. It is safe for concurrent Eval.
type Value struct {
	root node
	refs []string
}

// node is one compiled element of a Value tree.
type node struct {
	tmpl   *Template       // a string holding a template
	keys   []string        // map keys, sorted, when m is set
	m      map[string]node // a map
	list   []node          // a list, when isList
	lit    any             // anything else, returned as is
	isMap  bool
	isList bool
}

// CompileValue compiles every string in v. The error is an *Error whose Path
// names the string, like "headers.Authorization" or "items[2]".
func CompileValue(v any) (*Value, error) {
	refs := map[string]bool{}
	root, err := compileNode(v, "", 0, refs)
	if err != nil {
		return nil, err
	}
	return &Value{root: root, refs: sortedKeys(refs)}, nil
}

func compileNode(v any, path string, depth int, refs map[string]bool) (node, error) {
	if depth > MaxDepth {
		return node{}, &Error{Path: path, Message: errTooDeep.Error()}
	}
	switch x := v.(type) {
	case string:
		if !HasTemplate(x) {
			return node{lit: x}, nil
		}
		t, err := Compile(x)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.Path = path
			}
			return node{}, err
		}
		for _, id := range t.refs {
			refs[id] = true
		}
		return node{tmpl: t}, nil
	case map[string]any:
		n := node{isMap: true, m: make(map[string]node, len(x))}
		for k, e := range x {
			c, err := compileNode(e, joinPath(path, k), depth+1, refs)
			if err != nil {
				return node{}, err
			}
			n.m[k] = c
			n.keys = append(n.keys, k)
		}
		sort.Strings(n.keys)
		return n, nil
	case []any:
		n := node{isList: true, list: make([]node, len(x))}
		for i, e := range x {
			c, err := compileNode(e, path+"["+strconv.Itoa(i)+"]", depth+1, refs)
			if err != nil {
				return node{}, err
			}
			n.list[i] = c
		}
		return n, nil
	default:
		return node{lit: v}, nil
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Eval evaluates every template in the value against env and returns a new
// tree; maps stay map[string]any and lists []any. All templates share one
// budget, so a large Value cannot multiply the limits. ctx and errors are
// as for Template.Eval.
func (v *Value) Eval(ctx context.Context, env map[string]any) (_ any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("evaluate value: internal error: %v", r)
		}
	}()
	b := newBudget(ctx)
	out, err := b.run(func() (any, error) { return v.root.eval(env, b, "") })
	if err != nil {
		return nil, err
	}
	if err := checkSize(out); err != nil {
		return nil, fmt.Errorf("evaluate value: %w", err)
	}
	return out, nil
}

func (n node) eval(env map[string]any, b *budget, path string) (any, error) {
	switch {
	case n.tmpl != nil:
		out, err := n.tmpl.eval(env, b)
		if err != nil && path != "" {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return out, err
	case n.isMap:
		out := make(map[string]any, len(n.m))
		for _, k := range n.keys {
			e, err := n.m[k].eval(env, b, joinPath(path, k))
			if err != nil {
				return nil, err
			}
			out[k] = e
		}
		return out, nil
	case n.isList:
		out := make([]any, len(n.list))
		for i, c := range n.list {
			e, err := c.eval(env, b, path+"["+strconv.Itoa(i)+"]")
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	default:
		return n.lit, nil
	}
}

// StepRefs returns the step ids referenced anywhere in the value, sorted and
// unique.
func (v *Value) StepRefs() []string { return append([]string(nil), v.refs...) }
