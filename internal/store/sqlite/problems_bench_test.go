package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/storetest"
)

// fillHistory writes storetest.ProblemsHistoryRuns runs of 10 flows of
// one owner over a year, one step each, of which one in every failEvery
// failed with one of four diagnoses (one of them auth on connection crm),
// with a recursive query in one transaction.
func fillHistory(b *testing.B, s *Store, failEvery int) (store.Store, int64) {
	b.Helper()
	ctx := context.Background()
	owner, first := storetest.BenchOwner(b, s)
	start := time.Now().Add(-365 * 24 * time.Hour).UnixNano()
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < ?1) `+
			`INSERT INTO runs (id, flow_id, flow_version, status, trigger_type, input, created_at, next_attempt_at) `+
			`SELECT n, ?4 + (n / 7) % 10, 1, CASE WHEN n % ?3 = 0 THEN 'failed' ELSE 'succeeded' END, 'manual', '{}', ?2 + n * (31536000000000000 / ?1), 0 FROM i`,
			storetest.ProblemsHistoryRuns, start, failEvery, first); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO steps (run_id, key, seq, action_id, type, status, attempts, finished_at, output, error, error_class, error_code, error_connection) `+
			`SELECT id, 'call', 1, 'call', 'http', CASE WHEN id % ?1 = 0 THEN 'failed' ELSE 'succeeded' END, 1, created_at, `+
			`CASE WHEN id % ?1 = 0 THEN NULL ELSE '{"status":200,"body":{"ok":true}}' END, `+
			`CASE WHEN id % ?1 = 0 THEN json_object('message', 'boom', 'kind', 'http', 'class', c.class, 'connection', 'crm', `+
			`'diagnosis', json_object('code', c.code, 'class', c.class, 'title', 'Title of ' || c.code)) END, `+
			`CASE WHEN id % ?1 = 0 THEN c.class END, CASE WHEN id % ?1 = 0 THEN c.code END, CASE WHEN id % ?1 = 0 THEN 'crm' END `+
			`FROM runs JOIN (SELECT 0 AS k, 'auth' AS class, 'http.401' AS code UNION ALL SELECT 1, 'config', 'http.404' `+
			`UNION ALL SELECT 2, 'transient', 'http.502' UNION ALL SELECT 3, 'throttled', 'http.429') c ON c.k = (id / ?1) % 4`, failEvery)
		return err
	})
	if err != nil {
		b.Fatalf("fill history: %v", err)
	}
	return s, owner
}

// BenchmarkProblems runs storetest.BenchmarkProblemsHistories on SQLite.
func BenchmarkProblems(b *testing.B) {
	storetest.BenchmarkProblemsHistories(b, func(b *testing.B, failEvery int) (store.Store, int64) {
		return fillHistory(b, openTemp(b), failEvery)
	})
}
