package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluice/sluice/internal/expression"
	"github.com/sluice/sluice/internal/flow"
	"github.com/sluice/sluice/internal/secret"
	"github.com/sluice/sluice/internal/store"
)

// maxIterations caps the items of one foreach.
const maxIterations = 100_000

// runState is one run being worked by this node.
type runState struct {
	e        *Engine
	run      store.Run
	plan     *plan
	trigger  any
	runObj   map[string]any
	recorded map[string]store.Step
	// byPrefix indexes the keys of the finished recorded steps by their
	// prefix (the key up to its last '.', "" at the top), built once per
	// load, so that replaying a foreach of n items is O(n) and not a scan
	// of every recorded step per iteration.
	byPrefix map[string][]string
	resp     *responder
	// unsaved is set while the run is not committed yet (see
	// launchUnsaved); its first write (save) clears it. Guarded by
	// flushMu.
	unsaved *unsaved
	// redact hides the secret values of the connections the run used.
	redact secret.Redactor
	// conns are the connections the run loaded, by name.
	conns map[string]*usedConnection

	// flushMu serializes flushes, so that the step results of a run are
	// committed in the order they were recorded (a later result of a step
	// never overwritten by an earlier one).
	flushMu  sync.Mutex
	mu       sync.Mutex
	pending  []store.Step
	current  string
	term     *termination
	response bool
	// root is the run's root cause so far: the first failed step that is
	// not a consequence of another's failure; failed holds the keys of
	// its first failed steps in recorded order (at most maxNamedFailures)
	// and failures counts them all. Guarded by mu.
	root     *rootCause
	failed   []string
	failures int

	// meter is the run's account of expression work
	// (Config.MaxRunExpressionSteps and MaxRunExpressionTime), carried to
	// every evaluation by the run's context, and saved when the run parks.
	meter *expression.Meter
	// steps counts the steps the run has recorded, or is about to
	// (Config.MaxRunSteps); unfinished is how many of those loaded were
	// not finished. Guarded by mu.
	steps      int
	unfinished int
	// held is the encoded size of the step outputs the run holds
	// (Config.MaxRunMemory). Guarded by mu.
	held int64
}

// termination is what a terminate action asked for.
type termination struct {
	status  string
	message string
}

// outcome is the result of one action: a final status, or blocked until
// wake (a delay or a retry's backoff).
type outcome struct {
	status  string
	output  any
	err     *StepError
	blocked bool
	wake    time.Time
}

// listResult is the result of a list of actions.
type listResult struct {
	blocked bool
	wake    time.Time
	// failure is the first failure no later sibling handled, if any.
	failure *StepError
	failed  string
}

// errStopped is returned when the run's context ended mid-run (cancelled,
// lease lost, or the node shutting down).
var errStopped = errors.New("run stopped")

// work executes a run this node holds until it finishes, parks on a
// timer, or is stopped.
func (e *Engine) work(ctx context.Context, r store.Run, resp *responder, fresh bool, u *unsaved) {
	defer resp.send(nil)
	defer u.settle(r, errNotSaved)
	log := e.log.With("run_id", r.ID, "flow_id", r.FlowID)
	rs, err := e.load(ctx, r, resp, fresh)
	if err != nil {
		if ctx.Err() != nil {
			// Shutting down: a run not committed yet is committed queued,
			// for any node, as launch does.
			if u != nil {
				e.saveQueued(r, u)
			}
			return
		}
		log.Error("load run", "err", err)
		e.fail(r, fmt.Sprintf("cannot load the run: %v", err), u)
		return
	}
	if u != nil {
		rs.unsaved = u
		// Commit the run if it is still going after the window, even in
		// the middle of a step.
		fctx := ctx
		t := time.AfterFunc(e.cfg.unsavedWindow, func() {
			if err := rs.commit(fctx); err != nil && fctx.Err() == nil {
				log.Error("commit a run still going after its first moments", "err", err)
			}
		})
		defer t.Stop()
	}
	ctx = expression.WithMeter(ctx, rs.meter)
	env := map[string]any{"trigger": rs.trigger, "run": rs.runObj}
	steps := rs.recordedSteps("")
	res, err := rs.execList(ctx, rs.plan.def.Actions, "", steps, env)
	if err != nil {
		rs.stop(ctx, log, err)
		return
	}
	if res.blocked {
		err := rs.commit(context.WithoutCancel(ctx))
		if err == nil {
			err = rs.saveUsage(context.WithoutCancel(ctx))
		}
		if err == nil {
			err = e.st.ParkRun(context.WithoutCancel(ctx), e.owner, r.ID, res.wake, rs.takePending())
		}
		if err != nil && !errors.Is(err, store.ErrLeaseLost) {
			log.Error("park run", "err", err)
		}
		e.notify()
		return
	}
	fin := store.RunFinish{Status: store.RunSucceeded}
	if rs.term != nil {
		fin.Status, fin.Error = rs.term.status, rs.term.message
	} else if res.failure != nil {
		fin.Status = store.RunFailed
		fin.Error = rs.rootError(res)
	}
	fin.Error = rs.redact.String(fin.Error)
	if err := rs.save(context.WithoutCancel(ctx), &fin); err != nil && !errors.Is(err, store.ErrLeaseLost) {
		log.Error("finish run", "err", err)
	}
}

