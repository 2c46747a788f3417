package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
)

// fileMode is the mode of the database and of its -wal and -shm files:
// they hold every run's data, readable by the server's user only.
const fileMode fs.FileMode = 0o600

// secureFiles creates the database file with mode 0600 before SQLite opens
// it, because SQLite creates a new database 0644 (less the umask) and gives
// its -wal and -shm files the database's mode. An existing database, -wal,
// -shm or -journal that the group or others may read is narrowed to 0600,
// with a warning. An in-memory database has no files.
func secureFiles(path string, log *slog.Logger) error {
	if path == "" || strings.HasPrefix(path, ":memory:") || strings.Contains(path, "mode=memory") {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
	switch {
	case err == nil:
		if err := f.Close(); err != nil {
			return fmt.Errorf("create sqlite %s: %w", path, err)
		}
	case !errors.Is(err, fs.ErrExist):
		return fmt.Errorf("create sqlite %s: %w", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		info, err := os.Stat(p)
		if err != nil || info.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, fileMode); err != nil {
			return fmt.Errorf("sqlite %s is readable by others (mode %s) and cannot be narrowed to %s: %w", p, info.Mode().Perm(), fileMode, err)
		}
		log.Warn("narrowed the mode of a database file that others could read", "file", p, "was", info.Mode().Perm().String(), "now", fileMode.String())
	}
	return nil
}
