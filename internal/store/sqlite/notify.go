package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluice/sluice/internal/store"
)

var _ store.NotifyStore = (*Store)(nil)

// addEvent records an event inside the transaction of the change it
// reports.
func addEvent(ctx context.Context, tx *wtx, kind string, runID, connID int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO events (kind, run_id, connection_id, created_at) VALUES (?, ?, ?, ?)`, kind, runID, connID, nanos(time.Now()))
	if err != nil {
		return fmt.Errorf("add %s event: %w", kind, err)
	}
	return nil
}

// ClaimEvents leases up to limit events, oldest first.
func (s *Store) ClaimEvents(ctx context.Context, now, leaseUntil time.Time, limit int) ([]store.Event, error) {
	var out []store.Event
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, `UPDATE events SET claimed_until = ?, attempts = attempts + 1 WHERE id IN `+
			`(SELECT id FROM events WHERE claimed_until IS NULL OR claimed_until <= ? ORDER BY id LIMIT ?) `+
			`RETURNING id, kind, COALESCE(run_id, 0), COALESCE(connection_id, 0), created_at, attempts`, nanos(leaseUntil), nanos(now), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e store.Event
			var at int64
			if err := rows.Scan(&e.ID, &e.Kind, &e.RunID, &e.ConnectionID, &at, &e.Attempts); err != nil {
				return err
			}
			e.CreatedAt = fromNanos(at)
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claim events: %w", err)
	}
	// RETURNING gives no order guarantee.
	slices.SortFunc(out, func(a, b store.Event) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// AckEvents removes handled events.
func (s *Store) AckEvents(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		for chunk := range chunks(ids, 500) {
			args := make([]any, len(chunk))
			for i, id := range chunk {
				args[i] = id
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM events WHERE id IN (?`+strings.Repeat(`, ?`, len(chunk)-1)+`)`, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("acknowledge events: %w", err)
	}
	return nil
}

// insertNote adds a notification: user_id, kind, title, body, flow_id,
// run_id, connection_id, created_at.
const insertNote = `INSERT INTO notifications (user_id, kind, title, body, flow_id, run_id, connection_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

// insertMail queues a message: recipients, subject, text_body,
// html_body, kind, next_attempt_at, created_at.
const insertMail = `INSERT INTO outbox (recipients, subject, text_body, html_body, kind, status, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)`

const noteCols = `id, user_id, kind, title, body, COALESCE(flow_id, 0), COALESCE(run_id, 0), COALESCE(connection_id, 0), read_at, created_at`

func scanNote(row interface{ Scan(...any) error }) (store.Notification, error) {
	var n store.Notification
	var read sql.NullInt64
	var created int64
	if err := row.Scan(&n.ID, &n.UserID, &n.Kind, &n.Title, &n.Body, &n.FlowID, &n.RunID, &n.ConnectionID, &read, &created); err != nil {
		return store.Notification{}, err
	}
	n.ReadAt, n.CreatedAt = fromNull(read), fromNanos(created)
	return n, nil
}

// nullID stores a zero id as NULL.
func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// AddNotification adds an entry to a user's feed.
func (s *Store) AddNotification(ctx context.Context, n store.Notification) (store.Notification, error) {
	if n.CreatedAt.IsZero() {
		n.CreatedAt = time.Now().UTC()
	}
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		res, err := tx.ExecContext(ctx, insertNote,
			n.UserID, n.Kind, n.Title, n.Body, nullID(n.FlowID), nullID(n.RunID), nullID(n.ConnectionID), nanos(n.CreatedAt))
		if err != nil {
			return err
		}
		n.ID, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return store.Notification{}, fmt.Errorf("add notification for user %d: %w", n.UserID, err)
	}
	return n, nil
}

// ListNotifications returns a user's feed, newest first.
func (s *Store) ListNotifications(ctx context.Context, userID int64, unreadOnly bool, limit int) ([]store.Notification, error) {
	if limit <= 0 {
		limit = 50
	}
	q := `SELECT ` + noteCols + ` FROM notifications WHERE user_id = ?`
	if unreadOnly {
		q += ` AND read_at IS NULL`
	}
	rows, err := s.query(ctx, q+` ORDER BY id DESC LIMIT ?`, userID, limit)
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	defer rows.Close()
	var out []store.Notification
	for rows.Next() {
		n, err := scanNote(rows)
		if err != nil {
			return nil, fmt.Errorf("list notifications: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	return out, nil
}

// CountUnread returns how many of a user's notifications are unread.
func (s *Store) CountUnread(ctx context.Context, userID int64) (int, error) {
	var n int
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM notifications WHERE user_id = ? AND read_at IS NULL`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count unread notifications: %w", err)
	}
	return n, nil
}

