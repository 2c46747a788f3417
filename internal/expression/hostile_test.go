package expression

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hostileEnv returns an environment with large values, the most a trigger
// body may hold (just under the 10 MiB payload cap).
func hostileEnv() map[string]any {
	const size = 9 << 20
	nums := make([]any, 1_000_000)
	distinct := make([]any, 20_000)
	for i := range nums {
		nums[i] = float64(i % 1000)
	}
	for i := range distinct {
		distinct[i] = "item-" + strconv.Itoa(i)
	}
	big := strings.Repeat("a,", size/2)
	twin := big[:len(big)-1] + "b"
	flags := make([]any, 1_000_000)
	for i := range flags {
		flags[i] = i%2 == 0
	}
	keys := make(map[string]any, 100_000)
	for i := range 100_000 {
		keys[strconv.Itoa(i)] = i
	}
	patterns := make([]any, 2000)
	for i := range patterns {
		patterns[i] = strconv.Itoa(i) + strings.Repeat("[a-z]{1000}", 370)
	}
	return map[string]any{"trigger": map[string]any{"body": map[string]any{
		"patterns": patterns,
		"big":      big, "twin": twin, "flags": flags, "nums": nums, "distinct": distinct, "keys": keys,
		"json":    "[" + strings.Repeat("0,", size/2) + "0]",
		"pattern": strings.Repeat("a", size),
	}}}
}

// evalCounted evaluates src with a fresh budget and returns it, so that a
// test can see how much work was done.
func evalCounted(t *testing.T, ctx context.Context, src string, env map[string]any) (any, *budget, error) {
	t.Helper()
	tmpl, err := Compile(src)
	if err != nil {
		t.Fatalf("Compile(%q): %v", src, err)
	}
	b := newBudget(ctx)
	v, err := tmpl.eval(env, b)
	return v, b, err
}

