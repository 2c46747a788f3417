package diagnose_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/sluice/sluice/internal/cli"
)

// These tests drive `sluice diagnose` through cli.Main, as a user would.

func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Main(context.Background(), append([]string{"diagnose"}, args...), strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCLIDiagnoseJSON(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCLI(t, "", "--status", "200", "--url", "https://slack.com/api/chat.postMessage?token=x",
		"--body", `{"ok":false,"error":"invalid_auth"}`, "--connection", "slack-bot", "--json")
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"actions", "article", "class", "code", "how_to_fix", "retryable", "title", "what_happened"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("JSON fields %v, want exactly %v", keys, want)
	}
	if m["class"] != "auth" || m["code"] != "slack.invalid_auth" || m["retryable"] != false || m["article"] != "slack" {
		t.Errorf("got %v", m)
	}
	if !strings.Contains(m["how_to_fix"].(string), `connection "slack-bot"`) {
		t.Errorf("how_to_fix does not name the connection: %v", m["how_to_fix"])
	}
	if _, ok := m["actions"].([]any); !ok {
		t.Errorf("actions is not a list: %v", m["actions"])
	}
}

func TestCLIDiagnoseText(t *testing.T) {
	t.Parallel()
	body := filepath.Join(t.TempDir(), "body.xml")
	if err := os.WriteFile(body, []byte(`<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "", "--status", "400", "--url", "https://iam.amazonaws.com/", "--body-file", body,
		"--header", "Retry-After: 7", "--step", "tag_user")
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, s := range []string{"Class:         throttled", "Code:          aws.throttling", "Retryable:     yes", "Retry after:   7s", "What happened:", "How do I fix it:", `step "tag_user"`, "Actions:       wait, resubmit"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	// The body from stdin, and a network failure without a status.
	if code, out, _ := runCLI(t, `{"message":"Bad credentials"}`, "--status", "401", "--url", "https://api.github.com/user", "--body-file", "-"); code != 0 || !strings.Contains(out, "github.bad_credentials") {
		t.Errorf("stdin body: exit %d\n%s", code, out)
	}
	if code, out, _ := runCLI(t, "", "--kind", "network", "--message", "dial tcp 10.1.1.1:443: connect: connection refused"); code != 0 || !strings.Contains(out, "net.refused") {
		t.Errorf("network: exit %d\n%s", code, out)
	}
}

func TestCLIDiagnoseCatalog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(good, []byte(`[{"id":"acme.down","class":"transient","retryable":true,"actions":["resubmit"],"match":{"hosts":["crm.acme.example"],"status":["5xx"]},"title":"CRM is down","what_happened":"The CRM is down.","how_to_fix":"Resubmit {{.Step}} later."}]`), 0o600)
	os.WriteFile(bad, []byte(`[{"id":"acme.down","class":"down","title":"t","what_happened":"w","how_to_fix":"f"}]`), 0o600)
	if code, out, errOut := runCLI(t, "", "--status", "503", "--url", "https://crm.acme.example/api", "--catalog", good, "--json"); code != 0 || !strings.Contains(out, `"code": "acme.down"`) {
		t.Errorf("good catalog: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut := runCLI(t, "", "--status", "503", "--catalog", bad)
	if code != cli.ExitUsage || !strings.Contains(errOut, `entries[0] (id "acme.down"): class: "down" is not one of`) {
		t.Errorf("bad catalog: exit %d, stderr %s", code, errOut)
	}
}

func TestCLIDiagnoseUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no status", []string{"--body", "x"}, "diagnose needs --status CODE"},
		{"status not a number", []string{"--status", "abc"}, `--status "abc" is not an HTTP status code (a number from 100 to 599)`},
		{"status out of range", []string{"--status", "600"}, `--status "600" is not an HTTP status code`},
		{"status too small", []string{"--status", "99"}, `--status "99" is not an HTTP status code`},
		{"header without colon", []string{"--status", "429", "--header", "Retry-After 5"}, `--header "Retry-After 5" must look like 'Name: value'`},
		{"both bodies", []string{"--status", "500", "--body", "x", "--body-file", "f"}, "give --body or --body-file, not both"},
		{"bad kind", []string{"--kind", "dns"}, `--kind "dns" is not one of`},
		{"bad url", []string{"--status", "500", "--url", "api.github.com"}, `--url "api.github.com" must be an http or https URL`},
		{"missing body file", []string{"--status", "500", "--body-file", "/nonexistent/body"}, "reading --body-file"},
		{"extra argument", []string{"--status", "500", "extra"}, "diagnose takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runCLI(t, "", tt.args...)
			if code != cli.ExitUsage {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, cli.ExitUsage, out, errOut)
			}
			if !strings.HasPrefix(errOut, "sluice: ") || !strings.Contains(errOut, tt.stderr) {
				t.Errorf("stderr %q lacks %q", errOut, tt.stderr)
			}
		})
	}
}
