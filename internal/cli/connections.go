package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sluice/sluice/internal/auth"
	connpkg "github.com/sluice/sluice/internal/connection"
	"github.com/sluice/sluice/internal/diagnose"
	"github.com/sluice/sluice/internal/mail"
)

// maxSecretInput caps what a *-stdin flag reads.
const maxSecretInput = 64 << 10

func (a *app) connectionsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "connections",
		Short: "Add, list, show, update, verify, authorize and delete connections (stored credentials)",
		Long: `Connections hold the credentials that http and email actions use, named in
a flow with "connection: NAME". Their secrets are encrypted on the server and
never shown again; 'connections show' lists which secret fields are set.

Give secrets with the *-stdin flags where you can (--token-stdin,
--password-stdin, --key-stdin, --client-secret-stdin): a secret on the command
line lands in the shell history and the process list. On 'connections add'
and 'connections update', --token is the connection's token; the API token
then comes from SLUICE_TOKEN or 'sluice login'.`,
		Args: noArgs,
		RunE: groupRunE,
	}
	cmd.AddCommand(
		a.connectionsAddCommand(),
		a.connectionsListCommand(),
		a.connectionsShowCommand(),
		a.connectionsUpdateCommand(),
		a.connectionsVerifyCommand(),
		a.connectionsAuthorizeCommand(),
		a.connectionsDeleteCommand(),
	)
	return cmd
}

// connRef checks a NAME|ID argument.
func connRef(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("the connection name or id must not be empty")
	}
	return nil
}

// pathConnection is the API path of a connection given by id or name.
func pathConnection(ref string) string {
	return "/connections/" + url.PathEscape(ref)
}

// connFields are the flags that describe a connection, shared by add and
// update. Which were given is kept in changed, so that update sends only
// those.
type connFields struct {
	Type              string
	Token             string
	TokenStdin        bool
	Username          string
	Password          string
	PasswordStdin     bool
	Key               string
	KeyStdin          bool
	KeyName           string
	KeyIn             string
	Grant             string
	AuthURL           string
	TokenURL          string
	ClientID          string
	ClientSecret      string
	ClientSecretStdin bool
	Scopes            []string
	Host              string
	Port              int
	From              string
	TLS               string
	TestURL           string

	// changed reports whether a flag was given; nil means none was.
	changed func(name string) bool
}

// connFlag ties a flag to the config or secret field it sets.
type connFlag struct {
	flag   string
	field  string
	secret bool
	// stdin is the flag that reads the same secret from stdin, if any.
	stdin string
}

// connFlags lists the flags that set a field, in the order of the help.
var connFlags = []connFlag{
	{flag: "token", field: "token", secret: true, stdin: "token-stdin"},
	{flag: "username", field: "username"},
	{flag: "password", field: "password", secret: true, stdin: "password-stdin"},
	{flag: "key", field: "key", secret: true, stdin: "key-stdin"},
	{flag: "key-name", field: "key_name"},
	{flag: "key-in", field: "key_in"},
	{flag: "grant", field: "grant"},
	{flag: "auth-url", field: "auth_url"},
	{flag: "token-url", field: "token_url"},
	{flag: "client-id", field: "client_id"},
	{flag: "client-secret", field: "client_secret", secret: true, stdin: "client-secret-stdin"},
	{flag: "scope", field: "scopes"},
	{flag: "host", field: "host"},
	{flag: "port", field: "port"},
	{flag: "from", field: "from"},
	{flag: "tls", field: "tls"},
	{flag: "test-url", field: "test_url"},
}

// connTypeFields are the fields each type uses; the server refuses
// others, and so does the CLI, before sending anything.
var connTypeFields = map[string][]string{
	connpkg.TypeBearer: {"token", "test_url"},
	connpkg.TypeBasic:  {"username", "password", "test_url"},
	connpkg.TypeAPIKey: {"key", "key_name", "key_in", "test_url"},
	connpkg.TypeOAuth2: {"grant", "auth_url", "token_url", "client_id", "client_secret", "scopes", "test_url"},
	connpkg.TypeSMTP:   {"host", "port", "from", "tls", "username", "password"},
}

// connTypeRequired are the flags each type needs on add, by field.
var connTypeRequired = map[string][]string{
	connpkg.TypeBearer: {"token"},
	connpkg.TypeBasic:  {"username", "password"},
	connpkg.TypeAPIKey: {"key"},
	connpkg.TypeOAuth2: {"token_url", "client_id"}, // and see validate
	connpkg.TypeSMTP:   {"host"},
}

