// Package oauthtest is an OAuth2 provider for tests: an authorization
// endpoint that signs the person in at once and redirects back with a
// code, a token endpoint for the authorization_code and refresh_token
// grants (PKCE S256 checked, refresh tokens rotated), and an API that
// accepts only a current access token. Switches make its tokens expire at
// once and its refreshes refused, as a provider does when a person revokes
// access.
package oauthtest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"time"
)

// Client is the client id and secret the provider accepts.
const (
	ClientID     = "sluice-test-client"
	ClientSecret = "client-secret-9f2c41d7"
)

// Provider is a running test provider.
type Provider struct {
	// URL is the provider's base URL; its endpoints are URL+"/authorize",
	// URL+"/token" and URL+"/api".
	URL    string
	server *httptest.Server

	mu        sync.Mutex
	lifetime  time.Duration
	refuse    bool
	deny      bool
	codes     map[string]grant
	refresh   map[string]bool
	access    map[string]time.Time
	exchanges int
	refreshes int
	apiCalls  int
}

// grant is an issued authorization code.
type grant struct {
	challenge, redirect string
}

// New starts a provider whose access tokens live an hour; it stops when
// the test ends.
func New(tb interface{ Cleanup(func()) }) *Provider {
	p := &Provider{lifetime: time.Hour, codes: map[string]grant{}, refresh: map[string]bool{}, access: map[string]time.Time{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("/api", p.api)
	p.server = httptest.NewServer(mux)
	p.URL = p.server.URL
	tb.Cleanup(p.server.Close)
	return p
}

// SetLifetime sets how long the access tokens issued from now on live.
func (p *Provider) SetLifetime(d time.Duration) {
	p.mu.Lock()
	p.lifetime = d
	p.mu.Unlock()
}

// ExpireAll makes every access token issued so far expired.
func (p *Provider) ExpireAll() {
	p.mu.Lock()
	for k := range p.access {
		p.access[k] = time.Now().Add(-time.Second)
	}
	p.mu.Unlock()
}

// RefuseRefresh makes the token endpoint refuse (or accept again) every
// refresh token with invalid_grant, as after a person revoked access.
func (p *Provider) RefuseRefresh(refuse bool) {
	p.mu.Lock()
	p.refuse = refuse
	p.mu.Unlock()
}

// Deny makes the authorization endpoint answer access_denied, as when the
// person clicks Cancel.
func (p *Provider) Deny(deny bool) {
	p.mu.Lock()
	p.deny = deny
	p.mu.Unlock()
}

// Counts returns how many codes were exchanged, refreshes granted and API
// calls answered 200.
func (p *Provider) Counts() (exchanges, refreshes, apiCalls int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exchanges, p.refreshes, p.apiCalls
}

func random(prefix string) string {
	return prefix + rand.Text()
}

func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || redirect.Host == "" {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	if q.Get("client_id") != ClientID || q.Get("response_type") != "code" {
		http.Error(w, "unknown client or response_type", http.StatusBadRequest)
		return
	}
	back := redirect.Query()
	back.Set("state", q.Get("state"))
	p.mu.Lock()
	deny := p.deny
	p.mu.Unlock()
	switch {
	case deny:
		back.Set("error", "access_denied")
		back.Set("error_description", "The user declined to give access.")
	case q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		back.Set("error", "invalid_request")
		back.Set("error_description", "PKCE S256 is required.")
	default:
		code := random("CODE-oauthtest-")
		p.mu.Lock()
		p.codes[code] = grant{challenge: q.Get("code_challenge"), redirect: redirect.String()}
		p.mu.Unlock()
		back.Set("code", code)
	}
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	id, sec, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		sec, _ = url.QueryUnescape(sec)
	} else {
		id, sec = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != ClientID || sec != ClientSecret {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed.")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		g, ok := p.codes[r.PostForm.Get("code")]
		delete(p.codes, r.PostForm.Get("code"))
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		switch {
		case !ok:
			oauthError(w, http.StatusBadRequest, "invalid_grant", "The authorization code is unknown or was used.")
			return
		case base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
			oauthError(w, http.StatusBadRequest, "invalid_grant", "The code verifier does not match the challenge.")
			return
		case r.PostForm.Get("redirect_uri") != g.redirect:
			oauthError(w, http.StatusBadRequest, "invalid_grant", "The redirect_uri does not match.")
			return
		}
		p.exchanges++
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		if p.refuse || !p.refresh[rt] {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "Token has been expired or revoked.")
			return
		}
		delete(p.refresh, rt) // rotated: the old one is spent
		p.refreshes++
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type "+r.PostForm.Get("grant_type"))
		return
	}
	at, rt := random("AT-oauthtest-"), random("RT-oauthtest-")
	p.access[at] = time.Now().Add(p.lifetime)
	p.refresh[rt] = true
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": at, "refresh_token": rt, "token_type": "Bearer", "expires_in": int(p.lifetime.Seconds())})
}

func (p *Provider) api(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	const prefix = "Bearer "
	h := r.Header.Get("Authorization")
	exp, ok := time.Time{}, false
	if len(h) > len(prefix) && h[:len(prefix)] == prefix {
		exp, ok = p.access[h[len(prefix):]]
	}
	if !ok || time.Now().After(exp) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		oauthError(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid or expired.")
		return
	}
	p.apiCalls++
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"ok": true}`)
}
