package web

import (
	"fmt"
	"html/template"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice/sluice/internal/flow"
)

// The step diagram is drawn on the server as one SVG: the trigger, then
// the actions from top to bottom, each a box with its id and type in
// words; containers (condition branches, scope, foreach bodies) are boxes
// around their steps, indented; an action that runs after another's
// failure (run_after, for try/catch/finally) says so in its box and gets
// a dashed edge from that step, labelled with the statuses. Its width is
// fixed in user units and it scales to the page, so that at 375 px the
// text stays about 12 px high.
const (
	diagWidth   = 360
	diagBoxH    = 44
	diagGap     = 18
	diagIndent  = 14
	diagPad     = 8
	diagLabelH  = 22
	diagGutter  = 18  // right of a list, where run_after edges go
	diagCharW   = 7.4 // an average character at 13 px
	diagMaxBoxs = 300 // boxes drawn; the rest are counted
)

// diagram is what the flow page shows: the SVG and what it left out.
type diagram struct {
	SVG template.HTML
	// Left is how many steps were not drawn (past diagMaxBoxs).
	Left int
}

// drawing is a diagram being laid out.
type drawing struct {
	b      strings.Builder
	y      int
	boxes  int
	left   int
	edit   string // the editor's address, for the boxes' links
	tops   map[string]int
	bottom map[string]int
	edges  []edge
}

// edge is a run_after edge from one step to another.
type edge struct {
	from, to string
	x        int
	label    string
}

// drawDiagram draws a definition's steps; editURL is the flow's editor, to
// which each box links at its step.
func drawDiagram(def *flow.Definition, editURL string) diagram {
	d := &drawing{edit: editURL, tops: map[string]int{}, bottom: map[string]int{}}
	d.y = diagPad
	trig := "Trigger: " + def.Trigger.Type
	switch {
	case def.Trigger.Cron != "":
		trig += " (" + def.Trigger.Cron + ")"
	case def.Trigger.Every > 0:
		trig += " (every " + time.Duration(def.Trigger.Every).String() + ")"
	}
	d.box(diagPad, diagWidth-2*diagPad-diagGutter, "trigger", trig, "", "", "")
	d.y += diagGap
	d.list(def.Actions, diagPad, diagWidth-2*diagPad, true)
	for _, e := range d.edges {
		from, okf := d.bottom[e.from]
		to, okt := d.tops[e.to]
		if !okf || !okt {
			continue
		}
		fmt.Fprintf(&d.b, `<path class="dg-after" d="M%d %d H%d V%d H%d" marker-end="url(#dg-arrow)"><title>%s</title></path>`,
			e.x, from-diagBoxH/2, e.x+diagGutter-6, to+diagBoxH/2, e.x+2, esc(e.label))
	}
	height := d.y + diagPad
	var out strings.Builder
	fmt.Fprintf(&out, `<svg class="diagram" viewBox="0 0 %d %d" role="img" aria-labelledby="dg-title" xmlns="http://www.w3.org/2000/svg">`, diagWidth, height)
	out.WriteString(`<title id="dg-title">The flow's steps, from the trigger down</title>`)
	out.WriteString(`<defs><marker id="dg-arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7" orient="auto"><path d="M0 0L8 4L0 8z" class="dg-head"/></marker></defs>`)
	out.WriteString(d.b.String())
	out.WriteString(`</svg>`)
	return diagram{SVG: template.HTML(out.String()), Left: d.left}
}

// list draws a list of sibling actions, each below the previous one and
// joined to it by an arrow (the first too, from the trigger, when
// fromAbove).
func (d *drawing) list(actions []*flow.Action, x, w int, fromAbove bool) {
	for i, a := range actions {
		if d.boxes >= diagMaxBoxs {
			d.left += count(actions[i:])
			return
		}
		if i > 0 || fromAbove {
			// The arrow from the box above.
			fmt.Fprintf(&d.b, `<path class="dg-next" d="M%d %d V%d" marker-end="url(#dg-arrow)"/>`, x+16, d.y-diagGap, d.y-1)
		}
		d.action(a, x, w-diagGutter)
		d.y += diagGap
	}
	if len(actions) > 0 {
		d.y -= diagGap
	}
}

// count is how many actions a list holds, nested ones included.
func count(actions []*flow.Action) int {
	n := 0
	for _, a := range actions {
		n += 1 + count(a.Then) + count(a.Else) + count(a.Actions)
	}
	return n
}

// action draws one action: a box, or for a container a frame around its
// body (and for a condition, its two branches).
func (d *drawing) action(a *flow.Action, x, w int) {
	after := runAfterText(a)
	if after != "" {
		// Draw the edges to the right edge, staggered by nesting.
		for from, sts := range sorted(a.RunAfter) {
			d.edges = append(d.edges, edge{from: from, to: a.ID, x: x + w, label: a.ID + " runs after " + from + " " + strings.Join(sts, "/")})
		}
	}
	detail := actionDetail(a)
	switch a.Type {
	case flow.ActionCondition, flow.ActionScope, flow.ActionForeach:
		top := d.y
		fmt.Fprintf(&d.b, `<!--y%d-->`, top)
		d.tops[a.ID] = top
		d.boxes++
		d.y += diagBoxH
		inner := x + diagIndent
		iw := w - 2*diagIndent
		if a.Type == flow.ActionCondition {
			d.lane("Then (when true)", a.Then, inner, iw)
			d.lane("Else (when false)", a.Else, inner, iw)
		} else {
			label := "Steps in the scope"
			if a.Type == flow.ActionForeach {
				label = "For each item, in turn"
				if a.Concurrency > 1 {
					label = fmt.Sprintf("For each item, %d at a time", a.Concurrency)
				}
			}
			d.lane(label, a.Actions, inner, iw)
		}
		d.y += diagPad
		// The frame is drawn once its height is known, under its
		// contents (before them in the document).
		var frame strings.Builder
		fmt.Fprintf(&frame, `<a href="%s#step-%s"><rect class="dg-frame dg-%s" x="%d" y="%d" width="%d" height="%d" rx="8"/>`,
			esc(d.edit), esc(a.ID), esc(a.Type), x, top, w, d.y-top)
		d.labels(&frame, x, top, w, a.ID, a.Type, detail, after)
		frame.WriteString(`</a>`)
		svg := d.b.String()
		d.b.Reset()
		d.b.WriteString(insertFrame(svg, top, frame.String()))
		d.bottom[a.ID] = d.y
	default:
		d.box(x, w, a.ID, a.ID, a.Type, detail, after)
	}
}

