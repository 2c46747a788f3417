package postgres

import (
	"testing"

	"github.com/sluice/sluice/internal/help"
	"github.com/sluice/sluice/internal/help/helptest"
)

// TestHelpCorpus runs the help center's corpus and code search on
// PostgreSQL, as the help package runs them on SQLite: one search
// mechanism, the same accuracy target on both.
func TestHelpCorpus(t *testing.T) {
	t.Parallel()
	c, err := help.New(t.Context(), help.Config{Store: openFresh(t)})
	if err != nil {
		t.Fatal(err)
	}
	helptest.Check(t, c)
}
