package store

import (
	"context"
	"time"
)

// Event kinds, written in the same transaction as the change they report
// so that no failure goes unannounced, even across a crash.
const (
	EventRunFailed        = "run_failed"
	EventConnectionBroken = "connection_broken"
)

// Event is a change the notifier must act on.
type Event struct {
	ID           int64     `json:"id"`
	Kind         string    `json:"kind"`
	RunID        int64     `json:"run_id,omitempty"`
	ConnectionID int64     `json:"connection_id,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	// Attempts counts the claims of the event, this one included.
	Attempts int `json:"attempts"`
}

// Notification kinds shown in a user's feed.
const (
	NoteRunFailed        = "run_failed"
	NoteConnectionBroken = "connection_broken"
	NoteFlowTurnedOff    = "flow_turned_off"
)

// Notification is one entry of a user's feed.
type Notification struct {
	ID           int64      `json:"id"`
	UserID       int64      `json:"user_id"`
	Kind         string     `json:"kind"`
	Title        string     `json:"title"`
	Body         string     `json:"body"`
	FlowID       int64      `json:"flow_id,omitempty"`
	RunID        int64      `json:"run_id,omitempty"`
	ConnectionID int64      `json:"connection_id,omitempty"`
	ReadAt       *time.Time `json:"read_at"`
	CreatedAt    time.Time  `json:"created_at"`
}

// Mail statuses in the outbox.
const (
	MailQueued = "queued"
	MailSent   = "sent"
	MailFailed = "failed"
)

// Mail is a message in the outbox: it waits there until the SMTP server
// takes it, so nothing is lost while that server is down.
type Mail struct {
	ID      int64    `json:"id"`
	To      []string `json:"to"`
	Subject string   `json:"subject"`
	Text    string   `json:"text"`
	HTML    string   `json:"html"`
	// Kind says why it was sent, such as repair_tip or flow_turned_off.
	Kind          string     `json:"kind"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	LastError     string     `json:"last_error"`
	MessageID     string     `json:"message_id"`
	NextAttemptAt time.Time  `json:"next_attempt_at"`
	CreatedAt     time.Time  `json:"created_at"`
	SentAt        *time.Time `json:"sent_at"`
}

