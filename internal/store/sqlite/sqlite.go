// Package sqlite is the embedded store: one SQLite file in WAL mode, a pool
// of connections for reads and exactly one for writes. Writes from many
// goroutines are committed together in one transaction (group commit), so
// that durability costs one disk sync per batch rather than one per step.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice/sluice/internal/store"
	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// maxBatch caps how many writes share one transaction.
const maxBatch = 512

// Store is the SQLite implementation of store.Store.
type Store struct {
	read   *sql.DB
	write  *sql.DB
	log    *slog.Logger
	ops    chan *op
	stop   chan struct{}
	done   chan struct{}
	closed sync.Once
	// wstmts and rstmts keep the prepared statements of the write
	// connection and of the read pool.
	wstmts stmts
	rstmts stmts
	// waker wakes this process's pollers when a run falls due: no other
	// process shares the file.
	waker store.Waker
	// lastRunID is the largest run id handed out (ReserveRunID) or
	// written: every run this process creates takes the next one, so
	// that an id reserved for a run not yet committed is never taken by
	// another. One process holds the file (the server locks its data
	// folder), so the counter in memory is the only one.
	lastRunID atomic.Int64
	// flows keeps the flows webhooks look up by token.
	flows flowCache
}

// Wakeups returns a channel that receives a value after this store
// queues, re-queues or parks a run, until ctx ends.
func (s *Store) Wakeups(ctx context.Context) <-chan struct{} {
	return s.waker.Subscribe(ctx)
}

// wakeIf signals the waker when a write that made a run due committed.
func (s *Store) wakeIf(made bool, err error) {
	if made && err == nil {
		s.waker.Signal()
	}
}

var _ store.Store = (*Store)(nil)

// op is one write waiting for the group committer.
type op struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *wtx) error
	done chan error
}

// Open opens (creating if needed) the database file at path, applies
// migrations and starts the group committer. It refuses a database whose
// schema is newer than this binary knows.
func Open(ctx context.Context, path string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if err := secureFiles(path, logger); err != nil {
		return nil, err
	}
	dsn := fileDSN(path, false)
	write, err := openWriter(ctx, dsn+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := migrate(ctx, write); err != nil {
		write.Close()
		return nil, err
	}
	// The writer's statement journal in memory: SQLite keeps one for
	// every statement that may have to be undone alone (a statement in a
	// savepoint of the group commit, one that checks a foreign key). In a
	// file (temp_store's default) it costs two pwrite calls per page per
	// statement once a statement of the batch went past 64 KiB: a fifth
	// of the server's CPU in W3 (docs/benchmarks.md, "Faster W1"). It
	// holds the pages one statement changes; the statements that change
	// many are chunked (PruneRuns, DeleteFlow). Set after migrating, so
	// that a migration's backfill keeps its journal in a file.
	if _, err := write.ExecContext(ctx, `PRAGMA temp_store = MEMORY`); err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return start(ctx, path, dsn, write, logger)
}

// OpenReadOnly opens the existing database file at path without changing
// it: no migration, no journal-mode switch, every connection opened with
// mode=ro, so that a write of any kind fails ("attempt to write a readonly
// database"). It is for commands that only read a store (export, backup),
// which must leave a store of an older version as it is. It returns the
// store whatever its schema version: the caller compares SchemaVersion
// with KnownVersion. As for any reader of a WAL database, SQLite may
// create the empty -wal and -shm files beside it; the database file
// itself is not written.
func OpenReadOnly(ctx context.Context, path string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open sqlite %s read-only: %w", path, err)
	}
	dsn := fileDSN(path, true)
	// The "write" connection is read-only too: Backup's VACUUM INTO runs
	// on it (query_only would refuse VACUUM INTO; mode=ro does not).
	write, err := openWriter(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s read-only: %w", path, err)
	}
	return start(ctx, path, dsn, write, logger)
}

// fileDSN is the address of the database file at path: read-only
// (mode=ro), or in WAL mode with every commit synced (synchronous=FULL).
// busy_timeout comes first, so that the pragmas after it wait rather
// than fail.
func fileDSN(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	if readOnly {
		q.Add("mode", "ro")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(FULL)")
	}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_time_format", "sqlite")
	return "file:" + path + "?" + q.Encode()
}

