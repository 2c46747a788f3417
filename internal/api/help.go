package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice/sluice/internal/help"
	"github.com/sluice/sluice/internal/notify"
	"github.com/sluice/sluice/internal/store"
)

// Support requests' limits.
const (
	// maxDescription caps a support request's description, in bytes.
	maxDescription = 10000
	// maxAnswer caps an answer, in bytes.
	maxAnswer = 20000
	// defaultSupportLimit is how many requests a list returns.
	defaultSupportLimit = 50
)

// helpCenter returns the help center, or an error (a 500) when the
// server has none.
func (s *server) helpCenter() (*help.Center, error) {
	if s.help == nil {
		return nil, errors.New("help center not configured")
	}
	return s.help, nil
}

// helpIndexView is GET /help's answer.
type helpIndexView struct {
	CommunityURL string            `json:"community_url"`
	ProblemTypes []string          `json:"problem_types"`
	Categories   []string          `json:"categories"`
	Articles     []articleListItem `json:"articles"`
}

type articleListItem struct {
	Name   string `json:"name"`
	Title  string `json:"title"`
	Class  string `json:"class"`
	URL    string `json:"url"`
	Custom bool   `json:"custom"`
}

// helpIndex answers the community link, the choices of a support
// request, and the articles.
func (s *server) helpIndex(w http.ResponseWriter, _ *http.Request) error {
	c, err := s.helpCenter()
	if err != nil {
		return err
	}
	out := helpIndexView{CommunityURL: c.CommunityURL(), ProblemTypes: help.ProblemTypes, Categories: help.Categories, Articles: []articleListItem{}}
	for _, a := range c.Library().Articles() {
		out.Articles = append(out.Articles, articleListItem{Name: a.Name, Title: a.Title, Class: a.Class, URL: c.ArticleURL(a.Name), Custom: a.Custom})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// helpSearchView is GET /help/search's answer.
type helpSearchView struct {
	Query        string          `json:"query"`
	Solutions    []help.Solution `json:"solutions"`
	Failures     []help.Failure  `json:"failures"`
	CommunityURL string          `json:"community_url"`
}

// searchHelp answers the solutions to ?q=, the caller's matching open
// problems first.
func (s *server) searchHelp(w http.ResponseWriter, r *http.Request) error {
	c, err := s.helpCenter()
	if err != nil {
		return err
	}
	q := r.URL.Query().Get("q")
	if strings.TrimSpace(q) == "" {
		return badRequest("q is required: the question to search for")
	}
	if len(q) > help.MaxQuery {
		return badRequest("q is %d bytes long, more than %d", len(q), help.MaxQuery)
	}
	limit, err := queryLimit(r, help.DefaultLimit)
	if err != nil {
		return err
	}
	if limit > help.MaxLimit {
		return badRequest("limit %d must be a number from 1 to %d", limit, help.MaxLimit)
	}
	category := r.URL.Query().Get("category")
	if category != "" && !slices.Contains(help.Categories, category) {
		return badRequest("category %q: want one of %s", category, strings.Join(help.Categories, ", "))
	}
	ans, err := c.Search(r.Context(), help.Query{Text: q, UserID: caller(r).ID, Category: category, Limit: limit})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, helpSearchView{Query: q, Solutions: ans.Solutions, Failures: ans.Failures, CommunityURL: c.CommunityURL()})
	return nil
}

// articleView is an article with its text and HTML.
type articleView struct {
	articleListItem
	Markdown string `json:"markdown"`
	Text     string `json:"text"`
	HTML     string `json:"html"`
}

// showArticle answers one article.
func (s *server) showArticle(w http.ResponseWriter, r *http.Request) error {
	c, err := s.helpCenter()
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	a, ok := c.Library().Get(name)
	if !ok {
		return notFound("article %q not found (GET %s/help lists them)", name, Prefix)
	}
	h, err := a.HTML()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, articleView{
		articleListItem: articleListItem{Name: a.Name, Title: a.Title, Class: a.Class, URL: c.ArticleURL(a.Name), Custom: a.Custom},
		Markdown:        a.Markdown, Text: a.Text(), HTML: h,
	})
	return nil
}

