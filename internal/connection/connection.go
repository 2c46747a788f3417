// Package connection defines the credentials a flow's actions use (bearer
// token, basic, API key, OAuth2 client credentials or authorization code
// with refresh tokens, SMTP): what each type
// holds, how it is checked, sealed at rest, and applied to a request.
package connection

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/sluice/sluice/internal/diagnose"
	"github.com/sluice/sluice/internal/mail"
	"github.com/sluice/sluice/internal/secret"
)

// Connection types.
const (
	TypeBearer = "bearer"
	TypeBasic  = "basic"
	TypeAPIKey = "api_key"
	TypeOAuth2 = "oauth2"
	TypeSMTP   = "smtp"
)

// Types lists every connection type.
var Types = []string{TypeBearer, TypeBasic, TypeAPIKey, TypeOAuth2, TypeSMTP}

// UpdateCommand is the command that gives connection name of type typ a
// new secret, read from stdin.
func UpdateCommand(name, typ string) string {
	return "sluice connections update " + diagnose.ShellQuote(name) + " " + SecretStdinFlag(typ)
}

// SecretStdinFlag is the flag of `sluice connections add` and `update`
// that reads a connection type's secret from stdin: suggested commands
// use it, never a secret on the command line. An unknown type gets
// --token-stdin.
func SecretStdinFlag(typ string) string {
	switch typ {
	case TypeBasic, TypeSMTP:
		return "--password-stdin"
	case TypeAPIKey:
		return "--key-stdin"
	case TypeOAuth2:
		return "--client-secret-stdin"
	}
	return "--token-stdin"
}

// Config is what a connection holds that is not secret; the API shows it.
type Config struct {
	// Username is a basic or SMTP connection's user name.
	Username string `json:"username,omitempty"`
	// KeyName is an API key's header or query parameter name.
	// Defaults to X-API-Key.
	KeyName string `json:"key_name,omitempty"`
	// KeyIn is where an API key goes: header (the default) or query.
	KeyIn string `json:"key_in,omitempty"`
	// Grant is an OAuth2 connection's flow: client_credentials (the
	// default) or authorization_code, where a person signs in once
	// ('sluice connections authorize') and Sluice keeps the refresh token.
	Grant string `json:"grant,omitempty"`
	// AuthURL is the provider's authorization endpoint, where a person
	// signs in; only the authorization_code grant uses it.
	AuthURL string `json:"auth_url,omitempty"`
	// TokenURL, ClientID and Scopes configure OAuth2.
	TokenURL string   `json:"token_url,omitempty"`
	ClientID string   `json:"client_id,omitempty"`
	Scopes   []string `json:"scopes,omitempty"`
	// Host, Port, From and TLS configure an SMTP connection.
	Host string `json:"host,omitempty"`
	Port int    `json:"port,omitempty"`
	From string `json:"from,omitempty"`
	TLS  string `json:"tls,omitempty"`
	// TestURL is requested (GET) by verify to check an HTTP connection.
	TestURL string `json:"test_url,omitempty"`
}

