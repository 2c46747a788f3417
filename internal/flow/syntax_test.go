package flow

import "testing"

// TestSyntaxErrorPosition checks that a YAML syntax error points at the
// line and column of the mistake, not at the value before it.
func TestSyntaxErrorPosition(t *testing.T) {
	tests := []struct {
		name, src    string
		line, column int
	}{
		{"over-indented key", "name: x\ntrigger:\n  type: manual\n   bad: 1\n", 4, 7},
		{"second colon", "name: x\nfoo: bar: baz\n", 2, 9},
		{"unclosed flow mapping", "name: x\ntrigger: { type: manual\nactions: []\n", 3, 1},
		{"tab", "name: x\n\ttrigger: {}\n", 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ps := Parse([]byte(tt.src))
			if len(ps) != 1 || ps[0].Path != "" || ps[0].Line != tt.line || ps[0].Column != tt.column {
				t.Fatalf("problems %+v, want one syntax error at line %d column %d", ps, tt.line, tt.column)
			}
		})
	}
}
