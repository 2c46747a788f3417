package expression

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"
	"time"
)

// ErrRunWork is wrapped by the error of an Eval refused because the run it
// belongs to has spent its Meter: the sum of the work of every Eval of the
// run, not one Eval's budget. Like ErrBudget it is a property of the flow
// and its data: evaluating again fails again.
var ErrRunWork = errors.New("run expression work limit reached")

// Meter is one run's account of expression work: the budget steps and the
// time every Eval of the run spent, summed. Each Eval's budget draws from
// it as the Eval works, so a run whose expressions each stay under their
// own budget still stops once their sum passes the run's limits. A Meter
// is safe for concurrent use (a foreach's iterations share one).
type Meter struct {
	maxSteps int64
	maxTime  time.Duration
	steps    atomic.Int64
	nanos    atomic.Int64
}

// NewMeter returns a Meter allowing maxSteps budget steps and maxTime of
// evaluation in total, of which usedSteps and usedTime are already spent
// (what a resumed run used before it was parked).
func NewMeter(maxSteps int64, maxTime time.Duration, usedSteps int64, usedTime time.Duration) *Meter {
	m := &Meter{maxSteps: maxSteps, maxTime: maxTime}
	m.steps.Store(usedSteps)
	m.nanos.Store(int64(usedTime))
	return m
}

// Used returns the budget steps and evaluation time spent so far.
func (m *Meter) Used() (steps int64, d time.Duration) {
	return m.steps.Load(), time.Duration(m.nanos.Load())
}

// add charges steps and d, and reports whether a limit is now passed.
func (m *Meter) add(steps int64, d time.Duration) error {
	s := m.steps.Add(steps)
	n := time.Duration(m.nanos.Add(int64(d)))
	return m.over(s, n)
}

func (m *Meter) over(s int64, n time.Duration) error {
	if s > m.maxSteps {
		return fmt.Errorf("%w: the run's expressions did more than %d steps of work in total", ErrRunWork, m.maxSteps)
	}
	if n > m.maxTime {
		return fmt.Errorf("%w: the run's expressions ran longer than %s in total", ErrRunWork, m.maxTime)
	}
	return nil
}

type meterKey struct{}

// WithMeter returns ctx carrying m, so that every Eval given the returned
// context (or one derived from it) charges its work to m.
func WithMeter(ctx context.Context, m *Meter) context.Context {
	return context.WithValue(ctx, meterKey{}, m)
}

// meterOf returns the Meter ctx carries, or nil.
func meterOf(ctx context.Context) *Meter {
	m, _ := ctx.Value(meterKey{}).(*Meter)
	return m
}

// report charges the budget's work since its last report to the run's
// Meter, if any.
func (b *budget) report() error {
	if b.meter == nil {
		return nil
	}
	now := time.Now()
	err := b.meter.add(int64(b.steps-b.reported), now.Sub(b.since))
	b.reported, b.since = b.steps, now
	return err
}

// start refuses an Eval at once when the run's Meter is already spent.
func (b *budget) start() error {
	if b.meter == nil {
		return nil
	}
	return b.meter.over(b.meter.Used())
}

// MaxListBytes caps the estimated size of the list a foreach iterates
// (EvalList): larger than MaxResultBytes, since 100,000 small items
// exceed 1 MiB, and still a bound on the memory one list may hold.
const MaxListBytes = 32 << 20

// EvalList evaluates t, which must be one {{ }} expression, as the items
// of a loop: nil is an empty list, and any list the expression returns
// (a range such as 1..n gives []int) is returned as []any. The list may
// have at most maxItems items, checked before it is measured or
// converted, and an estimated encoded size of MaxListBytes rather than
// MaxResultBytes. Errors are as for Eval.
func (t *Template) EvalList(ctx context.Context, env map[string]any, maxItems int) (_ []any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("evaluate %q: internal error: %v", t.src, r)
		}
	}()
	if !t.single {
		v, err := t.Eval(ctx, env)
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("expected a list, got %s", TypeName(v))
	}
	b := newBudget(ctx)
	v, err := b.run(func() (any, error) { return t.parts[0].run(t.env(env, b)) })
	if err != nil {
		return nil, err
	}
	if v == nil {
		return []any{}, nil
	}
	rv := reflect.ValueOf(v)
	if k := rv.Kind(); k != reflect.Slice && k != reflect.Array {
		return nil, fmt.Errorf("expected a list, got %s", TypeName(v))
	}
	if rv.Len() > maxItems {
		return nil, fmt.Errorf("%d items, more than the %d a foreach may iterate", rv.Len(), maxItems)
	}
	if _, err := measure(rv, MaxListBytes, 0); err != nil {
		return nil, fmt.Errorf("evaluate {{ %s }}: %w", t.parts[0].code, err)
	}
	if list, ok := v.([]any); ok {
		return list, nil
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, nil
}
