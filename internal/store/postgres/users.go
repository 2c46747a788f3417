package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice/sluice/internal/store"
)

const userCols = `id, email, name, password_hash, role, created_at, disabled_at`

func scanUser(row rowScanner) (store.User, error) {
	var u store.User
	if err := row.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.Role, &u.CreatedAt, &u.DisabledAt); err != nil {
		return store.User{}, err
	}
	u.CreatedAt, u.DisabledAt = utc(u.CreatedAt), utcPtr(u.DisabledAt)
	return u, nil
}

// CreateUser adds a user; ErrConflict if the email is taken, whatever its
// case.
func (s *Store) CreateUser(ctx context.Context, u store.User) (store.User, error) {
	if u.CreatedAt.IsZero() {
		u.CreatedAt = time.Now().UTC()
	}
	out, err := scanUser(s.pool.QueryRow(ctx, `INSERT INTO users (email, name, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING `+userCols,
		u.Email, u.Name, u.PasswordHash, u.Role, u.CreatedAt))
	if err != nil {
		return store.User{}, wrap(err, fmt.Sprintf("create user %q", u.Email))
	}
	return out, nil
}

// GetUser returns the user with that id.
func (s *Store) GetUser(ctx context.Context, id int64) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
	if err != nil {
		return store.User{}, wrap(err, fmt.Sprintf("get user %d", id))
	}
	return u, nil
}

// GetUserByEmail returns the user with that email (case-insensitive).
func (s *Store) GetUserByEmail(ctx context.Context, email string) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE lower(email) = lower($1)`, email))
	if err != nil {
		return store.User{}, wrap(err, fmt.Sprintf("get user %q", email))
	}
	return u, nil
}

// ListUsers returns every user, by id.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userCols+` FROM users ORDER BY id`)
	out, err := collect(rows, err, scanUser)
	if err != nil {
		return nil, wrap(err, "list users")
	}
	return out, nil
}

// CountUsers returns how many users exist.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, wrap(err, "count users")
	}
	return n, nil
}

const tokenCols = `id, user_id, name, hash, created_at, last_used_at, expires_at`

func scanToken(row rowScanner) (store.Token, error) {
	var t store.Token
	if err := row.Scan(&t.ID, &t.UserID, &t.Name, &t.Hash, &t.CreatedAt, &t.LastUsedAt, &t.ExpiresAt); err != nil {
		return store.Token{}, err
	}
	t.CreatedAt, t.LastUsedAt, t.ExpiresAt = utc(t.CreatedAt), utcPtr(t.LastUsedAt), utcPtr(t.ExpiresAt)
	return t, nil
}

// CreateToken stores a token's hash for a user; ErrConflict if the hash
// is already stored.
func (s *Store) CreateToken(ctx context.Context, t store.Token) (store.Token, error) {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now().UTC()
	}
	out, err := scanToken(s.pool.QueryRow(ctx, `INSERT INTO tokens (user_id, name, hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) RETURNING `+tokenCols,
		t.UserID, t.Name, t.Hash, t.CreatedAt, t.ExpiresAt))
	if err != nil {
		return store.Token{}, wrap(err, fmt.Sprintf("create token for user %d", t.UserID))
	}
	return out, nil
}

// GetTokenByHash returns the token with that hash and its user. The
// last-used time is recorded at most once a minute so that authenticating
// does not cost a write per request.
func (s *Store) GetTokenByHash(ctx context.Context, hash []byte) (store.Token, store.User, error) {
	var t store.Token
	var u store.User
	err := s.pool.QueryRow(ctx, `SELECT t.id, t.user_id, t.name, t.hash, t.created_at, t.last_used_at, t.expires_at, `+
		`u.id, u.email, u.name, u.password_hash, u.role, u.created_at, u.disabled_at FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = $1`, hash).
		Scan(&t.ID, &t.UserID, &t.Name, &t.Hash, &t.CreatedAt, &t.LastUsedAt, &t.ExpiresAt,
			&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.Role, &u.CreatedAt, &u.DisabledAt)
	if err != nil {
		return store.Token{}, store.User{}, wrap(err, "get token")
	}
	t.CreatedAt, u.CreatedAt, t.LastUsedAt = utc(t.CreatedAt), utc(u.CreatedAt), utcPtr(t.LastUsedAt)
	t.ExpiresAt, u.DisabledAt = utcPtr(t.ExpiresAt), utcPtr(u.DisabledAt)
	now := time.Now().UTC()
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) > time.Minute {
		if _, err := s.pool.Exec(ctx, `UPDATE tokens SET last_used_at = $1 WHERE id = $2`, now, t.ID); err != nil {
			return store.Token{}, store.User{}, wrap(err, "record token use")
		}
		t.LastUsedAt = &now
	}
	return t, u, nil
}

// ListTokens returns a user's tokens.
func (s *Store) ListTokens(ctx context.Context, userID int64) ([]store.Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenCols+` FROM tokens WHERE user_id = $1 ORDER BY id`, userID)
	out, err := collect(rows, err, scanToken)
	if err != nil {
		return nil, wrap(err, fmt.Sprintf("list tokens of user %d", userID))
	}
	return out, nil
}

// DeleteToken removes a user's token; ErrNotFound if the user has no token
// with that id.
func (s *Store) DeleteToken(ctx context.Context, userID, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM tokens WHERE id = $1 AND user_id = $2`, id, userID)
	if err != nil {
		return wrap(err, fmt.Sprintf("delete token %d", id))
	}
	if tag.RowsAffected() == 0 {
		return wrap(pgx.ErrNoRows, fmt.Sprintf("delete token %d", id))
	}
	return nil
}
