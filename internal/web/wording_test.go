package web_test

import (
	"html"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// externalNames are buttons that texts tell people to click in another
// service's console, not in Sluice; each with where it is.
var externalNames = map[string]string{
	"Reset Token":         "Discord Developer Portal, Bot",
	"Grant admin consent": "Microsoft Entra admin center, API permissions",
	"Start":               "Telegram, the bot's chat",
}

var (
	// clickRE finds "click Verify", "Click Fix connection on ...".
	clickRE = regexp.MustCompile(`\b(?:[Cc]lick|[Pp]ress) (?:on )?([A-Z][^,.;:)(\n"<\x60*]*)`)
	// namedRE finds "the Connections page", "the Resubmit button".
	namedRE = regexp.MustCompile(`\b[Tt]he ([A-Z]\w*(?: [A-Z]\w*)*) (page|button)\b`)
	// boldRE finds the names help articles set in bold.
	boldRE = regexp.MustCompile(`\*\*([A-Z][^*\n]{0,40})\*\*`)
	// A name stops where the sentence goes on about something else.
	nameEnd = regexp.MustCompile(` (?:on|then|and|to|in|for|of|with|again|once)\b.*$`)

	buttonRE = regexp.MustCompile(`(?s)<button\b[^>]*>(.*?)</button>|<a\b[^>]*class="button[^"]*"[^>]*>(.*?)</a>`)
	navRE    = regexp.MustCompile(`<a href="/[^"]*"[^>]*>([^<{]+)</a>`)
	h1RE     = regexp.MustCompile(`(?s)<h1\b[^>]*>(.*?)</h1>`)
	tagRE    = regexp.MustCompile(`<[^>]*>`)
	actionRE = regexp.MustCompile(`\{\{.*?\}\}`)
)

// reference is a page or button name a text uses, and where. For a
// button after "click", full is the text up to the end of the clause, so
// that a name with "in" or "again" in it ("Sign in again") is found.
type reference struct {
	name, kind, file string
	full             string
}

// wordingSources are the texts that tell people which page to open or
// which button to press: emails, the CLI's hints, diagnoses (catalog and
// code), help articles and the portal's own pages.
func wordingSources(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{
		"../notify/templates/*", "../notify/*.go", "../cli/*.go", "../diagnose/*.go", "../diagnose/catalog/*.json",
		"../help/articles/*.md", "templates/*.html", "templates/portal/*.html", "*.go",
	} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			if !strings.HasSuffix(f, "_test.go") {
				files = append(files, f)
			}
		}
	}
	if len(files) < 20 {
		t.Fatalf("found only %d texts to check: %v", len(files), files)
	}
	return files
}

// references returns the page and button names the file's text uses.
func references(file, text string) []reference {
	var out []reference
	for _, m := range clickRE.FindAllStringSubmatch(text, -1) {
		// "press Resubmit or Cancel" names two buttons; "press Ctrl-D" a key.
		for name := range strings.SplitSeq(strings.TrimSpace(nameEnd.ReplaceAllString(m[1], "")), " or ") {
			if !strings.HasPrefix(name, "Ctrl-") {
				out = append(out, reference{name: name, kind: "button", file: file, full: strings.TrimSpace(m[1])})
			}
		}
	}
	for _, m := range namedRE.FindAllStringSubmatch(text, -1) {
		out = append(out, reference{name: m[1], kind: m[2], file: file})
	}
	if strings.HasSuffix(file, ".md") {
		for _, m := range boldRE.FindAllStringSubmatch(text, -1) {
			out = append(out, reference{name: m[1], kind: "page or button", file: file})
		}
	}
	return out
}

