package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice/sluice/internal/store"
)

// SetConnectionSecret replaces a connection's sealed secret if it is
// still old, leaving its health and updated_at alone.
func (s *Store) SetConnectionSecret(ctx context.Context, id int64, old, sealed []byte) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE connections SET secret = $1 WHERE id = $2 AND secret = $3`, sealed, id, old)
	if err != nil {
		return false, wrap(err, fmt.Sprintf("set secret of connection %d", id))
	}
	if tag.RowsAffected() == 1 {
		return true, nil
	}
	var one int
	if err := s.pool.QueryRow(ctx, `SELECT 1 FROM connections WHERE id = $1`, id).Scan(&one); err != nil {
		return false, wrap(err, fmt.Sprintf("set secret of connection %d", id))
	}
	return false, nil
}

const oauthCols = `id, state_hash, user_id, connection_id, verifier, via, status, message, expires_at, created_at`

func scanOAuthState(row rowScanner) (store.OAuthState, error) {
	var o store.OAuthState
	if err := row.Scan(&o.ID, &o.Hash, &o.UserID, &o.ConnectionID, &o.Verifier, &o.Via, &o.Status, &o.Message, &o.ExpiresAt, &o.CreatedAt); err != nil {
		return store.OAuthState{}, err
	}
	o.ExpiresAt, o.CreatedAt = utc(o.ExpiresAt), utc(o.CreatedAt)
	return o, nil
}

// CreateOAuthState records a pending OAuth2 sign-in, deleting those that
// expired a day ago or more and the user's oldest beyond MaxOAuthStates.
func (s *Store) CreateOAuthState(ctx context.Context, o store.OAuthState) (store.OAuthState, error) {
	now := time.Now().UTC()
	var out store.OAuthState
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM oauth_states WHERE expires_at < $1`, now.Add(-24*time.Hour)); err != nil {
			return err
		}
		// At most MaxOAuthStates per user: a new sign-in drops the oldest.
		if _, err := tx.Exec(ctx, `DELETE FROM oauth_states WHERE user_id = $1 AND id NOT IN (SELECT id FROM oauth_states WHERE user_id = $1 ORDER BY id DESC LIMIT $2)`,
			o.UserID, store.MaxOAuthStates-1); err != nil {
			return err
		}
		var err error
		out, err = scanOAuthState(tx.QueryRow(ctx, `INSERT INTO oauth_states (state_hash, user_id, connection_id, verifier, via, status, expires_at, created_at) `+
			`VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING `+oauthCols,
			o.Hash, o.UserID, o.ConnectionID, o.Verifier, o.Via, store.OAuthPending, o.ExpiresAt.UTC(), now))
		return err
	})
	if err != nil {
		return store.OAuthState{}, wrap(err, "create oauth2 sign-in")
	}
	return out, nil
}

// ClaimOAuthState marks the pending, unexpired sign-in with that state
// hash as claimed and returns it. The row is locked while it is read and
// written, so that of two callbacks with the same state only one claims it.
func (s *Store) ClaimOAuthState(ctx context.Context, hash string, now time.Time) (store.OAuthState, error) {
	var out store.OAuthState
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = scanOAuthState(tx.QueryRow(ctx, `SELECT `+oauthCols+` FROM oauth_states WHERE state_hash = $1 FOR UPDATE`, hash))
		if err != nil {
			return err
		}
		if out.Status != store.OAuthPending || !now.Before(out.ExpiresAt) {
			return store.ErrConflict
		}
		if _, err := tx.Exec(ctx, `UPDATE oauth_states SET status = $1 WHERE id = $2`, store.OAuthClaimed, out.ID); err != nil {
			return err
		}
		out.Status = store.OAuthClaimed
		return nil
	})
	if errors.Is(err, store.ErrConflict) {
		return out, fmt.Errorf("claim oauth2 sign-in: %w", err)
	}
	if err != nil {
		return store.OAuthState{}, wrap(err, "claim oauth2 sign-in")
	}
	return out, nil
}

// FinishOAuthState records how a claimed sign-in ended.
func (s *Store) FinishOAuthState(ctx context.Context, id int64, status, message string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE oauth_states SET status = $1, message = $2 WHERE id = $3`, status, message, id)
	if err != nil {
		return wrap(err, fmt.Sprintf("finish oauth2 sign-in %d", id))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("finish oauth2 sign-in %d: %w", id, store.ErrNotFound)
	}
	return nil
}

// GetOAuthState returns the sign-in with that id.
func (s *Store) GetOAuthState(ctx context.Context, id int64) (store.OAuthState, error) {
	o, err := scanOAuthState(s.pool.QueryRow(ctx, `SELECT `+oauthCols+` FROM oauth_states WHERE id = $1`, id))
	if err != nil {
		return store.OAuthState{}, wrap(err, fmt.Sprintf("get oauth2 sign-in %d", id))
	}
	return o, nil
}
