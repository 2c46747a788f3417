package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/postgres/pgtest"
	"github.com/sluice/sluice/internal/store/storetest"
)

// fillHistory writes the history that storetest.BenchmarkProblemsHistories
// describes with generate_series, its failed steps spread over four
// diagnoses on connection crm, and vacuums and analyzes the tables as
// autovacuum would: without it, index-only scans read every heap row.
func fillHistory(b *testing.B, s *Store, failEvery int) (store.Store, int64) {
	b.Helper()
	ctx := context.Background()
	owner, first := storetest.BenchOwner(b, s)
	start := time.Now().Add(-365 * 24 * time.Hour)
	if _, err := s.pool.Exec(ctx, `INSERT INTO runs (id, flow_id, flow_version, status, trigger_type, input, created_at, next_attempt_at) `+
		`SELECT n, $4::bigint + (n / 7) % 10, 1, CASE WHEN n % $3::bigint = 0 THEN 'failed' ELSE 'succeeded' END, 'manual', '{}', $2::timestamptz + n * (interval '1 year' / $1::float8), $2::timestamptz `+
		`FROM generate_series(1, $1::bigint) n`, storetest.ProblemsHistoryRuns, start, failEvery, first); err != nil {
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
	// The runs were written with their ids: the next run the store
	// creates follows them.
	if _, err := s.pool.Exec(ctx, `SELECT setval(pg_get_serial_sequence('runs', 'id'), $1)`, storetest.ProblemsHistoryRuns); err != nil {
		b.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `VACUUM ANALYZE runs`); err != nil {
		b.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `VACUUM ANALYZE steps`); err != nil {
		b.Fatal(err)
	}
	return s, owner
}

// BenchmarkProblems runs storetest.BenchmarkProblemsHistories on
// PostgreSQL.
func BenchmarkProblems(b *testing.B) {
	pgtest.Admin(b)
	storetest.BenchmarkProblemsHistories(b, func(b *testing.B, failEvery int) (store.Store, int64) {
		return fillHistory(b, openFresh(b), failEvery)
	})
}
