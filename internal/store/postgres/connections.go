package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice/sluice/internal/store"
)

const connCols = `id, owner_id, name, type, config, secret, health, health_error, health_at, broken_at, created_at, updated_at`

func scanConn(row rowScanner) (store.Connection, error) {
	var c store.Connection
	var cfg string
	if err := row.Scan(&c.ID, &c.OwnerID, &c.Name, &c.Type, &cfg, &c.Secret, &c.Health, &c.HealthError, &c.HealthAt, &c.BrokenAt, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return store.Connection{}, err
	}
	c.Config = []byte(cfg)
	c.HealthAt, c.BrokenAt = utcPtr(c.HealthAt), utcPtr(c.BrokenAt)
	c.CreatedAt, c.UpdatedAt = utc(c.CreatedAt), utc(c.UpdatedAt)
	return c, nil
}

// CreateConnection adds a connection, unverified; ErrConflict if the owner
// has one with that name.
func (s *Store) CreateConnection(ctx context.Context, c store.Connection) (store.Connection, error) {
	now := time.Now().UTC()
	out, err := scanConn(s.pool.QueryRow(ctx, `INSERT INTO connections (owner_id, name, type, config, secret, health, created_at, updated_at) `+
		`VALUES ($1, $2, $3, $4, $5, 'unverified', $6, $6) RETURNING `+connCols,
		c.OwnerID, c.Name, c.Type, string(c.Config), c.Secret, now))
	if err != nil {
		return store.Connection{}, wrap(err, fmt.Sprintf("create connection %q", c.Name))
	}
	return out, nil
}

// UpdateConnection replaces a connection's type, config and secret and
// marks it unverified.
func (s *Store) UpdateConnection(ctx context.Context, c store.Connection) (store.Connection, error) {
	out, err := scanConn(s.pool.QueryRow(ctx, `UPDATE connections SET type = $1, config = $2, secret = $3, health = 'unverified', health_error = '', updated_at = $4 `+
		`WHERE id = $5 RETURNING `+connCols,
		c.Type, string(c.Config), c.Secret, time.Now().UTC(), c.ID))
	if err != nil {
		return store.Connection{}, wrap(err, fmt.Sprintf("update connection %d", c.ID))
	}
	return out, nil
}

// GetConnection returns the connection with that id.
func (s *Store) GetConnection(ctx context.Context, id int64) (store.Connection, error) {
	c, err := scanConn(s.pool.QueryRow(ctx, `SELECT `+connCols+` FROM connections WHERE id = $1`, id))
	if err != nil {
		return store.Connection{}, wrap(err, fmt.Sprintf("get connection %d", id))
	}
	return c, nil
}

// GetConnectionByName returns the owner's connection with that name.
func (s *Store) GetConnectionByName(ctx context.Context, ownerID int64, name string) (store.Connection, error) {
	c, err := scanConn(s.pool.QueryRow(ctx, `SELECT `+connCols+` FROM connections WHERE owner_id = $1 AND name = $2`, ownerID, name))
	if err != nil {
		return store.Connection{}, wrap(err, fmt.Sprintf("get connection %q", name))
	}
	return c, nil
}

// ListConnections returns connections by name; ownerID 0 lists all.
func (s *Store) ListConnections(ctx context.Context, ownerID int64) ([]store.Connection, error) {
	var rows pgx.Rows
	var err error
	if ownerID != 0 {
		rows, err = s.pool.Query(ctx, `SELECT `+connCols+` FROM connections WHERE owner_id = $1 ORDER BY name, id`, ownerID)
	} else {
		rows, err = s.pool.Query(ctx, `SELECT `+connCols+` FROM connections ORDER BY name, id`)
	}
	out, err := collect(rows, err, scanConn)
	if err != nil {
		return nil, wrap(err, "list connections")
	}
	return out, nil
}

// DeleteConnection removes a connection.
func (s *Store) DeleteConnection(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM connections WHERE id = $1`, id)
	if err == nil && tag.RowsAffected() == 0 {
		err = pgx.ErrNoRows
	}
	return wrap(err, fmt.Sprintf("delete connection %d", id))
}

// SetConnectionHealth records a connection's health and reports whether
// it changed. Going to needs_attention from any other state sets
// broken_at and writes a connection_broken event in the same transaction. The row is locked while it is read and written, so that of
// two nodes seeing the same failure only one reports a change.
func (s *Store) SetConnectionHealth(ctx context.Context, id int64, health, msg string, at time.Time) (bool, error) {
	var changed bool
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var prev string
		if err := tx.QueryRow(ctx, `SELECT health FROM connections WHERE id = $1 FOR UPDATE`, id).Scan(&prev); err != nil {
			return err
		}
		changed = prev != health
		if changed && health == store.HealthNeedsAttention {
			if _, err := tx.Exec(ctx, `UPDATE connections SET health = $1, health_error = $2, health_at = $3, broken_at = $3 WHERE id = $4`, health, msg, at, id); err != nil {
				return err
			}
			return addEvent(ctx, tx, store.EventConnectionBroken, 0, id)
		}
		_, err := tx.Exec(ctx, `UPDATE connections SET health = $1, health_error = $2, health_at = $3 WHERE id = $4`, health, msg, at, id)
		return err
	})
	if err != nil {
		return false, wrap(err, fmt.Sprintf("set health of connection %d", id))
	}
	return changed, nil
}