// portalNames returns the portal's buttons and pages as patterns: the
// text of every button and button-styled link, and the main menu's and
// headings' names, from the templates, a template action matching any
// text.
func portalNames(t *testing.T) (buttons, pages []*regexp.Regexp) {
	t.Helper()
	files, err := filepath.Glob("templates/portal/*.html")
	if err != nil || len(files) < 10 {
		t.Fatalf("portal templates: %v, %v", files, err)
	}
	pattern := func(s string) *regexp.Regexp {
		s = strings.Join(strings.Fields(html.UnescapeString(tagRE.ReplaceAllString(s, " "))), " ")
		parts := actionRE.Split(s, -1)
		for i := range parts {
			parts[i] = regexp.QuoteMeta(parts[i])
		}
		return regexp.MustCompile(`^` + strings.Join(parts, `.+`) + `$`)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range buttonRE.FindAllStringSubmatch(string(b), -1) {
			for _, text := range branches(m[1] + m[2]) {
				buttons = append(buttons, pattern(text))
			}
		}
		for _, m := range navRE.FindAllStringSubmatch(string(b), -1) {
			pages = append(pages, pattern(m[1]))
		}
		for _, m := range h1RE.FindAllStringSubmatch(string(b), -1) {
			pages = append(pages, pattern(m[1]))
		}
	}
	return buttons, pages
}

// ifElseRE finds a template conditional with two branches of plain text.
var ifElseRE = regexp.MustCompile(`\{\{if [^}]*\}\}([^{]*)\{\{else\}\}([^{]*)\{\{end\}\}`)

// branches returns each text a button's template can show: "{{if
// .X}}Sign in again{{else}}Sign in{{end}}" is two buttons.
func branches(s string) []string {
	m := ifElseRE.FindStringSubmatchIndex(s)
	if m == nil {
		return []string{s}
	}
	var out []string
	for _, branch := range []string{s[m[2]:m[3]], s[m[4]:m[5]]} {
		out = append(out, branches(s[:m[0]]+branch+s[m[1]:])...)
	}
	return out
}

// longerName reports whether a longer start of full than name, cut at a
// word, is one of the buttons: "click Sign in again" names "Sign in
// again", which nameEnd cuts to "Sign".
func longerName(buttons []*regexp.Regexp, name, full string) bool {
	words := strings.Fields(full)
	for n := len(words); n > len(strings.Fields(name)); n-- {
		candidate := strings.Join(words[:n], " ")
		if slices.ContainsFunc(buttons, func(re *regexp.Regexp) bool { return re.MatchString(candidate) }) {
			return true
		}
	}
	return false
}

// TestNamedPagesAndButtonsExist checks that every page and button that
// an email, a CLI hint, a diagnosis, a help article or a portal page
// tells people to open or press exists in the portal with that exact
// name.
func TestNamedPagesAndButtonsExist(t *testing.T) {
	buttons, pages := portalNames(t)
	matches := func(list []*regexp.Regexp, name string) bool {
		return slices.ContainsFunc(list, func(re *regexp.Regexp) bool { return re.MatchString(name) })
	}
	for _, want := range []string{"Verify", "Fix connection", "Edit flow", "Resubmit"} {
		if !matches(buttons, want) {
			t.Errorf("the portal's templates have no %q button, or the test no longer finds buttons", want)
		}
	}
	var refs []reference
	for _, f := range wordingSources(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, references(f, string(b))...)
	}
	checked := map[string]bool{}
	for _, r := range refs {
		if _, ok := externalNames[r.name]; ok {
			continue
		}
		checked[r.name] = true
		var ok bool
		switch r.kind {
		case "button":
			ok = matches(buttons, r.name) || longerName(buttons, r.name, r.full)
		case "page":
			ok = matches(pages, r.name)
		default:
			ok = matches(buttons, r.name) || matches(pages, r.name)
		}
		if !ok {
			t.Errorf("%s names the %s %q, which the portal does not have", r.file, r.kind, r.name)
		}
	}
	// The texts do name pages and buttons: a test that found none would
	// check nothing.
	for _, want := range []string{"Verify", "Connections", "Resubmit", "Activity"} {
		if !checked[want] {
			t.Errorf("no text names %q any more, or the test no longer finds names; checked %v", want, checked)
		}
	}
}
