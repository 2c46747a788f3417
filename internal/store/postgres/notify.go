package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice/sluice/internal/store"
)

var _ store.NotifyStore = (*Store)(nil)

// addEvent records an event inside the transaction of the change it
// reports, so that the change and its announcement commit together.
func addEvent(ctx context.Context, tx pgx.Tx, kind string, runID, connID int64) error {
	_, err := tx.Exec(ctx, `INSERT INTO events (kind, run_id, connection_id, created_at) VALUES ($1, $2, $3, $4)`,
		kind, nullID(runID), nullID(connID), time.Now().UTC())
	if err != nil {
		return fmt.Errorf("add %s event: %w", kind, err)
	}
	return nil
}

// nullID stores a zero id as NULL.
func nullID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

// ClaimEvents leases up to limit events, oldest first. Rows locked by
// another claimer are skipped, so concurrent notifiers never share one.
func (s *Store) ClaimEvents(ctx context.Context, now, leaseUntil time.Time, limit int) ([]store.Event, error) {
	rows, err := s.pool.Query(ctx, `WITH claimed AS (`+
		`UPDATE events SET claimed_until = $1, attempts = attempts + 1 WHERE id IN `+
		`(SELECT id FROM events WHERE claimed_until IS NULL OR claimed_until <= $2 ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) `+
		`RETURNING id, kind, COALESCE(run_id, 0) AS run_id, COALESCE(connection_id, 0) AS connection_id, created_at, attempts`+
		`) SELECT id, kind, run_id, connection_id, created_at, attempts FROM claimed ORDER BY id`, leaseUntil.UTC(), now.UTC(), limit)
	out, err := collect(rows, err, func(row rowScanner) (store.Event, error) {
		var e store.Event
		if err := row.Scan(&e.ID, &e.Kind, &e.RunID, &e.ConnectionID, &e.CreatedAt, &e.Attempts); err != nil {
			return store.Event{}, err
		}
		e.CreatedAt = utc(e.CreatedAt)
		return e, nil
	})
	if err != nil {
		return nil, wrap(err, "claim events")
	}
	return out, nil
}

// AckEvents removes handled events.
func (s *Store) AckEvents(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM events WHERE id = ANY($1)`, ids); err != nil {
		return wrap(err, "acknowledge events")
	}
	return nil
}

const noteCols = `id, user_id, kind, title, body, COALESCE(flow_id, 0), COALESCE(run_id, 0), COALESCE(connection_id, 0), read_at, created_at`

func scanNote(row rowScanner) (store.Notification, error) {
	var n store.Notification
	if err := row.Scan(&n.ID, &n.UserID, &n.Kind, &n.Title, &n.Body, &n.FlowID, &n.RunID, &n.ConnectionID, &n.ReadAt, &n.CreatedAt); err != nil {
		return store.Notification{}, err
	}
	n.ReadAt, n.CreatedAt = utcPtr(n.ReadAt), utc(n.CreatedAt)
	return n, nil
}

// insertNote adds a notification: user_id, kind, title, body, flow_id,
// run_id, connection_id, created_at.
const insertNote = `INSERT INTO notifications (user_id, kind, title, body, flow_id, run_id, connection_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`

// insertMail queues a message due at once: recipients, subject,
// text_body, html_body, kind, and the time.
const insertMail = `INSERT INTO outbox (recipients, subject, text_body, html_body, kind, status, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, 'queued', $6, $6)`

// AddNotification adds an entry to a user's feed; a zero CreatedAt is
// now.
func (s *Store) AddNotification(ctx context.Context, n store.Notification) (store.Notification, error) {
	created := n.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	out, err := scanNote(s.pool.QueryRow(ctx, insertNote+` RETURNING `+noteCols,
		n.UserID, n.Kind, n.Title, n.Body, nullID(n.FlowID), nullID(n.RunID), nullID(n.ConnectionID), created.UTC()))
	if err != nil {
		return store.Notification{}, wrap(err, fmt.Sprintf("add notification for user %d", n.UserID))
	}
	return out, nil
}

// ListNotifications returns a user's feed, newest first, up to limit
// entries (50 when limit is not positive).
func (s *Store) ListNotifications(ctx context.Context, userID int64, unreadOnly bool, limit int) ([]store.Notification, error) {
	if limit <= 0 {
		limit = 50
	}
	q := `SELECT ` + noteCols + ` FROM notifications WHERE user_id = $1`
	if unreadOnly {
		q += ` AND read_at IS NULL`
	}
	rows, err := s.pool.Query(ctx, q+` ORDER BY id DESC LIMIT $2`, userID, limit)
	out, err := collect(rows, err, scanNote)
	if err != nil {
		return nil, wrap(err, fmt.Sprintf("list notifications of user %d", userID))
	}
	return out, nil
}

// CountUnread returns how many of a user's notifications are unread.
func (s *Store) CountUnread(ctx context.Context, userID int64) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL`, userID).Scan(&n); err != nil {
		return 0, wrap(err, fmt.Sprintf("count unread notifications of user %d", userID))
	}
	return n, nil
}

