package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/sluice/sluice/internal/store"
)

var _ store.ConnectionStore = (*Store)(nil)

const connCols = `id, owner_id, name, type, config, secret, health, health_error, health_at, broken_at, created_at, updated_at`

func scanConn(row interface{ Scan(...any) error }) (store.Connection, error) {
	var c store.Connection
	var cfg string
	var healthAt, brokenAt sql.NullInt64
	var created, updated int64
	if err := row.Scan(&c.ID, &c.OwnerID, &c.Name, &c.Type, &cfg, &c.Secret, &c.Health, &c.HealthError, &healthAt, &brokenAt, &created, &updated); err != nil {
		return store.Connection{}, err
	}
	c.Config = []byte(cfg)
	c.HealthAt, c.BrokenAt = fromNull(healthAt), fromNull(brokenAt)
	c.CreatedAt, c.UpdatedAt = fromNanos(created), fromNanos(updated)
	return c, nil
}

// CreateConnection adds a connection.
func (s *Store) CreateConnection(ctx context.Context, c store.Connection) (store.Connection, error) {
	now := time.Now().UTC()
	var out store.Connection
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO connections (owner_id, name, type, config, secret, health, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'unverified', ?, ?)`,
			c.OwnerID, c.Name, c.Type, string(c.Config), c.Secret, nanos(now), nanos(now))
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		out, err = scanConn(tx.QueryRowContext(ctx, `SELECT `+connCols+` FROM connections WHERE id = ?`, id))
		return err
	})
	if isUnique(err) {
		return store.Connection{}, fmt.Errorf("create connection %q: a connection with that name exists: %w", c.Name, store.ErrConflict)
	}
	if err != nil {
		return store.Connection{}, fmt.Errorf("create connection %q: %w", c.Name, err)
	}
	return out, nil
}

// UpdateConnection replaces a connection's type, config and secret.
func (s *Store) UpdateConnection(ctx context.Context, c store.Connection) (store.Connection, error) {
	var out store.Connection
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE connections SET type = ?, config = ?, secret = ?, health = 'unverified', health_error = '', updated_at = ? WHERE id = ?`,
			c.Type, string(c.Config), c.Secret, nanos(time.Now()), c.ID)
		if err != nil {
			return err
		}
		if err := changed(res, store.ErrNotFound); err != nil {
			return err
		}
		out, err = scanConn(tx.QueryRowContext(ctx, `SELECT `+connCols+` FROM connections WHERE id = ?`, c.ID))
		return err
	})
	if err != nil {
		return store.Connection{}, fmt.Errorf("update connection %d: %w", c.ID, err)
	}
	return out, nil
}

// GetConnection returns the connection with that id.
func (s *Store) GetConnection(ctx context.Context, id int64) (store.Connection, error) {
	c, err := scanConn(s.queryRow(ctx, `SELECT `+connCols+` FROM connections WHERE id = ?`, id))
	if err != nil {
		return store.Connection{}, notFound(err, fmt.Sprintf("get connection %d", id))
	}
	return c, nil
}

// GetConnectionByName returns the owner's connection with that name.
func (s *Store) GetConnectionByName(ctx context.Context, ownerID int64, name string) (store.Connection, error) {
	c, err := scanConn(s.queryRow(ctx, `SELECT `+connCols+` FROM connections WHERE owner_id = ? AND name = ?`, ownerID, name))
	if err != nil {
		return store.Connection{}, notFound(err, fmt.Sprintf("get connection %q", name))
	}
	return c, nil
}

// ListConnections returns connections by name; ownerID 0 lists all.
func (s *Store) ListConnections(ctx context.Context, ownerID int64) ([]store.Connection, error) {
	q, args := `SELECT `+connCols+` FROM connections`, []any{}
	if ownerID != 0 {
		q, args = q+` WHERE owner_id = ?`, append(args, ownerID)
	}
	return list(ctx, s, "list connections", scanConn, q+` ORDER BY name, id`, args...)
}

// DeleteConnection removes a connection.
func (s *Store) DeleteConnection(ctx context.Context, id int64) error {
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM connections WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if err := changed(res, store.ErrNotFound); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete connection %d: %w", id, err)
	}
	return nil
}

// SetConnectionHealth records a connection's health and reports whether it
// changed. Going to needs_attention from any other state sets broken_at.
func (s *Store) SetConnectionHealth(ctx context.Context, id int64, health, msg string, at time.Time) (bool, error) {
	var changed bool
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		var prev string
		if err := tx.QueryRowContext(ctx, `SELECT health FROM connections WHERE id = ?`, id).Scan(&prev); err != nil {
			return err
		}
		changed = prev != health
		if changed && health == store.HealthNeedsAttention {
			if _, err := tx.ExecContext(ctx, `UPDATE connections SET health = ?, health_error = ?, health_at = ?, broken_at = ? WHERE id = ?`, health, msg, nanos(at), nanos(at), id); err != nil {
				return err
			}
			return addEvent(ctx, tx, store.EventConnectionBroken, 0, id)
		}
		_, err := tx.ExecContext(ctx, `UPDATE connections SET health = ?, health_error = ?, health_at = ? WHERE id = ?`, health, msg, nanos(at), id)
		return err
	})
	if err != nil {
		return false, notFound(err, fmt.Sprintf("set health of connection %d", id))
	}
	return changed, nil
}
