package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluice/sluice/internal/flow"
	"github.com/sluice/sluice/internal/store"
)

// Messages of the per-run limits; the diagnosis catalog matches them
// (run.steps, run.memory; run.expression_work matches
// expression.ErrRunWork).
const (
	msgRunSteps  = "run step limit reached"
	msgRunMemory = "run memory limit reached"
)

// errRunMemory is wrapped by the error of a step output that would take
// the run past Config.MaxRunMemory.
var errRunMemory = errors.New(msgRunMemory)

// failRun ends the run as failed at step a once the running actions
// return, as a terminate action would: a spent limit is a property of the
// flow and its data, so going on (another iteration, a retry, a handler)
// would only spend more.
func (rs *runState) failRun(a *flow.Action, serr *StepError) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.term == nil {
		rs.term = &termination{status: store.RunFailed, message: fmt.Sprintf("step %q failed: %s", a.ID, serr.Message)}
	}
}

// chargeStep counts the step key against Config.MaxRunSteps when it is
// about to be recorded for the first time (a step recorded before, such
// as a waiting retry or a container with a timeout, was counted when it
// was). It reports false once the run has used up its steps.
func (rs *runState) chargeStep(key string) bool {
	if _, ok := rs.recorded[key]; ok {
		return true
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.steps++
	return rs.steps <= rs.e.cfg.MaxRunSteps
}

// stepsLeft returns how many steps the run may still record.
func (rs *runState) stepsLeft() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.e.cfg.MaxRunSteps - rs.steps
}

// refuse records step key of action a as failed, without running it,
// because a per-run limit is spent, and ends the run.
func (rs *runState) refuse(ctx context.Context, a *flow.Action, key string, msg string) outcome {
	serr := &StepError{Kind: KindFlow, Message: msg}
	rs.diagnose(ctx, a, serr)
	now := time.Now().UTC()
	st := store.Step{Key: key, ActionID: a.ID, Type: a.Type, Status: flow.StatusFailed, StartedAt: &now, FinishedAt: &now}
	serr.store(&st)
	rs.record(st)
	rs.failRun(a, serr)
	return outcome{status: flow.StatusFailed, err: serr}
}

// stepLimitMessage says why step key was refused.
func (rs *runState) stepLimitMessage() string {
	return fmt.Sprintf("%s: the run has recorded %d steps, the most one run may record", msgRunSteps, rs.e.cfg.MaxRunSteps)
}

// foreachFits reports whether a foreach of n items whose body has size
// actions can still run within the run's step limit, before any of its
// items starts: each iteration records at least one step per action of
// its body (run or skipped), so n × size steps is the least it needs. On
// a resumed run the body steps already recorded are counted in the run's
// steps, so they are taken off what the foreach needs.
func (rs *runState) foreachFits(key string, n, size int) (bool, string) {
	need := n * size
	if rs.byPrefix != nil {
		for i := range n {
			need -= len(rs.byPrefix[fmt.Sprintf("%s[%d].", key, i)])
		}
		need -= rs.unfinished
	}
	left := rs.stepsLeft()
	if need <= left {
		return true, ""
	}
	return false, fmt.Sprintf("%s: the foreach needs at least %d steps for its %d items (%d per item) and the run may record only %d more (%d in all)",
		msgRunSteps, need, n, size, max(left, 0), rs.e.cfg.MaxRunSteps)
}

// hold counts n bytes of step output that the run keeps in memory (later
// expressions may read any step's output, and a foreach keeps every
// iteration's for its own output) against Config.MaxRunMemory.
func (rs *runState) hold(n int) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.held += int64(n)
	if rs.held > rs.e.cfg.MaxRunMemory {
		return fmt.Errorf("%w: the run's step outputs add up to more than %s, the most one run may hold", errRunMemory, byteSize(rs.e.cfg.MaxRunMemory))
	}
	return nil
}

// saveUsage records the run's expression work, so that a resumed run goes
// on from it.
func (rs *runState) saveUsage(ctx context.Context) error {
	steps, d := rs.meter.Used()
	if err := rs.e.st.SaveRunUsage(ctx, rs.e.owner, rs.run.ID, store.RunUsage{ExprSteps: steps, ExprTime: d}); err != nil {
		if errors.Is(err, store.ErrLeaseLost) {
			return fmt.Errorf("%w: %w", errStopped, err)
		}
		return err
	}
	return nil
}
