package expression

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	exprbuiltin "github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/vm/runtime"
)

// manyArgs is the maximum argument count of a variadic function.
const manyArgs = math.MaxInt

// predicates are the expr builtins kept as expr compiles them: loops whose
// every body step the patcher charges through __tick.
var predicates = []string{
	"all", "none", "any", "one", "filter", "map", "find", "findIndex", "findLast",
	"findLastIndex", "count", "sum", "groupBy", "sortBy", "reduce",
}

// fn is a function expressions may call. Every call goes through call,
// which takes the budget the patcher passes first, checks the argument
// count and that the first strs arguments are strings, charges one step
// plus the bytes of those strings, and only then runs do, which charges
// whatever else it reads or builds before it allocates.
type fn struct {
	min, max int
	strs     int
	do       func(b *budget, args []any) (any, error)
}

// call returns the function registered with expr under name.
func (f fn) call(name string) func(params ...any) (any, error) {
	return func(params ...any) (any, error) {
		b, args, err := budgetArgs(name, params, f.min, f.max)
		if err != nil {
			return nil, err
		}
		label := name
		if name == opName {
			label, _ = args[0].(string)
		}
		n := 0
		for i := range min(f.strs, len(args)) {
			s, ok := args[i].(string)
			if !ok {
				return nil, fmt.Errorf("%s: argument %d is %s, not a string", label, i+1, TypeName(args[i]))
			}
			n += len(s)
		}
		if err := b.scan(n); err != nil {
			return nil, err
		}
		v, err := f.do(b, args)
		if err != nil && !errors.Is(err, ErrBudget) && name != opName {
			return nil, fmt.Errorf("%s: %w", label, err)
		}
		return v, err
	}
}

// builtins are all the functions expressions may call besides the
// predicates. Those that expr also offers are either reimplemented here or
// run expr's own implementation (exprFunc) once their cost, bounded by the
// size of their arguments, has been charged.
var builtins = map[string]fn{
	opName: {min: 3, max: 3, do: operator},

	// Constant work, or linear in the string arguments charged by call.
	"type":        {min: 1, max: 1, do: exprFunc("type")},
	"abs":         {min: 1, max: 1, do: exprFunc("abs")},
	"ceil":        {min: 1, max: 1, do: exprFunc("ceil")},
	"floor":       {min: 1, max: 1, do: exprFunc("floor")},
	"round":       {min: 1, max: 1, do: exprFunc("round")},
	"int":         {min: 1, max: 1, do: exprFunc("int")},
	"float":       {min: 1, max: 1, do: exprFunc("float")},
	"trim":        {min: 1, max: 2, strs: 2, do: trimFunc},
	"trimPrefix":  {min: 1, max: 2, strs: 2, do: exprFunc("trimPrefix")},
	"trimSuffix":  {min: 1, max: 2, strs: 2, do: exprFunc("trimSuffix")},
	"indexOf":     {min: 2, max: 2, strs: 2, do: exprFunc("indexOf")},
	"lastIndexOf": {min: 2, max: 2, strs: 2, do: exprFunc("lastIndexOf")},
	"hasPrefix":   {min: 2, max: 2, strs: 2, do: exprFunc("hasPrefix")},
	"hasSuffix":   {min: 2, max: 2, strs: 2, do: exprFunc("hasSuffix")},
	"duration":    {min: 1, max: 1, strs: 1, do: exprFunc("duration")},
	"first":       {min: 1, max: 1, do: exprFunc("first")},
	"last":        {min: 1, max: 1, do: exprFunc("last")},
	"get":         {min: 2, max: 2, do: exprFunc("get")},
	"take":        {min: 2, max: 2, do: exprFunc("take")},
	"bitnot":      {min: 1, max: 1, do: exprFunc("bitnot")},
	"bitand":      {min: 2, max: 2, do: exprFunc("bitand")},
	"bitor":       {min: 2, max: 2, do: exprFunc("bitor")},
	"bitxor":      {min: 2, max: 2, do: exprFunc("bitxor")},
	"bitnand":     {min: 2, max: 2, do: exprFunc("bitnand")},
	"bitshl":      {min: 2, max: 2, do: exprFunc("bitshl")},
	"bitshr":      {min: 2, max: 2, do: exprFunc("bitshr")},
	"bitushr":     {min: 2, max: 2, do: exprFunc("bitushr")},
	"len":         {min: 1, max: 1, do: lenFunc},
	"now":         {min: 0, max: 0, do: nowFunc},
	"default":     {min: 2, max: 2, do: defaultFunc},

	// Strings built: the output size is charged before it is allocated.
	"upper":      {min: 1, max: 1, strs: 1, do: caseFunc(unicode.ToUpper)},
	"lower":      {min: 1, max: 1, strs: 1, do: caseFunc(unicode.ToLower)},
	"split":      {min: 2, max: 3, strs: 2, do: splitFunc(0)},
	"splitAfter": {min: 2, max: 3, strs: 2, do: splitFunc(1)},
	"replace":    {min: 3, max: 3, strs: 3, do: replaceFunc},
	"repeat":     {min: 2, max: 2, strs: 1, do: repeatFunc},
	"join":       {min: 1, max: 2, do: joinFunc},
	"string":     {min: 1, max: 1, do: stringFunc},
	"json":       {min: 1, max: 1, do: jsonFunc},
	"toBase64":   {min: 1, max: 1, strs: 1, do: toBase64},
	"fromBase64": {min: 1, max: 1, strs: 1, do: fromBase64},
	"fromJSON":   {min: 1, max: 1, strs: 1, do: fromJSON},

	// Lists and maps: elements read and built are charged.
	"max":       {min: 1, max: manyArgs, do: aggregate("max", 0)},
	"min":       {min: 1, max: manyArgs, do: aggregate("min", 0)},
	"mean":      {min: 1, max: manyArgs, do: aggregate("mean", 0)},
	"median":    {min: 1, max: manyArgs, do: aggregate("median", 8)},
	"keys":      {min: 1, max: 1, do: mapItems("keys", 1)},
	"values":    {min: 1, max: 1, do: mapItems("values", 1)},
	"toPairs":   {min: 1, max: 1, do: mapItems("toPairs", 3)},
	"fromPairs": {min: 1, max: 1, do: fromPairs},
	"reverse":   {min: 1, max: 1, do: reverseFunc},
	"uniq":      {min: 1, max: 1, do: uniqFunc},
	"sort":      {min: 1, max: 2, do: sortFunc},
}

