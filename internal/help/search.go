package help

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice/sluice/internal/diagnose"
	"github.com/sluice/sluice/internal/store"
)

// Kinds of solution.
const (
	// KindArticle is a help article.
	KindArticle = "article"
	// KindDiagnosis is an entry of the diagnosis catalog.
	KindDiagnosis = "diagnosis"
)

// Defaults of Config and Query.
const (
	// DefaultLimit is how many solutions a search returns.
	DefaultLimit = 10
	// MaxLimit caps Query.Limit.
	MaxLimit = 50
	// MaxQuery caps a question, in bytes; longer ones are cut.
	MaxQuery = 2000
	// DefaultRecent is how far back a maker's failures count.
	DefaultRecent = 7 * 24 * time.Hour
	// recentProblems caps the maker's problems a search reads.
	recentProblems = 50
	// candidates is how many documents a search reads from the index
	// before the maker's problems reorder them.
	candidates = 30
)

// Store is what the help center needs of the store.
type Store interface {
	store.HelpStore
	// ListProblems lists a maker's recent failures.
	ListProblems(ctx context.Context, f store.ProblemFilter) ([]store.Problem, error)
}

// Config is what New needs.
type Config struct {
	// Store keeps the index. Required.
	Store Store
	// Catalog is the diagnosis catalog the search covers, with the
	// admin's entries. Defaults to diagnose.Default().
	Catalog *diagnose.Catalog
	// Dir is the admin's folder of articles (SLUICE_HELP_DIR). Defaults to
	// "": built-in articles only.
	Dir string
	// BaseURL starts the solutions' URLs. Defaults to "" (URLs relative
	// to the server).
	BaseURL string
	// CommunityURL is where makers ask each other (SLUICE_COMMUNITY_URL).
	// Defaults to "": none.
	CommunityURL string
	// Recent is how far back a maker's failures count. Defaults to
	// DefaultRecent.
	Recent time.Duration
}

// Center answers questions: it holds the articles and the catalog, and
// searches the store's index of them.
type Center struct {
	cfg   Config
	lib   *Library
	diags map[string]diagnose.Summary
	vocab *vocabulary
	// texts are the plain texts excerpts are cut from, by index key.
	texts map[string]string
}

// New loads the articles and rebuilds the store's index of them and of
// the catalog.
func New(ctx context.Context, cfg Config) (*Center, error) {
	if cfg.Catalog == nil {
		cfg.Catalog = diagnose.Default()
	}
	if cfg.Recent <= 0 {
		cfg.Recent = DefaultRecent
	}
	cfg.BaseURL = strings.TrimSuffix(cfg.BaseURL, "/")
	lib, err := LoadLibrary(cfg.Dir, cfg.Catalog)
	if err != nil {
		return nil, err
	}
	c := &Center{cfg: cfg, lib: lib, diags: map[string]diagnose.Summary{}, vocab: newVocabulary(), texts: map[string]string{}}
	var docs []store.HelpDoc
	addDoc := func(key, title, terms, prose, rest string) {
		tw, mw, bw := Words(title), Words(terms), Words(prose+"\n"+rest)
		c.vocab.add(slices.Concat(tw, mw, bw))
		docs = append(docs, store.HelpDoc{Key: key, Title: strings.Join(tw, " "), Terms: strings.Join(mw, " "), Body: strings.Join(bw, " ")})
		c.texts[key] = prose
	}
	for _, a := range lib.Articles() {
		prose, rest := plainText(a.Markdown)
		addDoc(KindArticle+":"+a.Name, a.Title, a.Name+" "+a.Class+" "+a.Keywords, prose, rest)
	}
	for _, s := range cfg.Catalog.Summaries() {
		if _, dup := c.diags[s.Code]; dup {
			continue // an admin's entry with a built-in id: the first wins
		}
		c.diags[s.Code] = s
		addDoc(KindDiagnosis+":"+s.Code, s.Title, s.Code+" "+s.Provider+" "+s.Class, s.WhatHappened+" "+s.HowToFix, "")
	}
	if err := cfg.Store.ReplaceHelpIndex(ctx, docs); err != nil {
		return nil, err
	}
	return c, nil
}

// Library returns the center's articles.
func (c *Center) Library() *Library { return c.lib }

// CommunityURL returns the configured community link, or "".
func (c *Center) CommunityURL() string { return c.cfg.CommunityURL }

// ArticleURL returns the address of an article's page.
func (c *Center) ArticleURL(name string) string { return c.cfg.BaseURL + "/help/" + name }

