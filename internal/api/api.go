// Package api serves Sluice's REST API under /api/v1 (docs/api.md is the
// contract, openapi.json describes it). Handlers return errors and one
// mapper (error.go) turns them into the JSON error shape, so that no
// handler writes an error response by hand and no internal error text
// reaches a client.
package api

import (
	"context"
	_ "embed"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sluice/sluice/internal/diagnose"
	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/help"
	"github.com/sluice/sluice/internal/mail"
	"github.com/sluice/sluice/internal/netguard"
	"github.com/sluice/sluice/internal/secret"
	"github.com/sluice/sluice/internal/signin"
	"github.com/sluice/sluice/internal/store"
)

// Prefix is where the API lives; New's handler answers only paths under it,
// so the server mounts it with mux.Handle(api.Prefix+"/", handler).
const Prefix = "/api/v1"

// DefaultMaxBody is the request body cap when Config.MaxBody is zero: the
// engine's payload cap, since a body becomes a run's trigger input.
const DefaultMaxBody = engine.DefaultMaxPayload

// Runner starts, cancels and resubmits runs, and queues bulk jobs. The
// engine implements it; the API only decides who may ask.
type Runner interface {
	// Start commits a new run of req.Flow and returns it.
	Start(ctx context.Context, req engine.StartRequest) (store.Run, error)
	// Cancel cancels a run that has not finished and returns it as it is
	// after the call.
	Cancel(ctx context.Context, runID int64) (store.Run, error)
	// Resubmit starts a run of orig's flow with the same trigger input and
	// reports whether it returned an unfinished run already resubmitted
	// from orig instead (unless opt.Force). It returns an error wrapping
	// engine.ErrFlowDisabled when the flow is off.
	Resubmit(ctx context.Context, orig store.Run, opt engine.ResubmitOptions) (store.Run, bool, error)
	// StartWebhook commits a run of the webhook flow f for trig and, when
	// the run will answer with its respond action, returns that answer to
	// wait for.
	StartWebhook(ctx context.Context, f store.Flow, trig engine.Trigger) (store.Run, *engine.Pending, error)
	// SubmitJob queues a bulk resubmit or cancel (kind store.JobResubmit
	// or store.JobCancel) owned by ownerID over the runs p selects.
	SubmitJob(ctx context.Context, ownerID int64, kind string, p engine.JobParams) (store.Job, error)
}

// Config is what New needs.
type Config struct {
	// Store keeps users, tokens, flows and runs. Required.
	Store store.Store
	// Runner starts and cancels runs. Required.
	Runner Runner
	// Logger receives unexpected errors with their request id. Defaults to
	// slog.Default().
	Logger *slog.Logger
	// BaseURL is the server's public URL without a trailing slash; a
	// webhook flow's webhook_url is BaseURL + "/hooks/" + its token.
	// Defaults to "" (a URL relative to the server).
	BaseURL string
	// WebhookBaseURL, when set, is the separate public origin of webhooks:
	// a webhook_url is WebhookBaseURL + "/hooks/" + its token, and a
	// respond action may set the headers that act on an origin (CORS,
	// Location, Refresh), which on the server's own origin it may not.
	// The server routes only webhooks to it. Defaults to "" (webhooks on
	// BaseURL).
	WebhookBaseURL string
	// MaxBody caps a request body in bytes; a larger body answers 413.
	// Defaults to DefaultMaxBody.
	MaxBody int64
	// WriteTimeout is the HTTP server's write timeout. Once a webhook's
	// body is read, its connection's read deadline is lifted and its write
	// deadline restarts at this much; a webhook that waits for its respond
	// action moves it to the end of the wait plus this much. So the wait
	// is not cut off, while every other request keeps the server's short
	// deadlines. Defaults to 0: the deadlines are left as they are.
	WriteTimeout time.Duration
	// Secrets seals connection secrets when they are saved and opens them
	// to list which are set and to verify a connection; it must be the
	// box the engine opens them with. Required for the /connections
	// routes, which answer 500 without it. Defaults to nil.
	Secrets *secret.Box
	// HTTPClient makes a connection's test request (POST
	// /connections/{conn}/verify) and fetches OAuth2 tokens for it; pass
	// the netguard client the engine uses, so that verify reaches only
	// what flows may reach. Defaults to a netguard client with the default
	// policy (no loopback, private or metadata addresses).
	HTTPClient *http.Client
	// SMTPDial connects verify to smtp connections' servers; it should be
	// the netguard dialer the engine uses. Defaults to a netguard dialer
	// with the default policy.
	SMTPDial mail.DialFunc
	// SignIn checks the passwords POST /login receives; pass the Checker
	// the email-link pages use, so that both count one client address
	// together. Defaults to a signin.Checker on Store with the default
	// limits.
	SignIn *signin.Checker
	// Help is the help center the /help routes search and the
	// support answers link from. Defaults to a center with the built-in
	// articles on Store, made by New.
	Help *help.Center
	// Catalog diagnoses what a connection's test request (POST
	// /connections/{conn}/verify) got back; pass the catalog the engine
	// diagnoses runs with (with SLUICE_CATALOG's entries), so that a test
	// request and a run that get the same answer are diagnosed the same.
	// Defaults to diagnose.Default().
	Catalog *diagnose.Catalog
}

