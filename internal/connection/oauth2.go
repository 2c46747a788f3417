package connection

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/oauth2"

	"github.com/sluice/sluice/internal/diagnose"
	"github.com/sluice/sluice/internal/secret"
	"github.com/sluice/sluice/internal/store"
)

// OAuth2 grants (Config.Grant).
const (
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
)

// DefaultRefreshMargin is how long before its expiry an authorization-code
// connection's access token is refreshed, so that a request never leaves
// with a token that expires on the way.
const DefaultRefreshMargin = time.Minute

// refreshTimeout bounds a refresh, from the token request to saving its
// answer.
const refreshTimeout = 30 * time.Second

// Tokens are what an authorization_code connection obtained from its
// provider. They are sealed with the connection's secret, so that any node
// can use and refresh them.
type Tokens struct {
	AccessToken  string    `json:"access_token,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
}

// ErrRefreshRefused is returned (wrapping ErrToken) when the provider
// refuses a connection's refresh token (invalid_grant): it expired or was
// revoked, and only a person signing in again gives a new one.
var ErrRefreshRefused = errors.New("oauth2 refresh refused")

// ErrNotAuthorized is returned (wrapping ErrToken) for an
// authorization_code connection that nobody has signed in to yet.
var ErrNotAuthorized = errors.New("oauth2 connection not authorized")

// AuthorizeCommand is the command that signs connection name in again.
func AuthorizeCommand(name string) string {
	return "sluice connections authorize " + diagnose.ShellQuote(name)
}

// IsAuthorizationCode reports whether s is an OAuth2 connection that a
// person signs in to.
func (s Spec) IsAuthorizationCode() bool {
	return s.Type == TypeOAuth2 && s.Config.Grant == GrantAuthorizationCode
}

// oauth2Config is s as golang.org/x/oauth2 configures a client.
func (s Spec) oauth2Config(redirectURL string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     s.Config.ClientID,
		ClientSecret: s.Secret.ClientSecret,
		// The client authenticates with HTTP Basic, as RFC 6749 requires
		// every server to accept (and as client credentials do): the
		// auto-detection would send an authorization code twice.
		Endpoint:    oauth2.Endpoint{AuthURL: s.Config.AuthURL, TokenURL: s.Config.TokenURL, AuthStyle: oauth2.AuthStyleInHeader},
		RedirectURL: redirectURL,
		Scopes:      s.Config.Scopes,
	}
}

// AuthCodeURL returns the provider URL where a person signs in to s: it
// carries state and the S256 challenge of verifier (PKCE), and asks for
// offline access so that the provider issues a refresh token.
func (s Spec) AuthCodeURL(redirectURL, state, verifier string) string {
	return s.oauth2Config(redirectURL).AuthCodeURL(state, oauth2.AccessTypeOffline, oauth2.S256ChallengeOption(verifier))
}

// NewVerifier returns a new random PKCE code verifier.
func NewVerifier() string { return oauth2.GenerateVerifier() }

// Exchange trades an authorization code for s's tokens at its token
// endpoint, with the PKCE verifier. Every token the provider answered is
// registered with secrets, also when the exchange fails.
func (a *Authorizer) Exchange(ctx context.Context, s Spec, redirectURL, code, verifier string, secrets *secret.Redactor) (Tokens, error) {
	secrets.Add(s.Values()...)
	secrets.Add(code, verifier)
	tok, err := s.oauth2Config(redirectURL).Exchange(a.clientContext(ctx), code, oauth2.VerifierOption(verifier))
	if err != nil {
		return Tokens{}, tokenError(s, "exchange the authorization code", false, err, secrets)
	}
	t := Tokens{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry}
	secrets.Add(t.AccessToken, t.RefreshToken)
	if id, ok := tok.Extra("id_token").(string); ok {
		secrets.Add(id)
	}
	if t.RefreshToken == "" {
		return Tokens{}, fmt.Errorf("%w: %s issued no refresh token: check that the app may ask for offline access (some providers need a scope such as offline_access)", ErrToken, s.Config.TokenURL)
	}
	return t, nil
}

// clientContext makes golang.org/x/oauth2 use the Authorizer's client.
func (a *Authorizer) clientContext(ctx context.Context) context.Context {
	if a.Client == nil {
		return ctx
	}
	return context.WithValue(ctx, oauth2.HTTPClient, a.Client)
}

// tokenError describes a failed token request, in the words of the
// provider when it answered an OAuth2 error; it wraps ErrRefreshRefused for
// invalid_grant on a refresh, ErrToken for any other answer, and is a plain error (a
// network failure, which a retry may cure) when the provider did not
// answer or answered a server error.
func tokenError(s Spec, what string, refresh bool, err error, secrets *secret.Redactor) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return fmt.Errorf("oauth2: %s at %s: %w", what, s.Config.TokenURL, err)
	}
	why := re.ErrorCode
	if re.ErrorDescription != "" {
		why += ": " + re.ErrorDescription
	}
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	if why == "" {
		why = http.StatusText(status)
	}
	why = secrets.String(why)
	switch {
	case re.ErrorCode == "invalid_grant" && refresh:
		return fmt.Errorf("%w (%w): %s answered %d (%s)", ErrToken, ErrRefreshRefused, s.Config.TokenURL, status, why)
	case re.ErrorCode == "" && status >= 500:
		return fmt.Errorf("oauth2: %s at %s: the token endpoint answered %d (%s)", what, s.Config.TokenURL, status, why)
	}
	return fmt.Errorf("%w: %s answered %d (%s)", ErrToken, s.Config.TokenURL, status, why)
}

// authCodeToken returns an authorization_code connection's access token,
// refreshing it when it expires within the margin or the API refused it.
// Concurrent refreshes of one connection on this node collapse into one,
// whose rotated refresh token is saved (Authorizer.Save) before the new
// access token is used. It returns every token it saw, for redaction.
func (a *Authorizer) authCodeToken(ctx context.Context, s Spec) (string, []string, error) {
	key := authCodeKey(s)
	t := a.current(key, s)
	produced := []string{t.AccessToken, t.RefreshToken}
	if t.RefreshToken == "" && t.AccessToken == "" {
		return "", nil, fmt.Errorf("%w (%w): nobody has signed in to it yet", ErrToken, ErrNotAuthorized)
	}
	if a.fresh(key, t) {
		return t.AccessToken, produced, nil
	}
	if t.RefreshToken == "" {
		return "", produced, fmt.Errorf("%w (%w): its access token expired and it has no refresh token", ErrToken, ErrRefreshRefused)
	}
	v, err, _ := a.flight.Do(key, func() (any, error) {
		// Another caller may have refreshed while this one waited.
		if t := a.current(key, s); a.fresh(key, t) {
			return t, nil
		}
		var red secret.Redactor
		red.Add(s.Values()...)
		// The refresh serves every caller waiting on it: one caller's
		// cancellation does not end it, a timeout does.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
		defer cancel()
		src := s.oauth2Config("").TokenSource(a.clientContext(rctx), &oauth2.Token{RefreshToken: t.RefreshToken, Expiry: time.Unix(1, 0)})
		tok, err := src.Token()
		if err != nil {
			return Tokens{}, tokenError(s, "refresh the access token", true, err, &red)
		}
		nt := Tokens{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry}
		if nt.RefreshToken == "" {
			nt.RefreshToken = t.RefreshToken
		}
		if a.Save != nil && s.ID != 0 {
			if err := a.Save(rctx, s.ID, nt); err != nil {
				return nt, fmt.Errorf("oauth2: save the refreshed tokens: %w", err)
			}
		}
		a.mu.Lock()
		if a.authCode == nil {
			a.authCode = map[string]Tokens{}
		}
		a.authCode[key] = nt
		delete(a.refused, key)
		a.mu.Unlock()
		return nt, nil
	})
	nt, _ := v.(Tokens)
	produced = append(produced, nt.AccessToken, nt.RefreshToken)
	if err != nil {
		return "", produced, err
	}
	return nt.AccessToken, produced, nil
}

// current returns the newer of the tokens cached for key and those s was
// loaded with: the cache may hold a refresh this node made after s was
// read, and s may hold one another node made.
func (a *Authorizer) current(key string, s Spec) Tokens {
	var t Tokens
	if s.Secret.OAuth != nil {
		t = *s.Secret.OAuth
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.authCode[key]; ok && c.Expiry.After(t.Expiry) {
		return c
	}
	return t
}

// fresh reports whether t's access token may still be used: it is set, the
// API did not refuse it, and it does not expire within the margin.
func (a *Authorizer) fresh(key string, t Tokens) bool {
	if t.AccessToken == "" {
		return false
	}
	a.mu.Lock()
	refused := a.refused[key] == t.AccessToken
	a.mu.Unlock()
	if refused {
		return false
	}
	margin := a.RefreshMargin
	if margin <= 0 {
		margin = DefaultRefreshMargin
	}
	return t.Expiry.IsZero() || time.Now().Add(margin).Before(t.Expiry)
}

// TokenSaver is the part of the store that SaveTokens needs.
type TokenSaver interface {
	GetConnection(ctx context.Context, id int64) (store.Connection, error)
	SetConnectionSecret(ctx context.Context, id int64, old, sealed []byte) (bool, error)
}

// SaveTokens stores t as the tokens of connection id, sealed with the
// rest of its secret. It replaces the secret only if nobody changed it
// since it was read (a maker's update, another node's refresh), reading it
// again when somebody did, so that a client secret set meanwhile is kept.
func SaveTokens(ctx context.Context, st TokenSaver, box *secret.Box, id int64, t Tokens) error {
	for range 5 {
		rec, err := st.GetConnection(ctx, id)
		if err != nil {
			return fmt.Errorf("save oauth2 tokens of connection %d: %w", id, err)
		}
		spec, err := Open(box, rec.Type, rec.Config, rec.Secret)
		if err != nil {
			return fmt.Errorf("save oauth2 tokens of connection %d: %w", id, err)
		}
		spec.Secret.OAuth = &t
		sealed, err := Seal(box, spec.Secret)
		if err != nil {
			return fmt.Errorf("save oauth2 tokens of connection %d: %w", id, err)
		}
		ok, err := st.SetConnectionSecret(ctx, id, rec.Secret, sealed)
		if err != nil {
			return fmt.Errorf("save oauth2 tokens of connection %d: %w", id, err)
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("save oauth2 tokens of connection %d: its secret kept changing", id)
}

// authCodeKey is the cache key of an authorization_code connection: its
// id and its client, so that a changed client starts afresh.
func authCodeKey(s Spec) string {
	return fmt.Sprintf("authcode\x00%d\x00%s", s.ID, cacheKey(s))
}
