package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice/sluice/internal/store"
)

// helpIndexLock is the advisory lock that serializes rebuilds of the
// help index.
const helpIndexLock = `hashtext('sluice.help_index.' || current_schema())`

// ReplaceHelpIndex replaces the help index with docs in one transaction:
// each document's title weighs A, its terms B and its body D.
func (s *Store) ReplaceHelpIndex(ctx context.Context, docs []store.HelpDoc) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// Nodes starting together rebuild it one after the other: without
		// the lock, the second's DELETE would not see the first's rows
		// and its INSERTs would collide with them.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(`+helpIndexLock+`)`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM help_index`); err != nil {
			return err
		}
		b := &pgx.Batch{}
		for _, d := range docs {
			b.Queue(`INSERT INTO help_index (key, doc) VALUES ($1, `+
				`setweight(to_tsvector('english', $2), 'A') || setweight(to_tsvector('english', $3), 'B') || setweight(to_tsvector('english', $4), 'D'))`,
				d.Key, d.Title, d.Terms, d.Body)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("replace help index: %w", err)
	}
	return nil
}

// SearchHelp ranks the documents holding any of terms with ts_rank.
func (s *Store) SearchHelp(ctx context.Context, terms []string, limit int) ([]store.HelpHit, error) {
	words, limit := store.HelpQuery(terms, limit)
	if len(words) == 0 {
		return nil, nil
	}
	// The words are letters and digits only, so " | " joins them into a
	// tsquery without any quoting; stop words drop out of it.
	rows, err := s.pool.Query(ctx, `SELECT key, ts_rank(doc, q) AS r FROM help_index, to_tsquery('english', $1) q `+
		`WHERE doc @@ q ORDER BY r DESC, key LIMIT $2`, strings.Join(words, " | "), limit)
	out, err := collect(rows, err, func(row rowScanner) (store.HelpHit, error) {
		var h store.HelpHit
		var r float32
		err := row.Scan(&h.Key, &r)
		h.Score = float64(r)
		return h, err
	})
	if err != nil {
		return nil, wrap(err, "search help")
	}
	return out, nil
}

// supportCols are the columns scanSupport reads.
const supportCols = `q.id, q.user_id, u.email, q.problem_type, q.category, q.description, q.run_id, q.status, q.answer, q.answered_by, q.answered_at, q.closed_at, q.created_at`

// supportFrom joins a request with its asker.
const supportFrom = ` FROM support_requests q JOIN users u ON u.id = q.user_id`

func scanSupport(row rowScanner) (store.SupportRequest, error) {
	var r store.SupportRequest
	if err := row.Scan(&r.ID, &r.UserID, &r.UserEmail, &r.ProblemType, &r.Category, &r.Description, &r.RunID, &r.Status, &r.Answer, &r.AnsweredBy, &r.AnsweredAt, &r.ClosedAt, &r.CreatedAt); err != nil {
		return store.SupportRequest{}, err
	}
	r.AnsweredAt, r.ClosedAt, r.CreatedAt = utcPtr(r.AnsweredAt), utcPtr(r.ClosedAt), utc(r.CreatedAt)
	return r, nil
}

// CreateSupportRequest records a new open request.
func (s *Store) CreateSupportRequest(ctx context.Context, r store.SupportRequest) (store.SupportRequest, error) {
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now()
	}
	var id int64
	err := s.pool.QueryRow(ctx, `INSERT INTO support_requests (user_id, problem_type, category, description, run_id, status, created_at) VALUES ($1, $2, $3, $4, $5, 'open', $6) RETURNING id`,
		r.UserID, r.ProblemType, r.Category, r.Description, r.RunID, r.CreatedAt.UTC()).Scan(&id)
	if err != nil {
		return store.SupportRequest{}, wrap(err, fmt.Sprintf("create support request of user %d", r.UserID))
	}
	return s.GetSupportRequest(ctx, id)
}

// GetSupportRequest returns a request.
func (s *Store) GetSupportRequest(ctx context.Context, id int64) (store.SupportRequest, error) {
	r, err := scanSupport(s.pool.QueryRow(ctx, `SELECT `+supportCols+supportFrom+` WHERE q.id = $1`, id))
	if err != nil {
		return store.SupportRequest{}, wrap(err, fmt.Sprintf("get support request %d", id))
	}
	return r, nil
}

// ListSupportRequests returns requests, newest first.
func (s *Store) ListSupportRequests(ctx context.Context, f store.SupportFilter) ([]store.SupportRequest, error) {
	where, args := []string{`true`}, []any{}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.UserID != 0 {
		add(`q.user_id = $%d`, f.UserID)
	}
	if f.Status != "" {
		add(`q.status = $%d`, f.Status)
	}
	if f.BeforeID != 0 {
		add(`q.id < $%d`, f.BeforeID)
	}
	args = append(args, store.SupportLimit(f.Limit))
	rows, err := s.pool.Query(ctx, `SELECT `+supportCols+supportFrom+` WHERE `+strings.Join(where, ` AND `)+fmt.Sprintf(` ORDER BY q.id DESC LIMIT $%d`, len(args)), args...)
	out, err := collect(rows, err, scanSupport)
	if err != nil {
		return nil, wrap(err, "list support requests")
	}
	return out, nil
}

// AnswerSupportRequest records an answer and tells the asker, in one
// transaction.
func (s *Store) AnswerSupportRequest(ctx context.Context, id int64, a store.SupportAnswer) (store.SupportRequest, error) {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var status string
		if err := tx.QueryRow(ctx, `SELECT status FROM support_requests WHERE id = $1 FOR UPDATE`, id).Scan(&status); err != nil {
			return err
		}
		if status == store.SupportClosed {
			return fmt.Errorf("the request is closed: %w", store.ErrConflict)
		}
		at := a.At.UTC()
		if _, err := tx.Exec(ctx, `UPDATE support_requests SET status = 'answered', answer = $1, answered_by = $2, answered_at = $3 WHERE id = $4`, a.Answer, a.By, at, id); err != nil {
			return err
		}
		n := a.Note
		if _, err := tx.Exec(ctx, insertNote, n.UserID, n.Kind, n.Title, n.Body, nullID(n.FlowID), nullID(n.RunID), nullID(n.ConnectionID), at); err != nil {
			return err
		}
		if len(a.Mail.To) == 0 {
			return nil
		}
		_, err := tx.Exec(ctx, insertMail, a.Mail.To, a.Mail.Subject, a.Mail.Text, a.Mail.HTML, a.Mail.Kind, at)
		return err
	})
	if err != nil {
		return store.SupportRequest{}, wrap(err, fmt.Sprintf("answer support request %d", id))
	}
	return s.GetSupportRequest(ctx, id)
}

// CloseSupportRequest closes a request.
func (s *Store) CloseSupportRequest(ctx context.Context, id int64, at time.Time) (store.SupportRequest, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE support_requests SET status = 'closed', closed_at = COALESCE(closed_at, $1) WHERE id = $2`, at.UTC(), id)
	if err == nil && tag.RowsAffected() == 0 {
		err = pgx.ErrNoRows
	}
	if err != nil {
		return store.SupportRequest{}, wrap(err, fmt.Sprintf("close support request %d", id))
	}
	return s.GetSupportRequest(ctx, id)
}
