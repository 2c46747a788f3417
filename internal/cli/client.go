package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// apiPrefix is where the REST API lives under a server's URL.
const apiPrefix = "/api/v1"

// client calls the REST API of one server with one token.
type client struct {
	base  string // server URL without a trailing slash
	token string
	http  *http.Client
}

// apiError is an error answer of the API:
// {"error": {"code", "message", "details"}}.
type apiError struct {
	// Status is the HTTP status code.
	Status int
	// Code is the API's error code, such as not_found or invalid_flow.
	Code string
	// Message is the server's explanation.
	Message string
	// Problems are the details of an invalid_flow answer.
	Problems []problem
	// File, when set, is the flow file the Problems are in; they are
	// then printed as FILE:LINE:COL: path: message.
	File string
}

func (e *apiError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = fmt.Sprintf("server answered %d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Status == http.StatusUnauthorized {
		msg += " (log in again with 'sluice login', or check SLUICE_TOKEN)"
	}
	return msg
}

// problem is one thing wrong with a flow definition, as the API and
// flow.Parse report it.
type problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
}

// String formats the problem as "path (line N): message", or "line N,
// column C: message" for one that has no path (a YAML syntax error).
func (p problem) String() string {
	switch {
	case p.Path == "" && p.Line > 0:
		return fmt.Sprintf("line %d, column %d: %s", p.Line, p.Column, p.Message)
	case p.Line > 0:
		return fmt.Sprintf("%s (line %d): %s", p.Path, p.Line, p.Message)
	case p.Path == "":
		return p.Message
	}
	return fmt.Sprintf("%s: %s", p.Path, p.Message)
}

// do sends a request to path (under /api/v1) with in as its JSON body
// when not nil, and decodes a successful answer into out when not nil. It
// returns the status code, or an *apiError for an error answer.
func (c *client) do(ctx context.Context, method, path string, query url.Values, in, out any) (int, error) {
	u := c.base + apiPrefix + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, fmt.Errorf("encoding request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "sluice-cli")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("interrupted: %w", ctx.Err())
		}
		return 0, fmt.Errorf("cannot reach server %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("reading answer of %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, decodeAPIError(resp.StatusCode, data)
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("server answered %s %s with invalid JSON: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// decodeAPIError reads an error answer; a body that is not the API's error
// shape (a proxy's HTML page, say) still gives a readable error.
func decodeAPIError(status int, data []byte) error {
	var env struct {
		Error struct {
			Code    string          `json:"code"`
			Message string          `json:"message"`
			Details json.RawMessage `json:"details"`
		} `json:"error"`
	}
	e := &apiError{Status: status}
	if json.Unmarshal(data, &env) == nil {
		e.Code = env.Error.Code
		e.Message = env.Error.Message
		if len(env.Error.Details) > 0 {
			var ps []problem
			if json.Unmarshal(env.Error.Details, &ps) == nil {
				e.Problems = ps
			}
		}
	}
	return e
}

// client returns an API client for the configured server and token, or an
// error telling how to log in when either is missing.
func (a *app) client() (*client, error) {
	conn, err := a.resolveConnection()
	if err != nil {
		return nil, err
	}
	if conn.Server == "" {
		return nil, errors.New("no server configured: log in with 'sluice login --server URL --email EMAIL --password-stdin', " +
			"or set SLUICE_SERVER and SLUICE_TOKEN (or pass --server and --token)")
	}
	if conn.Token == "" {
		return nil, fmt.Errorf("no token for server %s: log in with 'sluice login --server %s --email EMAIL --password-stdin', "+
			"or set SLUICE_TOKEN (or pass --token)", conn.Server, conn.Server)
	}
	return a.newClient(conn.Server, conn.Token), nil
}

func (a *app) newClient(server, token string) *client {
	return &client{
		base:  server,
		token: token,
		http:  &http.Client{Transport: a.transport, Timeout: 2 * time.Minute},
	}
}

// normalizeServer checks a server URL and returns it without a trailing
// slash, so that the saved login matches however the URL was typed.
func normalizeServer(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if !strings.Contains(raw, "://") {
		// 127.0.0.1:8080 does not parse, and localhost:8080 parses as
		// the scheme "localhost": say what is missing instead.
		return "", fmt.Errorf("server URL %q has no scheme: write http://%s (or https://%s)", raw, raw, raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("server URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("server URL %q must look like http://HOST:PORT or https://HOST", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("server URL %q must not have a query or fragment", raw)
	}
	u.Path = strings.TrimSuffix(strings.TrimRight(u.Path, "/"), apiPrefix)
	u.RawPath = ""
	return strings.TrimRight(u.String(), "/"), nil
}

// pathFlow is the API path of a flow given by id or name.
func pathFlow(flow string) string {
	return "/flows/" + url.PathEscape(flow)
}

// pathRun is the API path of a run.
func pathRun(id string) string {
	return "/runs/" + url.PathEscape(id)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// fetch GETs path. With asJSON it prints the answer as the server gave it
// (stable snake_case fields) and reports that it printed; otherwise it
// decodes the answer into v for a table. doing says what the call is for
// in errors, what names the kind of answer.
func (a *app) fetch(ctx context.Context, c *client, path, doing, what string, asJSON bool, v any) (bool, error) {
	var raw json.RawMessage
	if _, err := c.do(ctx, http.MethodGet, path, nil, nil, &raw); err != nil {
		return false, fmt.Errorf("%s: %w", doing, err)
	}
	if asJSON {
		return true, printJSON(a.stdout, raw)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("server answered with an unexpected %s: %w", what, err)
	}
	return false, nil
}
