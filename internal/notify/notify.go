// Package notify tells people about failures: it turns the events the
// store writes with every failed run and broken connection into entries of
// their owners' notification feeds, throttled repair-tip emails (one per
// flow and problem per window, or an hourly or daily digest), and turns
// off flows that have failed for too long. Mail goes through the outbox:
// it is composed into the store first and delivered by a separate loop
// that retries with backoff, so nothing is lost while the SMTP server is
// down.
//
// Delivery is at least once: a crash between the SMTP server accepting a
// message and the outbox recording it sends it again on restart, with the
// same Message-ID (derived from the outbox id), so that mail clients can
// tell it is the same message.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sluice/sluice/internal/mail"
	"github.com/sluice/sluice/internal/store"
)

// Mail kinds written to the outbox, so that admins reading it see why
// each message was sent.
const (
	MailRepairTip        = "repair_tip"
	MailRepairDigest     = "repair_digest"
	MailConnectionBroken = "connection_broken"
	MailFlowTurnedOff    = "flow_turned_off"
)

const (
	repairNever       = "never"
	repairHourly      = "hourly"
	repairDaily       = "daily"
	eventBatch        = 100
	maxEventTries     = 5
	eventLease        = time.Minute
	disableCheckEvery = time.Hour
	sendTimeout       = 2 * time.Minute
	shutdownGrace     = 10 * time.Second
	recordTimeout     = 10 * time.Second
	// mailLease is how long a claimed outbox message stays this sender's:
	// its send, the grace a shutdown gives it and the recording of its
	// outcome fit in it, with room to spare. A sender that dies mid-send
	// leaves the message to be sent again once the lease ends.
	mailLease   = sendTimeout + shutdownGrace + recordTimeout + 2*time.Minute
	firstRetry  = 30 * time.Second
	maxRetry    = time.Hour
	giveUpAfter = 3 * 24 * time.Hour
	holdAtMost  = 5 * time.Minute
)

// Off, set as a duration of Config that allows it (Grace, DisableAfter),
// turns that setting off. It is negative, so that the zero value keeps
// meaning the default.
const Off time.Duration = -1

// Defaults of Config, each in this one place: the server's configuration,
// the flag help and the README refer to them.
const (
	// DefaultWindow is the least time between two repair-tip emails about
	// one flow and problem by default.
	DefaultWindow = time.Hour
	// DefaultGrace is how long the first repair-tip email about a problem
	// waits after its first failure by default.
	DefaultGrace = 30 * time.Second
	// DefaultDisableAfter is how long a flow's runs must all have failed
	// for it to be turned off, by default.
	DefaultDisableAfter = 14 * 24 * time.Hour
	// DefaultLinkTTL is how long links in emails work by default.
	DefaultLinkTTL = 7 * 24 * time.Hour
	// DefaultPoll is how often the notifier looks for work by default.
	DefaultPoll = time.Second
)

// Config configures a Notifier.
type Config struct {
	// Store keeps events, the feed, the outbox and alerts. Required.
	Store store.Store
	// Mailer delivers the outbox. Defaults to nil: mail waits in the
	// outbox, where admins can read it.
	Mailer mail.Sender
	// From is the sender address of the emails. Defaults to "", which
	// lets the Mailer use its own (the from= of SLUICE_SMTP_URL).
	From string
	// BaseURL is the server's public URL, which links in emails start
	// with, such as "https://sluice.example.com". Required.
	BaseURL string
	// Key signs the links in emails (see LinkKey); at least 32 bytes.
	// Required.
	Key []byte
	// Logger receives what the notifier does. Defaults to slog.Default().
	Logger *slog.Logger
	// Window is the least time between two repair-tip emails about the
	// same flow and problem; failures in between are counted into the
	// next. Defaults to DefaultWindow.
	Window time.Duration
	// Grace is how long the first email about a problem waits after its
	// first failure, so that a burst of failures is reported in one email
	// with its full count instead of one email saying 1 and another an
	// hour later. Defaults to DefaultGrace; Off (any negative value)
	// sends it at once.
	Grace time.Duration
	// DisableAfter turns off a flow whose runs have all failed for that
	// long. Defaults to DefaultDisableAfter; Off (any negative value)
	// never turns flows off.
	DisableAfter time.Duration
	// LinkTTL is how long links in emails work. Defaults to
	// DefaultLinkTTL.
	LinkTTL time.Duration
	// Poll is how often the notifier looks for events, due alerts and due
	// mail. Defaults to DefaultPoll.
	Poll time.Duration
	// Now tells the time; tests set it. Defaults to time.Now.
	Now func() time.Time
}