// RunURL returns the address of a run's page.
func (c *Center) RunURL(id int64) string { return c.cfg.BaseURL + "/runs/" + strconv.FormatInt(id, 10) }

// Query is a question.
type Query struct {
	// Text is what the maker wrote.
	Text string
	// UserID, when not zero, is the maker asking: their open problems
	// that match the question come first, with their runs.
	UserID int64
	// Category is what Ask for help's category says (Categories), if
	// anything: a diagnosis class or an area of the product, whose words
	// are searched for too.
	Category string
	// Limit caps the solutions. Defaults to DefaultLimit; at most
	// MaxLimit.
	Limit int
}

// Solution is an article or catalog entry that answers a question.
type Solution struct {
	Title string `json:"title"`
	// Kind is article or diagnosis.
	Kind string `json:"kind"`
	// Name is the article's name or the catalog entry's code.
	Name string `json:"name"`
	// Class is the diagnosis class the solution is about, empty for a
	// how-to article.
	Class string `json:"class"`
	// Article is the article to read: the solution itself, or the one
	// that explains the catalog entry.
	Article string `json:"article"`
	URL     string `json:"url"`
	Excerpt string `json:"excerpt"`
	// Yours is true when the solution is about one of the maker's open
	// problems.
	Yours bool `json:"yours"`
}

// Failure is one of the maker's open problems that matches the question.
type Failure struct {
	RunID    int64     `json:"run_id"`
	RunURL   string    `json:"run_url"`
	FlowID   int64     `json:"flow_id"`
	FlowName string    `json:"flow_name"`
	Step     string    `json:"step"`
	Code     string    `json:"code"`
	Class    string    `json:"class"`
	Title    string    `json:"title"`
	Count    int       `json:"count"`
	LastSeen time.Time `json:"last_seen"`
}

// Answer is what a search finds.
type Answer struct {
	Solutions []Solution `json:"solutions"`
	// Failures are the maker's matching recent failures, with their runs.
	Failures []Failure `json:"failures"`
}

// Search answers a question: the articles and catalog entries that match
// it, best first, the maker's matching open problems (and their
// articles) before all others.
func (c *Center) Search(ctx context.Context, q Query) (Answer, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	text := q.Text
	if len(text) > MaxQuery {
		text = text[:MaxQuery]
	}
	words := c.vocab.expand(Words(text + " " + categoryWords[q.Category]))
	hits, err := c.cfg.Store.SearchHelp(ctx, words, max(limit, candidates))
	if err != nil {
		return Answer{}, fmt.Errorf("search help: %w", err)
	}
	keys := make([]string, len(hits))
	for i, h := range hits {
		keys[i] = h.Key
	}
	ans := Answer{Solutions: []Solution{}, Failures: []Failure{}}
	var first []string // the keys of the maker's problems, first
	if q.UserID != 0 {
		problems, err := c.cfg.Store.ListProblems(ctx, store.ProblemFilter{OwnerID: q.UserID, Since: time.Now().Add(-c.cfg.Recent), Limit: recentProblems})
		if err != nil {
			return Answer{}, fmt.Errorf("search help: %w", err)
		}
		for _, p := range problems {
			if !p.Ongoing || !c.matches(p, words, keys) {
				continue
			}
			ans.Failures = append(ans.Failures, Failure{RunID: p.LatestRun, RunURL: c.RunURL(p.LatestRun), FlowID: p.FlowID, FlowName: p.FlowName,
				Step: p.Step, Code: p.Code, Class: p.Class, Title: p.Title, Count: p.Count, LastSeen: p.LastSeen})
			if _, ok := c.diags[p.Code]; ok {
				first = append(first, KindDiagnosis+":"+p.Code)
			}
			first = append(first, KindArticle+":"+diagnose.ArticleFor(p.Code, p.Class))
		}
	}
	yours := map[string]bool{}
	for _, k := range first {
		yours[k] = true
	}
	// A question that names a catalog code or an article (pasted from
	// `runs show` or an email) gets that first.
	first = append(first, c.named(text)...)
	seen := map[string]bool{}
	for _, k := range slices.Concat(first, keys) {
		if seen[k] || len(ans.Solutions) == limit {
			continue
		}
		seen[k] = true
		if s, ok := c.solution(k, words); ok {
			s.Yours = yours[k]
			ans.Solutions = append(ans.Solutions, s)
		}
	}
	return ans, nil
}