// supportView is a support request with the address of its run.
type supportView struct {
	store.SupportRequest
	RunURL *string `json:"run_url"`
}

func (s *server) viewSupport(q store.SupportRequest) supportView {
	v := supportView{SupportRequest: q}
	if q.RunID != nil && s.help != nil {
		u := s.help.RunURL(*q.RunID)
		v.RunURL = &u
	}
	return v
}

// SupportInput is a request for help, POST /support's body.
type SupportInput struct {
	ProblemType string `json:"problem_type"`
	Category    string `json:"category"`
	Description string `json:"description"`
	RunID       *int64 `json:"run_id"`
}

// createSupport records the caller's request for help, with a run of
// theirs attached.
func (s *server) createSupport(w http.ResponseWriter, r *http.Request) error {
	var req SupportInput
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	q, err := s.createSupportRequest(r.Context(), caller(r), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.viewSupport(q))
	return nil
}

// createSupportRequest checks a request for help and records it; an
// *Error says what is wrong with it.
func (s *server) createSupportRequest(ctx context.Context, u store.User, req SupportInput) (store.SupportRequest, error) {
	if !slices.Contains(help.ProblemTypes, req.ProblemType) {
		return store.SupportRequest{}, badRequest("problem_type %q: want one of %s", req.ProblemType, strings.Join(help.ProblemTypes, ", "))
	}
	if !slices.Contains(help.Categories, req.Category) {
		return store.SupportRequest{}, badRequest("category %q: want one of %s", req.Category, strings.Join(help.Categories, ", "))
	}
	if strings.TrimSpace(req.Description) == "" {
		return store.SupportRequest{}, badRequest("description is empty: tell us what you need help with")
	}
	if len(req.Description) > maxDescription || !utf8.ValidString(req.Description) {
		return store.SupportRequest{}, badRequest("description must be UTF-8 text of at most %d bytes", maxDescription)
	}
	if req.RunID != nil {
		run, err := s.store.GetRun(ctx, *req.RunID)
		if errors.Is(err, store.ErrNotFound) || err == nil && run.OwnerID != u.ID {
			return store.SupportRequest{}, notFound("run_id: run %d not found among your runs", *req.RunID)
		}
		if err != nil {
			return store.SupportRequest{}, fmt.Errorf("support request: look up run %d: %w", *req.RunID, err)
		}
	}
	q, err := s.store.CreateSupportRequest(ctx, store.SupportRequest{UserID: u.ID, ProblemType: req.ProblemType, Category: req.Category,
		Description: req.Description, RunID: req.RunID})
	if err != nil {
		return store.SupportRequest{}, err
	}
	s.log.InfoContext(ctx, "support request", "id", q.ID, "user", u.ID, "problem_type", q.ProblemType, "category", q.Category)
	return q, nil
}

// listSupport answers support requests, newest first: an admin's list
// holds everyone's, a maker's their own.
func (s *server) listSupport(w http.ResponseWriter, r *http.Request) error {
	u := caller(r)
	f := store.SupportFilter{}
	if !isAdmin(u) {
		f.UserID = u.ID
	}
	var err error
	if f.Limit, err = queryLimit(r, defaultSupportLimit); err != nil {
		return err
	}
	q := r.URL.Query()
	if v := q.Get("status"); v != "" {
		if v != store.SupportOpen && v != store.SupportAnswered && v != store.SupportClosed {
			return badRequest("status %q: want open, answered or closed", v)
		}
		f.Status = v
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return badRequest("before %q must be a support request id", v)
		}
		f.BeforeID = n
	}
	list, err := s.store.ListSupportRequests(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]supportView, len(list))
	for i, q := range list {
		out[i] = s.viewSupport(q)
	}
	writeJSON(w, http.StatusOK, map[string]any{"requests": out})
	return nil
}

