package web

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/sluice/sluice/internal/api"
	"github.com/sluice/sluice/internal/diagnose"
	"github.com/sluice/sluice/internal/help"
	"github.com/sluice/sluice/internal/store"
)

// helpTopics are the headings of the help index, by article class.
var helpTopics = []struct{ Class, Title string }{
	{"", "How to"}, {"service", "Services' errors"}, {"auth", "Credentials and sign-in"}, {"config", "Configuration"},
	{"throttled", "Rate limits"}, {"transient", "Network and timeouts"}, {"flow", "Flows and expressions"},
}

// serviceArticles are the articles without a class that explain
// catalog entries: a provider's errors, under their own heading.
var serviceArticles = func() map[string]bool {
	out := map[string]bool{}
	for _, s := range diagnose.Default().Summaries() {
		out[s.Article] = true
	}
	return out
}()

// helpTopic is one heading of the help index with its articles.
type helpTopic struct {
	Title    string
	Articles []*help.Article
}

// helpPage is Self help: the search box, the articles by topic and the
// community link.
type helpPage struct {
	base
	Topics    []helpTopic
	Community string
}

// center returns the help center, or the 404 page when there is none.
func (p *portal) center() (*help.Center, error) {
	if c := p.cfg.Support.Center(); c != nil {
		return c, nil
	}
	return nil, errNotFound
}

// helpIndex answers GET /help.
func (p *portal) helpIndex(w http.ResponseWriter, r *http.Request, c *call) error {
	hc, err := p.center()
	if err != nil {
		return err
	}
	by := map[string][]*help.Article{}
	for _, a := range hc.Library().Articles() {
		topic := a.Class
		if topic == "" && serviceArticles[a.Name] {
			topic = "service"
		}
		by[topic] = append(by[topic], a)
	}
	v := helpPage{base: c.base("Help", "help"), Community: hc.CommunityURL()}
	for _, t := range helpTopics {
		if len(by[t.Class]) > 0 {
			v.Topics = append(v.Topics, helpTopic{Title: t.Title, Articles: by[t.Class]})
		}
	}
	p.render(w, http.StatusOK, "help", v)
	return nil
}

// articlePage is one article.
type articlePage struct {
	base
	Article *help.Article
	// HTML is the article as goldmark renders it: raw HTML in the
	// Markdown is omitted and dangerous link targets dropped (package
	// help), so it is shown as it is.
	HTML template.HTML
}

// helpArticle answers GET /help/{name}.
func (p *portal) helpArticle(w http.ResponseWriter, r *http.Request, c *call) error {
	hc, err := p.center()
	if err != nil {
		return err
	}
	a, ok := hc.Library().Get(r.PathValue("name"))
	if !ok {
		return errNotFound
	}
	h, err := a.HTML()
	if err != nil {
		return err
	}
	p.render(w, http.StatusOK, "article", articlePage{base: c.base(a.Title, "help"), Article: a, HTML: template.HTML(h)}) //nolint:gosec // goldmark without WithUnsafe
	return nil
}

// askPage is Ask for help: the question, then its solutions and the
// maker's matching failures, then Contact support.
type askPage struct {
	base
	ProblemTypes, Categories []string
	ProblemType, Category, Q string
	// Searched is true once See solutions was clicked with a question.
	Searched  bool
	Answer    help.Answer
	Community string
	// RunID is the run chosen to attach, 0 for none.
	RunID int64
	// Problem says what was wrong with the request sent.
	Problem string
}

// askLabels are the problem types and categories in words.
var askLabels = map[string]string{
	"failed_run": "A run failed", "connection": "A connection", "building_a_flow": "Building a flow", "notifications": "Notifications and email",
	"account": "My account", "other": "Something else", "auth": "Credentials (auth)", "config": "Configuration", "throttled": "Rate limits",
	"transient": "Network and timeouts", "flow": "Flow definition", "webhooks": "Webhooks", "schedules": "Schedules", "email": "Email", "limits": "Limits",
}

// askForm reads the question of GET or POST /help/ask.
func (p *portal) askForm(r *http.Request, c *call) (askPage, error) {
	hc, err := p.center()
	if err != nil {
		return askPage{}, err
	}
	v := askPage{base: c.base("Ask for help", "help"), ProblemTypes: help.ProblemTypes, Categories: help.Categories, Community: hc.CommunityURL(),
		ProblemType: r.FormValue("problem_type"), Category: r.FormValue("category"), Q: strings.TrimSpace(r.FormValue("q"))}
	if s := r.FormValue("run"); s != "" {
		v.RunID, _ = strconv.ParseInt(s, 10, 64)
	}
	if v.Q == "" {
		return v, nil
	}
	if len(v.Q) > help.MaxQuery {
		v.Problem = fmt.Sprintf("Your question is %d characters long; search reads the first %d.", len(v.Q), help.MaxQuery)
	}
	cat := v.Category
	if cat == "other" {
		cat = ""
	}
	v.Searched = true
	v.Answer, err = hc.Search(r.Context(), help.Query{Text: v.Q, UserID: c.user.ID, Category: cat})
	if err != nil {
		return v, fmt.Errorf("help search: %w", err)
	}
	return v, nil
}

// ask answers GET /help/ask: with a question (See solutions) it lists
// the solutions and the maker's matching failures, with Contact support
// under them.
func (p *portal) ask(w http.ResponseWriter, r *http.Request, c *call) error {
	v, err := p.askForm(r, c)
	if err != nil {
		return err
	}
	if v.RunID == 0 && len(v.Answer.Failures) > 0 {
		v.RunID = v.Answer.Failures[0].RunID // the best match is attached unless the maker picks None
	}
	p.render(w, http.StatusOK, "ask", v)
	return nil
}