// exprFunc returns expr's own implementation of a builtin whose work is
// constant or already charged by call.
func exprFunc(name string) func(b *budget, args []any) (any, error) {
	f := exprbuiltin.Builtins[exprbuiltin.Index[name]]
	switch {
	case f.Func != nil:
		return func(_ *budget, args []any) (any, error) { return f.Func(args...) }
	case f.Fast != nil:
		return func(_ *budget, args []any) (any, error) { return f.Fast(args[0]), nil }
	case f.Safe != nil:
		return func(_ *budget, args []any) (any, error) {
			v, _, err := f.Safe(args...)
			return v, err
		}
	}
	panic("expression: expr has no builtin " + name)
}

// TypeName names a value's JSON type for error messages: "null", "a
// string", "a boolean", "a number", "an object", "a list", or its Go type.
func TypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, float64:
		return "a number"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}

// listArg returns args[i] as a list.
func listArg(args []any, i int) (reflect.Value, error) {
	v := reflect.ValueOf(args[i])
	if v.Kind() != reflect.Slice && v.Kind() != reflect.Array {
		return reflect.Value{}, fmt.Errorf("argument %d is %s, not a list", i+1, TypeName(args[i]))
	}
	return v, nil
}

// intArg returns args[i] as an int.
func intArg(args []any, i int) (int, error) {
	switch x := args[i].(type) {
	case int:
		return x, nil
	case int64:
		return int(x), nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int(x), nil
		}
	}
	return 0, fmt.Errorf("argument %d is %v, not a whole number", i+1, args[i])
}

func lenFunc(_ *budget, args []any) (any, error) {
	if s, ok := args[0].(string); ok {
		return len(s), nil
	}
	v := reflect.ValueOf(args[0])
	switch v.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map:
		return v.Len(), nil
	}
	return nil, fmt.Errorf("%s has no length", TypeName(args[0]))
}

func nowFunc(*budget, []any) (any, error) {
	return time.Now().UTC().Format(time.RFC3339), nil
}

func defaultFunc(_ *budget, args []any) (any, error) {
	if args[0] == nil || args[0] == "" {
		return args[1], nil
	}
	return args[0], nil
}

// caseFunc is upper or lower: the size of the result is computed, and
// charged, before it is built.
func caseFunc(conv func(rune) rune) func(b *budget, args []any) (any, error) {
	return func(b *budget, args []any) (any, error) {
		s := args[0].(string)
		size := 0
		for _, r := range s {
			size += utf8.RuneLen(conv(r))
		}
		if err := b.charge(size); err != nil {
			return nil, err
		}
		return strings.Map(conv, s), nil
	}
}

