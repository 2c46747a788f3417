// Package sample is the tiny service that Sluice serves under /sample/ so
// that a newcomer can try failure, diagnosis, fix and resubmit with
// nothing else installed: a staff directory in which one person has no
// manager (404), a payroll endpoint that needs a bearer token (401), and
// an endpoint that fails every other call (502). Flows reach it through
// Transport, in process, never through the network (docs/security.md).
package sample

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"sync/atomic"
)

// Prefix is the path under which the service answers.
const Prefix = "/sample/"

// Origin is the scheme and host the sample flows call. It is the same
// whatever the server's base URL, so that flows imported once keep
// reaching the sample service after the base URL changes (a new port, a
// name instead of localhost). The name is under .invalid (RFC 6761),
// which never resolves: with the samples off, a sample flow fails with
// "host not found" and reaches no one's server.
const Origin = "http://samples.sluice.invalid"

// Token is the bearer token the payroll endpoint accepts; the welcome page
// tells the user.
const Token = "sample-token"

// WrongToken is the token the sample connection starts with, so that the
// payroll sample fails with a 401 until the connection is fixed.
const WrongToken = "not-the-right-token"

// ConnectionName is the name of the sample flows' bearer connection.
const ConnectionName = "sample_payroll"

// person is an entry of the staff directory.
type person struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Title   string `json:"title"`
	Manager string `json:"manager,omitempty"`
}

// staff is the directory: grace has no manager.
var staff = map[string]person{
	"grace": {ID: "grace", Name: "Grace Hopper", Title: "Chief executive"},
	"ada":   {ID: "ada", Name: "Ada Lovelace", Title: "Head of engineering", Manager: "grace"},
	"alan":  {ID: "alan", Name: "Alan Turing", Title: "Engineer", Manager: "ada"},
}

// Service is the sample service. Its zero value is not usable; call New.
type Service struct {
	mux   *http.ServeMux
	calls atomic.Int64 // calls of /sample/flaky
}

// New returns the sample service.
func New() *Service {
	s := &Service{mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /sample/staff/{id}", s.person)
	s.mux.HandleFunc("GET /sample/staff/{id}/manager", s.manager)
	s.mux.HandleFunc("GET /sample/payroll", s.payroll)
	s.mux.HandleFunc("GET /sample/flaky", s.flaky)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		answer(w, http.StatusNotFound, map[string]string{"error": "no such sample endpoint: " + r.URL.Path})
	})
	return s
}

// ServeHTTP answers the sample endpoints.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Service) person(w http.ResponseWriter, r *http.Request) {
	p, ok := staff[r.PathValue("id")]
	if !ok {
		answer(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no person %q in the staff directory", r.PathValue("id"))})
		return
	}
	answer(w, http.StatusOK, p)
}

func (s *Service) manager(w http.ResponseWriter, r *http.Request) {
	p, ok := staff[r.PathValue("id")]
	if !ok {
		answer(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no person %q in the staff directory", r.PathValue("id"))})
		return
	}
	m, ok := staff[p.Manager]
	if !ok {
		answer(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("%s has no manager", p.Name)})
		return
	}
	answer(w, http.StatusOK, m)
}

func (s *Service) payroll(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+Token {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sample"`)
		answer(w, http.StatusUnauthorized, map[string]string{"error": "invalid or missing bearer token"})
		return
	}
	answer(w, http.StatusOK, map[string]any{"month": "2026-11", "people": len(staff), "total": 21450})
}

// flaky fails every other call, the first one included.
func (s *Service) flaky(w http.ResponseWriter, r *http.Request) {
	if s.calls.Add(1)%2 == 1 {
		answer(w, http.StatusBadGateway, map[string]string{"error": "the upstream did not answer, try again"})
		return
	}
	answer(w, http.StatusOK, map[string]string{"status": "ok"})
}

func answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Transport returns a RoundTripper that serves the requests for the
// sample service (scheme and host of Origin, or of base for flows that
// call the server's own address; a path under /sample/ once cleaned) with
// s, in process, and passes every other request to next.
// Only s answers them, so no other route of the server becomes reachable
// by a flow, and the network guard of next stays whole.
func (s *Service) Transport(base string, next http.RoundTripper) http.RoundTripper {
	return &transport{s: s, base: strings.TrimSuffix(base, "/"), next: next}
}

type transport struct {
	s    *Service
	base string
	next http.RoundTripper
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !t.serves(r) {
		return t.next.RoundTrip(r)
	}
	if r.Body != nil {
		defer r.Body.Close()
	}
	in := r.Clone(r.Context())
	in.URL.Path = path.Clean(r.URL.Path)
	rec := httptest.NewRecorder()
	t.s.ServeHTTP(rec, in)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// serves reports whether r is for the sample service.
func (t *transport) serves(r *http.Request) bool {
	if r.URL == nil {
		return false
	}
	origin := strings.ToLower(r.URL.Scheme + "://" + r.URL.Host)
	return (origin == Origin || (t.base != "" && origin == strings.ToLower(t.base))) && strings.HasPrefix(path.Clean(r.URL.Path), Prefix)
}

// Flows returns the sample flows' sources. Their names start with
// "Sample:", and they call the service at Origin, which Transport serves
// whatever the server's base URL.
func Flows() []string {
	base := Origin
	return []string{
		fmt.Sprintf(`# A sample flow: the payroll endpoint needs a bearer token. It fails
# with a 401 until the connection %[2]s has the token %[3]s.
name: "Sample: payroll (401)"
trigger: { type: manual }
actions:
  - id: get_payroll
    type: http
    retry: { policy: none }
    connection: %[2]s
    with:
      method: GET
      url: %[1]s/sample/payroll
`, base, ConnectionName, Token),
		fmt.Sprintf(`# A sample flow: Grace has no manager, so the directory answers 404.
# Edit the URL to ask for ada's or alan's manager instead.
name: "Sample: manager lookup (404)"
trigger: { type: manual }
actions:
  - id: get_manager
    type: http
    retry: { policy: none }
    with:
      method: GET
      url: %[1]s/sample/staff/grace/manager
`, base),
		fmt.Sprintf(`# A sample flow: this endpoint fails every other call with a 502.
# Resubmit the failed run and it succeeds.
name: "Sample: flaky service (502)"
trigger: { type: manual }
actions:
  - id: call_flaky
    type: http
    retry: { policy: none }
    with:
      method: GET
      url: %[1]s/sample/flaky
`, base),
	}
}
