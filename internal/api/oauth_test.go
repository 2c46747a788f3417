package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/connection/oauthtest"
	"github.com/sluice/sluice/internal/netguard"
	"github.com/sluice/sluice/internal/store"
)

// TestAuthorizeConnection checks the sign-in to an authorization-code
// connection against a provider served by the test: who may start it,
// what the provider is sent, who may complete it and how often, the
// provider's refusal in plain words, expiry, and the tokens kept sealed
// across an update of the client secret.
func TestAuthorizeConnection(t *testing.T) {
	p := oauthtest.New(t)
	cb := setupConnections(t)
	allow, err := netguard.ParseAllow("127.0.0.1/32")
	if err != nil {
		t.Fatal(err)
	}
	srv := Build(Config{Store: cb.store, Runner: cb.runner, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		BaseURL: "https://sluice.example.com", Secrets: cb.box, HTTPClient: netguard.NewClient(netguard.Options{Allow: allow})})
	cb.handler = srv.Handler()
	fx := srv.ConnectionFixer()
	ctx := context.Background()

	cfg := fmt.Sprintf(`"grant": "authorization_code", "auth_url": %q, "token_url": %q, "client_id": %q, "scopes": ["read"]`, p.URL+"/authorize", p.URL+"/token", oauthtest.ClientID)
	for _, sc := range []scenario{
		{name: "tokens given", method: "POST", path: "/api/v1/connections", who: "a", status: 400,
			body: `{"name": "x", "type": "oauth2", "config": {` + cfg + `}, "secret": {"oauth": {"refresh_token": "r"}}}`, contains: []string{"secret.oauth cannot be given"}},
		{name: "no auth_url", method: "POST", path: "/api/v1/connections", who: "a", status: 400,
			body: fmt.Sprintf(`{"name": "x", "type": "oauth2", "config": {"grant": "authorization_code", "token_url": %q, "client_id": "c"}}`, p.URL+"/token"), contains: []string{"needs auth_url"}},
		{name: "unknown grant", method: "POST", path: "/api/v1/connections", who: "a", status: 400,
			body: `{"name": "x", "type": "oauth2", "config": {"grant": "implicit", "token_url": "https://id.example/token", "client_id": "c"}}`, contains: []string{`grant \"implicit\" must be client_credentials or authorization_code`}},
	} {
		cb.run(t, sc)
	}
	conn := cb.create(t, "a", `{"name": "drive", "type": "oauth2", "config": {`+cfg+`}, "secret": {"client_secret": "`+oauthtest.ClientSecret+`"}}`)
	cb.create(t, "a", `{"name": "plain", "type": "bearer", "secret": {"token": "`+canaryToken+`"}}`)
	cb.run(t, scenario{name: "bearer", method: "POST", path: "/api/v1/connections/plain/authorize", who: "a", status: 409, contains: []string{"only an oauth2 connection with grant authorization_code is"}})
	cb.run(t, scenario{name: "another's", method: "POST", path: fmt.Sprintf("/api/v1/connections/%d/authorize", conn.ID), who: "b", status: 404})

	start := func() authorizationView {
		t.Helper()
		rec := cb.do(t, "POST", "/api/v1/connections/drive/authorize", "a", "")
		var v authorizationView
		if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &v) != nil {
			t.Fatalf("authorize: %d %s", rec.Code, rec.Body)
		}
		return v
	}
	follow := func(link string) url.Values {
		t.Helper()
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noFollow.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || !strings.HasPrefix(loc.String(), "https://sluice.example.com/oauth/callback?") {
			t.Fatalf("the provider redirected to %q", loc)
		}
		return loc.Query()
	}
	status := func(id int64, who string) authorizationView {
		t.Helper()
		rec := cb.do(t, "GET", fmt.Sprintf("/api/v1/connections/drive/authorize/%d", id), who, "")
		var v authorizationView
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &v) != nil {
			t.Fatalf("sign-in status: %d %s", rec.Code, rec.Body)
		}
		return v
	}

	v := start()
	u, _ := url.Parse(v.URL)
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || len(q.Get("state")) < 20 ||
		q.Get("redirect_uri") != "https://sluice.example.com/oauth/callback" || q.Get("scope") != "read" || v.Status != "pending" {
		t.Fatalf("authorize answered %+v", v)
	}
	if time.Until(v.ExpiresAt) > AuthorizeTTL || time.Until(v.ExpiresAt) < AuthorizeTTL-time.Minute {
		t.Errorf("the sign-in expires at %v, want in %v", v.ExpiresAt, AuthorizeTTL)
	}
	back := follow(v.URL)

	// Another user's browser cannot complete it, and the state is spent.
	res := fx.CompleteAuthorization(ctx, back, cb.users["b"].ID)
	if res.OK || !strings.Contains(res.Message, "started by another Sluice user") {
		t.Fatalf("completed in another user's session: %+v", res)
	}
	if res := fx.CompleteAuthorization(ctx, back, cb.users["a"].ID); res.OK || !strings.Contains(res.Message, "already completed") {
		t.Fatalf("a state used twice: %+v", res)
	}
	if got := status(v.ID, "a"); got.Status != store.OAuthFailed {
		t.Fatalf("status after the refusal: %+v", got)
	}

	// From the CLI (no portal session), it completes.
	v = start()
	res = fx.CompleteAuthorization(ctx, follow(v.URL), 0)
	if !res.OK || res.ConnectionID != conn.ID || res.Via != ViaAPI {
		t.Fatalf("sign-in from the CLI: %+v", res)
	}
	if got := status(v.ID, "a"); got.Status != store.OAuthDone {
		t.Fatalf("status after the sign-in: %+v", got)
	}
	cb.run(t, scenario{name: "another's sign-in", method: "GET", path: fmt.Sprintf("/api/v1/connections/%d/authorize/%d", conn.ID, v.ID), who: "b", status: 404})
	spec := cb.spec(t, conn.ID)
	if spec.Secret.OAuth == nil || spec.Secret.OAuth.RefreshToken == "" || spec.Secret.OAuth.AccessToken == "" {
		t.Fatalf("tokens after the sign-in: %+v", spec.Secret.OAuth)
	}
	shown := cb.run(t, scenario{name: "show", method: "GET", path: "/api/v1/connections/drive", who: "a", status: 200,
		contains: []string{`"refresh_token"`, `"health":"ok"`}, absent: []string{spec.Secret.OAuth.RefreshToken, spec.Secret.OAuth.AccessToken}})
	_ = shown

	// A new client secret keeps the tokens; tokens cannot be given.
	cb.run(t, scenario{name: "new client secret", method: "PUT", path: "/api/v1/connections/drive", who: "a", status: 200, body: `{"secret": {"client_secret": "` + oauthtest.ClientSecret + `"}}`})
	if got := cb.spec(t, conn.ID).Secret.OAuth; got == nil || got.RefreshToken != spec.Secret.OAuth.RefreshToken {
		t.Fatalf("tokens after a new client secret: %+v", got)
	}
	cb.run(t, scenario{name: "tokens in an update", method: "PUT", path: "/api/v1/connections/drive", who: "a", status: 400, body: `{"secret": {"oauth": {"refresh_token": "mine"}}}`, contains: []string{"secret.oauth cannot be given"}})

	// The provider's refusal, in its words.
	p.Deny(true)
	v = start()
	res = fx.CompleteAuthorization(ctx, follow(v.URL), 0)
	if res.OK || !strings.Contains(res.Message, "The provider did not sign you in: The user declined to give access. (access_denied)") {
		t.Fatalf("a denied sign-in: %+v", res)
	}
	if got := status(v.ID, "a"); got.Status != store.OAuthFailed || !strings.Contains(got.Message, "declined") {
		t.Fatalf("status after the denial: %+v", got)
	}
	p.Deny(false)

	// Started in the portal, only the starter's session completes it.
	link, err := fx.Authorize(ctx, cb.users["a"], mustConn(t, cb, conn.ID))
	if err != nil {
		t.Fatal(err)
	}
	if res := fx.CompleteAuthorization(ctx, follow(link), 0); res.OK || !strings.Contains(res.Message, "another browser session") {
		t.Fatalf("a portal sign-in completed without the session: %+v", res)
	}
	link, _ = fx.Authorize(ctx, cb.users["a"], mustConn(t, cb, conn.ID))
	if res := fx.CompleteAuthorization(ctx, follow(link), cb.users["a"].ID); !res.OK || res.Via != ViaPortal {
		t.Fatalf("a portal sign-in in its session: %+v", res)
	}

	// An expired sign-in, an unknown state, no state.
	if _, err := cb.store.CreateOAuthState(ctx, store.OAuthState{Hash: stateHash("old-state"), UserID: cb.users["a"].ID, ConnectionID: conn.ID,
		Verifier: []byte("x"), Via: ViaAPI, ExpiresAt: time.Now().Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	for state, want := range map[string]string{"old-state": "This sign-in expired", "never-issued": "Sluice does not know this sign-in", "": "it has no state"} {
		if res := fx.CompleteAuthorization(ctx, url.Values{"state": {state}, "code": {"c"}}, 0); res.OK || !strings.Contains(res.Message, want) {
			t.Errorf("state %q: %+v, want %q", state, res, want)
		}
	}
}

// mustConn returns the stored connection with that id.
func mustConn(t *testing.T, cb *connBundle, id int64) store.Connection {
	t.Helper()
	c, err := cb.store.GetConnection(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
