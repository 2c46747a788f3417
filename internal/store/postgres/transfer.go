package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice/sluice/internal/store"
)

// SchemaVersion returns the number of the newest migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// Dump reads one snapshot: a REPEATABLE READ transaction sees the
// database as it was at its first query, whatever the nodes write after.
func (s *Store) Dump(ctx context.Context, fn func(store.DumpReader) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("dump: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	rows, err := tx.Query(ctx, `SELECT c.table_name, c.column_name FROM information_schema.columns c
		JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
		WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
		ORDER BY c.table_name, c.ordinal_position`)
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

// dumpReader reads the rows of a snapshot transaction.
type dumpReader struct{ tx pgx.Tx }

// Count returns how many rows t has.
func (d dumpReader) Count(ctx context.Context, t store.Table) (int64, error) {
	var n int64
	if err := d.tx.QueryRow(ctx, `SELECT COUNT(*) FROM `+t.Name).Scan(&n); err != nil {
		return 0, fmt.Errorf("dump: count %s: %w", t.Name, err)
	}
	return n, nil
}

// Rows calls fn with every row of t, as the Go types of store.Kind. pgx
// reads the result as it arrives, so a large table is not held in memory.
func (d dumpReader) Rows(ctx context.Context, t store.Table, fn func(row []any) error) error {
	exprs := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		exprs[i] = c.Name
		if c.Kind == store.KindJSON {
			exprs[i] = c.Name + "::text"
		}
	}
	rows, err := d.tx.Query(ctx, `SELECT `+strings.Join(exprs, ", ")+` FROM `+t.Name+` ORDER BY `+t.OrderBy)
	if err != nil {
		return fmt.Errorf("dump %s: %w", t.Name, err)
	}
	defer rows.Close()
	return store.EachRow(rows, t, fromColumn, fn)
}

// fromColumn turns what pgx read into the Go type of the column's kind.
func fromColumn(_ store.Column, v any) (any, error) {
	switch x := v.(type) {
	case int32:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case time.Time:
		return x.UTC(), nil
	case []byte:
		return bytes.Clone(x), nil
	case nil, int64, string, bool:
		return v, nil
	}
	return nil, fmt.Errorf("unexpected %T", v)
}

// Load writes with COPY in one transaction, then moves each id sequence
// past the largest id loaded, so that the next row a node creates does
// not collide with an imported one.
func (s *Store) Load(ctx context.Context, fn func(store.LoadWriter) error) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		for _, t := range store.Tables {
			var found bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+t.Name+`)`).Scan(&found); err != nil {
				return fmt.Errorf("load: check %s: %w", t.Name, err)
			}
			if found {
				return fmt.Errorf("load: the store is not empty (table %s has rows): import needs a new database or schema: %w", t.Name, store.ErrConflict)
			}
		}
		if err := fn(loadWriter{tx}); err != nil {
			return err
		}
		for _, t := range store.Tables {
			if !t.Serial {
				continue
			}
			if _, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence($1, 'id'), COALESCE(MAX(id), 0) + 1, false) FROM `+t.Name, t.Name); err != nil {
				return fmt.Errorf("load: advance the id sequence of %s: %w", t.Name, err)
			}
		}
		return nil
	})
}

// loadWriter copies rows into the load transaction.
type loadWriter struct{ tx pgx.Tx }

// Insert copies every row next returns into t.
func (l loadWriter) Insert(ctx context.Context, t store.Table, next func() ([]any, error)) error {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	var n int64
	src := pgx.CopyFromFunc(func() ([]any, error) {
		row, err := next()
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		n++
		return row, err
	})
	if _, err := l.tx.CopyFrom(ctx, pgx.Identifier{t.Name}, names, src); err != nil {
		return fmt.Errorf("load %s (near row %d): %w", t.Name, n, err)
	}
	return nil
}
