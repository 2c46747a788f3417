// Package web serves the server-rendered pages that links in Sluice's
// emails lead to: a run with its failed step and diagnosis, and for a
// retry link, a confirmation form that resubmits the run once its owner
// signs in. Templates are embedded and parsed once; a GET never changes
// anything.
package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sluice/sluice/internal/diagnose"
	"github.com/sluice/sluice/internal/notify"
	"github.com/sluice/sluice/internal/signin"
	"github.com/sluice/sluice/internal/store"
)

//go:embed templates
var templateFS embed.FS

// pages are the templates, each page parsed with the layout once; they
// are embedded, so a parse error is a bug that every test run catches.
var pages = func() map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, name := range []string{"run", "result", "error"} {
		// shell quotes a name in a suggested command, as the emails do.
		t := template.New(name).Funcs(template.FuncMap{"shell": diagnose.ShellQuote})
		out[name] = template.Must(t.ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	return out
}()

// Config configures the pages.
type Config struct {
	// Store reads runs, flows, steps and users. Required.
	Store store.Store
	// Key verifies link tokens; the same key the notifier signs with
	// (notify.LinkKey of the server's secret key). Required.
	Key []byte
	// Resubmit reruns a run with the same input, on the flow's latest
	// version; a second call for the same run while the first new run is
	// unfinished should return that run. A run whose resubmission already
	// succeeded should be refused unless again, which the page sets only
	// when the person confirmed a second question. Required.
	Resubmit func(ctx context.Context, run store.Run, again bool) (store.Run, error)
	// BaseURL is the server's public URL, shown in the page footer.
	// Defaults to "".
	BaseURL string
	// Logger receives errors. Defaults to slog.Default().
	Logger *slog.Logger
	// Sessions, when set, sends a signed-in owner (or admin) straight to
	// the portal's run page, without asking a password again; the pages
	// offer the others to sign in first and come back. Defaults to nil.
	Sessions *Sessions
	// SignIn checks the retry form's password, throttled per link (so
	// that a leaked link is not a password-guessing oracle), per account
	// and per client address; pass the API's Checker so that both count
	// one address together. Defaults to a signin.Checker on Store with
	// the default limits.
	SignIn *signin.Checker
}

// maxForm caps the body of every request to these pages; the retry form
// holds an email and a password, far less. As in the API, the cap is an
// http.MaxBytesReader set by wrap, and a body over it is an error wrapping
// *http.MaxBytesError, which wrap answers 413.
const maxForm = 16 << 10

type handler struct {
	cfg Config
	log *slog.Logger
}

// New returns the handler of the email-link pages: GET /r/{token} shows
// the run (and for a retry link, the confirmation form) and POST
// /r/{token} signs in and resubmits. Mount it at "/r/".
func New(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SignIn == nil {
		cfg.SignIn = signin.New(signin.Config{Store: cfg.Store, Logger: cfg.Logger})
	}
	h := &handler{cfg: cfg, log: cfg.Logger}
	mux := http.NewServeMux()
	mux.Handle("GET /r/{token}", h.wrap(h.show))
	mux.Handle("POST /r/{token}", h.wrap(h.retry))
	return mux
}

// pageError is an error with the page that explains it.
type pageError struct {
	status         int
	title, message string
}

func (e *pageError) Error() string { return e.title + ": " + e.message }

func pageErr(status int, title, message string) error {
	return &pageError{status: status, title: title, message: message}
}

// errorView is what the error page shows.
type errorView struct {
	Title, Message, RequestID, BaseURL string
}

// wrap turns a handler that returns an error into an http.Handler: it caps
// the body at maxForm; a pageError becomes its page, a body over the cap a
// 413 page; anything else is logged and answered with a 500 page that
// shows a request id, never the internal text.
func (h *handler) wrap(fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		// The token is in the URL: never send it elsewhere as a Referer.
		hdr.Set("Referrer-Policy", "no-referrer")
		hdr.Set("Cache-Control", "no-store")
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		err := fn(w, r)
		if err == nil {
			return
		}
		status, title, msg, id := mapError(h.log, "email link", r, err)
		h.render(w, status, "error", errorView{Title: title, Message: msg, RequestID: id, BaseURL: h.cfg.BaseURL})
	})
}

