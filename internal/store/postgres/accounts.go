package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice/sluice/internal/store"
)

// SetUserDisabled disables or re-enables a user and returns it; a
// disable also deletes the user's sessions in the same transaction.
func (s *Store) SetUserDisabled(ctx context.Context, id int64, disabled bool) (store.User, error) {
	q := `UPDATE users SET disabled_at = NULL WHERE id = $1 RETURNING ` + userCols
	args := []any{id}
	if disabled {
		q = `UPDATE users SET disabled_at = COALESCE(disabled_at, $2) WHERE id = $1 RETURNING ` + userCols
		args = append(args, time.Now().UTC())
	}
	var u store.User
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if u, err = scanUser(tx.QueryRow(ctx, q, args...)); err != nil || !disabled {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, id)
		return err
	})
	if err != nil {
		return store.User{}, wrap(err, fmt.Sprintf("set user %d disabled=%t", id, disabled))
	}
	return u, nil
}

// SetUserPassword replaces a user's password hash and deletes the user's
// tokens and sessions in the same transaction.
func (s *Store) SetUserPassword(ctx context.Context, id int64, hash string) (int, error) {
	var revoked int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $1 WHERE id = $2`, hash, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return pgx.ErrNoRows
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, id); err != nil {
			return err
		}
		tag, err = tx.Exec(ctx, `DELETE FROM tokens WHERE user_id = $1`, id)
		revoked = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, wrap(err, fmt.Sprintf("set password of user %d", id))
	}
	return int(revoked), nil
}

// ReserveAttempt counts one sign-in attempt against key. The key's row is
// locked (SELECT ... FOR UPDATE) for the transaction, so that attempts on
// every node are counted one after the other.
func (s *Store) ReserveAttempt(ctx context.Context, key string, now time.Time, l store.AttemptLimit) (store.AttemptState, bool, error) {
	var (
		out     store.AttemptState
		allowed bool
	)
	now = now.UTC()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// A fresh key has count 0 and a zero last_at, which Reserve treats
		// as idle.
		if _, err := tx.Exec(ctx, `INSERT INTO sign_in_attempts (key, count, last_at, forget_at) VALUES ($1, 0, 'epoch', 'epoch') ON CONFLICT (key) DO NOTHING`, key); err != nil {
			return err
		}
		var (
			prev   store.AttemptState
			locked *time.Time
		)
		if err := tx.QueryRow(ctx, `SELECT count, last_at, locked_until FROM sign_in_attempts WHERE key = $1 FOR UPDATE`, key).
			Scan(&prev.Count, &prev.LastAt, &locked); err != nil {
			return err
		}
		if prev.Count == 0 {
			prev.LastAt = time.Time{}
		}
		if locked != nil {
			prev.LockedUntil = *locked
		}
		out, allowed = l.Reserve(prev, now)
		if !allowed {
			return nil
		}
		if out.Count == 1 {
			// A key starts (again): forget the keys past their time,
			// skipping rows another attempt holds, so that two pruning
			// transactions never wait for each other.
			if _, err := tx.Exec(ctx, `DELETE FROM sign_in_attempts WHERE key IN (SELECT key FROM sign_in_attempts `+
				`WHERE key <> $1 AND forget_at < $2 FOR UPDATE SKIP LOCKED)`, key, now); err != nil {
				return err
			}
		}
		var lockedUntil *time.Time
		if !out.LockedUntil.IsZero() {
			lockedUntil = &out.LockedUntil
		}
		_, err := tx.Exec(ctx, `UPDATE sign_in_attempts SET count = $2, last_at = $3, locked_until = $4, forget_at = $5 WHERE key = $1`,
			key, out.Count, out.LastAt, lockedUntil, l.ForgetAt(out))
		return err
	})
	if err != nil {
		return store.AttemptState{}, false, wrap(err, "reserve sign-in attempt")
	}
	return out, allowed, nil
}

// ClearAttempts forgets key's attempts.
func (s *Store) ClearAttempts(ctx context.Context, key string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM sign_in_attempts WHERE key = $1`, key); err != nil {
		return wrap(err, "clear sign-in attempts")
	}
	return nil
}
