package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// maxStmts caps how many distinct statements are kept prepared per pool;
// statements past the cap (queries built with a variable number of
// parameters) are parsed on every call.
const maxStmts = 256

// stmts keeps prepared statements of one pool, by SQL text. Parsing SQL
// is most of the cost of a small write, so every statement is prepared
// once and reused.
type stmts struct {
	db *sql.DB
	// deferred is set for the write pool: its one connection is held by
	// the transaction that asks for a statement, so preparing must wait
	// until the transaction ends (see prepareDeferred).
	deferred bool
	mu       sync.Mutex
	m        map[string]*sql.Stmt
	wanted   map[string]bool
}

// get returns the prepared statement for q, or nil when it is not
// prepared yet, the cache is full or preparing failed (the caller then
// runs q unprepared, which reports any error).
func (c *stmts) get(ctx context.Context, q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[q]; ok {
		return st
	}
	if len(c.m)+len(c.wanted) >= maxStmts {
		return nil
	}
	if c.deferred {
		if c.wanted == nil {
			c.wanted = make(map[string]bool)
		}
		c.wanted[q] = true
		return nil
	}
	return c.prepareLocked(ctx, q)
}

// prepareDeferred prepares the statements asked for during the last
// transaction; the committer calls it when no transaction is open.
func (c *stmts) prepareDeferred(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q := range c.wanted {
		c.prepareLocked(ctx, q)
	}
	c.wanted = nil
}

// prepareLocked prepares q and caches it; nil if preparing failed.
func (c *stmts) prepareLocked(ctx context.Context, q string) *sql.Stmt {
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	if c.m == nil {
		c.m = make(map[string]*sql.Stmt)
	}
	c.m[q] = st
	return st
}

// close closes every prepared statement.
func (c *stmts) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = nil
}

// wtx is a write transaction of the group committer whose statements are
// prepared once on the single write connection.
type wtx struct {
	tx *sql.Tx
	c  *stmts
	// inTx are the prepared statements bound to tx, each bound once per
	// transaction rather than once per call.
	inTx map[*sql.Stmt]*sql.Stmt
	// flowsChanged is set by a statement that writes the flows table:
	// the flow cache is emptied once the transaction ends.
	flowsChanged bool
}

// stmt returns q's prepared statement bound to the transaction, or nil
// when q is not prepared (see stmts.get). Every statement of the
// transaction passes here, so it also notes one that writes the flows
// table.
func (w *wtx) stmt(ctx context.Context, q string) *sql.Stmt {
	if !w.flowsChanged && writesFlows(q) {
		w.flowsChanged = true
	}
	st := w.c.get(ctx, q)
	if st == nil {
		return nil
	}
	if bound, ok := w.inTx[st]; ok {
		return bound
	}
	bound := w.tx.StmtContext(ctx, st)
	if w.inTx == nil {
		w.inTx = make(map[*sql.Stmt]*sql.Stmt)
	}
	w.inTx[st] = bound
	return bound
}

// ExecContext runs a statement in the transaction.
func (w *wtx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := w.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return w.tx.ExecContext(ctx, q, args...)
}

// QueryContext runs a query in the transaction.
func (w *wtx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := w.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return w.tx.QueryContext(ctx, q, args...)
}

// QueryRowContext runs a query that returns at most one row.
func (w *wtx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := w.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return w.tx.QueryRowContext(ctx, q, args...)
}

// query runs a read on the read pool with a prepared statement.
func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := s.rstmts.get(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.read.QueryContext(ctx, q, args...)
}

// queryRow runs a one-row read on the read pool with a prepared statement.
func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st := s.rstmts.get(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.read.QueryRowContext(ctx, q, args...)
}

// list runs a read query and scans every row, wrapping errors with what.
func list[T any](ctx context.Context, s *Store, what string, scan func(interface{ Scan(...any) error }) (T, error), q string, args ...any) ([]T, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}
