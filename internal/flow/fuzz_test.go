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