// contactSupport answers POST /help/ask: a support request through the
// API's logic (api.Support), with the chosen run attached.
func (p *portal) contactSupport(w http.ResponseWriter, r *http.Request, c *call) error {
	v, err := p.askForm(r, c)
	if err != nil {
		return err
	}
	in := api.SupportInput{ProblemType: v.ProblemType, Category: v.Category, Description: v.Q}
	if v.RunID > 0 {
		in.RunID = &v.RunID
	}
	q, err := p.cfg.Support.Create(r.Context(), c.user, in)
	var apiErr *api.Error
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
		return errNotFound // another maker's run
	}
	if errors.As(err, &apiErr) && apiErr.Status < 500 {
		v.Problem = apiErr.Message
		p.render(w, apiErr.Status, "ask", v)
		return nil
	}
	if err != nil {
		return fmt.Errorf("contact support: %w", err)
	}
	http.Redirect(w, r, fmt.Sprintf("/support?sent=%d", q.ID), http.StatusSeeOther)
	return nil
}

// supportPage lists support requests: the maker's own on /support,
// everyone's with Answer and Close on /admin/support.
type supportPage struct {
	base
	Requests []store.SupportRequest
	Admin    bool
	Status   string
	// Sent is the request just sent.
	Sent int64
	// Next is the id to page on from, 0 on the last page.
	Next    int64
	Problem string
}

// supportPageSize is how many requests one page lists.
const supportPageSize = 50

// supportList lists the requests of f (a page of them, newest first).
func (p *portal) supportList(r *http.Request, f store.SupportFilter) ([]store.SupportRequest, int64, error) {
	if s := r.URL.Query().Get("before"); s != "" {
		f.BeforeID, _ = strconv.ParseInt(s, 10, 64)
	}
	f.Limit = supportPageSize + 1
	list, err := p.st.ListSupportRequests(r.Context(), f)
	if err != nil {
		return nil, 0, fmt.Errorf("list support requests: %w", err)
	}
	var next int64
	if len(list) > supportPageSize {
		list = list[:supportPageSize]
		next = list[len(list)-1].ID
	}
	return list, next, nil
}

// support answers GET /support: the maker's requests and their answers.
func (p *portal) support(w http.ResponseWriter, r *http.Request, c *call) error {
	list, next, err := p.supportList(r, store.SupportFilter{UserID: c.user.ID})
	if err != nil {
		return err
	}
	v := supportPage{base: c.base("Your support requests", "help"), Requests: list, Next: next}
	v.Sent, _ = strconv.ParseInt(r.URL.Query().Get("sent"), 10, 64)
	p.render(w, http.StatusOK, "support", v)
	return nil
}

// adminSupport answers GET /admin/support: everyone's requests, the open
// ones first when ?status=open.
func (p *portal) adminSupport(w http.ResponseWriter, r *http.Request, c *call) error {
	return p.renderAdminSupport(w, r, c, http.StatusOK, "")
}

func (p *portal) renderAdminSupport(w http.ResponseWriter, r *http.Request, c *call, status int, problem string) error {
	f := store.SupportFilter{}
	switch s := r.URL.Query().Get("status"); s {
	case store.SupportOpen, store.SupportAnswered, store.SupportClosed:
		f.Status = s
	}
	list, next, err := p.supportList(r, f)
	if err != nil {
		return err
	}
	p.render(w, status, "support", supportPage{base: c.base("Support requests", "admin"), Requests: list, Admin: true, Status: f.Status, Next: next, Problem: problem})
	return nil
}

// supportRequest loads the {id} request for an admin.
func (p *portal) supportRequest(r *http.Request) (store.SupportRequest, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return store.SupportRequest{}, err
	}
	q, err := p.st.GetSupportRequest(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return q, errNotFound
	}
	return q, err
}

// answerSupport answers POST /admin/support/{id}/answer: the answer is
// recorded and the maker told in Activity and by email, in the store's
// one transaction (api.Support).
func (p *portal) answerSupport(w http.ResponseWriter, r *http.Request, c *call) error {
	q, err := p.supportRequest(r)
	if err != nil {
		return err
	}
	_, err = p.cfg.Support.Answer(r.Context(), c.user, q, r.PostFormValue("answer"))
	var apiErr *api.Error
	if errors.As(err, &apiErr) && apiErr.Status < 500 {
		return p.renderAdminSupport(w, r, c, apiErr.Status, fmt.Sprintf("Request #%d: %s", q.ID, apiErr.Message))
	}
	if err != nil {
		return fmt.Errorf("answer support request %d: %w", q.ID, err)
	}
	http.Redirect(w, r, fmt.Sprintf("/admin/support#req-%d", q.ID), http.StatusSeeOther)
	return nil
}

// closeSupport answers POST /admin/support/{id}/close.
func (p *portal) closeSupport(w http.ResponseWriter, r *http.Request, c *call) error {
	q, err := p.supportRequest(r)
	if err != nil {
		return err
	}
	if _, err := p.st.CloseSupportRequest(r.Context(), q.ID, p.now()); err != nil {
		return fmt.Errorf("close support request %d: %w", q.ID, err)
	}
	http.Redirect(w, r, fmt.Sprintf("/admin/support#req-%d", q.ID), http.StatusSeeOther)
	return nil
}