// openWriter opens the writer at dsn: a single connection kept open,
// connected before it returns.
func openWriter(ctx context.Context, dsn string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// start opens the read pool beside write and starts the group committer.
func start(ctx context.Context, path, dsn string, write *sql.DB, logger *slog.Logger) (*Store, error) {
	read, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	n := max(4, runtime.NumCPU()*2)
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	read.SetConnMaxIdleTime(0)
	s := &Store{
		read:  read,
		write: write,
		log:   logger,
		ops:   make(chan *op, maxBatch*4),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	s.wstmts.db, s.wstmts.deferred, s.rstmts.db = write, true, read
	if err := s.seedRunIDs(ctx, write); err != nil {
		read.Close()
		write.Close()
		return nil, err
	}
	go s.commitLoop()
	return s, nil
}

// Close stops the committer after it has written what it was given, and
// closes the database.
func (s *Store) Close() error {
	var err error
	s.closed.Do(func() {
		close(s.stop)
		<-s.done
		s.wstmts.close()
		s.rstmts.close()
		err = errors.Join(s.read.Close(), s.write.Close())
	})
	return err
}

// mig is one numbered migration file.
type mig struct {
	version int
	name    string
}

// embeddedMigrations lists the .up.sql files by version.
func embeddedMigrations() ([]mig, error) {
	entries, err := fs.Glob(migrations, "migrations/*.up.sql")
	if err != nil {
		return nil, fmt.Errorf("migrate: list migrations: %w", err)
	}
	var all []mig
	for _, e := range entries {
		base := strings.TrimPrefix(e, "migrations/")
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migrate: bad migration name %q: %w", base, err)
		}
		all = append(all, mig{v, e})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].version < all[j].version })
	return all, nil
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

// migrate applies the embedded migrations not yet applied.
func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	all, err := embeddedMigrations()
	if err != nil {
		return err
	}
	var current int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migrate: read schema version: %w", err)
	}
	known := 0
	if len(all) > 0 {
		known = all[len(all)-1].version
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
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate: begin %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate: apply %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, m.version, time.Now().UnixNano()); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate: record %s: %w", m.name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate: commit %s: %w", m.name, err)
		}
	}
	return nil
}

// exec hands fn to the group committer and waits until the transaction it
// ran in is committed. fn runs inside a savepoint: when it fails, its
// writes are undone and the other writes of the batch still commit.
func (s *Store) exec(ctx context.Context, fn func(ctx context.Context, tx *wtx) error) error {
	o := &op{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case s.ops <- o:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stop:
		return errors.New("store is closed")
	}
	// Once queued, the write is committed or rejected as a whole; waiting
	// for it even when ctx ends keeps callers from guessing. If the
	// committer has stopped (Close raced with this call), the op was either
	// answered before it stopped or will never be.
	select {
	case err := <-o.done:
		return err
	case <-s.done:
		select {
		case err := <-o.done:
			return err
		default:
			return errors.New("store is closed")
		}
	}
}

// commitLoop is the group committer: it takes every write waiting, runs
// them in one transaction and commits once.
func (s *Store) commitLoop() {
	defer close(s.done)
	batch := make([]*op, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case o := <-s.ops:
			batch = append(batch, o)
		case <-s.stop:
			// Drain what was queued before Close.
			for {
				select {
				case o := <-s.ops:
					batch = append(batch, o)
					continue
				default:
				}
				break
			}
			if len(batch) > 0 {
				s.commit(batch)
			}
			return
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case o := <-s.ops:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		s.commit(batch)
		s.wstmts.prepareDeferred(context.Background())
	}
}

// commit runs one batch in one transaction.
func (s *Store) commit(batch []*op) {
	ctx := context.Background()
	fail := func(err error) {
		for _, o := range batch {
			o.done <- err
		}
	}
	raw, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("begin write transaction: %w", err))
		return
	}
	tx := &wtx{tx: raw, c: &s.wstmts}
	defer func() {
		if tx.flowsChanged {
			s.flows.invalidate()
		}
	}()
	results := make([]error, len(batch))
	for i, o := range batch {
		if o.ctx.Err() != nil {
			results[i] = o.ctx.Err()
			continue
		}
		if len(batch) == 1 {
			results[i] = o.fn(ctx, tx)
			continue
		}
		if _, err := tx.ExecContext(ctx, `SAVEPOINT op`); err != nil {
			raw.Rollback()
			fail(fmt.Errorf("savepoint: %w", err))
			return
		}
		if err := o.fn(ctx, tx); err != nil {
			results[i] = err
			if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO op`); rerr != nil {
				raw.Rollback()
				fail(fmt.Errorf("rollback to savepoint: %w", rerr))
				return
			}
		}
		if _, err := tx.ExecContext(ctx, `RELEASE op`); err != nil {
			raw.Rollback()
			fail(fmt.Errorf("release savepoint: %w", err))
			return
		}
	}
	if len(batch) == 1 && results[0] != nil {
		raw.Rollback()
		batch[0].done <- results[0]
		return
	}
	if err := raw.Commit(); err != nil {
		fail(fmt.Errorf("commit: %w", err))
		return
	}
	for i, o := range batch {
		o.done <- results[i]
	}
}

// isUnique reports whether err is a UNIQUE constraint violation.
func isUnique(err error) bool {
	var se *sqlite3.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3lib.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3lib.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// nanos converts a time to the stored form.
func nanos(t time.Time) int64 { return t.UTC().UnixNano() }

// nullNanos converts an optional time to the stored form.
func nullNanos(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().UnixNano()
}

// fromNanos converts a stored time back.
func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// fromNull converts an optional stored time back.
func fromNull(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}

// notFound turns sql.ErrNoRows into store.ErrNotFound with context.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}
