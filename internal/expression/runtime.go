package expression

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr/file"
)

// EvalTimeout bounds one Eval; it is checked as work is charged (see budget).
const EvalTimeout = 2 * time.Second

// ErrBudget is wrapped by every error that ends an Eval because one of its
// budgets was spent (time, steps, loop steps, memory, result size or
// depth). Such an error is a property of the flow and its data, not a
// transient failure: evaluating again fails again.
var ErrBudget = errors.New("expression budget exceeded")

var (
	errTooLarge  = fmt.Errorf("%w: result is over the %d byte limit", ErrBudget, MaxResultBytes)
	errAllocated = fmt.Errorf("%w: expression built more than %d bytes", ErrBudget, MaxAllocBytes)
	errLoops     = fmt.Errorf("%w: expression ran more than %d loop steps", ErrBudget, MaxIterations)
	errSteps     = fmt.Errorf("%w: expression did more than %d steps of work", ErrBudget, MaxSteps)
	errTimeout   = fmt.Errorf("%w: expression ran longer than %s", ErrBudget, EvalTimeout)
	errTooDeep   = fmt.Errorf("%w: value is nested more than %d levels", ErrBudget, MaxDepth)
)

const (
	// bytesPerStep is how many bytes scanned count as one step of work.
	bytesPerStep = 64
	// checkEvery is how many steps may pass between two checks of the
	// deadline and the context.
	checkEvery = 4096
	// itemBytes is what one element of a list built by a function is
	// charged: its slot, and the boxed value it usually needs.
	itemBytes = 48
)

// budget is the per-Eval account that every function, charged operator and
// loop step draws from: the one place where time (steps, the deadline and
// the caller's context) and memory (bytes built) are counted.
type budget struct {
	ctx      context.Context
	deadline time.Time
	bytes    int
	steps    int
	ticks    int
	// next is the step count at which the deadline is checked again.
	next int
	// meter is the run's account, if the context carries one; reported
	// and since are the steps and the time already charged to it.
	meter    *Meter
	reported int
	since    time.Time
}

// checkHook, when set by a test, is called at every deadline check.
var checkHook func(steps int)

func newBudget(ctx context.Context) *budget {
	now := time.Now()
	return &budget{ctx: ctx, deadline: now.Add(EvalTimeout), next: checkEvery, meter: meterOf(ctx), since: now}
}

// run runs an evaluation charged to b: refused at once when the run's
// Meter is already spent, and its work charged to the Meter at the end
// (and at every check on the way).
func (b *budget) run(eval func() (any, error)) (any, error) {
	if err := b.start(); err != nil {
		return nil, err
	}
	v, err := eval()
	if rerr := b.report(); rerr != nil && err == nil {
		return nil, rerr
	}
	return v, err
}

// work charges n steps of work about to be done, refusing them when they
// would pass MaxSteps; every checkEvery steps it checks the
// deadline and the context, so that a long function stops within a few
// milliseconds of either.
func (b *budget) work(n int) error {
	if n > MaxSteps-b.steps {
		return errSteps
	}
	b.steps += n
	if b.steps >= b.next {
		b.next = b.steps + checkEvery
		return b.check()
	}
	return nil
}

// scan charges the work of reading n bytes.
func (b *budget) scan(n int) error { return b.work(1 + n/bytesPerStep) }

// alloc charges n bytes of memory about to be allocated. Callers charge
// before they allocate, so a refused allocation never happens.
func (b *budget) alloc(n int) error {
	if n < 0 || n > MaxAllocBytes-b.bytes {
		return errAllocated
	}
	b.bytes += n
	return nil
}

// items charges building a list or map of n elements: memory and one step each.
func (b *budget) items(n int) error {
	if n > MaxAllocBytes/itemBytes {
		return errAllocated
	}
	if err := b.alloc(n * itemBytes); err != nil {
		return err
	}
	return b.work(n)
}

// charge accounts for a string of n bytes about to be built.
func (b *budget) charge(n int) error {
	if n > MaxResultBytes {
		return errTooLarge
	}
	if err := b.alloc(n); err != nil {
		return err
	}
	return b.scan(n)
}

// check returns an error once the deadline has passed or the context ended.
func (b *budget) check() error {
	if checkHook != nil {
		checkHook(b.steps)
	}
	if err := b.ctx.Err(); err != nil {
		return fmt.Errorf("expression stopped: %w", context.Cause(b.ctx))
	}
	if time.Now().After(b.deadline) {
		return errTimeout
	}
	return b.report()
}

// functions are exposed to expressions; see the package documentation and
// builtins.go. Each receives the *budget first (inserted by the patcher).
var functions = func() map[string]func(params ...any) (any, error) {
	m := map[string]func(params ...any) (any, error){tickName: tick}
	for name, f := range builtins {
		m[name] = f.call(name)
	}
	return m
}()

