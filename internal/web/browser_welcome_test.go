package web_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sluice/sluice/internal/sample"
	"github.com/sluice/sluice/internal/server"
)

// startServer runs a real sluice server on a fresh data folder with the
// default settings (SQLite, so the sample service is on) and an admin
// ann@example.com, and returns its base URL.
func startServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := server.Config{DataDir: filepath.Join(t.TempDir(), "data"), Addr: addr, AdminEmail: "ann@example.com", AdminPassword: sitePassword,
		Logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("server: %v", err)
		}
	})
	base := "http://" + addr
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			return base
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server on %s did not come up", addr)
		}
	}
}

// waitText reloads the page until the element sel contains want.
func waitText(t *testing.T, ctx context.Context, sel, want string) string {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		txt := must[string](t, sel)(chromedp.Run(ctx, chromedp.Text(sel)))
		if strings.Contains(txt, want) {
			return txt
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not say %q:\n%s", sel, want, txt)
		}
		do(t, ctx, "reload", chromedp.Reload())
	}
}

// TestBrowserWelcomeJourney is journey 6: from a fresh data folder the
// first admin signs in and gets the welcome page; one click imports the
// sample flows; they run the payroll sample, which fails with a 401 and
// its diagnosis on the run page; Fix connection with the token the
// welcome page told; Resubmit; the new run succeeds. The welcome page is
// also looked at on a phone.
func TestBrowserWelcomeJourney(t *testing.T) {
	t.Parallel()
	ctx := tab(t)
	base := startServer(t)
	laptop.set(t, ctx)
	do(t, ctx, "open /", chromedp.Navigate(base+"/"))
	signInWith(t, ctx, "ann@example.com")
	welcome := must[string](t, "welcome")(chromedp.Run(ctx, chromedp.Text("main")))
	if !strings.Contains(welcome, "Welcome to Sluice") || !strings.Contains(welcome, sample.Token) {
		t.Fatalf("the first page after sign-in:\n%s", welcome)
	}
	screenshot(t, ctx, "welcome-1-laptop")
	phone.set(t, ctx)
	screenshot(t, ctx, "welcome-1-phone")
	laptop.set(t, ctx)

	clickAndLoad(t, ctx, `form[action="/welcome/samples"] button`)
	list := must[string](t, "flows")(chromedp.Run(ctx, chromedp.Text("main")))
	for _, name := range []string{"Sample: payroll (401)", "Sample: manager lookup (404)", "Sample: flaky service (502)"} {
		if !strings.Contains(list, name) {
			t.Fatalf("the flow list after the import has no %q:\n%s", name, list)
		}
	}
	screenshot(t, ctx, "welcome-2-flows-laptop")

	href := must[string](t, "the payroll sample's link")(chromedp.Run(ctx, chromedp.Evaluate[string](
		`[...document.querySelectorAll("main a")].find(a => a.textContent.includes("Sample: payroll")).getAttribute("href")`)))
	do(t, ctx, "open the payroll sample", chromedp.Navigate(base+href), chromedp.WaitVisible("#run-now"))
	clickAndLoad(t, ctx, `#run-now button[type="submit"]`)
	if loc := location(t, ctx, base); !strings.HasPrefix(loc, "/runs/") {
		t.Fatalf("Run now went to %q, want the run page", loc)
	}
	runURL := base + location(t, ctx, base)
	waitText(t, ctx, "section.runhead", "Failed")
	diag := must[string](t, "diagnosis")(chromedp.Run(ctx, chromedp.Text("section.diagnosis")))
	if !strings.Contains(diag, "How do I fix") {
		t.Fatalf("diagnosis panel:\n%s", diag)
	}
	screenshot(t, ctx, "welcome-3-run-401-laptop")
	clickAndLoad(t, ctx, `main a.button[href$="/fix"]`)
	do(t, ctx, "enter the sample token", chromedp.SendKeys("#f-token", sample.Token))
	screenshot(t, ctx, "welcome-4-fix-connection-laptop")
	clickAndLoad(t, ctx, `main form button.primary`)

	do(t, ctx, "back to the run", chromedp.Navigate(runURL))
	clickAndLoad(t, ctx, `form.resubmit button[type="submit"]`)
	if loc := location(t, ctx, base); !strings.HasPrefix(loc, "/runs/") || base+loc == runURL {
		t.Fatalf("Resubmit went to %q, want the new run's page", loc)
	}
	waitText(t, ctx, "section.runhead", "Succeeded")
	screenshot(t, ctx, "welcome-5-run-succeeded-laptop")
	phone.set(t, ctx)
	screenshot(t, ctx, "welcome-5-run-succeeded-phone")
}