// trimFunc is trim(s) or trim(s, cutset). Go trims with a cutset of
// non-ASCII runes by looking each rune of s up in the cutset, so that work
// is charged.
func trimFunc(b *budget, args []any) (any, error) {
	s := args[0].(string)
	if len(args) == 1 {
		return strings.TrimSpace(s), nil
	}
	cut := args[1].(string)
	if !isASCII(cut) {
		runes := utf8.RuneCountInString(cut)
		if runes > 0 && len(s) > MaxSteps*bytesPerStep/runes {
			return nil, errSteps
		}
		if err := b.scan(len(s) * runes); err != nil {
			return nil, err
		}
	}
	return strings.Trim(s, cut), nil
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// splitFunc is split (keep 0) or splitAfter (keep 1, the separator stays
// with each piece). The pieces are counted, and charged, before the list
// is built; they share the input's memory.
func splitFunc(keep int) func(b *budget, args []any) (any, error) {
	return func(b *budget, args []any) (any, error) {
		s, sep := args[0].(string), args[1].(string)
		n := -1
		if len(args) == 3 {
			var err error
			if n, err = intArg(args, 2); err != nil {
				return nil, err
			}
		}
		pieces := strings.Count(s, sep) + 1
		if sep == "" {
			pieces = utf8.RuneCountInString(s)
		}
		if n >= 0 {
			pieces = min(pieces, n)
		}
		if err := b.items(pieces); err != nil {
			return nil, err
		}
		var parts []string
		if keep == 0 {
			parts = strings.SplitN(s, sep, n)
		} else {
			parts = strings.SplitAfterN(s, sep, n)
		}
		out := make([]any, len(parts))
		for i, p := range parts {
			out[i] = p
		}
		return out, nil
	}
}

func replaceFunc(b *budget, args []any) (any, error) {
	s, old, repl := args[0].(string), args[1].(string), args[2].(string)
	n := strings.Count(s, old)
	if old == "" {
		n = utf8.RuneCountInString(s) + 1
	}
	if n > 0 && len(repl) > len(old) && n > (MaxResultBytes-len(s))/(len(repl)-len(old)) {
		return nil, errTooLarge
	}
	if err := b.charge(len(s) + n*(len(repl)-len(old))); err != nil {
		return nil, err
	}
	return strings.ReplaceAll(s, old, repl), nil
}

func repeatFunc(b *budget, args []any) (any, error) {
	s := args[0].(string)
	n, err := intArg(args, 1)
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("count %d is negative", n)
	}
	if len(s) > 0 && n > MaxResultBytes/len(s) {
		return nil, errTooLarge
	}
	if err := b.charge(len(s) * n); err != nil {
		return nil, err
	}
	return strings.Repeat(s, n), nil
}

func joinFunc(b *budget, args []any) (any, error) {
	sep := ""
	if len(args) == 2 {
		s, ok := args[1].(string)
		if !ok {
			return nil, fmt.Errorf("separator is %s, not a string", TypeName(args[1]))
		}
		sep = s
	}
	list, err := listArg(args, 0)
	if err != nil {
		return nil, err
	}
	var sb strings.Builder
	for i := range list.Len() {
		s, err := format(list.Index(i).Interface(), MaxResultBytes-sb.Len())
		if err != nil {
			return nil, err
		}
		if i > 0 {
			s = sep + s
		}
		if sb.Len()+len(s) > MaxResultBytes {
			return nil, errTooLarge
		}
		if err := b.charge(len(s)); err != nil {
			return nil, err
		}
		sb.WriteString(s)
	}
	return sb.String(), nil
}

func stringFunc(b *budget, args []any) (any, error) {
	if err := b.charge(encodedSize(args[0])); err != nil {
		return nil, err
	}
	return format(args[0], MaxResultBytes)
}

func jsonFunc(b *budget, args []any) (any, error) {
	if err := b.charge(encodedSize(args[0])); err != nil {
		return nil, err
	}
	return encodeJSON(args[0], MaxResultBytes)
}

// encodedSize estimates, without encoding, the JSON size of v; over the
// result limit it returns a size the budget refuses.
func encodedSize(v any) int {
	if s, ok := v.(string); ok {
		return len(s)
	}
	n, err := measure(reflect.ValueOf(v), MaxResultBytes, 0)
	if err != nil {
		return MaxResultBytes + 1
	}
	return n
}