// MarkRead marks a user's unread notifications read: those ids, or all
// when ids is empty. Ids of other users' notifications are ignored, and a
// notification already read keeps the time it was first read.
func (s *Store) MarkRead(ctx context.Context, userID int64, ids []int64) error {
	q, args := `UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL`, []any{time.Now().UTC(), userID}
	if len(ids) > 0 {
		q, args = q+` AND id = ANY($3)`, append(args, ids)
	}
	_, err := s.pool.Exec(ctx, q, args...)
	return wrap(err, fmt.Sprintf("mark notifications of user %d read", userID))
}

const mailCols = `id, recipients, subject, text_body, html_body, kind, status, attempts, last_error, message_id, next_attempt_at, created_at, sent_at`

func scanMail(row rowScanner) (store.Mail, error) {
	var m store.Mail
	if err := row.Scan(&m.ID, &m.To, &m.Subject, &m.Text, &m.HTML, &m.Kind, &m.Status, &m.Attempts, &m.LastError, &m.MessageID,
		&m.NextAttemptAt, &m.CreatedAt, &m.SentAt); err != nil {
		return store.Mail{}, err
	}
	m.NextAttemptAt, m.CreatedAt, m.SentAt = utc(m.NextAttemptAt), utc(m.CreatedAt), utcPtr(m.SentAt)
	return m, nil
}

// EnqueueMail puts a message in the outbox, queued and due now.
func (s *Store) EnqueueMail(ctx context.Context, m store.Mail) (store.Mail, error) {
	if len(m.To) == 0 {
		return store.Mail{}, fmt.Errorf("enqueue mail %q: no recipient", m.Subject)
	}
	now := time.Now().UTC()
	out, err := scanMail(s.pool.QueryRow(ctx, insertMail+` RETURNING `+mailCols,
		m.To, m.Subject, m.Text, m.HTML, m.Kind, now))
	if err != nil {
		return store.Mail{}, wrap(err, fmt.Sprintf("enqueue mail %q", m.Subject))
	}
	return out, nil
}

// ClaimMail leases up to limit queued messages due at now until
// leaseUntil, those due longest first. Rows locked by another claimer are
// skipped, so concurrent senders never share one.
func (s *Store) ClaimMail(ctx context.Context, now, leaseUntil time.Time, limit int) ([]store.Mail, error) {
	rows, err := s.pool.Query(ctx, `WITH due AS (`+
		`SELECT id, next_attempt_at AS due_at FROM outbox WHERE status = 'queued' AND next_attempt_at <= $1 `+
		`ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED), `+
		`claimed AS (UPDATE outbox SET next_attempt_at = $3 FROM due WHERE outbox.id = due.id RETURNING outbox.*, due.due_at) `+
		`SELECT `+mailCols+` FROM claimed ORDER BY due_at, id`, now.UTC(), limit, leaseUntil.UTC())
	out, err := collect(rows, err, scanMail)
	if err != nil {
		return nil, wrap(err, "claim mail")
	}
	return out, nil
}