// insertFrame puts a frame at the marker written at its top (heights only
// grow, so each marker is unique), so that it is painted under its
// contents.
func insertFrame(svg string, top int, frame string) string {
	key := fmt.Sprintf(`<!--y%d-->`, top)
	if i := strings.Index(svg, key); i >= 0 {
		return svg[:i] + frame + svg[i:]
	}
	return svg + frame
}

// lane draws a labelled list of steps inside a container.
func (d *drawing) lane(label string, actions []*flow.Action, x, w int) {
	fmt.Fprintf(&d.b, `<text class="dg-lane" x="%d" y="%d">%s</text>`, x, d.y+16, esc(label))
	d.y += diagLabelH
	if len(actions) == 0 {
		fmt.Fprintf(&d.b, `<text class="dg-empty" x="%d" y="%d">(nothing)</text>`, x+8, d.y+12)
		d.y += diagLabelH
		return
	}
	d.list(actions, x, w, false)
	d.y += diagGap / 2
}

// box draws one step's box at the current height and moves below it.
func (d *drawing) box(x, w int, id, title, kind, detail, after string) {
	top := d.y
	fmt.Fprintf(&d.b, `<!--y%d-->`, top)
	d.tops[id] = top
	d.boxes++
	cls := "dg-box"
	if id == "trigger" {
		cls += " dg-trigger"
		fmt.Fprintf(&d.b, `<g><rect class="%s" x="%d" y="%d" width="%d" height="%d" rx="6"/>`, cls, x, top, w, diagBoxH)
		d.labels(&d.b, x, top, w, "", title, detail, after)
		d.b.WriteString(`</g>`)
	} else {
		fmt.Fprintf(&d.b, `<a href="%s#step-%s"><rect class="%s" x="%d" y="%d" width="%d" height="%d" rx="6"/>`, esc(d.edit), esc(id), cls, x, top, w, diagBoxH)
		d.labels(&d.b, x, top, w, id, kind, detail, after)
		d.b.WriteString(`</a>`)
	}
	d.y += diagBoxH
	d.bottom[id] = d.y
}

// labels writes a box's two lines: the id in bold with its type, then the
// detail or what it runs after.
func (d *drawing) labels(b *strings.Builder, x, top, w int, id, kind, detail, after string) {
	room := int(float64(w-16) / diagCharW)
	first := kind
	if id != "" {
		first = id + " · " + kind
	}
	second := detail
	if after != "" {
		second = after
	}
	firstY := top + 18
	if second == "" {
		firstY = top + diagBoxH/2 + 5 // one line: in the middle
	}
	fmt.Fprintf(b, `<text class="dg-id" x="%d" y="%d">%s</text>`, x+8, firstY, esc(cut(first, room)))
	if second != "" {
		fmt.Fprintf(b, `<text class="dg-detail" x="%d" y="%d">%s</text>`, x+8, top+36, esc(cut(second, room)))
	}
	fmt.Fprintf(b, `<title>%s</title>`, esc(strings.TrimSpace(first+"\n"+detail+"\n"+after)))
}

// actionDetail is the second line of an action's box.
func actionDetail(a *flow.Action) string {
	switch a.Type {
	case flow.ActionHTTP:
		m, _ := a.With["method"].(string)
		u, _ := a.With["url"].(string)
		if m == "" {
			m = "GET"
		}
		return strings.TrimSpace(strings.ToUpper(m) + " " + u)
	case flow.ActionEmail:
		to, _ := a.With["to"].(string)
		return "to " + to
	case flow.ActionCondition:
		return "if " + a.If
	case flow.ActionForeach:
		return "for each in " + a.Foreach
	}
	if a.Connection != "" {
		return "connection " + a.Connection
	}
	return a.Description
}

// runAfterText says in words when an action runs, if not after the
// previous step's success.
func runAfterText(a *flow.Action) string {
	if len(a.RunAfter) == 0 {
		return ""
	}
	var parts []string
	for from, sts := range sorted(a.RunAfter) {
		parts = append(parts, from+" "+strings.Join(sts, "/"))
	}
	return "runs after " + strings.Join(parts, "; ")
}

// sorted iterates a run_after map in key order.
func sorted(m map[string][]string) func(func(string, []string) bool) {
	return func(yield func(string, []string) bool) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !yield(k, m[k]) {
				return
			}
		}
	}
}

// cut shortens s to n characters with an ellipsis.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n || n < 2 {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// esc escapes text for SVG content and attributes.
func esc(s string) string { return template.HTMLEscapeString(s) }
