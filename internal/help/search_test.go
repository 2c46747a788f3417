package help_test

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/sluice/sluice/internal/help"
	"github.com/sluice/sluice/internal/help/helptest"
	"github.com/sluice/sluice/internal/store/sqlite"
)

// quiet discards what the store logs.
func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newCenter(tb testing.TB) (*help.Center, *sqlite.Store) {
	tb.Helper()
	st, err := sqlite.Open(tb.Context(), filepath.Join(tb.TempDir(), "sluice.db"), quiet())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	c, err := help.New(tb.Context(), help.Config{Store: st, BaseURL: "https://sluice.example.com/"})
	if err != nil {
		tb.Fatal(err)
	}
	return c, st
}

// TestCorpus measures the top-3 accuracy on the makers' questions and
// finds every catalog code's article, on SQLite (the PostgreSQL driver's
// tests run the same on PostgreSQL).
func TestCorpus(t *testing.T) {
	t.Parallel()
	c, _ := newCenter(t)
	helptest.Check(t, c)
}