// ListMail returns the outbox, newest first, optionally by status, up to
// limit messages (50 when limit is not positive).
func (s *Store) ListMail(ctx context.Context, status string, limit int) ([]store.Mail, error) {
	if limit <= 0 {
		limit = 50
	}
	var rows pgx.Rows
	var err error
	if status != "" {
		rows, err = s.pool.Query(ctx, `SELECT `+mailCols+` FROM outbox WHERE status = $1 ORDER BY id DESC LIMIT $2`, status, limit)
	} else {
		rows, err = s.pool.Query(ctx, `SELECT `+mailCols+` FROM outbox ORDER BY id DESC LIMIT $1`, limit)
	}
	out, err := collect(rows, err, scanMail)
	if err != nil {
		return nil, wrap(err, "list mail")
	}
	return out, nil
}

// MarkMailSent records a delivery. A message already sent is not sent
// twice: the update only applies to a queued message, and the row lock
// makes the second of two concurrent calls see it sent (ErrNotFound).
func (s *Store) MarkMailSent(ctx context.Context, id int64, messageID string, at time.Time) error {
	return s.mailUpdate(ctx, id, `UPDATE outbox SET status = 'sent', attempts = attempts + 1, message_id = $1, sent_at = $2, last_error = '' WHERE id = $3 AND status = 'queued'`,
		messageID, at, id)
}

// MarkMailRetry records a failed attempt and when to try again; with a
// zero next it gives up (failed). ErrNotFound if the message is not
// queued.
func (s *Store) MarkMailRetry(ctx context.Context, id int64, lastError string, next time.Time) error {
	if next.IsZero() {
		return s.mailUpdate(ctx, id, `UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = $1 WHERE id = $2 AND status = 'queued'`, lastError, id)
	}
	return s.mailUpdate(ctx, id, `UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2 WHERE id = $3 AND status = 'queued'`, lastError, next, id)
}

// mailUpdate runs an update of one queued message; ErrNotFound when it
// changed nothing.
func (s *Store) mailUpdate(ctx context.Context, id int64, q string, args ...any) error {
	tag, err := s.pool.Exec(ctx, q, args...)
	if err == nil && tag.RowsAffected() == 0 {
		err = pgx.ErrNoRows
	}
	return wrap(err, fmt.Sprintf("update mail %d", id))
}

// CountAlert adds one failure of a flow's problem to its alert. A failure
// counted when nothing is pending opens a new window: it becomes the
// alert's first failure.
func (s *Store) CountAlert(ctx context.Context, flowID int64, step, code string, runID int64, at time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO alerts (flow_id, step, code, first_failed_at, pending, latest_run_id) VALUES ($1, $2, $3, $4, 1, $5) `+
		`ON CONFLICT (flow_id, step, code) DO UPDATE SET pending = alerts.pending + 1, latest_run_id = GREATEST(alerts.latest_run_id, excluded.latest_run_id), `+
		`first_failed_at = CASE WHEN alerts.pending = 0 THEN excluded.first_failed_at ELSE alerts.first_failed_at END`,
		flowID, step, code, at, runID)
	return wrap(err, fmt.Sprintf("count alert of flow %d", flowID))
}

// DueAlerts returns alerts with pending failures whose last email is older
// than window (or that never sent one), oldest failure first.
func (s *Store) DueAlerts(ctx context.Context, now time.Time, window time.Duration) ([]store.Alert, error) {
	rows, err := s.pool.Query(ctx, `SELECT flow_id, step, code, first_failed_at, pending, latest_run_id, last_sent_at FROM alerts `+
		`WHERE pending > 0 AND (last_sent_at IS NULL OR last_sent_at <= $1) ORDER BY first_failed_at, flow_id, step, code`, now.Add(-window))
	out, err := collect(rows, err, func(row rowScanner) (store.Alert, error) {
		var a store.Alert
		if err := row.Scan(&a.FlowID, &a.Step, &a.Code, &a.FirstFailedAt, &a.Pending, &a.LatestRunID, &a.LastSentAt); err != nil {
			return store.Alert{}, err
		}
		a.FirstFailedAt, a.LastSentAt = utc(a.FirstFailedAt), utcPtr(a.LastSentAt)
		return a, nil
	})
	if err != nil {
		return nil, wrap(err, "due alerts")
	}
	return out, nil
}

// AlertSent takes the reported failures off an alert's pending count and
// records when the email went out. Failures counted while the email was
// being written stay pending for the next window.
func (s *Store) AlertSent(ctx context.Context, flowID int64, step, code string, sent int, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE alerts SET pending = GREATEST(pending - $1, 0), last_sent_at = $2 WHERE flow_id = $3 AND step = $4 AND code = $5`,
		sent, at, flowID, step, code)
	return wrap(err, fmt.Sprintf("alert sent for flow %d", flowID))
}

