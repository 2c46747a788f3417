package store

import (
	"context"
	"fmt"
	"strings"
)

// Kind is how a column's values are carried between drivers. Each driver
// reads its own storage (Unix nanoseconds or timestamptz, 0/1 or boolean)
// into the one Go type of the kind and writes that type back.
type Kind int

// The kinds of column and the Go type a row holds for each (or nil for
// NULL).
const (
	KindInt   Kind = iota // int64
	KindText              // string
	KindBytes             // []byte
	KindTime              // time.Time, UTC
	KindBool              // bool
	KindJSON              // string holding a JSON document (jsonb on PostgreSQL)
)

// Column is one column of a transferred table.
type Column struct {
	Name string
	Kind Kind
}

// Table is one table that export and import move, with every column.
type Table struct {
	Name    string
	Columns []Column
	// OrderBy is the column list rows are dumped in, so that a dump is
	// deterministic and two stores with the same rows dump the same.
	OrderBy string
	// Serial is true when id comes from a sequence, which a driver must
	// move past the largest imported id.
	Serial bool
}

// ColumnList is the table's columns separated by commas, for SQL.
func (t Table) ColumnList() string {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

// cols builds a column list from "name:kind" pairs, where kind is one of
// i (int), t (text), b (bytes), tm (time), bool, json.
func cols(spec string) []Column {
	kinds := map[string]Kind{"i": KindInt, "t": KindText, "b": KindBytes, "tm": KindTime, "bool": KindBool, "json": KindJSON}
	var out []Column
	for _, f := range strings.Fields(spec) {
		name, kind, _ := strings.Cut(f, ":")
		k, ok := kinds[kind]
		if !ok {
			panic(fmt.Sprintf("store: column %q: unknown kind %q", name, kind))
		}
		out = append(out, Column{Name: name, Kind: k})
	}
	return out
}

// Tables are the tables export and import move, parents before children
// so that foreign keys hold while rows are loaded. Ids are kept, so that
// every reference (a run's flow, a run resubmitted from another, a
// notification's run) stays valid.
var Tables = []Table{
	{Name: "users", Serial: true, OrderBy: "id", Columns: cols(`id:i email:t name:t password_hash:t role:t created_at:tm disabled_at:tm`)},
	{Name: "tokens", Serial: true, OrderBy: "id", Columns: cols(`id:i user_id:i name:t hash:b created_at:tm last_used_at:tm expires_at:tm`)},
	{Name: "user_settings", OrderBy: "user_id", Columns: cols(`user_id:i repair_emails:t`)},
	{Name: "digests", OrderBy: "user_id", Columns: cols(`user_id:i last_sent_at:tm`)},
	{Name: "flows", Serial: true, OrderBy: "id", Columns: cols(`id:i name:t owner_id:i enabled:bool version:i trigger_type:t webhook_token:t next_fire_at:tm created_at:tm updated_at:tm repair_emails:bool`)},
	{Name: "flow_versions", OrderBy: "flow_id, version", Columns: cols(`flow_id:i version:i definition:t source:t created_by:i created_at:tm`)},
	{Name: "connections", Serial: true, OrderBy: "id", Columns: cols(`id:i owner_id:i name:t type:t config:t secret:b health:t health_error:t health_at:tm broken_at:tm created_at:tm updated_at:tm`)},
	{Name: "runs", Serial: true, OrderBy: "id", Columns: cols(`id:i flow_id:i flow_version:i status:t trigger_type:t input:t output:t error:t current_step:t resubmitted_from:i created_at:tm started_at:tm finished_at:tm next_attempt_at:tm lease_owner:t lease_until:tm expr_steps:i expr_nanos:i`)},
	{Name: "steps", OrderBy: "run_id, seq, key", Columns: cols(`run_id:i key:t seq:i action_id:t type:t status:t attempts:i started_at:tm finished_at:tm input:t output:t error:t next_attempt_at:tm error_class:t error_code:t error_connection:t error_flow_id:i error_run_created_at:tm attempt_log:t`)},
	{Name: "jobs", Serial: true, OrderBy: "id", Columns: cols(`id:i owner_id:i kind:t params:t status:t cursor:i total:i done:i failed:i error:t lease_owner:t lease_until:tm created_at:tm updated_at:tm finished_at:tm`)},
	{Name: "events", Serial: true, OrderBy: "id", Columns: cols(`id:i kind:t run_id:i connection_id:i created_at:tm claimed_until:tm attempts:i`)},
	{Name: "notifications", Serial: true, OrderBy: "id", Columns: cols(`id:i user_id:i kind:t title:t body:t flow_id:i run_id:i connection_id:i read_at:tm created_at:tm`)},
	{Name: "outbox", Serial: true, OrderBy: "id", Columns: cols(`id:i recipients:json subject:t text_body:t html_body:t kind:t status:t attempts:i last_error:t message_id:t next_attempt_at:tm created_at:tm sent_at:tm`)},
	{Name: "alerts", OrderBy: "flow_id, step, code", Columns: cols(`flow_id:i step:t code:t first_failed_at:tm pending:i latest_run_id:i last_sent_at:tm`)},
	{Name: "support_requests", Serial: true, OrderBy: "id", Columns: cols(`id:i user_id:i problem_type:t category:t description:t run_id:i status:t answer:t answered_by:i answered_at:tm closed_at:tm created_at:tm`)},
}

// NotTransferred are the tables export leaves out on purpose:
// schema_migrations (the stream carries the schema version instead),
// sign-in attempts, sessions and OAuth2 sign-ins in progress
// (short-lived, tied to the old server), and the help index with SQLite's FTS5 tables behind it (rebuilt from
// the articles and the catalog at every start).
var NotTransferred = []string{"schema_migrations", "sign_in_attempts", "sessions", "oauth_states",
	"help_index", "help_index_config", "help_index_content", "help_index_data", "help_index_docsize", "help_index_idx"}

// Rows is what both drivers' result sets (database/sql's and pgx's)
// offer, for the helpers below that both drivers share.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// CheckSchema reads rows of (table name, column name), every column of
// every table of the database in column order, and compares them with
// Tables and NotTransferred (see CheckTables).
func CheckSchema(rows Rows) error {
	columns := make(map[string][]string)
	for rows.Next() {
		var table, col string
		if err := rows.Scan(&table, &col); err != nil {
			return fmt.Errorf("transfer: list tables: %w", err)
		}
		columns[table] = append(columns[table], col)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("transfer: list tables: %w", err)
	}
	return CheckTables(columns)
}

// EachRow scans every row of rows, whose columns are t's, turns each
// value into the Go type of its column's kind with convert, and calls fn
// with the row. The slice given to fn is reused between calls.
func EachRow(rows Rows, t Table, convert func(c Column, v any) (any, error), fn func(row []any) error) error {
	raw := make([]any, len(t.Columns))
	ptrs := make([]any, len(t.Columns))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	row := make([]any, len(t.Columns))
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("dump %s: %w", t.Name, err)
		}
		for i, c := range t.Columns {
			v, err := convert(c, raw[i])
			if err != nil {
				return fmt.Errorf("dump %s: column %s: %w", t.Name, c.Name, err)
			}
			row[i] = v
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("dump %s: %w", t.Name, err)
	}
	return nil
}

