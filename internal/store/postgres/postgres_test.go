package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/postgres/pgtest"
	"github.com/sluice/sluice/internal/store/storetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	// The admin pool is shared by every test; close it before looking for
	// leaked goroutines.
	pgtest.Close()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// quietLogger discards what the store logs.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openFresh opens a store on a fresh schema and closes it when t ends.
func openFresh(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), pgtest.FreshSchema(t), quietLogger())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	pgtest.Admin(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t) })
}

func TestPostgres(t *testing.T) {
	pgtest.Admin(t)

	t.Run("ConcurrentOpenMigratesOnce", func(t *testing.T) {
		t.Parallel()
		dsn := pgtest.FreshSchema(t)
		const nodes = 6
		stores := make([]*Store, nodes)
		errs := make([]error, nodes)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range nodes {
			wg.Go(func() {
				<-start
				stores[i], errs[i] = Open(t.Context(), dsn, quietLogger())
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("Open %d: %v", i, err)
			}
			t.Cleanup(func() { stores[i].Close() })
		}
		all, err := embeddedMigrations()
		if err != nil {
			t.Fatal(err)
		}
		var n, maxVersion int
		if err := stores[0].pool.QueryRow(t.Context(), `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &maxVersion); err != nil {
			t.Fatalf("read schema_migrations: %v", err)
		}
		if n != len(all) || maxVersion != all[len(all)-1].version {
			t.Fatalf("schema_migrations: %d rows up to %d, want %d up to %d", n, maxVersion, len(all), all[len(all)-1].version)
		}
	})

	t.Run("RefusesNewerSchema", func(t *testing.T) {
		t.Parallel()
		dsn := pgtest.FreshSchema(t)
		s, err := Open(t.Context(), dsn, quietLogger())
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		_, err = s.pool.Exec(t.Context(), `INSERT INTO schema_migrations (version, applied_at) VALUES (9999, now())`)
		s.Close()
		if err != nil {
			t.Fatalf("record future migration: %v", err)
		}
		s, err = Open(t.Context(), dsn, quietLogger())
		if err == nil {
			s.Close()
			t.Fatal("Open of a database with a newer schema succeeded")
		}
		if msg := err.Error(); !strings.Contains(msg, "9999") || !strings.Contains(msg, "newer") {
			t.Fatalf("Open of a newer schema: error %q does not say the schema (9999) is newer", msg)
		}
	})

	t.Run("ReopenKeepsData", func(t *testing.T) {
		t.Parallel()
		dsn := pgtest.FreshSchema(t)
		s, err := Open(t.Context(), dsn, quietLogger())
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		u, err := s.CreateUser(t.Context(), store.User{Email: "keep@example.com", PasswordHash: "h", Role: store.RoleAdmin})
		s.Close()
		if err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		s, err = Open(t.Context(), dsn, quietLogger())
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer s.Close()
		got, err := s.GetUserByEmail(t.Context(), "Keep@Example.com")
		if err != nil || got.ID != u.ID {
			t.Fatalf("GetUserByEmail after reopen: %+v, %v", got, err)
		}
	})

	t.Run("ConflictWrapsPgError", func(t *testing.T) {
		t.Parallel()
		s := openFresh(t)
		_, err := s.CreateUser(t.Context(), store.User{Email: "a@example.com", PasswordHash: "h", Role: store.RoleMaker})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.CreateUser(t.Context(), store.User{Email: "A@example.com", PasswordHash: "h", Role: store.RoleMaker})
		if !errors.Is(err, store.ErrConflict) || !isUnique(err) {
			t.Fatalf("duplicate email: got %v, want ErrConflict wrapping the unique violation", err)
		}
	})

	t.Run("ClaimManyNodes", func(t *testing.T) {
		t.Parallel()
		// Nodes with pools of their own claim from one queue, as separate
		// servers would.
		dsn := pgtest.FreshSchema(t)
		const nodes, runs = 4, 300
		stores := make([]*Store, nodes)
		for i := range stores {
			s, err := Open(t.Context(), dsn, quietLogger())
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			stores[i] = s
		}
		ctx := t.Context()
		u, err := stores[0].CreateUser(ctx, store.User{Email: "n@example.com", PasswordHash: "h", Role: store.RoleMaker})
		if err != nil {
			t.Fatal(err)
		}
		f, err := stores[0].CreateFlow(ctx, store.NewFlow{Name: "f", OwnerID: u.ID, TriggerType: "manual", WebhookToken: "w", Definition: json.RawMessage(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		past := time.Now().Add(-time.Second)
		if _, err := stores[0].pool.Exec(ctx, `INSERT INTO runs (flow_id, flow_version, status, trigger_type, input, created_at, next_attempt_at) `+
			`SELECT $1, 1, 'queued', 'manual', '{}', now(), $2 FROM generate_series(1, $3)`, f.ID, past, runs); err != nil {
			t.Fatalf("insert runs: %v", err)
		}
		var mu sync.Mutex
		seen := map[int64]int{}
		errs := make(chan error, nodes*2)
		var wg sync.WaitGroup
		for i := range nodes * 2 {
			s := stores[i%nodes]
			owner := fmt.Sprintf("node-%d", i)
			wg.Go(func() {
				for {
					got, err := s.ClaimRuns(ctx, owner, time.Now(), time.Now().Add(time.Minute), 5)
					if err != nil {
						errs <- err
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, r := range got {
						seen[r.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if len(seen) != runs {
			t.Fatalf("claimed %d distinct runs, want %d", len(seen), runs)
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("run %d claimed %d times", id, n)
			}
		}
	})
}

// TestNextSeqUsesIndex checks that the next seq of a run's step can be
// found through the steps_seq index rather than by reading every step of
// the run (which made recording n steps O(n²)).
func TestNextSeqUsesIndex(t *testing.T) {
	pgtest.Admin(t)
	s := openFresh(t)
	tx, err := s.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(t.Context())
	if _, err := tx.Exec(t.Context(), `SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(t.Context(), `EXPLAIN SELECT COALESCE(MAX(seq), 0) FROM steps WHERE run_id = 1`)
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(plan, "\n"); !strings.Contains(got, "steps_seq") {
		t.Fatalf("plan of the next seq:\n%s\nwant a scan of index steps_seq", got)
	}
}

// TestDownMigrationsUndoTheUps applies every .down.sql newest first, as
// docs/deploy.md describes for a rollback, and checks that no table but
// schema_migrations is left and that the migrations then apply again.
func TestDownMigrationsUndoTheUps(t *testing.T) {
	dsn := pgtest.FreshSchema(t)
	s, err := Open(t.Context(), dsn, quietLogger())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	storetest.UndoMigrations(t, migrations, func(q string) error {
		_, err := s.pool.Exec(t.Context(), q)
		return err
	}, func(q string) (store.Rows, error) {
		return s.pool.Query(t.Context(), q)
	}, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1`)
	s.Close()
	s, err = Open(t.Context(), dsn, quietLogger())
	if err != nil {
		t.Fatalf("Open after the rollback: %v", err)
	}
	s.Close()
}

// TestStepFaultsBackfilled upgrades a store whose step errors were only
// JSON: migration 0011 fills the fault columns from the errors already
// recorded, and leaves them empty for an error that is not a JSON object.
func TestStepFaultsBackfilled(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.FreshSchema(t)
	s, err := Open(ctx, dsn, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	// Back to the schema before 0011, as a store of the previous version:
	// 0011 and every later migration undone, newest first.
	downs, err := fs.Glob(migrations, "migrations/*.down.sql")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(downs)
	slices.Reverse(downs)
	for _, name := range downs {
		v, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(name, "migrations/"), "_", 2)[0])
		if err != nil {
			t.Fatal(err)
		}
		if v < 11 {
			break
		}
		down, err := migrations.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.pool.Exec(ctx, string(down)+`; DELETE FROM schema_migrations WHERE version = `+strconv.Itoa(v)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	runs := storetest.FaultRuns(t, s)
	for key, id := range runs {
		if _, err := s.pool.Exec(ctx, `INSERT INTO steps (run_id, key, seq, action_id, type, status, attempts, error) VALUES ($1, $2, 1, $2, 'http', 'failed', 1, $3)`,
			id, key, storetest.FaultErrors[key]); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s, err = Open(ctx, dsn, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.CheckFaultsBackfilled(t, s, runs)
}
