package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sluice/sluice/internal/auth"
	"github.com/sluice/sluice/internal/store"
)

// newToken makes a token for the user, expiring at expires unless it is
// nil, stores its hash and returns the plain token, which is shown once
// and never again.
func (s *server) newToken(ctx context.Context, userID int64, name string, expires *time.Time) (string, store.Token, error) {
	plain, hash, err := auth.NewToken()
	if err != nil {
		return "", store.Token{}, fmt.Errorf("new token: %w", err)
	}
	t, err := s.store.CreateToken(ctx, store.Token{UserID: userID, Name: name, Hash: hash, ExpiresAt: expires})
	if err != nil {
		return "", store.Token{}, fmt.Errorf("new token: %w", err)
	}
	return plain, t, nil
}

// listTokens answers the caller's tokens, without their secrets.
func (s *server) listTokens(w http.ResponseWriter, r *http.Request) error {
	tokens, err := s.store.ListTokens(r.Context(), caller(r).ID)
	if err != nil {
		return fmt.Errorf("list tokens: %w", err)
	}
	out := make([]tokenView, 0, len(tokens))
	for _, t := range tokens {
		out = append(out, viewToken(t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
	return nil
}

// createTokenRequest is POST /tokens' body.
type createTokenRequest struct {
	Name string `json:"name"`
	// ExpiresAt, when set, is when the token stops working (RFC 3339);
	// it must be in the future.
	ExpiresAt string `json:"expires_at"`
}

// createToken makes a token for the caller and answers its secret, the
// only time it is shown.
func (s *server) createToken(w http.ResponseWriter, r *http.Request) error {
	var req createTokenRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	plain, t, err := s.addToken(r.Context(), caller(r).ID, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, struct {
		Token     string     `json:"token"`
		ID        int64      `json:"id"`
		Name      string     `json:"name"`
		CreatedAt time.Time  `json:"created_at"`
		ExpiresAt *time.Time `json:"expires_at"`
	}{plain, t.ID, t.Name, t.CreatedAt, t.ExpiresAt})
	return nil
}

// addToken checks req and makes the token (see createToken); a *Error
// says what is wrong with req.
func (s *server) addToken(ctx context.Context, userID int64, req createTokenRequest) (string, store.Token, error) {
	name := strings.TrimSpace(req.Name)
	if name == "" {
		return "", store.Token{}, badRequest("name is required")
	}
	if len(name) > maxNameLength {
		return "", store.Token{}, badRequest("name is longer than %d bytes", maxNameLength)
	}
	var expires *time.Time
	if req.ExpiresAt != "" {
		at, err := time.Parse(time.RFC3339, req.ExpiresAt)
		if err != nil {
			return "", store.Token{}, badRequest("expires_at %q is not an RFC 3339 time such as 2030-01-31T00:00:00Z", req.ExpiresAt)
		}
		if !at.After(time.Now()) {
			return "", store.Token{}, badRequest("expires_at %s is not in the future", at.UTC().Format(time.RFC3339))
		}
		expires = &at
	}
	return s.newToken(ctx, userID, name, expires)
}

// deleteToken revokes one of the caller's tokens.
func (s *server) deleteToken(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	err = s.store.DeleteToken(r.Context(), caller(r).ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("token %d not found", id)
	}
	if err != nil {
		return fmt.Errorf("delete token %d: %w", id, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
