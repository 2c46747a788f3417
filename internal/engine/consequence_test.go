package engine

import (
	"encoding/json"
	"testing"
)

// TestWithConsequence: the consequence is spliced into a stored step
// error without touching the rest (a number beyond float64 stays as it
// was), an error that has one keeps it, and an error that is not a JSON
// object becomes one.
func TestWithConsequence(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{`{"kind":"http","body":{"id":12345678901234567890}}`, `{"consequence":"later","kind":"http","body":{"id":12345678901234567890}}`},
		{` {} `, `{"consequence":"later"}`},
		{`{"consequence":"container","kind":"flow"}`, `{"consequence":"container","kind":"flow"}`},
		{`not json`, `{"kind":"flow","message":"not json","consequence":"later"}`},
		{``, `{"kind":"flow","message":"failed","consequence":"later"}`},
	} {
		got := withConsequence(json.RawMessage(tc.in), "failed", "later")
		if string(got) != tc.want {
			t.Errorf("withConsequence(%s) = %s, want %s", tc.in, got, tc.want)
		}
		if !json.Valid(got) {
			t.Errorf("withConsequence(%s) = %s, not JSON", tc.in, got)
		}
	}
}
