package web

import (
	"encoding/xml"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice/sluice/internal/flow"
)

func TestDiagramDrawsEveryStepInWords(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("testdata/nested.yaml")
	if err != nil {
		t.Fatal(err)
	}
	def, problems := flow.Parse(src)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	def.Actions[0].Actions[0].With["url"] = "https://example.com/<script>alert(1)</script>"
	d := drawDiagram(def, "/flows/7/edit")
	svg := string(d.SVG)
	// It is well-formed XML, so that every browser draws it.
	dec := xml.NewDecoder(strings.NewReader(svg))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("the diagram is not well-formed: %v\n%s", err, svg)
		}
	}
	for _, want := range []string{
		"Trigger: schedule (0 2 * * *)",
		`href="/flows/7/edit#step-try"`, "try · scope", "Steps in the scope",
		"fetch · http", "GET https://example.com/&lt;script&gt;", // escaped, cut to the box
		"any_new · condition", "Then (when true)", "Else (when false)", "(nothing)",
		"each_contact · foreach", "For each item, 4 at a time", `href="/flows/7/edit#step-upsert"`,
		"catch · email", "runs after try failed/timed_out",
		"finally · compose", "runs after catch succeeded/failed/skipped",
		`class="dg-after"`, "<title>catch runs after try failed/timed_out</title>",
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("diagram lacks %q", want)
		}
	}
	if strings.Contains(svg, "<script>") {
		t.Fatalf("diagram holds unescaped text:\n%s", svg)
	}
	if d.Left != 0 {
		t.Fatalf("left %d steps out", d.Left)
	}
}

func TestDiagramIsBounded(t *testing.T) {
	t.Parallel()
	var src strings.Builder
	src.WriteString("name: many\ntrigger: {type: manual}\nactions:\n")
	for i := 0; i < flow.MaxActions; i++ {
		src.WriteString("  - {id: s" + strconv.Itoa(i) + ", type: compose, with: {value: x}}\n")
	}
	def, problems := flow.Parse([]byte(src.String()))
	if len(problems) > 0 {
		t.Fatal(problems[0])
	}
	d := drawDiagram(def, "/e")
	if d.Left != flow.MaxActions-diagMaxBoxs+1 { // the trigger is a box too
		t.Fatalf("left out %d steps, want %d", d.Left, flow.MaxActions-diagMaxBoxs+1)
	}
	if n := strings.Count(string(d.SVG), "<rect"); n != diagMaxBoxs {
		t.Fatalf("%d boxes drawn, want %d", n, diagMaxBoxs)
	}
}
