package cli

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sluice/sluice/internal/secret"
	"github.com/sluice/sluice/internal/server"
	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/postgres"
	"github.com/sluice/sluice/internal/store/postgres/pgtest"
	"github.com/sluice/sluice/internal/store/sqlite"
)

// dataFolder makes a data folder whose store holds a user and a
// connection sealed with key, and returns its path.
func dataFolder(t *testing.T, key []byte) string {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "sluice.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.CreateUser(t.Context(), store.User{Email: "ada@example.com", PasswordHash: "h", Role: store.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	box, err := secret.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := box.Seal([]byte(`{"token":"t"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateConnection(t.Context(), store.Connection{OwnerID: u.ID, Name: "crm", Type: "bearer", Config: json.RawMessage(`{}`), Secret: sealed}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestExportImportCommands(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	hexKey := "6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b"
	src := dataFolder(t, key)
	b := setup(t)
	stream := filepath.Join(t.TempDir(), "export.jsonl")
	b.run(t, "", "export", "--data", src, "--out", stream).check(t, 0, nil, []string{"exported", "the secret key is not included"})
	if fi, err := os.Stat(stream); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("export file: %v, mode %v, want 0600", err, fi.Mode())
	}
	b.run(t, "", "export", "--data", src, "--out", stream).check(t, ExitFailure, nil, []string{"file exists"})
	b.run(t, "", "export", "--data", filepath.Join(t.TempDir(), "none")).check(t, ExitFailure, nil, []string{"no store in data folder"})

	// No key at all: the new folder has no secret.key and none is set.
	b.run(t, "", "import", "--data", t.TempDir(), "--in", stream).check(t, ExitFailure, nil,
		[]string{"the secret key does not open the exported connections' secrets", "no secret key: SLUICE_SECRET_KEY is not set"})
	// The source's key, in the environment: imported; a second import
	// into the same folder is refused.
	dst := t.TempDir()
	b.env["SLUICE_SECRET_KEY"] = hexKey
	b.run(t, "", "import", "--data", dst, "--in", stream).check(t, 0, nil, []string{"imported"})
	b.run(t, "", "import", "--data", dst, "--in", stream).check(t, ExitFailure, nil, []string{"the store is not empty (table users has 1 rows)"})

	// Import into a data folder a server holds is refused.
	held := t.TempDir()
	unlock, err := server.LockDataDir(held)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	b.run(t, "", "import", "--data", held, "--in", stream).check(t, ExitFailure, nil, []string{"in use by another sluice server", "stop the server first"})
}

func TestBackupCommand(t *testing.T) {
	src := dataFolder(t, []byte(strings.Repeat("k", 32)))
	b := setup(t)
	b.run(t, "", "backup", "--data", src).check(t, ExitUsage, nil, []string{"backup needs --out FILE"})
	b.run(t, "", "backup", "--db", "postgres://x", "--out", "f").check(t, ExitUsage, nil, []string{"unknown flag: --db"})
	out := filepath.Join(t.TempDir(), "backup.db")
	b.run(t, "", "backup", "--data", src, "--out", out).check(t, 0, nil, []string{"backed up"})
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, mode %v, want 0600", err, fi.Mode())
	}
	b.run(t, "", "backup", "--data", src, "--out", out).check(t, ExitFailure, nil, []string{"file exists"})
	st, err := sqlite.Open(t.Context(), out, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if c, err := st.GetConnectionByName(t.Context(), 1, "crm"); err != nil || len(c.Secret) == 0 {
		t.Fatalf("the backup's connection: %+v, %v", c, err)
	}
}

func TestMigrateCommand(t *testing.T) {
	b := setup(t)
	dir := t.TempDir()
	b.run(t, "", "migrate", "--data", dir).check(t, 0, []string{"schema version "}, nil)
	// A schema newer than this binary knows is refused.
	db, err := sql.Open("sqlite", filepath.Join(dir, "sluice.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(context.Background(), `INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	b.run(t, "", "migrate", "--data", dir).check(t, ExitFailure, nil, []string{"database schema version 9999 is newer than this binary knows"})
}

func TestRowsBar(t *testing.T) {
	var buf strings.Builder
	b := &rowsBar{bar: newProgressBar(&buf, true, "exported")}
	b.update(5, 10)
	b.update(6, 10) // within a tenth of a second: not drawn
	b.update(10, 10)
	b.finish()
	want := "\r[===============>              ] 5/10 rows exported\r[==============================] 10/10 rows exported\n"
	if buf.String() != want {
		t.Fatalf("bar drew %q, want %q", buf.String(), want)
	}
	// Not a terminal: nothing is drawn.
	a := newApp(strings.NewReader(""), &buf, &buf, func(string) string { return "" })
	buf.Reset()
	nb := a.rowsBar("imported")
	nb.update(1, 2)
	nb.finish()
	if buf.Len() != 0 {
		t.Fatalf("a bar on a pipe drew %q", buf.String())
	}
}

// migrationsBelow returns the .up.sql files of a driver's migrations
// folder (dir) whose version is below known, in order: the schema an older
// sluice left.
func migrationsBelow(t *testing.T, dir string, known int) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.up.sql"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	var out []string
	for _, f := range files {
		v, err := strconv.Atoi(strings.SplitN(filepath.Base(f), "_", 2)[0])
		if err != nil {
			t.Fatalf("migration %s: %v", f, err)
		}
		if v < known {
			out = append(out, f)
		}
	}
	if len(out) != known-1 {
		t.Fatalf("found %d migrations below %d in %s", len(out), known, dir)
	}
	return out
}

// oldSQLiteFolder makes a data folder whose store is at schema version
// known-1, written as the sluice of that version wrote it (WAL mode, one
// transaction per migration), with a user in it.
func oldSQLiteFolder(t *testing.T) (dir string, version int) {
	t.Helper()
	known := sqlite.KnownVersion()
	dir = t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "sluice.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for i, f := range migrationsBelow(t, "../store/sqlite/migrations", known) {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, 1)`, i+1); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO users (email, password_hash, role, created_at) VALUES ('ada@example.com', 'h', 'admin', 1)`); err != nil {
		t.Fatal(err)
	}
	return dir, known - 1
}

