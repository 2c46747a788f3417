package help

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/sluice/sluice/internal/diagnose"
	"github.com/sluice/sluice/internal/flow"
)

// topics are the articles the issue asks for: one per diagnosis class,
// per catalog family, and per how-to topic.
var topics = []string{
	"auth-errors", "config-errors", "throttled-errors", "transient-errors", "flow-errors",
	"network-errors", "timeouts",
	"aws", "discord", "github", "gitlab", "google", "jira", "microsoft-graph", "salesforce", "shopify", "slack", "stripe", "telegram", "twilio",
	"graphql", "soap",
	"getting-started", "flow-format", "expressions", "connections", "retries", "run-after-and-scopes", "resubmitting",
	"repair-tips-and-notifications", "schedules", "webhooks-and-respond", "auto-disable", "limits",
}

func TestEveryTopicHasAWorkedExample(t *testing.T) {
	t.Parallel()
	lib, err := LoadLibrary("", diagnose.Default())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range topics {
		a, ok := lib.Get(name)
		if !ok {
			t.Errorf("no article %q", name)
			continue
		}
		if !strings.Contains(a.Markdown, "## Worked example") || !strings.Contains(a.Markdown, "```") {
			t.Errorf("%s: no worked example with code", name)
		}
		html, err := a.HTML()
		if err != nil || !strings.Contains(html, "<h2") || !strings.Contains(html, "<pre>") {
			t.Errorf("%s: HTML %v\n%s", name, err, html)
		}
		if !strings.HasPrefix(a.Text(), a.Title+"\n===") {
			t.Errorf("%s: text starts %q", name, a.Text()[:40])
		}
	}
	// Each class article is the class's.
	for _, c := range []string{"auth", "config", "throttled", "transient", "flow"} {
		if a, _ := lib.Get(c + "-errors"); a == nil || a.Class != c {
			t.Errorf("%s-errors: class %v", c, a)
		}
	}
}

// yamlBlock matches a YAML example of an article.
var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// TestArticleExamplesAreValidFlows checks every YAML example of the
// built-in articles with the flow checker: a whole flow as it is, a list
// of actions inside a flow with a webhook trigger.
func TestArticleExamplesAreValidFlows(t *testing.T) {
	t.Parallel()
	lib, err := LoadLibrary("", diagnose.Default())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range lib.Articles() {
		for _, m := range yamlBlock.FindAllStringSubmatch(a.Markdown, -1) {
			src := m[1]
			if !strings.HasPrefix(src, "name:") {
				// Actions: indent them under a flow; an action that uses
				// run_after needs the one it names, which the example
				// shows first or names from the surrounding text.
				src = "name: x\ntrigger: {type: webhook}\nactions:\n" + indent(src)
				for _, id := range []string{"get_manager", "export", "try"} {
					if strings.Contains(m[1], "{ "+id+":") && !strings.Contains(m[1], "id: "+id+"\n") {
						src = strings.Replace(src, "actions:\n", "actions:\n  - {id: "+id+", type: compose, with: {value: 1}}\n", 1)
					}
				}
			}
			n++
			if _, problems := flow.Parse([]byte(src)); len(problems) > 0 {
				t.Errorf("%s: example does not check:\n%s\n%v", a.Name, src, problems)
			}
		}
	}
	if n < 15 {
		t.Errorf("checked %d examples, want the articles' examples", n)
	}
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// TestCommandsInArticlesExist checks that every `sluice ...` command an
// article shows names a command of the CLI.
func TestCommandsInArticlesExist(t *testing.T) {
	t.Parallel()
	lib, err := LoadLibrary("", diagnose.Default())
	if err != nil {
		t.Fatal(err)
	}
	known := []string{"login", "flows check", "flows apply", "flows show", "flows enable", "flows settings", "trigger", "runs list", "runs show",
		"runs resubmit", "connections add", "connections update", "connections verify", "connections authorize", "users settings", "activity", "problems", "help show", "jobs"}
	cmd := regexp.MustCompile("(?m)(?:^|`)sluice ([a-z]+(?: [a-z]+)?)")
	for _, a := range lib.Articles() {
		for _, m := range cmd.FindAllStringSubmatch(a.Markdown, -1) {
			c := m[1]
			if !slices.ContainsFunc(known, func(k string) bool {
				return c == k || strings.HasPrefix(c, k+" ") || strings.HasPrefix(k, c) && !strings.Contains(c, " ")
			}) {
				t.Errorf("%s: unknown command %q", a.Name, c)
			}
		}
	}
}

func TestAdminArticlesWin(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("retries.md", "---\ntitle: Our retry rules\n---\nAsk the platform team first.\n")
	write("vpn.md", "---\ntitle: Reaching internal services\nkeywords: vpn intranet\n---\nUse the proxy.\n")
	write("notes.txt", "not an article")
	lib, err := LoadLibrary(dir, diagnose.Default())
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := lib.Get("retries"); a == nil || a.Title != "Our retry rules" || !a.Custom {
		t.Errorf("retries: %+v, want the admin's", a)
	}
	if a, _ := lib.Get("vpn"); a == nil || !a.Custom {
		t.Errorf("vpn: %+v", a)
	}
	if a, _ := lib.Get("schedules"); a == nil || a.Custom {
		t.Errorf("schedules: %+v, want the built-in one", a)
	}
}

func TestAdminFolderRefused(t *testing.T) {
	t.Parallel()
	cases := []struct{ file, text, want string }{
		{"Bad Name.md", "---\ntitle: x\n---\n", "lower-case letters"},
		{"a.md", "title: x\n", `line 1: want "---"`},
		{"a.md", "---\ntitle: x\n", "no closing"},
		{"a.md", "---\nname: x\n---\n", `unknown key "name"`},
		{"a.md", "---\nclass: x\n---\n", "no title"},
		{"a.md", "---\ntitle: x\nclass: oops\n---\n", `class "oops"`},
	}
	for _, c := range cases {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, c.file), []byte(c.text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadLibrary(dir, diagnose.Default())
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.file) {
			t.Errorf("%s %q: error %v, want it to name the file and say %q", c.file, c.text, err, c.want)
		}
	}
}

