package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluice/sluice/internal/api"
	"github.com/sluice/sluice/internal/connection"
	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/signin"
	"github.com/sluice/sluice/internal/store"
)

//go:embed static
var staticFS embed.FS

// portalPages are the portal's templates, each parsed with the portal
// layout once at start-up.
var portalPages = func() map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, name := range []string{"signin", "home", "flows", "flow", "runs", "run", "confirm", "connections", "connection", "activity", "error",
		"flowedit", "flowdiff", "flowdelete", "job", "fix", "problems", "problem", "settings", "users", "outbox",
		"help", "article", "ask", "support", "welcome", "oauth"} {
		out[name] = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS,
			"templates/portal/layout.html", "templates/portal/parts.html", "templates/portal/"+name+".html"))
	}
	return out
}()

// Runner is what the portal asks of the engine: the resubmit path the API
// uses.
type Runner interface {
	// Resubmit starts a run of orig's flow with the same trigger input
	// (see engine.Engine.Resubmit).
	Resubmit(ctx context.Context, orig store.Run, opt engine.ResubmitOptions) (store.Run, bool, error)
	// Start starts a run (see engine.Engine.Start); Run now uses it as
	// the API's trigger does.
	Start(ctx context.Context, req engine.StartRequest) (store.Run, error)
	// SubmitJob queues a bulk resubmit or cancel (see
	// engine.Engine.SubmitJob), as POST /api/v1/runs/resubmit does.
	SubmitJob(ctx context.Context, ownerID int64, kind string, p engine.JobParams) (store.Job, error)
}

// ConnectionFixer is what the connection page asks of the API's
// connection logic (api.ConnectionFixer).
type ConnectionFixer interface {
	// SecretFields names the secret fields of the connection's type.
	SecretFields(c store.Connection) []string
	// Fix replaces the secret fields given and marks the connection
	// unverified; an *api.Error says what is wrong with them.
	Fix(ctx context.Context, c store.Connection, secret map[string]string) (store.Connection, error)
	// FlowsUsing returns the flows whose latest version uses c.
	FlowsUsing(ctx context.Context, c store.Connection) ([]store.Flow, error)
	// SignsIn reports whether c is an OAuth2 connection a person signs
	// in to, and the origin of its provider's sign-in page.
	SignsIn(c store.Connection) (bool, string)
	// Authorize starts u's sign-in to c and returns the provider address
	// to send the browser to; an *api.Error says why c cannot be.
	Authorize(ctx context.Context, u store.User, c store.Connection) (string, error)
	// CompleteAuthorization handles the provider's redirect back;
	// sessionUser is the browser's portal user, 0 without a session.
	CompleteAuthorization(ctx context.Context, q url.Values, sessionUser int64) api.AuthorizationResult
	// Create stores u's new connection as POST /api/v1/connections
	// does; an *api.Error says what is wrong (CodeConflict: u has one
	// of that name).
	Create(ctx context.Context, u store.User, name string, spec connection.Spec) (store.Connection, error)
}

