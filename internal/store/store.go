// Package store defines how Sluice keeps its users, flows, runs and steps,
// independent of the database behind it. Drivers live in sub-packages
// (store/sqlite); every driver passes the conformance suite in
// store/storetest.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNotFound is returned when the asked-for record does not exist (or is
// not visible to the caller).
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a write would break a uniqueness rule, such
// as a second user with the same email.
var ErrConflict = errors.New("conflict")

// ErrLeaseLost is returned when a worker writes to a run it no longer holds:
// the run was cancelled, finished, or its lease expired and another worker
// took it.
var ErrLeaseLost = errors.New("run lease lost")

// Roles a user can have.
const (
	RoleAdmin = "admin"
	RoleMaker = "maker"
)

// Run statuses.
const (
	RunQueued    = "queued"
	RunRunning   = "running"
	RunWaiting   = "waiting"
	RunSucceeded = "succeeded"
	RunFailed    = "failed"
	RunCancelled = "cancelled"
)

// RunFinished reports whether a run status is final.
func RunFinished(status string) bool {
	return status == RunSucceeded || status == RunFailed || status == RunCancelled
}

// Step statuses beyond the final ones in package flow: a step that is
// waiting for a timer (a delay, or a retry's backoff) is "waiting".
const (
	StepWaiting = "waiting"
	// StepRunning marks a condition, scope or foreach with a timeout that
	// has started: its start time is its deadline's origin.
	StepRunning = "running"
)

// StepFailed reports whether a step status is a failure: failed or
// timed_out.
func StepFailed(status string) bool {
	return status == "failed" || status == "timed_out"
}

// Why a failed step's failure is a consequence of another's, as its
// error's "consequence" says. The engine marks every failed step of a run
// but one, the run's root cause: the first failed step that is not a
// container failed by its actions. The root cause is what the run's
// error, its alert (and so its email and its problem group) name; the
// others are shown as its consequences.
const (
	// ConsequenceContainer marks a condition, scope or foreach that failed
	// because an action inside it did.
	ConsequenceContainer = "container"
	// ConsequenceHandler marks an action that runs after a sibling's
	// failure (its run_after accepts failed or timed_out: a catch or a
	// finally) and failed after the root cause. A handler that fails in a
	// run with no failure before it is the root cause.
	ConsequenceHandler = "handler"
	// ConsequenceLater marks any other failure after the root cause, such
	// as another iteration of a concurrent foreach.
	ConsequenceLater = "later"
)

