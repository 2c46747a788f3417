package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// SetUserDisabled disables or re-enables a user and returns it; a
// disable also deletes the user's sessions in the same transaction.
func (s *Store) SetUserDisabled(ctx context.Context, id int64, disabled bool) (store.User, error) {
	q := `UPDATE users SET disabled_at = NULL WHERE id = ?`
	args := []any{id}
	if disabled {
		q = `UPDATE users SET disabled_at = COALESCE(disabled_at, ?) WHERE id = ?`
		args = []any{nanos(time.Now()), id}
	}
	what := fmt.Sprintf("set user %d disabled=%t", id, disabled)
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		if err := execOne(ctx, tx, q, args...); err != nil || !disabled {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, id)
		return err
	})
	if err != nil {
		return store.User{}, fmt.Errorf("%s: %w", what, err)
	}
	return s.GetUser(ctx, id)
}

// SetUserPassword replaces a user's password hash and deletes the user's
// tokens and sessions in the same transaction.
func (s *Store) SetUserPassword(ctx context.Context, id int64, hash string) (int, error) {
	var revoked int64
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		if err := execOne(ctx, tx, `UPDATE users SET password_hash = ? WHERE id = ?`, hash, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE user_id = ?`, id)
		if err != nil {
			return err
		}
		revoked, err = affected(res)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("set password of user %d: %w", id, err)
	}
	return int(revoked), nil
}

// ReserveAttempt counts one sign-in attempt against key in the single
// writer's transaction, so that concurrent attempts are counted one
// after the other.
func (s *Store) ReserveAttempt(ctx context.Context, key string, now time.Time, l store.AttemptLimit) (store.AttemptState, bool, error) {
	var (
		out     store.AttemptState
		allowed bool
	)
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		var (
			prev   store.AttemptState
			last   int64
			locked sql.NullInt64
		)
		err := tx.QueryRowContext(ctx, `SELECT count, last_at, locked_until FROM sign_in_attempts WHERE key = ?`, key).Scan(&prev.Count, &last, &locked)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		default:
			prev.LastAt = fromNanos(last)
			if p := fromNull(locked); p != nil {
				prev.LockedUntil = *p
			}
		}
		out, allowed = l.Reserve(prev, now)
		if !allowed {
			return nil
		}
		if out.Count == 1 {
			// A key starts (again): forget the keys past their time.
			if _, err := tx.ExecContext(ctx, `DELETE FROM sign_in_attempts WHERE forget_at < ?`, nanos(now)); err != nil {
				return err
			}
		}
		var lockedUntil any
		if !out.LockedUntil.IsZero() {
			lockedUntil = nanos(out.LockedUntil)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO sign_in_attempts (key, count, last_at, locked_until, forget_at) VALUES (?, ?, ?, ?, ?) `+
			`ON CONFLICT (key) DO UPDATE SET count = excluded.count, last_at = excluded.last_at, locked_until = excluded.locked_until, forget_at = excluded.forget_at`,
			key, out.Count, nanos(out.LastAt), lockedUntil, nanos(l.ForgetAt(out)))
		return err
	})
	if err != nil {
		return store.AttemptState{}, false, fmt.Errorf("reserve sign-in attempt: %w", err)
	}
	return out, allowed, nil
}

// ClearAttempts forgets key's attempts.
func (s *Store) ClearAttempts(ctx context.Context, key string) error {
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM sign_in_attempts WHERE key = ?`, key)
		return err
	})
	if err != nil {
		return fmt.Errorf("clear sign-in attempts: %w", err)
	}
	return nil
}
