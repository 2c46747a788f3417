package expression

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ctx is the context of the evaluations in tests that do not cancel.
var ctx = context.Background()

// testEnv returns an Eval environment shaped like the engine's.
func testEnv() map[string]any {
	return map[string]any{
		"trigger": map[string]any{"body": map[string]any{
			"n": 2.0, "i": 7, "user": "bob", "ok": true,
			"xs":  []any{1.0, 2.0, 3.0},
			"obj": map[string]any{"a": 1.0, "b": "x"},
		}},
		"steps": map[string]any{
			"get_manager": map[string]any{"status": "succeeded", "output": map[string]any{"body": map[string]any{"mail": "m@x.org"}}},
		},
		"run": map[string]any{"id": "r1", "flow": "f1", "started_at": "2024-01-01T00:00:00Z"},
	}
}

func TestTemplateEval(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want any
	}{
		{"static", "plain text", "plain text"},
		{"empty", "", ""},
		{"float stays number", "{{ trigger.body.n + 1 }}", 3.0},
		{"int stays int", "{{ trigger.body.i + 1 }}", 8},
		{"whitespace around single", "  {{ 1 + 2 }}\n", 3},
		{"bool", "{{ trigger.body.ok }}", true},
		{"map kept", "{{ trigger.body.obj }}", map[string]any{"a": 1.0, "b": "x"}},
		{"concat string", "https://x/users/{{ trigger.body.user }}/manager", "https://x/users/bob/manager"},
		{"concat number shortest", "n={{ trigger.body.n }} h={{ 1.5 }} i={{ trigger.body.i }}", "n=2 h=1.5 i=7"},
		{"concat nil", "[{{ item }}]", "[]"},
		{"concat bool", "{{ true }}/{{ false }}", "true/false"},
		{"concat map json", "v={{ trigger.body.obj }} l={{ trigger.body.xs }}", `v={"a":1,"b":"x"} l=[1,2,3]`},
		{"step output", "{{ steps.get_manager.output.body.mail }}", "m@x.org"},
		{"step index syntax", `{{ steps["get_manager"].status }}`, "succeeded"},
		{"missing root is nil", "{{ item }}", nil},
		{"missing field is nil", "{{ trigger.body.missing }}", nil},
		{"optional chain", "{{ trigger.body.missing?.deeper }}", nil},
		{"string concat", "{{ trigger.body.user + '!' }}", "bob!"},
		{"braces in string literal", "{{ '}}' + 'x' }}", "}}x"},
		{"json", "{{ json(trigger.body.xs) }}", "[1,2,3]"},
		{"string fn", "{{ string(trigger.body.n) }}", "2"},
		{"join", "{{ join(trigger.body.xs, '-') }}", "1-2-3"},
		{"replace", "{{ replace('a-b', '-', '+') }}", "a+b"},
		{"default nil", "{{ default(item, 'none') }}", "none"},
		{"default set", "{{ default(trigger.body.user, 'none') }}", "bob"},
		{"upper builtin", "{{ upper(trigger.body.user) }}", "BOB"},
		{"map builtin", "{{ map(trigger.body.xs, # * 2) }}", []any{2.0, 4.0, 6.0}},
		{"reduce", "{{ reduce(trigger.body.xs, #acc + #, 0) }}", 6.0},
		{"let", "{{ let x = 2; x * x }}", 4},
		{"run root", "{{ run.id }}", "r1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tmpl, err := Compile(tt.src)
			if err != nil {
				t.Fatalf("Compile(%q): %v", tt.src, err)
			}
			got, err := tmpl.Eval(ctx, testEnv())
			if err != nil {
				t.Fatalf("Eval(%q): %v", tt.src, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Eval(%q) = %#v, want %#v", tt.src, got, tt.want)
			}
		})
	}
}