// fail finishes a run that cannot be executed at all; u is set for a run
// not committed yet.
func (e *Engine) fail(r store.Run, msg string, u *unsaved) {
	fin := store.RunFinish{Status: store.RunFailed, Error: msg}
	var err error
	if u != nil {
		nr := u.nr
		nr.Finish = &fin
		err = e.st.SaveNewRun(context.Background(), nr)
		u.settle(finishedRun(u.run, fin, ""), err)
	} else {
		err = e.st.FinishRun(context.Background(), e.owner, r.ID, fin)
	}
	if err != nil && !errors.Is(err, store.ErrLeaseLost) {
		e.log.Error("fail run", "run_id", r.ID, "err", err)
	}
}

// finishedRun is r as a run committed finished as fin says, at step
// current, reads.
func finishedRun(r store.Run, fin store.RunFinish, current string) store.Run {
	now := time.Now().UTC()
	r.Status, r.Output, r.Error, r.CurrentStep, r.FinishedAt = fin.Status, fin.Output, fin.Error, current, &now
	r.LeaseOwner, r.LeaseUntil = "", nil
	return r
}

// stop handles a run whose context ended: on shutdown it is parked for an
// immediate resume; when cancelled or its lease was lost, another party
// owns its fate and nothing is written.
func (rs *runState) stop(ctx context.Context, log interface{ Error(string, ...any) }, err error) {
	e := rs.e
	if !errors.Is(err, errStopped) && !errors.Is(err, store.ErrLeaseLost) {
		log.Error("run", "err", err)
	}
	e.mu.Lock()
	shutdown := e.runCtx.Err() != nil
	e.mu.Unlock()
	if !shutdown || errors.Is(err, store.ErrLeaseLost) {
		return
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := rs.commit(wctx); err != nil {
		log.Error("commit run at shutdown", "err", err)
		return
	}
	if err := rs.saveUsage(wctx); err != nil && !errors.Is(err, store.ErrLeaseLost) {
		log.Error("save run usage at shutdown", "err", err)
	}
	if err := e.st.ParkRun(wctx, e.owner, rs.run.ID, time.Now(), rs.takePending()); err != nil && !errors.Is(err, store.ErrLeaseLost) {
		log.Error("park run at shutdown", "err", err)
	}
}

// load prepares a run for execution: its plan, trigger and recorded steps.
func (e *Engine) load(ctx context.Context, r store.Run, resp *responder, fresh bool) (*runState, error) {
	pl, err := e.plans.get(ctx, e.st, r.FlowID, r.FlowVersion)
	if err != nil {
		return nil, err
	}
	rs := &runState{e: e, run: r, plan: pl, resp: resp, recorded: map[string]store.Step{}}
	rs.meter = expression.NewMeter(e.cfg.MaxRunExpressionSteps, e.cfg.MaxRunExpressionTime, r.Usage.ExprSteps, r.Usage.ExprTime)
	if err := json.Unmarshal(r.Input, &rs.trigger); err != nil {
		return nil, fmt.Errorf("decode trigger input: %w", err)
	}
	aliasManualBody(rs.trigger, pl.def.Trigger.Type)
	started := r.CreatedAt
	if r.StartedAt != nil {
		started = *r.StartedAt
	}
	rs.runObj = map[string]any{"id": r.ID, "flow": pl.flow.Name, "flow_id": pl.flow.ID, "version": r.FlowVersion, "started_at": started.UTC().Format(time.RFC3339Nano)}
	if !fresh && !r.NoSteps {
		steps, err := e.st.ListSteps(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		for _, st := range steps {
			rs.noteFailure(st)
			rs.recorded[st.Key] = st
			rs.held += int64(len(st.Output))
			if !finished(st.Status) {
				rs.unfinished++
			}
		}
		rs.steps = len(steps)
		rs.byPrefix = indexByPrefix(steps)
	}
	return rs, nil
}

// aliasManualBody makes a manual run's input also its trigger.body, as a
// webhook request's body is, so that a webhook flow can be tried with
// `sluice trigger`. The input is stored once (under "input") and aliased
// here, not stored twice. A schedule flow's trigger has no body.
func aliasManualBody(trigger any, flowTrigger string) {
	t, ok := trigger.(map[string]any)
	if !ok || flowTrigger == flow.TriggerSchedule {
		return
	}
	_, hasBody := t["body"]
	_, isRequest := t["method"]
	if in, ok := t["input"]; ok && !hasBody && !isRequest {
		t["body"] = in
	}
}

// indexByPrefix groups the keys of finished steps by the prefix
// recordedSteps asks for: the key up to and including its last '.', so
// "loop[3].send" is "send" under "loop[3].", and "fetch" is "fetch" under
// "". Keys whose last part holds a '[' (an iteration, not a step) are
// left out.
func indexByPrefix(steps []store.Step) map[string][]string {
	out := map[string][]string{}
	for _, st := range steps {
		if !finished(st.Status) {
			continue
		}
		i := strings.LastIndexByte(st.Key, '.') + 1
		if strings.IndexByte(st.Key[i:], '[') >= 0 {
			continue
		}
		out[st.Key[:i]] = append(out[st.Key[:i]], st.Key)
	}
	return out
}

// recordedSteps returns the expression view (id -> {output, status,
// error}) of the finished steps recorded under prefix, so that an action
// can reach the steps inside a scope or condition that is not re-entered
// on replay.
//
// prefix is "" or ends with '.', as execList's prefixes do.
func (rs *runState) recordedSteps(prefix string) map[string]any {
	keys := rs.byPrefix[prefix]
	rs.e.replayScans.Add(int64(len(keys)))
	out := make(map[string]any, len(keys))
	for _, key := range keys {
		st := rs.recorded[key]
		out[key[len(prefix):]] = stepView(decodeJSON(st.Output), st.Status, decodeStepError(st.Error))
	}
	return out
}

// stepView is what expressions see of a step.
func stepView(output any, status string, serr *StepError) map[string]any {
	v := map[string]any{"output": output, "status": status, "error": nil}
	if serr != nil {
		v["error"] = serr.view()
	}
	return v
}

// finished reports whether a step status is final.
func finished(status string) bool {
	switch status {
	case flow.StatusSucceeded, flow.StatusFailed, flow.StatusSkipped, flow.StatusTimedOut, flow.StatusCancelled:
		return true
	}
	return false
}

// record queues a step result for the next commit, and keeps the run's
// account of failures (noteFailure).
func (rs *runState) record(st store.Step) {
	st.Error = rs.redact.Bytes(st.Error)
	for i := range st.AttemptLog {
		st.AttemptLog[i].Answer = rs.redact.String(st.AttemptLog[i].Answer)
	}
	rs.mu.Lock()
	if store.StepFailed(st.Status) {
		var consequence bool
		if st.Error, consequence = rs.markConsequence(st); consequence {
			// Problems group and count root causes only (store.ListProblems).
			st.Fault.Code = ""
		}
		rs.noteFailure(st)
	}
	rs.pending = append(rs.pending, st)
	rs.current = st.Key
	rs.mu.Unlock()
}

// takePending returns and clears the queued step results.
func (rs *runState) takePending() []store.Step {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	p := rs.pending
	rs.pending = nil
	return p
}

// pendingFull reports whether a chunk of step results (store.StepChunk)
// is waiting to be committed.
func (rs *runState) pendingFull() bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return len(rs.pending) >= store.StepChunk
}

// flush commits the queued step results, so that an action with effects
// outside the run acts only on committed results.
func (rs *runState) flush(ctx context.Context) error {
	err := rs.save(ctx, nil)
	if errors.Is(err, store.ErrLeaseLost) {
		return fmt.Errorf("%w: %w", errStopped, err)
	}
	return err
}

// commit makes sure the run is in the store: a run not committed yet is
// committed with the step results queued so far. Once the run is in the
// store it does nothing, so that it never writes behind the worker's back
// (a timer's write after the run parked would find its lease gone).
func (rs *runState) commit(ctx context.Context) error {
	rs.flushMu.Lock()
	defer rs.flushMu.Unlock()
	if rs.unsaved == nil {
		return nil
	}
	return rs.saveLocked(ctx, nil)
}

// save commits the queued step results and, with fin, the run's end. The
// first write of a run not committed yet (unsaved) creates it, with its
// first StepChunk steps and, when they are all and fin is set, its end,
// in one transaction; it then tells the caller waiting for the run and
// sends the answer a respond action left waiting.
func (rs *runState) save(ctx context.Context, fin *store.RunFinish) error {
	rs.flushMu.Lock()
	defer rs.flushMu.Unlock()
	return rs.saveLocked(ctx, fin)
}

// saveLocked is save with flushMu held.
func (rs *runState) saveLocked(ctx context.Context, fin *store.RunFinish) error {
	rs.mu.Lock()
	p, current := rs.pending, rs.current
	rs.pending = nil
	rs.mu.Unlock()
	if u := rs.unsaved; u != nil {
		if u.err != nil {
			return u.err
		}
		nr := u.nr
		n := min(len(p), store.StepChunk)
		nr.Steps, nr.CurrentStep, p = p[:n], current, p[n:]
		if fin != nil && len(p) == 0 {
			nr.Finish = fin
		}
		if err := rs.e.st.SaveNewRun(ctx, nr); err != nil {
			rs.mu.Lock()
			rs.pending = append(append(nr.Steps, p...), rs.pending...)
			rs.mu.Unlock()
			if ctx.Err() == nil {
				// A write the store refused: the run is lost, its
				// caller told. A write stopped by its context (a timer
				// at shutdown) leaves the run to the next one.
				u.err = err
				u.settle(u.run, err)
			}
			return err
		}
		rs.unsaved = nil
		r := u.run
		r.CurrentStep = current
		if nr.Finish != nil {
			r = finishedRun(r, *fin, current)
		}
		u.settle(r, nil)
		if u.answer != nil {
			rs.resp.send(u.answer)
		}
		if nr.Finish != nil || (fin == nil && len(p) == 0) {
			return nil
		}
	}
	if fin != nil {
		f := *fin
		f.Steps = p
		return rs.e.st.FinishRun(ctx, rs.e.owner, rs.run.ID, f)
	}
	if len(p) == 0 {
		return nil
	}
	return rs.e.st.SaveSteps(ctx, rs.e.owner, rs.run.ID, current, p)
}

// answer sends a respond action's response once every step before it is
// committed: at once after a flush for a run in the store, with its
// first write for a run not committed yet.
func (rs *runState) answer(ctx context.Context, resp *Response) error {
	rs.flushMu.Lock()
	if u := rs.unsaved; u != nil && u.err == nil {
		if u.answer == nil {
			u.answer = resp
		}
		rs.flushMu.Unlock()
		return nil
	}
	rs.flushMu.Unlock()
	if err := rs.flush(ctx); err != nil {
		return err
	}
	rs.resp.send(resp)
	return nil
}

// terminated returns the terminate request, if any.
func (rs *runState) terminated() bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.term != nil
}

