// Package help is Sluice's help center: articles written for makers
// (Markdown embedded in the binary, rendered with goldmark), admins' own
// articles from a folder (which win over built-in ones of the same name),
// and a ranked search over them and the diagnosis catalog that puts the
// maker's own open problems first.
//
// The search index lives in the store (store.HelpStore): SQLite's FTS5
// ranked with bm25, PostgreSQL's full-text search ranked with ts_rank.
// Both index the same words, prepared here (Words): spelling variants
// written one way ("timed out" and "time-out" are "timeout"), stop words
// dropped. A question is prepared the same way, and its words the index
// does not know are mended against the index's vocabulary (British
// spellings, words run together, typos within an edit distance), so that
// "unauthorised", "ratelimit" and "timed out" find what they mean on
// either database.
package help

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"

	"github.com/sluice/sluice/internal/diagnose"
)

//go:embed articles/*.md
var builtinFS embed.FS

// Limits on an admin's folder of articles, checked before a file is
// read, so that a wrong folder (a home directory, a disk image) is refused
// at start instead of filling memory.
const (
	// MaxArticleSize caps one article file.
	MaxArticleSize = 256 << 10
	// MaxArticles caps the articles of the folder.
	MaxArticles = 5000
)

// Article is one help article.
type Article struct {
	// Name is the article's file name without ".md", such as "retries":
	// it is how `sluice help show` and the URLs name it.
	Name string `json:"name"`
	// Title is the article's title.
	Title string `json:"title"`
	// Class is the diagnosis class the article is about, empty for a
	// how-to article.
	Class string `json:"class"`
	// Keywords are extra words search should find it by.
	Keywords string `json:"-"`
	// Markdown is the article's text, after its front matter, with the
	// list of catalog entries it explains added at the end.
	Markdown string `json:"markdown"`
	// Custom is true for an admin's article.
	Custom bool `json:"custom"`
}

// Library is the set of articles, by name.
type Library struct {
	articles map[string]*Article
	names    []string
}

// namePattern is what an article's name may be.
var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// LoadLibrary reads the built-in articles and, when dir is not empty, the
// admin's articles in it (*.md, other files ignored), which replace
// built-in ones of the same name. Each article gets the list of the
// catalog's entries it explains (diagnose.ArticleFor).
func LoadLibrary(dir string, catalog *diagnose.Catalog) (*Library, error) {
	lib := &Library{articles: map[string]*Article{}}
	if err := lib.addFS(builtinFS, "articles", false); err != nil {
		return nil, fmt.Errorf("built-in help: %w", err)
	}
	if dir != "" {
		if err := lib.addDir(dir); err != nil {
			return nil, fmt.Errorf("help folder %s: %w", dir, err)
		}
	}
	covers := map[string][]diagnose.Summary{}
	for _, s := range catalog.Summaries() {
		covers[s.Article] = append(covers[s.Article], s)
	}
	for name, a := range lib.articles {
		a.Markdown = strings.TrimSpace(a.Markdown) + "\n" + coverList(covers[name])
		lib.names = append(lib.names, name)
	}
	slices.Sort(lib.names)
	return lib, nil
}

// coverHeading starts the list of the diagnoses an article explains.
const coverHeading = "## Diagnoses this article explains"

// coverList is the Markdown list of the catalog entries an article
// explains.
func coverList(entries []diagnose.Summary) string {
	if len(entries) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n" + coverHeading + "\n\n")
	for _, e := range entries {
		fmt.Fprintf(&b, "- `%s` (%s): %s\n", e.Code, e.Class, e.Title)
	}
	return b.String()
}

func (l *Library) addFS(fsys fs.FS, dir string, custom bool) error {
	files, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return err
	}
	for _, f := range files {
		if f.IsDir() || !strings.HasSuffix(f.Name(), ".md") {
			continue
		}
		b, err := fs.ReadFile(fsys, dir+"/"+f.Name())
		if err != nil {
			return err
		}
		if err := l.add(f.Name(), b, custom); err != nil {
			return err
		}
	}
	return nil
}