// QueueAlertMail queues a repair-tip email and marks its alerts sent,
// once: the alerts' last_sent_at must still be what was read.
func (s *Store) QueueAlertMail(ctx context.Context, m store.Mail, alerts []store.Alert, at time.Time) (bool, error) {
	return s.queueAlertMail(ctx, m, alerts, at, nil)
}

// LastDigest returns when a user was last sent a repair digest.
func (s *Store) LastDigest(ctx context.Context, userID int64) (time.Time, error) {
	var at time.Time
	err := s.pool.QueryRow(ctx, `SELECT last_sent_at FROM digests WHERE user_id = $1`, userID).Scan(&at)
	if err != nil {
		return time.Time{}, wrap(err, fmt.Sprintf("last digest of user %d", userID))
	}
	return utc(at), nil
}

// QueueDigestMail queues a repair digest and records it as the user's
// last, once per period: the upsert locks the user's row, so a second
// node waits for the first and then finds the period taken.
func (s *Store) QueueDigestMail(ctx context.Context, userID int64, period time.Duration, m store.Mail, alerts []store.Alert, at time.Time) (bool, error) {
	return s.queueAlertMail(ctx, m, alerts, at, func(tx pgx.Tx, taken error) error {
		tag, err := tx.Exec(ctx, `INSERT INTO digests (user_id, last_sent_at) VALUES ($1, $2) `+
			`ON CONFLICT (user_id) DO UPDATE SET last_sent_at = excluded.last_sent_at WHERE digests.last_sent_at <= $3`,
			userID, at.UTC(), at.Add(-period).UTC())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return taken
		}
		return nil
	})
}

// queueAlertMail queues a repair email and marks its alerts sent, in one
// transaction that claim, when set, runs first; claim or an alert marked
// sent since it was read returns taken, and nothing is queued.
func (s *Store) queueAlertMail(ctx context.Context, m store.Mail, alerts []store.Alert, at time.Time, claim func(tx pgx.Tx, taken error) error) (bool, error) {
	if len(m.To) == 0 {
		return false, fmt.Errorf("queue alert mail %q: no recipient", m.Subject)
	}
	errTaken := errors.New("alert already sent")
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if claim != nil {
			if err := claim(tx, errTaken); err != nil {
				return err
			}
		}
		for _, a := range alerts {
			tag, err := tx.Exec(ctx, `UPDATE alerts SET pending = GREATEST(pending - $1, 0), last_sent_at = $2 `+
				`WHERE flow_id = $3 AND step = $4 AND code = $5 AND last_sent_at IS NOT DISTINCT FROM $6`, a.Pending, at.UTC(), a.FlowID, a.Step, a.Code, a.LastSentAt)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return errTaken
			}
		}
		now := time.Now().UTC()
		_, err := tx.Exec(ctx, insertMail, m.To, m.Subject, m.Text, m.HTML, m.Kind, now)
		return err
	})
	if errors.Is(err, errTaken) {
		return false, nil
	}
	if err != nil {
		return false, wrap(err, fmt.Sprintf("queue alert mail %q", m.Subject))
	}
	return true, nil
}