// Problem is failures grouped by flow, step and diagnosis code.
type Problem struct {
	FlowID    int64     `json:"flow_id"`
	FlowName  string    `json:"flow_name"`
	OwnerID   int64     `json:"owner_id"`
	Step      string    `json:"step"`
	Code      string    `json:"code"`
	Class     string    `json:"class"`
	Title     string    `json:"title"`
	Count     int       `json:"count"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	LatestRun int64     `json:"latest_run_id"`
	// Ongoing is false once a later run of the flow succeeded.
	Ongoing bool `json:"ongoing"`
}

// ProblemFilter narrows ListProblems. Zero fields do not filter.
type ProblemFilter struct {
	OwnerID int64
	FlowID  int64
	Since   time.Time
	Limit   int
}

// ProblemRun is one failure of a problem: its run, the run's status now,
// and when the step failed.
type ProblemRun struct {
	RunID  int64     `json:"run_id"`
	Status string    `json:"status"`
	At     time.Time `json:"at"`
}

// ProblemRunFilter names a problem (a flow, a step and a diagnosis code)
// and the window of its failures.
type ProblemRunFilter struct {
	FlowID     int64
	Step, Code string
	// Since keeps runs created at or after it.
	Since time.Time
	// Limit caps the result. Defaults to 1000.
	Limit int
}

// Alert is the repair-tip state of one flow and problem: failures are
// counted into it and an email goes out at most once per window.
type Alert struct {
	FlowID int64
	Step   string
	Code   string
	// FirstFailedAt is when this problem first failed in the window
	// being counted.
	FirstFailedAt time.Time
	// Pending counts the failures not yet reported; LatestRunID is the
	// last of them.
	Pending     int
	LatestRunID int64
	LastSentAt  *time.Time
}

// UserSettings are a user's notification preferences.
type UserSettings struct {
	// RepairEmails is immediately, hourly, daily or never.
	RepairEmails string `json:"repair_emails"`
}

// FlowSettings are a flow's switches.
type FlowSettings struct {
	// RepairEmails turns the flow's repair-tip emails on or off.
	RepairEmails bool `json:"repair_emails"`
}

// NotifyStore keeps what tells people about failures: events, the
// notification feed, the outbox, alerts and settings.
type NotifyStore interface {
	// ClaimEvents leases up to limit events, oldest first, until
	// leaseUntil, and counts an attempt on each. An event that is not
	// acknowledged before its lease ends (the notifier died, or handling
	// failed) is handed out again, so no failure goes unannounced.
	ClaimEvents(ctx context.Context, now, leaseUntil time.Time, limit int) ([]Event, error)
	// AckEvents removes handled events.
	AckEvents(ctx context.Context, ids []int64) error

	// AddNotification adds an entry to a user's feed.
	AddNotification(ctx context.Context, n Notification) (Notification, error)
	// ListNotifications returns a user's feed, newest first.
	ListNotifications(ctx context.Context, userID int64, unreadOnly bool, limit int) ([]Notification, error)
	// CountUnread returns how many of a user's notifications are unread.
	CountUnread(ctx context.Context, userID int64) (int, error)
	// MarkRead marks a user's notifications read: those ids, or all when
	// ids is empty.
	MarkRead(ctx context.Context, userID int64, ids []int64) error

	// EnqueueMail puts a message in the outbox.
	EnqueueMail(ctx context.Context, m Mail) (Mail, error)
	// ClaimMail leases up to limit queued messages due at now to the
	// caller until leaseUntil, those due longest first: their next attempt
	// moves to leaseUntil, so that no other sender (another node) takes
	// them meanwhile, and a sender that dies mid-send leaves them to be
	// sent again once the lease ends. The messages are returned as
	// claimed, their NextAttemptAt being leaseUntil. Concurrent claimers
	// never get the same message.
	ClaimMail(ctx context.Context, now, leaseUntil time.Time, limit int) ([]Mail, error)
	// MarkMailSent records a delivery.
	MarkMailSent(ctx context.Context, id int64, messageID string, at time.Time) error
	// MarkMailRetry records a failed attempt and when to try again; with
	// a zero next it gives up (failed).
	MarkMailRetry(ctx context.Context, id int64, lastError string, next time.Time) error
	// ListMail returns the outbox, newest first, optionally by status.
	ListMail(ctx context.Context, status string, limit int) ([]Mail, error)

	// CountAlert adds one failure of a flow's problem to its alert.
	CountAlert(ctx context.Context, flowID int64, step, code string, runID int64, at time.Time) error
	// DueAlerts returns alerts with pending failures whose last email is
	// older than window (or that never sent one).
	DueAlerts(ctx context.Context, now time.Time, window time.Duration) ([]Alert, error)
	// AlertSent resets an alert's pending count after an email.
	AlertSent(ctx context.Context, flowID int64, step, code string, sent int, at time.Time) error
	// QueueAlertMail puts a repair-tip email in the outbox and marks its
	// alerts sent (AlertSent), in one transaction, only if no alert was
	// marked sent since it was read (its LastSentAt is unchanged). It
	// reports false, and queues nothing, when another node was first, so
	// that an email goes out once however many nodes notify.
	QueueAlertMail(ctx context.Context, m Mail, alerts []Alert, at time.Time) (bool, error)

	// LastDigest returns when a user was last sent a repair digest;
	// ErrNotFound when never.
	LastDigest(ctx context.Context, userID int64) (time.Time, error)
	// QueueDigestMail queues a repair digest to a user as QueueAlertMail
	// queues a repair-tip email, and in the same transaction records at
	// as the user's last digest, only if the user's last digest is at
	// least period older than at (or there is none). It reports false,
	// and queues nothing, when another node sent the user a digest within
	// the period or marked one of the alerts sent first, so that however
	// many nodes notify, a user gets one digest per period.
	QueueDigestMail(ctx context.Context, userID int64, period time.Duration, m Mail, alerts []Alert, at time.Time) (bool, error)

	// ListProblems groups the root causes of failed runs (failed steps
	// whose error has no "consequence", see ConsequenceContainer) by flow,
	// step and diagnosis code.
	ListProblems(ctx context.Context, f ProblemFilter) ([]Problem, error)
	// ListProblemRuns returns the failures of one problem, newest run
	// first, one per run: a range of the flow's runs (runs_flow) and
	// their failed steps.
	ListProblemRuns(ctx context.Context, f ProblemRunFilter) ([]ProblemRun, error)

	// GetUserSettings returns a user's settings (defaults when unset).
	GetUserSettings(ctx context.Context, userID int64) (UserSettings, error)
	// SetUserSettings replaces a user's settings.
	SetUserSettings(ctx context.Context, userID int64, s UserSettings) error
	// GetFlowSettings returns a flow's settings (defaults when unset).
	GetFlowSettings(ctx context.Context, flowID int64) (FlowSettings, error)
	// SetFlowSettings replaces a flow's settings.
	SetFlowSettings(ctx context.Context, flowID int64, s FlowSettings) error
}
