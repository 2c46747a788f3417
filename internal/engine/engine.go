// Package engine runs flows durably: it takes runs from the store (the runs
// table is the queue), executes their actions, commits every step's result
// before the next step acts on it, and parks runs on timers for delays and
// retry backoff.
//
// Runs are at-least-once: a step in flight when the server dies has not
// been recorded, so it runs again when the run is resumed. Resuming replays
// the run from its recorded steps: a recorded step is never executed twice.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice/sluice/internal/connection"
	"github.com/sluice/sluice/internal/diagnose"
	"github.com/sluice/sluice/internal/mail"
	"github.com/sluice/sluice/internal/secret"
	"github.com/sluice/sluice/internal/store"
)

// Trigger is what a run starts with; expressions see it as `trigger`.
type Trigger struct {
	Method  string            `json:"method,omitempty"`
	Path    string            `json:"path,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Query   map[string]string `json:"query,omitempty"`
	Body    any               `json:"body,omitempty"`
	Input   any               `json:"input,omitempty"`
}

// StartRequest asks the engine to start a run.
type StartRequest struct {
	// Flow is the flow to run.
	Flow store.Flow
	// Version is the flow version to run. Defaults to the latest.
	Version int
	// TriggerType is manual, webhook, schedule or resubmit.
	TriggerType string
	// Trigger is the run's trigger object.
	Trigger Trigger
	// RawTrigger, when set, is used instead of Trigger (resubmit passes the
	// stored input unchanged).
	RawTrigger json.RawMessage
	// ResubmittedFrom is the run this one repeats.
	ResubmittedFrom *int64
}

// Defaults of Config, each in this one place: the server's configuration,
// the flag help and the README refer to them.
const (
	// DefaultMailFrom is the default sender address of email actions.
	DefaultMailFrom = "sluice@localhost"
	// DefaultWorkers is how many runs a node works at once by default.
	DefaultWorkers = 256
	// DefaultLease is how long a claimed run stays a node's without
	// renewal by default.
	DefaultLease = 30 * time.Second
	// DefaultMaxPayload is the default cap of a step's input or output,
	// in bytes: 10 MiB.
	DefaultMaxPayload = 10 << 20
	// DefaultRetention is how long finished runs are kept by default.
	DefaultRetention = 28 * 24 * time.Hour
	// DefaultMaxRunSteps caps the steps one run may record: a foreach over
	// the most items (100,000) with a body of two steps, where a nested
	// foreach of 100,000 × 100,000 would be 10^10.
	DefaultMaxRunSteps = 250_000
	// DefaultMaxRunExpressionSteps caps the budget steps of all the
	// expression evaluations of one run: a hundred evaluations at the
	// full 10,000,000 steps of one, about 10,000 for each item of a
	// 100,000-item foreach.
	DefaultMaxRunExpressionSteps = 1_000_000_000
	// DefaultMaxRunExpressionTime caps the time of all the expression
	// evaluations of one run: 150 evaluations at the full 2 s of one,
	// where a 100,000-item foreach whose every item takes 2 s would
	// otherwise burn 55 CPU-hours.
	DefaultMaxRunExpressionTime = 5 * time.Minute
	// DefaultMaxRunMemory caps the encoded size of the step outputs one
	// run holds in memory: about 1 GiB once decoded in the worst case.
	DefaultMaxRunMemory = 256 << 20
	// DefaultRespondTimeout is how long a webhook waits for a respond
	// action by default before answering 504.
	DefaultRespondTimeout = 30 * time.Second
)

// Config configures an Engine.
type Config struct {
	// Store keeps runs and steps. Required.
	Store store.Store
	// Logger receives the engine's logs. Defaults to slog.Default().
	Logger *slog.Logger
	// HTTPClient makes http actions' requests; it should be the netguard
	// client. Required.
	HTTPClient *http.Client
	// Mailer sends email actions' mail. Defaults to none: email actions
	// fail with a configuration error.
	Mailer mail.Sender
	// MailFrom is the default sender address of email actions.
	// Defaults to DefaultMailFrom.
	MailFrom string
	// Workers caps how many runs this node works at once. Defaults to
	// DefaultWorkers.
	Workers int
	// Lease is how long a claimed run stays this node's without renewal.
	// Defaults to DefaultLease.
	Lease time.Duration
	// MaxPayload caps a step's input or output in bytes. Defaults to
	// DefaultMaxPayload.
	MaxPayload int64
	// Retention is how long finished runs are kept. Defaults to
	// DefaultRetention.
	Retention time.Duration
	// SingleNode says no other node shares the store (SQLite), so every
	// run left running by a previous process is re-queued at start.
	SingleNode bool
	// RespondTimeout is how long a webhook waits for a respond action
	// before answering 504 (see docs/api.md). Defaults to
	// DefaultRespondTimeout.
	RespondTimeout time.Duration
	// SMTPDial connects email actions to the SMTP servers of makers' smtp
	// connections; it should be the netguard dialer. Defaults to a plain
	// dialer.
	SMTPDial mail.DialFunc
	// Catalog diagnoses failed steps. Defaults to diagnose.Default().
	Catalog *diagnose.Catalog
	// Secrets opens connections' sealed secrets. Defaults to none: actions
	// that use a connection fail with a configuration error.
	Secrets *secret.Box
	// MaxRunSteps caps the steps one run may record, counting every step
	// of every foreach iteration, scope and condition, skipped ones
	// included (a retried step is one step). A foreach that is sure to
	// need more than what is left is refused before its first item;
	// otherwise the step that passes the cap is refused. Either way the
	// run fails with a flow diagnosis. Defaults to DefaultMaxRunSteps.
	MaxRunSteps int
	// MaxRunExpressionSteps caps the budget steps all the expression
	// evaluations of one run may do together (each evaluation is also
	// capped on its own; see package expression). Defaults to
	// DefaultMaxRunExpressionSteps.
	MaxRunExpressionSteps int64
	// MaxRunExpressionTime caps the time all the expression evaluations
	// of one run may take together. Defaults to
	// DefaultMaxRunExpressionTime.
	MaxRunExpressionTime time.Duration
	// MaxRunMemory caps the encoded size of the step outputs one run
	// holds in memory (a run keeps every output a later expression may
	// read, and a foreach every iteration's for its own output).
	// Each output is also capped by MaxPayload. Defaults to
	// DefaultMaxRunMemory.
	MaxRunMemory int64

	// unsavedWindow is how long a new run is worked before it is
	// committed anyway (see launchUnsaved); unsavedWindow by default,
	// shorter in tests.
	unsavedWindow time.Duration
}

func (c *Config) validate() error {
	if c.Store == nil {
		return errors.New("engine: Store is required")
	}
	if c.HTTPClient == nil {
		return errors.New("engine: HTTPClient is required")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Catalog == nil {
		c.Catalog = diagnose.Default()
	}
	if c.MailFrom == "" {
		c.MailFrom = DefaultMailFrom
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.Lease <= 0 {
		c.Lease = DefaultLease
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.Retention <= 0 {
		c.Retention = DefaultRetention
	}
	if c.RespondTimeout <= 0 {
		c.RespondTimeout = DefaultRespondTimeout
	}
	if c.MaxRunSteps <= 0 {
		c.MaxRunSteps = DefaultMaxRunSteps
	}
	if c.MaxRunExpressionSteps <= 0 {
		c.MaxRunExpressionSteps = DefaultMaxRunExpressionSteps
	}
	if c.MaxRunExpressionTime <= 0 {
		c.MaxRunExpressionTime = DefaultMaxRunExpressionTime
	}
	if c.MaxRunMemory <= 0 {
		c.MaxRunMemory = DefaultMaxRunMemory
	}
	if c.unsavedWindow <= 0 {
		c.unsavedWindow = unsavedWindow
	}
	return nil
}

// Engine claims and executes runs. Create it with New, then call Run.
type Engine struct {
	cfg   Config
	st    store.Store
	log   *slog.Logger
	owner string
	plans plans
	auth  *connection.Authorizer
	// replayScans counts the recorded steps that replays looked at, so
	// that tests can bound the work of resuming a run.
	replayScans atomic.Int64

	slots chan struct{}
	// wake tells the poller that runs may be due (see notify); freed,
	// that a worker came free (see slotFreed).
	wake    chan struct{}
	freed   chan struct{}
	jobWake chan struct{}
	// started is closed once Run has begun.
	started chan struct{}

	mu       sync.Mutex
	inflight map[int64]context.CancelFunc
	wg       sync.WaitGroup
	runCtx   context.Context
}

// New validates the configuration and returns an engine that is not yet
// working runs.
func New(cfg Config) (*Engine, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("engine: node id: %w", err)
	}
	auth := &connection.Authorizer{Client: cfg.HTTPClient}
	if cfg.Secrets != nil {
		// A refreshed OAuth2 token is saved sealed in the store before it
		// is used, so that every node refreshes with the rotated one.
		auth.Save = func(ctx context.Context, id int64, t connection.Tokens) error {
			return connection.SaveTokens(ctx, cfg.Store, cfg.Secrets, id, t)
		}
	}
	return &Engine{
		cfg:      cfg,
		st:       cfg.Store,
		log:      cfg.Logger,
		owner:    "node-" + hex.EncodeToString(b[:]),
		plans:    plans{cap: 1024},
		auth:     auth,
		slots:    make(chan struct{}, cfg.Workers),
		wake:     make(chan struct{}, 1),
		freed:    make(chan struct{}, 1),
		jobWake:  make(chan struct{}, 1),
		started:  make(chan struct{}),
		inflight: make(map[int64]context.CancelFunc),
	}, nil
}

// Run works runs until ctx ends: it claims due runs, renews the leases of
// the runs it works, re-queues runs whose lease expired elsewhere, fires
// schedules and prunes old runs. When ctx ends it stops the runs in flight,
// which other nodes (or this one after a restart) resume, and returns.
func (e *Engine) Run(ctx context.Context) error {
	if e.cfg.SingleNode {
		n, err := e.st.RescueRuns(ctx, time.Now(), true)
		if err != nil {
			return fmt.Errorf("engine: re-queue runs of the previous process: %w", err)
		}
		if n > 0 {
			e.log.Info("re-queued runs left unfinished by the previous process", "runs", n)
		}
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.mu.Lock()
	e.runCtx = runCtx
	e.mu.Unlock()
	close(e.started)

	var loops sync.WaitGroup
	for _, loop := range []func(context.Context){e.pollLoop, e.leaseLoop, e.rescueLoop, e.scheduleLoop, e.pruneLoop, e.jobLoop} {
		loops.Add(1)
		go func() {
			defer loops.Done()
			loop(ctx)
		}()
	}
	<-ctx.Done()
	loops.Wait()
	// Stop the runs in flight; each parks itself for an immediate resume.
	cancel()
	e.wg.Wait()
	return nil
}

// notify wakes the poller: runs may be due.
func (e *Engine) notify() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// slotFreed tells the poller that a worker came free. It claims then only
// if its last pass left due runs for want of workers, so that a node
// working webhook runs at once does not ask the store for queued runs
// each time one of them ends.
func (e *Engine) slotFreed() {
	select {
	case e.freed <- struct{}{}:
	default:
	}
}

// Start commits a new run of a flow and, when this node has a free worker,
// starts working it at once.
func (e *Engine) Start(ctx context.Context, req StartRequest) (store.Run, error) {
	r, _, err := e.start(ctx, req, nil)
	return r, err
}

// start is Start with an optional responder that a respond action answers.
// It reports whether the run is being worked here.
func (e *Engine) start(ctx context.Context, req StartRequest, resp *responder) (store.Run, bool, error) {
	version := req.Version
	if version == 0 {
		version = req.Flow.Version
	}
	input := req.RawTrigger
	if len(input) == 0 {
		var err error
		if input, err = json.Marshal(req.Trigger); err != nil {
			return store.Run{}, false, fmt.Errorf("encode trigger of flow %q: %w", req.Flow.Name, err)
		}
	}
	if int64(len(input)) > e.cfg.MaxPayload {
		return store.Run{}, false, &TooLargeError{Size: int64(len(input)), Limit: e.cfg.MaxPayload}
	}
	nr := store.NewRun{FlowID: req.Flow.ID, FlowVersion: version, TriggerType: req.TriggerType, Input: input, ResubmittedFrom: req.ResubmittedFrom}
	f := req.Flow
	r, _, local, err := e.admit(ctx, nr, resp, func(ctx context.Context, nr store.NewRun) (store.Run, bool, error) {
		r, err := e.st.CreateRun(ctx, nr)
		return r, false, err
	}, &f)
	return r, local, err
}

// admit commits a new run with create and, when this node has a free
// worker, creates it leased to this node and works it at once; otherwise
// the run is queued for any node. A caller waiting for a respond action
// must be answered by this node, so it waits for a worker (up to the
// respond timeout) rather than queue the run. A run create reports as
// existing (a deduplicated resubmit) is not worked again.
//
// A new run of flow fresh (not a resubmit) that this node works is
// worked before it is committed (launchUnsaved): admit returns once its
// first write committed it, which for a run that ends within
// unsavedWindow is the only one.
func (e *Engine) admit(ctx context.Context, nr store.NewRun, resp *responder, create func(context.Context, store.NewRun) (store.Run, bool, error), fresh *store.Flow) (r store.Run, existing, local bool, err error) {
	local = e.acquire()
	if !local && resp != nil {
		local = e.acquireWait(ctx, e.cfg.RespondTimeout)
	}
	if local {
		nr.LeaseOwner, nr.LeaseUntil = e.owner, time.Now().Add(e.cfg.Lease)
	}
	if local && fresh != nil {
		r, err = e.launchUnsaved(ctx, *fresh, nr, resp)
		return r, false, err == nil, err
	}
	r, existing, err = create(ctx, nr)
	if err != nil || existing {
		if local {
			<-e.slots
		}
		return r, existing, false, err
	}
	if local {
		// A new run has no steps to replay unless it copied them.
		e.launch(r, resp, !nr.CopySucceeded, nil)
	} else {
		e.notify()
	}
	return r, false, local, nil
}

// ErrTooLarge is returned when a trigger input is over the payload cap.
var ErrTooLarge = errors.New("payload too large")

// TooLargeError is a run's trigger input over the payload cap. It matches
// ErrTooLarge, and its text, meant for the caller, gives both sizes.
type TooLargeError struct {
	// Size is the encoded trigger input's size in bytes.
	Size int64
	// Limit is the payload cap in bytes.
	Limit int64
}

// Error says how large the input is and what the cap is.
func (e *TooLargeError) Error() string {
	return fmt.Sprintf("the run's trigger input is %s, over the %s payload cap", byteSize(e.Size), byteSize(e.Limit))
}

// Is reports whether target is ErrTooLarge.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// acquire takes a worker slot if one is free and the engine is running.
func (e *Engine) acquire() bool {
	e.mu.Lock()
	running := e.runCtx != nil && e.runCtx.Err() == nil
	e.mu.Unlock()
	if !running {
		return false
	}
	select {
	case e.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// acquireWait waits up to timeout for a worker slot, and for the engine
// to be running.
func (e *Engine) acquireWait(ctx context.Context, timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-e.started:
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
	e.mu.Lock()
	running := e.runCtx.Err() == nil
	e.mu.Unlock()
	if !running {
		return false
	}
	select {
	case e.slots <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// unsavedWindow bounds how long a new run is worked before it is
// committed (see launchUnsaved): a run still going after it is committed
// then, by its next write or by a timer, so that the caller that
// triggered it is answered and the run is visible and resumable.
const unsavedWindow = 20 * time.Millisecond

// launchUnsaved works a new run that this node holds before committing
// it, and returns the run once its first write committed it. The run's
// id is reserved first, so that expressions can read it. Until that
// first write nothing of the run is in the store and nothing of it has
// acted outside it: its steps wait in memory; an action with effects
// outside the run (http, email) commits the run before it acts; a
// respond action's answer waits for the commit; and the run is
// committed anyway after unsavedWindow. So a run that ends within the
// window is written once, with its steps, its end and the events that
// report it, in one transaction, and the caller (and a webhook's
// answer) hears of it only once that transaction committed. The caller
// holds a slot.
func (e *Engine) launchUnsaved(ctx context.Context, f store.Flow, nr store.NewRun, resp *responder) (store.Run, error) {
	id, err := e.st.ReserveRunID(ctx)
	if err != nil {
		<-e.slots
		return store.Run{}, fmt.Errorf("start a run of flow %q: %w", f.Name, err)
	}
	now := time.Now().UTC()
	nr.ID, nr.CreatedAt = id, now
	if nr.NextAttemptAt.IsZero() {
		nr.NextAttemptAt = now
	}
	until := nr.LeaseUntil.UTC()
	r := store.Run{ID: id, FlowID: f.ID, FlowName: f.Name, FlowVersion: nr.FlowVersion, OwnerID: f.OwnerID, Status: store.RunRunning,
		TriggerType: nr.TriggerType, Input: nr.Input, ResubmittedFrom: nr.ResubmittedFrom, CreatedAt: now, StartedAt: &now,
		NextAttemptAt: nr.NextAttemptAt, LeaseOwner: nr.LeaseOwner, LeaseUntil: &until}
	u := &unsaved{run: r, nr: nr, saved: make(chan savedRun, 1)}
	e.launch(r, resp, true, u)
	out := <-u.saved
	return out.run, out.err
}

// unsaved is a new run that its node works before committing it (see
// launchUnsaved), until its first write.
type unsaved struct {
	// run is the run as the engine knows it, nr as it will be written.
	run store.Run
	nr  store.NewRun
	// saved receives the outcome of the first write, once.
	saved chan savedRun
	once  sync.Once
	// answer is a respond action's response, sent once the run is
	// committed; err is why the first write failed. Both are guarded by
	// the run's flushMu.
	answer *Response
	err    error
}

// savedRun is the outcome of an unsaved run's first write.
type savedRun struct {
	run store.Run
	err error
}

// settle reports the outcome of the first write to the caller waiting in
// launchUnsaved; later calls do nothing.
func (u *unsaved) settle(r store.Run, err error) {
	if u == nil {
		return
	}
	u.once.Do(func() { u.saved <- savedRun{run: r, err: err} })
}

// saveQueued commits a run not committed yet as queued, for any node to
// work, and tells its caller.
func (e *Engine) saveQueued(r store.Run, u *unsaved) {
	u.nr.LeaseOwner, u.nr.LeaseUntil = "", time.Time{}
	err := e.st.SaveNewRun(context.Background(), u.nr)
	r.Status, r.StartedAt, r.LeaseOwner, r.LeaseUntil = store.RunQueued, nil, "", nil
	u.settle(r, err)
}

// errNotSaved is what the caller of a run hears when the run stopped
// before it could be committed.
var errNotSaved = errors.New("the run stopped before it was committed")

// launch works a run this node holds, in its own goroutine; the caller
// holds a slot, which is released when the run stops. fresh says the run
// was created a moment ago and has no steps to replay; u is set for a run
// not committed yet (see launchUnsaved).
func (e *Engine) launch(r store.Run, resp *responder, fresh bool, u *unsaved) {
	e.mu.Lock()
	if e.runCtx.Err() != nil {
		// Shutting down: the run keeps its lease and is resumed on restart
		// or by another node once the lease expires. A run not committed
		// yet is committed queued, for any node.
		e.mu.Unlock()
		<-e.slots
		if u != nil {
			e.saveQueued(r, u)
		}
		return
	}
	ctx, cancel := context.WithCancel(e.runCtx)
	e.inflight[r.ID] = cancel
	e.wg.Add(1)
	e.mu.Unlock()
	go func() {
		defer func() {
			e.mu.Lock()
			delete(e.inflight, r.ID)
			e.mu.Unlock()
			cancel()
			<-e.slots
			e.wg.Done()
			e.slotFreed()
		}()
		e.work(ctx, r, resp, fresh, u)
	}()
}

// Cancel cancels a run that has not finished and stops it if this node is
// working it. A finished run is returned unchanged.
func (e *Engine) Cancel(ctx context.Context, runID int64) (store.Run, error) {
	r, err := e.st.CancelRun(ctx, runID)
	if err != nil {
		return store.Run{}, err
	}
	e.mu.Lock()
	cancel := e.inflight[runID]
	e.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	return r, nil
}

// pollFallback is the longest the poller sleeps without a wake-up: runs
// that fall due on a timer this node did not set, or that another node
// queued while this node's wake-up listener was reconnecting, are found
// within it.
const pollFallback = time.Second

// pollRetry is the shortest the poller waits after a pass that claimed
// nothing although a run looked due (another node took it, or it is being
// written), so that such a run never makes it spin.
const pollRetry = 10 * time.Millisecond

// claimResult is what one claim pass found.
type claimResult int

const (
	// claimedAll filled every free worker: more runs may be due.
	claimedAll claimResult = iota
	// claimedSome left workers free: no more runs were due.
	claimedSome
	// noWorker found every worker busy and did not ask the store.
	noWorker
)

// pollLoop claims due runs while workers are free. With every worker
// busy it asks the store nothing and waits for a run to finish (launch
// wakes it) or for the fallback timer; with workers free and nothing due
// it sleeps until the next run falls due. The store's wake-ups (a run
// queued or made due by any node) wake it too, so that a run queued on
// another node starts here at once. A worker coming free wakes it only
// when its last pass was short of workers: otherwise nothing it could
// claim has changed.
func (e *Engine) pollLoop(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	wakeups := e.st.Wakeups(ctx)
	short := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-e.wake:
		case <-wakeups:
		case <-e.freed:
			if !short {
				continue
			}
		}
		wait := pollFallback
		res := e.claim(ctx)
		short = res != claimedSome
		switch res {
		case claimedAll:
			wait = 0
		case claimedSome:
			if at, err := e.st.NextDueAt(ctx); err == nil {
				wait = min(wait, max(pollRetry, time.Until(at)))
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}

// claim takes as many due runs as there are free workers, and says what
// it found.
func (e *Engine) claim(ctx context.Context) claimResult {
	free := 0
	for free < 128 && e.acquire() {
		free++
	}
	if free == 0 {
		return noWorker
	}
	now := time.Now()
	runs, err := e.st.ClaimRuns(ctx, e.owner, now, now.Add(e.cfg.Lease), free)
	if err != nil && ctx.Err() == nil {
		e.log.Error("claim runs", "err", err)
	}
	for _, r := range runs {
		e.launch(r, nil, false, nil)
	}
	for range free - len(runs) {
		<-e.slots
	}
	if len(runs) == free {
		return claimedAll
	}
	return claimedSome
}

// leaseLoop renews the leases of the runs this node works.
func (e *Engine) leaseLoop(ctx context.Context) {
	t := time.NewTicker(e.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		e.mu.Lock()
		ids := make([]int64, 0, len(e.inflight))
		for id := range e.inflight {
			ids = append(ids, id)
		}
		e.mu.Unlock()
		if err := e.st.ExtendLeases(ctx, e.owner, ids, time.Now().Add(e.cfg.Lease)); err != nil && ctx.Err() == nil {
			e.log.Error("extend leases", "runs", len(ids), "err", err)
		}
	}
}

// rescueLoop re-queues runs whose node stopped renewing their lease.
func (e *Engine) rescueLoop(ctx context.Context) {
	t := time.NewTicker(e.cfg.Lease / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := e.st.RescueRuns(ctx, time.Now(), false)
		if err != nil && ctx.Err() == nil {
			e.log.Error("rescue runs", "err", err)
			continue
		}
		if n > 0 {
			e.log.Warn("re-queued runs whose lease expired", "runs", n)
			e.notify()
		}
	}
}

// pruneLoop deletes finished runs older than the retention, hourly.
func (e *Engine) pruneLoop(ctx context.Context) {
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := e.st.PruneRuns(ctx, time.Now().Add(-e.cfg.Retention))
		if err != nil && ctx.Err() == nil {
			e.log.Error("prune runs", "err", err)
		} else if n > 0 {
			e.log.Info("pruned old runs", "runs", n, "retention", e.cfg.Retention)
		}
		t.Reset(time.Hour)
	}
}