// access says who may call a route.
type access int

const (
	// public routes need no token.
	public access = iota
	// user routes need a valid token.
	user
	// admin routes need a valid token of an admin.
	admin
)

// handlerFunc is what every API handler is: it writes a successful answer
// or returns an error for the mapper.
type handlerFunc func(s *server, w http.ResponseWriter, r *http.Request) error

// route is one API operation. The table below is the only list of routes:
// New registers it and the tests compare it with openapi.json.
type route struct {
	method string
	// path is relative to Prefix, with {name} wildcards as in ServeMux
	// patterns and OpenAPI paths.
	path   string
	access access
	handle handlerFunc
}

// routes is every operation of the API.
var routes = []route{
	{"POST", "/login", public, (*server).login},
	{"GET", "/openapi.json", public, (*server).openAPI},
	{"GET", "/me", user, (*server).me},
	{"GET", "/users", admin, (*server).listUsers},
	{"POST", "/users", admin, (*server).createUser},
	{"POST", "/users/{user}/disable", admin, (*server).disableUser},
	{"POST", "/users/{user}/enable", admin, (*server).enableUser},
	{"POST", "/users/{user}/password", admin, (*server).resetPassword},
	{"GET", "/tokens", user, (*server).listTokens},
	{"POST", "/tokens", user, (*server).createToken},
	{"DELETE", "/tokens/{id}", user, (*server).deleteToken},
	{"GET", "/flows", user, (*server).listFlows},
	{"POST", "/flows", user, (*server).saveFlow},
	{"POST", "/flows/check", user, (*server).checkFlow},
	{"GET", "/flows/{flow}", user, (*server).showFlow},
	{"DELETE", "/flows/{flow}", user, (*server).deleteFlow},
	{"POST", "/flows/{flow}/enable", user, (*server).enableFlow},
	{"POST", "/flows/{flow}/disable", user, (*server).disableFlow},
	{"GET", "/flows/{flow}/versions", user, (*server).listVersions},
	{"GET", "/flows/{flow}/versions/{version}", user, (*server).showVersion},
	{"POST", "/flows/{flow}/trigger", user, (*server).triggerFlow},
	{"GET", "/runs", user, (*server).listRuns},
	{"GET", "/runs/{id}", user, (*server).showRun},
	{"POST", "/runs/{id}/cancel", user, (*server).cancelRun},
	{"POST", "/runs/{id}/resubmit", user, (*server).resubmitRun},
	{"POST", "/runs/resubmit", user, (*server).bulkResubmit},
	{"POST", "/runs/cancel", user, (*server).bulkCancel},
	{"GET", "/jobs/{id}", user, (*server).showJob},
	{"GET", "/problems", user, (*server).listProblems},
	{"GET", "/notifications", user, (*server).listNotifications},
	{"POST", "/notifications/read", user, (*server).markNotificationsRead},
	{"GET", "/me/settings", user, (*server).showUserSettings},
	{"PUT", "/me/settings", user, (*server).updateUserSettings},
	{"GET", "/flows/{flow}/settings", user, (*server).showFlowSettings},
	{"PUT", "/flows/{flow}/settings", user, (*server).updateFlowSettings},
	{"GET", "/outbox", admin, (*server).listOutbox},
	{"GET", "/connections", user, (*server).listConnections},
	{"POST", "/connections", user, (*server).createConnection},
	{"GET", "/connections/{conn}", user, (*server).showConnection},
	{"PUT", "/connections/{conn}", user, (*server).updateConnection},
	{"DELETE", "/connections/{conn}", user, (*server).deleteConnection},
	{"POST", "/connections/{conn}/verify", user, (*server).verifyConnection},
	{"POST", "/connections/{conn}/authorize", user, (*server).authorizeConnection},
	{"GET", "/connections/{conn}/authorize/{id}", user, (*server).showAuthorization},
	{"GET", "/help", user, (*server).helpIndex},
	{"GET", "/help/search", user, (*server).searchHelp},
	{"GET", "/help/articles/{name}", user, (*server).showArticle},
	{"GET", "/support", user, (*server).listSupport},
	{"POST", "/support", user, (*server).createSupport},
	{"GET", "/support/{id}", user, (*server).showSupport},
	{"POST", "/support/{id}/answer", admin, (*server).answerSupport},
	{"POST", "/support/{id}/close", user, (*server).closeSupport},
}

// server holds what handlers share.
type server struct {
	store   store.Store
	runner  Runner
	log     *slog.Logger
	baseURL string
	// hookBaseURL starts webhook URLs: WebhookBaseURL, else baseURL.
	hookBaseURL string
	// hookOrigin says webhooks are served on their own origin, whose host
	// is hookHost.
	hookOrigin   bool
	hookHost     string
	maxBody      int64
	writeTimeout time.Duration
	// secrets seals and opens connection secrets; nil without Secrets.
	secrets *secret.Box
	// httpClient makes connections' test requests.
	httpClient *http.Client
	// smtpDial connects to smtp connections' servers.
	smtpDial mail.DialFunc
	// catalog diagnoses connections' test requests.
	catalog *diagnose.Catalog
	mux     *http.ServeMux
	// signin checks passwords, throttled.
	signin *signin.Checker
	// help is the help center; nil when it could not be made, and the
	// /help routes answer 500.
	help *help.Center
}

