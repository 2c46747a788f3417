package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// quietLogger discards what the store logs.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openAt opens the store at path and closes it when tb ends.
// downTo applies the down migrations of every version above version,
// newest first, as a store of that earlier version would have left it.
func downTo(tb testing.TB, s *Store, version int) {
	tb.Helper()
	downs, err := fs.Glob(migrations, "migrations/*.down.sql")
	if err != nil {
		tb.Fatal(err)
	}
	slices.Reverse(downs)
	for _, name := range downs {
		v, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(name, "migrations/"), "_", 2)[0])
		if err != nil {
			tb.Fatal(err)
		}
		if v <= version {
			break
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := s.write.ExecContext(tb.Context(), string(body)); err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		if _, err := s.write.ExecContext(tb.Context(), `DELETE FROM schema_migrations WHERE version = ?`, v); err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
	}
}

// openBefore opens a store in a new file with the schema as it was before
// migration version, as a store of the previous version left it; the
// caller closes it, and opens the file again to upgrade it.
func openBefore(t *testing.T, version int) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sluice.db")
	s, err := Open(t.Context(), path, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	downTo(t, s, version-1)
	return s, path
}

func openAt(tb testing.TB, path string) *Store {
	tb.Helper()
	s, err := Open(context.Background(), path, quietLogger())
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

// openTemp opens a fresh store in a file of its own.
func openTemp(tb testing.TB) *Store {
	tb.Helper()
	return openAt(tb, filepath.Join(tb.TempDir(), "sluice.db"))
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func TestPragmas(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := t.Context()
	for name, db := range map[string]*sql.DB{"write": s.write, "read": s.read} {
		var mode string
		if err := db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
			t.Fatalf("%s: journal_mode: %v", name, err)
		}
		if mode != "wal" {
			t.Errorf("%s: journal_mode = %q, want wal", name, mode)
		}
		var fk, busy int
		if err := db.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil {
			t.Fatalf("%s: foreign_keys: %v", name, err)
		}
		if fk != 1 {
			t.Errorf("%s: foreign_keys = %d, want 1", name, fk)
		}
		if err := db.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busy); err != nil {
			t.Fatalf("%s: busy_timeout: %v", name, err)
		}
		if busy <= 0 {
			t.Errorf("%s: busy_timeout = %d, want > 0", name, busy)
		}
	}
	// Reads go through a connection that cannot write.
	if _, err := s.read.ExecContext(ctx, `INSERT INTO users (email, password_hash, role, created_at) VALUES ('x@example.com', 'h', 'maker', 0)`); err == nil {
		t.Error("read pool accepted a write")
	}
}