// lookupSupport loads the request of the {id} path value, if the caller
// may see it: its asker or an admin.
func (s *server) lookupSupport(r *http.Request) (store.SupportRequest, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return store.SupportRequest{}, err
	}
	u := caller(r)
	q, err := s.store.GetSupportRequest(r.Context(), id)
	if err == nil && !isAdmin(u) && q.UserID != u.ID {
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) {
		return store.SupportRequest{}, notFound("support request %d not found", id)
	}
	if err != nil {
		return store.SupportRequest{}, fmt.Errorf("look up support request %d: %w", id, err)
	}
	return q, nil
}

// showSupport answers one request.
func (s *server) showSupport(w http.ResponseWriter, r *http.Request) error {
	q, err := s.lookupSupport(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.viewSupport(q))
	return nil
}

// answerRequest is POST /support/{id}/answer's body.
type answerRequest struct {
	Answer string `json:"answer"`
}

// answerSupport records an admin's answer and tells the asker in
// Activity and by email, in one transaction.
func (s *server) answerSupport(w http.ResponseWriter, r *http.Request) error {
	var req answerRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if err := checkAnswer(req.Answer); err != nil {
		return err
	}
	q, err := s.lookupSupport(r)
	if err != nil {
		return err
	}
	if q, err = s.answerSupportRequest(r.Context(), caller(r), q, req.Answer); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.viewSupport(q))
	return nil
}

// checkAnswer refuses an empty or oversized answer.
func checkAnswer(answer string) error {
	if strings.TrimSpace(answer) == "" {
		return badRequest("answer is empty")
	}
	if len(answer) > maxAnswer || !utf8.ValidString(answer) {
		return badRequest("answer must be UTF-8 text of at most %d bytes", maxAnswer)
	}
	return nil
}

// answerSupportRequest records by's answer to q with the asker's
// notification and email (notify.SupportAnswer), in the store's one
// transaction; a closed request is a 409 *Error.
func (s *server) answerSupportRequest(ctx context.Context, by store.User, q store.SupportRequest, answer string) (store.SupportRequest, error) {
	a := notify.SupportAnswer(q, answer, s.baseURL)
	a.By, a.At = by.ID, time.Now()
	out, err := s.store.AnswerSupportRequest(ctx, q.ID, a)
	if errors.Is(err, store.ErrConflict) {
		return store.SupportRequest{}, &Error{Status: http.StatusConflict, Code: CodeConflict, Message: fmt.Sprintf("support request %d is closed", q.ID)}
	}
	return out, err
}

// Support is the API's support-request logic for the portal: the same
// checks, notification and email as POST /api/v1/support and
// /support/{id}/answer, with the server's help center.
type Support struct{ s *server }

// NewSupport returns the support logic on c (its Store, Help, BaseURL and
// Logger).
func NewSupport(c Config) *Support { return Build(c).Support() }

// Support returns the portal's support logic (see NewSupport).
func (a *Server) Support() *Support { return &Support{s: a.s} }

// Center returns the help center the API searches; nil when it could not
// be made.
func (p *Support) Center() *help.Center { return p.s.help }

// Create checks in and records u's request for help; an *Error says what
// is wrong with it (a run not u's is a 404).
func (p *Support) Create(ctx context.Context, u store.User, in SupportInput) (store.SupportRequest, error) {
	return p.s.createSupportRequest(ctx, u, in)
}

// Answer records by's answer to q and tells the asker in Activity and by
// email, in one transaction; an *Error says what is wrong with the
// answer or that q is closed. The caller checks that by is an admin.
func (p *Support) Answer(ctx context.Context, by store.User, q store.SupportRequest, answer string) (store.SupportRequest, error) {
	if err := checkAnswer(answer); err != nil {
		return store.SupportRequest{}, err
	}
	return p.s.answerSupportRequest(ctx, by, q, answer)
}

// closeSupport closes a request: its asker or an admin may.
func (s *server) closeSupport(w http.ResponseWriter, r *http.Request) error {
	q, err := s.lookupSupport(r)
	if err != nil {
		return err
	}
	q, err = s.store.CloseSupportRequest(r.Context(), q.ID, time.Now())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.viewSupport(q))
	return nil
}
