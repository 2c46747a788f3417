package web_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sluice/sluice/internal/api"
	"github.com/sluice/sluice/internal/connection"
	"github.com/sluice/sluice/internal/connection/oauthtest"
	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/netguard"
	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/web"
)

// lateFixer is the portal's connection logic made once the site's address
// is known: the OAuth2 redirect URI is that address plus /oauth/callback.
type lateFixer struct{ web.ConnectionFixer }

// TestBrowserSignInAgainJourney: an OAuth2 authorization-code connection
// whose refresh the provider refuses fails a run; its page's button says
// Sign in again and leads to the connection's page, whose Sign in again
// form goes to the provider (allowed by the page's form-action), which
// signs in at once and sends the browser back to /oauth/callback; the
// connection page says it is signed in, and resubmitting the run that
// failed because of it succeeds.
func TestBrowserSignInAgainJourney(t *testing.T) {
	t.Parallel()
	ctx := tab(t)
	p := oauthtest.New(t)
	lf := &lateFixer{}
	s := newSite(t, func(pc *web.PortalConfig) { pc.Connections = lf })
	allow := must[*netguard.Allow](t, "allow")(netguard.ParseAllow("127.0.0.1/32"))
	lf.ConnectionFixer = api.NewConnectionFixer(api.Config{Store: s.st, Secrets: s.box, BaseURL: s.srv.URL,
		HTTPClient: netguard.NewClient(netguard.Options{Allow: allow}), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})

	cfg := must[[]byte](t, "config")(json.Marshal(connection.Config{Grant: connection.GrantAuthorizationCode, AuthURL: p.URL + "/authorize",
		TokenURL: p.URL + "/token", ClientID: oauthtest.ClientID}))
	// Signed in long ago: the provider no longer knows the refresh token.
	sealed := must[[]byte](t, "seal")(connection.Seal(s.box, connection.Secret{ClientSecret: oauthtest.ClientSecret,
		OAuth: &connection.Tokens{AccessToken: "AT-old", RefreshToken: "RT-revoked", Expiry: time.Now().Add(-time.Hour)}}))
	cn := must[store.Connection](t, "create connection")(s.st.CreateConnection(t.Context(), store.Connection{OwnerID: s.ann.ID, Name: "drive",
		Type: connection.TypeOAuth2, Config: cfg, Secret: sealed}))
	f := s.saveFlow(t, s.ann, `name: List the files
trigger:
  type: manual
actions:
  - id: list_files
    type: http
    connection: drive
    with:
      url: `+p.URL+`/api
`)
	run := must[store.Run](t, "start")(s.eng.Start(t.Context(), engine.StartRequest{Flow: f, TriggerType: "manual"}))
	if run = s.waitRun(t, run.ID); run.Status != store.RunFailed {
		t.Fatalf("the run with a revoked refresh token %s, want failed", run.Status)
	}
	if c := must[store.Connection](t, "connection")(s.st.GetConnection(t.Context(), cn.ID)); c.Health != store.HealthNeedsAttention {
		t.Fatalf("connection after the refused refresh: %s", c.Health)
	}

	do(t, ctx, "laptop viewport", chromedp.EmulateViewport(1280, 900))
	do(t, ctx, "open the run", chromedp.Navigate(fmt.Sprintf("%s/runs/%d", s.srv.URL, run.ID)))
	signInWith(t, ctx, "ann@example.com")
	diag := must[string](t, "diagnosis")(chromedp.Run(ctx, chromedp.Text("section.diagnosis")))
	connLink := fmt.Sprintf(`main a.button[href="/connections/%d"]`, cn.ID)
	button := must[string](t, "Sign in again")(chromedp.Run(ctx, chromedp.Text(connLink)))
	if !strings.Contains(diag, "sign in again") || !strings.Contains(diag, "sluice connections authorize drive") || button != "Sign in again" {
		t.Fatalf("diagnosis panel:\n%s\nbutton %q", diag, button)
	}
	screenshot(t, ctx, "oauth-1-run-failed")
	clickAndLoad(t, ctx, connLink)
	label := must[string](t, "sign-in form")(chromedp.Run(ctx, chromedp.Text(`form[action$="/authorize"] button`)))
	if label != "Sign in again" {
		t.Fatalf("the connection page's button says %q", label)
	}
	screenshot(t, ctx, "oauth-2-connection")
	// The form goes to the provider, which sends the browser back to the
	// callback, which returns to the connection's page.
	clickAndLoad(t, ctx, `form[action$="/authorize"] button`)
	if loc, want := location(t, ctx, s.srv.URL), fmt.Sprintf("/connections/%d?signed_in=1", cn.ID); loc != want {
		t.Fatalf("after Sign in again: %q, want %q", loc, want)
	}
	notice := must[string](t, "notice")(chromedp.Run(ctx, chromedp.Text("main p.notice")))
	if !strings.Contains(notice, "Signed in") {
		t.Fatalf("the connection page's notice: %q", notice)
	}
	screenshot(t, ctx, "oauth-3-signed-in")
	clickAndLoad(t, ctx, `form[action$="/resubmit"] button`)
	newID := lastRunID(t, s)
	for deadline := time.Now().Add(30 * time.Second); newID == run.ID && time.Now().Before(deadline); newID = lastRunID(t, s) {
		time.Sleep(20 * time.Millisecond)
	}
	if nr := s.waitRun(t, newID); nr.ID == run.ID || nr.Status != store.RunSucceeded {
		t.Fatalf("the resubmitted run: %+v, want a new run that succeeded", nr)
	}
	if ex, _, calls := p.Counts(); ex != 1 || calls != 1 {
		t.Fatalf("the provider exchanged %d codes and answered %d API calls, want 1 and 1", ex, calls)
	}
}
