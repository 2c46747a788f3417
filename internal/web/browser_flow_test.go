package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/store"
)

// directory is a target that knows /users/ann/manager and answers 404
// for anything else.
type directory struct{ calls atomic.Int64 }

func (d *directory) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.calls.Add(1)
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path != "/users/ann/manager" {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"error":"no such resource: %s"}`, r.URL.Path)
		return
	}
	fmt.Fprint(w, `{"mail":"boss@example.com"}`)
}

// viewport is a width the journeys look at.
type viewport struct {
	name  string
	width int64
}

var (
	laptop = viewport{"laptop", 1280}
	phone  = viewport{"phone", 375}
)

// set makes the tab that wide: a laptop, or a phone (mobile, scale 2).
func (v viewport) set(t *testing.T, ctx context.Context) {
	t.Helper()
	if v.width < 640 {
		do(t, ctx, "phone viewport", chromedp.EmulateViewport(v.width, 812, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
		return
	}
	do(t, ctx, "laptop viewport", chromedp.EmulateViewport(v.width, 900))
}

// TestBrowser404Journey is journey 2: a run failed with a 404 because the
// flow's URL is wrong; from the run page the owner clicks Edit flow, which
// opens the editor at the failed step; they fix the URL, Save (version 2),
// go back to the run and Resubmit on the latest version; the new run
// succeeds. Then the flow page with its diagram and versions, and the
// diff, at laptop and phone widths.
func TestBrowser404Journey(t *testing.T) {
	t.Parallel()
	ctx := tab(t)
	s := newSite(t)
	target := &directory{}
	ts := httptest.NewServer(target)
	t.Cleanup(ts.Close)
	src := fmt.Sprintf(`name: Welcome a new hire
trigger:
  type: manual
actions:
  - id: greet
    type: compose
    with:
      value: "Hello {{ trigger.input.user }}"
  - id: get_manager
    type: http
    retry: {policy: none}
    with:
      method: GET
      url: "%s/user/{{ trigger.input.user }}/manager"