// execList runs a list of sibling actions in order. steps is the
// expression view of steps, which execList extends as actions finish; env
// holds the other roots (trigger, run, item, index).
func (rs *runState) execList(ctx context.Context, actions []*flow.Action, prefix string, steps map[string]any, env map[string]any) (listResult, error) {
	status := make(map[string]string, len(actions))
	for i, a := range actions {
		if ctx.Err() != nil {
			return listResult{}, errStopped
		}
		if rs.terminated() {
			break
		}
		key := prefix + a.ID
		var out outcome
		if runs(a, i, actions, status) {
			var err error
			out, err = rs.execAction(ctx, a, key, steps, env)
			if err != nil {
				return listResult{}, err
			}
			if out.blocked {
				return listResult{blocked: true, wake: out.wake}, nil
			}
		} else if !rs.chargeStep(key) {
			out = rs.refuse(ctx, a, key, rs.stepLimitMessage())
		} else {
			out = outcome{status: flow.StatusSkipped}
			if rec, ok := rs.recorded[key]; !ok || rec.Status != flow.StatusSkipped {
				rs.record(store.Step{Key: key, ActionID: a.ID, Type: a.Type, Status: flow.StatusSkipped})
			}
		}
		status[a.ID] = out.status
		steps[a.ID] = stepView(out.output, out.status, out.err)
	}
	return unhandled(actions, status, steps), nil
}

