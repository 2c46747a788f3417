package storetest

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice/sluice/internal/store"
)

// UndoMigrations applies every migrations/*.down.sql of migs newest
// first, as a rollback by hand does (docs/deploy.md), deleting each
// version from schema_migrations, and then checks with query (a query
// whose rows are the names of the schema's tables and indexes) that only
// schema_migrations is left. exec runs one SQL text on the driver's
// database. It fails the test when a down file is missing or fails.
func UndoMigrations(t *testing.T, migs fs.FS, exec func(sql string) error, query func(sql string) (store.Rows, error), tablesSQL string) {
	t.Helper()
	ups, err := fs.Glob(migs, "migrations/*.up.sql")
	if err != nil || len(ups) == 0 {
		t.Fatalf("glob up migrations: %v (%d files)", err, len(ups))
	}
	for i := len(ups) - 1; i >= 0; i-- {
		down := strings.TrimSuffix(ups[i], ".up.sql") + ".down.sql"
		body, err := fs.ReadFile(migs, down)
		if err != nil {
			t.Fatalf("%s has no down migration: %v", ups[i], err)
		}
		if err := exec(string(body)); err != nil {
			t.Fatalf("apply %s: %v", down, err)
		}
		v, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(down, "migrations/"), "_", 2)[0])
		if err != nil {
			t.Fatalf("migration %s: %v", down, err)
		}
		if err := exec(fmt.Sprintf(`DELETE FROM schema_migrations WHERE version = %d`, v)); err != nil {
			t.Fatalf("forget migration %d: %v", v, err)
		}
	}
	rows, err := query(tablesSQL)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	var left []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatalf("list tables: %v", err)
		}
		left = append(left, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("list tables: %v", err)
	}
	if len(left) != 1 || left[0] != "schema_migrations" {
		t.Fatalf("after every down migration the schema has %v, want only schema_migrations", left)
	}
}