func toBase64(b *budget, args []any) (any, error) {
	s := args[0].(string)
	if err := b.charge(base64.StdEncoding.EncodedLen(len(s))); err != nil {
		return nil, err
	}
	return base64.StdEncoding.EncodeToString([]byte(s)), nil
}

func fromBase64(b *budget, args []any) (any, error) {
	s := args[0].(string)
	if err := b.charge(base64.StdEncoding.DecodedLen(len(s))); err != nil {
		return nil, err
	}
	out, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	return string(out), nil
}

// fromJSON decodes token by token, charging each value before it is built,
// so that a large or deeply nested document is refused part way.
func fromJSON(b *budget, args []any) (any, error) {
	dec := json.NewDecoder(strings.NewReader(args[0].(string)))
	dec.UseNumber()
	v, err := decodeValue(b, dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("invalid JSON: more than one value")
	}
	return v, nil
}

func decodeValue(b *budget, dec *json.Decoder, depth int) (any, error) {
	if depth > MaxDepth {
		return nil, errTooDeep
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if err := b.items(1); err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '[':
			out := []any{}
			for dec.More() {
				e, err := decodeValue(b, dec, depth+1)
				if err != nil {
					return nil, err
				}
				out = append(out, e)
			}
			_, err := dec.Token()
			return out, err
		case '{':
			out := map[string]any{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("invalid JSON: %w", err)
				}
				key, _ := k.(string)
				if err := b.alloc(len(key)); err != nil {
					return nil, err
				}
				e, err := decodeValue(b, dec, depth+1)
				if err != nil {
					return nil, err
				}
				out[key] = e
			}
			_, err := dec.Token()
			return out, err
		}
		return nil, fmt.Errorf("invalid JSON: unexpected %v", t)
	case string:
		return t, b.alloc(len(t))
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil {
			return nil, fmt.Errorf("invalid JSON number %q", t)
		}
		return f, nil
	}
	return tok, nil
}

// walk charges one step per element of v, nested lists and maps included,
// and returns how many elements it found.
func walk(b *budget, v any, depth int) (int, error) {
	if depth > MaxDepth {
		return 0, errTooDeep
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		n := rv.Len()
		if err := b.work(n); err != nil {
			return 0, err
		}
		total := n
		for i := range n {
			if k := rv.Index(i).Kind(); k == reflect.Interface || k == reflect.Slice || k == reflect.Array || k == reflect.Map {
				c, err := walk(b, rv.Index(i).Interface(), depth+1)
				if err != nil {
					return 0, err
				}
				total += c
			}
		}
		return total, nil
	case reflect.Map:
		n := rv.Len()
		if err := b.work(n); err != nil {
			return 0, err
		}
		total := n
		for it := rv.MapRange(); it.Next(); {
			c, err := walk(b, it.Value().Interface(), depth+1)
			if err != nil {
				return 0, err
			}
			total += c
		}
		return total, nil
	case reflect.String:
		return 1, b.scan(rv.Len())
	}
	return 1, nil
}

// aggregate is max, min, mean or median over numbers and lists of numbers:
// every element is charged, plus perItem bytes each that expr keeps.
func aggregate(name string, perItem int) func(b *budget, args []any) (any, error) {
	impl := exprFunc(name)
	return func(b *budget, args []any) (any, error) {
		n, err := walk(b, args, 0)
		if err != nil {
			return nil, err
		}
		if err := b.alloc(n * perItem); err != nil {
			return nil, err
		}
		return impl(b, args)
	}
}

// mapItems is keys, values or toPairs: a list of per items for each entry.
func mapItems(name string, per int) func(b *budget, args []any) (any, error) {
	impl := exprFunc(name)
	return func(b *budget, args []any) (any, error) {
		m := reflect.ValueOf(args[0])
		if m.Kind() != reflect.Map {
			return nil, fmt.Errorf("argument 1 is %s, not a map", TypeName(args[0]))
		}
		if err := b.items(m.Len() * per); err != nil {
			return nil, err
		}
		return impl(b, args)
	}
}

// fromPairs builds a map from [key, value] pairs; keys are formatted as
// strings so that the map can be encoded as JSON.
func fromPairs(b *budget, args []any) (any, error) {
	list, err := listArg(args, 0)
	if err != nil {
		return nil, err
	}
	if err := b.items(list.Len()); err != nil {
		return nil, err
	}
	out := make(map[string]any, list.Len())
	for i := range list.Len() {
		pair := reflect.ValueOf(list.Index(i).Interface())
		if (pair.Kind() != reflect.Slice && pair.Kind() != reflect.Array) || pair.Len() != 2 {
			return nil, fmt.Errorf("element %d is not a [key, value] pair", i)
		}
		key, err := format(pair.Index(0).Interface(), MaxResultBytes)
		if err != nil {
			return nil, err
		}
		if err := b.charge(len(key)); err != nil {
			return nil, err
		}
		out[key] = pair.Index(1).Interface()
	}
	return out, nil
}