// runs reports whether action i of a list may run, given its siblings'
// statuses: by default after the previous sibling succeeded; with
// run_after, when every named sibling ended in one of the listed statuses.
func runs(a *flow.Action, i int, list []*flow.Action, status map[string]string) bool {
	if len(a.RunAfter) == 0 {
		return i == 0 || status[list[i-1].ID] == flow.StatusSucceeded
	}
	for id, want := range a.RunAfter {
		got, ok := status[id]
		if !ok {
			return false
		}
		match := false
		for _, w := range want {
			if w == got {
				match = true
				break
			}
		}
		if !match {
			return false
		}
	}
	return true
}

// unhandled finds the first failure of a list that no later sibling
// handled (ran because its run_after named that failure).
func unhandled(list []*flow.Action, status map[string]string, steps map[string]any) listResult {
	for i, a := range list {
		st := status[a.ID]
		if st != flow.StatusFailed && st != flow.StatusTimedOut {
			continue
		}
		handled := false
		for _, later := range list[i+1:] {
			ls, ok := status[later.ID]
			if !ok || ls == flow.StatusSkipped {
				continue
			}
			for _, w := range later.RunAfter[a.ID] {
				if w == st {
					handled = true
				}
			}
		}
		if handled {
			continue
		}
		serr := &StepError{Kind: KindFlow, Message: st}
		if v, ok := steps[a.ID].(map[string]any); ok {
			if ev, ok := v["error"].(map[string]any); ok {
				if m, ok := ev["message"].(string); ok {
					serr.Message = m
				}
			}
		}
		return listResult{failure: serr, failed: a.ID}
	}
	return listResult{}
}

