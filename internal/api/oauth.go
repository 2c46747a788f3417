package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluice/sluice/internal/connection"
	"github.com/sluice/sluice/internal/secret"
	"github.com/sluice/sluice/internal/store"
)

// CallbackPath is where an OAuth2 provider sends a person back after they
// signed in: the server's base URL plus this path is the redirect URI to
// register with the provider.
const CallbackPath = "/oauth/callback"

// AuthorizeTTL is how long a sign-in that was started may be completed.
const AuthorizeTTL = 10 * time.Minute

// Where a sign-in was started: the portal's (only the starter's browser
// session may complete it) or the API's, for the CLI (any browser the
// starter opens the address in may).
const (
	ViaPortal = "portal"
	ViaAPI    = "api"
)

// authorizationView is a sign-in as the API shows it: never its state or
// verifier.
type authorizationView struct {
	ID int64 `json:"id"`
	// URL is the provider address to open; only the answer that starts
	// the sign-in has it.
	URL       string    `json:"url,omitempty"`
	Status    string    `json:"status"`
	Message   string    `json:"message"`
	ExpiresAt time.Time `json:"expires_at"`
}

// redirectURL is the redirect URI sent to providers.
func (s *server) redirectURL() string { return strings.TrimSuffix(s.baseURL, "/") + CallbackPath }