func (f *connFields) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.Type, "type", "", "connection type: "+strings.Join(connpkg.Types, ", "))
	fs.StringVar(&f.Token, "token", "", "bearer: the token (prefer --token-stdin)")
	fs.BoolVar(&f.TokenStdin, "token-stdin", false, "bearer: read the token from stdin")
	fs.StringVar(&f.Username, "username", "", "basic, smtp: the user name")
	fs.StringVar(&f.Password, "password", "", "basic, smtp: the password (prefer --password-stdin)")
	fs.BoolVar(&f.PasswordStdin, "password-stdin", false, "basic, smtp: read the password from stdin")
	fs.StringVar(&f.Key, "key", "", "api_key: the key (prefer --key-stdin)")
	fs.BoolVar(&f.KeyStdin, "key-stdin", false, "api_key: read the key from stdin")
	fs.StringVar(&f.KeyName, "key-name", "", "api_key: header or query parameter name (default X-API-Key)")
	fs.StringVar(&f.KeyIn, "key-in", "", "api_key: where the key goes, header or query (default header)")
	fs.StringVar(&f.Grant, "grant", "", "oauth2: client_credentials (default) or authorization_code (a person signs in with 'sluice connections authorize')")
	fs.StringVar(&f.AuthURL, "auth-url", "", "oauth2 with --grant authorization_code: the provider's authorization (sign-in) endpoint")
	fs.StringVar(&f.TokenURL, "token-url", "", "oauth2: the token endpoint")
	fs.StringVar(&f.ClientID, "client-id", "", "oauth2: the client id")
	fs.StringVar(&f.ClientSecret, "client-secret", "", "oauth2: the client secret (prefer --client-secret-stdin)")
	fs.BoolVar(&f.ClientSecretStdin, "client-secret-stdin", false, "oauth2: read the client secret from stdin")
	fs.StringArrayVar(&f.Scopes, "scope", nil, "oauth2: a scope to ask for (repeat for several)")
	fs.StringVar(&f.Host, "host", "", "smtp: the server's host name")
	fs.IntVar(&f.Port, "port", 0, "smtp: the server's port (default 465 for --tls tls, 25 for none, else 587)")
	fs.StringVar(&f.From, "from", "", "smtp: the default sender address")
	fs.StringVar(&f.TLS, "tls", "", "smtp: starttls, tls, none or opportunistic")
	fs.StringVar(&f.TestURL, "test-url", "", "bearer, basic, api_key, oauth2: a URL that answers 2xx to good credentials, for verify")
}

// given reports whether the flag was given.
func (f *connFields) given(flag string) bool {
	return f.changed != nil && f.changed(flag)
}

// value returns the value a flag gives its field, with a placeholder for a
// secret read from stdin later.
func (f *connFields) value(cf connFlag) (any, bool) {
	if cf.stdin != "" && f.given(cf.stdin) && f.stdinFlag(cf.stdin) {
		return "<stdin>", true
	}
	if !f.given(cf.flag) {
		return nil, false
	}
	switch cf.field {
	case "token":
		return f.Token, true
	case "username":
		return f.Username, true
	case "password":
		return f.Password, true
	case "key":
		return f.Key, true
	case "key_name":
		return f.KeyName, true
	case "key_in":
		return f.KeyIn, true
	case "grant":
		return f.Grant, true
	case "auth_url":
		return f.AuthURL, true
	case "token_url":
		return f.TokenURL, true
	case "client_id":
		return f.ClientID, true
	case "client_secret":
		return f.ClientSecret, true
	case "scopes":
		return f.Scopes, true
	case "host":
		return f.Host, true
	case "port":
		return f.Port, true
	case "from":
		return f.From, true
	case "tls":
		return f.TLS, true
	case "test_url":
		return f.TestURL, true
	}
	return nil, false
}

// stdinFlag returns the value of a *-stdin flag.
func (f *connFields) stdinFlag(name string) bool {
	switch name {
	case "token-stdin":
		return f.TokenStdin
	case "password-stdin":
		return f.PasswordStdin
	case "key-stdin":
		return f.KeyStdin
	case "client-secret-stdin":
		return f.ClientSecretStdin
	}
	return false
}

