package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// fillHistory writes n runs of 10 flows of one owner, one step each, a
// year of them, of which one in every failEvery failed with one of four
// diagnoses (one of them auth on connection crm), straight into the
// tables, and vacuums and analyzes them as autovacuum would.
func fillHistory(b *testing.B, s *Store, n, failEvery int) store.User {
	b.Helper()
	ctx := context.Background()
	u, err := s.CreateUser(ctx, store.User{Email: "b@example.com", PasswordHash: "x", Role: store.RoleMaker})
	if err != nil {
		b.Fatal(err)
	}
	var first int64
	for i := range 10 {
		f, err := s.CreateFlow(ctx, store.NewFlow{Name: fmt.Sprintf("f%d", i), OwnerID: u.ID, TriggerType: "manual", WebhookToken: fmt.Sprintf("t%d", i), Definition: []byte(`{}`), Source: "x"})
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			first = f.ID
		}
	}
	start := time.Now().Add(-365 * 24 * time.Hour)
	if _, err := s.pool.Exec(ctx, `INSERT INTO runs (id, flow_id, flow_version, status, trigger_type, input, created_at, next_attempt_at) `+
		`SELECT n, $4::bigint + (n / 7) % 10, 1, CASE WHEN n % $3::bigint = 0 THEN 'failed' ELSE 'succeeded' END, 'manual', '{}', $2::timestamptz + n * (interval '1 year' / $1::float8), $2::timestamptz `+
		`FROM generate_series(1, $1::bigint) n`, n, start, failEvery, first); err != nil {
		b.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO steps (run_id, key, seq, action_id, type, status, attempts, finished_at, output, error, error_class, error_code, error_connection) `+
		`SELECT id, 'call', 1, 'call', 'http', CASE WHEN f THEN 'failed' ELSE 'succeeded' END, 1, created_at, `+
		`CASE WHEN f THEN NULL ELSE '{"status":200,"body":{"ok":true}}' END, `+
		`CASE WHEN f THEN json_build_object('message', 'boom', 'kind', 'http', 'class', c.class, 'connection', 'crm', `+
		`'diagnosis', json_build_object('code', c.code, 'class', c.class, 'title', 'Title of ' || c.code))::text END, `+
		`CASE WHEN f THEN c.class END, CASE WHEN f THEN c.code END, CASE WHEN f THEN 'crm' END `+
		`FROM (SELECT id, created_at, id % $1::bigint = 0 AS f FROM runs) r JOIN (VALUES (0, 'auth', 'http.401'), (1, 'config', 'http.404'), `+
		`(2, 'transient', 'http.502'), (3, 'throttled', 'http.429')) c(k, class, code) ON c.k = (r.id / $1::bigint) % 4`, failEvery); err != nil {
		b.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `VACUUM ANALYZE runs`); err != nil {
		b.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `VACUUM ANALYZE steps`); err != nil {
		b.Fatal(err)
	}
	return u
}

// BenchmarkProblems is the SQLite benchmark of the same name on
// PostgreSQL: GET /problems's query and the rescue of a fixed connection's
// runs over a million runs, of which 1 % or 5 % failed.
func BenchmarkProblems(b *testing.B) {
	admin(b)
	for _, failEvery := range []int{100, 20} {
		b.Run(fmt.Sprintf("failed=1in%d", failEvery), func(b *testing.B) {
			s := openFresh(b)
			u := fillHistory(b, s, 1_000_000, failEvery)
			ctx := context.Background()
			b.Run("ListProblems", func(b *testing.B) {
				for b.Loop() {
					ps, err := s.ListProblems(ctx, store.ProblemFilter{OwnerID: u.ID})
					if err != nil || len(ps) == 0 {
						b.Fatalf("ListProblems: %d problems, %v", len(ps), err)
					}
				}
			})
			b.Run("ListProblemsSinceWeek", func(b *testing.B) {
				for b.Loop() {
					if _, err := s.ListProblems(ctx, store.ProblemFilter{OwnerID: u.ID, Since: time.Now().Add(-7 * 24 * time.Hour)}); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("FailedOnConnection", func(b *testing.B) {
				for b.Loop() {
					rs, err := s.ListRuns(ctx, store.RunFilter{OwnerID: u.ID, FailedOnConnection: "crm"})
					if err != nil || len(rs) != 50 {
						b.Fatalf("ListRuns: %d runs, %v; want 50", len(rs), err)
					}
				}
			})
			b.Run("FailedOnConnectionNone", func(b *testing.B) {
				for b.Loop() {
					rs, err := s.ListRuns(ctx, store.RunFilter{OwnerID: u.ID, FailedOnConnection: "erp"})
					if err != nil || len(rs) != 0 {
						b.Fatalf("ListRuns: %d runs, %v; want none", len(rs), err)
					}
				}
			})
		})
	}
}
