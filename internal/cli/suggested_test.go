package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"text/template"

	"github.com/spf13/cobra"

	connpkg "github.com/sluice/sluice/internal/connection"
	"github.com/sluice/sluice/internal/diagnose"
	"github.com/sluice/sluice/internal/notify"
	"github.com/sluice/sluice/internal/server"
)

// placeholders are the upper-case words a suggested command may hold for
// the reader to fill in, with the value the test fills in. A command with
// any other upper-case word (NEW_TOKEN) fails: it cannot run as written.
var placeholders = map[string]string{
	"NAME": "billing", "FILE": "flow.yaml", "EMAIL": "ann@example.com", "URL": "http://127.0.0.1:1",
	"ID": "42", "RUN": "42", "HOST": "mail.example.com", "PORT": "2525", "USER": "ann",
}

// secretFlags put a secret on the command line, where the shell history
// keeps it: a suggested command uses their *-stdin forms.
var secretFlags = []string{"--token", "--password", "--key", "--client-secret"}

// TestSuggestedCommandsParse extracts every command that Sluice suggests
// to a person: in the diagnosis catalog's texts (rendered with and without
// a connection name, one with a space), in the emails and notifications
// (notify's command builders, for every connection type), and in the
// messages, hints and pages of the CLI, the engine, the API, the notifier,
// the server and the link pages (string literals and templates, with
// sample values for their format verbs). Each must parse against the real
// command tree, its options' checks included: run against a server that
// is not there, it fails to connect (exit 1) or succeeds, never with a
// usage error (exit 2). None may hold a secret or an undeclared
// placeholder.
func TestSuggestedCommandsParse(t *testing.T) {
	t.Parallel()
	found := map[string]string{} // command -> where it was found
	add := func(where string, cmds ...string) {
		for _, c := range cmds {
			c = strings.TrimSpace(c)
			if _, ok := found[c]; !ok {
				found[c] = where
			}
		}
	}
	for _, c := range catalogCommands(t) {
		add("diagnosis catalog "+c[0], c[1])
	}
	for _, typ := range connpkg.Types {
		add("notify.ConnectionFixCommands", notify.ConnectionFixCommands("billing api", typ)...)
		add("connection.UpdateCommand", connpkg.UpdateCommand("billing", typ))
	}
	add("notify.TurnedOffCommands", notify.TurnedOffCommands("Welcome a new hire")...)
	add("notify.FlowRepairOffCommand", notify.FlowRepairOffCommand("Ann's flow"))
	add("notify.UserRepairOffCommand", notify.UserRepairOffCommand)
	root := a0().rootCommand()
	for _, c := range sourceCommands(t, root.Commands()) {
		// A bare command path in prose ('sluice serve' runs a server,
		// as `sluice runs resubmit` printed it) names a command rather
		// than suggests a run of it: the command must exist.
		if args, err := shellWords(c[1]); err == nil && len(args) > 1 && !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "-") }) {
			if cmd, rest, err := root.Find(args[1:]); err == nil && cmd != root && len(rest) == 0 && strings.HasSuffix(cmd.CommandPath(), strings.Join(args[1:], " ")) {
				continue
			}
		}
		add(c[0], c[1])
	}
	if len(found) < 25 {
		t.Fatalf("found only %d suggested commands: the extraction is broken", len(found))
	}
	cmds := make([]string, 0, len(found))
	for c := range found {
		cmds = append(cmds, c)
	}
	sort.Strings(cmds)
	for _, c := range cmds {
		t.Run(c, func(t *testing.T) {
			if err := checkSuggested(t, c); err != nil {
				t.Errorf("%s suggests %q: %v", found[c], c, err)
			}
		})
	}
}

// a0 is an app for reading the command tree.
func a0() *app {
	return newApp(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}, func(string) string { return "" })
}

// checkSuggested runs one suggested command against a server that is not
// there, and returns why it cannot run as written.
func checkSuggested(t *testing.T, line string) error {
	args, err := shellWords(line)
	if err != nil {
		return err
	}
	if len(args) == 0 || args[0] != "sluice" {
		return fmt.Errorf("does not start with sluice")
	}
	args = args[1:]
	for i, a := range args {
		if slices.Contains(secretFlags, a) || slices.ContainsFunc(secretFlags, func(f string) bool { return strings.HasPrefix(a, f+"=") }) {
			return fmt.Errorf("puts a secret on the command line (%s): use %s-stdin", a, strings.SplitN(a, "=", 2)[0])
		}
		if regexp.MustCompile(`^[A-Z][A-Z_]+$`).MatchString(a) {
			v, ok := placeholders[a]
			if !ok {
				return fmt.Errorf("holds %s, which is no declared placeholder: it cannot run as written", a)
			}
			args[i] = v
		}
	}
	home := t.TempDir()
	env := map[string]string{"SLUICE_SERVER": "http://127.0.0.1:1", "SLUICE_TOKEN": "test-token", "XDG_CONFIG_HOME": home, "HOME": home}
	var out, errOut bytes.Buffer
	a := newApp(strings.NewReader("secret-from-stdin\n"), &out, &errOut, func(k string) string { return env[k] })
	a.serve = func(context.Context, server.Config) error { return nil }
	if code := a.main(context.Background(), args); code == ExitUsage {
		return fmt.Errorf("usage error: %s", strings.TrimSpace(errOut.String()))
	}
	return nil
}