// PortalConfig configures the portal.
type PortalConfig struct {
	// Store reads and writes users, flows, runs and connections. Required.
	Store store.Store
	// Sessions signs browsers in. Required.
	Sessions *Sessions
	// Runner resubmits runs. Required.
	Runner Runner
	// SaveFlow saves definitions as the API does (api.NewFlowSaver).
	// Required.
	SaveFlow FlowSaver
	// Verify checks a connection's credentials with its test request and
	// records its health, as POST /api/v1/connections/{conn}/verify does
	// (api.NewVerifier); it returns a reason the check cannot be made, or
	// "" once the health is recorded. Defaults to nil: the connection page
	// offers no Verify.
	Verify func(ctx context.Context, c store.Connection) (string, error)
	// Connections fixes connections with the API's logic
	// (api.NewConnectionFixer): Fix connection and the flows using one.
	// Defaults to nil: the connection page offers no Fix connection.
	Connections ConnectionFixer
	// Accounts creates users and tokens and sets passwords with the
	// API's logic. Defaults to api.NewAccounts on Store and Logger.
	Accounts *api.Accounts
	// Support is the help center and the API's support-request logic
	// (api.NewSupport): Self help, Ask for help and the support pages.
	// Defaults to api.NewSupport on Store, BaseURL and Logger.
	Support *api.Support
	// SignIn checks passwords, throttled; pass the API's Checker so that
	// both count one client address together. Defaults to a
	// signin.Checker on Store with the default limits.
	SignIn *signin.Checker
	// SearchWindow is how many run ids one page of the run history
	// covers when it searches text in trigger inputs (a LIKE over the
	// input of each run the other filters leave): a page that finds too
	// little in one window offers to go on below it, so that no request
	// reads every run. Defaults to 20,000.
	SearchWindow int64
	// SampleBaseURL is the base URL of the sample service
	// (internal/sample) that the engine's HTTP client reaches, such as
	// http://localhost:8080. When set, with Connections, a user with no
	// flow gets the welcome page that imports the sample flows. Defaults
	// to "": no welcome page.
	SampleBaseURL string
	// BaseURL is the server's public URL. Defaults to "".
	BaseURL string
	// WebhookBaseURL starts webhook URLs when webhooks have their own
	// origin. Defaults to BaseURL.
	WebhookBaseURL string
	// Logger receives errors. Defaults to slog.Default().
	Logger *slog.Logger
}

// maxPortalForm caps a portal form's body.
const maxPortalForm = 64 << 10

// portal serves the pages.
type portal struct {
	cfg PortalConfig
	st  store.Store
	log *slog.Logger
	now func() time.Time
}

// call is what a signed-in page handler gets beyond the request.
type call struct {
	signedIn
	// unread is the bell's count.
	unread int
}

// pageFunc is a signed-in page handler: it writes a page or returns an
// error for the one mapper.
type pageFunc func(w http.ResponseWriter, r *http.Request, c *call) error