func TestNow(t *testing.T) {
	t.Parallel()
	tmpl, err := Compile("{{ now() }}")
	if err != nil {
		t.Fatal(err)
	}
	got, err := tmpl.Eval(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := time.Parse(time.RFC3339, got.(string)); err != nil || !strings.HasSuffix(got.(string), "Z") {
		t.Errorf("now() = %q, want RFC 3339 UTC", got)
	}
}

func TestEvalRuntimeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, src, want string }{
		{"deep missing", "{{ trigger.body.missing.deeper }}", "trigger.body.missing.deeper"},
		{"nil plus", "{{ index + 1 }}", "missing"},
		{"string plus int", "{{ 'a' + 1 }}", "invalid operation"},
		{"bad join", "{{ join(1) }}", "not a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tmpl, err := Compile(tt.src)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			_, err = tmpl.Eval(ctx, testEnv())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Eval(%q) error = %v, want it to contain %q", tt.src, err, tt.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		src     string
		offset  int
		message string
	}{
		{"unknown root", "{{ trigr.body }}", 3, `unknown name "trigr" (did you mean "trigger"?)`},
		{"unknown root offset in text", "https://x/{{ stepz.a }}", 13, `(did you mean "steps"?)`},
		{"unknown root far", "{{ zzzzzzzzzz }}", 3, "expressions start from"},
		{"hidden name", "{{ __budget }}", 3, "unknown name"},
		{"env access", "{{ $env }}", 3, "unknown name"},
		{"unknown function", "{{ toJSON('a') }}", 3, `unknown function "toJSON"`},
		{"disabled toJSON", "{{ toJSON(1) }}", 3, `unknown function "toJSON"`},
		{"syntax", "ab {{ 1 + * }}", 10, "unexpected token"},
		{"unterminated", "abc {{ trigger", 4, "unterminated {{"},
		{"empty", "x{{  }}", 1, "empty {{ }}"},
		{"second part", "{{ trigger.a }} {{ run..x }}", 24, `unknown name "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Compile(tt.src)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Compile(%q) error = %v, want *Error", tt.src, err)
			}
			if e.Offset != tt.offset || !strings.Contains(e.Message, tt.message) {
				t.Errorf("Compile(%q) = offset %d %q, want offset %d containing %q", tt.src, e.Offset, e.Message, tt.offset, tt.message)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	t.Parallel()
	e := &Error{Offset: 12, Message: `unknown name "trigr"`}
	if got, want := e.Error(), `at offset 12: unknown name "trigr"`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	e.Path = "headers.Authorization"
	if got, want := e.Error(), `headers.Authorization: at offset 12: unknown name "trigr"`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestStepRefs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  string
		want []string
	}{
		{"no refs", []string{}},
		{"{{ steps.b.output }} {{ steps.a.status }} {{ steps.b.error }}", []string{"a", "b"}},
		{`{{ steps["x-y"].output.body }}`, []string{"x-y"}},
		{`{{ map(steps.list.output.items, steps.other.output[#]) }}`, []string{"list", "other"}},
		{`{{ steps?.opt?.output }}`, []string{"opt"}},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			tmpl, err := Compile(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			if got := tmpl.StepRefs(); !reflect.DeepEqual(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Errorf("StepRefs() = %v, want %v", got, tt.want)
			}
			if got := tmpl.IsStatic(); got != !HasTemplate(tt.src) {
				t.Errorf("IsStatic() = %v", got)
			}
			if tmpl.Source() != tt.src {
				t.Errorf("Source() = %q", tmpl.Source())
			}
		})
	}
}

func TestValue(t *testing.T) {
	t.Parallel()
	in := map[string]any{
		"url":     "https://x/{{ trigger.body.user }}",
		"headers": map[string]any{"Authorization": "Bearer {{ steps.auth?.output?.token }}", "X-N": 5},
		"items":   []any{"{{ trigger.body.n + 1 }}", true, nil, map[string]any{"m": "{{ steps.get_manager.output.body.mail }}"}},
	}
	v, err := CompileValue(in)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := v.StepRefs(), []string{"auth", "get_manager"}; !reflect.DeepEqual(got, want) {
		t.Errorf("StepRefs() = %v, want %v", got, want)
	}
	got, err := v.Eval(ctx, testEnv())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"url":     "https://x/bob",
		"headers": map[string]any{"Authorization": "Bearer ", "X-N": 5},
		"items":   []any{3.0, true, nil, map[string]any{"m": "m@x.org"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Eval() = %#v, want %#v", got, want)
	}
	if in["url"] != "https://x/{{ trigger.body.user }}" {
		t.Error("Eval modified its input")
	}
}

func TestValueErrorPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   any
		path string
	}{
		{map[string]any{"headers": map[string]any{"Authorization": "{{ trigr }}"}}, "headers.Authorization"},
		{map[string]any{"items": []any{"a", "b", "{{ }}"}}, "items[2]"},
		{"{{ 1 + }}", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			_, err := CompileValue(tt.in)
			var e *Error
			if !errors.As(err, &e) || e.Path != tt.path {
				t.Errorf("CompileValue error = %v, want *Error with Path %q", err, tt.path)
			}
		})
	}
}

func TestBudgets(t *testing.T) {
	t.Parallel()
	longExpr := "{{ " + strings.Repeat("1+", MaxExprBytes) + "1 }}"
	deep := "{{ " + strings.Repeat("(", 3000) + "1" + strings.Repeat(")", 3000) + " }}"
	tests := []struct {
		name       string
		src        string
		compileErr string // empty when Compile must succeed and Eval fail
		evalErr    string
	}{
		{"long source", strings.Repeat("a", MaxSourceBytes+1), "byte limit", ""},
		{"long expression", longExpr, "byte limit", ""},
		{"many nodes", "{{ " + strings.Repeat("1+", 1500) + "1 }}", "exceeds maximum allowed nodes", ""},
		{"deep nesting", deep, "", ""}, // must fail or succeed quickly, never crash
		{"repeat refused", "{{ repeat('x', 1000000000) }}", "", "limit"},
		{"huge range", "{{ 1..1000000000 }}", "", "memory budget exceeded"},
		{"huge range in map", "{{ map(1..1000000000, #) }}", "", "memory budget exceeded"},
		{"nested loops", "{{ count(1..1000, count(1..1000, count(1..1000, true) > 0) > 0) }}", "", "budget exceeded"},
		{"nested env loops", "{{ let xs = trigger.body.big; reduce(xs, #acc + reduce(xs, #acc + reduce(xs, #acc + 1, 0), 0), 0) }}", "", "expression ran "}, // loop steps, or the deadline on a slow machine
		{"string doubling", "{{ let a = 'xxxxxxxxxxxxxxxx'; " + doubling(40) + " }}", "", "limit"},
		{"replace blowup", "{{ let a = replace('" + strings.Repeat("x", 2000) + "', 'x', '" + strings.Repeat("y", 2000) + "'); len(a) }}", "", "limit"},
		{"shared list json", "{{ let a = [1,2]; " + listDoubling(60) + " }}", "", "limit"},
		{"shared list result", "{{ let a = [1,2]; " + listDoublingResult(60) + " }}", "", "limit"},
		{"join blowup", "{{ let a = 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'; " + joinDoubling(40) + " }}", "", "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			tmpl, err := Compile(tt.src)
			if tt.compileErr != "" || (tt.evalErr == "" && err != nil) {
				if tt.compileErr != "" && (err == nil || !strings.Contains(err.Error(), tt.compileErr)) {
					t.Fatalf("Compile error = %v, want %q", err, tt.compileErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			env := testEnv()
			big := make([]any, 1000)
			env["trigger"].(map[string]any)["body"].(map[string]any)["big"] = big
			_, err = tmpl.Eval(ctx, env)
			if err == nil || !strings.Contains(err.Error(), tt.evalErr) {
				t.Errorf("Eval error = %v, want %q", err, tt.evalErr)
			}
			if d := time.Since(start); d > EvalTimeout+time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}

// doubling builds "let b0 = a + a; let b1 = b0 + b0; ...; len(bn)".
func doubling(n int) string {
	var sb strings.Builder
	prev := "a"
	for i := range n {
		cur := "b" + itoa(i)
		sb.WriteString("let " + cur + " = " + prev + " + " + prev + "; ")
		prev = cur
	}
	return sb.String() + "len(" + prev + ")"
}

func joinDoubling(n int) string {
	var sb strings.Builder
	prev := "a"
	for i := range n {
		cur := "b" + itoa(i)
		sb.WriteString("let " + cur + " = join([" + prev + ", " + prev + "]); ")
		prev = cur
	}
	return sb.String() + "len(" + prev + ")"
}

func listDoubling(n int) string { return listDoublingResult(n)[:0] + listChain(n, "json") }

func listDoublingResult(n int) string { return listChain(n, "") }

func listChain(n int, wrap string) string {
	var sb strings.Builder
	prev := "a"
	for i := range n {
		cur := "b" + itoa(i)
		sb.WriteString("let " + cur + " = [" + prev + ", " + prev + "]; ")
		prev = cur
	}
	if wrap != "" {
		return sb.String() + wrap + "(" + prev + ")"
	}
	return sb.String() + prev
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestConcurrentEval(t *testing.T) {
	t.Parallel()
	tmpl, err := Compile("u/{{ trigger.body.user }}/{{ map(trigger.body.xs, # + 1) }}/{{ index + 1 }}")
	if err != nil {
		t.Fatal(err)
	}
	v, err := CompileValue(map[string]any{"a": []any{"{{ item }}", "{{ upper(trigger.body.user) }}"}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			env := testEnv()
			env["index"] = i
			env["item"] = i * 2
			for range 50 {
				got, err := tmpl.Eval(ctx, env)
				if want := "u/bob/[2,3,4]/" + itoa(i+1); err != nil || got != want {
					t.Errorf("Eval = %v, %v; want %q", got, err, want)
					return
				}
				out, err := v.Eval(ctx, env)
				if err != nil || !reflect.DeepEqual(out, map[string]any{"a": []any{i * 2, "BOB"}}) {
					t.Errorf("Value.Eval = %v, %v", out, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkEval(b *testing.B) {
	tmpl, err := Compile("https://x/users/{{ trigger.body.user }}/items/{{ trigger.body.n + 1 }}")
	if err != nil {
		b.Fatal(err)
	}
	env := testEnv()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tmpl.Eval(ctx, env); err != nil {
			b.Fatal(err)
		}
	}
}
