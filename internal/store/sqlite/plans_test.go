package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestQueuePlans checks how SQLite runs the queue's two hot queries: each
// reads runs_due in its order, never sorting the queued runs or reading
// them through runs_status. Sorting made every claim cost a read of the
// whole backlog (50,000 queued runs drained at 5,528 runs/s, against
// 12,600 with runs_due; docs/benchmarks.md).
func TestQueuePlans(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "plans.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, q := range map[string]string{"claim": claimRunsSQL, "next due": nextDueSQL} {
		rows, err := s.read.QueryContext(ctx, `EXPLAIN QUERY PLAN `+q, "node", 1, 1, 1, 10)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		text := strings.Join(plan, "\n")
		if !strings.Contains(text, "runs_due") || strings.Contains(text, "TEMP B-TREE") || strings.Contains(text, "runs_status") {
			t.Errorf("%s: want runs_due read in order, got plan:\n%s", name, text)
		}
	}
}
