package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

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
	t, u, err := s.store.GetTokenByHash(r.Context(), auth.HashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized,
			Message: "invalid or revoked token"}
	}
	if err != nil {
		return store.User{}, fmt.Errorf("authenticate: %w", err)
	}
	// Both are read from the database on every request (there is no
	// cache), so that an expiry or a disable takes effect at once on
	// every node.
	if t.Expired(time.Now()) {
		return store.User{}, &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized,
			Message: fmt.Sprintf("token %q expired on %s: create a new one (sluice login, or sluice tokens create)", t.Name, t.ExpiresAt.UTC().Format(time.RFC3339))}
	}
	if u.DisabledAt != nil {
		return store.User{}, &Error{Status: http.StatusUnauthorized, Code: CodeAccountDisabled,
			Message: "this account is disabled; ask an administrator"}
	}
	return u, nil
}

// readBody reads the request body, which wrap caps at the server's
// MaxBody. It is the one place handlers read a body: an oversized body is
// an error wrapping *http.MaxBytesError, which the mapper answers 413
// too_large, and a body that breaks off is a 400.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, fmt.Errorf("read request body: %w", err)
	case err != nil:
		return nil, badRequest("the request body could not be read: %v", err)
	}
	return body, nil
}

// decodeJSON reads the request body, which must hold exactly one JSON
// object, into dst. It is the one place a JSON body is decoded, so every
// rule of a JSON request body lives here:
//   - a non-empty body must be sent as application/json (a charset, if
//     given, must be utf-8), else 415 unsupported_media_type;
//   - unknown fields, bad JSON, wrong types and nesting deeper than
//     flow.MaxInputNesting are 400s that name the field, the offset or the
//     line and column, and a number out of an integer field's range says so;
//   - null is refused wherever it appears (a 400 that names the field),
//     except in a field whose Go field is tagged nullable:"true", which
//     takes any JSON value; absent is the only way to say "not given";
//   - an oversized body is left for the mapper (413).
//
// When optional is true an empty body leaves dst as it is.
func decodeJSON(r *http.Request, dst any, optional bool) error {
	ctErr := checkJSONContentType(r.Header.Get("Content-Type"))
	if ctErr != nil && r.ContentLength > 0 {
		// Refused before a byte of the body is read.
		return ctErr
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return badRequest("request body is empty: send a JSON object")
	}
	if ctErr != nil {
		return ctErr
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
	return refuseNulls(body, reflect.TypeOf(dst))
}

// checkJSONContentType returns a 415 unless the Content-Type is
// application/json, with at most a charset parameter of utf-8 (JSON is
// UTF-8, RFC 8259). Suffix types such as application/merge-patch+json are
// refused too: the API reads plain JSON only, and an OpenAPI document
// cannot list a +json range.
func checkJSONContentType(ct string) error {
	unsupported := func(format string, args ...any) error {
		return &Error{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedMedia, Message: fmt.Sprintf(format, args...)}
	}
	if strings.TrimSpace(ct) == "" {
		return unsupported("the request has a body but no Content-Type: send Content-Type: application/json")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return unsupported("Content-Type %q is not supported: send the body as application/json", ct)
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return unsupported("Content-Type %q is not supported: JSON is UTF-8; send application/json or application/json; charset=utf-8", ct)
		}
	}
	return nil
}

// refuseNulls returns a 400 naming the first null in body, a JSON value
// decoded into a value of type t, that is not inside a struct field tagged
// nullable:"true". Bodies without the word null are not walked.
func refuseNulls(body []byte, t reflect.Type) error {
	if !bytes.Contains(body, []byte("null")) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	return walkNulls(dec, t, "")
}

// walkNulls reads one JSON value from dec; t is the Go type it was decoded
// into (nil when unknown: inside a json.RawMessage or an interface, where
// no null is allowed either) and path names it for the message. The body
// has decoded once already, so a read error cannot happen; it ends the
// walk.
func walkNulls(dec *json.Decoder, t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return nil
	}
	switch tok {
	case nil:
		if path == "" {
			return badRequest("the body must be a JSON object, not null")
		}
		return badRequest("field %q: null is not allowed: leave the field out instead", path)
	case json.Delim('{'):
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return nil
			}
			name, _ := key.(string)
			ft, nullable := jsonField(t, name)
			sub := name
			if path != "" {
				sub = path + "." + name
			}
			if nullable {
				var skip json.RawMessage
				if dec.Decode(&skip) != nil {
					return nil
				}
				continue
			}
			if err := walkNulls(dec, ft, sub); err != nil {
				return err
			}
		}
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && t != rawMessageType {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := walkNulls(dec, elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	default:
		return nil
	}
	_, _ = dec.Token() // the closing delimiter
	return nil
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// jsonField returns the type of the field of t (a struct or a map) that
// the JSON key name decodes into, matched as encoding/json matches it, and
// whether that field is tagged nullable:"true". Anything else is nil.
func jsonField(t reflect.Type, name string) (reflect.Type, bool) {
	if t == nil {
		return nil, false
	}
	switch t.Kind() {
	case reflect.Map:
		return t.Elem(), false
	case reflect.Struct:
	default:
		return nil, false
	}
	var fold *reflect.StructField
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" || !f.IsExported() {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		if tag == name {
			return f.Type, f.Tag.Get("nullable") == "true"
		}
		if fold == nil && strings.EqualFold(tag, name) {
			fold = &f
		}
	}
	if fold != nil {
		return fold.Type, fold.Tag.Get("nullable") == "true"
	}
	return nil, false
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
		if num, ok := strings.CutPrefix(typ.Value, "number "); ok && isInteger(typ.Type.Kind()) {
			lo, hi := integerRange(typ.Type)
			return badRequest("field %q must be an integer from %s to %s, not %s", typ.Field, lo, hi, num)
		}
		return badRequest("field %q must be %s, not %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no typed error for unknown fields.
		return badRequest("%s", strings.TrimPrefix(err.Error(), "json: "))
	default:
		return badRequest("invalid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
}

// isInteger reports whether k is an integer kind.
func isInteger(k reflect.Kind) bool {
	return reflect.Int <= k && k <= reflect.Uint64
}

// integerRange returns the smallest and largest value of the integer
// type t, in decimal.
func integerRange(t reflect.Type) (string, string) {
	bits := uint(t.Bits())
	if t.Kind() >= reflect.Uint {
		return "0", new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), bits), big.NewInt(1)).String()
	}
	hi := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), bits-1), big.NewInt(1))
	return new(big.Int).Neg(new(big.Int).Add(hi, big.NewInt(1))).String(), hi.String()
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

// checkQuery refuses a query parameter given with an empty value, such as
// ?status=, for every route: no parameter of the API takes an empty value,
// and taking it for absent would hide a client's mistake.
func checkQuery(r *http.Request) error {
	for name, values := range r.URL.Query() {
		if slices.Contains(values, "") {
			return badRequest("query parameter %q is empty: give a value or leave the parameter out", name)
		}
	}
	return nil
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
		if err == nil && !u.Owns(owner(v)) {
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
	if err == nil && !u.Owns(run.OwnerID) {
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
