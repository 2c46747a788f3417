package expression

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestMeterSumsEvals checks that a run's Meter adds up the work of every
// Eval charged to it: evaluations that each stay far under their own
// budget are refused once their sum passes the run's limit, and the Eval
// after that is refused before it does any work.
func TestMeterSumsEvals(t *testing.T) {
	tpl, err := Compile("{{ count(1..1000, # > 0) }}")
	if err != nil {
		t.Fatal(err)
	}
	// Measure one evaluation, then allow ten and a half.
	one := NewMeter(1<<40, time.Hour, 0, 0)
	if _, err := tpl.Eval(WithMeter(context.Background(), one), nil); err != nil {
		t.Fatal(err)
	}
	per, _ := one.Used()
	limit := 10*per + per/2
	m := NewMeter(limit, time.Hour, 0, 0)
	ctx := WithMeter(context.Background(), m)
	n := 0
	for ; n < 100; n++ {
		if _, err = tpl.Eval(ctx, nil); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrRunWork) || errors.Is(err, ErrBudget) || !strings.Contains(err.Error(), fmt.Sprintf("%d steps", limit)) {
		t.Fatalf("after %d evaluations: %v, want the run's work limit", n, err)
	}
	if n != 10 {
		t.Fatalf("refused after %d evaluations of %d steps, want 10", n, per)
	}
	steps, _ := m.Used()
	// Refused at once: no step charged by a later Eval.
	var checks int
	checkHook = func(int) { checks++ }
	defer func() { checkHook = nil }()
	if _, err := tpl.Eval(ctx, nil); !errors.Is(err, ErrRunWork) {
		t.Fatalf("next evaluation: %v", err)
	}
	if again, _ := m.Used(); again != steps || checks != 0 {
		t.Fatalf("a refused evaluation worked: steps %d -> %d, %d checks", steps, again, checks)
	}
	// Without a Meter, nothing is summed.
	for range 20 {
		if _, err := tpl.Eval(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMeterTime checks the time limit and that work already used (a
// resumed run) counts.
func TestMeterTime(t *testing.T) {
	tpl, err := Compile(`{{ trigger.x }}`)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMeter(1<<40, time.Minute, 0, time.Minute+time.Nanosecond)
	if _, err := tpl.Eval(WithMeter(context.Background(), m), nil); !errors.Is(err, ErrRunWork) || !strings.Contains(err.Error(), "longer than 1m0s") {
		t.Fatalf("got %v, want the run's time limit", err)
	}
	v, err := MustValue(t, map[string]any{"a": "{{ 1 + 1 }}"}).Eval(WithMeter(context.Background(), NewMeter(10, time.Hour, 10, 0)), nil)
	if !errors.Is(err, ErrRunWork) {
		t.Fatalf("value over a spent meter: %v %v", v, err)
	}
}

// MustValue compiles a Value for a test.
func MustValue(t *testing.T, v any) *Value {
	t.Helper()
	val, err := CompileValue(v)
	if err != nil {
		t.Fatal(err)
	}
	return val
}

// TestEvalList checks what a foreach may iterate: ranges and typed lists
// as []any, nil as empty, 100,000 numbers (over the 1 MiB result cap of
// Eval), and a list over the item cap refused before it is converted.
func TestEvalList(t *testing.T) {
	ctx := context.Background()
	env := map[string]any{"trigger": map[string]any{"ints": []int{4, 5}, "strs": []string{"a"}, "list": []any{1.0}}}
	cases := []struct {
		src  string
		n    int
		want string
	}{
		{"{{ 1..3 }}", 3, ""},
		{"{{ 1..100000 }}", 100_000, ""},
		{"{{ trigger.ints }}", 2, ""},
		{"{{ trigger.strs }}", 1, ""},
		{"{{ trigger.list }}", 1, ""},
		{"{{ trigger.none }}", 0, ""},
		{"{{ 1..100001 }}", 0, "100001 items, more than the 100000"},
		{"{{ trigger }}", 0, "expected a list, got an object"},
		{"a {{ trigger.ints }}", 0, "expected a list, got a string"},
	}
	for _, tc := range cases {
		t.Run(tc.src, func(t *testing.T) {
			tpl, err := Compile(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tpl.EvalList(ctx, env, 100_000)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil || len(got) != tc.n {
				t.Fatalf("got %d items, %v; want %d", len(got), err, tc.n)
			}
		})
	}
	tpl, err := Compile("{{ 1..100 }}")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := tpl.EvalList(ctx, nil, 100); err != nil || got[99] != 100 {
		t.Fatalf("range: %v %v", got, err)
	}
}

// TestEvalListRefusesEarly checks that a list over the item cap is refused
// before a []any is built for it.
func TestEvalListRefusesEarly(t *testing.T) {
	big := make([]int, 200_000)
	env := map[string]any{"trigger": big}
	tpl, err := Compile("{{ trigger }}")
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(5, func() {
		if _, err := tpl.EvalList(context.Background(), env, 100_000); err == nil {
			t.Fatal("no error")
		}
	})
	if allocs > 200 {
		t.Fatalf("%v allocations to refuse a list of 200,000 items", allocs)
	}
}
