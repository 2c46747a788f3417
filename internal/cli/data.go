package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice/sluice/internal/secret"
	"github.com/sluice/sluice/internal/server"
	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/sqlite"
	"github.com/sluice/sluice/internal/transfer"
)

// storeOptions name the store a data command works on, as serve does:
// --data (SLUICE_DATA) and --db (SLUICE_DB).
type storeOptions struct {
	DataDir string
	DBURL   string
	// SecretKey comes from SLUICE_SECRET_KEY (or _FILE) only.
	SecretKey string
}

// storeFlags adds --data and --db to cmd.
func (o *storeOptions) storeFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.DataDir, "data", "", "data directory (SQLite database and secret key) (default ./"+server.DefaultDataDir+")")
	f.StringVar(&o.DBURL, "db", "", "database URL: sqlite:PATH or postgres://... (default SQLite in the data directory)")
}

// fromEnv fills the options whose flags were not given.
func (o *storeOptions) fromEnv(a *app, cmd *cobra.Command) error {
	if v := a.getenv("SLUICE_DATA"); v != "" && !cmd.Flags().Changed("data") {
		o.DataDir = v
	}
	if v := a.getenv("SLUICE_DB"); v != "" && !cmd.Flags().Changed("db") {
		o.DBURL = v
	}
	if o.DataDir == "" {
		o.DataDir = server.DefaultDataDir
	}
	var err error
	o.SecretKey, err = a.secretFromEnv("SLUICE_SECRET_KEY")
	return err
}

// sqlite reports whether the store is the SQLite file in the data folder.
func (o *storeOptions) sqlite() bool { return o.DBURL == "" }

// open opens the store for a command that writes it (import, migrate),
// applying migrations; on the data folder's SQLite store it takes the
// folder's lock first, so that it never runs under a server. The returned
// function closes the store and releases the lock.
func (o *storeOptions) open(ctx context.Context, a *app) (store.Store, func(), error) {
	unlock := func() {}
	if o.sqlite() {
		if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
			return nil, nil, fmt.Errorf("create data folder %s: %w", o.DataDir, err)
		}
		var err error
		if unlock, err = server.LockDataDir(o.DataDir); err != nil {
			return nil, nil, fmt.Errorf("%w: stop the server first", err)
		}
	}
	log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := server.OpenStore(ctx, server.Config{DataDir: o.DataDir, DBURL: o.DBURL, SecretKey: o.SecretKey, Logger: log})
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return st, func() { st.Close(); unlock() }, nil
}

