package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// SetConnectionSecret replaces a connection's sealed secret if it is
// still old, leaving its health and updated_at alone.
func (s *Store) SetConnectionSecret(ctx context.Context, id int64, old, sealed []byte) (bool, error) {
	var ok bool
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE connections SET secret = ? WHERE id = ? AND secret = ?`, sealed, id, old)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 1 {
			ok = true
			return nil
		}
		var one int
		return tx.QueryRowContext(ctx, `SELECT 1 FROM connections WHERE id = ?`, id).Scan(&one)
	})
	if err != nil {
		return false, notFound(err, fmt.Sprintf("set secret of connection %d", id))
	}
	return ok, nil
}

const oauthCols = `id, state_hash, user_id, connection_id, verifier, via, status, message, expires_at, created_at`

func scanOAuthState(row interface{ Scan(...any) error }) (store.OAuthState, error) {
	var o store.OAuthState
	var expires, created int64
	if err := row.Scan(&o.ID, &o.Hash, &o.UserID, &o.ConnectionID, &o.Verifier, &o.Via, &o.Status, &o.Message, &expires, &created); err != nil {
		return store.OAuthState{}, err
	}
	o.ExpiresAt, o.CreatedAt = fromNanos(expires), fromNanos(created)
	return o, nil
}

// CreateOAuthState records a pending OAuth2 sign-in, deleting those that
// expired a day ago or more and the user's oldest beyond MaxOAuthStates.
func (s *Store) CreateOAuthState(ctx context.Context, o store.OAuthState) (store.OAuthState, error) {
	now := time.Now().UTC()
	var out store.OAuthState
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM oauth_states WHERE expires_at < ?`, nanos(now.Add(-24*time.Hour))); err != nil {
			return err
		}
		// At most MaxOAuthStates per user: a new sign-in drops the oldest.
		if _, err := tx.ExecContext(ctx, `DELETE FROM oauth_states WHERE user_id = ? AND id NOT IN (SELECT id FROM oauth_states WHERE user_id = ? ORDER BY id DESC LIMIT ?)`,
			o.UserID, o.UserID, store.MaxOAuthStates-1); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO oauth_states (state_hash, user_id, connection_id, verifier, via, status, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			o.Hash, o.UserID, o.ConnectionID, o.Verifier, o.Via, store.OAuthPending, nanos(o.ExpiresAt), nanos(now))
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		out, err = scanOAuthState(tx.QueryRowContext(ctx, `SELECT `+oauthCols+` FROM oauth_states WHERE id = ?`, id))
		return err
	})
	if isUnique(err) {
		return store.OAuthState{}, fmt.Errorf("create oauth2 sign-in: %w", store.ErrConflict)
	}
	if err != nil {
		return store.OAuthState{}, fmt.Errorf("create oauth2 sign-in: %w", err)
	}
	return out, nil
}

// ClaimOAuthState marks the pending, unexpired sign-in with that state
// hash as claimed and returns it.
func (s *Store) ClaimOAuthState(ctx context.Context, hash string, now time.Time) (store.OAuthState, error) {
	var out store.OAuthState
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		var err error
		out, err = scanOAuthState(tx.QueryRowContext(ctx, `SELECT `+oauthCols+` FROM oauth_states WHERE state_hash = ?`, hash))
		if err != nil {
			return err
		}
		if out.Status != store.OAuthPending || !now.Before(out.ExpiresAt) {
			return store.ErrConflict
		}
		if _, err := tx.ExecContext(ctx, `UPDATE oauth_states SET status = ? WHERE id = ?`, store.OAuthClaimed, out.ID); err != nil {
			return err
		}
		out.Status = store.OAuthClaimed
		return nil
	})
	if errors.Is(err, sql.ErrNoRows) {
		return store.OAuthState{}, fmt.Errorf("claim oauth2 sign-in: %w", store.ErrNotFound)
	}
	if err != nil {
		return out, fmt.Errorf("claim oauth2 sign-in: %w", err)
	}
	return out, nil
}

// FinishOAuthState records how a claimed sign-in ended.
func (s *Store) FinishOAuthState(ctx context.Context, id int64, status, message string) error {
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE oauth_states SET status = ?, message = ? WHERE id = ?`, status, message, id)
		if err != nil {
			return err
		}
		return changed(res, store.ErrNotFound)
	})
	if err != nil {
		return fmt.Errorf("finish oauth2 sign-in %d: %w", id, err)
	}
	return nil
}

// GetOAuthState returns the sign-in with that id.
func (s *Store) GetOAuthState(ctx context.Context, id int64) (store.OAuthState, error) {
	o, err := scanOAuthState(s.queryRow(ctx, `SELECT `+oauthCols+` FROM oauth_states WHERE id = ?`, id))
	if err != nil {
		return store.OAuthState{}, notFound(err, fmt.Sprintf("get oauth2 sign-in %d", id))
	}
	return o, nil
}