// named returns the keys of the catalog entries (and their articles)
// and the articles a question names exactly.
func (c *Center) named(text string) []string {
	var out []string
	for _, w := range strings.Fields(strings.ToLower(text)) {
		w = strings.Trim(w, ".,;:!?()[]{}\"'`")
		if d, ok := c.diags[w]; ok {
			out = append(out, KindDiagnosis+":"+w, KindArticle+":"+d.Article)
		} else if _, ok := c.lib.Get(w); ok && strings.Contains(w, "-") {
			out = append(out, KindArticle+":"+w)
		}
	}
	return out
}

// matches reports whether a maker's problem is what the question is
// about: its catalog entry or its article is among the best matches, or
// the question names its class or code.
func (c *Center) matches(p store.Problem, words, keys []string) bool {
	top := keys[:min(len(keys), 5)]
	if slices.Contains(top, KindDiagnosis+":"+p.Code) || slices.Contains(top[:min(len(top), 3)], KindArticle+":"+diagnose.ArticleFor(p.Code, p.Class)) {
		return true
	}
	if slices.Contains(words, p.Class) {
		return true
	}
	code := Words(p.Code)
	return len(code) > 0 && !slices.ContainsFunc(code, func(w string) bool { return !slices.Contains(words, w) })
}

// solution builds the solution for an index key.
func (c *Center) solution(key string, words []string) (Solution, bool) {
	kind, name, _ := strings.Cut(key, ":")
	switch kind {
	case KindArticle:
		a, ok := c.lib.Get(name)
		if !ok {
			return Solution{}, false // indexed by another node's binary
		}
		return Solution{Title: a.Title, Kind: kind, Name: name, Class: a.Class, Article: name, URL: c.ArticleURL(name), Excerpt: excerpt(c.texts[key], words)}, true
	case KindDiagnosis:
		d, ok := c.diags[name]
		if !ok {
			return Solution{}, false
		}
		return Solution{Title: d.Title, Kind: kind, Name: name, Class: d.Class, Article: d.Article, URL: c.ArticleURL(d.Article), Excerpt: excerpt(c.texts[key], words)}, true
	}
	return Solution{}, false
}

// sentenceEnd ends a sentence: a full stop (not one inside a word, as
// in "net.timeout") or a blank line.
var sentenceEnd = regexp.MustCompile(`[.!?]\s+|\n\s*\n`)

// sentences splits prose into sentences.
func sentences(text string) []string {
	var out []string
	start := 0
	for _, m := range sentenceEnd.FindAllStringIndex(text, -1) {
		out = append(out, text[start:m[1]])
		start = m[1]
	}
	return append(out, text[start:])
}

// excerptLen caps an excerpt, in bytes.
const excerptLen = 200

// excerpt returns the sentence of text that holds most of the words (a
// word counts when a sentence's word starts with its first five
// letters), cut to excerptLen.
func excerpt(text string, words []string) string {
	best, bestN := "", -1
	for _, s := range sentences(text) {
		s = strings.Join(strings.Fields(s), " ")
		if len(s) < 20 {
			continue
		}
		n := 0
		sw := Words(s)
		for _, w := range words {
			p := w[:min(len(w), 5)]
			if slices.ContainsFunc(sw, func(x string) bool { return strings.HasPrefix(x, p) }) {
				n++
			}
		}
		if n > bestN {
			best, bestN = s, n
		}
	}
	if len(best) > excerptLen {
		cut := strings.LastIndex(best[:excerptLen], " ")
		if cut < excerptLen/2 {
			cut = excerptLen
		}
		best = strings.ToValidUTF8(best[:cut], "") + "…"
	}
	return best
}

// fence matches a fenced code block.
var fence = regexp.MustCompile("(?s)```.*?```")

// markup matches Markdown's marks that are not words, and links (kept
// as their text).
var markup = regexp.MustCompile("[`*#>]+|\\[([^\\]]*)\\]\\([^)]*\\)")

// plainText splits an article into its prose, without marks, which
// excerpts are cut from, and the rest (code blocks, tables, headings and
// the generated list of the diagnoses it explains), which is indexed
// after the prose.
func plainText(markdown string) (prose, rest string) {
	body, covers, _ := strings.Cut(markdown, "\n"+coverHeading)
	var p, r []string
	for _, code := range fence.FindAllString(body, -1) {
		r = append(r, strings.Trim(code, "`"))
	}
	for _, line := range strings.Split(fence.ReplaceAllString(body, "\n"), "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "|") || strings.HasPrefix(t, "#") {
			r = append(r, markup.ReplaceAllString(strings.ReplaceAll(t, "|", " "), "$1"))
			continue
		}
		p = append(p, markup.ReplaceAllString(line, "$1"))
	}
	r = append(r, markup.ReplaceAllString(covers, "$1"))
	return strings.Join(p, "\n"), strings.Join(r, "\n")
}
