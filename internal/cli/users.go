package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

func (a *app) usersCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "users",
		Short: "List and create users (admins only)",
		Args:  noArgs,
		RunE:  groupRunE,
	}
	cmd.AddCommand(a.usersListCommand(), a.usersCreateCommand())
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
	t := newTable(a.stdout, "ID", "EMAIL", "NAME", "ROLE", "CREATED")
	for _, u := range users {
		t.row(string(u.ID), u.Email, u.Name, u.Role, formatTime(u.CreatedAt, a.loc))
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
	// PasswordStdin must be set: the password is read from stdin only.
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
	if !o.PasswordStdin {
		return errors.New("users create reads the password from stdin only: pass --password-stdin")
	}
	return nil
}

func (a *app) usersCreateCommand() *cobra.Command {
	var o usersCreateOptions
	cmd := &cobra.Command{
		Use:   "create --email EMAIL --name NAME [--role admin|maker] --password-stdin",
		Short: "Create a user; the password is read from stdin",
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
	password, err := readSecretLine(a.stdin)
	if err != nil {
		return &usageError{err: fmt.Errorf("reading the password from stdin: %w", err)}
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
	t := newTable(a.stdout, "ID", "NAME", "CREATED", "LAST_USED")
	for _, tk := range tokens {
		t.row(string(tk.ID), tk.Name, formatTime(tk.CreatedAt, a.loc), formatTime(tk.LastUsedAt, a.loc))
	}
	return t.flush()
}

// tokensCreateOptions are the options of `sluice tokens create`.
type tokensCreateOptions struct {
	// Name says what the token is for, such as "ci".
	Name string
	// JSON prints the answer, secret included, as JSON.
	JSON bool
}

func (o *tokensCreateOptions) validate() error {
	if strings.TrimSpace(o.Name) == "" {
		return errors.New("the token name must not be empty")
	}
	return nil
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
	var raw json.RawMessage
	if _, err := c.do(ctx, http.MethodPost, "/tokens", nil, map[string]string{"name": o.Name}, &raw); err != nil {
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
	fmt.Fprintf(a.stderr, "created token %s (id %s); its secret is shown only this once\n", firstNonEmpty(resp.Name, o.Name), resp.ID)
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
