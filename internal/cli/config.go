package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// savedLogin is what `sluice login` keeps in $XDG_CONFIG_HOME/sluice/config.json.
type savedLogin struct {
	// Server is the normalized URL the token belongs to.
	Server string `json:"server"`
	// Token is the API token; the file is readable by its owner only.
	Token string `json:"token"`
	// TokenName is the name the token was created with, so that logout can
	// delete it on the server.
	TokenName string `json:"token_name,omitempty"`
	// Email is who logged in, for messages.
	Email string `json:"email,omitempty"`
}

// connection is the server and token a command talks to.
type connection struct {
	Server string
	Token  string
}

// configPath is where the saved login lives: sluice/config.json in the
// user's configuration directory (os.UserConfigDir, honouring the
// XDG_CONFIG_HOME of the app's environment).
func (a *app) configPath() (string, error) {
	dir := a.getenv("XDG_CONFIG_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		var err error
		dir, err = os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("finding the configuration directory: %w", err)
		}
	}
	return filepath.Join(dir, "sluice", "config.json"), nil
}

// loadLogin reads the saved login; no file is an empty login, not an error.
func (a *app) loadLogin() (savedLogin, string, error) {
	path, err := a.configPath()
	if err != nil {
		return savedLogin{}, "", err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return savedLogin{}, path, nil
	}
	if err != nil {
		return savedLogin{}, path, fmt.Errorf("reading saved login: %w", err)
	}
	var l savedLogin
	if err := json.Unmarshal(data, &l); err != nil {
		return savedLogin{}, path, fmt.Errorf("saved login %s is damaged, run 'sluice login' again: %w", path, err)
	}
	return l, path, nil
}

// saveLogin writes the login atomically to a file of mode 0600 in a
// directory of mode 0700: the token is a password.
func (a *app) saveLogin(l savedLogin) (string, error) {
	path, err := a.configPath()
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return "", fmt.Errorf("restricting %s: %w", dir, err)
	}
	data, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encoding login: %w", err)
	}
	f, err := os.CreateTemp(dir, ".config-*.json")
	if err != nil {
		return "", fmt.Errorf("saving login: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once renamed
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return "", fmt.Errorf("saving login: %w", err)
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return "", fmt.Errorf("saving login: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", fmt.Errorf("saving login: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("saving login: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("saving login: %w", err)
	}
	return path, nil
}

// resolveConnection picks the server and the token, each from its flag,
// else its environment variable (SLUICE_SERVER, SLUICE_TOKEN), else the
// saved login. The saved token is only used for the server it was saved
// for, so that pointing --server elsewhere never sends it to another host.
func (a *app) resolveConnection() (connection, error) {
	var c connection
	server := firstNonEmpty(a.flagServer, a.getenv("SLUICE_SERVER"))
	token := firstNonEmpty(a.flagToken, a.getenv("SLUICE_TOKEN"))
	if server != "" {
		s, err := normalizeServer(server)
		if err != nil {
			return c, &usageError{err: err}
		}
		server = s
	}
	if server == "" || token == "" {
		saved, _, err := a.loadLogin()
		if err != nil {
			return c, err
		}
		if server == "" {
			server = saved.Server
		}
		if token == "" && saved.Server != "" && saved.Server == server {
			token = saved.Token
		}
	}
	return connection{Server: server, Token: token}, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
