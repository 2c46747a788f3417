package expression

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"sync"
)

// MaxRegexInsts caps the compiled size of a regular expression used with
// matches: matching costs up to the input length times this size.
const MaxRegexInsts = 10_000

// regex is a compiled pattern and its program size.
type regex struct {
	re    *regexp.Regexp
	insts int
}

// regexCache keeps compiled patterns; it is emptied when full, so that
// patterns built from run data cannot grow it without bound.
var regexCache = struct {
	sync.Mutex
	m map[string]*regex
}{m: map[string]*regex{}}

const regexCacheSize = 512

// regexStepsPerStep is how many (input byte, instruction) pairs of a match
// count as one step of work: about as long as 64 bytes scanned elsewhere.
const regexStepsPerStep = 8

// compileRegex compiles pattern once, refusing long or large patterns
// before building their matcher; when b is not nil, compiling is charged
// to it.
func compileRegex(b *budget, pattern string) (*regex, error) {
	regexCache.Lock()
	r := regexCache.m[pattern]
	regexCache.Unlock()
	if r != nil {
		return r, nil
	}
	if len(pattern) > MaxExprBytes {
		return nil, fmt.Errorf("%w: regular expression is %d bytes, over the %d byte limit", ErrBudget, len(pattern), MaxExprBytes)
	}
	parsed, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression: %w", err)
	}
	size := regexSize(parsed)
	if size > MaxRegexInsts {
		return nil, fmt.Errorf("%w: regular expression compiles to more than %d instructions", ErrBudget, MaxRegexInsts)
	}
	if b != nil {
		if err := b.work(size); err != nil {
			return nil, err
		}
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression: %w", err)
	}
	if len(prog.Inst) > MaxRegexInsts {
		return nil, fmt.Errorf("%w: regular expression compiles to %d instructions, over the %d limit", ErrBudget, len(prog.Inst), MaxRegexInsts)
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression: %w", err)
	}
	r = &regex{re: re, insts: len(prog.Inst)}
	regexCache.Lock()
	if len(regexCache.m) >= regexCacheSize {
		clear(regexCache.m)
	}
	regexCache.m[pattern] = r
	regexCache.Unlock()
	return r, nil
}

// match is s matches pattern. Go's regexp runs in time linear in the input
// but proportional to the program size too, so that product is charged
// before matching.
func match(b *budget, pattern, s string) (bool, error) {
	if err := b.scan(len(pattern)); err != nil {
		return false, err
	}
	r, err := compileRegex(b, pattern)
	if err != nil {
		return false, err
	}
	if len(s) > 0 && r.insts > MaxSteps*regexStepsPerStep/len(s) {
		return false, errSteps
	}
	if err := b.work(1 + len(s)*r.insts/regexStepsPerStep); err != nil {
		return false, err
	}
	return r.re.MatchString(s), nil
}

// regexSize estimates, from the parsed pattern and before anything is
// expanded, the instructions its program will have: repetitions multiply
// their operand. The estimate saturates just above MaxRegexInsts.
func regexSize(re *syntax.Regexp) int {
	n := 1 + len(re.Rune)
	for _, sub := range re.Sub {
		n += regexSize(sub)
	}
	if re.Op == syntax.OpRepeat {
		times := re.Max
		if times < 0 {
			times = re.Min + 1
		}
		n = 1 + n*max(times, 1)
	}
	return min(n, MaxRegexInsts+1)
}
