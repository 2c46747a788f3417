package api

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/auth"
	"github.com/sluice/sluice/internal/signin"
	"github.com/sluice/sluice/internal/store"
)

func loginBody(email, password string) string {
	return fmt.Sprintf(`{"email": %q, "password": %q}`, email, password)
}

// TestLoginThrottled: after the account's free attempts, POST /login
// answers 429 with Retry-After, even to the right password.
func TestLoginThrottled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for i := range signin.DefaultAccountLimit.Free {
		rec := b.do(t, "POST", "/api/v1/login", "", loginBody("admin@example.com", "wrong-password"))
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: status %d, want 401; body %s", i+1, rec.Code, rec.Body)
		}
	}
	for _, pw := range []string{"wrong-password", adminPassword} {
		rec := b.do(t, "POST", "/api/v1/login", "", loginBody("admin@example.com", pw))
		if rec.Code != http.StatusTooManyRequests {
			t.Fatalf("attempt past the limit: status %d, want 429; body %s", rec.Code, rec.Body)
		}
		if s, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || s < 1 {
			t.Fatalf("Retry-After = %q, want a positive number of seconds", rec.Header().Get("Retry-After"))
		}
		(scenario{status: 429, contains: []string{`"too_many_requests"`, "try again in"}}).check(t, rec)
	}
	// Another account is not throttled by it.
	b.doJSON(t, "POST", "/api/v1/login", "", loginBody("a@example.com", makerPassword), http.StatusCreated, nil)
}

func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	future := time.Now().Add(90 * 24 * time.Hour).UTC().Truncate(time.Second)
	var created struct {
		Token     string     `json:"token"`
		ExpiresAt *time.Time `json:"expires_at"`
	}
	b.doJSON(t, "POST", "/api/v1/tokens", "a", fmt.Sprintf(`{"name": "ci", "expires_at": %q}`, future.Format(time.RFC3339)), http.StatusCreated, &created)
	if created.ExpiresAt == nil || !created.ExpiresAt.Equal(future) {
		t.Fatalf("expires_at = %v, want %v", created.ExpiresAt, future)
	}
	b.doJSON(t, "GET", "/api/v1/me", created.Token, "", http.StatusOK, nil)
	scenarios := []scenario{
		{name: "listed with its expiry", method: "GET", path: "/api/v1/tokens", who: "a", status: 200, contains: []string{`"expires_at":"` + future.Format(time.RFC3339) + `"`, `"expires_at":null`}},
		{name: "past expiry refused", method: "POST", path: "/api/v1/tokens", who: "a", body: `{"name": "x", "expires_at": "2001-01-01T00:00:00Z"}`, status: 400, contains: []string{"expires_at 2001-01-01T00:00:00Z is not in the future"}},
		{name: "bad expiry", method: "POST", path: "/api/v1/tokens", who: "a", body: `{"name": "x", "expires_at": "90d"}`, status: 400, contains: []string{"expires_at"}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, b) })
	}

	// A token past its expiry is refused with a 401 that says so.
	plain, hash, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Minute)
	if _, err := b.store.CreateToken(ctx, store.Token{UserID: b.users["a"].ID, Name: "old", Hash: hash, ExpiresAt: &past}); err != nil {
		t.Fatal(err)
	}
	(scenario{method: "GET", path: "/api/v1/me", who: plain, status: 401, contains: []string{`"unauthorized"`, `token \"old\" expired on`}}).run(t, b)
}

func TestDisableUser(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := strconv.FormatInt(b.users["a"].ID, 10)
	steps := []scenario{
		{name: "a's token works", method: "GET", path: "/api/v1/me", who: "a", status: 200},
		{name: "makers may not disable", method: "POST", path: "/api/v1/users/" + a + "/disable", who: "b", status: 403},
		{name: "admin disables a by id", method: "POST", path: "/api/v1/users/" + a + "/disable", who: "admin", status: 200, contains: []string{`"disabled_at":"`}},
		// The very next request with a's token is refused: no cache.
		{name: "a's token refused at once", method: "GET", path: "/api/v1/me", who: "a", status: 401, contains: []string{`"account_disabled"`}},
		{name: "a cannot sign in", method: "POST", path: "/api/v1/login", body: loginBody("a@example.com", makerPassword), status: 403, contains: []string{`"account_disabled"`}},
		{name: "a wrong password says nothing more", method: "POST", path: "/api/v1/login", body: loginBody("a@example.com", "wrong-password"), status: 401, contains: []string{`"invalid_credentials"`}},
		{name: "listed as disabled", method: "GET", path: "/api/v1/users", who: "admin", status: 200, contains: []string{`"disabled_at":"`, `"disabled_at":null`}},
		{name: "b is not affected", method: "GET", path: "/api/v1/me", who: "b", status: 200},
		{name: "admin cannot disable themselves", method: "POST", path: "/api/v1/users/admin@example.com/disable", who: "admin", status: 409, contains: []string{"your own account"}},
		{name: "unknown user", method: "POST", path: "/api/v1/users/nobody@example.com/disable", who: "admin", status: 404, contains: []string{"nobody@example.com"}},
		{name: "admin re-enables a by email", method: "POST", path: "/api/v1/users/a@example.com/enable", who: "admin", status: 200, contains: []string{`"disabled_at":null`}},
		{name: "a's token works again", method: "GET", path: "/api/v1/me", who: "a", status: 200},
	}
	for _, sc := range steps {
		sc.run(t, b)
	}
}

func TestResetPassword(t *testing.T) {
	t.Parallel()
	b := setup(t)
	path := "/api/v1/users/a@example.com/password"
	var resp struct {
		Password      string   `json:"password"`
		RevokedTokens int      `json:"revoked_tokens"`
		User          userView `json:"user"`
	}
	b.doJSON(t, "POST", path, "admin", `{"password": "brand-new-password"}`, http.StatusOK, &resp)
	if resp.Password != "" || resp.RevokedTokens != 1 || resp.User.Email != "a@example.com" {
		t.Fatalf("reset answer: %+v, want no password shown and a's one token revoked", resp)
	}
	steps := []scenario{
		{name: "a's old token is revoked", method: "GET", path: "/api/v1/me", who: "a", status: 401},
		{name: "old password refused", method: "POST", path: "/api/v1/login", body: loginBody("a@example.com", makerPassword), status: 401, contains: []string{`"invalid_credentials"`}},
		{name: "new password works", method: "POST", path: "/api/v1/login", body: loginBody("a@example.com", "brand-new-password"), status: 201},
		{name: "b's token stays", method: "GET", path: "/api/v1/me", who: "b", status: 200},
		{name: "too short", method: "POST", path: path, who: "admin", body: `{"password": "short"}`, status: 400, contains: []string{"at least 8"}},
		{name: "neither", method: "POST", path: path, who: "admin", body: `{}`, status: 400, contains: []string{"either password or generate"}},
		{name: "both", method: "POST", path: path, who: "admin", body: `{"password": "brand-new-password", "generate": true}`, status: 400},
		{name: "makers may not", method: "POST", path: path, who: "b", body: `{"generate": true}`, status: 403},
	}
	for _, sc := range steps {
		sc.run(t, b)
	}
	b.doJSON(t, "POST", path, "admin", `{"generate": true}`, http.StatusOK, &resp)
	if len(resp.Password) < 20 {
		t.Fatalf("generated password %q, want a long one", resp.Password)
	}
	b.doJSON(t, "POST", "/api/v1/login", "", loginBody("a@example.com", resp.Password), http.StatusCreated, nil)
}