// Secret is what a connection holds that is secret: it is sealed at rest
// and never leaves the server.
type Secret struct {
	Token        string `json:"token,omitempty"`
	Password     string `json:"password,omitempty"`
	Key          string `json:"key,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
	// OAuth holds the tokens an authorization_code connection obtained:
	// set by the server's OAuth2 callback and by a refresh, never by a
	// maker (the API drops it from what it is given).
	OAuth *Tokens `json:"oauth,omitempty"`
}

// Spec is a connection's type, config and secret together.
type Spec struct {
	// ID is the stored connection's id, 0 for one that is not stored
	// (yet); an authorization_code connection's refreshed tokens are saved
	// under it.
	ID     int64
	Type   string
	Config Config
	Secret Secret
}

// Validate checks that a spec has what its type needs, naming the flag
// or field that is missing.
func (s Spec) Validate() error {
	var missing []string
	need := func(ok bool, field string) {
		if !ok {
			missing = append(missing, field)
		}
	}
	switch s.Type {
	case TypeBearer:
		need(s.Secret.Token != "", "token")
	case TypeBasic:
		need(s.Config.Username != "", "username")
		need(s.Secret.Password != "", "password")
	case TypeAPIKey:
		need(s.Secret.Key != "", "key")
		if s.Config.KeyIn != "" && s.Config.KeyIn != "header" && s.Config.KeyIn != "query" {
			return fmt.Errorf("key_in %q must be header or query", s.Config.KeyIn)
		}
	case TypeOAuth2:
		need(s.Config.TokenURL != "", "token_url")
		need(s.Config.ClientID != "", "client_id")
		switch s.Config.Grant {
		case "", GrantClientCredentials:
			need(s.Secret.ClientSecret != "", "client_secret")
			if s.Config.AuthURL != "" {
				return fmt.Errorf("auth_url is only used by the %s grant; set grant to %s or leave auth_url out", GrantAuthorizationCode, GrantAuthorizationCode)
			}
		case GrantAuthorizationCode:
			// The client secret is optional: a public client relies on
			// PKCE alone.
			need(s.Config.AuthURL != "", "auth_url")
		default:
			return fmt.Errorf("grant %q must be %s or %s", s.Config.Grant, GrantClientCredentials, GrantAuthorizationCode)
		}
		for _, f := range []struct{ name, v string }{{"auth_url", s.Config.AuthURL}, {"token_url", s.Config.TokenURL}} {
			if f.v == "" {
				continue
			}
			if u, err := url.Parse(f.v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				return fmt.Errorf("%s %q must be an http or https URL", f.name, f.v)
			}
		}
		for _, sc := range s.Config.Scopes {
			if sc == "" || strings.ContainsAny(sc, " \t\r\n\"\\") {
				return fmt.Errorf("scope %q must be one non-empty word without spaces or quotes", sc)
			}
		}
	case TypeSMTP:
		need(s.Config.Host != "", "host")
		if s.Config.Username != "" {
			need(s.Secret.Password != "", "password")
		}
		if s.Config.Port < 0 || s.Config.Port > 65535 {
			return fmt.Errorf("port %d must be between 1 and 65535", s.Config.Port)
		}
	default:
		return fmt.Errorf("type %q is not one of %s", s.Type, strings.Join(Types, ", "))
	}
	if s.Config.TestURL != "" {
		if u, err := url.Parse(s.Config.TestURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("test_url %q must be an http or https URL", s.Config.TestURL)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("a %s connection needs %s", s.Type, strings.Join(missing, " and "))
	}
	return nil
}

// Values returns the secret values, for redaction. For basic connections
// it includes the user:password pair that a Basic header encodes.
func (s Spec) Values() []string {
	var out []string
	vals := []string{s.Secret.Token, s.Secret.Password, s.Secret.Key, s.Secret.ClientSecret}
	if t := s.Secret.OAuth; t != nil {
		vals = append(vals, t.AccessToken, t.RefreshToken)
	}
	for _, v := range vals {
		if v != "" {
			out = append(out, v)
		}
	}
	if s.Type == TypeBasic && s.Secret.Password != "" {
		out = append(out, s.Config.Username+":"+s.Secret.Password)
	}
	return out
}

// Seal encodes and seals a secret for storage.
func Seal(box *secret.Box, s Secret) ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode secret: %w", err)
	}
	return box.Seal(b)
}

// Open reads a stored connection's spec, unsealing its secret.
func Open(box *secret.Box, typ string, config json.RawMessage, sealed []byte) (Spec, error) {
	s := Spec{Type: typ}
	if len(config) > 0 {
		if err := json.Unmarshal(config, &s.Config); err != nil {
			return Spec{}, fmt.Errorf("read connection config: %w", err)
		}
	}
	plain, err := box.Open(sealed)
	if err != nil {
		return Spec{}, err
	}
	if err := json.Unmarshal(plain, &s.Secret); err != nil {
		return Spec{}, fmt.Errorf("read connection secret: %w", err)
	}
	return s, nil
}

// SMTP returns the mail configuration of an smtp connection.
func (s Spec) SMTP() mail.SMTPConfig {
	return mail.SMTPConfig{Host: s.Config.Host, Port: s.Config.Port, Username: s.Config.Username, Password: s.Secret.Password, From: s.Config.From, TLS: s.Config.TLS}
}

// ErrToken is returned when an OAuth2 token endpoint refuses the client.
var ErrToken = errors.New("oauth2 token request failed")

// Authorizer applies connections to requests. It caches OAuth2 access
// tokens per connection until shortly before they expire, and refreshes
// an authorization_code connection's access token before it expires.
type Authorizer struct {
	// Client fetches OAuth2 tokens; it should be the netguard client.
	Client *http.Client
	// Save stores the tokens a refresh obtained for connection id (see
	// SaveTokens), before they are used: a provider that rotates refresh
	// tokens accepts only the new one. Nil saves nothing (a test request
	// of a connection not stored).
	Save func(ctx context.Context, id int64, t Tokens) error
	// RefreshMargin is how long before expiry an access token is
	// refreshed. Defaults to DefaultRefreshMargin.
	RefreshMargin time.Duration

	mu       sync.Mutex
	tokens   map[string]cachedToken
	authCode map[string]Tokens
	refused  map[string]string
	flight   singleflight.Group
}

type cachedToken struct {
	token   string
	expires time.Time
}

// Apply adds a connection's credentials to a request, and registers with
// secrets every secret value the connection holds or produced for it: the
// stored ones, a fetched or refreshed OAuth2 token, and whatever header or
// query value applying the connection changed, so that a value obtained at
// run time is redacted like a stored one. The registration is made by Apply
// itself, not by its callers or by each type, so that a new connection type
// cannot forget it; it happens before a failure is returned, because an
// error may quote what the token endpoint answered. secrets must not be
// nil.
func (a *Authorizer) Apply(ctx context.Context, s Spec, req *http.Request, secrets *secret.Redactor) error {
	if secrets == nil {
		return errors.New("connection: Apply needs a redactor for the secrets it produces")
	}
	secrets.Add(s.Values()...)
	before := snapshot(req)
	produced, err := a.apply(ctx, s, req)
	secrets.Add(produced...)
	if err != nil {
		return err
	}
	secrets.Add(before.changed(req)...)
	return nil
}

// apply adds the credentials of s to req, returning the secret values it
// obtained at run time that the request does not show as they are.
func (a *Authorizer) apply(ctx context.Context, s Spec, req *http.Request) ([]string, error) {
	switch s.Type {
	case TypeBearer:
		req.Header.Set("Authorization", "Bearer "+s.Secret.Token)
	case TypeBasic:
		req.SetBasicAuth(s.Config.Username, s.Secret.Password)
	case TypeAPIKey:
		name := s.Config.KeyName
		if name == "" {
			name = "X-API-Key"
		}
		if s.Config.KeyIn == "query" {
			q := req.URL.Query()
			q.Set(name, s.Secret.Key)
			req.URL.RawQuery = q.Encode()
		} else {
			req.Header.Set(name, s.Secret.Key)
		}
	case TypeOAuth2:
		token := a.token
		if s.IsAuthorizationCode() {
			token = a.authCodeToken
		}
		tok, produced, err := token(ctx, s)
		if err != nil {
			return produced, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		return produced, nil
	default:
		return nil, fmt.Errorf("a %s connection cannot authorize an HTTP request", s.Type)
	}
	return nil, nil
}

// requestCredentials is what a request carries that a connection may set:
// its headers and query values.
type requestCredentials struct {
	header http.Header
	query  url.Values
}

// snapshot copies the headers and query values of req.
func snapshot(req *http.Request) requestCredentials {
	return requestCredentials{header: req.Header.Clone(), query: req.URL.Query()}
}

// changed returns the header and query values of req that were not in the
// snapshot: what applying a connection added. Of an Authorization-style
// value ("Bearer abc", "Basic dTpw") the credentials after the scheme are
// returned too, and a Basic pair is decoded, so that an echo of the bare
// token or password is redacted as well as the whole header.
func (b requestCredentials) changed(req *http.Request) []string {
	var out []string
	for k, vs := range req.Header {
		for _, v := range vs {
			if slices.Contains(b.header[k], v) {
				continue
			}
			out = append(out, v)
			scheme, cred, ok := strings.Cut(v, " ")
			if !ok {
				continue
			}
			out = append(out, cred)
			if strings.EqualFold(scheme, "Basic") {
				if pair, err := base64.StdEncoding.DecodeString(cred); err == nil {
					out = append(out, string(pair))
					if _, pw, ok := strings.Cut(string(pair), ":"); ok {
						out = append(out, pw)
					}
				}
			}
		}
	}
	for k, vs := range req.URL.Query() {
		for _, v := range vs {
			if !slices.Contains(b.query[k], v) {
				out = append(out, v)
			}
		}
	}
	return out
}

// Forget drops a cached OAuth2 token, after the API refused it; an
// authorization_code connection's token is refreshed on its next use.
func (a *Authorizer) Forget(s Spec) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s.IsAuthorizationCode() {
		key := authCodeKey(s)
		t := s.Secret.OAuth
		if c, ok := a.authCode[key]; ok && (t == nil || c.Expiry.After(t.Expiry)) {
			t = &c
		}
		if t != nil {
			if a.refused == nil {
				a.refused = map[string]string{}
			}
			a.refused[key] = t.AccessToken
		}
		return
	}
	delete(a.tokens, cacheKey(s))
}

func cacheKey(s Spec) string {
	return s.Config.TokenURL + "\x00" + s.Config.ClientID + "\x00" + strings.Join(s.Config.Scopes, " ") + "\x00" + s.Secret.ClientSecret
}

// token returns a cached or fresh OAuth2 client-credentials token, and
// every token the endpoint answered (access, refresh and ID tokens), also
// when it answered an error beside them, for redaction.
func (a *Authorizer) token(ctx context.Context, s Spec) (string, []string, error) {
	key := cacheKey(s)
	a.mu.Lock()
	if t, ok := a.tokens[key]; ok && time.Now().Before(t.expires) {
		a.mu.Unlock()
		return t.token, []string{t.token}, nil
	}
	a.mu.Unlock()
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(s.Config.Scopes) > 0 {
		form.Set("scope", strings.Join(s.Config.Scopes, " "))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Config.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", nil, fmt.Errorf("oauth2 token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(s.Config.ClientID), url.QueryEscape(s.Secret.ClientSecret))
	resp, err := a.Client.Do(req)
	if err != nil {
		return "", nil, fmt.Errorf("oauth2 token request to %s: %w", s.Config.TokenURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", nil, fmt.Errorf("oauth2 token response from %s: %w", s.Config.TokenURL, err)
	}
	var tr struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		IDToken      string `json:"id_token"`
		ExpiresIn    int    `json:"expires_in"`
		Error        string `json:"error"`
		Description  string `json:"error_description"`
	}
	_ = json.Unmarshal(body, &tr)
	var produced []string
	for _, v := range []string{tr.AccessToken, tr.RefreshToken, tr.IDToken} {
		if v != "" {
			produced = append(produced, v)
		}
	}
	if resp.StatusCode != http.StatusOK || tr.AccessToken == "" {
		why := tr.Error
		if tr.Description != "" {
			why += ": " + tr.Description
		}
		if why == "" {
			why = http.StatusText(resp.StatusCode)
		}
		return "", produced, fmt.Errorf("%w: %s answered %d (%s)", ErrToken, s.Config.TokenURL, resp.StatusCode, why)
	}
	life := time.Duration(tr.ExpiresIn) * time.Second
	if life <= 0 {
		life = time.Hour
	}
	a.mu.Lock()
	if a.tokens == nil {
		a.tokens = map[string]cachedToken{}
	}
	a.tokens[key] = cachedToken{token: tr.AccessToken, expires: time.Now().Add(life - min(time.Minute, life/10))}
	a.mu.Unlock()
	return tr.AccessToken, produced, nil
}