// execAction runs one action, replaying its recorded result if it has
// one.
func (rs *runState) execAction(ctx context.Context, a *flow.Action, key string, steps, env map[string]any) (outcome, error) {
	rec, seen := rs.recorded[key]
	if seen && finished(rec.Status) {
		return outcome{status: rec.Status, output: decodeJSON(rec.Output), err: decodeStepError(rec.Error)}, nil
	}
	if !rs.chargeStep(key) {
		return rs.refuse(ctx, a, key, rs.stepLimitMessage()), nil
	}
	scope := make(map[string]any, len(env)+1)
	maps.Copy(scope, env)
	scope["steps"] = steps
	switch a.Type {
	case flow.ActionCondition, flow.ActionScope, flow.ActionForeach:
		return rs.execContainer(ctx, a, key, steps, env, scope)
	}
	return rs.execLeaf(ctx, a, key, rec, seen, scope)
}

// execContainer runs a condition, scope or foreach. With a timeout, its
// start is recorded so that the deadline survives parking and restarts;
// when it passes, the actions still running are stopped and the container
// ends timed_out.
func (rs *runState) execContainer(ctx context.Context, a *flow.Action, key string, steps, env, scope map[string]any) (outcome, error) {
	started := time.Now().UTC()
	if a.Timeout <= 0 {
		return rs.runContainer(ctx, a, key, started, steps, env, scope)
	}
	if rec, ok := rs.recorded[key]; ok && rec.StartedAt != nil {
		started = *rec.StartedAt
	} else {
		rs.record(store.Step{Key: key, ActionID: a.ID, Type: a.Type, Status: store.StepRunning, StartedAt: &started})
	}
	deadline := started.Add(time.Duration(a.Timeout))
	timedOut := func() (outcome, error) {
		now := time.Now().UTC()
		serr := &StepError{Kind: KindTimeout, Message: fmt.Sprintf("%s %q did not finish within %s", a.Type, a.ID, time.Duration(a.Timeout))}
		st := store.Step{Key: key, ActionID: a.ID, Type: a.Type, Status: flow.StatusTimedOut, Attempts: 1, StartedAt: &started, FinishedAt: &now}
		serr.store(&st)
		rs.record(st)
		return outcome{status: flow.StatusTimedOut, err: serr}, nil
	}
	if !time.Now().Before(deadline) {
		return timedOut()
	}
	ictx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	out, err := rs.runContainer(ictx, a, key, started, steps, env, scope)
	if errors.Is(err, errStopped) && ctx.Err() == nil && errors.Is(ictx.Err(), context.DeadlineExceeded) {
		return timedOut()
	}
	if out.blocked && out.wake.After(deadline) {
		out.wake = deadline
	}
	return out, err
}

