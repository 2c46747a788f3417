package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice/sluice/internal/store"
)

// CreateSession stores a new session and deletes the idle ones.
func (s *Store) CreateSession(ctx context.Context, ss store.Session) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE idle_until < $1`, ss.CreatedAt.UTC()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO sessions (hash, user_id, created_at, expires_at, idle_until) VALUES ($1, $2, $3, $4::timestamptz, LEAST($5::timestamptz, $4::timestamptz))`,
			ss.Hash, ss.UserID, ss.CreatedAt.UTC(), ss.ExpiresAt.UTC(), ss.IdleUntil.UTC())
		return err
	})
	return wrap(err, "create session")
}

// GetSession returns the session with that hash and its user.
func (s *Store) GetSession(ctx context.Context, hash []byte) (store.Session, store.User, error) {
	var (
		ss store.Session
		u  store.User
	)
	err := s.pool.QueryRow(ctx, `SELECT s.hash, s.user_id, s.created_at, s.expires_at, s.idle_until, `+
		`u.id, u.email, u.name, u.password_hash, u.role, u.created_at, u.disabled_at FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.hash = $1`, hash).
		Scan(&ss.Hash, &ss.UserID, &ss.CreatedAt, &ss.ExpiresAt, &ss.IdleUntil, &u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.Role, &u.CreatedAt, &u.DisabledAt)
	if err != nil {
		return store.Session{}, store.User{}, wrap(err, "get session")
	}
	ss.CreatedAt, ss.ExpiresAt, ss.IdleUntil = utc(ss.CreatedAt), utc(ss.ExpiresAt), utc(ss.IdleUntil)
	u.CreatedAt, u.DisabledAt = utc(u.CreatedAt), utcPtr(u.DisabledAt)
	return ss, u, nil
}

// ExtendSession moves a session's idle end, capped at its absolute end.
func (s *Store) ExtendSession(ctx context.Context, hash []byte, idleUntil time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE sessions SET idle_until = LEAST($1, expires_at) WHERE hash = $2`, idleUntil.UTC(), hash)
	if err == nil && tag.RowsAffected() == 0 {
		err = pgx.ErrNoRows
	}
	return wrap(err, "extend session")
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE hash = $1`, hash)
	return wrap(err, "delete session")
}

// FlowsHealth returns each flow's newest run and its failures since a
// time: the newest run is a probe of runs_flow (flow_id, id), the count
// a range of runs_flow_failed (flow_id, created_at) where failed.
func (s *Store) FlowsHealth(ctx context.Context, flowIDs []int64, since time.Time) ([]store.FlowHealth, error) {
	if len(flowIDs) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT f.id, r.id, r.status, r.created_at, `+
		`(SELECT COUNT(*) FROM runs c WHERE c.flow_id = f.id AND c.status = 'failed' AND c.created_at >= $1) `+
		`FROM flows f LEFT JOIN runs r ON r.id = (SELECT MAX(x.id) FROM runs x WHERE x.flow_id = f.id) `+
		`WHERE f.id = ANY($2)`, since.UTC(), flowIDs)
	out, err := collect(rows, err, func(row rowScanner) (store.FlowHealth, error) {
		var (
			h      store.FlowHealth
			runID  *int64
			status *string
			at     *time.Time
		)
		if err := row.Scan(&h.FlowID, &runID, &status, &at, &h.Failed); err != nil {
			return h, err
		}
		if runID != nil {
			h.LastRunID, h.LastStatus, h.LastRunAt = *runID, *status, at.UTC()
		}
		return h, nil
	})
	return out, wrap(err, "flows health")
}