// NewWebhooks returns the handler of webhook triggers, which the server
// mounts at "/hooks/{token}". It shares the API's body cap and error
// mapper. With WebhookBaseURL it answers only requests for that URL's
// host; the others get a 404 that names it.
func NewWebhooks(c Config) http.Handler { return Build(c).Webhooks() }

// New returns the API handler. It serves every route of docs/api.md under
// Prefix and answers any other path with a JSON 404 or 405, so it can be
// mounted at "/api/" as well as at Prefix+"/".
func New(c Config) http.Handler { return Build(c).Handler() }

// Server is the API built once: its handler, its webhook handler, and the
// parts of its logic the portal calls (verify, save a flow, fix a
// connection, support, accounts), all on one route table, one sign-in
// checker and one help center. The New* functions build a Server each;
// a process that needs several parts builds one Server and takes them
// from it.
type Server struct{ s *server }

// Build builds the API on c.
func Build(c Config) *Server { return &Server{s: newServer(c)} }

// Handler returns the API handler (see New).
func (a *Server) Handler() http.Handler { return a.s.mux }

// Webhooks returns the webhook handler (see NewWebhooks).
func (a *Server) Webhooks() http.Handler {
	return a.s.wrap(route{access: public, handle: (*server).webhook})
}

// newServer builds the server and registers the route table.
func newServer(c Config) *server {
	s := &server{
		store:        c.Store,
		runner:       c.Runner,
		log:          c.Logger,
		baseURL:      c.BaseURL,
		hookBaseURL:  c.BaseURL,
		hookOrigin:   c.WebhookBaseURL != "",
		maxBody:      c.MaxBody,
		writeTimeout: c.WriteTimeout,
		secrets:      c.Secrets,
		httpClient:   c.HTTPClient,
		smtpDial:     c.SMTPDial,
		catalog:      c.Catalog,
		mux:          http.NewServeMux(),
		signin:       c.SignIn,
		help:         c.Help,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.signin == nil {
		s.signin = signin.New(signin.Config{Store: c.Store, Logger: s.log})
	}
	if s.help == nil && c.Store != nil {
		h, err := help.New(context.Background(), help.Config{Store: c.Store, BaseURL: c.BaseURL})
		if err != nil {
			s.log.Error("help center", "err", err)
		}
		s.help = h
	}
	if s.hookOrigin {
		s.hookBaseURL = strings.TrimSuffix(c.WebhookBaseURL, "/")
		if u, err := url.Parse(s.hookBaseURL); err == nil {
			s.hookHost = u.Hostname()
		}
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBody
	}
	if s.smtpDial == nil {
		s.smtpDial = netguard.NewDialer(netguard.Options{}).DialContext
	}
	if s.httpClient == nil {
		s.httpClient = netguard.NewClient(netguard.Options{})
	}
	if s.catalog == nil {
		s.catalog = diagnose.Default()
	}
	for _, rt := range routes {
		s.mux.Handle(rt.method+" "+Prefix+rt.path, s.wrap(rt))
	}
	s.mux.Handle("/", s.wrap(route{access: public, handle: (*server).noRoute}))
	return s
}

// wrap turns a route into an http.Handler: it caps the body, checks the
// caller's token and role, recovers a panic, and maps the handler's error.
func (s *server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		r.Body = http.MaxBytesReader(w, r.Body, s.maxBody)
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.writeError(w, r, panicError{v})
			}
		}()
		if err := s.serve(rt, w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// serve checks the query, authenticates and authorizes the caller, then
// runs the handler.
func (s *server) serve(rt route, w http.ResponseWriter, r *http.Request) error {
	if rt.path != "" {
		// An API route; a webhook's query is the flow's to read.
		if err := checkQuery(r); err != nil {
			return err
		}
	}
	if rt.access == public {
		return rt.handle(s, w, r)
	}
	u, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if rt.access == admin && u.Role != store.RoleAdmin {
		return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: "only an admin may do this"}
	}
	return rt.handle(s, w, r.WithContext(context.WithValue(r.Context(), callerKey{}, u)))
}

// noRoute answers a path under Prefix that no route serves: 405 with Allow
// when the path exists for other methods, 404 otherwise.
func (s *server) noRoute(w http.ResponseWriter, r *http.Request) error {
	var allowed []string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/" && pattern != "" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		for _, m := range allowed {
			w.Header().Add("Allow", m)
		}
		return &Error{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed, Message: r.Method + " is not allowed on " + r.URL.Path}
	}
	return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no such route: " + r.Method + " " + r.URL.Path}
}

//go:embed openapi.json
var openAPIDocument []byte

// openAPI serves the embedded OpenAPI document.
func (s *server) openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, err := w.Write(openAPIDocument)
	return err
}
