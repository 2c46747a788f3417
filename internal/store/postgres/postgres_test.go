package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/storetest"
)

// defaultURL is the test database when SLUICE_TEST_POSTGRES_URL is unset.
const defaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func TestMain(m *testing.M) {
	code := m.Run()
	// The admin pool is shared by every test; close it before looking for
	// leaked goroutines.
	if adminPool != nil {
		adminPool.Close()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// testURL returns the database the tests use.
func testURL() string {
	if u := os.Getenv("SLUICE_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return defaultURL
}

// quietLogger discards what the store logs.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

var (
	adminOnce sync.Once
	adminPool *pgxpool.Pool
	adminErr  error
)

// admin returns a pool on the test database for creating and dropping
// schemas. When PostgreSQL cannot be reached it skips the test, unless
// SLUICE_TEST_POSTGRES is set (as in CI), where it fails.
func admin(t testing.TB) *pgxpool.Pool {
	t.Helper()
	adminOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		adminPool, adminErr = pgxpool.New(ctx, testURL())
		if adminErr == nil {
			if adminErr = adminPool.Ping(ctx); adminErr != nil {
				adminPool.Close()
			}
		}
	})
	if adminErr != nil {
		if os.Getenv("SLUICE_TEST_POSTGRES") != "" {
			t.Fatalf("SLUICE_TEST_POSTGRES is set but PostgreSQL at %s is unreachable: %v", redact(testURL()), adminErr)
		}
		t.Skipf("PostgreSQL at %s is unreachable (%v); set SLUICE_TEST_POSTGRES_URL to run these tests, SLUICE_TEST_POSTGRES to require them", redact(testURL()), adminErr)
	}
	return adminPool
}

// redact hides a password in a URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(the configured database)"
	}
	return u.Redacted()
}

// freshSchema creates an empty schema, drops it when t ends and returns a
// URL whose connections use it.
func freshSchema(t testing.TB) string {
	t.Helper()
	pool := admin(t)
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "sluice_test_" + hex.EncodeToString(b[:])
	if _, err := pool.Exec(context.Background(), `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(testURL())
	if err != nil {
		t.Fatalf("parse test url: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// openFresh opens a store on a fresh schema and closes it when t ends.
func openFresh(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), freshSchema(t), quietLogger())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	admin(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t) })
}

func TestPostgres(t *testing.T) {
	admin(t)

	t.Run("ConcurrentOpenMigratesOnce", func(t *testing.T) {
		t.Parallel()
		dsn := freshSchema(t)
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
		dsn := freshSchema(t)
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
		dsn := freshSchema(t)
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
		dsn := freshSchema(t)
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
	admin(t)
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

// TestStepFaultsBackfilled upgrades a store whose step errors were only
// JSON: migration 0011 fills the fault columns from the errors already
// recorded, and leaves them empty for an error that is not a JSON object.
func TestStepFaultsBackfilled(t *testing.T) {
	admin(t)
	ctx := t.Context()
	dsn := freshSchema(t)
	s, err := Open(ctx, dsn, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	// Back to the schema before 0011, as a store of the previous version.
	down, err := migrations.ReadFile("migrations/0011_step_faults.down.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, string(down)+`; DELETE FROM schema_migrations WHERE version = 11`); err != nil {
		t.Fatal(err)
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