// ListProblemRuns returns the failures of one problem, newest run first.
func (s *Store) ListProblemRuns(ctx context.Context, f store.ProblemRunFilter) ([]store.ProblemRun, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	since := f.Since
	if since.IsZero() {
		since = time.Unix(0, 0)
	}
	rows, err := s.pool.Query(ctx, `SELECT r.id, r.status, MAX(COALESCE(s.finished_at, r.created_at)) FROM runs r JOIN steps s ON s.run_id = r.id `+
		`WHERE r.flow_id = $1 AND r.created_at >= $2 AND s.action_id = $3 AND s.status IN ('failed', 'timed_out') `+
		`AND s.error_code = $4 GROUP BY r.id ORDER BY r.id DESC LIMIT $5`,
		f.FlowID, since, f.Step, f.Code, limit)
	out, err := collect(rows, err, func(row rowScanner) (store.ProblemRun, error) {
		var pr store.ProblemRun
		err := row.Scan(&pr.RunID, &pr.Status, &pr.At)
		return pr, err
	})
	if err != nil {
		return nil, wrap(err, "list problem runs")
	}
	return out, nil
}

// ListProblems groups the root causes of failed runs by flow, step and
// diagnosis code, most recently seen first. Steps without a diagnosis code
// are left out: the engine records no code for a step whose failure is a
// consequence of the root cause. The groups are formed on the steps' fault
// columns; only the title of each group's latest step is read from its
// error JSON.
func (s *Store) ListProblems(ctx context.Context, pf store.ProblemFilter) ([]store.Problem, error) {
	where := []string{`s.error_code IS NOT NULL`, `s.status IN ('failed', 'timed_out')`}
	var args []any
	add := func(cond string, a any) {
		args = append(args, a)
		where = append(where, strings.ReplaceAll(cond, "$?", "$"+strconv.Itoa(len(args))))
	}
	// The failed steps are read from the covering steps_flow_problems
	// index, which holds each step's flow and run creation time
	// (error_flow_id, error_run_created_at, set by the trigger of
	// migration 0013) in group order: each flow's problems are grouped
	// from one range of it (a lateral query per flow, so that the groups
	// stream out of the index without a sort, whatever the planner
	// guesses of their number), and no run is read, however many
	// failures a flow has.
	var flows []string
	if pf.OwnerID != 0 {
		args = append(args, pf.OwnerID)
		flows = append(flows, `f.owner_id = $`+strconv.Itoa(len(args)))
	}
	if pf.FlowID != 0 {
		args = append(args, pf.FlowID)
		flows = append(flows, `f.id = $`+strconv.Itoa(len(args)))
	}
	if !pf.Since.IsZero() {
		add(`s.error_run_created_at >= $?`, pf.Since)
	}
	flowWhere := ``
	if len(flows) > 0 {
		flowWhere = ` WHERE ` + strings.Join(flows, ` AND `)
	}
	at := `COALESCE(s.finished_at, s.error_run_created_at)`
	limit := pf.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, limit)
	q := `SELECT g.flow_id, f.name, f.owner_id, g.step, g.code, g.class, ` +
		`(SELECT sluice_try_jsonb(t.error) -> 'diagnosis' ->> 'title' FROM steps t WHERE t.run_id = g.latest AND t.action_id = g.step AND t.error_code = g.code LIMIT 1), ` +
		`g.n, g.first_seen, g.last_seen, g.latest, ` +
		`NOT EXISTS (SELECT 1 FROM runs ok WHERE ok.flow_id = g.flow_id AND ok.status = 'succeeded' AND ok.id > g.latest) FROM (` +
		`SELECT p.* FROM flows f CROSS JOIN LATERAL (` +
		`SELECT s.error_flow_id AS flow_id, s.action_id AS step, s.error_code AS code, MAX(s.error_class) AS class, COUNT(*) AS n, ` +
		`MIN(` + at + `) AS first_seen, MAX(` + at + `) AS last_seen, MAX(s.run_id) AS latest ` +
		`FROM steps s WHERE s.error_flow_id = f.id AND ` + strings.Join(where, ` AND `) +
		` GROUP BY s.error_flow_id, s.action_id, s.error_code) p` + flowWhere +
		` ORDER BY p.last_seen DESC, p.flow_id, p.step, p.code LIMIT $` + strconv.Itoa(len(args)) + `) g ` +
		`JOIN flows f ON f.id = g.flow_id ORDER BY g.last_seen DESC, g.flow_id, g.step, g.code`
	rows, err := s.pool.Query(ctx, q, args...)
	out, err := collect(rows, err, func(row rowScanner) (store.Problem, error) {
		var p store.Problem
		var class, title *string
		if err := row.Scan(&p.FlowID, &p.FlowName, &p.OwnerID, &p.Step, &p.Code, &class, &title, &p.Count,
			&p.FirstSeen, &p.LastSeen, &p.LatestRun, &p.Ongoing); err != nil {
			return store.Problem{}, err
		}
		if class != nil {
			p.Class = *class
		}
		if title != nil {
			p.Title = *title
		}
		p.FirstSeen, p.LastSeen = utc(p.FirstSeen), utc(p.LastSeen)
		return p, nil
	})
	if err != nil {
		return nil, wrap(err, "list problems")
	}
	return out, nil
}

