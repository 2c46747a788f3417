package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// loginOptions are the options of `sluice login`.
type loginOptions struct {
	// Server is the server URL, from --server or SLUICE_SERVER.
	Server string
	// Email is the account to log in as.
	Email string
	// PasswordStdin reads the password from stdin; without it, it is
	// typed on a terminal without echo. It is never a flag's value, so
	// that it shows neither in the shell history nor in ps.
	PasswordStdin bool
}

func (o *loginOptions) validate() error {
	if o.Server == "" {
		return errors.New("login needs --server URL (or SLUICE_SERVER)")
	}
	s, err := normalizeServer(o.Server)
	if err != nil {
		return err
	}
	o.Server = s
	if strings.TrimSpace(o.Email) == "" {
		return errors.New("login needs --email")
	}
	return nil
}

func (a *app) loginCommand() *cobra.Command {
	var o loginOptions
	cmd := &cobra.Command{
		Use:   "login --server URL --email EMAIL [--password-stdin]",
		Short: "Log in to a server and save the token for the next commands",
		Long: `Log in to a server and save an API token in the user's configuration
directory (sluice/config.json, readable by its owner only). The password is
typed on the terminal, without echo, or read from the first line of stdin
with --password-stdin.`,
		Args: argsRange(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Server = firstNonEmpty(a.flagServer, a.getenv("SLUICE_SERVER"))
			return runValidated(cmd.Context(), &o, a.login)
		},
	}
	cmd.Flags().StringVar(&o.Email, "email", "", "email of the account")
	cmd.Flags().BoolVar(&o.PasswordStdin, "password-stdin", false, "read the password from stdin")
	return cmd
}

// login exchanges email and password for a token and saves it.
func (a *app) login(ctx context.Context, o *loginOptions) error {
	password, err := a.readPassword("login", o.PasswordStdin, false)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "unknown host"
	}
	tokenName := fmt.Sprintf("sluice CLI on %s (%s)", host, time.Now().UTC().Format(time.RFC3339))
	req := map[string]string{"email": o.Email, "password": password, "token_name": tokenName}
	var resp struct {
		Token string  `json:"token"`
		User  apiUser `json:"user"`
	}
	if _, err := a.newClient(o.Server, "").do(ctx, http.MethodPost, "/login", nil, req, &resp); err != nil {
		return fmt.Errorf("logging in to %s: %w", o.Server, err)
	}
	if resp.Token == "" {
		return fmt.Errorf("logging in to %s: the server answered without a token", o.Server)
	}
	path, err := a.saveLogin(savedLogin{Server: o.Server, Token: resp.Token, TokenName: tokenName, Email: o.Email})
	if err != nil {
		return err
	}
	who := firstNonEmpty(resp.User.Email, o.Email)
	if resp.User.Role != "" {
		who += " (" + resp.User.Role + ")"
	}
	fmt.Fprintf(a.stdout, "logged in to %s as %s; token saved in %s\n", o.Server, who, path)
	return nil
}

// readSecretLine reads the first line of r without its line ending.
func readSecretLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("it is empty")
	}
	return line, nil
}

// logoutOptions are the options of `sluice logout` (none yet).
type logoutOptions struct{}

func (o *logoutOptions) validate() error { return nil }

func (a *app) logoutCommand() *cobra.Command {
	var o logoutOptions
	return &cobra.Command{
		Use:   "logout",
		Short: "Delete the saved login and its token on the server",
		Args:  argsRange(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runValidated(cmd.Context(), &o, a.logout)
		},
	}
}

// logout deletes the token on the server when it can find it, then the
// saved login. A server that cannot be reached does not keep the user
// logged in: the file is removed anyway and the user is told.
func (a *app) logout(ctx context.Context, _ *logoutOptions) error {
	saved, path, err := a.loadLogin()
	if err != nil {
		return err
	}
	if saved.Token == "" {
		fmt.Fprintln(a.stdout, "not logged in")
		return nil
	}
	revokeErr := a.revokeSavedToken(ctx, saved)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing saved login: %w", err)
	}
	if revokeErr != nil {
		fmt.Fprintf(a.stderr, "sluice: warning: the token could not be deleted on %s (%v); delete it with 'sluice tokens delete ID'\n", saved.Server, revokeErr)
	}
	fmt.Fprintf(a.stdout, "logged out of %s\n", saved.Server)
	return nil
}

// revokeSavedToken finds the saved token on the server by its name and
// deletes it.
func (a *app) revokeSavedToken(ctx context.Context, saved savedLogin) error {
	if saved.TokenName == "" {
		return errors.New("its name is unknown")
	}
	c := a.newClient(saved.Server, saved.Token)
	var resp struct {
		Tokens []apiToken `json:"tokens"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/tokens", nil, nil, &resp); err != nil {
		return err
	}
	for _, t := range resp.Tokens {
		if t.Name == saved.TokenName {
			_, err := c.do(ctx, http.MethodDelete, pathToken(string(t.ID)), nil, nil, nil)
			return err
		}
	}
	return nil // already gone
}