// validate checks the flags that were given: a type that exists, a
// secret given once, at most one secret from stdin, and values the
// server would refuse. add also checks what the type needs.
func (f *connFields) validate(cmd string, add bool) error {
	if (add || f.given("type")) && !slices.Contains(connpkg.Types, f.Type) {
		if f.Type == "" {
			return fmt.Errorf("%s needs --type, one of %s", cmd, strings.Join(connpkg.Types, ", "))
		}
		return fmt.Errorf("--type %q is not one of %s", f.Type, strings.Join(connpkg.Types, ", "))
	}
	var stdins []string
	for _, cf := range connFlags {
		if cf.stdin == "" || !f.given(cf.stdin) || !f.stdinFlag(cf.stdin) {
			continue
		}
		if f.given(cf.flag) {
			return fmt.Errorf("give --%s or --%s, not both", cf.flag, cf.stdin)
		}
		stdins = append(stdins, "--"+cf.stdin)
	}
	if len(stdins) > 1 {
		return fmt.Errorf("only one secret can be read from stdin, got %s", strings.Join(stdins, " and "))
	}
	if f.given("token") && strings.HasPrefix(f.Token, auth.TokenPrefix) {
		// Before the subcommand or after it, --token here sets the
		// connection's token: refuse what looks like the caller's API token
		// rather than store it as a credential.
		return fmt.Errorf("--token is the connection's token here, and %q... looks like a Sluice API token: give the API token with SLUICE_TOKEN or 'sluice login'", auth.TokenPrefix)
	}
	if f.given("key-in") && f.KeyIn != "header" && f.KeyIn != "query" {
		return fmt.Errorf("--key-in %q must be header or query", f.KeyIn)
	}
	if f.given("tls") && !slices.Contains([]string{mail.TLSStartTLS, mail.TLSImplicit, mail.TLSNone, mail.TLSOpportunistic}, f.TLS) {
		return fmt.Errorf("--tls %q must be one of starttls, tls, none, opportunistic", f.TLS)
	}
	if f.given("port") && (f.Port < 1 || f.Port > 65535) {
		return fmt.Errorf("--port %d must be between 1 and 65535", f.Port)
	}
	if f.given("grant") && f.Grant != connpkg.GrantClientCredentials && f.Grant != connpkg.GrantAuthorizationCode && (f.Grant != "" || add) {
		return fmt.Errorf("--grant %q must be %s or %s", f.Grant, connpkg.GrantClientCredentials, connpkg.GrantAuthorizationCode)
	}
	for _, u := range []struct{ flag, v string }{{"auth-url", f.AuthURL}, {"token-url", f.TokenURL}, {"test-url", f.TestURL}} {
		if !f.given(u.flag) || (u.v == "" && !add) {
			continue // update clears a field given as ""
		}
		if p, err := url.Parse(u.v); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("--%s %q must be an http or https URL", u.flag, u.v)
		}
	}
	typ := f.Type
	if typ == "" {
		return nil // update without --type: the server knows the type
	}
	for _, cf := range connFlags {
		v, ok := f.value(cf)
		if ok && !isEmptyValue(v) && !slices.Contains(connTypeFields[typ], cf.field) {
			return fmt.Errorf("--%s is not used by %s connection", cf.flag, withArticle(typ))
		}
	}
	if !add {
		return nil
	}
	for _, field := range connTypeRequired[typ] {
		cf := flagOf(field)
		if v, ok := f.value(cf); !ok || isEmptyValue(v) {
			if cf.stdin != "" {
				return fmt.Errorf("%s connection needs --%s or --%s", withArticle(typ), cf.flag, cf.stdin)
			}
			return fmt.Errorf("%s connection needs --%s", withArticle(typ), cf.flag)
		}
	}
	if typ == connpkg.TypeOAuth2 {
		code := f.Grant == connpkg.GrantAuthorizationCode
		if v, ok := f.value(flagOf("client_secret")); !code && (!ok || isEmptyValue(v)) {
			return errors.New("an oauth2 connection needs --client-secret or --client-secret-stdin (or --grant authorization_code with --auth-url, where a person signs in)")
		}
		if code && f.AuthURL == "" {
			return errors.New("an oauth2 connection with --grant authorization_code needs --auth-url, the provider's sign-in endpoint")
		}
		if !code && f.AuthURL != "" {
			return errors.New("--auth-url is used only with --grant authorization_code")
		}
	}
	if typ == connpkg.TypeSMTP && f.Username != "" {
		if v, ok := f.value(flagOf("password")); !ok || isEmptyValue(v) {
			return errors.New("an smtp connection with --username needs --password or --password-stdin")
		}
	}
	return nil
}