func reverseFunc(b *budget, args []any) (any, error) {
	list, err := listArg(args, 0)
	if err != nil {
		return nil, err
	}
	n := list.Len()
	if err := b.items(n); err != nil {
		return nil, err
	}
	out := make([]any, n)
	for i := range n {
		out[i] = list.Index(n - 1 - i).Interface()
	}
	return out, nil
}

// uniqKey is how uniq tells elements apart: numbers by value whatever
// their Go type (1 equals 1.0, as with ==), strings, booleans and nil as
// themselves, lists and maps by their JSON encoding.
type uniqKey struct {
	kind byte
	s    string
	f    float64
	b    bool
}

// uniqFunc keeps the first of equal elements in one pass over a hash set:
// linear, where expr's compares every pair.
func uniqFunc(b *budget, args []any) (any, error) {
	list, err := listArg(args, 0)
	if err != nil {
		return nil, err
	}
	seen := map[uniqKey]struct{}{}
	out := []any{}
	for i := range list.Len() {
		v := list.Index(i).Interface()
		k, err := keyOf(b, v)
		if err != nil {
			return nil, err
		}
		if f, isNum := toFloat(v); isNum && f != f {
			out = append(out, v) // NaN equals nothing, not even itself
			if err := b.items(1); err != nil {
				return nil, err
			}
			continue
		}
		if _, dup := seen[k]; dup {
			continue
		}
		if err := b.items(2); err != nil { // its slot in out and in seen
			return nil, err
		}
		seen[k] = struct{}{}
		out = append(out, v)
	}
	return out, nil
}

func keyOf(b *budget, v any) (uniqKey, error) {
	if err := b.work(1); err != nil {
		return uniqKey{}, err
	}
	switch x := v.(type) {
	case nil:
		return uniqKey{kind: 'n'}, nil
	case bool:
		return uniqKey{kind: 'b', b: x}, nil
	case string:
		return uniqKey{kind: 's', s: x}, b.scan(len(x))
	}
	if f, ok := toFloat(v); ok {
		if i, isInt := v.(int); isInt && (i > 1<<53 || i < -1<<53) {
			return uniqKey{kind: 'i', s: strconv.Itoa(i)}, nil // beyond exact floats
		}
		return uniqKey{kind: 'f', f: f}, nil
	}
	size := encodedSize(v)
	if err := b.charge(size); err != nil {
		return uniqKey{}, err
	}
	s, err := encodeJSON(v, MaxResultBytes)
	if err != nil {
		return uniqKey{}, err
	}
	return uniqKey{kind: 'j', s: s}, nil
}

// toFloat returns a number of any Go numeric type as a float64.
func toFloat(v any) (float64, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(rv.Uint()), true
	case reflect.Float32, reflect.Float64:
		return rv.Float(), true
	}
	return 0, false
}

// stopSort carries a budget error out of a sort comparison.
type stopSort struct{ err error }

// sortFunc sorts numbers or strings, ascending or with "desc" descending.
// Every comparison is charged, so a long sort stops at the deadline.
func sortFunc(b *budget, args []any) (out any, err error) {
	list, err := listArg(args, 0)
	if err != nil {
		return nil, err
	}
	desc := false
	if len(args) == 2 {
		switch args[1] {
		case "asc":
		case "desc":
			desc = true
		default:
			return nil, fmt.Errorf("order is %v, not \"asc\" or \"desc\"", args[1])
		}
	}
	n := list.Len()
	if err := b.items(n); err != nil {
		return nil, err
	}
	arr := make([]any, n)
	for i := range n {
		arr[i] = list.Index(i).Interface()
	}
	defer func() {
		if r := recover(); r != nil {
			stop, ok := r.(stopSort)
			if !ok {
				panic(r)
			}
			out, err = nil, stop.err
		}
	}()
	slices.SortStableFunc(arr, func(x, y any) int {
		c, err := compare(b, x, y)
		if err != nil {
			panic(stopSort{err})
		}
		if desc {
			return -c
		}
		return c
	})
	return arr, nil
}

