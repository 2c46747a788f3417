package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func (a *app) usersCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "users",
		Short: "List, create, disable and enable users, and reset passwords (admins only)",
		Args:  noArgs,
		RunE:  groupRunE,
	}
	cmd.AddCommand(a.usersListCommand(), a.usersCreateCommand(),
		a.usersSetDisabledCommand(true), a.usersSetDisabledCommand(false), a.usersResetPasswordCommand())
	return cmd
}

// usersListOptions are the options of `sluice users list`.
type usersListOptions struct {
	// JSON prints the users as a JSON array.
	JSON bool
}

func (o *usersListOptions) validate() error { return nil }

func (a *app) usersListCommand() *cobra.Command {
	var o usersListOptions
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List users",
		Args:  argsRange(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runValidated(cmd.Context(), &o, a.usersList)
		},
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func (a *app) usersList(ctx context.Context, o *usersListOptions) error {
	items, err := a.getList(ctx, "/users", nil, "users")
	if err != nil {
		return fmt.Errorf("listing users: %w", err)
	}
	if o.JSON {
		return printJSONList(a.stdout, items)
	}
	users, err := decodeList[apiUser](items)
	if err != nil {
		return err
	}
	t := newTable(a.stdout, "ID", "EMAIL", "NAME", "ROLE", "STATUS", "CREATED")
	for _, u := range users {
		t.row(string(u.ID), u.Email, u.Name, u.Role, u.status(), formatTime(u.CreatedAt, a.loc))
	}
	return t.flush()
}

// userRoles are the roles a user can have.
var userRoles = []string{"admin", "maker"}

// usersCreateOptions are the options of `sluice users create`.
type usersCreateOptions struct {
	Email string
	Name  string
	// Role is admin or maker. Defaults to maker.
	Role string
	// PasswordStdin reads the password from stdin; without it, it is
	// typed twice on a terminal without echo.
	PasswordStdin bool
	// JSON prints the created user as JSON.
	JSON bool
}

func (o *usersCreateOptions) validate() error {
	o.Email = strings.TrimSpace(o.Email)
	if o.Email == "" || !strings.Contains(o.Email, "@") {
		return fmt.Errorf("users create needs --email with an email address, got %q", o.Email)
	}
	if strings.TrimSpace(o.Name) == "" {
		return errors.New("users create needs --name")
	}
	if o.Role == "" {
		o.Role = "maker"
	}
	if o.Role != "admin" && o.Role != "maker" {
		return fmt.Errorf("--role %q is not a role; use one of %s", o.Role, strings.Join(userRoles, ", "))
	}
	return nil
}

func (a *app) usersCreateCommand() *cobra.Command {
	var o usersCreateOptions
	cmd := &cobra.Command{
		Use:   "create --email EMAIL --name NAME [--role admin|maker] [--password-stdin]",
		Short: "Create a user; the password is typed on the terminal or read from stdin",
		Args:  argsRange(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runValidated(cmd.Context(), &o, a.usersCreate)
		},
	}
	cmd.Flags().StringVar(&o.Email, "email", "", "email address, used to log in")
	cmd.Flags().StringVar(&o.Name, "name", "", "display name")
	cmd.Flags().StringVar(&o.Role, "role", "maker", "role: admin or maker")
	cmd.Flags().BoolVar(&o.PasswordStdin, "password-stdin", false, "read the password from stdin")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the created user as JSON")
	return cmd
}

func (a *app) usersCreate(ctx context.Context, o *usersCreateOptions) error {
	password, err := a.readPassword("users create", o.PasswordStdin, true)
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	body := map[string]string{"email": o.Email, "name": o.Name, "password": password, "role": o.Role}
	var raw json.RawMessage
	if _, err := c.do(ctx, http.MethodPost, "/users", nil, body, &raw); err != nil {
		return fmt.Errorf("creating user %s: %w", o.Email, err)
	}
	if o.JSON {
		return printJSON(a.stdout, raw)
	}
	var u apiUser
	if err := json.Unmarshal(raw, &u); err != nil {
		return fmt.Errorf("server answered with an unexpected user: %w", err)
	}
	fmt.Fprintf(a.stdout, "created user %s (id %s, role %s)\n", firstNonEmpty(u.Email, o.Email), u.ID, firstNonEmpty(u.Role, o.Role))
	return nil
}

func (a *app) tokensCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tokens",
		Short: "List, create and delete your API tokens",
		Args:  noArgs,
		RunE:  groupRunE,
	}
	cmd.AddCommand(a.tokensListCommand(), a.tokensCreateCommand(), a.tokensDeleteCommand())
	return cmd
}