// shellWords splits a command line as a POSIX shell would, for the
// quoting that suggested commands use; "< file" redirects are dropped
// (the test gives every command a stdin).
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	in, escaped, quote := false, false, rune(0)
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == '\\':
			escaped, in = true, true
		case r == ' ' || r == '\t':
			if in {
				words, in = append(words, cur.String()), false
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unbalanced %c quote", quote)
	}
	if in {
		words = append(words, cur.String())
	}
	if i := slices.Index(words, "<"); i >= 0 {
		words = words[:i]
	}
	return words, nil
}

// catalogCommands renders the commands in backquotes of every catalog
// text, with and without a connection name, as the diagnosis would.
func catalogCommands(t *testing.T) [][2]string {
	t.Helper()
	files, err := filepath.Glob("../diagnose/catalog/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("catalog files: %v", err)
	}
	span := regexp.MustCompile("`(sluice [^`]*)`")
	var out [][2]string
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cat struct {
			Entries []struct {
				ID           string `json:"id"`
				WhatHappened string `json:"what_happened"`
				HowToFix     string `json:"how_to_fix"`
			} `json:"entries"`
		}
		if err := json.Unmarshal(raw, &cat); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, e := range cat.Entries {
			for _, text := range []string{e.WhatHappened, e.HowToFix} {
				for _, name := range []string{"billing api", ""} {
					var b strings.Builder
					tpl := template.Must(template.New(e.ID).Option("missingkey=zero").Funcs(template.FuncMap{"shell": diagnose.ShellQuote}).Parse(text))
					data := map[string]string{"ConnectionName": name, "Connection": "connection " + strconv.Quote(name), "Step": `step "create_invoice"`,
						"StepTitle": `Step "create_invoice"`, "StepName": "create_invoice", "Field": `field "with.url"`, "FieldName": "with.url"}
					if err := tpl.Execute(&b, data); err != nil {
						t.Fatalf("%s: %v", e.ID, err)
					}
					for _, m := range span.FindAllStringSubmatch(b.String(), -1) {
						out = append(out, [2]string{e.ID, m[1]})
					}
				}
			}
		}
	}
	return out
}

// sourceCommands finds the commands in the string literals of the
// packages that talk to people, and in their templates, with format
// verbs and template actions replaced by sample values. A "sluice" not
// followed by one of the CLI's command names is prose, not a command.
func sourceCommands(t *testing.T, top []*cobra.Command) [][2]string {
	t.Helper()
	names := map[string]bool{}
	for _, c := range top {
		names[c.Name()] = true
	}
	verbs := strings.NewReplacer("--server %s", "--server URL", "--email %s", "--email EMAIL", "%s", "billing", "%d", "42", "%q", `"billing"`, "%v", "billing", " \\\n", " ")
	action := regexp.MustCompile(`\{\{[^}]*\}\}`)
	start := regexp.MustCompile(`(^|[\s'` + "`" + `(:])sluice ([a-z]+)`)
	var out [][2]string
	scan := func(where, text string) {
		text = verbs.Replace(action.ReplaceAllString(text, "42"))
		for _, m := range start.FindAllStringSubmatchIndex(text, -1) {
			if !names[text[m[4]:m[5]]] {
				continue
			}
			open := ""
			if m[3] > m[2] {
				open = text[m[2]:m[3]]
			}
			rest := text[m[3]:]
			end := len(rest)
			switch open {
			case "'", "`":
				if i := strings.Index(rest[1:], open); i >= 0 {
					end = i + 1
				}
			default:
				if i := strings.IndexAny(rest, "\n;)`<"); i >= 0 {
					end = i
				}
				if i := strings.Index(rest, ", "); i >= 0 && i < end {
					end = i
				}
			}
			cmd := strings.TrimRight(strings.TrimSpace(rest[:end]), ".,")
			out = append(out, [2]string{where, cmd})
		}
	}
	for _, dir := range []string{".", "../engine", "../api", "../notify", "../server", "../web"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			fset := token.NewFileSet()
			file, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			// A literal joined with + is a piece of a command that a
			// function builds (notify.ConnectionFixCommands): the
			// builders are checked whole above.
			pieces := map[ast.Node]bool{}
			ast.Inspect(file, func(n ast.Node) bool {
				if b, ok := n.(*ast.BinaryExpr); ok && b.Op == token.ADD {
					pieces[b.X], pieces[b.Y] = true, true
				}
				return true
			})
			ast.Inspect(file, func(n ast.Node) bool {
				lit, ok := n.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING || pieces[n] {
					return true
				}
				s, err := strconv.Unquote(lit.Value)
				if err == nil {
					scan(fset.Position(lit.Pos()).String(), s)
				}
				return true
			})
		}
		// Templates, in subfolders too (the portal's are in templates/portal).
		err := filepath.WalkDir(filepath.Join(dir, "templates"), func(f string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			raw, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			scan(f, string(raw))
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	}
	return out
}
