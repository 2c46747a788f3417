package flow

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// estimateDepth is the depth CheckDepth sees in src.
func estimateDepth(src []byte) int {
	d, _ := estimate(src)
	return d
}

// estimate is the depth and the number of values the pre-scan sees in src.
func estimate(src []byte) (depth, values int) {
	s := depthScanner{src: src, limit: math.MaxInt, line: 1, col: 1, firstChar: true, realLine: true}
	_ = s.scan()
	return s.deepest, s.values
}

// convertedValues is the number of values the converter makes of src,
// and false when Parse refuses src whatever its values: it does not parse,
// is not one document, or a limit stops the converter.
func convertedValues(src []byte) (int, bool) {
	file, err := parser.ParseBytes(src, 0, parser.AllowDuplicateMapKey())
	if err != nil || len(file.Docs) != 1 || file.Docs[0] == nil || file.Docs[0].Body == nil {
		return 0, false
	}
	conv := &converter{anchors: map[string]ast.Node{}}
	for _, doc := range file.Docs {
		if doc != nil && doc.Body != nil {
			conv.convert(doc.Body, 0)
		}
	}
	return conv.nodes, !conv.stopped
}

// parsedDepth is the nesting of mappings and lists the YAML parser builds
// from src, and false when it does not parse.
func parsedDepth(src []byte) (int, bool) {
	file, err := parser.ParseBytes(src, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		return 0, false
	}
	d := 0
	for _, doc := range file.Docs {
		d = max(d, astDepth(doc))
	}
	return d, true
}

func astDepth(n ast.Node) int {
	switch v := n.(type) {
	case nil:
		return 0
	case *ast.DocumentNode:
		return astDepth(v.Body)
	case *ast.MappingNode:
		d := 0
		for _, mv := range v.Values {
			d = max(d, astDepth(mv.Key), astDepth(mv.Value))
		}
		return 1 + d
	case *ast.MappingValueNode:
		return 1 + max(astDepth(v.Key), astDepth(v.Value))
	case *ast.SequenceNode:
		d := 0
		for _, it := range v.Values {
			d = max(d, astDepth(it))
		}
		return 1 + d
	case *ast.TagNode:
		return astDepth(v.Value)
	case *ast.AnchorNode:
		return astDepth(v.Value)
	case *ast.MappingKeyNode:
		return astDepth(v.Value)
	}
	return 0
}

// legitimateSources are every example and test definition.
func legitimateSources(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, pattern := range []string{"../../examples/*", "testdata/*.yaml", "../cli/testdata/*.yaml", "../diagnose/catalog/*.json"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if st, err := os.Stat(f); err != nil || st.IsDir() {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out[f] = b
		}
	}
	return out
}

func TestCheckDepthLegitimate(t *testing.T) {
	t.Parallel()
	for name, src := range legitimateSources(t) {
		t.Run(name, func(t *testing.T) {
			if err := CheckDepth(src, MaxNesting); err != nil {
				t.Fatalf("refused: %v", err)
			}
			est, values := estimate(src)
			real, ok := parsedDepth(src)
			nodes, _ := convertedValues(src)
			t.Logf("estimated depth %d, parsed %d (%v); %d values, converted %d", est, real, ok, values, nodes)
			if ok && est < real {
				t.Errorf("estimated depth %d is under the parsed depth %d", est, real)
			}
			if ok && values > nodes {
				t.Errorf("counted %d values, over the %d the converter makes", values, nodes)
			}
		})
	}
}

