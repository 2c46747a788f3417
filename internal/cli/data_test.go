package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice/sluice/internal/secret"
	"github.com/sluice/sluice/internal/server"
	"github.com/sluice/sluice/internal/store"
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