// openReadOnly opens the store for reading only, without migrating it
// (server.OpenStoreReadOnly), and refuses one whose schema version is not
// this binary's: the export stream is read and checked against this
// version's tables, and reading a store never upgrades it ('sluice migrate'
// does). The returned function closes the store.
func (o *storeOptions) openReadOnly(ctx context.Context, a *app, what string) (store.Store, func(), error) {
	if o.sqlite() {
		if _, err := os.Stat(filepath.Join(o.DataDir, "sluice.db")); err != nil {
			return nil, nil, fmt.Errorf("no store in data folder %s: %w", o.DataDir, err)
		}
	}
	log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, known, err := server.OpenStoreReadOnly(ctx, server.Config{DataDir: o.DataDir, DBURL: o.DBURL, SecretKey: o.SecretKey, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	if err := sameVersion(ctx, st, known, what); err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, func() { st.Close() }, nil
}

// sameVersion refuses a store whose schema version is not known, naming
// both versions and the way forward.
func sameVersion(ctx context.Context, st store.Store, known int, what string) error {
	v, err := st.SchemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w (is this a sluice store?)", what, err)
	}
	switch {
	case v < known:
		return fmt.Errorf("%s: the store's schema version is %d, older than this sluice's (%d); %s reads a store of its own version only and never migrates it: back the store up ('sluice backup' or pg_dump), upgrade it with 'sluice migrate', then run %s again, or run %s with the sluice that last served this store", what, v, known, what, what, what)
	case v > known:
		return fmt.Errorf("%s: the store's schema version is %d, newer than this sluice knows (%d): run %s with the newer sluice", what, v, known, what)
	}
	return nil
}

// exportOptions are the options of `sluice export`.
type exportOptions struct {
	storeOptions
	Out string
}

func (o *exportOptions) validate() error { return nil }

func (a *app) exportCommand() *cobra.Command {
	var o exportOptions
	cmd := &cobra.Command{
		Use:   "export [--data DIR | --db URL] [--out FILE]",
		Short: "Write every row of a store as a stream, for 'sluice import'",
		Long: `Write everything a store holds (users with their password hashes, API
tokens' hashes, flows with every version, connections, settings,
notifications, the outbox, runs and steps, problems and bulk jobs) as
line-delimited JSON to stdout or --out. Sign-in attempts and sessions are
left out.

The export reads one snapshot, so it is safe while the server runs. It
opens the store read-only and never migrates it: a store of an older
schema version is refused (back it up, then 'sluice migrate' it first).
Connections' secrets stay sealed: the secret key is NOT in the stream, and
the server you import into must use the same SLUICE_SECRET_KEY (or a copy
of secret.key). A progress bar is drawn on stderr when it is a terminal.`,
		Args: argsRange(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.fromEnv(a, cmd); err != nil {
				return err
			}
			return runValidated(cmd.Context(), &o, a.runExport)
		},
	}
	o.storeFlags(cmd)
	cmd.Flags().StringVar(&o.Out, "out", "", "file to write (created with mode 0600; default stdout)")
	return cmd
}

func (a *app) runExport(ctx context.Context, o *exportOptions) error {
	st, done, err := o.openReadOnly(ctx, a, "export")
	if err != nil {
		return err
	}
	defer done()
	var w io.Writer = a.stdout
	var f *os.File
	if o.Out != "" {
		if f, err = os.OpenFile(o.Out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		w = f
	}
	bar := a.rowsBar("exported")
	h, err := transfer.Export(ctx, st, w, bar.update)
	bar.finish()
	if f != nil {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("export: %w", cerr)
		}
		if err != nil {
			os.Remove(o.Out)
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "exported %d rows (schema version %d); the secret key is not included\n", h.TotalRows, h.SchemaVersion)
	return nil
}

// importOptions are the options of `sluice import`.
type importOptions struct {
	storeOptions
	In string
}

func (o *importOptions) validate() error { return nil }

func (a *app) importCommand() *cobra.Command {
	var o importOptions
	cmd := &cobra.Command{
		Use:   "import [--data DIR | --db URL] [--in FILE]",
		Short: "Load a stream written by 'sluice export' into an empty store",
		Long: `Load a stream written by 'sluice export' (from stdin or --in) into an empty
store: a new data folder, or a new PostgreSQL database or schema. Ids are
kept, so links and resubmitted-from references stay valid.

The import is one transaction: a stream cut short or refused leaves the
store empty. The stream must come from the same Sluice version (its schema
version is checked). Connections' secrets are checked against this
server's key (SLUICE_SECRET_KEY, else DATA/secret.key) before anything is
committed: set the key the exporting server used.`,
		Args: argsRange(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.fromEnv(a, cmd); err != nil {
				return err
			}
			return runValidated(cmd.Context(), &o, a.runImport)
		},
	}
	o.storeFlags(cmd)
	cmd.Flags().StringVar(&o.In, "in", "", "file to read (default stdin)")
	return cmd
}

func (a *app) runImport(ctx context.Context, o *importOptions) error {
	r := a.stdin
	if o.In != "" {
		f, err := os.Open(o.In)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer f.Close()
		r = f
	}
	st, done, err := o.open(ctx, a)
	if err != nil {
		return err
	}
	defer done()
	bar := a.rowsBar("imported")
	h, err := transfer.Import(ctx, r, st, transfer.ImportOptions{OpenSecret: o.openSecret, Progress: bar.update})
	bar.finish()
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "imported %d rows (schema version %d)\n", h.TotalRows, h.SchemaVersion)
	return nil
}

// openSecret opens a sealed secret with the key of the store imported
// into.
func (o *importOptions) openSecret(sealed []byte) error {
	key, err := server.ReadSecretKey(o.DataDir, o.SecretKey)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no secret key: SLUICE_SECRET_KEY is not set and %s has no secret.key", o.DataDir)
	}
	if err != nil {
		return err
	}
	box, err := secret.NewBox(key)
	if err != nil {
		return err
	}
	_, err = box.Open(sealed)
	return err
}

// backupOptions are the options of `sluice backup`.
type backupOptions struct {
	storeOptions
	Out string
}

