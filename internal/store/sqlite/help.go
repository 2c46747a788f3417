package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// ReplaceHelpIndex replaces the help index with docs in one transaction.
func (s *Store) ReplaceHelpIndex(ctx context.Context, docs []store.HelpDoc) error {
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM help_index`); err != nil {
			return err
		}
		for _, d := range docs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO help_index (key, title, terms, body) VALUES (?, ?, ?, ?)`, d.Key, d.Title, d.Terms, d.Body); err != nil {
				return fmt.Errorf("%s: %w", d.Key, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("replace help index: %w", err)
	}
	return nil
}

// SearchHelp ranks the documents holding any of terms with FTS5's bm25,
// the title weighing 10, the terms 5 and the body 1.
func (s *Store) SearchHelp(ctx context.Context, terms []string, limit int) ([]store.HelpHit, error) {
	words, limit := store.HelpQuery(terms, limit)
	if len(words) == 0 {
		return nil, nil
	}
	// Each word is quoted: FTS5 still stems it, and no word is read as
	// an operator.
	match := `"` + strings.Join(words, `" OR "`) + `"`
	rows, err := s.query(ctx, `SELECT key, bm25(help_index, 0, 10, 5, 1) AS r FROM help_index WHERE help_index MATCH ? ORDER BY r, key LIMIT ?`, match, limit)
	if err != nil {
		return nil, fmt.Errorf("search help: %w", err)
	}
	defer rows.Close()
	var out []store.HelpHit
	for rows.Next() {
		var h store.HelpHit
		if err := rows.Scan(&h.Key, &h.Score); err != nil {
			return nil, fmt.Errorf("search help: %w", err)
		}
		h.Score = -h.Score // bm25 is lower for better matches
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search help: %w", err)
	}
	return out, nil
}

// supportCols are the columns scanSupport reads.
const supportCols = `q.id, q.user_id, u.email, q.problem_type, q.category, q.description, q.run_id, q.status, q.answer, q.answered_by, q.answered_at, q.closed_at, q.created_at`

// supportFrom joins a request with its asker.
const supportFrom = ` FROM support_requests q JOIN users u ON u.id = q.user_id`

func scanSupport(row interface{ Scan(...any) error }) (store.SupportRequest, error) {
	var r store.SupportRequest
	var run, by, answered, closed sql.NullInt64
	var created int64
	if err := row.Scan(&r.ID, &r.UserID, &r.UserEmail, &r.ProblemType, &r.Category, &r.Description, &run, &r.Status, &r.Answer, &by, &answered, &closed, &created); err != nil {
		return store.SupportRequest{}, err
	}
	r.RunID, r.AnsweredBy = idPtr(run), idPtr(by)
	r.AnsweredAt, r.ClosedAt, r.CreatedAt = timePtr(answered), timePtr(closed), fromNanos(created)
	return r, nil
}

func idPtr(n sql.NullInt64) *int64 {
	if !n.Valid {
		return nil
	}
	return &n.Int64
}

func timePtr(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}

// CreateSupportRequest records a new open request.
func (s *Store) CreateSupportRequest(ctx context.Context, r store.SupportRequest) (store.SupportRequest, error) {
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now()
	}
	var id int64
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO support_requests (user_id, problem_type, category, description, run_id, status, created_at) VALUES (?, ?, ?, ?, ?, 'open', ?)`,
			r.UserID, r.ProblemType, r.Category, r.Description, r.RunID, nanos(r.CreatedAt))
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return store.SupportRequest{}, fmt.Errorf("create support request of user %d: %w", r.UserID, err)
	}
	return s.GetSupportRequest(ctx, id)
}

// GetSupportRequest returns a request.
func (s *Store) GetSupportRequest(ctx context.Context, id int64) (store.SupportRequest, error) {
	r, err := scanSupport(s.queryRow(ctx, `SELECT `+supportCols+supportFrom+` WHERE q.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.SupportRequest{}, fmt.Errorf("get support request %d: %w", id, err)
	}
	return r, nil
}

// ListSupportRequests returns requests, newest first.
func (s *Store) ListSupportRequests(ctx context.Context, f store.SupportFilter) ([]store.SupportRequest, error) {
	where, args := []string{`1 = 1`}, []any{}
	if f.UserID != 0 {
		where, args = append(where, `q.user_id = ?`), append(args, f.UserID)
	}
	if f.Status != "" {
		where, args = append(where, `q.status = ?`), append(args, f.Status)
	}
	if f.BeforeID != 0 {
		where, args = append(where, `q.id < ?`), append(args, f.BeforeID)
	}
	rows, err := s.query(ctx, `SELECT `+supportCols+supportFrom+` WHERE `+strings.Join(where, ` AND `)+` ORDER BY q.id DESC LIMIT ?`, append(args, store.SupportLimit(f.Limit))...)
	if err != nil {
		return nil, fmt.Errorf("list support requests: %w", err)
	}
	defer rows.Close()
	var out []store.SupportRequest
	for rows.Next() {
		r, err := scanSupport(rows)
		if err != nil {
			return nil, fmt.Errorf("list support requests: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list support requests: %w", err)
	}
	return out, nil
}

// AnswerSupportRequest records an answer and tells the asker, in one
// transaction.
func (s *Store) AnswerSupportRequest(ctx context.Context, id int64, a store.SupportAnswer) (store.SupportRequest, error) {
	to, err := json.Marshal(a.Mail.To)
	if err != nil {
		return store.SupportRequest{}, fmt.Errorf("answer support request %d: %w", id, err)
	}
	err = s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		var status string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM support_requests WHERE id = ?`, id).Scan(&status); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return store.ErrNotFound
			}
			return err
		}
		if status == store.SupportClosed {
			return fmt.Errorf("the request is closed: %w", store.ErrConflict)
		}
		at := nanos(a.At)
		if _, err := tx.ExecContext(ctx, `UPDATE support_requests SET status = 'answered', answer = ?, answered_by = ?, answered_at = ? WHERE id = ?`, a.Answer, a.By, at, id); err != nil {
			return err
		}
		n := a.Note
		if _, err := tx.ExecContext(ctx, insertNote, n.UserID, n.Kind, n.Title, n.Body, nullID(n.FlowID), nullID(n.RunID), nullID(n.ConnectionID), at); err != nil {
			return err
		}
		if len(a.Mail.To) == 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, insertMail, string(to), a.Mail.Subject, a.Mail.Text, a.Mail.HTML, a.Mail.Kind, at, at)
		return err
	})
	if err != nil {
		return store.SupportRequest{}, fmt.Errorf("answer support request %d: %w", id, err)
	}
	return s.GetSupportRequest(ctx, id)
}

// CloseSupportRequest closes a request.
func (s *Store) CloseSupportRequest(ctx context.Context, id int64, at time.Time) (store.SupportRequest, error) {
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE support_requests SET status = 'closed', closed_at = COALESCE(closed_at, ?) WHERE id = ?`, nanos(at), id)
		if err != nil {
			return err
		}
		return changed(res, store.ErrNotFound)
	})
	if err != nil {
		return store.SupportRequest{}, fmt.Errorf("close support request %d: %w", id, err)
	}
	return s.GetSupportRequest(ctx, id)
}