// runContainer runs a condition, scope or foreach's actions.
func (rs *runState) runContainer(ctx context.Context, a *flow.Action, key string, started time.Time, steps, env, scope map[string]any) (outcome, error) {
	c := rs.plan.actions[a]
	finish := func(out outcome) (outcome, error) {
		now := time.Now().UTC()
		st := store.Step{Key: key, ActionID: a.ID, Type: a.Type, Status: out.status, Attempts: 1, StartedAt: &started, FinishedAt: &now}
		var err error
		if st.Output, err = rs.encodeOutput(a, out.output); err != nil {
			out = outcome{status: flow.StatusFailed, err: &StepError{Kind: KindPayload, Message: err.Error()}}
			st.Status, st.Output = out.status, nil
		}
		if a.Type == flow.ActionForeach && st.Output != nil {
			// The iterations' outputs were kept encoded: later steps read
			// the foreach's output as recorded, as a resumed run does.
			out.output = decodeJSON(st.Output)
		}
		out.err.store(&st)
		rs.record(st)
		return out, nil
	}
	fromList := func(res listResult, output any) (outcome, error) {
		if res.blocked {
			return outcome{blocked: true, wake: res.wake}, nil
		}
		out := outcome{status: flow.StatusSucceeded, output: output}
		if res.failure != nil {
			out.status = flow.StatusFailed
			out.err = &StepError{Kind: KindFlow, Message: fmt.Sprintf("step %q failed: %s", res.failed, res.failure.Message), Consequence: store.ConsequenceContainer}
		}
		return finish(out)
	}
	switch a.Type {
	case flow.ActionCondition:
		v, serr, err := rs.eval(ctx, a, "if", c.cond, scope)
		if err != nil {
			return outcome{}, err
		}
		if serr != nil {
			rs.diagnose(ctx, a, serr)
			return finish(outcome{status: flow.StatusFailed, err: serr})
		}
		branch := a.Else
		if truthy(v) {
			branch = a.Then
		}
		res, err := rs.execList(ctx, branch, rs.prefixOf(key, a), steps, env)
		if err != nil {
			return outcome{}, err
		}
		return fromList(res, map[string]any{"result": truthy(v)})
	case flow.ActionScope:
		res, err := rs.execList(ctx, a.Actions, rs.prefixOf(key, a), steps, env)
		if err != nil {
			return outcome{}, err
		}
		return fromList(res, nil)
	default:
		v, serr, err := rs.eval(ctx, a, "foreach", listOf{c.foreach}, scope)
		if err != nil {
			return outcome{}, err
		}
		if serr != nil {
			rs.diagnose(ctx, a, serr)
			return finish(outcome{status: flow.StatusFailed, err: serr})
		}
		items := v.([]any)
		if ok, msg := rs.foreachFits(key, len(items), len(a.Actions)); !ok {
			serr := &StepError{Kind: KindFlow, Message: msg}
			rs.diagnose(ctx, a, serr)
			rs.failRun(a, serr)
			return finish(outcome{status: flow.StatusFailed, err: serr})
		}
		res, outputs, err := rs.execForeach(ctx, a, key, items, steps, env)
		if err != nil {
			return outcome{}, err
		}
		return fromList(res, outputs)
	}
}