// NewPortal returns the portal's handler; the server mounts it at "/".
// Every page but the sign-in form needs a session, and every POST a
// valid CSRF token.
func NewPortal(cfg PortalConfig) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SignIn == nil {
		cfg.SignIn = signin.New(signin.Config{Store: cfg.Store, Logger: cfg.Logger})
	}
	if cfg.Accounts == nil {
		cfg.Accounts = api.NewAccounts(api.Config{Store: cfg.Store, Logger: cfg.Logger, SignIn: cfg.SignIn})
	}
	if cfg.Support == nil {
		cfg.Support = api.NewSupport(api.Config{Store: cfg.Store, Logger: cfg.Logger, BaseURL: cfg.BaseURL})
	}
	if cfg.SearchWindow <= 0 {
		cfg.SearchWindow = 20_000
	}
	if cfg.WebhookBaseURL == "" {
		cfg.WebhookBaseURL = cfg.BaseURL
	}
	p := &portal{cfg: cfg, st: cfg.Store, log: cfg.Logger, now: time.Now}
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler(http.FileServerFS(static))))
	mux.Handle("GET /signin", p.public(p.signinForm))
	mux.Handle("POST /signin", p.public(p.signin))
	mux.Handle("POST /signout", p.page(p.signout))
	mux.Handle("GET /{$}", p.page(p.home))
	mux.Handle("GET /flows", p.page(p.flows))
	mux.Handle("GET /flows/{id}", p.page(p.flow))
	mux.Handle("POST /flows/{id}/enabled", p.page(p.setFlowEnabled))
	// Flows (slice 2): create or import, the editor, versions, settings,
	// Run now, delete.
	mux.Handle("GET /flows/new", p.page(p.newFlow))
	mux.Handle("POST /flows/new", p.pageSized(maxDefinitionForm, p.createFlow))
	mux.Handle("GET /flows/{id}/edit", p.page(p.editFlow))
	mux.Handle("POST /flows/{id}/edit", p.pageSized(maxDefinitionForm, p.saveFlowEdit))
	mux.Handle("GET /flows/{id}/diff", p.page(p.flowDiff))
	mux.Handle("POST /flows/{id}/versions/{n}/restore", p.page(p.restoreVersion))
	mux.Handle("POST /flows/{id}/settings", p.page(p.setFlowSettings))
	mux.Handle("POST /flows/{id}/run", p.page(p.runNow))
	mux.Handle("GET /flows/{id}/delete", p.page(p.confirmDelete))
	mux.Handle("POST /flows/{id}/delete", p.page(p.deleteFlow))
	mux.Handle("GET /runs/{id}", p.page(p.run))
	mux.Handle("POST /runs/{id}/resubmit", p.page(p.resubmit))
	mux.Handle("GET /connections", p.page(p.connections))
	mux.Handle("GET /connections/{ref}", p.page(p.connection))
	mux.Handle("POST /connections/{ref}/verify", p.page(p.verify))
	mux.Handle("GET /activity", p.page(p.activity))
	mux.Handle("POST /activity/read", p.page(p.markRead))
	// Slice 3: run history, bulk jobs, problems, connections' fix,
	// settings and admin.
	mux.Handle("GET /runs", p.page(historyForm(p.history)))
	mux.Handle("GET /flows/{id}/runs", p.page(historyForm(p.history)))
	mux.Handle("GET /runs/export.csv", p.page(p.export))
	mux.Handle("GET /flows/{id}/runs/export.csv", p.page(p.export))
	mux.Handle("POST /runs/bulk", p.page(p.bulk))
	mux.Handle("GET /jobs/{id}", p.page(p.job))
	mux.Handle("GET /problems", p.page(p.problems))
	mux.Handle("GET /problems/{id}", p.page(p.problem))
	mux.Handle("POST /problems/{id}/resubmit", p.page(p.resubmitProblem))
	mux.Handle("GET /settings", p.page(p.settings))
	mux.Handle("POST /settings/notifications", p.page(p.setNotifications))
	mux.Handle("POST /settings/tokens", p.page(p.createToken))
	mux.Handle("POST /settings/tokens/{id}/delete", p.page(p.deleteToken))
	mux.Handle("POST /settings/password", p.page(p.changePassword))
	mux.Handle("GET /admin/users", p.page(p.adminOnly(p.users)))
	mux.Handle("POST /admin/users", p.page(p.adminOnly(p.createUser)))
	mux.Handle("POST /admin/users/{id}/disabled", p.page(p.adminOnly(p.setUserDisabled)))
	mux.Handle("POST /admin/users/{id}/password", p.page(p.adminOnly(p.resetPassword)))
	mux.Handle("GET /admin/outbox", p.page(p.adminOnly(p.outbox)))
	mux.Handle("GET /connections/{ref}/fix", p.page(p.fixForm))
	mux.Handle("POST /connections/{ref}/fix", p.page(p.fix))
	mux.Handle("POST /connections/{ref}/resubmit", p.page(p.resubmitConnection))
	// OAuth2 authorization code: Sign in again, and the provider's
	// redirect back (any browser may arrive; see api.CompleteAuthorization
	// for who may complete which sign-in).
	mux.Handle("POST /connections/{ref}/authorize", p.page(p.signIn))
	mux.Handle("GET "+api.CallbackPath, http.HandlerFunc(p.oauthCallback))
	// Help center (slice 4): Self help, articles, Ask for help, support
	// requests and their admin page.
	mux.Handle("GET /help", p.page(p.helpIndex))
	mux.Handle("GET /help/ask", p.page(p.ask))
	mux.Handle("POST /help/ask", p.page(p.contactSupport))
	mux.Handle("GET /help/{name}", p.page(p.helpArticle))
	mux.Handle("GET /support", p.page(p.support))
	mux.Handle("GET /admin/support", p.page(p.adminOnly(p.adminSupport)))
	mux.Handle("POST /admin/support/{id}/answer", p.page(p.adminOnly(p.answerSupport)))
	mux.Handle("POST /admin/support/{id}/close", p.page(p.adminOnly(p.closeSupport)))
	// Slice 4 (the first five minutes): the welcome page's sample
	// import; GET / shows the welcome page (pages_welcome.go).
	mux.Handle("POST /welcome/samples", p.page(p.importSamples))
	mux.Handle("/", p.page(func(w http.ResponseWriter, r *http.Request, c *call) error { return errNotFound }))
	return mux
}

// staticHandler lets browsers keep the stylesheet and script a while.
func staticHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

