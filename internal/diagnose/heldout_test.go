package diagnose

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// The held-out set (testdata/heldout) holds real-shaped error answers of
// APIs that no catalog entry names: GraphQL servers, SOAP services, OAuth
// token endpoints, problem+json from web frameworks, quota and conflict
// answers of SaaS APIs. It was written before the rules that read these
// families, from each API's documentation, and no rule names its hosts,
// so it measures how well the diagnosis generalizes rather than how well
// it remembers. Its files have the format of testdata/errors, except that
// "# expect:" may give the class alone (when no one code is the right
// one) and "# quote:" names text of the API's own message that What
// happened must quote.

// heldoutTarget is the share of held-out answers that must be diagnosed
// right: the class, the code when the file names one, and a 2xx answer
// seen as a failure. Before the rules for these families the set scored
// 40.0% (26 of 65); they reach 93.8% (61 of 65), and 95.4% once the
// Stripe rate-limit signature stopped claiming other APIs'
// rate_limit_error (docs/benchmarks.md lists the misses). At 90% two more misses pass, so a rule tuned for
// one provider may cost an odd answer, but breaking any one family (the
// smallest, SOAP and conflicts, has 7 answers) fails the build.
const heldoutTarget = 0.90

// heldoutQuoteTarget is the share of held-out answers with a "# quote:"
// whose What happened must quote it: 98.5% now (64 of 65), 83.1% before;
// at 95% two more misses pass.
const heldoutQuoteTarget = 0.95

// heldoutScore diagnoses every held-out answer and returns the share
// diagnosed right, the share whose message was quoted, and the misses.
func heldoutScore(t testing.TB, cat *Catalog) (right, quoted float64, misses []string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "heldout", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no held-out files: %v", err)
	}
	nRight, nQuoted, nQuote := 0, 0, 0
	for _, f := range files {
		c := parseCorpusFile(t, f)
		in := c.input()
		d := cat.Diagnose(in)
		ok := d.Class == c.class && (c.code == "" || d.Code == c.code)
		failed := cat.IsFailure(c.status, c.headers, in.Body)
		if !failed {
			ok = false
		}
		if ok {
			nRight++
		} else {
			misses = append(misses, fmt.Sprintf("%s: got %s %s (failure %v), want %s %s", c.file, d.Class, d.Code, failed, c.class, c.code))
		}
		if c.quote != "" {
			nQuote++
			if strings.Contains(d.WhatHappened, c.quote) {
				nQuoted++
			} else {
				misses = append(misses, fmt.Sprintf("%s: What happened does not quote %q: %s", c.file, c.quote, d.WhatHappened))
			}
		}
	}
	if nQuote == 0 {
		nQuote = 1
	}
	return float64(nRight) / float64(len(files)), float64(nQuoted) / float64(nQuote), misses
}

// TestHeldout measures the diagnosis on the held-out set and fails below
// heldoutTarget (class and code) or heldoutQuoteTarget (quoting).
func TestHeldout(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join("testdata", "heldout", "*.txt"))
	if len(files) < 40 {
		t.Fatalf("the held-out set has %d answers, want at least 40", len(files))
	}
	cat := Default()
	for _, f := range files {
		if c := parseCorpusFile(t, f); cat.hostNamed(c.url) {
			t.Errorf("%s: its host is named by a catalog entry; the held-out set is for APIs the catalog does not know", c.file)
		}
	}
	right, quoted, misses := heldoutScore(t, cat)
	t.Logf("held-out: %.1f%% right, %.1f%% quote the API's message, of %d answers", 100*right, 100*quoted, len(files))
	for _, m := range misses {
		t.Logf("miss %s", m)
	}
	if right < heldoutTarget {
		t.Errorf("held-out accuracy %.1f%%, want at least %.0f%%", 100*right, 100*heldoutTarget)
	}
	if quoted < heldoutQuoteTarget {
		t.Errorf("held-out quoting %.1f%%, want at least %.0f%%", 100*quoted, 100*heldoutQuoteTarget)
	}
}

// hostNamed reports whether a provider entry names the host of rawURL.
func (c *Catalog) hostNamed(rawURL string) bool {
	r := newResponse(Input{URL: rawURL})
	for _, l := range [][]*entry{c.admin, c.provider} {
		for _, e := range l {
			if len(e.Match.Hosts) > 0 && hostMatches(e.Match.Hosts, r.host) {
				return true
			}
		}
	}
	return false
}