// listOf evaluates a foreach's items: any list the expression returns, as
// []any, of at most maxIterations items.
type listOf struct{ t *expression.Template }

// Eval returns the items as []any.
func (l listOf) Eval(ctx context.Context, env map[string]any) (any, error) {
	return l.t.EvalList(ctx, env, maxIterations)
}

// prefixOf returns the key prefix of a container's inner actions: inside a
// foreach iteration the container's own key carries the iteration, so its
// inner actions must too.
func (rs *runState) prefixOf(key string, a *flow.Action) string {
	return strings.TrimSuffix(key, a.ID)
}

// execForeach runs a foreach body once per item, up to concurrency at once.
// Each iteration sees item, index, and its own steps on top of the
// outer ones.
func (rs *runState) execForeach(ctx context.Context, a *flow.Action, key string, items []any, steps, env map[string]any) (listResult, []any, error) {
	conc := max(1, a.Concurrency)
	results := make([]listResult, len(items))
	errs := make([]error, len(items))
	outputs := make([]any, len(items))
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	var flushErr error
	for i, item := range items {
		if ctx.Err() != nil || rs.terminated() {
			break
		}
		sem <- struct{}{}
		// A large foreach hands its steps to the store a chunk at a time,
		// so that no single write holds the store's writer for long and
		// a resumed run finds most of them done.
		if rs.pendingFull() {
			if flushErr = rs.flush(ctx); flushErr == nil {
				flushErr = rs.saveUsage(ctx)
			}
			if flushErr != nil {
				<-sem
				break
			}
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			prefix := fmt.Sprintf("%s[%d].", key, i)
			local := make(map[string]any, len(steps)+len(a.Actions))
			maps.Copy(local, steps)
			maps.Copy(local, rs.recordedSteps(prefix))
			ienv := make(map[string]any, len(env)+2)
			maps.Copy(ienv, env)
			ienv["item"], ienv["index"] = item, i
			results[i], errs[i] = rs.execList(ctx, a.Actions, prefix, local, ienv)
			iter := map[string]any{}
			for _, inner := range a.Actions {
				if v, ok := local[inner.ID].(map[string]any); ok {
					iter[inner.ID] = map[string]any{"status": v["status"], "output": v["output"]}
				}
			}
			// Kept encoded until the foreach's own output is built:
			// a few dozen bytes per item instead of the maps.
			outputs[i], errs[i] = compact(iter, errs[i])
		}()
	}
	wg.Wait()
	if err := errors.Join(append(errs, flushErr)...); err != nil {
		return listResult{}, nil, err
	}
	if ctx.Err() != nil {
		return listResult{}, nil, errStopped
	}
	var out listResult
	for i, r := range results {
		if r.blocked && (!out.blocked || r.wake.Before(out.wake)) {
			out.blocked, out.wake = true, r.wake
		}
		if r.failure != nil && out.failure == nil {
			out.failure, out.failed = r.failure, fmt.Sprintf("%s[%d].%s", key, i, r.failed)
		}
	}
	if out.blocked {
		return listResult{blocked: true, wake: out.wake}, nil, nil
	}
	return out, outputs, nil
}

// compact encodes one foreach iteration's output, unless the iteration
// failed to run.
func compact(iter map[string]any, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(iter)
	if err != nil {
		return nil, fmt.Errorf("encode iteration output: %w", err)
	}
	return json.RawMessage(b), nil
}

// encode marshals a step payload, enforcing the payload cap.
func (rs *runState) encode(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode output: %w", err)
	}
	if int64(len(b)) > rs.e.cfg.MaxPayload {
		return nil, fmt.Errorf("output is %s, more than the %s cap per step", byteSize(int64(len(b))), byteSize(rs.e.cfg.MaxPayload))
	}
	return rs.redact.Bytes(b), nil
}