// TestHostileBuiltins checks that every builtin and operator that reads or
// builds in proportion to its input is refused within its budget: the work
// counted stays at most MaxSteps plus one charge, the memory charged at most
// MaxAllocBytes, and the wall time is bounded generously.
func TestHostileBuiltins(t *testing.T) {
	env := hostileEnv()
	tests := []struct{ name, src string }{
		{"split every byte", "{{ split(trigger.body.big, '') }}"},
		{"split every comma", "{{ len(split(trigger.body.big, ',')) }}"},
		{"splitAfter in a loop", "{{ map(1..1000, len(splitAfter(trigger.body.big[:200000], ','))) }}"},
		{"upper of a large string", "{{ upper(trigger.body.big) }}"},
		{"trim with a long non-ASCII cutset", "{{ trim(trigger.body.big, '" + strings.Repeat("é", 1000) + "') }}"},
		{"lower in a loop", "{{ map(1..200000, len(lower(trigger.body.big[:100000]))) }}"},
		{"indexOf in a loop", "{{ map(1..200000, indexOf(trigger.body.big, 'z')) }}"},
		{"hasSuffix in a loop", "{{ map(1..200000, hasSuffix(trigger.body.big, 'z') || trim(trigger.body.big) == '') }}"},
		{"contains in a loop", "{{ map(1..200000, trigger.body.big contains 'z') }}"},
		{"equal long strings in a loop", "{{ map(1..200000, trigger.body.big == trigger.body.twin) }}"},
		{"compare long strings in a loop", "{{ map(1..200000, trigger.body.big < trigger.body.twin) }}"},
		{"equal lists in a loop", "{{ map(1..200000, trigger.body.nums == trigger.body.nums) }}"},
		{"in a long list in a loop", "{{ map(1..200000, -1 in trigger.body.nums) }}"},
		{"count without predicate", "{{ count(trigger.body.flags) }}"},
		{"sum without predicate in a loop", "{{ map(1..1000, sum(trigger.body.distinct[:1000] == nil ? [] : trigger.body.nums)) }}"},
		{"max in a loop", "{{ map(1..200000, max(trigger.body.nums)) }}"},
		{"median in a loop", "{{ map(1..100, median(trigger.body.nums)) }}"},
		{"sort in a loop", "{{ map(1..1000, len(sort(trigger.body.distinct))) }}"},
		{"uniq in a loop", "{{ map(1..1000, len(uniq(trigger.body.distinct))) }}"},
		{"reverse in a loop", "{{ map(1..1000, len(reverse(trigger.body.nums[:100000]))) }}"},
		{"keys in a loop", "{{ map(1..1000, len(keys(trigger.body.keys))) }}"},
		{"toPairs", "{{ toPairs(trigger.body.keys) }}"},
		{"fromJSON of a long list", "{{ len(fromJSON(trigger.body.json)) }}"},
		{"fromBase64 in a loop", "{{ map(1..200000, len(fromBase64('" + strings.Repeat("QUFB", 1000) + "'))) }}"},
		{"repeat", "{{ repeat('ab', 100000000) }}"},
		{"replace growing", "{{ replace(trigger.body.big, ',', ',,,,') }}"},
		{"replace every gap", "{{ replace(trigger.body.big[:1000000], '', 'xx') }}"},
		{"join of many", "{{ join(map(1..200000, 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')) }}"},
		{"concatenation in a loop", "{{ reduce(1..200000, #acc + 'xxxxxxxxxxxxxxxx', '') }}"},
		{"json in a loop", "{{ map(1..200000, json(trigger.body.distinct)) }}"},
		{"string of a large list", "{{ string(trigger.body.nums) }}"},
		{"matches on a large input in a loop", "{{ map(1..200000, trigger.body.big matches '(a|b)*z') }}"},
		{"matches with a huge pattern", "{{ 'a' matches trigger.body.pattern }}"},
		{"matches with many large patterns", "{{ map(trigger.body.patterns, 'a' matches #) }}"},
		{"matches with a large program on a large input", "{{ trigger.body.big matches '" + strings.Repeat("(a|b)", 500) + "' }}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, b, err := evalCounted(t, context.Background(), tt.src, env)
			elapsed := time.Since(start)
			if !errors.Is(err, ErrBudget) {
				t.Fatalf("Eval error = %v, want one wrapping ErrBudget", err)
			}
			if b.steps > MaxSteps || b.bytes > MaxAllocBytes {
				t.Errorf("%d steps and %d bytes charged, over the budgets", b.steps, b.bytes)
			}
			if elapsed > 10*EvalTimeout {
				t.Errorf("refused after %s, over 10 times the %s budget", elapsed, EvalTimeout)
			}
		})
	}
}

// TestBuiltinsWithinBudget checks that the replaced builtins still work on
// large but reasonable inputs, in work linear in their input.
func TestBuiltinsWithinBudget(t *testing.T) {
	env := hostileEnv()
	tests := []struct {
		src      string
		want     any
		maxSteps int
	}{
		// expr's uniq compared every pair: 20,000 items took 11.5 s.
		{"{{ len(uniq(trigger.body.distinct)) }}", 20_000, 4*20_000 + 10},
		{"{{ len(uniq(trigger.body.nums)) }}", 1000, 4 * 1_000_000},
		{"{{ uniq([1, 1.0, 'a', 'a', [1], [1], {'k': 1}, {'k': 1}, nil, nil, true]) }}", []any{1, "a", []any{1}, map[string]any{"k": 1}, nil, true}, 100},
		{"{{ len(split(trigger.body.big[:200000], ',')) }}", 100_001, 2 * 100_001},
		{"{{ first(sort(trigger.body.distinct, 'desc')) }}", "item-9999", 20_000 * 20},
		{"{{ repeat('ab', 3) }}", "ababab", 10},
		{"{{ upper('straße ı') + lower('ÀB') + trim('éaé', 'é') }}", "STRAßE I" + "àb" + "a", 20},
		{"{{ fromJSON('{\"a\": [1, \"x\", true, null]}') }}", map[string]any{"a": []any{1.0, "x", true, nil}}, 20},
		{"{{ fromPairs([['a', 1], [2, 'b']]) }}", map[string]any{"a": 1, "2": "b"}, 20},
		{"{{ 'abc' matches '^a.c$' && 5 in [1, 5] && 'a' in {'a': 1} && [1, 2] == [1, 2] }}", true, 20},
		{"{{ count([true, false, true]) + sum([1, 2]) }}", 5, 20},
	}
	for _, tt := range tests {
		t.Run(tt.src[:min(len(tt.src), 40)], func(t *testing.T) {
			got, b, err := evalCounted(t, context.Background(), tt.src, env)
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if !equalValue(got, tt.want) {
				t.Errorf("Eval = %#v, want %#v", got, tt.want)
			}
			if b.steps > tt.maxSteps {
				t.Errorf("%d steps, want at most %d", b.steps, tt.maxSteps)
			}
		})
	}
}

