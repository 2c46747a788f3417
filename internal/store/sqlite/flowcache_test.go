package sqlite

import "testing"

// TestWritesFlows checks which statements empty the flow cache: every
// write of the flows table, and no read or write of another table.
func TestWritesFlows(t *testing.T) {
	for q, want := range map[string]bool{
		`INSERT INTO flows (name) VALUES (?)`:                                true,
		`UPDATE flows SET enabled = ? WHERE id = ?`:                          true,
		"  update flows\nSET next_fire_at = ?":                               true,
		`DELETE FROM flows WHERE id = ?`:                                     true,
		`INSERT OR REPLACE INTO flows (id) VALUES (?)`:                       true,
		`SELECT name, owner_id FROM flows WHERE id = ?`:                      false,
		`INSERT INTO flow_versions (flow_id) VALUES (?)`:                     false,
		`UPDATE runs SET status = ? WHERE flow_id IN (SELECT id FROM flows)`: false,
		`DELETE FROM runs WHERE flow_id = ?`:                                 false,
	} {
		if got := writesFlows(q); got != want {
			t.Errorf("writesFlows(%q) = %t, want %t", q, got, want)
		}
	}
}