// compare orders two numbers or two strings, charging the work.
func compare(b *budget, x, y any) (int, error) {
	if xs, ok := x.(string); ok {
		if ys, ok := y.(string); ok {
			return strings.Compare(xs, ys), b.scan(min(len(xs), len(ys)))
		}
	}
	xf, ok1 := toFloat(x)
	yf, ok2 := toFloat(y)
	if !ok1 || !ok2 {
		return 0, fmt.Errorf("cannot compare %s with %s", TypeName(x), TypeName(y))
	}
	if err := b.work(1); err != nil {
		return 0, err
	}
	switch {
	case xf < yf:
		return -1, nil
	case xf > yf:
		return 1, nil
	}
	return 0, nil
}

// ordering are the comparison operators, as expr runs them.
var ordering = map[string]func(a, b any) bool{
	"<": runtime.Less, ">": runtime.More, "<=": runtime.LessOrEqual, ">=": runtime.MoreOrEqual,
}

// textOps are the string operators; matches is run by match.
var textOps = map[string]func(s, arg string) bool{
	"contains": strings.Contains, "startsWith": strings.HasPrefix, "endsWith": strings.HasSuffix, "matches": nil,
}

// operator is the binary operators the patcher routes through the budget:
// string concatenation and comparisons cost the bytes they read, and in,
// == and != on lists and maps the elements they visit.
func operator(b *budget, args []any) (any, error) {
	op, _ := args[0].(string)
	l, r := args[1], args[2]
	switch op {
	case "+":
		if ls, ok := l.(string); ok {
			if rs, ok := r.(string); ok {
				if err := b.charge(len(ls) + len(rs)); err != nil {
					return nil, err
				}
				return ls + rs, nil
			}
		}
		if l == nil || r == nil {
			return nil, errors.New("invalid operation: + on a missing (nil) value")
		}
		return runtime.Add(l, r), nil
	case "==", "!=":
		eq, err := equal(b, l, r)
		return eq == (op == "=="), err
	case "in":
		return in(b, l, r)
	}
	if less, ok := ordering[op]; ok {
		if err := costOf(b, l, r); err != nil {
			return nil, err
		}
		return less(l, r), nil
	}
	if test, ok := textOps[op]; ok {
		if l == nil || r == nil {
			return false, nil
		}
		ls, ok1 := l.(string)
		rs, ok2 := r.(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("invalid operation: %s %s %s", TypeName(l), op, TypeName(r))
		}
		if err := b.scan(len(ls)); err != nil {
			return nil, err
		}
		if op == "matches" {
			return match(b, rs, ls)
		}
		return test(ls, rs), nil
	}
	return nil, fmt.Errorf("unknown operator %q", op)
}

// costOf charges reading l and r when they are strings.
func costOf(b *budget, l, r any) error {
	n := 0
	if s, ok := l.(string); ok {
		n += len(s)
	}
	if s, ok := r.(string); ok {
		n += len(s)
	}
	return b.scan(n)
}

// equal is ==, charging the bytes and elements compared.
func equal(b *budget, l, r any) (bool, error) {
	if ls, ok := l.(string); ok {
		if rs, ok := r.(string); ok {
			if len(ls) != len(rs) {
				return false, b.work(1)
			}
			return ls == rs, b.scan(len(ls))
		}
	}
	if composite(l) && composite(r) {
		if _, err := walk(b, l, 0); err != nil {
			return false, err
		}
		if _, err := walk(b, r, 0); err != nil {
			return false, err
		}
	} else if err := b.work(1); err != nil {
		return false, err
	}
	return runtime.Equal(l, r), nil
}

func composite(v any) bool {
	switch reflect.ValueOf(v).Kind() {
	case reflect.Slice, reflect.Array, reflect.Map:
		return true
	}
	return false
}

// in is the in operator: a key of a map, or an element of a list compared
// with ==, each comparison charged.
func in(b *budget, needle, coll any) (any, error) {
	c := reflect.ValueOf(coll)
	switch c.Kind() {
	case reflect.Slice, reflect.Array:
		for i := range c.Len() {
			eq, err := equal(b, c.Index(i).Interface(), needle)
			if err != nil || eq {
				return eq, err
			}
		}
		return false, nil
	case reflect.Map:
		if err := costOf(b, needle, nil); err != nil {
			return nil, err
		}
		return runtime.In(needle, coll), nil
	case reflect.Invalid:
		return false, nil
	}
	return nil, fmt.Errorf("invalid operation: %s in %s", TypeName(needle), TypeName(coll))
}
