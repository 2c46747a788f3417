package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice/sluice/internal/connection"
	"github.com/sluice/sluice/internal/diagnose"
	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/flow"
	"github.com/sluice/sluice/internal/mail"
	"github.com/sluice/sluice/internal/secret"
	"github.com/sluice/sluice/internal/store"
)

// verifyTimeout bounds a connection's test request, from the token fetch
// or the SMTP dial to the answer.
const verifyTimeout = 30 * time.Second

// maxReasonLength caps the reason taken from a test request's answer.
const maxReasonLength = 200

// errNoSecretBox is what connection routes fail with when the server was
// built without Config.Secrets: a wiring mistake, answered as a 500.
var errNoSecretBox = errors.New("api: Config.Secrets is nil: connections cannot be sealed or opened")

// connectionView is a connection as the API shows it: never its secret,
// sealed or not, only the names of the secret fields that are set.
type connectionView struct {
	ID           int64           `json:"id"`
	Name         string          `json:"name"`
	Type         string          `json:"type"`
	Config       json.RawMessage `json:"config"`
	SecretFields []string        `json:"secret_fields"`
	Health       string          `json:"health"`
	HealthError  string          `json:"health_error"`
	HealthAt     *time.Time      `json:"health_at"`
	BrokenAt     *time.Time      `json:"broken_at"`
	OwnerID      int64           `json:"owner_id"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
}

// connectionDetailView is a connection with the flows that use it.
type connectionDetailView struct {
	connectionView
	Flows []flowRefView `json:"flows"`
}

// flowRefView names a flow.
type flowRefView struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// verifyView is the answer of POST /connections/{conn}/verify.
type verifyView struct {
	Health      string    `json:"health"`
	HealthError string    `json:"health_error"`
	HealthAt    time.Time `json:"health_at"`
	// Status is the test request's HTTP status, when one was answered.
	Status *int `json:"status,omitempty"`
	// Diagnosis explains a failed test request and how to fix it.
	Diagnosis *diagnose.Diagnosis `json:"diagnosis,omitempty"`
}

// viewConnection shows c. Its secret is opened only to list which fields
// are set; a secret that no longer opens (the server's key changed) lists
// none, and verify says what is wrong.
func (s *server) viewConnection(ctx context.Context, c store.Connection) connectionView {
	v := connectionView{
		ID: c.ID, Name: c.Name, Type: c.Type, Config: json.RawMessage("{}"), SecretFields: []string{},
		Health: c.Health, HealthError: c.HealthError, HealthAt: c.HealthAt, BrokenAt: c.BrokenAt,
		OwnerID: c.OwnerID, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
	if len(c.Config) > 0 && json.Valid(c.Config) && !bytes.Equal(bytes.TrimSpace(c.Config), []byte("null")) {
		v.Config = c.Config
	}
	if s.secrets == nil {
		return v
	}
	spec, err := connection.Open(s.secrets, c.Type, c.Config, c.Secret)
	if err != nil {
		s.log.WarnContext(ctx, "connection secret does not open", "connection_id", c.ID, "err", err)
		return v
	}
	v.SecretFields = secretFields(spec.Secret)
	return v
}

// secretFields names the secret fields that are set, in a fixed order.
func secretFields(sec connection.Secret) []string {
	out := []string{}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"token", sec.Token != ""},
		{"password", sec.Password != ""},
		{"key", sec.Key != ""},
		{"client_secret", sec.ClientSecret != ""},
		{"refresh_token", sec.OAuth != nil && sec.OAuth.RefreshToken != ""},
	} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// fieldsByType are the config and secret fields each connection type
// uses; any other field set on a connection is refused, so that a
// mistyped command (a --username on a bearer connection) is not silently
// ignored.
var fieldsByType = map[string][]string{
	connection.TypeBearer: {"token", "test_url"},
	connection.TypeBasic:  {"username", "password", "test_url"},
	connection.TypeAPIKey: {"key", "key_name", "key_in", "test_url"},
	connection.TypeOAuth2: {"grant", "auth_url", "token_url", "client_id", "client_secret", "scopes", "test_url"},
	connection.TypeSMTP:   {"host", "port", "from", "tls", "username", "password"},
}

// setFields names the config and secret fields of spec that are set.
func setFields(spec connection.Spec) []string {
	c, sec := spec.Config, spec.Secret
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"username", c.Username != ""}, {"key_name", c.KeyName != ""}, {"key_in", c.KeyIn != ""},
		{"grant", c.Grant != ""}, {"auth_url", c.AuthURL != ""},
		{"token_url", c.TokenURL != ""}, {"client_id", c.ClientID != ""}, {"scopes", len(c.Scopes) > 0},
		{"host", c.Host != ""}, {"port", c.Port != 0}, {"from", c.From != ""}, {"tls", c.TLS != ""},
		{"test_url", c.TestURL != ""},
		{"token", sec.Token != ""}, {"password", sec.Password != ""}, {"key", sec.Key != ""},
		{"client_secret", sec.ClientSecret != ""},
	} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// prune clears the fields of spec that its type does not use.
func prune(spec connection.Spec) connection.Spec {
	keep := fieldsByType[spec.Type]
	has := func(f string) bool { return slices.Contains(keep, f) }
	c, sec := &spec.Config, &spec.Secret
	for _, f := range []struct {
		name  string
		clear func()
	}{
		{"username", func() { c.Username = "" }}, {"key_name", func() { c.KeyName = "" }},
		{"key_in", func() { c.KeyIn = "" }}, {"token_url", func() { c.TokenURL = "" }},
		{"grant", func() { c.Grant = "" }}, {"auth_url", func() { c.AuthURL = "" }},
		{"client_id", func() { c.ClientID = "" }}, {"scopes", func() { c.Scopes = nil }},
		{"host", func() { c.Host = "" }}, {"port", func() { c.Port = 0 }},
		{"from", func() { c.From = "" }}, {"tls", func() { c.TLS = "" }},
		{"test_url", func() { c.TestURL = "" }}, {"token", func() { sec.Token = "" }},
		{"password", func() { sec.Password = "" }}, {"key", func() { sec.Key = "" }},
		{"client_secret", func() { sec.ClientSecret = "" }},
	} {
		if !has(f.name) {
			f.clear()
		}
	}
	return spec
}

// checkSpec answers a 400 when spec is incomplete or wrong: the error of
// Spec.Validate names the missing field, a field the type does not use is
// named too, and an smtp connection must also make a valid mail
// configuration.
func checkSpec(spec connection.Spec) error {
	if err := spec.Validate(); err != nil {
		return badRequest("%s", err.Error())
	}
	var extra []string
	for _, f := range setFields(spec) {
		if !slices.Contains(fieldsByType[spec.Type], f) {
			extra = append(extra, f)
		}
	}
	if len(extra) > 0 {
		return badRequest("a %s connection does not use %s; it uses %s", spec.Type, strings.Join(extra, ", "), strings.Join(fieldsByType[spec.Type], ", "))
	}
	if spec.Type == connection.TypeSMTP {
		if err := spec.SMTP().Validate(); err != nil {
			return badRequest("%s", err.Error())
		}
	}
	return nil
}

// checkConnectionName answers a 400 for a name that cannot be used: empty,
// too long, or a number, which would read as a connection id.
func checkConnectionName(name string) error {
	switch {
	case name == "":
		return badRequest("a connection needs name")
	case len(name) > maxNameLength:
		return badRequest("name is longer than %d bytes", maxNameLength)
	case strings.ContainsAny(name, "/\r\n\t"):
		return badRequest("name %q must not contain a slash, a tab or a line break", name)
	}
	if numericRE.MatchString(name) {
		return badRequest("name %q must not be a number: numbers name connections by id", name)
	}
	return nil
}

// numericRE matches a name that reads as a number, in or out of the
// int64 range. openapi.json states the same rule in the pattern of
// NewConnection.name.
var numericRE = regexp.MustCompile(`^[+-]?[0-9]+$`)

// lookupConnection resolves a {conn} path value: a number is a connection
// id, anything else the caller's connection with that name. A connection
// the caller may not see is not found, so that its existence does not
// leak.
func (s *server) lookupConnection(ctx context.Context, u store.User, ref string) (store.Connection, error) {
	return lookupOwned(ctx, u, ref, "connection", s.store.GetConnection, s.store.GetConnectionByName, func(c store.Connection) int64 { return c.OwnerID })
}

// listConnections answers the caller's connections, or every connection
// for an admin.
func (s *server) listConnections(w http.ResponseWriter, r *http.Request) error {
	u := caller(r)
	var owner int64
	if !isAdmin(u) {
		owner = u.ID
	}
	conns, err := s.store.ListConnections(r.Context(), owner)
	if err != nil {
		return fmt.Errorf("list connections: %w", err)
	}
	out := make([]connectionView, 0, len(conns))
	for _, c := range conns {
		out = append(out, s.viewConnection(r.Context(), c))
	}
	writeJSON(w, http.StatusOK, map[string]any{"connections": out})
	return nil
}

// createConnectionRequest is POST /connections' body.
type createConnectionRequest struct {
	Name   string            `json:"name"`
	Type   string            `json:"type"`
	Config connection.Config `json:"config"`
	Secret connection.Secret `json:"secret"`
}

// createConnection stores a new connection of the caller, its secret
// sealed. It starts unverified.
func (s *server) createConnection(w http.ResponseWriter, r *http.Request) error {
	if s.secrets == nil {
		return errNoSecretBox
	}
	var req createConnectionRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if req.Secret.OAuth != nil {
		return errOAuthGiven
	}
	c, err := s.create(r.Context(), caller(r), req.Name, connection.Spec{Type: req.Type, Config: req.Config, Secret: req.Secret})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.viewConnection(r.Context(), c))
	return nil
}

// create stores u's new connection named name, its secret sealed, after
// the checks of POST /connections. It starts unverified.
func (s *server) create(ctx context.Context, u store.User, name string, spec connection.Spec) (store.Connection, error) {
	if s.secrets == nil {
		return store.Connection{}, errNoSecretBox
	}
	name = strings.TrimSpace(name)
	if err := checkConnectionName(name); err != nil {
		return store.Connection{}, err
	}
	if err := checkSpec(spec); err != nil {
		return store.Connection{}, err
	}
	rec, err := s.sealConnection(spec)
	if err != nil {
		return store.Connection{}, err
	}
	rec.OwnerID, rec.Name = u.ID, name
	c, err := s.store.CreateConnection(ctx, rec)
	if errors.Is(err, store.ErrConflict) {
		return store.Connection{}, &Error{Status: http.StatusConflict, Code: CodeConflict,
			Message: fmt.Sprintf("you already have a connection named %q: change it with PUT /connections/%s (sluice connections update)", name, url.PathEscape(name))}
	}
	if err != nil {
		return store.Connection{}, fmt.Errorf("create connection: %w", err)
	}
	return c, nil
}

// Create stores u's new connection as POST /connections does (the
// portal's sample import uses it). A *Error says what is wrong, with
// CodeConflict when u has a connection of that name.
func (f *ConnectionFixer) Create(ctx context.Context, u store.User, name string, spec connection.Spec) (store.Connection, error) {
	return f.s.create(ctx, u, name, spec)
}

// sealConnection returns the stored form of spec: its config as JSON and
// its secret sealed.
func (s *server) sealConnection(spec connection.Spec) (store.Connection, error) {
	cfg, err := json.Marshal(spec.Config)
	if err != nil {
		return store.Connection{}, fmt.Errorf("encode connection config: %w", err)
	}
	sealed, err := connection.Seal(s.secrets, spec.Secret)
	if err != nil {
		return store.Connection{}, fmt.Errorf("seal connection secret: %w", err)
	}
	return store.Connection{Type: spec.Type, Config: cfg, Secret: sealed}, nil
}

// showConnection answers a connection with the flows that use it.
func (s *server) showConnection(w http.ResponseWriter, r *http.Request) error {
	c, err := s.lookupConnection(r.Context(), caller(r), r.PathValue("conn"))
	if err != nil {
		return err
	}
	flows, err := s.flowsUsing(r.Context(), c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, connectionDetailView{connectionView: s.viewConnection(r.Context(), c), Flows: flows})
	return nil
}

// flowsUsing lists the connection owner's flows whose latest version has
// an action with `connection: <name>`; connections are looked up by name
// among the flow owner's, so no other user's flow can use it.
func (s *server) flowsUsing(ctx context.Context, c store.Connection) ([]flowRefView, error) {
	flows, err := s.store.ListFlows(ctx, store.FlowFilter{OwnerID: c.OwnerID})
	if err != nil {
		return nil, fmt.Errorf("flows using connection %d: %w", c.ID, err)
	}
	out := []flowRefView{}
	for _, f := range flows {
		v, err := s.store.GetFlowVersion(ctx, f.ID, f.Version)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted since it was listed
		}
		if err != nil {
			return nil, fmt.Errorf("flows using connection %d: flow %d version %d: %w", c.ID, f.ID, f.Version, err)
		}
		def, err := flow.FromCanonical(v.Definition)
		if err != nil {
			s.log.WarnContext(ctx, "stored flow definition does not decode", "flow_id", f.ID, "version", f.Version, "err", err)
			continue
		}
		uses := false
		def.Walk(func(a *flow.Action) {
			uses = uses || a.Connection == c.Name
		})
		if uses {
			out = append(out, flowRefView{ID: f.ID, Name: f.Name})
		}
	}
	return out, nil
}

// updateConnectionRequest is PUT /connections/{conn}'s body. Config and
// Secret are merged field by field into what is stored: a field left out
// keeps its value, a field set to "" or null is cleared.
type updateConnectionRequest struct {
	Type   *string         `json:"type"`
	Config json.RawMessage `json:"config"`
	Secret json.RawMessage `json:"secret"`
}

// updateConnection changes a connection's type, config or secret and
// marks it unverified. Only what the request names changes, so a token
// rotation is {"secret": {"token": "..."}}. When the type changes, fields
// the new type does not use are dropped.
func (s *server) updateConnection(w http.ResponseWriter, r *http.Request) error {
	if s.secrets == nil {
		return errNoSecretBox
	}
	var req updateConnectionRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	c, err := s.lookupConnection(r.Context(), caller(r), r.PathValue("conn"))
	if err != nil {
		return err
	}
	if c, err = s.update(r.Context(), c, req); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.viewConnection(r.Context(), c))
	return nil
}

// update merges req into c and stores it, unverified (see
// updateConnection); a *Error says what in req is wrong.
func (s *server) update(ctx context.Context, c store.Connection, req updateConnectionRequest) (store.Connection, error) {
	old, err := connection.Open(s.secrets, c.Type, c.Config, c.Secret)
	if err != nil {
		// The secret no longer opens (the key changed): the update must
		// give every secret field again, which checkSpec asks for.
		s.log.WarnContext(ctx, "connection secret does not open; replacing it", "connection_id", c.ID, "err", err)
		old = connection.Spec{Type: c.Type}
		_ = json.Unmarshal(c.Config, &old.Config)
	}
	spec := connection.Spec{Type: old.Type}
	if req.Type != nil {
		spec.Type = *req.Type
	}
	if err := mergeFields(old.Config, req.Config, &spec.Config, "config"); err != nil {
		return store.Connection{}, err
	}
	var given map[string]json.RawMessage
	if json.Unmarshal(req.Secret, &given) == nil && given["oauth"] != nil {
		return store.Connection{}, errOAuthGiven
	}
	if err := mergeFields(old.Secret, req.Secret, &spec.Secret, "secret"); err != nil {
		return store.Connection{}, err
	}
	// The tokens of a sign-in stay while the connection signs in to the
	// same client at the same provider (a new client secret, other
	// scopes); otherwise they go, and a person signs in again.
	if !spec.IsAuthorizationCode() || spec.Config.TokenURL != old.Config.TokenURL || spec.Config.ClientID != old.Config.ClientID {
		spec.Secret.OAuth = nil
	}
	// Fields only the old type used go; fields the request gave are kept
	// so that checkSpec refuses them by name.
	if spec.Type != old.Type {
		requested := connection.Spec{Type: spec.Type}
		_ = json.Unmarshal(req.Config, &requested.Config)
		_ = json.Unmarshal(req.Secret, &requested.Secret)
		pruned := prune(spec)
		spec = mergeSpecs(pruned, requested)
	}
	if err := checkSpec(spec); err != nil {
		return store.Connection{}, err
	}
	rec, err := s.sealConnection(spec)
	if err != nil {
		return store.Connection{}, err
	}
	rec.ID, rec.OwnerID, rec.Name = c.ID, c.OwnerID, c.Name
	c, err = s.store.UpdateConnection(ctx, rec)
	if err != nil {
		return store.Connection{}, fmt.Errorf("update connection %d: %w", rec.ID, err)
	}
	return c, nil
}

// errOAuthGiven refuses tokens given as a secret: only a sign-in sets
// them.
var errOAuthGiven = badRequest("secret.oauth cannot be given: an oauth2 connection with grant authorization_code gets its tokens when someone signs in ('sluice connections authorize NAME' or Sign in on its page)")

// ConnectionFixer is what the portal's connection page does with the
// API's own logic: the secret fields a connection's type has, a new
// secret merged, checked and sealed as PUT /connections/{conn} does it,
// and the flows that use the connection.
type ConnectionFixer struct{ s *server }

// NewConnectionFixer returns the fixer on c (its Store, Secrets and
// Logger).
func NewConnectionFixer(c Config) *ConnectionFixer { return Build(c).ConnectionFixer() }

// ConnectionFixer returns the portal's connection logic (see
// NewConnectionFixer).
func (a *Server) ConnectionFixer() *ConnectionFixer { return &ConnectionFixer{s: a.s} }

// SecretFields names the secret fields of c's type (token, password,
// key, client_secret), in that order, for a form that asks for them.
func (f *ConnectionFixer) SecretFields(c store.Connection) []string {
	var out []string
	for _, name := range []string{"token", "password", "key", "client_secret"} {
		if slices.Contains(fieldsByType[c.Type], name) {
			out = append(out, name)
		}
	}
	return out
}

// Fix replaces the secret fields given (a field left out keeps its
// value) and marks the connection unverified, as PUT
// /connections/{conn} with {"secret": {...}} does. A *Error says what is
// wrong with the fields.
func (f *ConnectionFixer) Fix(ctx context.Context, c store.Connection, secret map[string]string) (store.Connection, error) {
	if f.s.secrets == nil {
		return store.Connection{}, errNoSecretBox
	}
	b, err := json.Marshal(secret)
	if err != nil {
		return store.Connection{}, fmt.Errorf("encode secret: %w", err)
	}
	return f.s.update(ctx, c, updateConnectionRequest{Secret: b})
}

// FlowsUsing returns the ids and names of the flows whose latest version
// uses the connection (see GET /connections/{conn}).
func (f *ConnectionFixer) FlowsUsing(ctx context.Context, c store.Connection) ([]store.Flow, error) {
	refs, err := f.s.flowsUsing(ctx, c)
	if err != nil {
		return nil, err
	}
	out := make([]store.Flow, len(refs))
	for i, r := range refs {
		out[i] = store.Flow{ID: r.ID, Name: r.Name, OwnerID: c.OwnerID}
	}
	return out, nil
}

// mergeSpecs returns base with every field set in over set to that value.
func mergeSpecs(base, over connection.Spec) connection.Spec {
	b, o := &base.Config, over.Config
	for _, f := range []struct {
		set   bool
		apply func()
	}{
		{o.Username != "", func() { b.Username = o.Username }}, {o.KeyName != "", func() { b.KeyName = o.KeyName }},
		{o.KeyIn != "", func() { b.KeyIn = o.KeyIn }}, {o.TokenURL != "", func() { b.TokenURL = o.TokenURL }},
		{o.Grant != "", func() { b.Grant = o.Grant }}, {o.AuthURL != "", func() { b.AuthURL = o.AuthURL }},
		{o.ClientID != "", func() { b.ClientID = o.ClientID }}, {len(o.Scopes) > 0, func() { b.Scopes = o.Scopes }},
		{o.Host != "", func() { b.Host = o.Host }}, {o.Port != 0, func() { b.Port = o.Port }},
		{o.From != "", func() { b.From = o.From }}, {o.TLS != "", func() { b.TLS = o.TLS }},
		{o.TestURL != "", func() { b.TestURL = o.TestURL }},
		{over.Secret.Token != "", func() { base.Secret.Token = over.Secret.Token }},
		{over.Secret.Password != "", func() { base.Secret.Password = over.Secret.Password }},
		{over.Secret.Key != "", func() { base.Secret.Key = over.Secret.Key }},
		{over.Secret.ClientSecret != "", func() { base.Secret.ClientSecret = over.Secret.ClientSecret }},
	} {
		if f.set {
			f.apply()
		}
	}
	return base
}

// mergeFields decodes into dst the fields of base overlaid with those of
// patch, a JSON object (or absent). Unknown or mistyped fields in patch
// answer a 400 that names them under field, such as config.prot.
func mergeFields(base any, patch json.RawMessage, dst any, field string) error {
	merged := map[string]json.RawMessage{}
	b, err := json.Marshal(base)
	if err != nil {
		return fmt.Errorf("encode connection %s: %w", field, err)
	}
	if err := json.Unmarshal(b, &merged); err != nil {
		return fmt.Errorf("decode connection %s: %w", field, err)
	}
	if p := bytes.TrimSpace(patch); len(p) > 0 && !bytes.Equal(p, []byte("null")) {
		var over map[string]json.RawMessage
		if err := json.Unmarshal(p, &over); err != nil {
			return badRequest("%s must be an object of fields to change", field)
		}
		for k, v := range over {
			merged[k] = v
		}
	}
	b, err = json.Marshal(merged)
	if err != nil {
		return fmt.Errorf("encode connection %s: %w", field, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return badRequest("field %q of %s must be %s, not %s", typ.Field, field, jsonKind(typ.Type.Kind().String()), typ.Value)
		}
		return badRequest("%s: %s", field, strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// deleteConnection removes a connection. Flows that name it fail with a
// config error until it is added again.
func (s *server) deleteConnection(w http.ResponseWriter, r *http.Request) error {
	c, err := s.lookupConnection(r.Context(), caller(r), r.PathValue("conn"))
	if err != nil {
		return err
	}
	if err := s.store.DeleteConnection(r.Context(), c.ID); err != nil {
		return fmt.Errorf("delete connection %d: %w", c.ID, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// verifyConnection makes the connection's test request and records what it
// found as the connection's health: for http types a GET of config.test_url
// with the connection applied, through the outbound client (2xx is ok,
// anything else needs attention); for oauth2 without a test_url, fetching a
// token; for smtp, connecting and logging in.
func (s *server) verifyConnection(w http.ResponseWriter, r *http.Request) error {
	if s.secrets == nil {
		return errNoSecretBox
	}
	c, err := s.lookupConnection(r.Context(), caller(r), r.PathValue("conn"))
	if err != nil {
		return err
	}
	out, err := s.verify(r.Context(), c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// errNoTestURL is a verify of an http connection without a test URL.
var errNoTestURL = badRequest("set config.test_url to verify: a URL that answers 2xx with these credentials, such as the API's \"current user\" endpoint")

// verify makes c's test request and records its health (see
// verifyConnection); errNoTestURL when there is nothing to test with.
func (s *server) verify(ctx context.Context, c store.Connection) (verifyView, error) {
	spec, err := connection.Open(s.secrets, c.Type, c.Config, c.Secret)
	spec.ID = c.ID // an OAuth2 refresh the test makes is saved under it
	// redact learns the stored secrets now and what the test request
	// produces (a fetched OAuth2 token) while it runs.
	var redact secret.Redactor
	redact.Add(spec.Values()...)
	var res verifyResult
	switch {
	case err != nil:
		s.log.WarnContext(ctx, "connection secret does not open", "connection_id", c.ID, "err", err)
		res = verifyResult{reason: "the secret cannot be opened with the server's key (was the key changed?): give it again with sluice connections update " + c.Name}
	case spec.Type != connection.TypeSMTP && spec.Type != connection.TypeOAuth2 && spec.Config.TestURL == "":
		return verifyView{}, errNoTestURL
	default:
		tctx, cancel := context.WithTimeout(ctx, verifyTimeout)
		res = s.testConnection(tctx, spec, &redact)
		cancel()
	}
	out := verifyView{Health: store.HealthOK, HealthAt: time.Now().UTC(), Status: res.status}
	if !res.ok {
		out.Health = store.HealthNeedsAttention
		out.HealthError = truncateText(redact.String(res.reason), 500)
		d := s.catalog.Diagnose(diagnose.Input{
			Kind: res.kind, Status: res.code(), Headers: res.headers, Body: res.body,
			Message: out.HealthError, URL: shownURL(spec.Config.TestURL), Connection: c.Name,
		})
		out.Diagnosis = &d
	}
	if _, err := s.store.SetConnectionHealth(context.WithoutCancel(ctx), c.ID, out.Health, out.HealthError, out.HealthAt); err != nil {
		return verifyView{}, fmt.Errorf("record health of connection %d: %w", c.ID, err)
	}
	return out, nil
}

// NewVerifier returns what the portal's Verify button does: the API's
// verify of a connection (its test request, the health recorded). It
// returns a reason the check cannot be made (no test URL), or "" once the
// health is recorded.
func NewVerifier(c Config) func(ctx context.Context, conn store.Connection) (string, error) {
	return Build(c).Verifier()
}

// Verifier returns the portal's Verify (see NewVerifier).
func (a *Server) Verifier() func(ctx context.Context, conn store.Connection) (string, error) {
	s := a.s
	return func(ctx context.Context, conn store.Connection) (string, error) {
		if s.secrets == nil {
			return "", errNoSecretBox
		}
		_, err := s.verify(ctx, conn)
		if errors.Is(err, errNoTestURL) {
			return "This connection has no test URL, so Sluice cannot check it: set config.test_url, a URL that answers 2xx with these credentials, with sluice connections update " + conn.Name + ".", nil
		}
		return "", err
	}
}

// verifyResult is what a connection's test request found.
type verifyResult struct {
	ok     bool
	reason string
	status *int
	// kind, headers and body (decoded, redacted) feed the diagnosis of a
	// failure.
	kind    string
	headers map[string]string
	body    any
}

// code is the answered status, or 0.
func (v verifyResult) code() int {
	if v.status == nil {
		return 0
	}
	return *v.status
}

// testConnection makes spec's test request, registering with redact the
// secrets that applying the connection produces.
func (s *server) testConnection(ctx context.Context, spec connection.Spec, redact *secret.Redactor) verifyResult {
	if spec.Type == connection.TypeSMTP {
		err := mail.NewSMTPSender(spec.SMTP(), mail.WithDial(s.smtpDial)).Verify(ctx)
		if err != nil {
			return verifyResult{reason: err.Error()}
		}
		return verifyResult{ok: true}
	}
	authz := &connection.Authorizer{Client: s.httpClient, Save: func(ctx context.Context, id int64, t connection.Tokens) error {
		// A refresh rotates the refresh token: the new one must be kept.
		return connection.SaveTokens(ctx, s.store, s.secrets, id, t)
	}}
	if spec.Config.TestURL == "" {
		// oauth2 without a test URL: getting a token is the test. A fresh
		// Authorizer has no cached token, so one is fetched now.
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://verify.invalid/", nil)
		if err != nil {
			return verifyResult{reason: err.Error()}
		}
		if err := authz.Apply(ctx, spec, req, redact); err != nil {
			return verifyResult{reason: err.Error()}
		}
		return verifyResult{ok: true}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, spec.Config.TestURL, nil)
	if err != nil {
		return verifyResult{reason: fmt.Sprintf("test_url %s: %v", shownURL(spec.Config.TestURL), err)}
	}
	req.Header.Set("Accept", "application/json, */*;q=0.5")
	req.Header.Set("User-Agent", "sluice-verify")
	if err := authz.Apply(ctx, spec, req, redact); err != nil {
		return verifyResult{reason: err.Error()}
	}
	resp, err := s.httpClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, whose query may hold an API key
		}
		return verifyResult{kind: diagnose.KindNetwork, reason: fmt.Sprintf("test request to %s failed: %v", shownURL(spec.Config.TestURL), err)}
	}
	defer resp.Body.Close()
	// Redacted before shortReason cuts a message, which could leave a
	// start of a secret the redactor would no longer see as one.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	body = redact.Bytes(body)
	status := resp.StatusCode
	headers := make(map[string]string, len(resp.Header))
	for k, vs := range resp.Header {
		for i := range vs {
			vs[i] = redact.String(vs[i])
		}
		headers[k] = strings.Join(vs, ", ")
	}
	// Decoded and judged as a run's http step is (engine.DecodeBody, the
	// same catalog), so that the two agree on what failed and why.
	decoded := engine.DecodeBody(resp.Header.Get("Content-Type"), body)
	if !s.catalog.IsFailure(status, headers, decoded) {
		return verifyResult{ok: true, status: &status}
	}
	why := fmt.Sprintf("test request to %s answered %d %s", shownURL(spec.Config.TestURL), status, http.StatusText(status))
	if reason := shortReason(resp.Header, body); reason != "" {
		why += ": " + reason
	}
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		why += " (check the connection's credentials and their permissions)"
	}
	return verifyResult{reason: why, status: &status, kind: diagnose.KindHTTP, headers: headers, body: decoded}
}

// shownURL is u without its query and fragment, which may carry an API
// key, for messages.
func shownURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "the test URL"
	}
	p.RawQuery, p.Fragment, p.User = "", "", nil
	return p.String()
}

// shortReason finds why an API refused a request: the error description
// of a WWW-Authenticate challenge, a message field of a JSON body, or the
// first line of a short text body.
func shortReason(h http.Header, body []byte) string {
	if ch := h.Get("WWW-Authenticate"); ch != "" {
		for _, key := range []string{"error_description=", "error="} {
			if _, rest, ok := strings.Cut(ch, key); ok {
				if v := strings.Trim(strings.SplitN(strings.TrimPrefix(rest, `"`), `"`, 2)[0], " ,"); v != "" {
					return truncateText(v, maxReasonLength)
				}
			}
		}
	}
	var doc any
	if json.Unmarshal(body, &doc) == nil {
		if msg := jsonMessage(doc, 0); msg != "" {
			return truncateText(msg, maxReasonLength)
		}
		return ""
	}
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if mt == "text/plain" {
		line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
		return truncateText(line, maxReasonLength)
	}
	return ""
}

// jsonMessage looks for the message of a JSON error body, in the fields
// common APIs use: message, error_description, error (a string or an
// object), detail, title, and the first item of errors.
func jsonMessage(v any, depth int) string {
	if depth > 3 {
		return ""
	}
	switch x := v.(type) {
	case map[string]any:
		for _, k := range []string{"message", "error_description", "error", "detail", "title", "errors"} {
			if m := jsonMessage(x[k], depth+1); m != "" {
				return m
			}
		}
	case []any:
		if len(x) > 0 {
			return jsonMessage(x[0], depth+1)
		}
	case string:
		return strings.TrimSpace(x)
	}
	return ""
}

// truncateText shortens s to n bytes at a rune boundary, flattening line
// breaks.
func truncateText(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
