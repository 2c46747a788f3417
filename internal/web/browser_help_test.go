package web_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/sluice/sluice/internal/store"
)

// TestBrowserHelpJourney is issue 9's journey: a maker whose run failed
// with a 502 asks for help, types a question, See solutions lists the
// matching article and their own failed run, they contact support with
// that run attached, an admin answers, and the maker sees the answer in
// Activity. Then the pages at 375 px.
func TestBrowserHelpJourney(t *testing.T) {
	t.Parallel()
	ctx := tab(t)
	s := newSite(t)
	run := s.failed502Run(t, &flaky502{})

	do(t, ctx, "laptop viewport", chromedp.EmulateViewport(1280, 900))
	do(t, ctx, "open /", chromedp.Navigate(s.srv.URL+"/"))
	signInWith(t, ctx, "ann@example.com")
	clickAndLoad(t, ctx, `nav a[href="/help"]`)
	screenshot(t, ctx, "help-1-self-help-laptop")
	clickAndLoad(t, ctx, `.titlebar a.button.primary`)
	if loc := location(t, ctx, s.srv.URL); loc != "/help/ask" {
		t.Fatalf("Ask for help went to %q", loc)
	}
	do(t, ctx, "ask", chromedp.SetValue("#problem_type", "failed_run"), chromedp.SetValue("#category", "transient"),
		chromedp.SendKeys("#q", "my orders sync keeps failing, the server says bad gatway"))
	clickAndLoad(t, ctx, `form.askform button[type="submit"]`)
	solutions := must[string](t, "solutions")(chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("ol.solutions a")].map(a => a.getAttribute("href")).join(" ")`)))
	if top := strings.Fields(solutions); len(top) == 0 || !strings.Contains(strings.Join(top[:min(3, len(top))], " "), "/help/transient-errors") {
		t.Fatalf("See solutions' top three: %q, want /help/transient-errors", solutions)
	}
	failures := must[string](t, "failures")(chromedp.Run(ctx, chromedp.Text("ul.failures")))
	if !strings.Contains(failures, "Sync orders") {
		t.Fatalf("See solutions lacks the failed run:\n%s", failures)
	}
	runLink := fmt.Sprintf(`ul.failures a[href="/runs/%d"]`, run.ID)
	do(t, ctx, "the run's link", chromedp.WaitVisible(runLink))
	screenshot(t, ctx, "help-2-see-solutions-laptop")

	do(t, ctx, "attach the run", chromedp.Click(fmt.Sprintf(`input[name="run"][value="%d"]`, run.ID)))
	clickAndLoad(t, ctx, `section.contact button.primary`)
	reqs, err := s.st.ListSupportRequests(t.Context(), store.SupportFilter{UserID: s.ann.ID})
	if err != nil || len(reqs) != 1 || reqs[0].RunID == nil || *reqs[0].RunID != run.ID {
		t.Fatalf("support requests %+v, %v", reqs, err)
	}
	id := reqs[0].ID
	if loc := location(t, ctx, s.srv.URL); loc != fmt.Sprintf("/support?sent=%d", id) {
		t.Fatalf("Contact support went to %q", loc)
	}
	screenshot(t, ctx, "help-3-sent-laptop")

	// An admin answers, in a browser of their own.
	actx := tab(t)
	do(t, actx, "laptop viewport", chromedp.EmulateViewport(1280, 900))
	do(t, actx, "open /admin/support", chromedp.Navigate(s.srv.URL+"/admin/support"))
	signInWith(t, actx, "admin@example.com")
	do(t, actx, "answer", chromedp.SendKeys(fmt.Sprintf("#answer-%d", id), "The orders service was down; resubmit the run from the failed step."))
	screenshot(t, actx, "help-4-admin-support-laptop")
	clickAndLoad(t, actx, fmt.Sprintf(`#req-%d form.stack button.primary`, id))
	screenshot(t, actx, "help-5-admin-answered-laptop")

	// The maker sees it in Activity.
	do(t, ctx, "open /activity", chromedp.Navigate(s.srv.URL+"/activity"))
	feed := must[string](t, "activity")(chromedp.Run(ctx, chromedp.Text("ul.feed")))
	if !strings.Contains(feed, fmt.Sprintf("Support answered your request #%d", id)) || !strings.Contains(feed, "resubmit the run from the failed step") {
		t.Fatalf("Activity lacks the answer:\n%s", feed)
	}
	screenshot(t, ctx, "help-6-activity-laptop")

	do(t, ctx, "phone viewport", chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	onAPhone(t, ctx, s.srv.URL, "help-phone-", []phonePage{{"/help", "self-help"}, {"/help/transient-errors", "article"},
		{"/help/ask?problem_type=failed_run&category=transient&q=bad+gateway", "see-solutions"}, {"/support", "support"},
		{fmt.Sprintf("/runs/%d", run.ID), "run"}})
	do(t, actx, "phone viewport", chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	onAPhone(t, actx, s.srv.URL, "help-phone-", []phonePage{{"/admin/support", "admin-support"}})
}
