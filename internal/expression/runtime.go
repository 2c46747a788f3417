package expression

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm/runtime"
)

// EvalTimeout bounds one Eval; it is checked at loop steps and budgeted calls.
const EvalTimeout = 2 * time.Second

var (
	errTooLarge  = fmt.Errorf("result is over the %d byte limit", MaxResultBytes)
	errAllocated = fmt.Errorf("expression built more than %d bytes of strings", MaxAllocBytes)
	errLoops     = fmt.Errorf("expression ran more than %d loop steps", MaxIterations)
	errTimeout   = fmt.Errorf("expression ran longer than %s", EvalTimeout)
	errTooDeep   = fmt.Errorf("value is nested more than %d levels", MaxDepth)
)

// budget is the per-Eval account charged by patched expressions.
type budget struct {
	bytes    int
	ticks    int
	deadline time.Time
}

func newBudget() *budget { return &budget{deadline: time.Now().Add(EvalTimeout)} }

// charge accounts for n bytes of string built.
func (b *budget) charge(n int) error {
	if n > MaxResultBytes {
		return errTooLarge
	}
	b.bytes += n
	if b.bytes > MaxAllocBytes {
		return errAllocated
	}
	return b.check()
}

// check returns an error once the deadline has passed.
func (b *budget) check() error {
	if time.Now().After(b.deadline) {
		return errTimeout
	}
	return nil
}

// functions are exposed to expressions; see the package documentation. The
// budgeted ones receive the *budget first (inserted by the patcher).
var functions = map[string]func(params ...any) (any, error){
	addName:   add,
	tickName:  tick,
	"json":    jsonFunc,
	"string":  stringFunc,
	"join":    joinFunc,
	"replace": replaceFunc,
	"now": func(params ...any) (any, error) {
		if len(params) != 0 {
			return nil, errors.New("now() takes no arguments")
		}
		return time.Now().UTC().Format(time.RFC3339), nil
	},
	"default": func(params ...any) (any, error) {
		if len(params) != 2 {
			return nil, errors.New("default(v, fallback) takes 2 arguments")
		}
		if params[0] == nil || params[0] == "" {
			return params[1], nil
		}
		return params[0], nil
	},
}

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
		if minArgs == maxArgs {
			return nil, nil, fmt.Errorf("%s() takes %d argument(s), got %d", name, minArgs, len(args))
		}
		return nil, nil, fmt.Errorf("%s() takes %d to %d arguments, got %d", name, minArgs, maxArgs, len(args))
	}
	return b, args, nil
}

// add is the + operator: strings are concatenated within the budget, anything
// else goes to expr's own addition (int + int stays int, float64 + int works).
func add(params ...any) (any, error) {
	b, args, err := budgetArgs("+", params, 2, 2)
	if err != nil {
		return nil, err
	}
	if l, ok := args[0].(string); ok {
		if r, ok := args[1].(string); ok {
			if err := b.charge(len(l) + len(r)); err != nil {
				return nil, err
			}
			return l + r, nil
		}
	}
	if args[0] == nil || args[1] == nil {
		return nil, errors.New("invalid operation: + on a missing (nil) value")
	}
	return runtime.Add(args[0], args[1]), nil
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
	if b.ticks%1024 == 0 {
		if err := b.check(); err != nil {
			return nil, err
		}
	}
	return args[0], nil
}

func jsonFunc(params ...any) (any, error) {
	b, args, err := budgetArgs("json", params, 1, 1)
	if err != nil {
		return nil, err
	}
	s, err := encodeJSON(args[0], MaxResultBytes)
	if err != nil {
		return nil, fmt.Errorf("json: %w", err)
	}
	return s, b.charge(len(s))
}

func stringFunc(params ...any) (any, error) {
	b, args, err := budgetArgs("string", params, 1, 1)
	if err != nil {
		return nil, err
	}
	s, err := format(args[0], MaxResultBytes)
	if err != nil {
		return nil, fmt.Errorf("string: %w", err)
	}
	return s, b.charge(len(s))
}

func joinFunc(params ...any) (any, error) {
	b, args, err := budgetArgs("join", params, 1, 2)
	if err != nil {
		return nil, err
	}
	sep := ""
	if len(args) == 2 {
		s, ok := args[1].(string)
		if !ok {
			return nil, fmt.Errorf("join: separator is %T, not a string", args[1])
		}
		sep = s
	}
	list := reflect.ValueOf(args[0])
	if list.Kind() != reflect.Slice && list.Kind() != reflect.Array {
		return nil, fmt.Errorf("join: first argument is %T, not a list", args[0])
	}
	var sb strings.Builder
	for i := range list.Len() {
		if i > 0 {
			sb.WriteString(sep)
		}
		s, err := format(list.Index(i).Interface(), MaxResultBytes-sb.Len())
		if err != nil {
			return nil, fmt.Errorf("join: %w", err)
		}
		sb.WriteString(s)
		if sb.Len() > MaxResultBytes {
			return nil, fmt.Errorf("join: %w", errTooLarge)
		}
	}
	return sb.String(), b.charge(sb.Len())
}

func replaceFunc(params ...any) (any, error) {
	b, args, err := budgetArgs("replace", params, 3, 3)
	if err != nil {
		return nil, err
	}
	var s [3]string
	for i, a := range args {
		v, ok := a.(string)
		if !ok {
			return nil, fmt.Errorf("replace: argument %d is %T, not a string", i+1, a)
		}
		s[i] = v
	}
	n := strings.Count(s[0], s[1])
	if size := len(s[0]) + n*(len(s[2])-len(s[1])); n > 0 && size > MaxResultBytes {
		return nil, fmt.Errorf("replace: %w", errTooLarge)
	}
	out := strings.ReplaceAll(s[0], s[1], s[2])
	return out, b.charge(len(out))
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
