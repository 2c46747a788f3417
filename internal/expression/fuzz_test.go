package expression

import (
	"errors"
	"testing"
)

// seeds are shared by both fuzz targets besides the files in testdata/fuzz.
var seeds = []string{
	"plain", "{{ trigger.body.n + 1 }}", "a {{ steps.x.output }} b {{ item }}",
	`{{ steps["a"].output.body[0] }}`, "{{ map(1..10, # * 2) }}", "{{ '}}' }}",
	"{{ json(trigger) }}", "{{ let a = 'x'; a + a }}", "{{", "{{ }}", "{{ 1 + }}",
	"{{ uniq(map(1..1000, # % 7)) }}", "{{ split('a,b', ',', 1) }}", "{{ 'x' matches 'x+' }}",
	"{{ sort(['b', 'a'], 'desc') }}", "{{ fromJSON('[1, {\"a\": [2]}]') }}", "{{ 1 in [1.0] }}",
	"{{ repeat('ab', 3) }}", "{{ count([true]) + sum([1]) }}", "{{ median([1, [2, 3]]) }}",
}

func FuzzCompile(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tmpl, err := Compile(src)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Compile(%q) error %T is not *Error", src, err)
			}
			if e.Offset < 0 || e.Offset > len(src) {
				t.Fatalf("Compile(%q) offset %d out of range", src, e.Offset)
			}
			return
		}
		if tmpl.Source() != src {
			t.Fatalf("Source() = %q", tmpl.Source())
		}
		if tmpl.IsStatic() && HasTemplate(src) {
			t.Fatalf("IsStatic() on %q", src)
		}
		_ = tmpl.StepRefs()
	})
}

func FuzzEval(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tmpl, err := Compile(src)
		if err != nil {
			return
		}
		env := testEnv()
		env["item"] = map[string]any{"k": []any{1.0, "s", nil}}
		env["index"] = 3
		_, _ = tmpl.Eval(ctx, env) // must not panic; errors are fine
		v, err := CompileValue(map[string]any{"a": []any{src}})
		if err != nil {
			t.Fatalf("CompileValue failed where Compile passed: %v", err)
		}
		_, _ = v.Eval(ctx, env)
	})
}
