package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sluice/sluice/internal/secret"
	"github.com/sluice/sluice/internal/store"
)

// OpenStore opens the store cfg names (DataDir, DBURL, Logger), applying
// migrations, for the commands that work on a store without serving it:
// export, import, backup and migrate.
func OpenStore(ctx context.Context, cfg Config) (store.Store, error) {
	st, _, err := openStore(ctx, cfg)
	return st, err
}

// LockDataDir takes the data folder's lock, as a running server holds it,
// so that a command that writes the SQLite store (import, migrate) never
// does so under a running server. The returned function releases it.
func LockDataDir(dir string) (func(), error) {
	return lockDataDir(dir)
}

// ReadSecretKey returns the configured key (SLUICE_SECRET_KEY) when set,
// else the one in dir/secret.key; an error wrapping os.ErrNotExist when
// there is neither. Unlike the server it never creates a key.
func ReadSecretKey(dir, configured string) ([]byte, error) {
	if configured != "" {
		return secret.ParseKey(configured)
	}
	path := filepath.Join(dir, "secret.key")
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read secret key: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("secret key %s: %d bytes, want 32", path, len(key))
	}
	return key, nil
}