// MarkRead marks a user's notifications read.
func (s *Store) MarkRead(ctx context.Context, userID int64, ids []int64) error {
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		q, args := `UPDATE notifications SET read_at = ? WHERE user_id = ? AND read_at IS NULL`, []any{nanos(time.Now()), userID}
		if len(ids) > 0 {
			q += ` AND id IN (?` + strings.Repeat(`, ?`, len(ids)-1) + `)`
			for _, id := range ids {
				args = append(args, id)
			}
		}
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("mark notifications read: %w", err)
	}
	return nil
}

const mailCols = `id, recipients, subject, text_body, html_body, kind, status, attempts, last_error, message_id, next_attempt_at, created_at, sent_at`

func scanMail(row interface{ Scan(...any) error }) (store.Mail, error) {
	var m store.Mail
	var to string
	var next, created int64
	var sent sql.NullInt64
	if err := row.Scan(&m.ID, &to, &m.Subject, &m.Text, &m.HTML, &m.Kind, &m.Status, &m.Attempts, &m.LastError, &m.MessageID, &next, &created, &sent); err != nil {
		return store.Mail{}, err
	}
	if err := json.Unmarshal([]byte(to), &m.To); err != nil {
		return store.Mail{}, fmt.Errorf("read recipients of mail %d: %w", m.ID, err)
	}
	m.NextAttemptAt, m.CreatedAt, m.SentAt = fromNanos(next), fromNanos(created), fromNull(sent)
	return m, nil
}

// EnqueueMail puts a message in the outbox.
func (s *Store) EnqueueMail(ctx context.Context, m store.Mail) (store.Mail, error) {
	if len(m.To) == 0 {
		return store.Mail{}, errors.New("enqueue mail: no recipient")
	}
	to, err := json.Marshal(m.To)
	if err != nil {
		return store.Mail{}, fmt.Errorf("enqueue mail: %w", err)
	}
	now := time.Now().UTC()
	m.Status, m.CreatedAt, m.NextAttemptAt = store.MailQueued, now, now
	err = s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		res, err := tx.ExecContext(ctx, insertMail,
			string(to), m.Subject, m.Text, m.HTML, m.Kind, nanos(now), nanos(now))
		if err != nil {
			return err
		}
		m.ID, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return store.Mail{}, fmt.Errorf("enqueue mail %q: %w", m.Subject, err)
	}
	return m, nil
}