// budgetArgs splits the injected budget from the user's arguments.
func budgetArgs(name string, params []any, minArgs, maxArgs int) (*budget, []any, error) {
	if len(params) == 0 {
		return nil, nil, fmt.Errorf("%s: missing budget", name)
	}
	b, ok := params[0].(*budget)
	if !ok || b == nil {
		return nil, nil, fmt.Errorf("%s: missing budget", name)
	}
	args := params[1:]
	if len(args) < minArgs || len(args) > maxArgs {
		switch {
		case minArgs == maxArgs:
			return nil, nil, fmt.Errorf("%s() takes %d argument(s), got %d", name, minArgs, len(args))
		case maxArgs == manyArgs:
			return nil, nil, fmt.Errorf("%s() takes at least %d argument(s), got %d", name, minArgs, len(args))
		}
		return nil, nil, fmt.Errorf("%s() takes %d to %d arguments, got %d", name, minArgs, maxArgs, len(args))
	}
	return b, args, nil
}

// tick counts one predicate loop step and passes its value through.
func tick(params ...any) (any, error) {
	b, args, err := budgetArgs("loop", params, 1, 1)
	if err != nil {
		return nil, err
	}
	b.ticks++
	if b.ticks > MaxIterations {
		return nil, errLoops
	}
	if err := b.work(1); err != nil {
		return nil, err
	}
	return args[0], nil
}

// format renders v for template concatenation: strings as is, nil as "",
// numbers in shortest form, bools, and maps and lists as compact JSON. It
// fails when the result would exceed limit bytes.
func format(v any, limit int) (string, error) {
	var s string
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		s = x
	case bool:
		s = strconv.FormatBool(x)
	case int:
		s = strconv.Itoa(x)
	case int64:
		s = strconv.FormatInt(x, 10)
	case float64:
		s = formatFloat(x)
	case float32:
		s = formatFloat(float64(x))
	case time.Time:
		s = x.UTC().Format(time.RFC3339Nano)
	case time.Duration:
		s = x.String()
	case fmt.Stringer:
		s = x.String()
	default:
		rv := reflect.ValueOf(v)
		switch rv.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			s = strconv.FormatInt(rv.Int(), 10)
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			s = strconv.FormatUint(rv.Uint(), 10)
		default:
			return encodeJSON(v, limit)
		}
	}
	if len(s) > limit {
		return "", errTooLarge
	}
	return s, nil
}

func formatFloat(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// encodeJSON encodes v as compact JSON after checking, without encoding, that
// it fits in limit bytes; shared sub-lists could otherwise expand exponentially.
func encodeJSON(v any, limit int) (string, error) {
	if _, err := measure(reflect.ValueOf(v), limit, 0); err != nil {
		return "", err
	}
	data, err := json.Marshal(jsonSafe(v))
	if err != nil {
		return "", fmt.Errorf("encode JSON: %w", err)
	}
	if len(data) > limit {
		return "", errTooLarge
	}
	return string(data), nil
}

// jsonSafe replaces float NaN and infinities, which JSON cannot hold, by strings.
func jsonSafe(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return formatFloat(x)
		}
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonSafe(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonSafe(e)
		}
		return out
	}
	return v
}

// checkSize fails when v, encoded, would exceed MaxResultBytes or nest deeper
// than MaxDepth.
func checkSize(v any) error {
	_, err := measure(reflect.ValueOf(v), MaxResultBytes, 0)
	return err
}

// measure estimates the encoded size of v, stopping as soon as it passes limit.
func measure(v reflect.Value, limit, depth int) (int, error) {
	if depth > MaxDepth {
		return 0, errTooDeep
	}
	if !v.IsValid() {
		return 4, nil
	}
	size := 0
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return 4, nil
		}
		return measure(v.Elem(), limit, depth)
	case reflect.String:
		size = len(v.String()) + 2
	case reflect.Slice, reflect.Array:
		size = 2
		for i := range v.Len() {
			n, err := measure(v.Index(i), limit-size, depth+1)
			if err != nil {
				return 0, err
			}
			size += n + 1
			if size > limit {
				return 0, errTooLarge
			}
		}
	case reflect.Map:
		size = 2
		iter := v.MapRange()
		for iter.Next() {
			n, err := measure(iter.Value(), limit-size, depth+1)
			if err != nil {
				return 0, err
			}
			size += n + len(fmt.Sprint(iter.Key().Interface())) + 4
			if size > limit {
				return 0, errTooLarge
			}
		}
	case reflect.Struct:
		size = 2
		for i := range v.NumField() {
			if !v.Type().Field(i).IsExported() {
				continue
			}
			n, err := measure(v.Field(i), limit-size, depth+1)
			if err != nil {
				return 0, err
			}
			size += n + len(v.Type().Field(i).Name) + 4
		}
	default:
		size = 24
	}
	if size > limit {
		return 0, errTooLarge
	}
	return size, nil
}

// cleanRunError drops expr's source snippet from a runtime error, keeping its
// message and cause, since the caller names the expression itself.
func cleanRunError(err error) error {
	var fe *file.Error
	if errors.As(err, &fe) {
		if fe.Prev != nil && fe.Prev.Error() == firstLine(fe.Message) {
			return fe.Prev
		}
		if fe.Prev != nil {
			return fmt.Errorf("%s: %w", firstLine(fe.Message), fe.Prev)
		}
		return errors.New(firstLine(fe.Message))
	}
	return err
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
