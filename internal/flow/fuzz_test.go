package flow

import (
	"testing"
	"unicode/utf8"
)

// FuzzParse checks that Parse never panics, that it either returns a
// definition or explains why not, and that an accepted definition survives
// its canonical JSON. Seeds live in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, src []byte) {
		def, problems := Parse(src)
		if def == nil && len(problems) == 0 {
			t.Fatal("no definition and no problem")
		}
		for _, p := range problems {
			if p.Message == "" {
				t.Errorf("problem at %q has no message", p.Path)
			}
			if !utf8.ValidString(p.Path) {
				t.Errorf("path %q is not UTF-8", p.Path)
			}
		}
		if len(problems) > 0 {
			return
		}
		b, err := def.Canonical()
		if err != nil {
			t.Fatalf("canonical form of an accepted definition: %v", err)
		}
		if _, err := FromCanonical(b); err != nil {
			t.Fatalf("reading back the canonical form: %v\n%s", err, b)
		}
	})
}

// FuzzCheckDepth checks CheckDepth against the YAML parser: text it accepts
// at a limit must parse to mappings and lists nested no deeper than that
// limit. The scan may over-estimate the depth, never under-estimate it; and
// it never counts more values than the converter makes, so that its value
// cap refuses nothing the converter would accept. Seeds live in
// testdata/fuzz/FuzzCheckDepth.
func FuzzCheckDepth(f *testing.F) {
	f.Fuzz(func(t *testing.T, src []byte, limit uint8) {
		if len(src) > 4096 {
			return
		}
		lim := int(limit%12) + 1
		if CheckDepth(src, lim) != nil {
			return
		}
		if d, ok := parsedDepth(src); ok && d > lim {
			t.Fatalf("CheckDepth accepted at limit %d text the parser nests %d deep (estimated %d):\n%q", lim, d, estimateDepth(src), src)
		}
		if nodes, ok := convertedValues(src); ok {
			if _, values := estimate(src); values > nodes {
				t.Fatalf("the pre-scan counted %d values where the converter makes %d:\n%q", values, nodes, src)
			}
		}
	})
}