// TestAdminFolderTooLargeRefusedBeforeReading checks that an article
// over MaxArticleSize is refused from its size, without reading it: the
// file is sparse, so reading it would allocate its size.
func TestAdminFolderTooLargeRefusedBeforeReading(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "huge.md"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var ms1, ms2 runtimeMem
	ms1.read()
	_, err = LoadLibrary(dir, diagnose.Default())
	ms2.read()
	if err == nil || !strings.Contains(err.Error(), "more than the") || !strings.Contains(err.Error(), "huge.md") {
		t.Errorf("error %v", err)
	}
	if grew := ms2.total - ms1.total; grew > 64<<20 {
		t.Errorf("loading allocated %d bytes for a 1 GiB file it should refuse unread", grew)
	}
}

func TestWords(t *testing.T) {
	t.Parallel()
	cases := map[string][]string{
		"The request TIMED OUT!":      {"request", "timeout"},
		"rate-limited by Slack":       {"ratelimit", "slack"},
		"my web hook doesn't respond": {"webhook", "respond"},
		"Résumé e-mail":               {"resume", "email"},
		"slack.invalid_auth":          {"slack", "invalid", "auth"},
		"retry-after and run_after":   {"retryafter", "runafter"},
	}
	for in, want := range cases {
		if got := Words(in); !slices.Equal(got, want) {
			t.Errorf("Words(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMend(t *testing.T) {
	t.Parallel()
	v := newVocabulary()
	v.add(Words("unauthorized ratelimit rate limit timeout connection schedule webhook organization retry retries"))
	cases := map[string][]string{
		"unauthorised":  {"unauthorized"},
		"organisation":  {"organization"},
		"conection":     {"connection"},
		"shedule":       {"schedule"},
		"webhok":        {"webhook"},
		"ratelimitting": nil,
		"retrying":      nil, // retry plus an ending: the database stems it
		"timeout":       nil, // known
		"xyzzyq":        nil,
	}
	for in, want := range cases {
		if got := v.mend(in); !slices.Equal(got, want) {
			t.Errorf("mend(%q) = %q, want %q", in, got, want)
		}
	}
	if got := v.expand([]string{"unauthorised"}); !slices.Contains(got, "unauthorized") || !slices.Contains(got, "401") {
		t.Errorf("expand(unauthorised) = %q", got)
	}
}

func TestDistance(t *testing.T) {
	t.Parallel()
	cases := []struct {
		a, b string
		want int
	}{{"webhook", "webhook", 0}, {"webhok", "webhook", 1}, {"wbehook", "webhook", 1}, {"schedule", "shedul", 2}, {"abc", "xyz", 3}}
	for _, c := range cases {
		if got := distance(c.a, c.b, 5); got != c.want {
			t.Errorf("distance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	if got := distance("abcdef", "uvwxyz", 2); got != 2 {
		t.Errorf("capped distance = %d, want 2", got)
	}
}

// runtimeMem reads how many bytes the program allocated so far.
type runtimeMem struct{ total uint64 }

func (m *runtimeMem) read() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.total = ms.TotalAlloc
}

// TestAdminArticleHTMLIsSafe: raw HTML and script links in an admin's
// article do not reach the rendered page.
func TestAdminArticleHTMLIsSafe(t *testing.T) {
	t.Parallel()
	a, err := parseArticle("x", "---\ntitle: x\n---\n<script>alert(1)</script>\n\n[click](javascript:alert(2)) <img src=x onerror=alert(3)>\n")
	if err != nil {
		t.Fatal(err)
	}
	html, err := a.HTML()
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script", "javascript:", "onerror", "<img"} {
		if strings.Contains(html, bad) {
			t.Errorf("rendered HTML holds %q:\n%s", bad, html)
		}
	}
}
