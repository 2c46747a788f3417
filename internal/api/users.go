package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strconv"
	"strings"

	"github.com/sluice/sluice/internal/auth"
	"github.com/sluice/sluice/internal/signin"
	"github.com/sluice/sluice/internal/store"
)

// defaultTokenName names the token POST /login creates when the request
// does not.
const defaultTokenName = "cli"

// maxNameLength caps user, token and flow names in requests.
const maxNameLength = 200

// loginRequest is POST /login's body.
type loginRequest struct {
	Email     string `json:"email"`
	Password  string `json:"password"`
	TokenName string `json:"token_name"`
}

// login checks an email and password and answers a new API token. The
// check is signin's, shared with the email-link pages: throttled per
// account and client address (429 with Retry-After), the same answer and
// work for an unknown email as for a wrong password, failures logged.
func (s *server) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if req.Email == "" || req.Password == "" {
		return badRequest("email and password are required")
	}
	name := strings.TrimSpace(req.TokenName)
	if name == "" {
		name = defaultTokenName
	}
	if len(name) > maxNameLength {
		return badRequest("token_name is longer than %d bytes", maxNameLength)
	}
	u, err := s.signin.Check(r.Context(), signin.Attempt{Email: req.Email, Password: req.Password, RemoteAddr: r.RemoteAddr, Via: "api"})
	switch {
	case errors.Is(err, signin.ErrInvalid):
		return &Error{Status: http.StatusUnauthorized, Code: CodeInvalidCredentials, Message: "wrong email or password"}
	case errors.Is(err, signin.ErrDisabled):
		return &Error{Status: http.StatusForbidden, Code: CodeAccountDisabled, Message: err.Error()}
	case err != nil:
		return fmt.Errorf("login: %w", err)
	}
	plain, _, err := s.newToken(r.Context(), u.ID, name, nil)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, struct {
		Token string   `json:"token"`
		User  userView `json:"user"`
	}{plain, viewUser(u)})
	return nil
}

// me answers the caller.
func (s *server) me(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, viewUser(caller(r)))
	return nil
}