func TestCheckDepthCases(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		src  string
		want int // the estimated depth
	}{
		{"dashes on one line", "- - - x", 3},
		{"dashes indented", "-\n  -\n    - x", 3},
		{"sibling items", "- a\n- b\n- - c\n  - d\n", 2},
		{"mapping", "a:\n  b:\n    c: 1\n  d: 2\ne: 3\n", 3},
		{"indentless sequences", "a:\n- 1\nb:\n- 2\nc:\n- 3\nd:\n- 4\n", 2},
		{"flow", "a: [1, {b: [2]}]", 4},
		{"json", `{"a": [1, {"b": [2, 3]}], "c": {"d": null}}`, 4},
		{"brackets in quotes", `a: "[[[[{{{{"` + "\nb: '[[[['", 1},
		{"brackets in plain text", "a: x [[[[ {{{{\nb: c", 1},
		{"dashes in a comment", "a: 1 # - - - - [[[[\n# - - - -\nb: 2", 1},
		{"block scalar", "a: |\n  - - - - [[[[\n  {{{{\nb: c\n", 1},
		{"folded scalar", "a: >-\n  - - - -\n    [[[[\nb: c\n", 1},
		{"hash in plain text", "a: x#[[[[\n", 1},
		{"quote inside plain text", "a: don't [[[\nb: c\n", 1},
		{"escaped quote", `a: "x\" [[[[ "` + "\nb: c\n", 1},
		{"doubled single quote", "a: 'it''s [[[['\nb: c\n", 1},
		{"multi-line quote", "a: \"x\n  - - - [[[\"\nb: c\n", 1},
		{"flow in block sequence", "- [a, [b]]\n- {c: d}\n", 3},
		{"key with flow value on the next line", "a:\n  [1, [2]]\n", 3},
		{"block in flow", "[- - - x]", 4},
		{"implicit maps in flow", "[a: b, c: d]", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := estimateDepth([]byte(tc.src))
			if got != tc.want {
				t.Errorf("estimated depth = %d, want %d", got, tc.want)
			}
			if real, ok := parsedDepth([]byte(tc.src)); ok && got < real {
				t.Errorf("estimated depth %d is under the parsed depth %d", got, real)
			}
		})
	}
}

func TestCheckDepthRefuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		src       string
		line, col int
	}{
		{"dashes", strings.Repeat("- ", 100), 1, 2*MaxNesting + 1},
		{"brackets", "a: " + strings.Repeat("[", 100), 1, 3 + MaxNesting},
		{"braces in JSON", strings.Repeat(`{"a":`, 100), 1, 5*MaxNesting + 1},
		{"indentation", "a:\n" + deepMapping(100), MaxNesting + 1, 2*MaxNesting + 1},
		{"flow after quotes", `a: "]]]]]]" ` + "\nb: " + strings.Repeat("[", 70), 2, 3 + MaxNesting},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := CheckDepth([]byte(tc.src), MaxNesting)
			var de *DepthError
			if !errors.As(err, &de) {
				t.Fatalf("CheckDepth = %v, want a *DepthError", err)
			}
			if de.Line != tc.line || de.Column != tc.col {
				t.Errorf("position = %d:%d, want %d:%d (%v)", de.Line, de.Column, tc.line, tc.col, err)
			}
		})
	}
}

// allocated returns the bytes fn allocates. Tests that call it do not run
// in parallel, so that other tests' allocations do not count.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// hostileText are definitions of nearly 1 MiB that the YAML parser would
// pay for dearly: nested far past MaxNesting, reread again and again, or
// crowded with values.
func hostileText() map[string][]byte {
	var indented strings.Builder
	for i := 0; indented.Len() < MaxSize-2000; i++ {
		indented.WriteString(strings.Repeat(" ", i%1000) + "a:\n")
	}
	var emptyDashes strings.Builder
	for emptyDashes.Len() < MaxSize-10 {
		emptyDashes.WriteString("-\na:\n")
	}
	return map[string][]byte{
		"500,000 dashes":              []byte(strings.Repeat("- ", 500_000)),
		"500,000 indented dashes":     []byte(strings.Repeat("-\n ", 1) + strings.Repeat("- ", 499_000)),
		"1,000,000 brackets":          []byte(strings.Repeat("[", MaxSize)),
		"JSON objects":                []byte(strings.Repeat(`{"a":`, MaxSize/5)),
		"indented mappings":           []byte(indented.String()),
		"keys after empty dashes":     []byte(emptyDashes.String()),
		"tabs in double-quoted text":  []byte(`a: "` + strings.Repeat("\tx", MaxSize/2-4) + `"`),
		"a run of <":                  []byte("a: " + strings.Repeat("<", MaxSize-3)),
		"500,000 values in a list":    []byte("a: [" + strings.Repeat("1,", 500_000) + "1]"),
		"300,000 aliases":             []byte("a: &x 1\nb: [" + strings.Repeat("*x,", 300_000) + "1]"),
		"250,000 block items":         []byte(strings.Repeat("- 1\n", 250_000)),
		"brackets after a block text": []byte("a: |\n  [[[[\nb: " + strings.Repeat("[", MaxSize-20)),
	}
}