// errNotFound is the one not-found page: the same for a record that does
// not exist and one that is not the caller's.
var errNotFound = pageErr(http.StatusNotFound, "Page not found",
	"There is nothing here, or it is not yours to see. Check the address, or start again from Home.")

// setHeaders sets the headers of every portal answer.
func setHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
}

// public wraps a handler that needs no session (the sign-in form).
func (p *portal) public(fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setHeaders(w)
		r.Body = http.MaxBytesReader(w, r.Body, maxPortalForm)
		if err := fn(w, r); err != nil {
			p.fail(w, r, nil, err)
		}
	})
}

// page wraps a signed-in handler: an anonymous request is sent to the
// sign-in form (and back afterwards), a POST needs the session's CSRF
// token, and the handler's error goes to the one mapper.
func (p *portal) page(fn pageFunc) http.Handler {
	return p.pageSized(maxPortalForm, fn)
}

// pageSized is page with its own cap on the body, for the forms that
// carry a definition. A multipart form (an upload) is read whole within
// the cap, in memory.
func (p *portal) pageSized(limit int64, fn pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setHeaders(w)
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		si, ok, err := p.cfg.Sessions.lookup(r)
		if err != nil {
			p.fail(w, r, nil, err)
			return
		}
		if !ok {
			next := r.URL.RequestURI()
			if r.Method != http.MethodGet {
				next = "/"
			}
			http.Redirect(w, r, "/signin?next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		}
		c := &call{signedIn: si}
		if r.Method == http.MethodPost {
			if err := parseForm(r, limit); err != nil {
				p.fail(w, r, c, formError(err))
				return
			}
			if !csrfValid(si.id, r.PostFormValue("csrf")) {
				p.fail(w, r, c, errCSRF)
				return
			}
		}
		if c.unread, err = p.st.CountUnread(r.Context(), si.user.ID); err != nil {
			p.fail(w, r, c, fmt.Errorf("count unread: %w", err))
			return
		}
		if err := fn(w, r, c); err != nil {
			p.fail(w, r, c, err)
		}
	})
}

// parseForm reads a POST's form, URL-encoded or multipart.
func parseForm(r *http.Request, limit int64) error {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		return r.ParseMultipartForm(limit)
	}
	return r.ParseForm()
}

// errCSRF refuses a POST without the session's CSRF token.
var errCSRF = pageErr(http.StatusForbidden, "This form has expired",
	"The form was not sent from this session (you may have signed in again since it was opened). Go back, reload the page and try again.")

// formError turns a form that cannot be read into its page.
func formError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return err // mapError answers it with the cap it hit
	}
	return pageErr(http.StatusBadRequest, "The form could not be read", "Send the form again from its page.")
}

// base is what every portal page shows around its content.
type base struct {
	Title string
	// Nav is the header's current section.
	Nav string
	// User is nil on pages for people not signed in.
	User   *store.User
	Unread int
	CSRF   string
	// Refresh, when not 0, reloads the page after that many seconds (a
	// progress page without JavaScript).
	Refresh int
}

// base returns the frame of a signed-in page.
func (c *call) base(title, nav string) base {
	if c == nil {
		return base{Title: title}
	}
	u := c.user
	return base{Title: title, Nav: nav, User: &u, Unread: c.unread, CSRF: csrfToken(c.id)}
}

// errorPage is the error page's view.
type errorPage struct {
	base
	Message, RequestID string
}

// mapError is the one error mapper of the HTML pages: a pageError is
// shown as it is, a body over its cap (http.MaxBytesError) is a 413 page
// naming the cap; anything else is logged with a new request id and
// answered 500 with that id, never the internal text. where names the
// page in the log (never a link's token).
func mapError(log *slog.Logger, where string, r *http.Request, err error) (status int, title, message, requestID string) {
	var (
		pe     *pageError
		tooBig *http.MaxBytesError
	)
	if errors.As(err, &pe) {
		return pe.status, pe.title, pe.message, ""
	}
	if errors.As(err, &tooBig) {
		return http.StatusRequestEntityTooLarge, "The form is too large",
			fmt.Sprintf("A form on this page may send at most %d KiB. Go back and send it again with less in it.", tooBig.Limit>>10), ""
	}
	id := rand.Text()[:12]
	log.Error("page failed", "page", where, "method", r.Method, "request_id", id, "err", err)
	return http.StatusInternalServerError, "Something went wrong",
		"Sluice could not show this page. Try again in a moment; if it keeps failing, give your administrator the request id below.", id
}

