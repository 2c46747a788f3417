// Package helptest measures the help center's search on a store: the
// corpus of makers' questions, each with the solutions it should find,
// and every diagnosis code found by that code. The help package runs it
// on SQLite and the PostgreSQL driver's tests on PostgreSQL, so that
// search answers alike on both.
package helptest

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sluice/sluice/internal/diagnose"
	"github.com/sluice/sluice/internal/help"
)

//go:embed testdata/corpus.txt
var corpusText string

// Question is a question of the corpus and the solutions (article names
// or diagnosis codes) that answer it.
type Question struct {
	Text string
	Want []string
}

// Corpus returns the questions of testdata/corpus.txt.
func Corpus() []Question {
	var out []Question
	for _, line := range strings.Split(corpusText, "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		q, want, _ := strings.Cut(line, "|")
		out = append(out, Question{Text: strings.TrimSpace(q), Want: strings.Fields(want)})
	}
	return out
}

// TargetTop3 is the share of the corpus whose answer must be in the top 3.
const TargetTop3 = 0.9

// TopK returns the share of the corpus answered in the first k solutions,
// and the questions that were not.
func TopK(t testing.TB, c *help.Center, k int) (float64, []string) {
	t.Helper()
	qs := Corpus()
	var missed []string
	for _, q := range qs {
		ans, err := c.Search(t.Context(), help.Query{Text: q.Text, Limit: k})
		if err != nil {
			t.Fatalf("Search(%q): %v", q.Text, err)
		}
		found := slices.ContainsFunc(ans.Solutions, func(s help.Solution) bool { return slices.Contains(q.Want, s.Name) })
		if !found {
			var got []string
			for _, s := range ans.Solutions {
				got = append(got, s.Name)
			}
			missed = append(missed, fmt.Sprintf("%q: got %v, want one of %v", q.Text, got, q.Want))
		}
	}
	return float64(len(qs)-len(missed)) / float64(len(qs)), missed
}

// Check runs the corpus and the codes on a center: at least TargetTop3
// of the questions answered in the top 3, and every catalog code's
// article found in the top 3 by searching for that code.
func Check(t *testing.T, c *help.Center) {
	t.Helper()
	if n := len(Corpus()); n < 40 {
		t.Fatalf("the corpus has %d questions, want at least 40", n)
	}
	acc, missed := TopK(t, c, 3)
	t.Logf("top-3 accuracy: %.1f%% of %d questions", 100*acc, len(Corpus()))
	for _, m := range missed {
		t.Logf("missed %s", m)
	}
	if acc < TargetTop3 {
		t.Errorf("top-3 accuracy %.1f%%, want at least %.0f%%", 100*acc, 100*TargetTop3)
	}
	for _, s := range diagnose.Default().Summaries() {
		ans, err := c.Search(t.Context(), help.Query{Text: s.Code, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(ans.Solutions, func(x help.Solution) bool {
			return x.Kind == help.KindArticle && x.Name == s.Article || x.Kind == help.KindDiagnosis && x.Name == s.Code && x.Article == s.Article
		}) {
			t.Errorf("searching %q does not find its article %q in the top 3: %+v", s.Code, s.Article, ans.Solutions)
		}
		if _, ok := c.Library().Get(s.Article); !ok {
			t.Errorf("%s: no article %q", s.Code, s.Article)
		}
	}
}
