package cli

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/api"
	"github.com/sluice/sluice/internal/auth"
	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/netguard"
	"github.com/sluice/sluice/internal/signin"
	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/sqlite"
)

const (
	accountsAdminPassword = "admin-password-1"
	accountsMakerPassword = "maker-password-1"
)

// setupRealAPI is setup with the real API over a SQLite store instead of
// the fake: an admin (whose token is SLUICE_TOKEN) and a maker with a
// token of their own, returned.
func setupRealAPI(t *testing.T) (*bundle, string) {
	t.Helper()
	ctx := t.Context()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sluice.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	eng, err := engine.New(engine.Config{Store: st, Logger: logger, HTTPClient: netguard.NewClient(netguard.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Config{Store: st, Runner: eng, Logger: logger}))
	t.Cleanup(srv.Close)
	tokens := map[string]string{}
	for _, u := range []struct{ email, password, role string }{
		{"admin@example.com", accountsAdminPassword, store.RoleAdmin},
		{"maker@example.com", accountsMakerPassword, store.RoleMaker},
	} {
		hash, err := auth.HashPassword(u.password)
		if err != nil {
			t.Fatal(err)
		}
		created, err := st.CreateUser(ctx, store.User{Email: u.email, PasswordHash: hash, Role: u.role})
		if err != nil {
			t.Fatal(err)
		}
		plain, th, err := auth.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateToken(ctx, store.Token{UserID: created.ID, Name: "test", Hash: th}); err != nil {
			t.Fatal(err)
		}
		tokens[u.role] = plain
	}
	dir := t.TempDir()
	return &bundle{configDir: dir, env: map[string]string{
		"XDG_CONFIG_HOME": dir, "SLUICE_SERVER": srv.URL, "SLUICE_TOKEN": tokens[store.RoleAdmin],
	}}, tokens[store.RoleMaker]
}

// as returns a copy of b whose commands use another token.
func (b *bundle) as(token string) *bundle {
	env := map[string]string{}
	for k, v := range b.env {
		env[k] = v
	}
	env["SLUICE_TOKEN"] = token
	return &bundle{configDir: b.configDir, env: env}
}

func TestTokensCreateExpires(t *testing.T) {
	t.Parallel()
	b, _ := setupRealAPI(t)
	r := b.run(t, "", "tokens", "create", "ci", "--expires", "90d", "--json")
	r.check(t, ExitOK, []string{`"expires_at"`}, nil)
	var got struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	if d := time.Until(got.ExpiresAt); d < 89*24*time.Hour || d > 90*24*time.Hour {
		t.Fatalf("expires_at %v is %v away, want 90 days", got.ExpiresAt, d)
	}
	b.as(got.Token).run(t, "", "tokens", "list").check(t, ExitOK, []string{"EXPIRES", got.ExpiresAt.UTC().Format("2006-01-02 15:04:05")}, nil)

	r = b.run(t, "", "tokens", "create", "short", "--expires", "12h")
	r.check(t, ExitOK, []string{"slc_"}, []string{"it expires on"})
	for _, bad := range []string{"0d", "-3d", "ninety", "3651d", "1.5d"} {
		b.run(t, "", "tokens", "create", "x", "--expires", bad).check(t, ExitUsage, nil, []string{"--expires", bad})
	}
}

func TestUsersDisableEnable(t *testing.T) {
	t.Parallel()
	b, makerToken := setupRealAPI(t)
	maker := b.as(makerToken)
	maker.run(t, "", "flows", "list").check(t, ExitOK, nil, nil)

	b.run(t, "", "users", "disable", "maker@example.com").check(t, ExitOK, []string{"disabled user maker@example.com"}, nil)
	// The maker's token is refused on the very next request.
	maker.run(t, "", "flows", "list").check(t, ExitFailure, nil, []string{"disabled"})
	b.run(t, "", "users", "list").check(t, ExitOK, []string{"STATUS", "disabled", "enabled"}, nil)
	b.run(t, "", "users", "disable", "admin@example.com").check(t, ExitFailure, nil, []string{"your own account"})
	b.run(t, "", "users", "disable", "nobody@example.com").check(t, ExitFailure, nil, []string{"nobody@example.com"})
	maker.run(t, "", "users", "enable", "maker@example.com").check(t, ExitFailure, nil, nil)

	r := b.run(t, "", "users", "enable", "maker@example.com", "--json")
	r.check(t, ExitOK, []string{`"disabled_at": null`}, nil)
	maker.run(t, "", "flows", "list").check(t, ExitOK, nil, nil)
}

func TestUsersResetPassword(t *testing.T) {
	t.Parallel()
	b, makerToken := setupRealAPI(t)
	login := func(password string) result {
		return b.run(t, password+"\n", "login", "--email", "maker@example.com", "--password-stdin")
	}
	b.run(t, "new-password-2\n", "users", "reset-password", "maker@example.com", "--password-stdin").
		check(t, ExitOK, []string{"set a new password for maker@example.com and deleted their 1 token(s)"}, nil)
	b.as(makerToken).run(t, "", "flows", "list").check(t, ExitFailure, nil, []string{"revoked"})
	login(accountsMakerPassword).check(t, ExitFailure, nil, []string{"wrong email or password"})
	login("new-password-2").check(t, ExitOK, []string{"logged in"}, nil)

	r := b.run(t, "", "users", "reset-password", "maker@example.com", "--generate")
	r.check(t, ExitOK, nil, []string{"shown only this once"})
	generated := strings.TrimSpace(r.stdout)
	if len(generated) < 20 || strings.Contains(generated, " ") {
		t.Fatalf("stdout %q, want the generated password alone", r.stdout)
	}
	login(generated).check(t, ExitOK, nil, nil)

	b.run(t, "", "users", "reset-password", "maker@example.com").check(t, ExitUsage, nil, []string{"exactly one of --password-stdin"})
	b.run(t, "short\n", "users", "reset-password", "maker@example.com", "--password-stdin").check(t, ExitFailure, nil, []string{"at least 8"})
}

// TestLoginThrottled: `sluice login` goes through the same throttled
// check as every sign-in.
func TestLoginThrottled(t *testing.T) {
	t.Parallel()
	b, _ := setupRealAPI(t)
	for range signin.DefaultAccountLimit.Free {
		b.run(t, "wrong-password\n", "login", "--email", "admin@example.com", "--password-stdin").check(t, ExitFailure, nil, []string{"wrong email or password"})
	}
	b.run(t, accountsAdminPassword+"\n", "login", "--email", "admin@example.com", "--password-stdin").
		check(t, ExitFailure, nil, []string{"too many sign-in attempts", "try again in"})
}