func (o *backupOptions) validate() error {
	if o.Out == "" {
		return errors.New("backup needs --out FILE")
	}
	if !o.sqlite() {
		return errors.New("backup copies the SQLite store of a data folder; back up PostgreSQL with pg_dump or 'sluice export' (see docs/deploy.md)")
	}
	return nil
}

func (a *app) backupCommand() *cobra.Command {
	var o backupOptions
	cmd := &cobra.Command{
		Use:   "backup [--data DIR] --out FILE",
		Short: "Copy a SQLite store, safely while the server runs",
		Long: `Copy the SQLite store of a data folder to FILE (VACUUM INTO: one consistent
snapshot, safe while the server runs). The store is opened read-only and
never migrated, so the copy has the store's own schema version: back up
before 'sluice migrate' or an upgrade. FILE must not exist; it is created
with mode 0600. The copy does not hold the secret key: keep secret.key (or
SLUICE_SECRET_KEY) safe apart from it.

To restore, stop the server, move FILE to DATA/sluice.db (removing any
sluice.db-wal and sluice.db-shm beside it), and start the server with the
same secret key.`,
		Args: argsRange(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.fromEnv(a, cmd); err != nil {
				return err
			}
			return runValidated(cmd.Context(), &o, a.runBackup)
		},
	}
	cmd.Flags().StringVar(&o.DataDir, "data", "", "data directory (default ./"+server.DefaultDataDir+")")
	cmd.Flags().StringVar(&o.Out, "out", "", "file to write (must not exist)")
	return cmd
}

func (a *app) runBackup(ctx context.Context, o *backupOptions) error {
	path := filepath.Join(o.DataDir, "sluice.db")
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("backup: no store in data folder %s: %w", o.DataDir, err)
	}
	// Read-only and without migrating: the copy is of the store as it
	// is, whatever its schema version (a backup before an upgrade is the
	// one that matters).
	st, err := sqlite.OpenReadOnly(ctx, path, slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	defer st.Close()
	v, err := st.SchemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("backup: %w (is this a sluice store?)", err)
	}
	if err := st.Backup(ctx, o.Out); err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "backed up %s to %s (schema version %d; this sluice's is %d)\n", path, o.Out, v, sqlite.KnownVersion())
	return nil
}

// migrateOptions are the options of `sluice migrate`.
type migrateOptions struct {
	storeOptions
}

func (o *migrateOptions) validate() error { return nil }

func (a *app) migrateCommand() *cobra.Command {
	var o migrateOptions
	cmd := &cobra.Command{
		Use:   "migrate [--data DIR | --db URL]",
		Short: "Bring a store's schema up to this version, without serving",
		Long: `Apply the migrations this sluice knows and the store has not had yet, then
exit. It refuses a schema newer than this sluice knows (roll the binary
forward, or restore a backup taken before the upgrade). Several nodes may
run it at once on PostgreSQL: one migrates, the others wait.`,
		Args: argsRange(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.fromEnv(a, cmd); err != nil {
				return err
			}
			return runValidated(cmd.Context(), &o, a.runMigrate)
		},
	}
	o.storeFlags(cmd)
	return cmd
}

func (a *app) runMigrate(ctx context.Context, o *migrateOptions) error {
	st, done, err := o.open(ctx, a)
	if err != nil {
		return err
	}
	defer done()
	v, err := st.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "schema version %d\n", v)
	return nil
}

// rowsBar draws export's and import's progress on stderr when stderr is
// a terminal, at most ten times a second; elsewhere it draws nothing.
type rowsBar struct {
	bar  *progressBar
	last time.Time
}

// rowsBar returns the bar of a data command.
func (a *app) rowsBar(verb string) *rowsBar {
	if !isTerminal(a.stderr) {
		return &rowsBar{}
	}
	return &rowsBar{bar: newProgressBar(a.stderr, true, verb)}
}

// update redraws the bar when a tenth of a second has passed, and at the
// end.
func (b *rowsBar) update(done, total int64) {
	if b.bar == nil || (done < total && time.Since(b.last) < 100*time.Millisecond) {
		return
	}
	b.last = time.Now()
	b.bar.draw(fmt.Sprintf("[%s] %d/%d rows %s", barCells(int(done), int(total)), done, total, b.bar.verb))
}

// finish ends the bar's line.
func (b *rowsBar) finish() {
	if b.bar != nil {
		b.bar.done()
	}
}