func (c *Config) validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("notify: Store is required"))
	}
	if len(c.Key) < 32 {
		errs = append(errs, fmt.Errorf("notify: Key has %d bytes, want at least 32", len(c.Key)))
	}
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("notify: BaseURL %q must be an absolute http or https URL", c.BaseURL))
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.Grace == 0 {
		c.Grace = DefaultGrace
	}
	if c.DisableAfter == 0 {
		c.DisableAfter = DefaultDisableAfter
	}
	if c.LinkTTL <= 0 {
		c.LinkTTL = DefaultLinkTTL
	}
	if c.Poll <= 0 {
		c.Poll = DefaultPoll
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	return errors.Join(errs...)
}

// Notifier works the notification loops; build it with New and start it
// with Run.
type Notifier struct {
	cfg Config
	st  store.Store
	log *slog.Logger

	mu sync.Mutex
	// hold is when to look again at a flow's alerts that wait for their
	// owner's next digest, so that every pass does not reload them.
	hold             map[int64]time.Time
	lastDisableCheck time.Time
}

// New returns a Notifier, or an error naming every missing or wrong
// setting.
func New(cfg Config) (*Notifier, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Notifier{
		cfg: cfg, st: cfg.Store, log: cfg.Logger,
		hold: map[int64]time.Time{},
	}, nil
}

// Run works the loops until ctx ends: one handles events, repair-tip
// emails and the hourly auto-disable check; the other delivers the outbox,
// so that a slow SMTP server never delays the feed. It returns nil when
// ctx ends; errors of one pass are logged and the next pass tries again.
func (n *Notifier) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { n.loop(ctx, "notify", n.notifyPass) })
	if n.cfg.Mailer != nil {
		wg.Go(func() { n.loop(ctx, "deliver", n.DeliverDue) })
	} else {
		n.log.Info("no SMTP server configured: emails wait in the outbox")
	}
	wg.Wait()
	return nil
}