// listUsers answers every user (admins only).
func (s *server) listUsers(w http.ResponseWriter, r *http.Request) error {
	users, err := s.store.ListUsers(r.Context())
	if err != nil {
		return fmt.Errorf("list users: %w", err)
	}
	out := make([]userView, 0, len(users))
	for _, u := range users {
		out = append(out, viewUser(u))
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
	return nil
}

// createUserRequest is POST /users' body.
type createUserRequest struct {
	Email    string `json:"email"`
	Name     string `json:"name"`
	Password string `json:"password"`
	Role     string `json:"role"`
}

// createUser adds a user (admins only).
func (s *server) createUser(w http.ResponseWriter, r *http.Request) error {
	var req createUserRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	u, err := s.addUser(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, viewUser(u))
	return nil
}

// addUser checks and adds a user (see createUser); a *Error says what
// is wrong with req.
func (s *server) addUser(ctx context.Context, req createUserRequest) (store.User, error) {
	email := strings.TrimSpace(req.Email)
	if addr, err := mail.ParseAddress(email); err != nil || addr.Address != email {
		return store.User{}, badRequest("email %q is not a valid address such as ann@example.com", req.Email)
	}
	name := strings.TrimSpace(req.Name)
	if len(name) > maxNameLength {
		return store.User{}, badRequest("name is longer than %d bytes", maxNameLength)
	}
	if req.Role != store.RoleAdmin && req.Role != store.RoleMaker {
		return store.User{}, badRequest("role must be %q or %q", store.RoleAdmin, store.RoleMaker)
	}
	hash, err := auth.HashPassword(req.Password)
	if errors.Is(err, auth.ErrPasswordTooShort) {
		return store.User{}, badRequest("password: %s", err.Error())
	}
	if err != nil {
		return store.User{}, fmt.Errorf("create user: %w", err)
	}
	u, err := s.store.CreateUser(ctx, store.User{Email: email, Name: name, PasswordHash: hash, Role: req.Role})
	if errors.Is(err, store.ErrConflict) {
		return store.User{}, &Error{Status: http.StatusConflict, Code: CodeConflict, Message: fmt.Sprintf("a user with email %q already exists", email)}
	}
	if err != nil {
		return store.User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// lookupUser finds the user a {user} path names, by id or by email.
func (s *server) lookupUser(r *http.Request) (store.User, error) {
	ref := r.PathValue("user")
	var (
		u   store.User
		err error
	)
	if id, perr := strconv.ParseInt(ref, 10, 64); perr == nil {
		u, err = s.store.GetUser(r.Context(), id)
	} else {
		u, err = s.store.GetUserByEmail(r.Context(), ref)
	}
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, notFound("user %q not found", ref)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("find user %q: %w", ref, err)
	}
	return u, nil
}

// disableUser disables a user (admins only): their tokens are refused and
// they cannot sign in from the next request on. Their flows keep running
// (docs/security.md says why). An admin cannot disable themselves, so
// that at least one admin stays enabled.
func (s *server) disableUser(w http.ResponseWriter, r *http.Request) error {
	return s.setUserDisabled(w, r, true)
}

// enableUser re-enables a disabled user (admins only); the tokens they had
// work again.
func (s *server) enableUser(w http.ResponseWriter, r *http.Request) error {
	return s.setUserDisabled(w, r, false)
}

func (s *server) setUserDisabled(w http.ResponseWriter, r *http.Request, disabled bool) error {
	u, err := s.lookupUser(r)
	if err != nil {
		return err
	}
	if u, err = s.setDisabled(r.Context(), caller(r), u, disabled); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewUser(u))
	return nil
}

// setDisabled disables or enables u for the admin by (see disableUser).
func (s *server) setDisabled(ctx context.Context, by, u store.User, disabled bool) (store.User, error) {
	if disabled && u.ID == by.ID {
		return store.User{}, &Error{Status: http.StatusConflict, Code: CodeConflict, Message: "you cannot disable your own account; ask another admin"}
	}
	u, err := s.store.SetUserDisabled(ctx, u.ID, disabled)
	if err != nil {
		return store.User{}, fmt.Errorf("set user %d disabled=%t: %w", u.ID, disabled, err)
	}
	s.log.InfoContext(ctx, "user disabled or enabled", "user", u.ID, "disabled", disabled, "by", by.ID)
	return u, nil
}

// resetPasswordRequest is POST /users/{user}/password's body: a new
// password, or generate to have the server make one.
type resetPasswordRequest struct {
	Password string `json:"password"`
	Generate bool   `json:"generate"`
}

// setPassword sets u's password for the admin by (see resetPassword):
// it returns the generated password, if req asked for one, and how many
// tokens it revoked.
func (s *server) setPassword(ctx context.Context, by, u store.User, req resetPasswordRequest) (generated string, revoked int, err error) {
	pw := req.Password
	if req.Generate {
		pw = auth.RandomPassword()
		generated = pw
	}
	hash, err := auth.HashPassword(pw)
	if errors.Is(err, auth.ErrPasswordTooShort) {
		return "", 0, badRequest("password: %s", err.Error())
	}
	if err != nil {
		return "", 0, fmt.Errorf("reset password of user %d: %w", u.ID, err)
	}
	if revoked, err = s.store.SetUserPassword(ctx, u.ID, hash); err != nil {
		return "", 0, fmt.Errorf("reset password of user %d: %w", u.ID, err)
	}
	s.log.InfoContext(ctx, "password reset", "user", u.ID, "by", by.ID, "revoked_tokens", revoked)
	return generated, revoked, nil
}

// resetPasswordResponse is POST /users/{user}/password's answer.
type resetPasswordResponse struct {
	User userView `json:"user"`
	// Password is the generated password, shown this once; omitted when
	// the admin chose it.
	Password string `json:"password,omitempty"`
	// RevokedTokens is how many of the user's tokens were deleted.
	RevokedTokens int `json:"revoked_tokens"`
}

// resetPassword sets a user's password (admins only) and deletes all the
// user's tokens: whoever signed in with the old password is signed out.
func (s *server) resetPassword(w http.ResponseWriter, r *http.Request) error {
	var req resetPasswordRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if (req.Password == "") == !req.Generate {
		return badRequest("send either password or generate: true")
	}
	u, err := s.lookupUser(r)
	if err != nil {
		return err
	}
	resp := resetPasswordResponse{}
	if resp.Password, resp.RevokedTokens, err = s.setPassword(r.Context(), caller(r), u, req); err != nil {
		return err
	}
	resp.User = viewUser(u)
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// Accounts is what the portal's settings and admin pages do with the
// API's own account logic: the same checks and the same store writes as
// POST /users, /users/{user}/disable, /users/{user}/password and /tokens.
// Its errors are *Error when the input is wrong.
type Accounts struct{ s *server }

// NewAccounts returns the account logic on c (its Store and Logger).
func NewAccounts(c Config) *Accounts { return Build(c).Accounts() }

// Accounts returns the portal's account logic (see NewAccounts).
func (a *Server) Accounts() *Accounts { return &Accounts{s: a.s} }

// CreateUser adds a user, as POST /users does.
func (a *Accounts) CreateUser(ctx context.Context, email, name, password, role string) (store.User, error) {
	return a.s.addUser(ctx, createUserRequest{Email: email, Name: name, Password: password, Role: role})
}

// SetDisabled disables or enables u for the admin by, as POST
// /users/{user}/disable and /enable do.
func (a *Accounts) SetDisabled(ctx context.Context, by, u store.User, disabled bool) (store.User, error) {
	return a.s.setDisabled(ctx, by, u, disabled)
}

// SetPassword sets u's password (a generated one when generate is true,
// returned) and deletes u's tokens and sessions, as POST
// /users/{user}/password does; it returns how many tokens it revoked.
func (a *Accounts) SetPassword(ctx context.Context, by, u store.User, password string, generate bool) (generated string, revoked int, err error) {
	return a.s.setPassword(ctx, by, u, resetPasswordRequest{Password: password, Generate: generate})
}

// CreateToken makes an API token for the user, as POST /tokens does;
// expiresAt is "" or an RFC 3339 time in the future. The plain token is
// returned to be shown once.
func (a *Accounts) CreateToken(ctx context.Context, userID int64, name, expiresAt string) (string, store.Token, error) {
	return a.s.addToken(ctx, userID, createTokenRequest{Name: name, ExpiresAt: expiresAt})
}
