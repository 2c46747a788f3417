package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/sluice/sluice/internal/store"
)

const userCols = `id, email, name, password_hash, role, created_at, disabled_at`

func scanUser(row interface{ Scan(...any) error }) (store.User, error) {
	var u store.User
	var created int64
	var disabled sql.NullInt64
	if err := row.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.Role, &created, &disabled); err != nil {
		return store.User{}, err
	}
	u.CreatedAt, u.DisabledAt = fromNanos(created), fromNull(disabled)
	return u, nil
}

// CreateUser adds a user; ErrConflict if the email is taken.
func (s *Store) CreateUser(ctx context.Context, u store.User) (store.User, error) {
	if u.CreatedAt.IsZero() {
		u.CreatedAt = time.Now().UTC()
	}
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO users (email, name, password_hash, role, created_at) VALUES (?, ?, ?, ?, ?)`,
			u.Email, u.Name, u.PasswordHash, u.Role, nanos(u.CreatedAt))
		if err != nil {
			return err
		}
		u.ID, err = res.LastInsertId()
		return err
	})
	if isUnique(err) {
		return store.User{}, fmt.Errorf("create user %q: email already used: %w", u.Email, store.ErrConflict)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("create user %q: %w", u.Email, err)
	}
	return u, nil
}

// GetUser returns the user with that id.
func (s *Store) GetUser(ctx context.Context, id int64) (store.User, error) {
	u, err := scanUser(s.queryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
	if err != nil {
		return store.User{}, notFound(err, fmt.Sprintf("get user %d", id))
	}
	return u, nil
}

// GetUserByEmail returns the user with that email (case-insensitive).
func (s *Store) GetUserByEmail(ctx context.Context, email string) (store.User, error) {
	u, err := scanUser(s.queryRow(ctx, `SELECT `+userCols+` FROM users WHERE email = ?`, email))
	if err != nil {
		return store.User{}, notFound(err, fmt.Sprintf("get user %q", email))
	}
	return u, nil
}

// ListUsers returns every user, by id.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	return list(ctx, s, "list users", scanUser, `SELECT `+userCols+` FROM users ORDER BY id`)
}

// CountUsers returns how many users exist.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

const tokenCols = `id, user_id, name, hash, created_at, last_used_at, expires_at`

func scanToken(row interface{ Scan(...any) error }) (store.Token, error) {
	var t store.Token
	var created int64
	var used, expires sql.NullInt64
	if err := row.Scan(&t.ID, &t.UserID, &t.Name, &t.Hash, &created, &used, &expires); err != nil {
		return store.Token{}, err
	}
	t.CreatedAt = fromNanos(created)
	t.LastUsedAt, t.ExpiresAt = fromNull(used), fromNull(expires)
	return t, nil
}

// CreateToken stores a token's hash for a user.
func (s *Store) CreateToken(ctx context.Context, t store.Token) (store.Token, error) {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now().UTC()
	}
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO tokens (user_id, name, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			t.UserID, t.Name, t.Hash, nanos(t.CreatedAt), nullNanos(t.ExpiresAt))
		if err != nil {
			return err
		}
		t.ID, err = res.LastInsertId()
		return err
	})
	if isUnique(err) {
		return store.Token{}, fmt.Errorf("create token: %w", store.ErrConflict)
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("create token for user %d: %w", t.UserID, err)
	}
	return t, nil
}

// GetTokenByHash returns the token with that hash and its user. The
// last-used time is recorded at most once a minute so that authenticating
// does not cost a write per request.
func (s *Store) GetTokenByHash(ctx context.Context, hash []byte) (store.Token, store.User, error) {
	row := s.queryRow(ctx, `SELECT t.id, t.user_id, t.name, t.hash, t.created_at, t.last_used_at, t.expires_at, `+
		`u.id, u.email, u.name, u.password_hash, u.role, u.created_at, u.disabled_at FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?`, hash)
	var t store.Token
	var u store.User
	var tCreated, uCreated int64
	var used, expires, disabled sql.NullInt64
	err := row.Scan(&t.ID, &t.UserID, &t.Name, &t.Hash, &tCreated, &used, &expires,
		&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.Role, &uCreated, &disabled)
	if err != nil {
		return store.Token{}, store.User{}, notFound(err, "get token")
	}
	t.CreatedAt, u.CreatedAt, t.LastUsedAt = fromNanos(tCreated), fromNanos(uCreated), fromNull(used)
	t.ExpiresAt, u.DisabledAt = fromNull(expires), fromNull(disabled)
	now := time.Now().UTC()
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) > time.Minute {
		err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
			_, err := tx.ExecContext(ctx, `UPDATE tokens SET last_used_at = ? WHERE id = ?`, nanos(now), t.ID)
			return err
		})
		if err != nil {
			return store.Token{}, store.User{}, fmt.Errorf("record token use: %w", err)
		}
		t.LastUsedAt = &now
	}
	return t, u, nil
}

// ListTokens returns a user's tokens.
func (s *Store) ListTokens(ctx context.Context, userID int64) ([]store.Token, error) {
	return list(ctx, s, "list tokens", scanToken, `SELECT `+tokenCols+` FROM tokens WHERE user_id = ? ORDER BY id`, userID)
}

// DeleteToken removes a user's token.
func (s *Store) DeleteToken(ctx context.Context, userID, id int64) error {
	return s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE id = ? AND user_id = ?`, id, userID)
		if err != nil {
			return fmt.Errorf("delete token %d: %w", id, err)
		}
		if n, err := affected(res); err != nil {
			return fmt.Errorf("delete token %d: %w", id, err)
		} else if n == 0 {
			return fmt.Errorf("delete token %d: %w", id, store.ErrNotFound)
		}
		return nil
	})
}
