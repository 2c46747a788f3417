package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluice/sluice/internal/secret"
	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/postgres"
	"github.com/sluice/sluice/internal/store/sqlite"
)

// OpenStore opens the store cfg names (DataDir, DBURL, Logger), applying
// migrations, for the commands that write a store without serving it:
// import and migrate. The commands that only read one use
// OpenStoreReadOnly.
func OpenStore(ctx context.Context, cfg Config) (store.Store, error) {
	st, _, err := openStore(ctx, cfg)
	return st, err
}

// OpenStoreReadOnly opens the store cfg names without migrating or writing
// it (sqlite.OpenReadOnly, postgres.OpenReadOnly), for the commands that
// only read a store: reading a store must not upgrade it, or a backup taken
// before an upgrade would already be of the upgraded schema. known is the
// schema version this binary's migrations reach, for the caller to compare
// with the store's SchemaVersion.
func OpenStoreReadOnly(ctx context.Context, cfg Config) (st store.Store, known int, err error) {
	switch {
	case cfg.DBURL == "":
		st, err := sqlite.OpenReadOnly(ctx, filepath.Join(cfg.DataDir, "sluice.db"), cfg.Logger)
		return st, sqlite.KnownVersion(), err
	case strings.HasPrefix(cfg.DBURL, "sqlite:"):
		st, err := sqlite.OpenReadOnly(ctx, strings.TrimPrefix(strings.TrimPrefix(cfg.DBURL, "sqlite:"), "//"), cfg.Logger)
		return st, sqlite.KnownVersion(), err
	case strings.HasPrefix(cfg.DBURL, "postgres://"), strings.HasPrefix(cfg.DBURL, "postgresql://"):
		st, err := postgres.OpenReadOnly(ctx, cfg.DBURL, cfg.Logger)
		return st, postgres.KnownVersion(), err
	}
	return nil, 0, fmt.Errorf("--db %q: unsupported database URL: use postgres://..., sqlite:PATH, or leave it empty for SQLite in the data folder", redactURL(cfg.DBURL))
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