func (n *Notifier) loop(ctx context.Context, name string, pass func(context.Context) error) {
	t := time.NewTicker(n.cfg.Poll)
	defer t.Stop()
	for {
		if err := pass(ctx); err != nil && ctx.Err() == nil {
			n.log.Error("notifier pass failed", "loop", name, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// notifyPass handles new events, sends due repair-tip emails and, once an
// hour, turns off flows that keep failing.
func (n *Notifier) notifyPass(ctx context.Context) error {
	err := errors.Join(n.HandleEvents(ctx), n.SendAlerts(ctx))
	if n.cfg.DisableAfter > 0 {
		now := n.cfg.Now()
		if n.lastDisableCheck.IsZero() || now.Sub(n.lastDisableCheck) >= disableCheckEvery {
			if derr := n.DisableFailing(ctx); derr != nil {
				err = errors.Join(err, derr)
			} else {
				n.lastDisableCheck = now
			}
		}
	}
	return err
}

// HandleEvents claims the store's events and acts on them: a failed run
// is counted into its problems' alerts and added to its owner's feed; a
// broken connection is added to its owner's feed and emailed once. An
// event is acknowledged (removed) only once handled; one whose handling
// failed, or whose notifier died, comes back when its lease ends, up to 5
// times.
func (n *Notifier) HandleEvents(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	for {
		now := time.Now()
		events, err := n.st.ClaimEvents(ctx, now, now.Add(eventLease), eventBatch)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		var done []int64
		for _, ev := range events {
			err := n.handle(ctx, ev)
			switch {
			case err == nil:
				done = append(done, ev.ID)
			case ev.Attempts >= maxEventTries:
				n.log.Error("giving up on event", "event", ev.ID, "kind", ev.Kind, "run", ev.RunID, "connection", ev.ConnectionID, "attempts", ev.Attempts, "err", err)
				done = append(done, ev.ID)
			default:
				errs = append(errs, err)
			}
		}
		if err := n.st.AckEvents(ctx, done); err != nil {
			errs = append(errs, err)
		}
		if len(events) < eventBatch {
			return errors.Join(errs...)
		}
	}
}

func (n *Notifier) handle(ctx context.Context, ev store.Event) error {
	switch ev.Kind {
	case store.EventRunFailed:
		return n.runFailed(ctx, ev)
	case store.EventConnectionBroken:
		return n.connectionBroken(ctx, ev)
	}
	n.log.Warn("unknown event kind", "event", ev.ID, "kind", ev.Kind)
	return nil
}

// runFailed counts a failed run into the alert of each of its problems
// and tells its owner in the feed.
func (n *Notifier) runFailed(ctx context.Context, ev store.Event) error {
	run, err := n.st.GetRun(ctx, ev.RunID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // pruned or deleted with its flow since
	}
	if err != nil {
		return fmt.Errorf("run %d failed: %w", ev.RunID, err)
	}
	flow, err := n.st.GetFlow(ctx, run.FlowID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("run %d failed: %w", ev.RunID, err)
	}
	fails, _, err := RunFailures(ctx, n.st, run.ID)
	if err != nil {
		return fmt.Errorf("run %d failed: %w", ev.RunID, err)
	}
	// One problem per run, its root cause: a catch and a finally that
	// failed after it are consequences and neither counted nor emailed.
	f, after := RootCause(fails)
	at := ev.CreatedAt
	if run.FinishedAt != nil {
		at = *run.FinishedAt
	}
	if err := n.st.CountAlert(ctx, flow.ID, f.Step, f.Code, run.ID, at); err != nil {
		return fmt.Errorf("run %d failed: %w", run.ID, err)
	}
	owner, err := n.st.GetUser(ctx, flow.OwnerID)
	if err != nil {
		return fmt.Errorf("run %d failed: %w", run.ID, err)
	}
	if !told(owner) {
		return nil
	}
	title := fmt.Sprintf("%s failed: %s", flow.Name, f.Title)
	body := fmt.Sprintf("Run %d failed at step %s. %s", run.ID, f.Step, f.WhatHappened) + consequences(after)
	return n.addNote(ctx, store.Notification{UserID: flow.OwnerID, Kind: store.NoteRunFailed, Title: title, Body: body, FlowID: flow.ID, RunID: run.ID, CreatedAt: at}, true)
}

// consequences is the sentence that names the steps that failed as a
// consequence of a run's root cause, or nothing.
func consequences(after []Failure) string {
	if len(after) == 0 {
		return ""
	}
	names := make([]string, 0, min(len(after), 5))
	for _, f := range after[:min(len(after), 5)] {
		names = append(names, f.Step)
	}
	if len(after) > 5 {
		names = append(names, fmt.Sprintf("%d more", len(after)-5))
	}
	return " As a consequence, " + strings.Join(names, ", ") + " failed too."
}

// told reports whether the notifier tells a user anything. A user an
// admin disabled gets no email, digest or feed entry: the address may be
// a departed employee's, and the account can read nothing anyway. Their
// flows keep running; see docs/security.md, "Disabling a user".
func told(u store.User) bool { return u.DisabledAt == nil }

// addNote adds a notification to a user's feed. With coalesce, it adds
// nothing when the user already has an unread notification of the same
// kind, flow and title (the title names the flow and the problem): a flow
// that fails 100 times a minute shows once in the feed until its owner
// reads it, then once again at its next failure.
func (n *Notifier) addNote(ctx context.Context, note store.Notification, coalesce bool) error {
	if coalesce {
		unread, err := n.st.ListNotifications(ctx, note.UserID, true, 200)
		if err != nil {
			return fmt.Errorf("notify user %d: %w", note.UserID, err)
		}
		for _, u := range unread {
			if u.Kind == note.Kind && u.FlowID == note.FlowID && u.Title == note.Title {
				return nil
			}
		}
	}
	if _, err := n.st.AddNotification(ctx, note); err != nil {
		return fmt.Errorf("notify user %d: %w", note.UserID, err)
	}
	return nil
}

// connectionBroken tells a connection's owner, in the feed and by email
// (unless their repair emails are off), that it needs attention. The
// store writes the event once per change to needs_attention.
func (n *Notifier) connectionBroken(ctx context.Context, ev store.Event) error {
	c, err := n.st.GetConnection(ctx, ev.ConnectionID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("connection %d broken: %w", ev.ConnectionID, err)
	}
	if c.Health != store.HealthNeedsAttention {
		return nil // fixed since
	}
	owner, err := n.st.GetUser(ctx, c.OwnerID)
	if err != nil {
		return fmt.Errorf("connection %d broken: %w", c.ID, err)
	}
	if !told(owner) {
		return nil
	}
	title := fmt.Sprintf("Connection %s needs attention", c.Name)
	fix := ConnectionFixCommands(c.Name, c.Type)
	body := fmt.Sprintf("%s Update it with: %s (it reads the new secret from stdin); then resubmit the runs that failed on it with: %s",
		strings.TrimSpace(c.HealthError), fix[0], fix[2])
	// Enqueue first: a failure after it repeats the email, not loses it.
	us, err := n.st.GetUserSettings(ctx, owner.ID)
	if err != nil {
		return fmt.Errorf("connection %d broken: %w", c.ID, err)
	}
	if us.RepairEmails != repairNever {
		m, err := n.connectionMail(owner, c)
		if err != nil {
			return err
		}
		if _, err := n.st.EnqueueMail(ctx, m); err != nil {
			return fmt.Errorf("connection %d broken: %w", c.ID, err)
		}
	}
	return n.addNote(ctx, store.Notification{UserID: owner.ID, Kind: store.NoteConnectionBroken, Title: title, Body: body, ConnectionID: c.ID}, false)
}

// messageID is the Message-ID of an outbox message: the same on every
// attempt, and unique across installations through the creation time.
func (n *Notifier) messageID(m store.Mail) string {
	domain := "sluice.invalid"
	if _, d, ok := strings.Cut(n.cfg.From, "@"); ok && d != "" {
		domain = strings.TrimRight(d, "> ")
	} else if u, err := url.Parse(n.cfg.BaseURL); err == nil && u.Hostname() != "" && strings.Contains(u.Hostname(), ".") {
		domain = u.Hostname()
	}
	return fmt.Sprintf("sluice-outbox-%d-%d@%s", m.ID, m.CreatedAt.UnixNano(), domain)
}

// backoff is the wait after a message's attempts-th failed attempt: 30s,
// doubling, at most 1 hour.
func backoff(attempts int) time.Duration {
	d := firstRetry
	for i := 1; i < attempts && d < maxRetry; i++ {
		d *= 2
	}
	return min(d, maxRetry)
}

// DeliverDue sends the outbox messages that are due through the Mailer
// and records each delivery; a failed attempt is retried after 30s,
// doubling up to 1 hour, and given up (status failed) after 3 days or at
// once when the message itself is invalid. Each message is claimed with a
// lease before it is sent, so that several nodes sharing the store never
// send the same one; a message whose sender died is sent again once its
// lease ends. Without a Mailer it does nothing.
func (n *Notifier) DeliverDue(ctx context.Context) error {
	if n.cfg.Mailer == nil {
		return nil
	}
	for ctx.Err() == nil {
		// One at a time: a message waits in no sender's hands while
		// another is sent, and the lease covers one send.
		now := n.cfg.Now()
		due, err := n.st.ClaimMail(ctx, now, now.Add(mailLease), 1)
		if err != nil {
			return fmt.Errorf("deliver mail: %w", err)
		}
		if len(due) == 0 {
			return nil
		}
		if err := n.deliver(ctx, due[0]); err != nil {
			return err
		}
	}
	return nil
}

// deliver sends one message. It returns an error only when the outbox
// could not record the attempt, which stops the pass.
func (n *Notifier) deliver(ctx context.Context, m store.Mail) error {
	msg := mail.Message{
		From: n.cfg.From, To: m.To, Subject: m.Subject, Text: m.Text, HTML: m.HTML,
		Headers: map[string]string{
			"Message-ID":     "<" + n.messageID(m) + ">",
			"Auto-Submitted": "auto-generated",
			"X-Sluice-Mail":  m.Kind,
		},
	}
	// A send in flight when ctx ends gets a little longer to finish, so
	// that a message the server took is recorded as sent rather than sent
	// again after a restart.
	sendCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sendTimeout)
	stopGrace := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(shutdownGrace, cancel)
		context.AfterFunc(sendCtx, func() { t.Stop() })
	})
	id, err := n.cfg.Mailer.Send(sendCtx, msg)
	cutShort := sendCtx.Err() != nil
	stopGrace()
	cancel()
	// Record the outcome even when ctx ends now, so that a message the
	// server took is not sent again after a restart.
	rec, stop := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer stop()
	now := n.cfg.Now()
	if err == nil {
		if err := n.st.MarkMailSent(rec, m.ID, id, now); err != nil {
			return fmt.Errorf("deliver mail %d: %w", m.ID, err)
		}
		n.log.Info("mail sent", "mail", m.ID, "kind", m.Kind, "message_id", id)
		return nil
	}
	attempts := m.Attempts + 1
	next := now.Add(backoff(attempts))
	switch {
	case ctx.Err() != nil && cutShort:
		// Cut short by the shutdown: due again at once rather than when
		// its lease ends, for the next process or another node.
		next = now
	case errors.Is(err, mail.ErrInvalidMessage) || now.Sub(m.CreatedAt) >= giveUpAfter:
		next = time.Time{}
	}
	if rerr := n.st.MarkMailRetry(rec, m.ID, err.Error(), next); rerr != nil {
		return fmt.Errorf("deliver mail %d: %w", m.ID, rerr)
	}
	if next.IsZero() {
		n.log.Error("mail not delivered, giving up", "mail", m.ID, "kind", m.Kind, "attempts", attempts, "err", err)
	} else {
		n.log.Warn("mail not delivered, will retry", "mail", m.ID, "kind", m.Kind, "attempts", attempts, "next_attempt_at", next, "err", err)
	}
	return nil
}
