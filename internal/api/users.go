package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"

	"github.com/sluice/sluice/internal/auth"
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

// login checks an email and password and answers a new API token. An
// unknown email and a wrong password give the same answer and take about
// the same time (a dummy hash is checked for an unknown email), so that
// login does not reveal which emails have accounts.
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
	invalid := &Error{Status: http.StatusUnauthorized, Code: CodeInvalidCredentials, Message: "wrong email or password"}
	u, err := s.store.GetUserByEmail(r.Context(), strings.TrimSpace(req.Email))
	if errors.Is(err, store.ErrNotFound) {
		dummy, herr := s.dummyHash()
		if herr != nil {
			return fmt.Errorf("login: make dummy hash: %w", herr)
		}
		auth.CheckPassword(dummy, req.Password)
		return invalid
	}
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	if !auth.CheckPassword(u.PasswordHash, req.Password) {
		return invalid
	}
	plain, _, err := s.newToken(r, u.ID, name)
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
