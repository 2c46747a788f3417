package sqlite

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sluice/sluice/internal/store"
)

// TestFileModes checks that the database and its -wal and -shm files are
// created readable by the server's user only, whatever the umask allows.
func TestFileModes(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sluice.db")
	s := openAt(t, path)
	if _, err := s.CreateUser(t.Context(), store.User{Email: "mode@example.com", PasswordHash: "x", Role: store.RoleMaker}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if got := info.Mode().Perm(); got != fileMode {
			t.Errorf("%s: mode %s, want %s", filepath.Base(p), got, fileMode)
		}
	}
}

// TestFileModesNarrowed checks that an existing database others may read
// (as earlier versions created it) is narrowed to 0600 when opened.
func TestFileModesNarrowed(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sluice.db")
	s, err := Open(t.Context(), path, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	openAt(t, path)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != fileMode {
		t.Errorf("reopened database: mode %s, want %s", got, fileMode)
	}
}
