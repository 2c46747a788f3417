package web

import (
	"encoding/xml"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice/sluice/internal/flow"
)

// tryCatch is a flow with every kind of container and a try/catch/finally.
const tryCatch = `name: "Nested <b>flow</b>"
trigger: {type: schedule, every: 5m}
actions:
  - id: try
    type: scope
    actions:
      - id: fetch
        type: http
        with: {method: post, url: "https://example.com/<script>alert(1)</script>"}
      - id: check
        type: condition
        if: "{{ steps.fetch.output.status == 200 }}"
        then:
          - id: each
            type: foreach
            foreach: "{{ steps.fetch.output.body.items }}"
            concurrency: 4
            actions:
              - {id: show, type: compose, with: {value: "{{ item }}"}}
  - id: catch
    type: email
    run_after: {try: [failed, timed_out]}
    with: {to: ops@example.com, subject: failed}
  - id: finally
    type: compose
    run_after: {catch: [succeeded, failed, skipped]}
    with: {value: done}
`

func TestDiagramDrawsEveryStepInWords(t *testing.T) {
	t.Parallel()
	def, problems := flow.Parse([]byte(tryCatch))
	if len(problems) > 0 {
		t.Fatal(problems)
	}
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
		"Trigger: schedule (every 5m0s)",
		`href="/flows/7/edit#step-try"`, "try · scope", "Steps in the scope",
		"fetch · http", "POST https://example.com/&lt;script&gt;", // escaped, cut to the box
		"check · condition", "Then (when true)", "Else (when false)", "(nothing)",
		"each · foreach", "For each item, 4 at a time", `href="/flows/7/edit#step-show"`,
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
