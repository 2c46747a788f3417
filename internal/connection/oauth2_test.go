package connection

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/connection/oauthtest"
	"github.com/sluice/sluice/internal/secret"
)

func TestValidateAuthorizationCode(t *testing.T) {
	ok := Config{Grant: GrantAuthorizationCode, AuthURL: "https://id.example/authorize", TokenURL: "https://id.example/token", ClientID: "c"}
	tests := []struct {
		name string
		edit func(*Spec)
		want string
	}{
		{"complete, public client", func(*Spec) {}, ""},
		{"with a client secret", func(s *Spec) { s.Secret.ClientSecret = "s" }, ""},
		{"no auth_url", func(s *Spec) { s.Config.AuthURL = "" }, "a oauth2 connection needs auth_url"},
		{"no token_url nor client_id", func(s *Spec) { s.Config.TokenURL, s.Config.ClientID = "", "" }, "needs token_url and client_id"},
		{"bad auth_url", func(s *Spec) { s.Config.AuthURL = "id.example/authorize" }, `auth_url "id.example/authorize" must be an http or https URL`},
		{"unknown grant", func(s *Spec) { s.Config.Grant = "password" }, `grant "password" must be client_credentials or authorization_code`},
		{"auth_url with client credentials", func(s *Spec) { s.Config.Grant = ""; s.Secret.ClientSecret = "s" }, "auth_url is only used by the authorization_code grant"},
		{"scope with a space", func(s *Spec) { s.Config.Scopes = []string{"read write"} }, `scope "read write" must be one non-empty word`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Spec{Type: TypeOAuth2, Config: ok}
			tc.edit(&s)
			err := s.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

// signIn follows the authorization URL of spec as a browser would, up to
// the redirect back to redirectURL, and returns the code and state the
// provider sent back.
func signIn(t *testing.T, spec Spec, redirectURL, state, verifier string) url.Values {
	t.Helper()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(spec.AuthCodeURL(redirectURL, state, verifier))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), redirectURL) {
		t.Fatalf("authorize answered %d to %q (%v)", resp.StatusCode, loc, err)
	}
	return loc.Query()
}

func TestAuthorizationCodeJourney(t *testing.T) {
	p := oauthtest.New(t)
	spec := Spec{ID: 7, Type: TypeOAuth2,
		Config: Config{Grant: GrantAuthorizationCode, AuthURL: p.URL + "/authorize", TokenURL: p.URL + "/token", ClientID: oauthtest.ClientID, Scopes: []string{"read"}},
		Secret: Secret{ClientSecret: oauthtest.ClientSecret}}
	var mu sync.Mutex
	var saved []Tokens
	a := &Authorizer{Client: http.DefaultClient, Save: func(_ context.Context, id int64, tk Tokens) error {
		if id != 7 {
			t.Errorf("Save for connection %d, want 7", id)
		}
		mu.Lock()
		saved = append(saved, tk)
		mu.Unlock()
		return nil
	}}

	// Not signed in yet: the request is refused before it leaves.
	var red secret.Redactor
	req, _ := http.NewRequest(http.MethodGet, p.URL+"/api", nil)
	if err := a.Apply(t.Context(), spec, req, &red); !errors.Is(err, ErrNotAuthorized) || !errors.Is(err, ErrToken) {
		t.Fatalf("Apply before sign-in = %v, want ErrNotAuthorized and ErrToken", err)
	}

	// Sign in: the state comes back, PKCE is checked by the provider.
	const redirect = "https://sluice.example/oauth/callback"
	verifier := NewVerifier()
	back := signIn(t, spec, redirect, "state-1", verifier)
	if back.Get("state") != "state-1" || back.Get("code") == "" {
		t.Fatalf("redirect back: %v", back)
	}
	if _, err := a.Exchange(t.Context(), spec, redirect, back.Get("code"), "wrong-verifier-"+verifier, &red); err == nil || !strings.Contains(err.Error(), "code verifier does not match") {
		t.Fatalf("Exchange with a wrong verifier = %v", err)
	}
	back = signIn(t, spec, redirect, "state-2", verifier)
	tk, err := a.Exchange(t.Context(), spec, redirect, back.Get("code"), verifier, &red)
	if err != nil || tk.AccessToken == "" || tk.RefreshToken == "" || time.Until(tk.Expiry) < 50*time.Minute {
		t.Fatalf("Exchange = %+v, %v", tk, err)
	}
	if got := red.String("x " + tk.AccessToken + " " + tk.RefreshToken + " " + back.Get("code") + " " + verifier); strings.Contains(got, tk.AccessToken) || strings.Contains(got, tk.RefreshToken) || strings.Contains(got, verifier) || strings.Contains(got, back.Get("code")) {
		t.Errorf("Exchange did not register its secrets for redaction: %q", got)
	}
	spec.Secret.OAuth = &tk

	call := func(s Spec) (int, error) {
		t.Helper()
		var red secret.Redactor
		req, _ := http.NewRequest(http.MethodGet, p.URL+"/api", nil)
		if err := a.Apply(t.Context(), s, req, &red); err != nil {
			return 0, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := red.String(req.Header.Get("Authorization")); strings.Contains(got, "AT-oauthtest-") {
			t.Errorf("the access token used is not redacted: %q", got)
		}
		return resp.StatusCode, nil
	}
	// A fresh token is used as it is.
	if st, err := call(spec); err != nil || st != http.StatusOK {
		t.Fatalf("call with a fresh token: %d %v", st, err)
	}
	if _, refreshes, _ := p.Counts(); refreshes != 0 {
		t.Fatalf("a fresh token was refreshed %d times", refreshes)
	}

	// Within the margin of its expiry, concurrent requests refresh once,
	// and the rotated refresh token is saved.
	expiring := tk
	expiring.Expiry = time.Now().Add(30 * time.Second)
	spec.Secret.OAuth = &expiring
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if st, err := call(spec); err != nil || st != http.StatusOK {
				t.Errorf("call with an expiring token: %d %v", st, err)
			}
		})
	}
	wg.Wait()
	if _, refreshes, _ := p.Counts(); refreshes != 1 {
		t.Fatalf("8 concurrent calls refreshed %d times, want 1", refreshes)
	}
	if len(saved) != 1 || saved[0].RefreshToken == tk.RefreshToken || saved[0].AccessToken == tk.AccessToken {
		t.Fatalf("saved %+v after the refresh of %+v", saved, tk)
	}

	// The API refusing the token (revoked early) makes the next use refresh.
	p.ExpireAll()
	spec.Secret.OAuth = &saved[0]
	if st, _ := call(spec); st != http.StatusUnauthorized {
		t.Fatalf("call after ExpireAll: %d, want 401", st)
	}
	a.Forget(spec)
	if st, err := call(spec); err != nil || st != http.StatusOK {
		t.Fatalf("call after Forget: %d %v", st, err)
	}
	if len(saved) != 2 {
		t.Fatalf("saved %d token sets, want 2", len(saved))
	}

	// A refused refresh says so, and is ErrToken for the engine.
	p.RefuseRefresh(true)
	a.Forget(spec)
	_, err = call(spec)
	if !errors.Is(err, ErrRefreshRefused) || !errors.Is(err, ErrToken) || !strings.Contains(err.Error(), "invalid_grant: Token has been expired or revoked.") {
		t.Fatalf("call with a refused refresh = %v", err)
	}
}

func TestRefreshServerErrorIsNotAuth(t *testing.T) {
	srv := httptestServer(t, http.StatusBadGateway, `<html>bad gateway</html>`)
	spec := Spec{ID: 1, Type: TypeOAuth2,
		Config: Config{Grant: GrantAuthorizationCode, AuthURL: srv + "/authorize", TokenURL: srv + "/token", ClientID: "c"},
		Secret: Secret{OAuth: &Tokens{AccessToken: "old", RefreshToken: "r", Expiry: time.Now().Add(-time.Minute)}}}
	a := &Authorizer{Client: http.DefaultClient}
	var red secret.Redactor
	req, _ := http.NewRequest(http.MethodGet, srv+"/api", nil)
	err := a.Apply(t.Context(), spec, req, &red)
	if err == nil || errors.Is(err, ErrToken) || !strings.Contains(err.Error(), "answered 502") {
		t.Fatalf("Apply with a token endpoint answering 502 = %v, want a plain (retryable) error", err)
	}
}

// httptestServer serves every request with status and body, and returns
// its URL.
func httptestServer(t *testing.T, status int, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
