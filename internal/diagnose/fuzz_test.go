package diagnose

import (
	"path/filepath"
	"slices"
	"testing"
)

// FuzzDiagnose checks that no status, header or body makes Diagnose or
// IsFailure panic, and that every diagnosis is well formed. Seeds are in
// testdata/fuzz/FuzzDiagnose and the real answers of testdata/errors and
// testdata/heldout.
func FuzzDiagnose(f *testing.F) {
	heldout, err := filepath.Glob(filepath.Join("testdata", "heldout", "*.txt"))
	if err != nil {
		f.Fatal(err)
	}
	seeds := readCorpus(f)
	for _, name := range heldout {
		seeds = append(seeds, parseCorpusFile(f, name))
	}
	for _, c := range seeds {
		name, value := "", ""
		for k, v := range c.headers {
			name, value = k, v
			break
		}
		f.Add(c.status, name, value, c.body, c.url, "http", "")
	}
	f.Add(0, "", "", "", "", "network", "dial tcp: connection refused")
	cat := Default()
	f.Fuzz(func(t *testing.T, status int, hname, hvalue, body, url, kind, message string) {
		in := Input{Kind: kind, Status: status, Headers: map[string]string{hname: hvalue, "Retry-After": hvalue, "X-RateLimit-Reset": hvalue},
			RawBody: body, URL: url, Message: message, Connection: hname, Step: hvalue}
		d := cat.Diagnose(in)
		if !slices.Contains(classes, d.Class) || d.Code == "" || d.Title == "" || d.HowToFix == "" {
			t.Fatalf("malformed diagnosis %+v", d)
		}
		for _, a := range d.Actions {
			if !slices.Contains(actionSet, a) {
				t.Fatalf("unknown action %q", a)
			}
		}
		if d.RetryAfter < 0 || d.RetryAfter > MaxRetryAfter {
			t.Fatalf("RetryAfter %v out of range", d.RetryAfter)
		}
		in.Body = body
		cat.Diagnose(in)
		cat.IsFailure(status, in.Headers, body)
	})
}
