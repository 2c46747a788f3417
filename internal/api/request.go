package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/sluice/sluice/internal/auth"
	"github.com/sluice/sluice/internal/flow"
	"github.com/sluice/sluice/internal/store"
)

// callerKey is the context key of the authenticated user.
type callerKey struct{}

// caller returns the user the request was authenticated as. Only routes
// with user or admin access have one.
func caller(r *http.Request) store.User {
	u, _ := r.Context().Value(callerKey{}).(store.User)
	return u
}

// isAdmin reports whether the caller is an admin.
func isAdmin(u store.User) bool { return u.Role == store.RoleAdmin }

// authenticate finds the user behind the request's bearer token.
func (s *server) authenticate(r *http.Request) (store.User, error) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return store.User{}, &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized,
			Message: "missing bearer token: send Authorization: Bearer <token> (see sluice login)"}
	}
	_, u, err := s.store.GetTokenByHash(r.Context(), auth.HashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized,
			Message: "invalid or revoked token"}
	}
	if err != nil {
		return store.User{}, fmt.Errorf("authenticate: %w", err)
	}
	return u, nil
}

// decodeJSON reads the request body, which must hold exactly one JSON
// object, into dst. Unknown fields, bad JSON, wrong types and nesting
// deeper than flow.MaxInputNesting are 400s that name the field, the offset
// or the line and column; an oversized body is left for the mapper
// (413). When optional is true an empty body leaves dst as it is.
func decodeJSON(r *http.Request, dst any, optional bool) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return fmt.Errorf("read request body: %w", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return badRequest("request body is empty: send a JSON object")
	}
	if err := flow.CheckDepth(body, flow.MaxInputNesting); err != nil {
		return badRequest("request body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("invalid JSON at offset %d: the body must hold a single JSON object", dec.InputOffset())
	}
	return nil
}

// jsonError turns a decoding error into a 400 that names what is wrong.
func jsonError(err error) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return badRequest("invalid JSON at offset %d: %s", syntax.Offset, syntax.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("invalid JSON: the body ends too early")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return badRequest("the body must be a JSON object, not %s", typ.Value)
		}
		return badRequest("field %q must be %s, not %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no typed error for unknown fields.
		return badRequest("%s", strings.TrimPrefix(err.Error(), "json: "))
	default:
		return badRequest("invalid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
}

// jsonKind names a Go kind in JSON terms.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "a number"
	case "slice", "array":
		return "an array"
	default:
		return "an object"
	}
}

// pathID reads a numeric path value such as {id}.
func pathID(r *http.Request, name string) (int64, error) {
	v := r.PathValue(name)
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest("%s %q is not a positive integer", name, v)
	}
	return id, nil
}

// lookupFlow resolves a {flow} path or query value: a number is a flow id,
// anything else the caller's flow with that name. A flow the caller may
// not see is not found, so that its existence does not leak.
func (s *server) lookupFlow(ctx context.Context, u store.User, ref string) (store.Flow, error) {
	return lookupOwned(ctx, u, ref, "flow", s.store.GetFlow, s.store.GetFlowByName, func(f store.Flow) int64 { return f.OwnerID })
}

// lookupOwned resolves a reference to an owned record (a flow, a
// connection): a number is its id, anything else the name of one of the
// caller's. A record of another owner is not found unless the caller is
// an admin.
func lookupOwned[T any](ctx context.Context, u store.User, ref, what string,
	byID func(context.Context, int64) (T, error),
	byName func(context.Context, int64, string) (T, error),
	owner func(T) int64,
) (T, error) {
	var zero T
	if ref == "" {
		return zero, badRequest("%s is empty: give a %s id or name", what, what)
	}
	var (
		v   T
		err error
	)
	if id, perr := strconv.ParseInt(ref, 10, 64); perr == nil {
		v, err = byID(ctx, id)
		if err == nil && !isAdmin(u) && owner(v) != u.ID {
			err = store.ErrNotFound
		}
	} else {
		v, err = byName(ctx, u.ID, ref)
	}
	if errors.Is(err, store.ErrNotFound) {
		return zero, notFound("%s %q not found", what, ref)
	}
	if err != nil {
		return zero, fmt.Errorf("look up %s %q: %w", what, ref, err)
	}
	return v, nil
}

// lookupRun loads the run named by the {id} path value, if the caller may
// see it.
func (s *server) lookupRun(r *http.Request) (store.Run, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return store.Run{}, err
	}
	u := caller(r)
	run, err := s.store.GetRun(r.Context(), id)
	if err == nil && !isAdmin(u) && run.OwnerID != u.ID {
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) {
		return store.Run{}, notFound("run %d not found", id)
	}
	if err != nil {
		return store.Run{}, fmt.Errorf("look up run %d: %w", id, err)
	}
	return run, nil
}