// withArticle puts "a" or "an" before a connection type, as it is read
// out: "an smtp", "an api_key", "a bearer".
func withArticle(typ string) string {
	if strings.HasPrefix(typ, "a") || strings.HasPrefix(typ, "o") || strings.HasPrefix(typ, "s") {
		return "an " + typ
	}
	return "a " + typ
}

// flagOf returns the flag that sets field.
func flagOf(field string) connFlag {
	for _, cf := range connFlags {
		if cf.field == field {
			return cf
		}
	}
	return connFlag{flag: field, field: field}
}

func isEmptyValue(v any) bool {
	switch x := v.(type) {
	case string:
		return x == ""
	case int:
		return x == 0
	case []string:
		return len(x) == 0
	}
	return v == nil
}

// body returns the config and secret objects of the request: every field
// whose flag was given, with a *-stdin secret read from stdin.
func (f *connFields) body(stdin io.Reader) (config, secret map[string]any, err error) {
	config, secret = map[string]any{}, map[string]any{}
	for _, cf := range connFlags {
		v, ok := f.value(cf)
		if !ok {
			continue
		}
		if cf.stdin != "" && f.given(cf.stdin) && f.stdinFlag(cf.stdin) {
			if v, err = readSecret(stdin, cf.stdin); err != nil {
				return nil, nil, err
			}
		}
		if cf.secret {
			secret[cf.field] = v
		} else {
			config[cf.field] = v
		}
	}
	return config, secret, nil
}

// readSecret reads one secret from stdin, without its final line break.
func readSecret(stdin io.Reader, flag string) (string, error) {
	b, err := io.ReadAll(io.LimitReader(stdin, maxSecretInput+1))
	if err != nil {
		return "", fmt.Errorf("reading --%s: %w", flag, err)
	}
	if len(b) > maxSecretInput {
		return "", fmt.Errorf("--%s: stdin holds more than %d bytes", flag, maxSecretInput)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("--%s: stdin is empty", flag)
	}
	return s, nil
}

// connAddOptions are the options of `sluice connections add`.
type connAddOptions struct {
	// Name names the connection; flows refer to it by name.
	Name string
	connFields
	// JSON prints the created connection as JSON.
	JSON bool
}

func (o *connAddOptions) validate() error {
	o.Name = strings.TrimSpace(o.Name)
	if err := connRef(o.Name); err != nil {
		return err
	}
	return o.connFields.validate("connections add", true)
}

func (a *app) connectionsAddCommand() *cobra.Command {
	var o connAddOptions
	cmd := &cobra.Command{
		Use:   "add NAME --type bearer|basic|api_key|oauth2|smtp [flags]",
		Short: "Add a connection",
		Long: `Add a connection. Each type needs its own flags:

  bearer   --token-stdin (or --token T)                 [--test-url U]
  basic    --username U --password-stdin                [--test-url U]
  api_key  --key-stdin [--key-name N] [--key-in header|query] [--test-url U]
  oauth2   --token-url U --client-id I --client-secret-stdin [--scope S]... [--test-url U]
  smtp     --host H [--port P] [--from F] [--tls starttls|tls|none|opportunistic]
           [--username U --password-stdin]

Secrets given with a *-stdin flag are read from stdin (one per command) and
are preferred to the plain flags, which end up in the shell history.`,
		Example: `  printf '%s' "$GITHUB_TOKEN" | sluice connections add github --type bearer --token-stdin --test-url https://api.github.com/user
  sluice connections add mail --type smtp --host smtp.example.com --username ann --password-stdin < password.txt`,
		Args: argsRange(1, 1, "one connection NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			o.changed = func(name string) bool { return cmd.Flags().Changed(name) }
			return runValidated(cmd.Context(), &o, a.connectionsAdd)
		},
	}
	o.register(cmd.Flags())
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the created connection as JSON")
	return cmd
}