func TestForeignKeysEnforced(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	_, err := s.CreateFlow(t.Context(), store.NewFlow{Name: "orphan", OwnerID: 4242, TriggerType: "manual", WebhookToken: "t", Definition: json.RawMessage(`{}`)})
	if err == nil {
		t.Fatal("CreateFlow with a missing owner succeeded; foreign keys are off")
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sluice.db")
	s, err := Open(t.Context(), path, quietLogger())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if _, err := s.write.ExecContext(t.Context(), `INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
		t.Fatalf("record future migration: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s, err = Open(t.Context(), path, quietLogger())
	if err == nil {
		s.Close()
		t.Fatal("Open of a database with a newer schema succeeded")
	}
	if msg := err.Error(); !strings.Contains(msg, "9999") || !strings.Contains(msg, "newer") {
		t.Fatalf("Open of a newer schema: error %q does not say the schema (9999) is newer", msg)
	}
}

func TestMigrateTwiceIsNoop(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sluice.db")
	for i := range 2 {
		s, err := Open(t.Context(), path, quietLogger())
		if err != nil {
			t.Fatalf("Open #%d: %v", i+1, err)
		}
		var n int
		if err := s.read.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
			t.Fatalf("count migrations: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if want := len(mustGlob(t, "migrations/*.up.sql")); n != want {
			t.Fatalf("Open #%d: %d migrations recorded, want %d", i+1, n, want)
		}
	}
}

func TestReopenKeepsData(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sluice.db")
	ctx := t.Context()
	s, err := Open(ctx, path, quietLogger())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	u, err := s.CreateUser(ctx, store.User{Email: "keep@example.com", PasswordHash: "h", Role: store.RoleAdmin})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	f, err := s.CreateFlow(ctx, store.NewFlow{Name: "keep", OwnerID: u.ID, TriggerType: "manual", WebhookToken: "wh", Definition: json.RawMessage(`{"a":1}`)})
	if err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}
	r, err := s.CreateRun(ctx, store.NewRun{FlowID: f.ID, FlowVersion: 1, TriggerType: "manual", LeaseOwner: "w", LeaseUntil: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatalf("CreateRun: %v", err)
	}
	if err := s.SaveSteps(ctx, "w", r.ID, "a", []store.Step{{Key: "a", ActionID: "a", Type: "log", Status: "succeeded"}}); err != nil {
		t.Fatalf("SaveSteps: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openAt(t, path)
	got, err := s.GetUserByEmail(ctx, "KEEP@example.com")
	if err != nil || got.ID != u.ID {
		t.Fatalf("GetUserByEmail after reopen: %+v, %v", got, err)
	}
	v, err := s.GetFlowVersion(ctx, f.ID, 1)
	if err != nil || string(v.Definition) != `{"a":1}` {
		t.Fatalf("GetFlowVersion after reopen: %+v, %v", v, err)
	}
	run, err := s.GetRun(ctx, r.ID)
	if err != nil || run.Status != store.RunRunning || run.CurrentStep != "a" {
		t.Fatalf("GetRun after reopen: %+v, %v", run, err)
	}
	steps, err := s.ListSteps(ctx, r.ID)
	if err != nil || len(steps) != 1 {
		t.Fatalf("ListSteps after reopen: %+v, %v", steps, err)
	}
}

func TestUseAfterClose(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Every call must return, never wait for a committer that is gone.
	for i := range 20 {
		if _, err := s.CreateUser(context.Background(), store.User{Email: fmt.Sprintf("u%d@example.com", i), PasswordHash: "h", Role: store.RoleMaker}); err == nil {
			t.Fatal("CreateUser after Close succeeded")
		}
	}
}

func TestGroupCommit(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := t.Context()
	u, err := s.CreateUser(ctx, store.User{Email: "gc@example.com", PasswordHash: "h", Role: store.RoleMaker})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	f, err := s.CreateFlow(ctx, store.NewFlow{Name: "gc", OwnerID: u.ID, TriggerType: "manual", WebhookToken: "gc", Definition: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}
	const writers, runs = 500, 10
	var runIDs [runs]int64
	for i := range runIDs {
		r, err := s.CreateRun(ctx, store.NewRun{FlowID: f.ID, FlowVersion: 1, TriggerType: "manual", LeaseOwner: "w", LeaseUntil: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatalf("CreateRun: %v", err)
		}
		runIDs[i] = r.ID
	}

	// One writer holds a lease it does not have: its failure must not undo
	// the others that share its transaction.
	start := make(chan struct{})
	errs := make([]error, writers+1)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			<-start
			key := fmt.Sprintf("step-%03d", i)
			errs[i] = s.SaveSteps(ctx, "w", runIDs[i%runs], key, []store.Step{{Key: key, ActionID: key, Type: "log", Status: "succeeded", Attempts: 1}})
		})
	}
	wg.Go(func() {
		<-start
		errs[writers] = s.SaveSteps(ctx, "intruder", runIDs[0], "bad", []store.Step{{Key: "bad", ActionID: "bad", Type: "log", Status: "failed"}})
	})
	close(start)
	wg.Wait()
	for i, err := range errs[:writers] {
		if err != nil {
			t.Fatalf("SaveSteps %d: %v", i, err)
		}
	}
	if err := errs[writers]; !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("SaveSteps by intruder: got %v, want ErrLeaseLost", err)
	}

	total := 0
	for _, id := range runIDs {
		steps, err := s.ListSteps(ctx, id)
		if err != nil {
			t.Fatalf("ListSteps: %v", err)
		}
		seen := map[int64]bool{}
		for _, st := range steps {
			if st.Key == "bad" {
				t.Fatalf("run %d: intruder's step was committed", id)
			}
			if seen[st.Seq] {
				t.Fatalf("run %d: seq %d used twice", id, st.Seq)
			}
			seen[st.Seq] = true
		}
		total += len(steps)
	}
	if total != writers {
		t.Fatalf("committed %d steps, want %d", total, writers)
	}
}

// benchStore opens a store with a user and a flow for benchmarks.
func benchStore(b *testing.B) (*Store, int64) {
	b.Helper()
	s := openTemp(b)
	ctx := context.Background()
	u, err := s.CreateUser(ctx, store.User{Email: "bench@example.com", PasswordHash: "h", Role: store.RoleMaker})
	if err != nil {
		b.Fatalf("CreateUser: %v", err)
	}
	f, err := s.CreateFlow(ctx, store.NewFlow{Name: "bench", OwnerID: u.ID, TriggerType: "manual", WebhookToken: "bench", Definition: json.RawMessage(`{}`)})
	if err != nil {
		b.Fatalf("CreateFlow: %v", err)
	}
	return s, f.ID
}

// BenchmarkGroupCommit creates runs from many goroutines at once: their
// inserts share transactions, so a run costs a fraction of a disk sync.
// Compare with BenchmarkCreateRunSerial.
func BenchmarkGroupCommit(b *testing.B) {
	s, flowID := benchStore(b)
	input := json.RawMessage(`{"body":{"n":1}}`)
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.CreateRun(context.Background(), store.NewRun{FlowID: flowID, FlowVersion: 1, TriggerType: "webhook", Input: input}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkCreateRunSerial creates runs one after another: each waits for
// its own commit.
func BenchmarkCreateRunSerial(b *testing.B) {
	s, flowID := benchStore(b)
	input := json.RawMessage(`{"body":{"n":1}}`)
	for b.Loop() {
		if _, err := s.CreateRun(context.Background(), store.NewRun{FlowID: flowID, FlowVersion: 1, TriggerType: "webhook", Input: input}); err != nil {
			b.Fatal(err)
		}
	}
}

// mustGlob lists the embedded migration files matching pattern.
func mustGlob(t *testing.T, pattern string) []string {
	t.Helper()
	names, err := fs.Glob(migrations, pattern)
	if err != nil || len(names) == 0 {
		t.Fatalf("glob %s: %v (%d files)", pattern, err, len(names))
	}
	return names
}

// TestNextSeqUsesIndex checks that the next seq of a run's step is found
// through the steps_seq index, not by scanning the run's steps: with a
// scan, recording n steps cost O(n²) and a 100,000-item foreach held the
// writer for minutes.
func TestNextSeqUsesIndex(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	rows, err := s.read.QueryContext(t.Context(), `EXPLAIN QUERY PLAN SELECT COALESCE(MAX(seq), 0) FROM steps WHERE run_id = ?`, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(plan, "; "); !strings.Contains(got, "INDEX steps_seq") {
		t.Fatalf("plan of the next seq: %q, want a search of index steps_seq", got)
	}
}

// TestDownMigrationsUndoTheUps applies every .down.sql newest first, as
// docs/deploy.md describes for a rollback, and checks that the schema is
// back to nothing and that the migrations then apply again.
func TestDownMigrationsUndoTheUps(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sluice.db")
	s, err := Open(t.Context(), path, quietLogger())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	storetest.UndoMigrations(t, migrations, func(q string) error {
		_, err := s.write.ExecContext(t.Context(), q)
		return err
	}, func(q string) (store.Rows, error) {
		return s.read.QueryContext(t.Context(), q)
	}, `SELECT name FROM sqlite_master WHERE type IN ('table', 'index') AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
	s.Close()
	s, err = Open(t.Context(), path, quietLogger())
	if err != nil {
		t.Fatalf("Open after the rollback: %v", err)
	}
	s.Close()
}