// CheckTables compares the tables and columns a database has with Tables
// and NotTransferred, so that a table or column added by a migration
// without being added here stops an export instead of being left out.
// columns maps each table of the database to its column names.
func CheckTables(columns map[string][]string) error {
	known := make(map[string]bool)
	for _, n := range NotTransferred {
		known[n] = true
	}
	for _, t := range Tables {
		known[t.Name] = true
		have, ok := columns[t.Name]
		if !ok {
			return fmt.Errorf("transfer: the database has no table %s", t.Name)
		}
		want := strings.Split(t.ColumnList(), ", ")
		for _, c := range have {
			if !containsString(want, c) {
				return fmt.Errorf("transfer: table %s has a column %s that export does not know: add it to store.Tables", t.Name, c)
			}
		}
		for _, c := range want {
			if !containsString(have, c) {
				return fmt.Errorf("transfer: table %s has no column %s", t.Name, c)
			}
		}
	}
	for name := range columns {
		if !known[name] {
			return fmt.Errorf("transfer: table %s is neither exported nor listed as left out: add it to store.Tables or store.NotTransferred", name)
		}
	}
	return nil
}

// containsString reports whether list holds s.
func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Transfer moves a store's rows out (Dump) and into an empty store (Load),
// for `sluice export` and `sluice import`. Both work a row at a time, so
// memory does not grow with the size of the store.
type Transfer interface {
	// SchemaVersion returns the number of the newest migration applied.
	SchemaVersion(ctx context.Context) (int, error)
	// Dump calls fn with a reader over one consistent snapshot of the
	// store, taken while the store may be serving. It first checks the
	// database's tables against Tables (see CheckTables).
	Dump(ctx context.Context, fn func(DumpReader) error) error
	// Load calls fn with a writer inside one transaction, which commits
	// when fn returns nil (moving every id sequence past the largest id
	// loaded) and rolls back otherwise. It refuses, with ErrConflict, a
	// store that already holds rows in any table of Tables.
	Load(ctx context.Context, fn func(LoadWriter) error) error
}

// DumpReader reads the rows of a snapshot.
type DumpReader interface {
	// Count returns how many rows t has.
	Count(ctx context.Context, t Table) (int64, error)
	// Rows calls fn with every row of t in t.OrderBy order, each value of
	// the Go type of its column's Kind or nil. The slice is reused
	// between calls.
	Rows(ctx context.Context, t Table, fn func(row []any) error) error
}

// LoadWriter writes rows into the store being loaded.
type LoadWriter interface {
	// Insert writes the rows next returns, until it returns io.EOF, into
	// t, keeping every value (ids included) as given.
	Insert(ctx context.Context, t Table, next func() ([]any, error)) error
}
