package server

import (
	"log/slog"
	"os"
	"path/filepath"
)

// warnReadable warns about a data folder or secret key that the group or
// others may read: the folder holds the database (every run's data) and
// the key opens every connection's secrets. Sluice creates both for its
// user only (0700 and 0600) but leaves a folder it did not create as it
// is, so an operator learns about it here.
func warnReadable(log *slog.Logger, dataDir string) {
	for _, p := range []string{dataDir, filepath.Join(dataDir, "secret.key")} {
		info, err := os.Stat(p)
		if err != nil || info.Mode().Perm()&0o077 == 0 {
			continue
		}
		log.Warn("readable by other users: narrow it with chmod go-rwx", "path", p, "mode", info.Mode().Perm().String())
	}
}