// fail renders err's page in the portal's frame.
func (p *portal) fail(w http.ResponseWriter, r *http.Request, c *call, err error) {
	status, title, msg, id := mapError(p.log, r.URL.Path, r, err)
	p.render(w, status, "error", errorPage{base: c.base(title, ""), Message: msg, RequestID: id})
}

// render executes a page into a buffer first, so that a template error
// gives a clean 500 instead of half a page.
func (p *portal) render(w http.ResponseWriter, status int, name string, view any) {
	var buf bytes.Buffer
	if err := portalPages[name].ExecuteTemplate(&buf, "layout", view); err != nil {
		p.log.Error("render page", "page", name, "err", err)
		http.Error(w, "Sluice could not render this page.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// pathID reads a numeric path value; anything else is the 404 page.
func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id < 1 {
		return 0, errNotFound
	}
	return id, nil
}

// owned returns a record the caller may see (store.User.Owns), or the
// 404 page: another maker's record is not found, never forbidden.
func owned[T any](ctx context.Context, u store.User, id int64, get func(context.Context, int64) (T, error), owner func(T) int64) (T, error) {
	v, err := get(ctx, id)
	if err == nil && !u.Owns(owner(v)) {
		err = store.ErrNotFound
	}
	var zero T
	if errors.Is(err, store.ErrNotFound) {
		return zero, errNotFound
	}
	if err != nil {
		return zero, err
	}
	return v, nil
}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"ago":        ago,
	"exact":      func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") },
	"iso":        func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"word":       statusWord,
	"mark":       statusMark,
	"duration":   duration,
	"json":       prettyJSON,
	"kind":       noteBadge,
	"problemID":  problemID,
	"thousands":  thousands,
	"add":        func(a, b int) int { return a + b },
	"sub":        func(a, b int) int { return a - b },
	"mul":        func(a, b int) int { return a * b },
	"fieldLabel": func(f string) string { return fieldLabels[f] },
	"badgeOf":    func(mark, word string) badge { return badge{mark, word} },
	"plural":     plural,
	"askLabel":   func(s string) string { return askLabels[s] },
}

// plural picks the word for n things.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// ago says how long ago t was, in the words people use.
func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case t.IsZero():
		return "never"
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	default:
		return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
	}
}

// duration formats how long something took.
func duration(from, to *time.Time) string {
	if from == nil || to == nil {
		return ""
	}
	d := to.Sub(*from)
	switch {
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	default:
		return d.Round(time.Second).String()
	}
}

// statusMark is a status's kind of mark: ok, failed, running, waiting or
// off, which the stylesheet colours and the icon template draws.
func statusMark(status string) string {
	switch status {
	case store.RunSucceeded, store.HealthOK:
		return "ok"
	case store.RunFailed, "timed_out", store.HealthNeedsAttention:
		return "failed"
	case store.RunRunning, store.RunQueued:
		return "running"
	case store.RunWaiting:
		return "waiting"
	default:
		return "off"
	}
}

// statusWord is a status in words.
func statusWord(status string) string {
	switch status {
	case "timed_out":
		return "Timed out"
	case store.HealthNeedsAttention:
		return "Needs attention"
	case "":
		return "No runs yet"
	}
	return strings.ToUpper(status[:1]) + strings.ReplaceAll(status[1:], "_", " ")
}

// badge is a mark and its word, for what is not a run status.
type badge struct{ Mark, Word string }

// noteBadge is the mark of a notification's kind.
func noteBadge(kind string) badge {
	switch kind {
	case store.NoteRunFailed:
		return badge{"failed", "Run failed"}
	case store.NoteConnectionBroken:
		return badge{"failed", "Connection needs attention"}
	case store.NoteFlowTurnedOff:
		return badge{"off", "Flow turned off"}
	}
	return badge{"off", statusWord(kind)}
}

// prettyJSON indents a JSON value for a <pre>; html/template escapes it.
func prettyJSON(raw json.RawMessage) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}