// TestParseRefusesHostileTextEarly proves that such text is refused before
// the YAML parser runs: the whole check allocates a few kilobytes where the
// parser took gigabytes (depth), minutes (rereading) or hundreds of
// megabytes (values).
func TestParseRefusesHostileTextEarly(t *testing.T) {
	for name, src := range hostileText() {
		t.Run(name, func(t *testing.T) {
			var problems []Problem
			n := allocated(func() { _, problems = Parse(src) })
			if len(problems) != 1 || problems[0].Line == 0 {
				t.Fatalf("problems = %v, want one with a position", problems)
			}
			t.Logf("%d bytes: %s at %d:%d, %d bytes allocated", len(src), problems[0].Message, problems[0].Line, problems[0].Column, n)
			if n > 64<<10 {
				t.Errorf("Parse allocated %d bytes, want at most 64 KiB", n)
			}
		})
	}
}

// TestParseNotFooledByText checks that brackets and dashes in strings,
// comments and block text never count as nesting: this definition holds
// hundreds of them and is accepted.
func TestParseNotFooledByText(t *testing.T) {
	t.Parallel()
	deepJSON := strings.Repeat(`{"a":[`, 100) + strings.Repeat(`]}`, 100)
	src := webhookFlow + `  # [[[[ {{{{ - - - - - - - ` + strings.Repeat("[", 100) + `
  - id: post
    type: http
    with:
      url: https://x.example/[[[[
      method: POST
      body: '` + deepJSON + `'
      headers:
        X-Json: "` + strings.ReplaceAll(deepJSON, `"`, `\"`) + `"
        X-Plain: a - - - - [[[[ { { { ` + strings.Repeat("- ", 100) + `
  - id: mail
    type: email
    with:
      to: a@example.com
      subject: "- - - [[[ ]]] }}} ''' \" # not a comment"
      body: |
        ` + strings.Repeat("- ", 100) + `
          [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
            {[{[{[{[{[{[{[{[{[{[{[{[{[{[{[{[{[{[{[{[{[{[{[{[{[{[{[{[{[{[{[{[{[{[{[{[{[{[{[{[
        # - - - this is text, not a comment
      html: >-
        <ul><li><ul><li>` + strings.Repeat("- ", 100) + `</li></ul></li></ul>
        ` + strings.Repeat("[", 100) + `
`
	if est := estimateDepth([]byte(src)); est > 8 {
		t.Errorf("estimated depth %d, want at most 8", est)
	}
	if _, problems := Parse([]byte(src)); len(problems) > 0 {
		t.Fatalf("problems:\n%s", formatProblems(problems))
	}
}

// BenchmarkCheckDepth measures the pre-scan on a 1 MiB definition made of
// the examples repeated, and on 500,000 levels of "- ".
func BenchmarkCheckDepth(b *testing.B) {
	example, err := os.ReadFile("../../examples/try-catch-finally.yaml")
	if err != nil {
		b.Fatal(err)
	}
	var big []byte
	for len(big)+len(example) < MaxSize {
		big = append(big, example...)
	}
	for name, src := range map[string][]byte{"1MiB-of-examples": big, "500k-dashes": []byte(strings.Repeat("- ", 500_000))} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				_ = CheckDepth(src, MaxNesting)
			}
		})
	}
}

// TestParsesQueueForASlot checks that parses beyond one per CPU wait for a
// slot instead of running at once, so that a flood of checks cannot hold
// more parser memory than that; a refusal of the pre-scan needs no slot.
func TestParsesQueueForASlot(t *testing.T) {
	for range cap(parsing) {
		parsing <- struct{}{}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Parse([]byte("name: queued\ntrigger: { type: manual }\nactions: []\n"))
	}()
	if _, problems := Parse([]byte(strings.Repeat("- ", 100))); len(problems) == 0 {
		t.Fatal("a too-deep definition was accepted")
	}
	select {
	case <-done:
		t.Fatal("a parse ran while every slot was taken")
	case <-time.After(50 * time.Millisecond):
	}
	for range cap(parsing) {
		<-parsing
	}
	<-done
}
