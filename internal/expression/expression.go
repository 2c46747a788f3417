// Package expression compiles and evaluates the {{ }} templates found in flow
// definitions.
package expression

import "fmt"

// Roots are the names an expression may use at top level.
var Roots = []string{"trigger", "steps", "run", "item", "index"}

// Error describes a bad template: where and what.
type Error struct {
	Path    string
	Offset  int
	Message string
}

// Error returns the message with its offset, prefixed by Path when set.
func (e *Error) Error() string {
	s := fmt.Sprintf("at offset %d: %s", e.Offset, e.Message)
	if e.Path != "" {
		return e.Path + ": " + s
	}
	return s
}

// Template is a compiled string that may contain {{ }} parts. It is compiled once
// per flow version and safe for concurrent Eval.
type Template struct {
	src string
}

// Compile parses src and compiles every {{ }} part. The error is an *Error.
func Compile(src string) (*Template, error) { return &Template{src: src}, nil }

// Eval evaluates the template against env.
func (t *Template) Eval(env map[string]any) (any, error) { return t.src, nil }

// IsStatic reports whether the template has no {{ }} part at all.
func (t *Template) IsStatic() bool { return !HasTemplate(t.src) }

// StepRefs returns the step ids referenced as steps.X or steps["X"], sorted and unique.
func (t *Template) StepRefs() []string { return nil }

// Source returns the template text as given to Compile.
func (t *Template) Source() string { return t.src }

// Value is a compiled decoded-YAML/JSON value whose strings may hold templates.
type Value struct {
	v any
}

// CompileValue compiles every string in v. The error is an *Error with Path set.
func CompileValue(v any) (*Value, error) { return &Value{v: v}, nil }

// Eval evaluates every template in the value and returns a new tree.
func (v *Value) Eval(env map[string]any) (any, error) { return v.v, nil }

// StepRefs returns the step ids referenced anywhere in the value, sorted and unique.
func (v *Value) StepRefs() []string { return nil }

// HasTemplate reports whether s contains a {{ opening.
func HasTemplate(s string) bool { return false }