// authorizeConnection answers POST /connections/{conn}/authorize: it
// starts a sign-in and answers the provider address to open.
func (s *server) authorizeConnection(w http.ResponseWriter, r *http.Request) error {
	c, err := s.lookupConnection(r.Context(), caller(r), r.PathValue("conn"))
	if err != nil {
		return err
	}
	v, err := s.startAuthorization(r.Context(), caller(r), c, ViaAPI)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// showAuthorization answers GET /connections/{conn}/authorize/{id}: how
// the sign-in is going, for the CLI that waits on it.
func (s *server) showAuthorization(w http.ResponseWriter, r *http.Request) error {
	c, err := s.lookupConnection(r.Context(), caller(r), r.PathValue("conn"))
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return badRequest("sign-in id %q must be a number", r.PathValue("id"))
	}
	st, err := s.store.GetOAuthState(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || err == nil && (st.ConnectionID != c.ID || st.UserID != caller(r).ID) {
		return notFound("sign-in %d of connection %q not found", id, c.Name)
	}
	if err != nil {
		return fmt.Errorf("sign-in %d: %w", id, err)
	}
	v := authorizationView{ID: st.ID, Status: st.Status, Message: st.Message, ExpiresAt: st.ExpiresAt}
	if st.Status == store.OAuthPending && !time.Now().Before(st.ExpiresAt) {
		v.Status, v.Message = "expired", fmt.Sprintf("nobody completed the sign-in within %s: start again", AuthorizeTTL)
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// startAuthorization records a sign-in of u to c and returns the provider
// address to open, with a new random state (stored only as its hash) and
// the S256 challenge of a new PKCE verifier (stored sealed).
func (s *server) startAuthorization(ctx context.Context, u store.User, c store.Connection, via string) (authorizationView, error) {
	if s.secrets == nil {
		return authorizationView{}, errNoSecretBox
	}
	spec, err := connection.Open(s.secrets, c.Type, c.Config, c.Secret)
	if err != nil {
		return authorizationView{}, &Error{Status: http.StatusConflict, Code: CodeConflict,
			Message: fmt.Sprintf("connection %q cannot be opened (%v): update it with 'sluice connections update'", c.Name, err)}
	}
	if !spec.IsAuthorizationCode() {
		return authorizationView{}, &Error{Status: http.StatusConflict, Code: CodeConflict,
			Message: fmt.Sprintf("connection %q is not signed in to: only an oauth2 connection with grant %s is (this one is %s)", c.Name, connection.GrantAuthorizationCode, describeType(spec))}
	}
	state := rand.Text()
	verifier := connection.NewVerifier()
	sealed, err := s.secrets.Seal([]byte(verifier))
	if err != nil {
		return authorizationView{}, fmt.Errorf("seal the sign-in verifier: %w", err)
	}
	st, err := s.store.CreateOAuthState(ctx, store.OAuthState{Hash: stateHash(state), UserID: u.ID, ConnectionID: c.ID,
		Verifier: sealed, Via: via, ExpiresAt: time.Now().Add(AuthorizeTTL)})
	if err != nil {
		return authorizationView{}, fmt.Errorf("start the sign-in of connection %d: %w", c.ID, err)
	}
	return authorizationView{ID: st.ID, URL: spec.AuthCodeURL(s.redirectURL(), state, verifier), Status: st.Status, ExpiresAt: st.ExpiresAt}, nil
}

// describeType names a connection's type and, for oauth2, its grant.
func describeType(spec connection.Spec) string {
	if spec.Type != connection.TypeOAuth2 {
		return "a " + spec.Type + " connection"
	}
	g := spec.Config.Grant
	if g == "" {
		g = connection.GrantClientCredentials
	}
	return "an oauth2 connection with grant " + g
}

// stateHash is what the store keeps of a state: its SHA-256.
func stateHash(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:])
}

// AuthorizationResult is how a provider's redirect back ended.
type AuthorizationResult struct {
	// OK is set when the connection got new tokens.
	OK bool
	// ConnectionID and ConnectionName name the connection, when the state
	// was known.
	ConnectionID   int64
	ConnectionName string
	// Via is where the sign-in started (ViaPortal, ViaAPI).
	Via string
	// Message says in plain words what went wrong, or that it worked.
	Message string
}

// completeAuthorization handles the provider's redirect back to
// CallbackPath with query q. sessionUser is the portal user of the
// browser (0 without a session). The state must be known, pending, not
// expired, and used once; a sign-in started in the portal completes only
// in its starter's session, and no sign-in completes in another user's
// session, so that nobody can attach their provider account to someone
// else's connection (or the reverse) by sending them a link.
func (s *server) completeAuthorization(ctx context.Context, q url.Values, sessionUser int64) AuthorizationResult {
	state := q.Get("state")
	if state == "" {
		return AuthorizationResult{Message: "This address is not a complete sign-in: it has no state. Start the sign-in again from Sluice."}
	}
	st, err := s.store.ClaimOAuthState(ctx, stateHash(state), time.Now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return AuthorizationResult{Message: "Sluice does not know this sign-in: the address was changed, or the sign-in is older than a day. Start the sign-in again from Sluice."}
	case errors.Is(err, store.ErrConflict) && st.Status != store.OAuthPending:
		return AuthorizationResult{Via: st.Via, ConnectionID: st.ConnectionID, Message: "This sign-in was already completed; an address from the provider works once. If the connection still needs attention, start the sign-in again from Sluice."}
	case errors.Is(err, store.ErrConflict):
		return AuthorizationResult{Via: st.Via, ConnectionID: st.ConnectionID, Message: fmt.Sprintf("This sign-in expired: it must be completed within %s of starting it. Start the sign-in again from Sluice.", AuthorizeTTL)}
	case err != nil:
		s.log.ErrorContext(ctx, "claim oauth2 sign-in", "err", err)
		return AuthorizationResult{Message: "Sluice could not read this sign-in (an internal error, logged). Try again in a moment."}
	}
	res := AuthorizationResult{Via: st.Via, ConnectionID: st.ConnectionID}
	fail := func(msg string) AuthorizationResult {
		if err := s.store.FinishOAuthState(context.WithoutCancel(ctx), st.ID, store.OAuthFailed, msg); err != nil {
			s.log.ErrorContext(ctx, "finish oauth2 sign-in", "sign_in_id", st.ID, "err", err)
		}
		res.Message = msg
		return res
	}
	if sessionUser != 0 && sessionUser != st.UserID || st.Via == ViaPortal && sessionUser != st.UserID {
		return fail("This sign-in was started by another Sluice user, or in another browser session, so it was not used. Sign in to Sluice as the person who started it and start again from the connection's page.")
	}
	c, err := s.store.GetConnection(ctx, st.ConnectionID)
	if err != nil {
		return fail("The connection of this sign-in no longer exists.")
	}
	res.ConnectionName = c.Name
	if e := q.Get("error"); e != "" {
		why := e
		if d := q.Get("error_description"); d != "" {
			why = d + " (" + e + ")"
		}
		return fail(fmt.Sprintf("The provider did not sign you in: %s. Nothing was changed; start the sign-in again when the cause is fixed.", truncateText(why, maxReasonLength)))
	}
	code := q.Get("code")
	if code == "" {
		return fail("The provider sent you back without an authorization code. Start the sign-in again.")
	}
	if s.secrets == nil {
		return fail("The server has no secret key, so it cannot store the connection's tokens.")
	}
	spec, err := connection.Open(s.secrets, c.Type, c.Config, c.Secret)
	if err != nil || !spec.IsAuthorizationCode() {
		return fail("The connection changed since the sign-in started (it no longer uses the authorization-code flow, or its secret no longer opens). Start again.")
	}
	plain, err := s.secrets.Open(st.Verifier)
	if err != nil {
		return fail("The sign-in's verifier no longer opens (the server's key changed). Start the sign-in again.")
	}
	var red secret.Redactor
	ctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	auth := &connection.Authorizer{Client: s.httpClient}
	tokens, err := auth.Exchange(ctx, spec, s.redirectURL(), code, string(plain), &red)
	if err != nil {
		return fail(fmt.Sprintf("The provider refused to give Sluice a token: %s. Check the connection's client id, client secret and token URL, then start again.", red.String(err.Error())))
	}
	if err := connection.SaveTokens(ctx, s.store, s.secrets, c.ID, tokens); err != nil {
		s.log.ErrorContext(ctx, "save oauth2 tokens", "connection_id", c.ID, "err", red.String(err.Error()))
		return fail("Sluice could not save the connection's tokens (an internal error, logged). Start the sign-in again.")
	}
	if _, err := s.store.SetConnectionHealth(ctx, c.ID, store.HealthOK, "", time.Now()); err != nil {
		s.log.ErrorContext(ctx, "record connection health", "connection_id", c.ID, "err", err)
	}
	if err := s.store.FinishOAuthState(context.WithoutCancel(ctx), st.ID, store.OAuthDone, ""); err != nil {
		s.log.ErrorContext(ctx, "finish oauth2 sign-in", "sign_in_id", st.ID, "err", err)
	}
	s.log.InfoContext(ctx, "connection signed in", "connection_id", c.ID, "user_id", st.UserID, "via", st.Via)
	res.OK = true
	res.Message = fmt.Sprintf("Signed in: connection %q has a new token, and Sluice renews it by itself from now on.", c.Name)
	return res
}

// Authorize starts a sign-in of u to connection c from the portal and
// returns the provider address to send the browser to. A *Error says why
// c cannot be signed in to.
func (f *ConnectionFixer) Authorize(ctx context.Context, u store.User, c store.Connection) (string, error) {
	v, err := f.s.startAuthorization(ctx, u, c, ViaPortal)
	return v.URL, err
}

// CompleteAuthorization handles the provider's redirect back to
// CallbackPath (see completeAuthorization); sessionUser is the browser's
// portal user, 0 without a session.
func (f *ConnectionFixer) CompleteAuthorization(ctx context.Context, q url.Values, sessionUser int64) AuthorizationResult {
	return f.s.completeAuthorization(ctx, q, sessionUser)
}

// SignsIn reports whether c is an OAuth2 connection that a person signs
// in to, and the origin of its provider's sign-in page (for the portal's
// Content-Security-Policy form-action).
func (f *ConnectionFixer) SignsIn(c store.Connection) (bool, string) {
	var cfg connection.Config
	if c.Type != connection.TypeOAuth2 || json.Unmarshal(c.Config, &cfg) != nil || cfg.Grant != connection.GrantAuthorizationCode {
		return false, ""
	}
	u, err := url.Parse(cfg.AuthURL)
	if err != nil || u.Host == "" {
		return true, ""
	}
	return true, u.Scheme + "://" + u.Host
}