// render executes a page into a buffer first, so that a template error
// gives a clean 500 instead of half a page.
func (h *handler) render(w http.ResponseWriter, status int, page string, view any) {
	var buf bytes.Buffer
	if err := pages[page].ExecuteTemplate(&buf, "layout", view); err != nil {
		h.log.Error("render page", "page", page, "err", err)
		http.Error(w, "Sluice could not render this page.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// runView, flowView and stepView are what the run page shows; they hold
// nothing of the steps' inputs and outputs, since the page is reached by
// a link that may be forwarded.
type runView struct {
	ID                int64
	FlowVersion       int
	Status            string
	Started, Finished string
}

type flowView struct {
	Name    string
	Enabled bool
}

type stepView struct {
	Key, Type, Status string
	Attempts          int
	Failed            bool
}

// maxPageSteps caps the steps a run page lists; the page says how many
// more there are and how to see them.
const maxPageSteps = 1000

type runPage struct {
	Title string
	Run   runView
	Flow  flowView
	Steps []stepView
	// MoreAfter, when not 0, is the seq of the last step listed: more
	// follow, which `sluice runs show ID --steps-after MoreAfter` lists.
	MoreAfter int64
	Failed    *notify.Failure
	// Consequences are the failed steps that followed from Failed, the
	// run's root cause.
	Consequences []notify.Failure
	Retry        bool
	// Succeeded is the run's resubmission that already succeeded, if
	// any: retrying then asks a second question (Again).
	Succeeded *runView
	Again     bool
	Email     string
	FormError string
	BaseURL   string
	// SignIn is the portal's sign-in address that comes back to this
	// page, "" without a portal.
	SignIn string
}

type resultPage struct {
	Title    string
	Original int64
	Flow     string
	New      runView
	BaseURL  string
}

func formatTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC1123)
}

func viewRun(r store.Run) runView {
	started := r.StartedAt
	if started == nil {
		started = &r.CreatedAt
	}
	return runView{ID: r.ID, FlowVersion: r.FlowVersion, Status: r.Status, Started: formatTime(started), Finished: formatTime(r.FinishedAt)}
}

// target is what a verified link leads to.
type target struct {
	link notify.Link
	run  store.Run
	flow store.Flow
	user store.User
}

// open verifies the token and loads the run it names. The link's user
// must still be enabled and own the run's flow or be an admin: a link does
// not outlive the access it was sent with.
func (h *handler) open(ctx context.Context, token string) (target, error) {
	link, err := notify.VerifyLink(h.cfg.Key, token)
	switch {
	case errors.Is(err, notify.ErrLinkExpired):
		return target{}, pageErr(http.StatusGone, "This link has expired",
			fmt.Sprintf("Links in Sluice emails work for a limited time. Open run %d from the command line instead: sluice runs show %d", link.RunID, link.RunID))
	case err != nil:
		return target{}, pageErr(http.StatusBadRequest, "This link is not valid",
			"The link is incomplete or was changed. Open it again from the email, and make sure it was not cut across two lines.")
	}
	gone := pageErr(http.StatusNotFound, "This run is no longer available",
		fmt.Sprintf("Run %d was deleted, or its flow is no longer yours. Runs are kept for a limited time.", link.RunID))
	t := target{link: link}
	if t.run, err = h.cfg.Store.GetRun(ctx, link.RunID); errors.Is(err, store.ErrNotFound) {
		return target{}, gone
	} else if err != nil {
		return target{}, err
	}
	if t.flow, err = h.cfg.Store.GetFlow(ctx, t.run.FlowID); errors.Is(err, store.ErrNotFound) {
		return target{}, gone
	} else if err != nil {
		return target{}, err
	}
	if t.user, err = h.cfg.Store.GetUser(ctx, link.UserID); errors.Is(err, store.ErrNotFound) {
		return target{}, gone
	} else if err != nil {
		return target{}, err
	}
	// A disabled user's links stop working with their tokens.
	if t.user.DisabledAt != nil || !t.user.Owns(t.flow.OwnerID) {
		return target{}, gone
	}
	return t, nil
}

// page builds the run page of a target.
// It lists the first maxPageSteps steps of a long run; its failure is
// its root cause (notify.RootCause) among them all.
func (h *handler) page(ctx context.Context, t target) (runPage, error) {
	p := runPage{
		Title: fmt.Sprintf("Run %d of %s", t.run.ID, t.flow.Name), Run: viewRun(t.run),
		Flow: flowView{Name: t.flow.Name, Enabled: t.flow.Enabled}, Retry: t.link.Purpose == notify.PurposeRetry,
		Email: t.user.Email, BaseURL: h.cfg.BaseURL,
	}
	steps, err := h.cfg.Store.ListStepsAfter(ctx, t.run.ID, 0, maxPageSteps+1)
	if err != nil {
		return runPage{}, err
	}
	if len(steps) > maxPageSteps {
		steps = steps[:maxPageSteps]
		p.MoreAfter = steps[maxPageSteps-1].Seq
	}
	for _, s := range steps {
		p.Steps = append(p.Steps, stepView{Key: s.Key, Type: s.Type, Status: s.Status, Attempts: s.Attempts, Failed: notify.StepFailed(s.Status)})
	}
	fails, _, err := notify.RunFailures(ctx, h.cfg.Store, t.run.ID)
	if err != nil {
		return runPage{}, err
	}
	if len(fails) > 0 {
		f, after := notify.RootCause(fails)
		p.Failed, p.Consequences = &f, after
	}
	if p.Retry {
		p.Title = fmt.Sprintf("Retry run %d of %s", t.run.ID, t.flow.Name)
		ok, err := store.SucceededResubmit(ctx, h.cfg.Store, t.run.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return runPage{}, err
		}
		if err == nil {
			v := viewRun(ok)
			p.Succeeded = &v
		}
	}
	return p, nil
}

// show answers GET /r/{token}: it only reads. A signed-in user who may
// see the run goes on to its portal page.
func (h *handler) show(w http.ResponseWriter, r *http.Request) error {
	t, err := h.open(r.Context(), r.PathValue("token"))
	if err != nil {
		return err
	}
	if h.cfg.Sessions != nil {
		u, ok, err := h.cfg.Sessions.User(r)
		if err != nil {
			return err
		}
		if ok && u.Owns(t.flow.OwnerID) {
			http.Redirect(w, r, fmt.Sprintf("/runs/%d", t.run.ID), http.StatusSeeOther)
			return nil
		}
	}
	p, err := h.page(r.Context(), t)
	if err != nil {
		return err
	}
	if h.cfg.Sessions != nil {
		p.SignIn = "/signin?next=" + url.QueryEscape(r.URL.Path)
	}
	h.render(w, http.StatusOK, "run", p)
	return nil
}

// retry answers POST /r/{token}: it signs the owner in and resubmits.
//
// There is no session cookie, so there is nothing for a cross-site
// request to ride on: a forged POST would need both the signed,
// unguessable token in the path (sent only to the owner by email) and the
// owner's password in the body. That pair is the CSRF protection; no
// separate CSRF token is needed.
func (h *handler) retry(w http.ResponseWriter, r *http.Request) error {
	// The form is read first, so that an oversized body is refused before
	// any lookup; wrap has capped it.
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fmt.Errorf("read the retry form: %w", err)
		}
		return pageErr(http.StatusBadRequest, "The form could not be read", "Send the form from the retry page again.")
	}
	token := r.PathValue("token")
	t, err := h.open(r.Context(), token)
	if err != nil {
		return err
	}
	if t.link.Purpose != notify.PurposeRetry {
		return pageErr(http.StatusBadRequest, "This link does not retry runs",
			"It opens the run page only. Use the retry link of the email to resubmit the run.")
	}
	email, password := strings.TrimSpace(r.PostFormValue("email")), r.PostFormValue("password")
	p, err := h.page(r.Context(), t)
	if err != nil {
		return err
	}
	u, err := h.cfg.SignIn.Check(r.Context(), signin.Attempt{Email: email, Password: password, RemoteAddr: r.RemoteAddr, Link: token, Via: "link"})
	var throttled *signin.ThrottledError
	switch {
	case errors.As(err, &throttled):
		w.Header().Set("Retry-After", throttled.RetryAfterHeader())
		return pageErr(http.StatusTooManyRequests, "Too many attempts",
			fmt.Sprintf("Too many sign-in attempts. Wait %s, or resubmit from the command line: sluice runs resubmit %d", throttled.RetryAfter, t.run.ID))
	case errors.Is(err, signin.ErrInvalid), errors.Is(err, signin.ErrDisabled), err == nil && !u.Owns(t.flow.OwnerID):
		p.Email, p.FormError = email, "The email or password is wrong, or this account may not retry this run."
		h.render(w, http.StatusForbidden, "run", p)
		return nil
	case err != nil:
		return err
	}
	if !t.flow.Enabled {
		return pageErr(http.StatusConflict, "The flow is turned off",
			fmt.Sprintf("Flow %s is turned off, so run %d cannot run again. Fix it and turn it on first: sluice flows enable %s", t.flow.Name, t.run.ID, diagnose.ShellQuote(t.flow.Name)))
	}
	p.Again = r.PostFormValue("again") != ""
	if p.Succeeded != nil && !p.Again {
		h.askAgain(w, p)
		return nil
	}
	nr, err := h.cfg.Resubmit(r.Context(), t.run, p.Again)
	if err != nil {
		// A resubmission that succeeded since the page was built is
		// refused: ask the second question then.
		if ok, e := store.SucceededResubmit(r.Context(), h.cfg.Store, t.run.ID); e == nil && !p.Again {
			v := viewRun(ok)
			p.Succeeded = &v
			h.askAgain(w, p)
			return nil
		}
		return fmt.Errorf("resubmit run %d: %w", t.run.ID, err)
	}
	h.log.Info("run resubmitted from an email link", "run", t.run.ID, "new_run", nr.ID, "user_email_domain", domainOf(email))
	h.render(w, http.StatusOK, "result", resultPage{
		Title: fmt.Sprintf("Run %d resubmitted as run %d", t.run.ID, nr.ID), Original: t.run.ID,
		Flow: t.flow.Name, New: viewRun(nr), BaseURL: h.cfg.BaseURL,
	})
	return nil
}

// askAgain shows the retry page again with its second question: the run
// was already resubmitted and that run succeeded, so running it again may
// repeat its effects.
func (h *handler) askAgain(w http.ResponseWriter, p runPage) {
	p.FormError = fmt.Sprintf("Run %d was already resubmitted as run %d, which succeeded. Running it again may repeat what it did (a second invoice, a second email). To run it again anyway, tick \u201cRun it again anyway\u201d and sign in again.", p.Run.ID, p.Succeeded.ID)
	h.render(w, http.StatusConflict, "run", p)
}

func domainOf(email string) string {
	_, d, _ := strings.Cut(email, "@")
	return d
}
