package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// CreateSession stores a new session and deletes the idle ones.
func (s *Store) CreateSession(ctx context.Context, ss store.Session) error {
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE idle_until < ?`, nanos(ss.CreatedAt)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (hash, user_id, created_at, expires_at, idle_until) VALUES (?, ?, ?, ?, ?)`,
			ss.Hash, ss.UserID, nanos(ss.CreatedAt), nanos(ss.ExpiresAt), nanos(minTime(ss.IdleUntil, ss.ExpiresAt)))
		return err
	})
	if err != nil {
		return fmt.Errorf("create session of user %d: %w", ss.UserID, err)
	}
	return nil
}

// GetSession returns the session with that hash and its user.
func (s *Store) GetSession(ctx context.Context, hash []byte) (store.Session, store.User, error) {
	var (
		ss                          store.Session
		u                           store.User
		created, expires, idle, uAt int64
		disabled                    sql.NullInt64
	)
	err := s.queryRow(ctx, `SELECT s.hash, s.user_id, s.created_at, s.expires_at, s.idle_until, `+
		`u.id, u.email, u.name, u.password_hash, u.role, u.created_at, u.disabled_at FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.hash = ?`, hash).
		Scan(&ss.Hash, &ss.UserID, &created, &expires, &idle, &u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.Role, &uAt, &disabled)
	if err != nil {
		return store.Session{}, store.User{}, notFound(err, "get session")
	}
	ss.CreatedAt, ss.ExpiresAt, ss.IdleUntil = fromNanos(created), fromNanos(expires), fromNanos(idle)
	u.CreatedAt, u.DisabledAt = fromNanos(uAt), fromNull(disabled)
	return ss, u, nil
}

// ExtendSession moves a session's idle end, capped at its absolute end.
func (s *Store) ExtendSession(ctx context.Context, hash []byte, idleUntil time.Time) error {
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		return execOne(ctx, tx, `UPDATE sessions SET idle_until = MIN(?, expires_at) WHERE hash = ?`, nanos(idleUntil), hash)
	})
	if err != nil {
		return fmt.Errorf("extend session: %w", err)
	}
	return nil
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE hash = ?`, hash)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// FlowsHealth returns each flow's newest run and its failures since a
// time: the newest run is a probe of runs_flow (flow_id, id), the count
// a range of runs_flow_failed (flow_id, created_at) where failed.
func (s *Store) FlowsHealth(ctx context.Context, flowIDs []int64, since time.Time) ([]store.FlowHealth, error) {
	if len(flowIDs) == 0 {
		return nil, nil
	}
	args := []any{nanos(since)}
	for _, id := range flowIDs {
		args = append(args, id)
	}
	q := `SELECT f.id, r.id, r.status, r.created_at, ` +
		`(SELECT COUNT(*) FROM runs c WHERE c.flow_id = f.id AND c.status = 'failed' AND c.created_at >= ?) ` +
		`FROM flows f LEFT JOIN runs r ON r.id = (SELECT MAX(x.id) FROM runs x WHERE x.flow_id = f.id) ` +
		`WHERE f.id IN (?` + strings.Repeat(`, ?`, len(flowIDs)-1) + `)`
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("flows health: %w", err)
	}
	defer rows.Close()
	var out []store.FlowHealth
	for rows.Next() {
		var (
			h      store.FlowHealth
			runID  sql.NullInt64
			status sql.NullString
			at     sql.NullInt64
		)
		if err := rows.Scan(&h.FlowID, &runID, &status, &at, &h.Failed); err != nil {
			return nil, fmt.Errorf("flows health: %w", err)
		}
		h.LastRunID, h.LastStatus = runID.Int64, status.String
		if at.Valid {
			h.LastRunAt = fromNanos(at.Int64)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("flows health: %w", err)
	}
	return out, nil
}

// minTime returns the earlier of two times.
func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