// GetUserSettings returns a user's settings (defaults when unset).
func (s *Store) GetUserSettings(ctx context.Context, userID int64) (store.UserSettings, error) {
	st := store.UserSettings{RepairEmails: "immediately"}
	err := s.pool.QueryRow(ctx, `SELECT repair_emails FROM user_settings WHERE user_id = $1`, userID).Scan(&st.RepairEmails)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return store.UserSettings{}, wrap(err, fmt.Sprintf("get settings of user %d", userID))
	}
	return st, nil
}

// SetUserSettings replaces a user's settings.
func (s *Store) SetUserSettings(ctx context.Context, userID int64, st store.UserSettings) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO user_settings (user_id, repair_emails) VALUES ($1, $2) `+
		`ON CONFLICT (user_id) DO UPDATE SET repair_emails = excluded.repair_emails`, userID, st.RepairEmails)
	return wrap(err, fmt.Sprintf("set settings of user %d", userID))
}

// GetFlowSettings returns a flow's settings; ErrNotFound if there is no
// such flow.
func (s *Store) GetFlowSettings(ctx context.Context, flowID int64) (store.FlowSettings, error) {
	var st store.FlowSettings
	if err := s.pool.QueryRow(ctx, `SELECT repair_emails FROM flows WHERE id = $1`, flowID).Scan(&st.RepairEmails); err != nil {
		return store.FlowSettings{}, wrap(err, fmt.Sprintf("get settings of flow %d", flowID))
	}
	return st, nil
}

// SetFlowSettings replaces a flow's settings; ErrNotFound if there is no
// such flow.
func (s *Store) SetFlowSettings(ctx context.Context, flowID int64, st store.FlowSettings) error {
	tag, err := s.pool.Exec(ctx, `UPDATE flows SET repair_emails = $1 WHERE id = $2`, st.RepairEmails, flowID)
	if err == nil && tag.RowsAffected() == 0 {
		err = pgx.ErrNoRows
	}
	return wrap(err, fmt.Sprintf("set settings of flow %d", flowID))
}