`, ts.URL)
	f := s.saveFlow(t, s.ann, src)
	run, err := s.eng.Start(t.Context(), engine.StartRequest{Flow: f, TriggerType: "manual", Trigger: engine.Trigger{Input: map[string]any{"user": "ann"}}})
	if err != nil {
		t.Fatal(err)
	}
	if run = s.waitRun(t, run.ID); run.Status != store.RunFailed {
		t.Fatalf("the run against a 404 %s, want failed", run.Status)
	}
	runURL := fmt.Sprintf("%s/runs/%d", s.srv.URL, run.ID)

	laptop.set(t, ctx)
	do(t, ctx, "open the run", chromedp.Navigate(runURL))
	signInWith(t, ctx, "ann@example.com")
	screenshot(t, ctx, "404-1-run-failed-laptop")

	// Edit flow opens the editor at the failed step's line.
	clickAndLoad(t, ctx, `a.button[href*="/edit#step-"]`)
	if loc, want := location(t, ctx, s.srv.URL), fmt.Sprintf("/flows/%d/edit#step-get_manager", f.ID); loc != want {
		t.Fatalf("Edit flow went to %q, want %q", loc, want)
	}
	here := must[string](t, "line at the step")(chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector(".gutter li.here")||{}).id || ""`)))
	selected := must[string](t, "selection")(chromedp.Run(ctx, chromedp.Evaluate[string](`(function(s){return s.value.slice(s.selectionStart, s.selectionEnd)})(document.getElementById("source"))`)))
	if here != "L9" || strings.TrimSpace(selected) != "- id: get_manager" {
		t.Fatalf("the editor opened at %q with %q selected; want L9, the get_manager step", here, selected)
	}
	screenshot(t, ctx, "404-2-editor-at-step-laptop")

	// A first try with a typo shows the checker's problem beside its line,
	// and saves nothing.
	typo := strings.Replace(src, "type: http", "type: htp", 1)
	do(t, ctx, "write a typo", chromedp.SetValue("#source", typo))
	clickAndLoad(t, ctx, `.editbar button.primary`)
	marked := must[string](t, "problem line")(chromedp.Run(ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll(".gutter li.has-problem")).map(l => l.id).join(",")`)))
	note := must[string](t, "note")(chromedp.Run(ctx, chromedp.Text(`.editor .notes`)))
	if marked != "L10" || !strings.Contains(note, "actions[1].type") {
		t.Fatalf("problem lines %q, notes %q; want L10 with the type's problem", marked, note)
	}
	screenshot(t, ctx, "404-3-editor-problem-laptop")
	phone.set(t, ctx)
	if w := must[int](t, "scroll width")(chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))); w > 375 {
		t.Errorf("the editor at 375 px scrolls sideways: %d", w)
	}
	screenshot(t, ctx, "404-3-editor-problem-phone")
	laptop.set(t, ctx)

	// The fix: the right address. Save makes version 2.
	fixed := strings.Replace(src, "/user/{{", "/users/{{", 1)
	do(t, ctx, "fix the URL", chromedp.SetValue("#source", fixed))
	clickAndLoad(t, ctx, `.editbar button.primary`)
	if loc, want := location(t, ctx, s.srv.URL), fmt.Sprintf("/flows/%d?saved=2", f.ID); loc != want {
		t.Fatalf("Save went to %q, want %q", loc, want)
	}
	if saved := must[string](t, "notice")(chromedp.Run(ctx, chromedp.Text("p.notice"))); !strings.Contains(saved, "Version 2 saved.") {
		t.Fatalf("the flow page after Save: %q", saved)
	}
	screenshot(t, ctx, "404-4-flow-saved-laptop")

	// Back to the run: Resubmit on the latest version.
	do(t, ctx, "open the run", chromedp.Navigate(runURL))
	latest := must[bool](t, "latest checked")(chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('input[name=version][value=latest]').checked`)))
	if !latest {
		t.Fatal("Resubmit does not default to the latest version")
	}
	clickAndLoad(t, ctx, "form.resubmit button.primary")
	newRun := s.waitRun(t, lastRunID(t, s))
	if newRun.ID == run.ID || newRun.Status != store.RunSucceeded || newRun.FlowVersion != 2 {
		t.Fatalf("the resubmitted run: %+v, want a new run of version 2 that succeeded", newRun)
	}
	do(t, ctx, "reload the new run", chromedp.Reload())
	head := must[string](t, "run header")(chromedp.Run(ctx, chromedp.Text("section.runhead")))
	if !strings.Contains(head, "Succeeded") {
		t.Fatalf("the new run's header:\n%s", head)
	}
	screenshot(t, ctx, "404-5-run-succeeded-laptop")

	// The flow page: the diagram, the versions, and their diff.
	for _, w := range []viewport{laptop, phone} {
		w.set(t, ctx)
		do(t, ctx, "open the flow", chromedp.Navigate(fmt.Sprintf("%s/flows/%d", s.srv.URL, f.ID)))
		boxes := must[int](t, "diagram boxes")(chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("svg.diagram rect").length`)))
		fontPx := must[float64](t, "label size")(chromedp.Run(ctx, chromedp.Evaluate[float64](`document.querySelector("svg.diagram .dg-id").getBoundingClientRect().height`)))
		if boxes != 3 || fontPx < 10 {
			t.Errorf("%s: the diagram has %d boxes with labels %.1f px high; want 3, at least 10 px", w.name, boxes, fontPx)
		}
		if sw := must[int](t, "scroll width")(chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))); sw > int(w.width) {
			t.Errorf("%s: the flow page scrolls sideways: %d", w.name, sw)
		}
		screenshot(t, ctx, "404-6-flow-"+w.name)
		do(t, ctx, "open the diff", chromedp.Navigate(fmt.Sprintf("%s/flows/%d/diff?from=1&to=2", s.srv.URL, f.ID)))
		if sw := must[int](t, "scroll width")(chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))); sw > int(w.width) {
			t.Errorf("%s: the diff scrolls sideways: %d", w.name, sw)
		}
		screenshot(t, ctx, "404-7-diff-"+w.name)
	}
	// New flow, at 375 px: the upload and the editor.
	do(t, ctx, "open new flow", chromedp.Navigate(s.srv.URL+"/flows/new"))
	if sw := must[int](t, "scroll width")(chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))); sw > 375 {
		t.Errorf("the new-flow page scrolls sideways: %d", sw)
	}
	screenshot(t, ctx, "404-8-new-flow-phone")
	// Delete asks first, counting the runs.
	do(t, ctx, "open delete", chromedp.Navigate(fmt.Sprintf("%s/flows/%d/delete", s.srv.URL, f.ID)))
	if b := must[string](t, "delete button")(chromedp.Run(ctx, chromedp.Text("button.danger"))); b != "Delete flow and its 2 runs" {
		t.Fatalf("delete button: %q", b)
	}
	screenshot(t, ctx, "404-8-delete-phone")

	// A flow with containers and try/catch/finally: its diagram nests
	// them and names the run_after edges, legible at 375 px.
	nested := s.saveFlow(t, s.ann, string(must[[]byte](t, "read the nested flow")(os.ReadFile("testdata/nested.yaml"))))
	for _, w := range []viewport{phone, laptop} {
		w.set(t, ctx)
		do(t, ctx, "open the nested flow", chromedp.Navigate(fmt.Sprintf("%s/flows/%d", s.srv.URL, nested.ID)))
		fontPx := must[float64](t, "label size")(chromedp.Run(ctx, chromedp.Evaluate[float64](`document.querySelector("svg.diagram .dg-id").getBoundingClientRect().height`)))
		if fontPx < 10 {
			t.Errorf("%s: the diagram's labels are %.1f px high", w.name, fontPx)
		}
		if sw := must[int](t, "scroll width")(chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))); sw > int(w.width) {
			t.Errorf("%s: the flow page scrolls sideways: %d", w.name, sw)
		}
		screenshot(t, ctx, "404-9-nested-flow-"+w.name)
	}
}
