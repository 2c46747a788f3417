package api

import (
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
	plain, _, err := s.newToken(r, u.ID, name, nil)
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
	email := strings.TrimSpace(req.Email)
	if addr, err := mail.ParseAddress(email); err != nil || addr.Address != email {
		return badRequest("email %q is not a valid address such as ann@example.com", req.Email)
	}
	name := strings.TrimSpace(req.Name)
	if len(name) > maxNameLength {
		return badRequest("name is longer than %d bytes", maxNameLength)
	}
	if req.Role != store.RoleAdmin && req.Role != store.RoleMaker {
		return badRequest("role must be %q or %q", store.RoleAdmin, store.RoleMaker)
	}
	hash, err := auth.HashPassword(req.Password)
	if errors.Is(err, auth.ErrPasswordTooShort) {
		return badRequest("password: %s", err.Error())
	}
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	u, err := s.store.CreateUser(r.Context(), store.User{Email: email, Name: name, PasswordHash: hash, Role: req.Role})
	if errors.Is(err, store.ErrConflict) {
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: fmt.Sprintf("a user with email %q already exists", email)}
	}
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	writeJSON(w, http.StatusCreated, viewUser(u))
	return nil
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
	if disabled && u.ID == caller(r).ID {
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: "you cannot disable your own account; ask another admin"}
	}
	u, err = s.store.SetUserDisabled(r.Context(), u.ID, disabled)
	if err != nil {
		return fmt.Errorf("set user %d disabled=%t: %w", u.ID, disabled, err)
	}
	s.log.InfoContext(r.Context(), "user disabled or enabled", "user", u.ID, "disabled", disabled, "by", caller(r).ID)
	writeJSON(w, http.StatusOK, viewUser(u))
	return nil
}

// resetPasswordRequest is POST /users/{user}/password's body: a new
// password, or generate to have the server make one.
type resetPasswordRequest struct {
	Password string `json:"password"`
	Generate bool   `json:"generate"`
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
	pw := req.Password
	if req.Generate {
		pw = auth.RandomPassword()
		resp.Password = pw
	}
	hash, err := auth.HashPassword(pw)
	if errors.Is(err, auth.ErrPasswordTooShort) {
		return badRequest("password: %s", err.Error())
	}
	if err != nil {
		return fmt.Errorf("reset password of user %d: %w", u.ID, err)
	}
	if resp.RevokedTokens, err = s.store.SetUserPassword(r.Context(), u.ID, hash); err != nil {
		return fmt.Errorf("reset password of user %d: %w", u.ID, err)
	}
	s.log.InfoContext(r.Context(), "password reset", "user", u.ID, "by", caller(r).ID, "revoked_tokens", resp.RevokedTokens)
	resp.User = viewUser(u)
	writeJSON(w, http.StatusOK, resp)
	return nil
}