// listMail runs a mail query.
func (s *Store) listMail(ctx context.Context, q string, args ...any) ([]store.Mail, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Mail
	for rows.Next() {
		m, err := scanMail(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// ClaimMail leases up to limit queued messages due at now until
// leaseUntil, those due longest first, in one write transaction: the one
// writer makes concurrent claimers take turns, so they never share one.
func (s *Store) ClaimMail(ctx context.Context, now, leaseUntil time.Time, limit int) ([]store.Mail, error) {
	var out []store.Mail
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		out = out[:0]
		ids, err := queryIDs(ctx, tx, `SELECT id FROM outbox WHERE status = 'queued' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`, nanos(now), limit)
		if err != nil {
			return err
		}
		for _, id := range ids {
			m, err := scanMail(tx.QueryRowContext(ctx, `UPDATE outbox SET next_attempt_at = ? WHERE id = ? RETURNING `+mailCols, nanos(leaseUntil), id))
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim mail: %w", err)
	}
	return out, nil
}

// ListMail returns the outbox, newest first, optionally by status.
func (s *Store) ListMail(ctx context.Context, status string, limit int) ([]store.Mail, error) {
	if limit <= 0 {
		limit = 50
	}
	q, args := `SELECT `+mailCols+` FROM outbox`, []any{}
	if status != "" {
		q, args = q+` WHERE status = ?`, append(args, status)
	}
	out, err := s.listMail(ctx, q+` ORDER BY id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list mail: %w", err)
	}
	return out, nil
}

// MarkMailSent records a delivery. A message already sent is not sent
// twice: the update only applies to a queued message.
func (s *Store) MarkMailSent(ctx context.Context, id int64, messageID string, at time.Time) error {
	return s.mailUpdate(ctx, id, `UPDATE outbox SET status = 'sent', attempts = attempts + 1, message_id = ?, sent_at = ?, last_error = '' WHERE id = ? AND status = 'queued'`, messageID, nanos(at), id)
}

// MarkMailRetry records a failed attempt; a zero next gives up.
func (s *Store) MarkMailRetry(ctx context.Context, id int64, lastError string, next time.Time) error {
	if next.IsZero() {
		return s.mailUpdate(ctx, id, `UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ? AND status = 'queued'`, lastError, id)
	}
	return s.mailUpdate(ctx, id, `UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ? AND status = 'queued'`, lastError, nanos(next), id)
}

func (s *Store) mailUpdate(ctx context.Context, id int64, q string, args ...any) error {
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		return execOne(ctx, tx, q, args...)
	})
	if err != nil {
		return fmt.Errorf("update mail %d: %w", id, err)
	}
	return nil
}

// CountAlert adds one failure of a flow's problem to its alert.
func (s *Store) CountAlert(ctx context.Context, flowID int64, step, code string, runID int64, at time.Time) error {
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO alerts (flow_id, step, code, first_failed_at, pending, latest_run_id) VALUES (?, ?, ?, ?, 1, ?) `+
			`ON CONFLICT (flow_id, step, code) DO UPDATE SET pending = alerts.pending + 1, latest_run_id = MAX(alerts.latest_run_id, excluded.latest_run_id), `+
			`first_failed_at = CASE WHEN alerts.pending = 0 THEN excluded.first_failed_at ELSE alerts.first_failed_at END`,
			flowID, step, code, nanos(at), runID)
		return err
	})
	if err != nil {
		return fmt.Errorf("count alert of flow %d: %w", flowID, err)
	}
	return nil
}

// QueueAlertMail queues a repair-tip email and marks its alerts sent,
// once.
func (s *Store) QueueAlertMail(ctx context.Context, m store.Mail, alerts []store.Alert, at time.Time) (bool, error) {
	return s.queueAlertMail(ctx, m, alerts, at, nil)
}

// LastDigest returns when a user was last sent a repair digest.
func (s *Store) LastDigest(ctx context.Context, userID int64) (time.Time, error) {
	var at int64
	err := s.queryRow(ctx, `SELECT last_sent_at FROM digests WHERE user_id = ?`, userID).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, fmt.Errorf("last digest of user %d: %w", userID, store.ErrNotFound)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("last digest of user %d: %w", userID, err)
	}
	return fromNanos(at), nil
}

