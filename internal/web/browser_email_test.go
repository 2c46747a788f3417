package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sluice/sluice/internal/mail"
	"github.com/sluice/sluice/internal/mail/mailtest"
	"github.com/sluice/sluice/internal/notify"
)

// fixLinkRE finds the Fix my flow link in a repair-tip email's text: the
// line after "Fix my flow: ...".
var fixLinkRE = regexp.MustCompile(`(?m)^- Fix my flow:.*\n\s+(https?://\S+/r/\S+)$`)

// TestBrowserEmailLinkJourney is journey 4: a run fails; the notifier
// sends the repair-tip email through a real SMTP server in the test
// process; the test takes the Fix my flow link from the received email.
// A signed-in owner who opens it in the browser reaches the run's page,
// with the failed step in red and How do I fix; someone not signed in is
// asked to sign in first and then comes back to that page.
func TestBrowserEmailLinkJourney(t *testing.T) {
	t.Parallel()
	owner := tab(t)
	s := newSite(t)
	smtpd := mailtest.NewServer(t)
	nt := must[*notify.Notifier](t, "notifier")(notify.New(notify.Config{Store: s.st, BaseURL: s.srv.URL, Key: s.key,
		Mailer: mail.NewSMTPSender(mail.SMTPConfig{Host: smtpd.Host, Port: smtpd.Port, From: "sluice@example.com", TLS: mail.TLSNone, Timeout: 5 * time.Second}),
		Grace:  notify.Off, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Poll: 20 * time.Millisecond}))
	nctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = nt.Run(nctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })

	run := s.failed502Run(t, &flaky502{})
	msgs, err := smtpd.WaitMessages(1, 20*time.Second)
	if err != nil {
		t.Fatalf("no repair-tip email arrived: %v", err)
	}
	msg := msgs[0]
	if len(msg.To) != 1 || msg.To[0] != "ann@example.com" || !strings.Contains(msg.Subject, "Sync orders") {
		t.Fatalf("the email went to %v with subject %q, want ann about Sync orders", msg.To, msg.Subject)
	}
	m := fixLinkRE.FindStringSubmatch(msg.Text)
	if m == nil {
		t.Fatalf("no Fix my flow link in the email:\n%s", msg.Text)
	}
	link := m[1]
	if !strings.HasPrefix(link, s.srv.URL+"/r/") {
		t.Fatalf("the Fix my flow link %q does not lead to this server %s", link, s.srv.URL)
	}
	runPath := fmt.Sprintf("/runs/%d", run.ID)

	// A signed-in owner opens the link and is not asked again.
	do(t, owner, "laptop viewport", chromedp.EmulateViewport(1280, 720))
	do(t, owner, "open /", chromedp.Navigate(s.srv.URL+"/"))
	signInWith(t, owner, "ann@example.com")
	do(t, owner, "open the email's link", chromedp.Navigate(link))
	if loc := location(t, owner, s.srv.URL); loc != runPath {
		t.Fatalf("the signed-in owner's link went to %q, want %q", loc, runPath)
	}
	requireRedFailedStep(t, owner)
	// On a laptop the failed step and the diagnosis show together, without
	// scrolling.
	requireInView(t, owner, "li.step.root > details > summary", "li.step.root p.error", "section.diagnosis h3:nth-of-type(1)",
		"section.diagnosis h3:nth-of-type(1) + p", "section.diagnosis h3:nth-of-type(2)", "section.diagnosis h3:nth-of-type(2) + p")
	screenshot(t, owner, "email-1-signed-in-run-laptop")
	do(t, owner, "phone viewport", chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	onAPhone(t, owner, s.srv.URL, "email-phone-", []phonePage{{runPath, "run"}})

	// Someone not signed in: the link's page asks to sign in first, then
	// comes back to the run's page.
	anon := tab(t)
	do(t, anon, "laptop viewport", chromedp.EmulateViewport(1280, 720))
	do(t, anon, "open the email's link", chromedp.Navigate(link))
	if loc := location(t, anon, s.srv.URL); !strings.HasPrefix(loc, "/r/") {
		t.Fatalf("the anonymous link went to %q, want the link's own page", loc)
	}
	ask := must[string](t, "sign-in card")(chromedp.Run(anon, chromedp.Text("p.card a")))
	if ask != "Sign in to Sluice" {
		t.Fatalf("the link's page does not ask to sign in first: %q", ask)
	}
	screenshot(t, anon, "email-2-anonymous-link-laptop")
	clickAndLoad(t, anon, "p.card a")
	if loc := location(t, anon, s.srv.URL); !strings.HasPrefix(loc, "/signin?next=") {
		t.Fatalf("Sign in went to %q, want the sign-in form", loc)
	}
	screenshot(t, anon, "email-3-signin-laptop")
	signInWith(t, anon, "ann@example.com")
	if loc := location(t, anon, s.srv.URL); loc != runPath {
		t.Fatalf("after sign-in the link went to %q, want back on %q", loc, runPath)
	}
	requireRedFailedStep(t, anon)
	screenshot(t, anon, "email-4-after-signin-run-laptop")
}

// requireRedFailedStep checks that the run page in the tab shows the
// root-cause step open, red and Failed, with What happened and How do I
// fix.
func requireRedFailedStep(t *testing.T, ctx context.Context) {
	t.Helper()
	open := must[bool](t, "root step open")(chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("li.step.root > details").open`)))
	color := must[string](t, "root step colour")(chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("li.step.root .st")).color`)))
	word := must[string](t, "root step status")(chromedp.Run(ctx, chromedp.Text("li.step.root .st")))
	if !open || color != "rgb(207, 34, 46)" || strings.TrimSpace(word) != "Failed" {
		t.Fatalf("root step: open=%t colour=%s word=%q; want open, red, Failed", open, color, word)
	}
	diag := must[string](t, "diagnosis")(chromedp.Run(ctx, chromedp.Text("section.diagnosis")))
	if !strings.Contains(diag, "How do I fix") || !strings.Contains(diag, "What happened") {
		t.Fatalf("diagnosis panel:\n%s", diag)
	}
}

// requireInView checks that each element the selectors name is wholly
// inside the tab's viewport, as it first shows (no scrolling).
func requireInView(t *testing.T, ctx context.Context, selectors ...string) {
	t.Helper()
	for _, sel := range selectors {
		box := must[[]float64](t, "bounding box of "+sel)(chromedp.Run(ctx, chromedp.Evaluate[[]float64](fmt.Sprintf(
			`(() => { const e = document.querySelector(%q); if (!e) return []; const r = e.getBoundingClientRect(); `+
				`return [r.top, r.bottom, r.left, r.right, window.innerHeight, window.innerWidth, window.scrollY]; })()`, sel))))
		if len(box) == 0 {
			t.Fatalf("no element %s", sel)
		}
		if box[0] < 0 || box[1] > box[4] || box[2] < 0 || box[3] > box[5] || box[6] != 0 {
			t.Errorf("%s is not wholly in view without scrolling: top %.0f bottom %.0f left %.0f right %.0f, viewport %.0fx%.0f, scrolled %.0f",
				sel, box[0], box[1], box[2], box[3], box[5], box[4], box[6])
		}
	}
}