// addDir adds the admin's articles, checking the folder's limits first.
func (l *Library) addDir(dir string) error {
	files, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	n := 0
	for _, f := range files {
		if f.IsDir() || !strings.HasSuffix(f.Name(), ".md") {
			continue
		}
		if n++; n > MaxArticles {
			return fmt.Errorf("more than %d articles", MaxArticles)
		}
		info, err := f.Info()
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file", f.Name())
		}
		if info.Size() > MaxArticleSize {
			return fmt.Errorf("%s: %d bytes, more than the %d an article may have", f.Name(), info.Size(), MaxArticleSize)
		}
		b, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			return err
		}
		if err := l.add(f.Name(), b, true); err != nil {
			return err
		}
	}
	return nil
}

// add parses one article file and adds it, replacing one of the same
// name.
func (l *Library) add(file string, b []byte, custom bool) error {
	name := strings.TrimSuffix(file, ".md")
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%s: the name must be lower-case letters, digits and dashes, at most 64", file)
	}
	a, err := parseArticle(name, string(b))
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	a.Custom = custom
	l.articles[name] = a
	return nil
}

// parseArticle reads an article: a front matter of "key: value" lines
// between "---" lines (title required; class and keywords optional),
// then Markdown.
func parseArticle(name, text string) (*Article, error) {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	rest, ok := strings.CutPrefix(text, "---\n")
	if !ok {
		return nil, errors.New(`line 1: want "---", the start of the front matter (title: ...)`)
	}
	front, body, ok := strings.Cut(rest, "\n---\n")
	if !ok {
		return nil, errors.New(`the front matter has no closing "---" line`)
	}
	a := &Article{Name: name, Markdown: body}
	for i, line := range strings.Split(front, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf(`line %d: want "key: value", got %q`, i+2, line)
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "title":
			a.Title = v
		case "class":
			a.Class = v
		case "keywords":
			a.Keywords = v
		default:
			return nil, fmt.Errorf("line %d: unknown key %q (title, class, keywords)", i+2, k)
		}
	}
	if a.Title == "" {
		return nil, errors.New("the front matter has no title")
	}
	switch a.Class {
	case "", diagnose.ClassAuth, diagnose.ClassConfig, diagnose.ClassThrottled, diagnose.ClassTransient, diagnose.ClassFlow:
	default:
		return nil, fmt.Errorf("class %q: want auth, config, throttled, transient or flow", a.Class)
	}
	return a, nil
}

// Get returns the article with that name, or false.
func (l *Library) Get(name string) (*Article, bool) {
	a, ok := l.articles[name]
	return a, ok
}

// Articles returns the articles sorted by name.
func (l *Library) Articles() []*Article {
	out := make([]*Article, len(l.names))
	for i, n := range l.names {
		out[i] = l.articles[n]
	}
	return out
}

// md renders articles. Raw HTML in an article is not passed through
// (goldmark's default), so that an admin's article cannot carry script
// into the portal.
var md = goldmark.New(
	goldmark.WithExtensions(extension.GFM),
	goldmark.WithParserOptions(parser.WithAutoHeadingID()),
)

// HTML renders the article as HTML, without a page around it.
func (a *Article) HTML() (string, error) {
	var b bytes.Buffer
	if err := md.Convert([]byte(a.Markdown), &b); err != nil {
		return "", fmt.Errorf("render article %s: %w", a.Name, err)
	}
	return b.String(), nil
}

// Text returns the article as text for a terminal: its title underlined,
// then its Markdown, which reads as text.
func (a *Article) Text() string {
	return a.Title + "\n" + strings.Repeat("=", len([]rune(a.Title))) + "\n\n" + strings.TrimSpace(a.Markdown) + "\n"
}