// QueueDigestMail queues a repair digest and records it as the user's
// last, once per period.
func (s *Store) QueueDigestMail(ctx context.Context, userID int64, period time.Duration, m store.Mail, alerts []store.Alert, at time.Time) (bool, error) {
	return s.queueAlertMail(ctx, m, alerts, at, func(ctx context.Context, tx *wtx, taken error) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO digests (user_id, last_sent_at) VALUES (?, ?) `+
			`ON CONFLICT (user_id) DO UPDATE SET last_sent_at = excluded.last_sent_at WHERE digests.last_sent_at <= ?`,
			userID, nanos(at), nanos(at.Add(-period)))
		if err != nil {
			return err
		}
		return changed(res, taken)
	})
}

// queueAlertMail queues a repair email and marks its alerts sent, in one
// transaction that claim, when set, runs first; claim or an alert marked
// sent since it was read returns taken, and nothing is queued.
func (s *Store) queueAlertMail(ctx context.Context, m store.Mail, alerts []store.Alert, at time.Time, claim func(ctx context.Context, tx *wtx, taken error) error) (bool, error) {
	if len(m.To) == 0 {
		return false, errors.New("queue alert mail: no recipient")
	}
	to, err := json.Marshal(m.To)
	if err != nil {
		return false, fmt.Errorf("queue alert mail: %w", err)
	}
	errTaken := errors.New("alert already sent")
	err = s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		if claim != nil {
			if err := claim(ctx, tx, errTaken); err != nil {
				return err
			}
		}
		for _, a := range alerts {
			res, err := tx.ExecContext(ctx, `UPDATE alerts SET pending = MAX(pending - ?, 0), last_sent_at = ? `+
				`WHERE flow_id = ? AND step = ? AND code = ? AND last_sent_at IS ?`, a.Pending, nanos(at), a.FlowID, a.Step, a.Code, nullNanos(a.LastSentAt))
			if err != nil {
				return err
			}
			if err := changed(res, errTaken); err != nil {
				return err
			}
		}
		now := nanos(time.Now())
		_, err := tx.ExecContext(ctx, insertMail,
			string(to), m.Subject, m.Text, m.HTML, m.Kind, now, now)
		return err
	})
	if errors.Is(err, errTaken) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("queue alert mail %q: %w", m.Subject, err)
	}
	return true, nil
}

// DueAlerts returns alerts with pending failures whose last email is older
// than window.
func (s *Store) DueAlerts(ctx context.Context, now time.Time, window time.Duration) ([]store.Alert, error) {
	rows, err := s.query(ctx, `SELECT flow_id, step, code, first_failed_at, pending, latest_run_id, last_sent_at FROM alerts WHERE pending > 0 AND (last_sent_at IS NULL OR last_sent_at <= ?) ORDER BY first_failed_at`,
		nanos(now.Add(-window)))
	if err != nil {
		return nil, fmt.Errorf("due alerts: %w", err)
	}
	defer rows.Close()
	var out []store.Alert
	for rows.Next() {
		var a store.Alert
		var first int64
		var sent sql.NullInt64
		if err := rows.Scan(&a.FlowID, &a.Step, &a.Code, &first, &a.Pending, &a.LatestRunID, &sent); err != nil {
			return nil, fmt.Errorf("due alerts: %w", err)
		}
		a.FirstFailedAt, a.LastSentAt = fromNanos(first), fromNull(sent)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("due alerts: %w", err)
	}
	return out, nil
}

// AlertSent takes the reported failures off an alert's pending count.
// Failures counted while the email was being written stay pending for the
// next window.
func (s *Store) AlertSent(ctx context.Context, flowID int64, step, code string, sent int, at time.Time) error {
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		_, err := tx.ExecContext(ctx, `UPDATE alerts SET pending = MAX(pending - ?, 0), last_sent_at = ? WHERE flow_id = ? AND step = ? AND code = ?`, sent, nanos(at), flowID, step, code)
		return err
	})
	if err != nil {
		return fmt.Errorf("alert sent for flow %d: %w", flowID, err)
	}
	return nil
}

// ListProblems groups the root causes of failed runs by flow, step and
// diagnosis code, most recently seen first. Steps without a diagnosis code
// are left out: the engine records no code for a step whose failure is a
// consequence of the root cause. The groups are formed on the steps' fault
// columns; only the title of each group's latest step is read from its
// error JSON.
func (s *Store) ListProblems(ctx context.Context, pf store.ProblemFilter) ([]store.Problem, error) {
	where, args := []string{`s.error_code IS NOT NULL`, `s.status IN ('failed', 'timed_out')`}, []any{}
	limit := pf.Limit
	if limit <= 0 {
		limit = 100
	}
	// The failed steps are read from the covering steps_flow_problems
	// index, which holds each step's flow and run creation time
	// (error_flow_id, error_run_created_at, set by the writes of steps,
	// see stepsRun) in group order: a flow's problems are one range of
	// it, and no run is read, however many failures a flow has. The
	// owner's flows come first (CROSS JOIN keeps SQLite to that order).
	// They then come out of the loop in the order of the owner's flow
	// names (flows (owner_id, name), unique), each flow's in group order:
	// grouping by the name first lets SQLite group them as they come
	// instead of sorting them all (the name is the flow's: the groups are
	// the same).
	from, group := `steps s`, `s.error_flow_id, s.action_id, s.error_code`
	if pf.OwnerID != 0 {
		from, group = `flows f CROSS JOIN steps s ON s.error_flow_id = f.id`, `f.name, `+group
		where, args = append(where, `f.owner_id = ?`), append(args, pf.OwnerID)
	}
	if pf.FlowID != 0 {
		where, args = append(where, `s.error_flow_id = ?`), append(args, pf.FlowID)
	}
	if !pf.Since.IsZero() {
		where, args = append(where, `s.error_run_created_at >= ?`), append(args, nanos(pf.Since))
	}
	at := `COALESCE(s.finished_at, s.error_run_created_at)`
	// The title and whether the problem is ongoing are read in an outer
	// query, for the groups kept only: SQLite refuses an aggregate of the
	// outer query inside a subquery.
	q := `SELECT g.flow_id, f.name, f.owner_id, g.step, g.code, g.class, ` +
		`(SELECT CASE WHEN json_valid(t.error) THEN json_extract(t.error, '$.diagnosis.title') END FROM steps t ` +
		`WHERE t.run_id = g.latest AND t.action_id = g.step AND t.error_code = g.code LIMIT 1), ` +
		`g.n, g.first_seen, g.last_seen, g.latest, ` +
		`NOT EXISTS (SELECT 1 FROM runs ok WHERE ok.flow_id = g.flow_id AND ok.status = 'succeeded' AND ok.id > g.latest) FROM (` +
		`SELECT s.error_flow_id AS flow_id, s.action_id AS step, s.error_code AS code, MAX(s.error_class) AS class, COUNT(*) AS n, ` +
		`MIN(` + at + `) AS first_seen, MAX(` + at + `) AS last_seen, MAX(s.run_id) AS latest ` +
		`FROM ` + from + ` WHERE ` + strings.Join(where, ` AND `) +
		` GROUP BY ` + group + ` ORDER BY last_seen DESC, s.error_flow_id, s.action_id, s.error_code LIMIT ?) g ` +
		`JOIN flows f ON f.id = g.flow_id ORDER BY g.last_seen DESC, g.flow_id, g.step, g.code`
	rows, err := s.query(ctx, q, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list problems: %w", err)
	}
	defer rows.Close()
	var out []store.Problem
	for rows.Next() {
		var p store.Problem
		var class, title sql.NullString
		var first, last int64
		if err := rows.Scan(&p.FlowID, &p.FlowName, &p.OwnerID, &p.Step, &p.Code, &class, &title, &p.Count, &first, &last, &p.LatestRun, &p.Ongoing); err != nil {
			return nil, fmt.Errorf("list problems: %w", err)
		}
		p.Class, p.Title, p.FirstSeen, p.LastSeen = class.String, title.String, fromNanos(first), fromNanos(last)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list problems: %w", err)
	}
	return out, nil
}

// ListProblemRuns returns the failures of one problem, newest run first.
func (s *Store) ListProblemRuns(ctx context.Context, f store.ProblemRunFilter) ([]store.ProblemRun, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	q := `SELECT r.id, r.status, MAX(COALESCE(s.finished_at, r.created_at)) FROM runs r JOIN steps s ON s.run_id = r.id ` +
		`WHERE r.flow_id = ? AND r.created_at >= ? AND s.action_id = ? AND s.status IN ('failed', 'timed_out') AND s.error_code = ? ` +
		`GROUP BY r.id ORDER BY r.id DESC LIMIT ?`
	return list(ctx, s, "list problem runs", func(row interface{ Scan(...any) error }) (store.ProblemRun, error) {
		var pr store.ProblemRun
		var at int64
		err := row.Scan(&pr.RunID, &pr.Status, &at)
		pr.At = fromNanos(at)
		return pr, err
	}, q, f.FlowID, nanos(f.Since), f.Step, f.Code, limit)
}

// GetUserSettings returns a user's settings (defaults when unset).
func (s *Store) GetUserSettings(ctx context.Context, userID int64) (store.UserSettings, error) {
	st := store.UserSettings{RepairEmails: "immediately"}
	err := s.queryRow(ctx, `SELECT repair_emails FROM user_settings WHERE user_id = ?`, userID).Scan(&st.RepairEmails)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return store.UserSettings{}, fmt.Errorf("get settings of user %d: %w", userID, err)
	}
	return st, nil
}

// SetUserSettings replaces a user's settings.
func (s *Store) SetUserSettings(ctx context.Context, userID int64, st store.UserSettings) error {
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO user_settings (user_id, repair_emails) VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET repair_emails = excluded.repair_emails`, userID, st.RepairEmails)
		return err
	})
	if err != nil {
		return fmt.Errorf("set settings of user %d: %w", userID, err)
	}
	return nil
}

// GetFlowSettings returns a flow's settings.
func (s *Store) GetFlowSettings(ctx context.Context, flowID int64) (store.FlowSettings, error) {
	var st store.FlowSettings
	if err := s.queryRow(ctx, `SELECT repair_emails FROM flows WHERE id = ?`, flowID).Scan(&st.RepairEmails); err != nil {
		return store.FlowSettings{}, notFound(err, fmt.Sprintf("get settings of flow %d", flowID))
	}
	return st, nil
}

// SetFlowSettings replaces a flow's settings.
func (s *Store) SetFlowSettings(ctx context.Context, flowID int64, st store.FlowSettings) error {
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		return execOne(ctx, tx, `UPDATE flows SET repair_emails = ? WHERE id = ?`, st.RepairEmails, flowID)
	})
	if err != nil {
		return fmt.Errorf("set settings of flow %d: %w", flowID, err)
	}
	return nil
}