// encodeOutput encodes a step's output (see encode) and counts it
// against the run's memory cap; past the cap the run ends failed.
func (rs *runState) encodeOutput(a *flow.Action, v any) (json.RawMessage, error) {
	b, err := rs.encode(v)
	if err != nil {
		return nil, err
	}
	if err := rs.hold(len(b)); err != nil {
		rs.failRun(a, &StepError{Kind: KindPayload, Message: err.Error()})
		return nil, err
	}
	return b, nil
}

// byteSize formats a byte count for people.
func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// decodeJSON decodes a stored payload, or nil.
func decodeJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return string(b)
	}
	return v
}

// truthy says whether a condition's value counts as true.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != "" && x != "false"
	case float64:
		return x != 0
	case int:
		return x != 0
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// rootCause is the failed step a run's failure is reported by.
type rootCause struct {
	key, message string
}

// markConsequence returns a failed step's error marked as a consequence
// when the run already has a root cause: a handler's failure
// (store.ConsequenceHandler) or any other later one
// (store.ConsequenceLater); a container that failed by its actions is
// marked when it fails (store.ConsequenceContainer). A run thus has
// exactly one failed step whose error is not marked, its root cause. It
// reports whether st is a consequence. Called with rs.mu held.
func (rs *runState) markConsequence(st store.Step) (json.RawMessage, bool) {
	if rs.root == nil || rs.root.key == st.Key {
		return st.Error, false
	}
	c := store.ConsequenceLater
	if rs.plan.handler(st.ActionID) {
		c = store.ConsequenceHandler
	}
	return withConsequence(st.Error, st.Status, c), true
}

// withConsequence returns a stored step error with its "consequence" set
// to c, unless it has one. The field is spliced in, not decoded and
// encoded again, so that the rest (a large body, numbers beyond float64)
// stays byte for byte as recorded.
func withConsequence(b json.RawMessage, status, c string) json.RawMessage {
	var probe struct {
		Consequence *string `json:"consequence"`
	}
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) < 2 || trimmed[0] != '{' || json.Unmarshal(trimmed, &probe) != nil {
		msg := string(b)
		if msg == "" {
			msg = status
		}
		return (&StepError{Kind: KindFlow, Message: msg, Consequence: c}).encode()
	}
	if probe.Consequence != nil && *probe.Consequence != "" {
		return b
	}
	field := `"consequence":` + strconv.Quote(c)
	if len(bytes.TrimSpace(trimmed[1:len(trimmed)-1])) == 0 {
		return json.RawMessage("{" + field + "}")
	}
	return append([]byte("{"+field+","), trimmed[1:]...)
}

// noteFailure counts a failed step in the run's account of failures; the
// first one that is not marked a consequence is the run's root cause.
// Called with rs.mu held, or before the run starts.
func (rs *runState) noteFailure(st store.Step) {
	if !store.StepFailed(st.Status) || slices.Contains(rs.failed, st.Key) {
		return
	}
	rs.failures++
	if len(rs.failed) < maxNamedFailures {
		rs.failed = append(rs.failed, st.Key)
	}
	if rs.root != nil {
		return
	}
	serr := decodeStepError(st.Error)
	if serr == nil {
		serr = &StepError{Message: st.Status}
	}
	if serr.Consequence == "" {
		rs.root = &rootCause{key: st.Key, message: serr.Message}
	}
}

// rootError is the error of a run that failed: it names the root cause
// (see store.ConsequenceContainer), and the steps that failed as its
// consequences. A run with no failed step (one a terminate failed) is
// named by the step its failure surfaced at.
func (rs *runState) rootError(res listResult) string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	root := rootCause{key: res.failed, message: res.failure.Message}
	if rs.root != nil {
		root = *rs.root
	}
	msg := fmt.Sprintf("step %q failed: %s", root.key, root.message)
	var after []string
	for _, k := range rs.failed {
		if k != root.key {
			after = append(after, strconv.Quote(k))
		}
	}
	if more := rs.failures - len(rs.failed); more > 0 {
		after = append(after, fmt.Sprintf("%d more", more))
	}
	if len(after) > 0 {
		msg += fmt.Sprintf(" (then %s failed as a consequence)", strings.Join(after, ", "))
	}
	return msg
}

// maxNamedFailures is how many failed steps a run's error names.
const maxNamedFailures = 5