// User is a person who signs in.
type User struct {
	ID           int64     `json:"id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	PasswordHash string    `json:"-"`
	Role         string    `json:"role"`
	CreatedAt    time.Time `json:"created_at"`
	// DisabledAt is when an admin disabled the user, nil while enabled. A
	// disabled user cannot sign in and their tokens are refused.
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
}

// Token is an API token. Only its SHA-256 hash is kept.
type Token struct {
	ID         int64      `json:"id"`
	UserID     int64      `json:"user_id"`
	Name       string     `json:"name"`
	Hash       []byte     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	// ExpiresAt is when the token stops working, nil for a token that
	// does not expire.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Flow is a flow's identity and state; its definitions are FlowVersions.
type Flow struct {
	ID      int64  `json:"id"`
	Name    string `json:"name"`
	OwnerID int64  `json:"owner_id"`
	Enabled bool   `json:"enabled"`
	// Version is the latest saved version number, starting at 1.
	Version int `json:"version"`
	// TriggerType is the latest version's trigger type.
	TriggerType string `json:"trigger_type"`
	// WebhookToken is the unguessable token in the flow's webhook URL.
	WebhookToken string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// FlowVersion is one saved definition of a flow.
type FlowVersion struct {
	FlowID  int64 `json:"flow_id"`
	Version int   `json:"version"`
	// Definition is the canonical JSON of the flow.Definition.
	Definition json.RawMessage `json:"definition"`
	// Source is the text the maker saved (YAML or JSON).
	Source    string    `json:"source"`
	CreatedBy int64     `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// NewFlow is what CreateFlow needs.
type NewFlow struct {
	Name         string
	OwnerID      int64
	TriggerType  string
	WebhookToken string
	Definition   json.RawMessage
	Source       string
	// NextFireAt is the first time a schedule trigger fires; nil otherwise.
	NextFireAt *time.Time
}

// NewFlowVersion is what AddFlowVersion needs.
type NewFlowVersion struct {
	FlowID      int64
	CreatedBy   int64
	TriggerType string
	Definition  json.RawMessage
	Source      string
	// NextFireAt replaces the flow's schedule; nil removes it.
	NextFireAt *time.Time
}

// FlowFilter narrows ListFlows.
type FlowFilter struct {
	// OwnerID, when not zero, keeps only that owner's flows.
	OwnerID int64
}

// Schedule is a scheduled flow's next firing time.
type Schedule struct {
	FlowID     int64
	NextFireAt time.Time
}

// Run is one execution of a flow version.
type Run struct {
	ID          int64  `json:"id"`
	FlowID      int64  `json:"flow_id"`
	FlowName    string `json:"flow_name"`
	FlowVersion int    `json:"flow_version"`
	OwnerID     int64  `json:"owner_id"`
	Status      string `json:"status"`
	// TriggerType says what started the run: manual, webhook, schedule or
	// resubmit.
	TriggerType string `json:"trigger_type"`
	// Input is the trigger object the run started with ({method, headers,
	// query, body, input}); resubmit reuses it.
	Input json.RawMessage `json:"input"`
	// Output is what a respond or terminate action produced, if any.
	Output          json.RawMessage `json:"output,omitempty"`
	Error           string          `json:"error,omitempty"`
	CurrentStep     string          `json:"current_step,omitempty"`
	ResubmittedFrom *int64          `json:"resubmitted_from"`
	CreatedAt       time.Time       `json:"created_at"`
	StartedAt       *time.Time      `json:"started_at"`
	FinishedAt      *time.Time      `json:"finished_at"`
	// NextAttemptAt is when a queued or waiting run is due.
	NextAttemptAt time.Time  `json:"next_attempt_at"`
	LeaseOwner    string     `json:"-"`
	LeaseUntil    *time.Time `json:"-"`
	// Usage is what the run spent, as last saved by SaveRunUsage.
	Usage RunUsage `json:"-"`
	// NoSteps is set by ClaimRuns on a run that had no step recorded
	// when it was claimed (a queued run never worked), so that the
	// worker need not read its steps. False says nothing either way.
	NoSteps bool `json:"-"`
}

// RunUsage is what a run has spent of the per-run limits that its
// recorded steps do not show: the work of all its expression
// evaluations. It is kept so that a parked and resumed run goes on
// counting from where it was.
type RunUsage struct {
	// ExprSteps is the sum of the budget steps its evaluations did.
	ExprSteps int64
	// ExprTime is the sum of the time its evaluations ran.
	ExprTime time.Duration
}

// NewRun is what CreateRun needs.
type NewRun struct {
	FlowID          int64
	FlowVersion     int
	TriggerType     string
	Input           json.RawMessage
	ResubmittedFrom *int64
	// NextAttemptAt is when the run is due. Defaults to now.
	NextAttemptAt time.Time
	// LeaseOwner, when set, creates the run already running and leased to
	// that worker until LeaseUntil, so that the node that accepted the
	// trigger works it at once without a round trip through the queue.
	LeaseOwner string
	LeaseUntil time.Time
	// CopySucceeded, with ResubmittedFrom, copies the succeeded steps of
	// the original run into the new one, so that it resumes from the
	// failed step and reuses what succeeded.
	CopySucceeded bool
	// Dedupe, with ResubmittedFrom, returns the unfinished run already
	// resubmitted from the same original instead of creating another,
	// so that two resubmits at once yield one run.
	Dedupe bool

	// The fields below are for SaveNewRun, which commits a run that a
	// node worked before the store knew it; CreateRun ignores them.

	// ID is the run's id, from ReserveRunID.
	ID int64
	// CreatedAt is when the trigger was accepted: the run's creation and
	// start time. Defaults to now.
	CreatedAt time.Time
	// Steps are the step results recorded so far, written in the same
	// transaction as the run (at most StepChunk).
	Steps []Step
	// CurrentStep is the step the run is at.
	CurrentStep string
	// Finish, when set, commits the run already finished (its status,
	// output and error; its lease cleared), with the event that reports
	// a failure, in the same transaction.
	Finish *RunFinish
}

// SucceededResubmit returns the newest run resubmitted from run id that
// succeeded, or ErrNotFound: resubmitting id again would repeat what
// that run did.
func SucceededResubmit(ctx context.Context, st Store, id int64) (Run, error) {
	runs, err := st.ListRuns(ctx, RunFilter{ResubmittedFrom: id, Status: RunSucceeded, Limit: 1})
	if err != nil {
		return Run{}, fmt.Errorf("resubmits of run %d: %w", id, err)
	}
	if len(runs) == 0 {
		return Run{}, ErrNotFound
	}
	return runs[0], nil
}

// RunFilter narrows ListRuns. Zero fields do not filter.
type RunFilter struct {
	OwnerID int64
	FlowID  int64
	Status  string
	// Since keeps runs created at or after it.
	Since time.Time
	// Until keeps runs created before it.
	Until time.Time
	// AfterID keeps runs with a larger id, for walking oldest first.
	AfterID int64
	// Oldest lists oldest first instead of newest first.
	Oldest bool
	// IDs keeps only these runs.
	IDs []int64
	// ResubmittedFrom keeps the runs resubmitted from that run (an index
	// range of runs_resubmitted_from).
	ResubmittedFrom int64
	// FailedOnConnection keeps failed runs with a step that used the
	// named connection and failed on authentication (an HTTP 401, or an
	// error of kind auth), the runs a fixed connection can rescue.
	FailedOnConnection string
	// BeforeID keeps runs with a smaller id, for paging newest first.
	BeforeID int64
	// InputPathPrefix keeps runs whose input is a JSON object with a path
	// (a webhook's request path) that starts with it, and InputPathExcept
	// drops those whose path starts with that one; used to find webhook
	// inputs stored before the token was masked. The prefixes are matched
	// as text (LikePrefix), case-insensitively on SQLite.
	InputPathPrefix, InputPathExcept string
	// InputContains keeps runs whose stored trigger input (its JSON text)
	// contains it, matched case-insensitively (LikeContains). It reads
	// every run the other conditions leave, so a caller bounds it with an
	// id window (BeforeID and AfterID) to keep a request's work bounded.
	InputContains string
	// Limit caps the result. Defaults to 50.
	Limit int
}

// LikePrefix returns the SQL LIKE pattern (with ESCAPE '\') of the strings
// that start with prefix: its %, _ and \ escaped, then %.
func LikePrefix(prefix string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(prefix) + "%"
}

// LikeContains returns the SQL LIKE pattern (with ESCAPE '\') of the
// strings that contain s: its %, _ and \ escaped, between two %.
func LikeContains(s string) string {
	return "%" + LikePrefix(s)
}

// Step is the recorded result of one action in a run. Key is unique in the
// run: an action's id, or for actions inside a foreach, the path to the
// iteration such as "loop[3].send".
type Step struct {
	RunID      int64           `json:"run_id"`
	Key        string          `json:"id"`
	ActionID   string          `json:"action_id"`
	Type       string          `json:"type"`
	Status     string          `json:"status"`
	Attempts   int             `json:"attempts"`
	StartedAt  *time.Time      `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at"`
	Input      json.RawMessage `json:"input,omitempty"`
	Output     json.RawMessage `json:"output,omitempty"`
	// Error is the step's error as JSON: {"message", "kind", and for http
	// failures "status", "headers", "body"}.
	Error json.RawMessage `json:"error,omitempty"`
	// Fault is what problems and runs filter and group on of Error, kept
	// in columns of its own so that no query reads the JSON. The engine
	// writes it with Error.
	Fault StepFault `json:"fault,omitzero"`
	// NextAttemptAt is when a waiting step (delay, retry backoff) is due.
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	// AttemptLog lists the step's last attempts (at most
	// MaxAttemptsKept), oldest first, with their times and answers; the
	// engine writes it with the step, so it is fenced by the same lease.
	AttemptLog []StepAttempt `json:"attempt_log,omitempty"`
	// Seq orders steps in the order they were first recorded.
	Seq int64 `json:"-"`
}

// StepFault is the part of a failed step's error that the store filters
// and groups on: the diagnosis class (auth, config, throttled, transient,
// flow) and code (such as http.401) and the connection the step used.
// Empty fields are stored as NULL.
type StepFault struct {
	Class      string `json:"class,omitempty"`
	Code       string `json:"code,omitempty"`
	Connection string `json:"connection,omitempty"`
}

// StepChunk caps the steps one write transaction carries. SaveSteps,
// ParkRun and FinishRun write a longer list as several transactions of at
// most StepChunk steps, each fenced by the worker's lease, so that one
// large run never holds the store's writer for long and other runs'
// writes go in between; the run's status change (and the events that
// report it) commits with the last chunk. The engine also hands a
// foreach's steps to the store every StepChunk steps.
const StepChunk = 256

// CopyGrace bounds how long a resubmitted run that reuses its original's
// succeeded steps waits for them: ResubmitRun creates the run due only
// after CopyGrace, copies the steps StepChunk at a time (one transaction
// each, so that a run with 100,000 steps does not hold the writer), and
// makes the run due at once with the last chunk. Should the copy stop
// half way (a crash), the run starts after CopyGrace with the steps
// copied so far, and runs the others again (at least once).
const CopyGrace = time.Minute

// WriteInChunks hands steps to the drivers' writes StepChunk at a time:
// every chunk but the last to lead, one transaction each, and the last
// (possibly empty) to last, which also changes the run's status. It stops
// at the first error.
func WriteInChunks(steps []Step, lead, last func([]Step) error) error {
	for len(steps) > StepChunk {
		if err := lead(steps[:StepChunk]); err != nil {
			return err
		}
		steps = steps[StepChunk:]
	}
	return last(steps)
}

// RunFinish is what FinishRun records.
type RunFinish struct {
	Status string
	Output json.RawMessage
	Error  string
	// Steps are written before the run is finished: the last StepChunk
	// of them in the same transaction, any before in their own (see
	// StepChunk).
	Steps []Step
}

// Connection health values.
const (
	HealthUnverified     = "unverified"
	HealthOK             = "ok"
	HealthNeedsAttention = "needs_attention"
)

// Connection is a stored credential. Its secret fields are sealed by the
// server before they reach the store and are never returned by the API.
type Connection struct {
	ID      int64  `json:"id"`
	OwnerID int64  `json:"owner_id"`
	Name    string `json:"name"`
	Type    string `json:"type"`
	// Config holds the settings that are not secret (user name, header
	// name, token URL...), as JSON.
	Config json.RawMessage `json:"config"`
	// Secret is the sealed secret fields.
	Secret []byte `json:"-"`
	// Health is unverified, ok or needs_attention.
	Health      string     `json:"health"`
	HealthError string     `json:"health_error"`
	HealthAt    *time.Time `json:"health_at"`
	// BrokenAt is when the connection last went from working to
	// needs_attention; runs that failed on it since can be resubmitted
	// together once it is fixed.
	BrokenAt  *time.Time `json:"broken_at"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// ConnectionStore keeps connections.
type ConnectionStore interface {
	// CreateConnection adds a connection; ErrConflict if the owner has one
	// with that name.
	CreateConnection(ctx context.Context, c Connection) (Connection, error)
	// UpdateConnection replaces a connection's type, config and secret
	// and marks it unverified.
	UpdateConnection(ctx context.Context, c Connection) (Connection, error)
	// GetConnection returns the connection with that id.
	GetConnection(ctx context.Context, id int64) (Connection, error)
	// GetConnectionByName returns the owner's connection with that name.
	GetConnectionByName(ctx context.Context, ownerID int64, name string) (Connection, error)
	// ListConnections returns connections by name; ownerID 0 lists all.
	ListConnections(ctx context.Context, ownerID int64) ([]Connection, error)
	// DeleteConnection removes a connection.
	DeleteConnection(ctx context.Context, id int64) error
	// SetConnectionHealth records a connection's health and reports
	// whether it changed, so that its owner is told once.
	SetConnectionHealth(ctx context.Context, id int64, health, msg string, at time.Time) (changed bool, err error)
	// SetConnectionSecret replaces a connection's sealed secret with
	// sealed if it is still old, leaving its health and updated_at alone
	// (an OAuth2 refresh or sign-in saves its tokens so); ok is false when
	// it changed meanwhile. ErrNotFound if there is no such connection.
	SetConnectionSecret(ctx context.Context, id int64, old, sealed []byte) (ok bool, err error)
	// CreateOAuthState records a pending OAuth2 sign-in, deleting those
	// that expired a day ago or more, and the user's oldest so that a user
	// has at most MaxOAuthStates.
	CreateOAuthState(ctx context.Context, st OAuthState) (OAuthState, error)
	// ClaimOAuthState marks the pending, unexpired sign-in whose state
	// hashes to hash as claimed and returns it: a state is used once.
	// ErrNotFound if there is none; ErrConflict (with the state) if it was
	// already used or expired.
	ClaimOAuthState(ctx context.Context, hash string, now time.Time) (OAuthState, error)
	// FinishOAuthState records how a claimed sign-in ended (status done or
	// failed, and a message for its starter).
	FinishOAuthState(ctx context.Context, id int64, status, message string) error
	// GetOAuthState returns the sign-in with that id.
	GetOAuthState(ctx context.Context, id int64) (OAuthState, error)
}

// MaxOAuthStates bounds the sign-ins a user has on record: starting one
// more drops the oldest, so that what a maker can make the store keep is
// bounded.
const MaxOAuthStates = 10

// OAuth2 sign-in statuses.
const (
	OAuthPending = "pending"
	OAuthClaimed = "claimed"
	OAuthDone    = "done"
	OAuthFailed  = "failed"
)

// OAuthState is a pending OAuth2 authorization-code sign-in: the hash of
// the state sent to the provider, who started it for which connection,
// the sealed PKCE verifier, and until when the callback may complete it.
type OAuthState struct {
	ID           int64
	Hash         string
	UserID       int64
	ConnectionID int64
	// Verifier is the sealed PKCE code verifier.
	Verifier []byte
	// Via is where the sign-in started: cli (any browser may finish
	// it) or portal (only the starter's portal session may).
	Via string
	// Status is pending, claimed, done or failed; Message says why a
	// sign-in failed.
	Status    string
	Message   string
	ExpiresAt time.Time
	CreatedAt time.Time
}

// Job kinds and statuses.
const (
	JobResubmit = "resubmit"
	JobCancel   = "cancel"

	JobQueued    = "queued"
	JobRunning   = "running"
	JobSucceeded = "succeeded"
	JobFailed    = "failed"
)

// Job is a bulk operation over runs (resubmit or cancel) worked in the
// background: its filter and cursor are stored so that it resumes after a
// restart without doing a run twice.
type Job struct {
	ID      int64  `json:"id"`
	OwnerID int64  `json:"owner_id"`
	Kind    string `json:"kind"`
	// Params holds the filter and options, as JSON.
	Params json.RawMessage `json:"params"`
	Status string          `json:"status"`
	// Cursor is the id of the last run handled; runs are walked by id.
	Cursor     int64      `json:"-"`
	Total      int        `json:"total"`
	Done       int        `json:"done"`
	Failed     int        `json:"failed"`
	Error      string     `json:"error"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	FinishedAt *time.Time `json:"finished_at"`
}

// JobProgress is what a job worker records after a page of runs.
type JobProgress struct {
	Cursor int64
	Total  int
	Done   int
	Failed int
	// Status, when final, finishes the job.
	Status string
	Error  string
}

// JobStore keeps bulk jobs.
type JobStore interface {
	// CreateJob queues a job.
	CreateJob(ctx context.Context, j Job) (Job, error)
	// GetJob returns a job.
	GetJob(ctx context.Context, id int64) (Job, error)
	// ClaimJob leases the oldest queued job, or a running one whose lease
	// expired, to owner; ErrNotFound when there is none.
	ClaimJob(ctx context.Context, owner string, now, leaseUntil time.Time) (Job, error)
	// UpdateJob records progress of a job the owner holds, extending its
	// lease; ErrLeaseLost if it does not hold it.
	UpdateJob(ctx context.Context, owner string, id int64, p JobProgress, leaseUntil time.Time) error
}

// Store is everything Sluice keeps. Every method takes a context and
// returns ErrNotFound, ErrConflict or ErrLeaseLost (possibly wrapped) in the
// cases they name.
type Store interface {
	ConnectionStore
	JobStore
	NotifyStore
	AccountStore
	SessionStore
	Transfer
	HelpStore

	// FlowsHealth returns, for each of the flows (by id, in no order),
	// its newest run and how many of its runs created at or after since
	// failed. It costs one indexed lookup per flow (runs by flow and id,
	// runs by flow, status and creation time), never a scan of the runs.
	FlowsHealth(ctx context.Context, flowIDs []int64, since time.Time) ([]FlowHealth, error)

	// Close releases the database.
	Close() error

	// CreateUser adds a user; ErrConflict if the email is taken.
	CreateUser(ctx context.Context, u User) (User, error)
	// GetUser returns the user with that id.
	GetUser(ctx context.Context, id int64) (User, error)
	// GetUserByEmail returns the user with that email (case-insensitive).
	GetUserByEmail(ctx context.Context, email string) (User, error)
	// ListUsers returns every user, by id.
	ListUsers(ctx context.Context) ([]User, error)
	// CountUsers returns how many users exist.
	CountUsers(ctx context.Context) (int, error)

	// CreateToken stores a token's hash for a user.
	CreateToken(ctx context.Context, t Token) (Token, error)
	// GetTokenByHash returns the token with that hash and its user, and
	// records that it was used. It returns expired tokens and disabled
	// users too, so that the caller can say why it refuses them.
	GetTokenByHash(ctx context.Context, hash []byte) (Token, User, error)
	// ListTokens returns a user's tokens.
	ListTokens(ctx context.Context, userID int64) ([]Token, error)
	// DeleteToken removes a user's token; ErrNotFound if the user has no
	// token with that id.
	DeleteToken(ctx context.Context, userID, id int64) error

	// CreateFlow adds a flow with its first version; ErrConflict if the
	// owner already has a flow with that name.
	CreateFlow(ctx context.Context, f NewFlow) (Flow, error)
	// AddFlowVersion saves a new version of a flow and returns the flow.
	AddFlowVersion(ctx context.Context, v NewFlowVersion) (Flow, error)
	// GetFlow returns the flow with that id.
	GetFlow(ctx context.Context, id int64) (Flow, error)
	// GetFlowByName returns the owner's flow with that name.
	GetFlowByName(ctx context.Context, ownerID int64, name string) (Flow, error)
	// GetFlowByWebhookToken returns the flow whose webhook URL carries the
	// token.
	GetFlowByWebhookToken(ctx context.Context, token string) (Flow, error)
	// ListFlows returns flows by id.
	ListFlows(ctx context.Context, f FlowFilter) ([]Flow, error)
	// SetFlowEnabled turns a flow on or off.
	SetFlowEnabled(ctx context.Context, id int64, enabled bool) (Flow, error)
	// TurnOffFlow turns an enabled flow off only if it was not changed
	// since updatedAt, and reports whether it did: of several nodes that
	// find a flow failing, one turns it off and tells its owner.
	TurnOffFlow(ctx context.Context, id int64, updatedAt time.Time) (bool, error)
	// DeleteFlow removes a flow, its versions and its runs.
	DeleteFlow(ctx context.Context, id int64) error
	// GetFlowVersion returns one version of a flow.
	GetFlowVersion(ctx context.Context, flowID int64, version int) (FlowVersion, error)
	// ListFlowVersions returns a flow's versions, newest first.
	ListFlowVersions(ctx context.Context, flowID int64) ([]FlowVersion, error)

	// DueSchedules returns the enabled flows whose schedule is due at now.
	DueSchedules(ctx context.Context, now time.Time) ([]Schedule, error)
	// NextScheduleAt returns the earliest schedule time of an enabled flow;
	// ErrNotFound if there is none.
	NextScheduleAt(ctx context.Context) (time.Time, error)
	// FireSchedule, in one transaction, moves the flow's schedule from
	// expected to next and creates the run. It returns fired=false, and
	// creates nothing, if another node fired it first.
	FireSchedule(ctx context.Context, flowID int64, expected, next time.Time, run NewRun) (fired bool, r Run, err error)

	// CreateRun commits a new run (the accepted trigger). With Dedupe it
	// may return an existing run instead, with existing=true.
	CreateRun(ctx context.Context, r NewRun) (Run, error)
	// ReserveRunID returns a run id that no run has and no other call
	// returns, for a run worked before it is committed: the engine works
	// a fresh run at once, and expressions may read its id (run.id)
	// before SaveNewRun writes it. An id reserved but never written is a
	// gap.
	ReserveRunID(ctx context.Context) (int64, error)
	// SaveNewRun commits, in one transaction, a run that this node worked
	// before the store knew it: the run with nr.ID (from ReserveRunID),
	// leased to nr.LeaseOwner until nr.LeaseUntil, its first nr.Steps and,
	// with nr.Finish, its end and the event that reports a failure. A run
	// that finishes before its first commit is thus written once instead
	// of once created, once per flush and once finished. ErrConflict if a
	// run has that id; more than StepChunk steps are refused.
	SaveNewRun(ctx context.Context, nr NewRun) error
	// ResubmitRun is CreateRun for a resubmission: it honours Dedupe and
	// CopySucceeded, and reports whether it returned an existing run.
	ResubmitRun(ctx context.Context, r NewRun) (run Run, existing bool, err error)
	// GetRun returns a run.
	GetRun(ctx context.Context, id int64) (Run, error)
	// ListRuns returns runs, newest first.
	ListRuns(ctx context.Context, f RunFilter) ([]Run, error)
	// CountRuns counts the runs a filter keeps, ignoring its limit.
	CountRuns(ctx context.Context, f RunFilter) (int, error)
	// ListSteps returns a run's steps in the order they were first recorded.
	ListSteps(ctx context.Context, runID int64) ([]Step, error)
	// ListStepsAfter returns up to limit (all when limit is 0) of a run's
	// steps whose Seq is above afterSeq, in the order they were first
	// recorded: a page of a long run's steps.
	ListStepsAfter(ctx context.Context, runID, afterSeq int64, limit int) ([]Step, error)
	// ClaimRuns leases up to limit due queued or waiting runs to owner and
	// marks them running.
	ClaimRuns(ctx context.Context, owner string, now, leaseUntil time.Time, limit int) ([]Run, error)
	// ExtendLeases pushes the lease of the owner's running runs to until.
	ExtendLeases(ctx context.Context, owner string, ids []int64, until time.Time) error
	// RescueRuns re-queues running runs whose lease expired before now, or,
	// when all is true, every running run (on a single-node store at
	// start-up). It returns how many it re-queued.
	RescueRuns(ctx context.Context, now time.Time, all bool) (int, error)
	// NextDueAt returns the earliest next_attempt_at of queued or waiting
	// runs; ErrNotFound if there is none.
	NextDueAt(ctx context.Context) (time.Time, error)
	// Wakeups returns a channel that receives a value soon after a run
	// is queued, re-queued, parked or otherwise made due, by any node
	// sharing the store, until ctx ends; wake-ups may merge and may come
	// without a due run, and the channel is never closed. Its first value
	// comes once it listens, so that a caller who looks for due runs then
	// misses none made due in between. The engine's
	// poller waits on it, so that a run queued on one node starts at once
	// on another. PostgreSQL answers with LISTEN/NOTIFY on a connection of
	// its own (reconnecting when it fails, with a wake-up once it is
	// back); SQLite, which one process holds, answers locally.
	Wakeups(ctx context.Context) <-chan struct{}
	// SaveSteps records step results of a run the owner holds, in
	// transactions of at most StepChunk steps, and the step it is at (an
	// empty currentStep keeps the one recorded); ErrLeaseLost if it does
	// not hold it any more.
	SaveSteps(ctx context.Context, owner string, runID int64, currentStep string, steps []Step) error
	// ParkRun releases a run the owner holds until at (status waiting),
	// writing steps first (see StepChunk); ErrLeaseLost if it does not
	// hold it.
	ParkRun(ctx context.Context, owner string, runID int64, at time.Time, steps []Step) error
	// SaveRunUsage records what a run the owner holds has spent
	// (replacing the recorded usage); ErrLeaseLost if it does not hold
	// it.
	SaveRunUsage(ctx context.Context, owner string, runID int64, u RunUsage) error
	// FinishRun records a run's final status, writing fin.Steps first
	// (see StepChunk); ErrLeaseLost if the owner does not hold it.
	FinishRun(ctx context.Context, owner string, runID int64, fin RunFinish) error
	// CancelRun cancels a run that has not finished; it returns the run
	// as it is after the call (a finished run is returned unchanged).
	CancelRun(ctx context.Context, id int64) (Run, error)
	// PruneRuns deletes finished runs created before the time, with their
	// steps, and returns how many it deleted.
	PruneRuns(ctx context.Context, before time.Time) (int, error)
	// SetRunInputs replaces the stored input of runs (by id) in one short
	// transaction; a run deleted meanwhile is skipped. It is for redacting
	// inputs in place, a chunk at a time.
	SetRunInputs(ctx context.Context, inputs map[int64]json.RawMessage) error
}