// tokensListOptions are the options of `sluice tokens list`.
type tokensListOptions struct {
	// JSON prints the tokens (never their secrets) as a JSON array.
	JSON bool
}

func (o *tokensListOptions) validate() error { return nil }

func (a *app) tokensListCommand() *cobra.Command {
	var o tokensListOptions
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List your API tokens",
		Args:  argsRange(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runValidated(cmd.Context(), &o, a.tokensList)
		},
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func (a *app) tokensList(ctx context.Context, o *tokensListOptions) error {
	items, err := a.getList(ctx, "/tokens", nil, "tokens")
	if err != nil {
		return fmt.Errorf("listing tokens: %w", err)
	}
	if o.JSON {
		return printJSONList(a.stdout, items)
	}
	tokens, err := decodeList[apiToken](items)
	if err != nil {
		return err
	}
	t := newTable(a.stdout, "ID", "NAME", "CREATED", "LAST_USED", "EXPIRES")
	for _, tk := range tokens {
		t.row(string(tk.ID), tk.Name, formatTime(tk.CreatedAt, a.loc), formatTime(tk.LastUsedAt, a.loc), formatTime(tk.ExpiresAt, a.loc))
	}
	return t.flush()
}

// tokensCreateOptions are the options of `sluice tokens create`.
type tokensCreateOptions struct {
	// Name says what the token is for, such as "ci".
	Name string
	// Expires is how long the token works, such as 90d or 12h; "" for a
	// token that does not expire.
	Expires string
	// JSON prints the answer, secret included, as JSON.
	JSON bool

	// expiresAt is Expires from now, set by validate; nil for none.
	expiresAt *time.Time
}

// maxTokenLifetime caps --expires.
const maxTokenLifetime = 3650 * 24 * time.Hour

func (o *tokensCreateOptions) validate() error {
	if strings.TrimSpace(o.Name) == "" {
		return errors.New("the token name must not be empty")
	}
	if o.Expires != "" {
		d, err := parseLifetime(o.Expires)
		if err != nil {
			return fmt.Errorf("--expires: %w", err)
		}
		at := time.Now().Add(d).UTC().Truncate(time.Second)
		o.expiresAt = &at
	}
	return nil
}

// parseLifetime reads a duration such as 90d, 36h or 1h30m: whole days
// with a "d" suffix, or anything time.ParseDuration reads. It must be
// positive and at most ten years.
func parseLifetime(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration such as 90d or 12h", s)
		}
		if n <= 0 || n > 3650 {
			return 0, fmt.Errorf("%q must be more than zero and at most 3650d", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q is not a duration such as 90d or 12h", s)
		}
	}
	if d <= 0 || d > maxTokenLifetime {
		return 0, fmt.Errorf("%q must be more than zero and at most 3650d", s)
	}
	return d, nil
}

func (a *app) tokensCreateCommand() *cobra.Command {
	var o tokensCreateOptions
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an API token and print its secret, once",
		Args:  argsRange(1, 1, "one token NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			return runValidated(cmd.Context(), &o, a.tokensCreate)
		},
	}
	cmd.Flags().StringVar(&o.Expires, "expires", "", "how long the token works, such as 90d or 12h (default: it does not expire)")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

