// Package postgres is the store for several Sluice nodes sharing one
// PostgreSQL database. Nodes claim runs with FOR UPDATE SKIP LOCKED so that
// they never work the same run twice and never wait for one another;
// migrations run under an advisory lock so that nodes starting together do
// not race.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice/sluice/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the PostgreSQL implementation of store.Store.
type Store struct {
	pool   *pgxpool.Pool
	log    *slog.Logger
	closed sync.Once
	// channel is the NOTIFY channel of this schema's due runs (see
	// wakeups.go).
	channel string
	// done ends the listeners of Wakeups when the store closes.
	done context.Context
	stop context.CancelFunc
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (a postgres:// URL or a key=value
// DSN; a search_path parameter selects the schema), applies migrations and
// returns the store. It refuses a database whose schema is newer than this
// binary knows, so that an old node never writes to a schema it does not
// understand.
func Open(ctx context.Context, url string, logger *slog.Logger) (*Store, error) {
	return open(ctx, url, logger, false)
}

// OpenReadOnly connects to the database at url without migrating it:
// every transaction of its connections is read-only
// (default_transaction_read_only), so that a write of any kind fails. It is
// for commands that only read a store (export), which must leave a schema
// of an older version as it is. It returns the store whatever its schema
// version: the caller compares SchemaVersion with KnownVersion.
func OpenReadOnly(ctx context.Context, url string, logger *slog.Logger) (*Store, error) {
	return open(ctx, url, logger, true)
}

// open is Open, or OpenReadOnly when readOnly is set.
func open(ctx context.Context, url string, logger *slog.Logger, readOnly bool) (*Store, error) {
	if logger == nil {
		logger = slog.Default()
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: parse url: %w", err)
	}
	if readOnly {
		cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres %s: %w", cfg.ConnConfig.Host, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres %s: %w", cfg.ConnConfig.Host, err)
	}
	if !readOnly {
		if err := migrate(ctx, pool, logger); err != nil {
			pool.Close()
			return nil, err
		}
	}
	channel, err := wakeChannel(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	done, stop := context.WithCancel(context.Background())
	return &Store{pool: pool, log: logger, channel: channel, done: done, stop: stop}, nil
}

// KnownVersion returns the schema version this binary's migrations bring
// a store to: Open migrates up to it, and a reader of a store opened with
// OpenReadOnly compares the store's SchemaVersion with it.
func KnownVersion() int {
	all, err := embeddedMigrations()
	if err != nil || len(all) == 0 {
		return 0
	}
	return all[len(all)-1].version
}

// Close stops the listeners and releases the connections. Calling it
// again does nothing.
func (s *Store) Close() error {
	s.closed.Do(func() {
		s.stop()
		s.pool.Close()
	})
	return nil
}

// migration is one numbered migration file.
type migration struct {
	version int
	name    string
}

// embeddedMigrations lists the .up.sql files by version.
func embeddedMigrations() ([]migration, error) {
	entries, err := fs.Glob(migrations, "migrations/*.up.sql")
	if err != nil {
		return nil, fmt.Errorf("migrate: list migrations: %w", err)
	}
	var all []migration
	for _, e := range entries {
		base := strings.TrimPrefix(e, "migrations/")
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migrate: bad migration name %q: %w", base, err)
		}
		all = append(all, migration{v, e})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].version < all[j].version })
	return all, nil
}

// migrate applies the embedded migrations not yet applied, holding an
// advisory lock (keyed by the schema) for the whole time so that only one
// node migrates and the others then see the result.
func migrate(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	all, err := embeddedMigrations()
	if err != nil {
		return err
	}
	known := 0
	if len(all) > 0 {
		known = all[len(all)-1].version
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: acquire connection: %w", err)
	}
	defer conn.Release()
	const lockKey = `hashtext('sluice.migrate.' || current_schema())`
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+lockKey+`)`); err != nil {
		return fmt.Errorf("migrate: take advisory lock: %w", err)
	}
	defer func() {
		// A fresh context: the unlock must happen even if ctx ended.
		uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock(`+lockKey+`)`); err != nil {
			logger.Error("migrate: release advisory lock", "err", err)
			// The session still holds the lock: drop the connection.
			conn.Conn().Close(uctx)
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	var current int
	if err := conn.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migrate: read schema version: %w", err)
	}
	if current > known {
		return fmt.Errorf("migrate: database schema version %d is newer than this binary knows (%d): upgrade sluice", current, known)
	}
	for _, m := range all {
		if m.version <= current {
			continue
		}
		body, err := migrations.ReadFile(m.name)
		if err != nil {
			return fmt.Errorf("migrate: read %s: %w", m.name, err)
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			// No arguments: the simple protocol runs every statement.
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return fmt.Errorf("apply: %w", err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, m.version, time.Now()); err != nil {
				return fmt.Errorf("record: %w", err)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("migrate: %s: %w", m.name, err)
		}
		logger.Info("applied migration", "version", m.version, "file", m.name)
	}
	return nil
}

// inTx runs fn in a transaction, committing if it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// isUnique reports whether err is a unique violation (SQLSTATE 23505).
func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// wrap adds what to err, turning no rows into store.ErrNotFound and a
// unique violation into store.ErrConflict so that callers can test them
// with errors.Is.
func wrap(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	case isUnique(err):
		return fmt.Errorf("%s: %w (%w)", what, store.ErrConflict, err)
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
}

// utc returns t in UTC, as the SQLite driver does.
func utc(t time.Time) time.Time { return t.UTC() }

// utcPtr returns a copy of an optional time in UTC.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// nullText stores empty JSON as NULL.
func nullText(b []byte) *string {
	if len(b) == 0 {
		return nil
	}
	s := string(b)
	return &s
}

// textBytes turns an optional text column back into JSON bytes.
func textBytes(s *string) []byte {
	if s == nil {
		return nil
	}
	return []byte(*s)
}

// rowScanner is a pgx.Row or pgx.Rows.
type rowScanner interface{ Scan(dest ...any) error }

// collect reads every row of a query with scan.
func collect[T any](rows pgx.Rows, err error, scan func(rowScanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
