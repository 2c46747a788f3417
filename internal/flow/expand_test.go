package flow

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// aliasFlow is a flow whose compose value lists n aliases of an anchored
// string value.
func aliasFlow(value string, n int) string {
	var b strings.Builder
	b.WriteString(webhookFlow + "  - id: a\n    type: compose\n    with:\n      value:\n        t: &big " + value + "\n        l: [")
	for i := 0; i < n; i++ {
		b.WriteString("*big, ")
	}
	b.WriteString("x]\n")
	return b.String()
}

// TestParseRefusesAliasBombsEarly proves that aliases cannot multiply a
// small definition: expansion stops at MaxExpandedSize, and templates
// repeated by aliases are charged to the template budget, so the check
// allocates a bounded amount however many times the aliases repeat.
func TestParseRefusesAliasBombsEarly(t *testing.T) {
	bigString := `"` + strings.Repeat("x", 200<<10) + `"`
	bigTemplate := `"{{ ` + strings.Repeat("trigger.body.a + ", 200) + `1 }}"`
	cases := []struct {
		name    string
		src     string
		message string
		// maxAlloc bounds the bytes Parse allocates.
		maxAlloc uint64
	}{
		// 200 KiB x 2,000 aliases = 400 MB once expanded.
		{"large string", aliasFlow(bigString, 2000), "the definition expands to more than 4194304 bytes", 16 << 20},
		{"HTML escapes", aliasFlow(`"`+strings.Repeat("<", 100<<10)+`"`, 4000), "the definition expands to more than 4194304 bytes", 16 << 20},
		// 10,000 aliases of a 3.5 KB template took 49 s of CPU; the
		// expansion cap now refuses that, and 300 are over the budget.
		{"large template", aliasFlow(bigTemplate, 10_000), "the definition expands to more than 4194304 bytes", 32 << 20},
		{"large template under the expansion cap", aliasFlow(bigTemplate, 300), "the definition's templates add up to more than 512 KiB", 32 << 20},
		{"many templates", aliasFlow(`"{{ trigger.body.a }}"`, 20_000), "the definition holds more than 10000 templates", 96 << 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var problems []Problem
			n := allocated(func() { _, problems = Parse([]byte(tc.src)) })
			if len(problems) != 1 || !strings.HasPrefix(problems[0].Message, tc.message) || problems[0].Line == 0 {
				t.Fatalf("problems = %v, want one at a position starting %q", problems, tc.message)
			}
			t.Logf("%d bytes of source: %s, %d bytes allocated", len(tc.src), problems[0], n)
			if n > tc.maxAlloc {
				t.Errorf("Parse allocated %d bytes, want at most %d", n, tc.maxAlloc)
			}
		})
	}
}

// TestStoredDefinitionBounded checks that what is stored, the canonical
// JSON of the expanded definition, stays within MaxExpandedSize when the
// definition is accepted.
func TestStoredDefinitionBounded(t *testing.T) {
	t.Parallel()
	for _, value := range []string{strings.Repeat("x", 10<<10), strings.Repeat("<\"\n", 3<<10), strings.Repeat("é", 5<<10), strings.Repeat("\u2028", 4<<10)} {
		// The largest alias count the cap allows, and one more alias.
		accepted := 0
		for n := 1; n < 10_000; n *= 2 {
			def, problems := Parse([]byte(aliasFlow(fmt.Sprintf("%q", value), n)))
			if len(problems) > 0 {
				if !strings.HasPrefix(problems[0].Message, "the definition expands to more than") {
					t.Fatalf("%d aliases: %v", n, problems)
				}
				break
			}
			b, err := def.Canonical()
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > MaxExpandedSize {
				t.Errorf("%d aliases of %d bytes: canonical definition is %d bytes, over %d", n, len(value), len(b), MaxExpandedSize)
			}
			accepted = n
		}
		if accepted == 0 || accepted >= 8192 {
			t.Errorf("aliases of %d bytes: %d accepted, want the cap to refuse some", len(value), accepted)
		}
	}
}

func TestJSONSize(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", "<a href=\"x\">&amp;</a>", "tab\tnew\nline\r\x01\x1f", "é\u2028\u2029", "bad \xff\xfe utf-8", strings.Repeat("\\", 10)} {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := jsonSize(s); got != len(b) {
			t.Errorf("jsonSize(%q) = %d, want %d (%s)", s, got, len(b), b)
		}
	}
}