// tokensCreate prints the secret alone on stdout, so that
// TOKEN=$(sluice tokens create ci) works, and the rest on stderr.
func (a *app) tokensCreate(ctx context.Context, o *tokensCreateOptions) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	body := map[string]string{"name": o.Name}
	if o.expiresAt != nil {
		body["expires_at"] = o.expiresAt.Format(time.RFC3339)
	}
	var raw json.RawMessage
	if _, err := c.do(ctx, http.MethodPost, "/tokens", nil, body, &raw); err != nil {
		return fmt.Errorf("creating token %s: %w", o.Name, err)
	}
	if o.JSON {
		return printJSON(a.stdout, raw)
	}
	var resp struct {
		Token string     `json:"token"`
		ID    flexString `json:"id"`
		Name  string     `json:"name"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		return fmt.Errorf("server answered with an unexpected token: %w", err)
	}
	fmt.Fprintln(a.stdout, resp.Token)
	expiry := "it does not expire"
	if o.expiresAt != nil {
		expiry = "it expires on " + o.expiresAt.In(a.loc).Format("2006-01-02 15:04:05")
	}
	fmt.Fprintf(a.stderr, "created token %s (id %s); %s; its secret is shown only this once\n", firstNonEmpty(resp.Name, o.Name), resp.ID, expiry)
	return nil
}

// tokensDeleteOptions are the options of `sluice tokens delete`.
type tokensDeleteOptions struct {
	// ID is the token's id, as tokens list shows it.
	ID string
}

func (o *tokensDeleteOptions) validate() error {
	if strings.TrimSpace(o.ID) == "" {
		return errors.New("the token id must not be empty")
	}
	return nil
}

func (a *app) tokensDeleteCommand() *cobra.Command {
	var o tokensDeleteOptions
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete an API token",
		Args:  argsRange(1, 1, "one token ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ID = args[0]
			return runValidated(cmd.Context(), &o, a.tokensDelete)
		},
	}
}

func (a *app) tokensDelete(ctx context.Context, o *tokensDeleteOptions) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	if _, err := c.do(ctx, http.MethodDelete, pathToken(o.ID), nil, nil, nil); err != nil {
		return fmt.Errorf("deleting token %s: %w", o.ID, err)
	}
	fmt.Fprintf(a.stdout, "deleted token %s\n", o.ID)
	return nil
}

// pathToken is the API path of a token.
func pathToken(id string) string {
	return "/tokens/" + url.PathEscape(id)
}

// pathUser is the API path of a user, by id or email.
func pathUser(ref string) string {
	return "/users/" + url.PathEscape(ref)
}

// usersSetDisabledOptions are the options of `sluice users disable` and
// `sluice users enable`.
type usersSetDisabledOptions struct {
	// User is the user's id or email.
	User string
	// JSON prints the user after the change as JSON.
	JSON bool
}

func (o *usersSetDisabledOptions) validate() error {
	if strings.TrimSpace(o.User) == "" {
		return errors.New("the user (id or email) must not be empty")
	}
	return nil
}

func (a *app) usersSetDisabledCommand(disable bool) *cobra.Command {
	var o usersSetDisabledOptions
	verb, short := "enable", "Re-enable a disabled user; the tokens they still have work again"
	if disable {
		verb, short = "disable", "Disable a user: they cannot sign in and their tokens are refused at once"
	}
	cmd := &cobra.Command{
		Use:   verb + " USER",
		Short: short,
		Long: short + `.
USER is the user's id or email. A disabled user's flows keep running; turn
them off with 'sluice flows disable' if they should stop too.`,
		Args: argsRange(1, 1, "one USER (id or email)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.User = args[0]
			return runValidated(cmd.Context(), &o, func(ctx context.Context, o *usersSetDisabledOptions) error {
				return a.usersSetDisabled(ctx, o, verb)
			})
		},
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the user as JSON")
	return cmd
}

// usersSetDisabled calls POST /users/{user}/disable or /enable.
func (a *app) usersSetDisabled(ctx context.Context, o *usersSetDisabledOptions, verb string) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if _, err := c.do(ctx, http.MethodPost, pathUser(o.User)+"/"+verb, nil, nil, &raw); err != nil {
		return fmt.Errorf("%s user %s: %w", verb, o.User, err)
	}
	if o.JSON {
		return printJSON(a.stdout, raw)
	}
	var u apiUser
	if err := json.Unmarshal(raw, &u); err != nil {
		return fmt.Errorf("server answered with an unexpected user: %w", err)
	}
	fmt.Fprintf(a.stdout, "%sd user %s (id %s)\n", verb, firstNonEmpty(u.Email, o.User), u.ID)
	return nil
}

// usersResetPasswordOptions are the options of `sluice users
// reset-password`.
type usersResetPasswordOptions struct {
	// User is the user's id or email.
	User string
	// PasswordStdin reads the new password from stdin.
	PasswordStdin bool
	// Generate has the server make a password, printed once.
	Generate bool
	// JSON prints the answer as JSON.
	JSON bool
}

func (o *usersResetPasswordOptions) validate() error {
	if strings.TrimSpace(o.User) == "" {
		return errors.New("the user (id or email) must not be empty")
	}
	if o.PasswordStdin == o.Generate {
		return errors.New("users reset-password needs exactly one of --password-stdin (the new password on stdin) or --generate (a new password printed once)")
	}
	return nil
}

func (a *app) usersResetPasswordCommand() *cobra.Command {
	var o usersResetPasswordOptions
	cmd := &cobra.Command{
		Use:   "reset-password USER (--password-stdin | --generate)",
		Short: "Set a user's password and sign them out everywhere",
		Long: `Set a user's password: the first line of stdin with --password-stdin, or a
generated one printed once on stdout with --generate. Every API token of the
user is deleted, so whatever signed in with the old password stops working.
USER is the user's id or email.`,
		Args: argsRange(1, 1, "one USER (id or email)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.User = args[0]
			return runValidated(cmd.Context(), &o, a.usersResetPassword)
		},
	}
	cmd.Flags().BoolVar(&o.PasswordStdin, "password-stdin", false, "read the new password from stdin")
	cmd.Flags().BoolVar(&o.Generate, "generate", false, "generate a password and print it once")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON (with the generated password)")
	return cmd
}

// usersResetPassword calls POST /users/{user}/password. A generated
// password goes alone to stdout, so that PW=$(sluice users reset-password
// ann --generate) works, and the rest to stderr.
func (a *app) usersResetPassword(ctx context.Context, o *usersResetPasswordOptions) error {
	body := map[string]any{"generate": true}
	if o.PasswordStdin {
		password, err := readSecretLine(a.stdin)
		if err != nil {
			return &usageError{err: fmt.Errorf("reading the password from stdin: %w", err)}
		}
		body = map[string]any{"password": password}
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if _, err := c.do(ctx, http.MethodPost, pathUser(o.User)+"/password", nil, body, &raw); err != nil {
		return fmt.Errorf("resetting the password of %s: %w", o.User, err)
	}
	if o.JSON {
		return printJSON(a.stdout, raw)
	}
	var resp struct {
		User          apiUser    `json:"user"`
		Password      string     `json:"password"`
		RevokedTokens flexString `json:"revoked_tokens"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		return fmt.Errorf("server answered with an unexpected result: %w", err)
	}
	who := firstNonEmpty(resp.User.Email, o.User)
	if o.Generate {
		fmt.Fprintln(a.stdout, resp.Password)
		fmt.Fprintf(a.stderr, "set a new password for %s and deleted their %s token(s); the password is shown only this once\n", who, resp.RevokedTokens)
		return nil
	}
	fmt.Fprintf(a.stdout, "set a new password for %s and deleted their %s token(s)\n", who, resp.RevokedTokens)
	return nil
}