// fileSum returns the SHA-256 of a file's bytes.
func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// sqliteVersion reads the schema version of a SQLite file directly.
func sqliteVersion(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRowContext(t.Context(), `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// Export and backup read an older SQLite store without migrating it:
// export refuses it naming both versions, backup copies it at its own
// version, and the database file's bytes do not change. 'sluice migrate'
// then upgrades it, after which export reads it.
func TestReadingAnOlderSQLiteStoreLeavesItAsItIs(t *testing.T) {
	dir, old := oldSQLiteFolder(t)
	known := sqlite.KnownVersion()
	path := filepath.Join(dir, "sluice.db")
	before := fileSum(t, path)
	b := setup(t)

	b.run(t, "", "export", "--data", dir, "--out", filepath.Join(t.TempDir(), "x.jsonl")).check(t, ExitFailure, nil,
		[]string{fmt.Sprintf("export: the store's schema version is %d, older than this sluice's (%d)", old, known), "'sluice migrate'"})
	b.run(t, "", "export", "--db", "sqlite:"+path).check(t, ExitFailure, nil, []string{fmt.Sprintf("schema version is %d, older", old)})
	copyPath := filepath.Join(t.TempDir(), "backup.db")
	b.run(t, "", "backup", "--data", dir, "--out", copyPath).check(t, 0, nil, []string{fmt.Sprintf("(schema version %d; this sluice's is %d)", old, known)})

	if fileSum(t, path) != before {
		t.Fatal("export or backup changed the bytes of the older store's sluice.db")
	}
	if v := sqliteVersion(t, path); v != old {
		t.Fatalf("store at schema version %d after export and backup, want %d", v, old)
	}
	if v := sqliteVersion(t, copyPath); v != old {
		t.Fatalf("backup at schema version %d, want the store's %d", v, old)
	}
	if info, err := os.Stat(path + "-wal"); err == nil && info.Size() != 0 {
		t.Fatalf("the store's WAL holds %d bytes after reading it", info.Size())
	}

	// 'sluice migrate' is the way to upgrade; export reads the result.
	b.run(t, "", "migrate", "--data", dir).check(t, 0, []string{fmt.Sprintf("schema version %d", known)}, nil)
	b.run(t, "", "export", "--data", dir, "--out", filepath.Join(t.TempDir(), "x.jsonl")).check(t, 0, nil, []string{"exported", fmt.Sprintf("(schema version %d)", known)})
	// A store newer than this binary is refused too, and left as it is.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(t.Context(), `INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	b.run(t, "", "export", "--data", dir).check(t, ExitFailure, nil, []string{fmt.Sprintf("schema version is 9999, newer than this sluice knows (%d)", known)})
}

// Export reads an older PostgreSQL schema without migrating it: it
// refuses naming both versions, and the schema's version and columns are
// those it had before.
func TestExportRefusesAnOlderPostgresSchema(t *testing.T) {
	url := pgtest.FreshSchema(t)
	known := postgres.KnownVersion()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for i, f := range migrationsBelow(t, "../store/postgres/migrations", known) {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())`, i+1)
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	// The schema's shape: every column of every table, and the versions.
	shape := func() string {
		var s string
		err := conn.QueryRow(ctx, `SELECT string_agg(table_name || '.' || column_name || ':' || data_type, ',' ORDER BY table_name, column_name)
			FROM information_schema.columns WHERE table_schema = current_schema()`).Scan(&s)
		if err != nil {
			t.Fatal(err)
		}
		var v string
		if err := conn.QueryRow(ctx, `SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return s + " versions " + v
	}
	before := shape()
	b := setup(t)
	b.run(t, "", "export", "--db", url).check(t, ExitFailure, nil,
		[]string{fmt.Sprintf("export: the store's schema version is %d, older than this sluice's (%d)", known-1, known)})
	if after := shape(); after != before {
		t.Fatalf("export changed the older schema:\nbefore %s\nafter  %s", before, after)
	}
	b.run(t, "", "migrate", "--db", url).check(t, 0, []string{fmt.Sprintf("schema version %d", known)}, nil)
	b.run(t, "", "export", "--db", url, "--out", filepath.Join(t.TempDir(), "x.jsonl")).check(t, 0, nil, []string{"exported"})
}