// equalValue compares results with == semantics (1 equals 1.0).
func equalValue(a, b any) bool {
	eq, err := equal(newBudget(context.Background()), a, b)
	return err == nil && eq
}

// TestSplitMemory checks that split on a 9 MB body is refused before the
// list is built: the memory allocated by Eval stays small (expr's split
// added 230 MB).
func TestSplitMemory(t *testing.T) {
	env := hostileEnv()
	tmpl, err := Compile("{{ split(trigger.body.big, ',') }}")
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = tmpl.Eval(context.Background(), env)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrBudget) {
		t.Fatalf("Eval error = %v, want ErrBudget", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("Eval allocated %d bytes before refusing", grew)
	}
}

// TestEvalStopsWhenCancelled cancels the context while a long uniq and a
// long map run, and checks that Eval returns at its next check with the
// context's error, having done at most one check interval of work more.
func TestEvalStopsWhenCancelled(t *testing.T) {
	env := hostileEnv()
	for _, src := range []string{
		"{{ len(uniq(trigger.body.distinct)) }}",
		"{{ map(1..190000, indexOf(trigger.body.big[:1000], 'z')) }}",
	} {
		t.Run(src, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			started, cancelled := make(chan int), make(chan struct{})
			checkHook = func(steps int) {
				if started != nil {
					started <- steps
					started = nil
					<-cancelled
				}
			}
			defer func() { checkHook = nil }()
			type result struct {
				b   *budget
				err error
			}
			done := make(chan result)
			go func() {
				_, b, err := evalCounted(t, ctx, src, env)
				done <- result{b, err}
			}()
			var at int
			select {
			case at = <-started:
			case r := <-done:
				t.Fatalf("Eval returned before its first check: %v", r.err)
			}
			cancel()
			close(cancelled)
			var r result
			select {
			case r = <-done:
			case <-time.After(10 * EvalTimeout):
				t.Fatal("Eval did not return after its context was cancelled")
			}
			if !errors.Is(r.err, context.Canceled) || errors.Is(r.err, ErrBudget) {
				t.Fatalf("Eval error = %v, want context.Canceled", r.err)
			}
			if extra := r.b.steps - at; extra > 2*checkEvery {
				t.Errorf("%d steps of work after the cancellation", extra)
			}
		})
	}
}

// TestMatchesPatternChecked checks that a constant pattern is compiled,
// and refused when invalid or too large, when the template is compiled.
func TestMatchesPatternChecked(t *testing.T) {
	t.Parallel()
	for _, src := range []string{
		"{{ 'a' matches '(' }}",
		"{{ 'a' matches '" + strings.Repeat("[a-z]{1000}", 11) + "' }}",
	} {
		var e *Error
		if _, err := Compile(src); !errors.As(err, &e) || e.Offset != 15 {
			t.Errorf("Compile(%.40q) = %v, want an *Error at the pattern", src, err)
		}
	}
}

// BenchmarkUniq measures uniq over 20,000 distinct objects, the input
// that took expr's pairwise uniq 11.5 s.
func BenchmarkUniq(b *testing.B) {
	items := make([]any, 20_000)
	for i := range items {
		items[i] = map[string]any{"id": "item-" + strconv.Itoa(i)}
	}
	tmpl, err := Compile("{{ len(uniq(trigger.body)) }}")
	if err != nil {
		b.Fatal(err)
	}
	env := map[string]any{"trigger": map[string]any{"body": items}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tmpl.Eval(context.Background(), env); err != nil {
			b.Fatal(err)
		}
	}
}
