package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// SchemaVersion returns the number of the newest migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := s.read.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// Dump reads one snapshot: a read transaction in WAL mode sees the
// database as it was at its first read, whatever the server writes after.
func (s *Store) Dump(ctx context.Context, fn func(store.DumpReader) error) error {
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("dump: begin: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT m.name, c.name FROM sqlite_master m, pragma_table_info(m.name) c
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY m.name, c.cid`)
	if err != nil {
		return fmt.Errorf("dump: list tables: %w", err)
	}
	err = store.CheckSchema(rows)
	rows.Close()
	if err != nil {
		return err
	}
	return fn(dumpReader{tx})
}

// dumpReader reads the rows of a read transaction.
type dumpReader struct{ tx *sql.Tx }

// Count returns how many rows t has.
func (d dumpReader) Count(ctx context.Context, t store.Table) (int64, error) {
	var n int64
	if err := d.tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t.Name).Scan(&n); err != nil {
		return 0, fmt.Errorf("dump: count %s: %w", t.Name, err)
	}
	return n, nil
}

// Rows calls fn with every row of t, as the Go types of store.Kind.
func (d dumpReader) Rows(ctx context.Context, t store.Table, fn func(row []any) error) error {
	rows, err := d.tx.QueryContext(ctx, `SELECT `+t.ColumnList()+` FROM `+t.Name+` ORDER BY `+t.OrderBy)
	if err != nil {
		return fmt.Errorf("dump %s: %w", t.Name, err)
	}
	defer rows.Close()
	return store.EachRow(rows, t, fromColumn, fn)
}

// fromColumn turns what SQLite stored into the Go type of c's kind.
func fromColumn(c store.Column, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch c.Kind {
	case store.KindInt, store.KindTime, store.KindBool:
		n, ok := v.(int64)
		if !ok {
			return nil, fmt.Errorf("want an integer, have %T", v)
		}
		switch c.Kind {
		case store.KindTime:
			return fromNanos(n), nil
		case store.KindBool:
			return n != 0, nil
		}
		return n, nil
	case store.KindBytes:
		switch b := v.(type) {
		case []byte:
			return append([]byte(nil), b...), nil
		case string:
			return []byte(b), nil
		}
	default:
		switch b := v.(type) {
		case string:
			return b, nil
		case []byte:
			return string(b), nil
		}
	}
	return nil, fmt.Errorf("unexpected %T", v)
}

// Load writes on the write connection, outside the group committer, in
// one transaction: an import that fails leaves the store empty.
func (s *Store) Load(ctx context.Context, fn func(store.LoadWriter) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("load: begin: %w", err)
	}
	defer tx.Rollback()
	for _, t := range store.Tables {
		var n int64
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t.Name).Scan(&n); err != nil {
			return fmt.Errorf("load: count %s: %w", t.Name, err)
		}
		if n > 0 {
			return fmt.Errorf("load: the store is not empty (table %s has %d rows): import needs a new data folder or database: %w", t.Name, n, store.ErrConflict)
		}
	}
	if err := fn(loadWriter{tx}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("load: commit: %w", err)
	}
	s.flows.invalidate()
	// The runs came with their ids: new ones follow them.
	return s.seedRunIDs(ctx, s.write)
}

// loadWriter inserts rows in the load transaction.
type loadWriter struct{ tx *sql.Tx }

// Insert writes every row next returns into t.
func (l loadWriter) Insert(ctx context.Context, t store.Table, next func() ([]any, error)) error {
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(t.Columns)), ", ")
	stmt, err := l.tx.PrepareContext(ctx, `INSERT INTO `+t.Name+` (`+t.ColumnList()+`) VALUES (`+marks+`)`)
	if err != nil {
		return fmt.Errorf("load %s: %w", t.Name, err)
	}
	defer stmt.Close()
	args := make([]any, len(t.Columns))
	for n := 1; ; n++ {
		row, err := next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		for i := range args {
			args[i] = toColumn(row[i])
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("load %s row %d: %w", t.Name, n, err)
		}
	}
}

// toColumn turns a value of a column's kind into what SQLite stores.
func toColumn(v any) any {
	switch x := v.(type) {
	case time.Time:
		return nanos(x)
	case bool:
		if x {
			return int64(1)
		}
		return int64(0)
	}
	return v
}

// Backup writes a consistent copy of the database to path with VACUUM
// INTO, which reads one snapshot and so is safe while the server writes.
// path must not exist: it is created first with mode 0600, so that the
// copy (which holds password hashes and sealed secrets) is never readable
// by others, not even while it is written.
func (s *Store) Backup(ctx context.Context, path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := s.write.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		os.Remove(path)
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	return nil
}