func (a *app) connectionsAdd(ctx context.Context, o *connAddOptions) error {
	config, secret, err := o.body(a.stdin)
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	req := map[string]any{"name": o.Name, "type": o.Type, "config": config, "secret": secret}
	if _, err := c.do(ctx, http.MethodPost, "/connections", nil, req, &raw); err != nil {
		return fmt.Errorf("adding connection %s: %w", o.Name, err)
	}
	if o.JSON {
		return printJSON(a.stdout, raw)
	}
	var v apiConnection
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("server answered with an unexpected connection: %w", err)
	}
	fmt.Fprintf(a.stdout, "created connection %s (id %s, type %s)\n", v.Name, v.ID, v.Type)
	if v.canVerify() {
		fmt.Fprintf(a.stdout, "check it with: sluice connections verify %s\n", diagnose.ShellQuote(v.Name))
	}
	return nil
}

// connListOptions are the options of `sluice connections list`.
type connListOptions struct {
	// JSON prints the connections as a JSON array.
	JSON bool
}

func (o *connListOptions) validate() error { return nil }

func (a *app) connectionsListCommand() *cobra.Command {
	var o connListOptions
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List connections with their health",
		Args:  argsRange(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runValidated(cmd.Context(), &o, a.connectionsList)
		},
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func (a *app) connectionsList(ctx context.Context, o *connListOptions) error {
	items, err := a.getList(ctx, "/connections", nil, "connections")
	if err != nil {
		return fmt.Errorf("listing connections: %w", err)
	}
	if o.JSON {
		return printJSONList(a.stdout, items)
	}
	conns, err := decodeList[apiConnection](items)
	if err != nil {
		return err
	}
	t := newTable(a.stdout, "ID", "NAME", "TYPE", "HEALTH", "CHECKED", "ERROR")
	for _, c := range conns {
		t.row(string(c.ID), c.Name, c.Type, c.Health, formatTime(c.HealthAt, a.loc), truncate(c.HealthError, 60))
	}
	return t.flush()
}

// connRefOptions are the options of the commands that act on one
// connection: show, verify and delete.
type connRefOptions struct {
	// Conn is a connection id or the name of one of the caller's
	// connections.
	Conn string
	// JSON prints the server's answer as JSON.
	JSON bool
}

func (o *connRefOptions) validate() error { return connRef(o.Conn) }

func (a *app) connectionsShowCommand() *cobra.Command {
	var o connRefOptions
	cmd := &cobra.Command{
		Use:   "show NAME|ID",
		Short: "Show a connection, its health and the flows that use it",
		Args:  argsRange(1, 1, "one connection NAME|ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Conn = args[0]
			return runValidated(cmd.Context(), &o, a.connectionsShow)
		},
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func (a *app) connectionsShow(ctx context.Context, o *connRefOptions) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	var v apiConnection
	if printed, err := a.fetch(ctx, c, pathConnection(o.Conn), fmt.Sprintf("showing connection %s", o.Conn), "connection", o.JSON, &v); printed || err != nil {
		return err
	}
	t := newTable(a.stdout)
	t.row("ID:", string(v.ID))
	t.row("Name:", v.Name)
	t.row("Type:", v.Type)
	t.row("Health:", v.Health)
	if v.HealthError != "" {
		t.row("Reason:", v.HealthError)
	}
	t.row("Checked:", formatTime(v.HealthAt, a.loc))
	if !v.BrokenAt.IsZero() && v.Health != "ok" {
		t.row("Broken since:", formatTime(v.BrokenAt, a.loc))
	}
	for _, kv := range v.configLines() {
		t.row(kv[0]+":", kv[1])
	}
	secrets := "none"
	if len(v.SecretFields) > 0 {
		secrets = strings.Join(v.SecretFields, ", ") + " (set, not shown)"
	}
	t.row("Secrets:", secrets)
	t.row("Owner:", string(v.OwnerID))
	t.row("Created:", formatTime(v.CreatedAt, a.loc))
	t.row("Updated:", formatTime(v.UpdatedAt, a.loc))
	if err := t.flush(); err != nil {
		return err
	}
	if len(v.Flows) == 0 {
		fmt.Fprintln(a.stdout, "\nNo flow uses this connection.")
		return nil
	}
	fmt.Fprintln(a.stdout, "\nUsed by:")
	ft := newTable(a.stdout, "ID", "FLOW")
	for _, f := range v.Flows {
		ft.row(string(f.ID), f.Name)
	}
	return ft.flush()
}

// connUpdateOptions are the options of `sluice connections update`.
type connUpdateOptions struct {
	// Conn is a connection id or the name of one of the caller's
	// connections.
	Conn string
	connFields
	// JSON prints the updated connection as JSON.
	JSON bool
}

func (o *connUpdateOptions) validate() error {
	if err := connRef(o.Conn); err != nil {
		return err
	}
	given := false
	for _, name := range append([]string{"type"}, flagNames()...) {
		given = given || o.given(name)
	}
	if !given {
		return errors.New("connections update needs at least one flag to change, such as --token-stdin or --test-url")
	}
	return o.connFields.validate("connections update", false)
}

// flagNames are the names of the field flags and their *-stdin forms.
func flagNames() []string {
	var out []string
	for _, cf := range connFlags {
		out = append(out, cf.flag)
		if cf.stdin != "" {
			out = append(out, cf.stdin)
		}
	}
	return out
}

func (a *app) connectionsUpdateCommand() *cobra.Command {
	var o connUpdateOptions
	cmd := &cobra.Command{
		Use:   "update NAME|ID [flags]",
		Short: "Change a connection; only the flags given change",
		Long: `Change a connection's type, settings or secret. Only what the flags give
changes: 'sluice connections update github --token-stdin' rotates the token
and keeps everything else. A flag given as "" clears that setting. The
connection's health goes back to unverified; check it with
'sluice connections verify'. The flags are those of 'connections add'.`,
		Args: argsRange(1, 1, "one connection NAME|ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Conn = args[0]
			o.changed = func(name string) bool { return cmd.Flags().Changed(name) }
			return runValidated(cmd.Context(), &o, a.connectionsUpdate)
		},
	}
	o.register(cmd.Flags())
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the updated connection as JSON")
	return cmd
}

func (a *app) connectionsUpdate(ctx context.Context, o *connUpdateOptions) error {
	config, secret, err := o.body(a.stdin)
	if err != nil {
		return err
	}
	req := map[string]any{}
	if o.given("type") {
		req["type"] = o.Type
	}
	if len(config) > 0 {
		req["config"] = config
	}
	if len(secret) > 0 {
		req["secret"] = secret
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if _, err := c.do(ctx, http.MethodPut, pathConnection(o.Conn), nil, req, &raw); err != nil {
		return fmt.Errorf("updating connection %s: %w", o.Conn, err)
	}
	if o.JSON {
		return printJSON(a.stdout, raw)
	}
	var v apiConnection
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("server answered with an unexpected connection: %w", err)
	}
	fmt.Fprintf(a.stdout, "updated connection %s (health: %s)\n", firstNonEmpty(v.Name, o.Conn), firstNonEmpty(v.Health, "unverified"))
	if v.canVerify() {
		fmt.Fprintf(a.stdout, "check it with: sluice connections verify %s\n", diagnose.ShellQuote(firstNonEmpty(v.Name, o.Conn)))
	}
	return nil
}

func (a *app) connectionsVerifyCommand() *cobra.Command {
	var o connRefOptions
	cmd := &cobra.Command{
		Use:   "verify NAME|ID",
		Short: "Make the connection's test request and record its health",
		Long: `Make the connection's test request and record its health: for bearer,
basic and api_key connections a GET of its --test-url, for oauth2 fetching a
token (and the GET of --test-url when set), for smtp logging in to the server.
Prints the health and the reason; exits 1 when the connection is not ok.`,
		Args: argsRange(1, 1, "one connection NAME|ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Conn = args[0]
			return runValidated(cmd.Context(), &o, a.connectionsVerify)
		},
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

// apiVerification is the answer of POST /connections/{conn}/verify.
type apiVerification struct {
	Health      string     `json:"health"`
	HealthError string     `json:"health_error"`
	HealthAt    apiTime    `json:"health_at"`
	Status      flexString `json:"status"`
	Diagnosis   *struct {
		Code     string `json:"code"`
		HowToFix string `json:"how_to_fix"`
	} `json:"diagnosis"`
}

func (a *app) connectionsVerify(ctx context.Context, o *connRefOptions) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if _, err := c.do(ctx, http.MethodPost, pathConnection(o.Conn)+"/verify", nil, nil, &raw); err != nil {
		return fmt.Errorf("verifying connection %s: %w", o.Conn, err)
	}
	var v apiVerification
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("server answered with an unexpected verification: %w", err)
	}
	if o.JSON {
		if err := printJSON(a.stdout, raw); err != nil {
			return err
		}
	} else {
		t := newTable(a.stdout)
		t.row("Connection:", o.Conn)
		t.row("Health:", v.Health)
		if v.Status != "" {
			t.row("Status:", string(v.Status))
		}
		if v.HealthError != "" {
			t.row("Reason:", v.HealthError)
		}
		t.row("Checked:", formatTime(v.HealthAt, a.loc))
		if err := t.flush(); err != nil {
			return err
		}
	}
	if v.Health != "ok" && v.Diagnosis != nil && strings.HasPrefix(v.Diagnosis.Code, "oauth2.") {
		// A sign-in to do, not a secret to give: the diagnosis says how.
		return fmt.Errorf("connection %s is %s: %s", o.Conn, v.Health, v.Diagnosis.HowToFix)
	}
	if v.Health != "ok" {
		return fmt.Errorf("connection %s is %s: fix it with 'sluice connections update %s --token-stdin' (for a bearer token; --password-stdin for basic and smtp, --key-stdin for api_key, --client-secret-stdin for oauth2)",
			o.Conn, firstNonEmpty(v.Health, "not ok"), diagnose.ShellQuote(o.Conn))
	}
	return nil
}

func (a *app) connectionsDeleteCommand() *cobra.Command {
	var o connRefOptions
	return &cobra.Command{
		Use:   "delete NAME|ID",
		Short: "Delete a connection; flows that use it fail until it is added again",
		Args:  argsRange(1, 1, "one connection NAME|ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Conn = args[0]
			return runValidated(cmd.Context(), &o, a.connectionsDelete)
		},
	}
}

func (a *app) connectionsDelete(ctx context.Context, o *connRefOptions) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	if _, err := c.do(ctx, http.MethodDelete, pathConnection(o.Conn), nil, nil, nil); err != nil {
		return fmt.Errorf("deleting connection %s: %w", o.Conn, err)
	}
	fmt.Fprintf(a.stdout, "deleted connection %s\n", o.Conn)
	return nil
}

// apiConnection is a connection as the API shows it (docs/api.md).
type apiConnection struct {
	ID           flexString                 `json:"id"`
	Name         string                     `json:"name"`
	Type         string                     `json:"type"`
	Config       map[string]json.RawMessage `json:"config"`
	SecretFields []string                   `json:"secret_fields"`
	Health       string                     `json:"health"`
	HealthError  string                     `json:"health_error"`
	HealthAt     apiTime                    `json:"health_at"`
	BrokenAt     apiTime                    `json:"broken_at"`
	OwnerID      flexString                 `json:"owner_id"`
	CreatedAt    apiTime                    `json:"created_at"`
	UpdatedAt    apiTime                    `json:"updated_at"`
	Flows        []struct {
		ID   flexString `json:"id"`
		Name string     `json:"name"`
	} `json:"flows"`
}

// canVerify reports whether verify has a test to make.
func (c apiConnection) canVerify() bool {
	_, hasURL := c.Config["test_url"]
	return hasURL || c.Type == connpkg.TypeOAuth2 || c.Type == connpkg.TypeSMTP
}

// configLines returns the config as label/value pairs in the order of the
// flags, then any field the CLI does not know.
func (c apiConnection) configLines() [][2]string {
	var out [][2]string
	seen := map[string]bool{}
	add := func(field string) {
		raw, ok := c.Config[field]
		if !ok || seen[field] {
			return
		}
		seen[field] = true
		var fs flexString
		if err := json.Unmarshal(raw, &fs); err != nil {
			fs = flexString(compactJSON(raw))
		}
		if field == "scopes" {
			var list []string
			if json.Unmarshal(raw, &list) == nil {
				fs = flexString(strings.Join(list, " "))
			}
		}
		label := strings.ToUpper(field[:1]) + strings.ReplaceAll(field[1:], "_", " ")
		out = append(out, [2]string{label, string(fs)})
	}
	for _, cf := range connFlags {
		add(cf.field)
	}
	rest := make([]string, 0, len(c.Config))
	for k := range c.Config {
		rest = append(rest, k)
	}
	slices.Sort(rest)
	for _, k := range rest {
		add(k)
	}
	return out
}

// authorizeOptions are the options of 'connections authorize'.
type authorizeOptions struct {
	connRefOptions
	// NoWait prints the address and returns, without waiting.
	NoWait bool
	// Poll is how often the sign-in is checked while waiting.
	Poll time.Duration
}

func (a *app) connectionsAuthorizeCommand() *cobra.Command {
	o := authorizeOptions{Poll: time.Second}
	cmd := &cobra.Command{
		Use:   "authorize NAME|ID",
		Short: "Sign in to an oauth2 connection with grant authorization_code (prints an address to open)",
		Long: `Sign in to an oauth2 connection that uses the authorization-code flow: the
command prints an address at the provider; open it in a browser and sign in.
The provider sends the browser back to the server's /oauth/callback, which
stores the refresh token (encrypted) so that Sluice renews the access token by
itself from then on. The command waits until the sign-in is complete, failed,
or expired (10 minutes), and exits 1 unless it worked.

Register <server base URL>/oauth/callback as the redirect URI of the app at
the provider. Run it again whenever the connection says to sign in again.`,
		Example: `  sluice connections add google --type oauth2 --grant authorization_code \
    --auth-url https://accounts.google.com/o/oauth2/v2/auth \
    --token-url https://oauth2.googleapis.com/token \
    --client-id ID --client-secret-stdin --scope https://www.googleapis.com/auth/drive.readonly
  sluice connections authorize google`,
		Args: argsRange(1, 1, "one connection NAME|ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Conn = args[0]
			return runValidated(cmd.Context(), &o, a.connectionsAuthorize)
		},
	}
	cmd.Flags().BoolVar(&o.NoWait, "no-wait", false, "print the address and return without waiting for the sign-in")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the sign-in as JSON (with --no-wait, the address; else the outcome)")
	return cmd
}

// apiAuthorization is a sign-in as the API answers it.
type apiAuthorization struct {
	ID        int64   `json:"id"`
	URL       string  `json:"url"`
	Status    string  `json:"status"`
	Message   string  `json:"message"`
	ExpiresAt apiTime `json:"expires_at"`
}

func (a *app) connectionsAuthorize(ctx context.Context, o *authorizeOptions) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if _, err := c.do(ctx, http.MethodPost, pathConnection(o.Conn)+"/authorize", nil, nil, &raw); err != nil {
		return fmt.Errorf("starting the sign-in to connection %s: %w", o.Conn, err)
	}
	var v apiAuthorization
	if err := json.Unmarshal(raw, &v); err != nil || v.URL == "" {
		return fmt.Errorf("server answered with an unexpected sign-in: %s", truncate(string(raw), 200))
	}
	if o.NoWait && o.JSON {
		return printJSON(a.stdout, raw)
	}
	fmt.Fprintf(a.stdout, "Open this address in a browser and sign in:\n\n  %s\n\n", v.URL)
	if o.NoWait {
		fmt.Fprintf(a.stdout, "The sign-in expires at %s.\n", formatTime(v.ExpiresAt, a.loc))
		return nil
	}
	fmt.Fprintf(a.stdout, "Waiting for the sign-in (until %s; Ctrl-C stops waiting)...\n", formatTime(v.ExpiresAt, a.loc))
	path := fmt.Sprintf("%s/authorize/%d", pathConnection(o.Conn), v.ID)
	tick := time.NewTicker(o.Poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		raw = nil
		if _, err := c.do(ctx, http.MethodGet, path, nil, nil, &raw); err != nil {
			return fmt.Errorf("following the sign-in to connection %s: %w", o.Conn, err)
		}
		var st apiAuthorization
		if err := json.Unmarshal(raw, &st); err != nil {
			return fmt.Errorf("server answered with an unexpected sign-in: %w", err)
		}
		switch st.Status {
		case "pending", "claimed":
			continue
		}
		if o.JSON {
			if err := printJSON(a.stdout, raw); err != nil {
				return err
			}
		}
		if st.Status == "done" {
			if !o.JSON {
				fmt.Fprintf(a.stdout, "Signed in: connection %s has a new token, and Sluice renews it by itself from now on.\n", o.Conn)
			}
			return nil
		}
		return fmt.Errorf("the sign-in to connection %s %s: %s", o.Conn, st.Status, st.Message)
	}
}
