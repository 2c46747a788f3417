package cli

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice/sluice/internal/api"
	"github.com/sluice/sluice/internal/auth"
	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/sqlite"
)

// setupHelp starts the real API on a real SQLite store, with a maker
// (whose token the environment holds) and an admin, and returns the
// bundle, the admin's token and the store.
func setupHelp(t *testing.T) (*bundle, string, *sqlite.Store) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "sluice.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tokens := map[string]string{}
	for _, u := range []store.User{{Email: "ada@example.com", Role: store.RoleMaker}, {Email: "root@example.com", Role: store.RoleAdmin}} {
		u.PasswordHash = "x"
		created, err := st.CreateUser(t.Context(), u)
		if err != nil {
			t.Fatal(err)
		}
		plain, hash, err := auth.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateToken(t.Context(), store.Token{UserID: created.ID, Name: "t", Hash: hash}); err != nil {
			t.Fatal(err)
		}
		tokens[u.Role] = plain
	}
	srv := httptest.NewServer(api.New(api.Config{Store: st, Logger: logger, BaseURL: "https://sluice.example.com"}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	return &bundle{configDir: dir, env: map[string]string{"XDG_CONFIG_HOME": dir, "SLUICE_SERVER": srv.URL, "SLUICE_TOKEN": tokens[store.RoleMaker]}}, tokens[store.RoleAdmin], st
}

func TestHelpSearchAndShow(t *testing.T) {
	t.Parallel()
	b, _, _ := setupHelp(t)
	b.run(t, "", "help", "search", "the", "request", "timed", "out").check(t, 0, []string{". Timeouts: a step or request timed out (article, transient)", "https://sluice.example.com/help/timeouts"}, nil)
	r := b.run(t, "", "help", "search", "unauthorised", "--json", "--limit", "3")
	r.check(t, 0, nil, nil)
	var list []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 3 {
		t.Fatalf("--json: %v %s", err, r.stdout)
	}
	for _, k := range []string{"title", "kind", "class", "url", "excerpt"} {
		if _, ok := list[0][k]; !ok {
			t.Errorf("--json object lacks %q: %v", k, list[0])
		}
	}
	b.run(t, "", "help", "show", "retries").check(t, 0, []string{"Retries and Retry-After\n=====", "## Worked example", "idempotency_key: true"}, nil)
	b.run(t, "", "help", "show", "nope").check(t, 1, nil, []string{`article "nope" not found`})
	b.run(t, "", "help", "search").check(t, 2, nil, []string{"help search needs a question"})
	b.run(t, "", "help", "runs").check(t, 0, []string{"List, show, cancel and resubmit runs"}, nil)
}

func TestSupportCommands(t *testing.T) {
	t.Parallel()
	b, adminToken, st := setupHelp(t)
	b.run(t, "", "support", "ask", "--problem-type", "other", "--category", "webhooks", "--description", "My webhook answers 202").
		check(t, 0, []string{"Request 1 (open) from ada@example.com", "Category:     webhooks", "My webhook answers 202"}, nil)
	b.run(t, "", "support", "list").check(t, 0, []string{"ID", "open", "ada@example.com", "webhooks"}, nil)
	b.run(t, "", "support", "answer", "1", "--text", "x").check(t, 1, nil, []string{"only an admin may do this"})
	b.run(t, "Add a respond action.\n", "--token", adminToken, "support", "answer", "1", "--file", "-").
		check(t, 0, []string{"Request 1 (answered)", "Answer (", "Add a respond action."}, nil)
	notes, err := st.ListNotifications(t.Context(), 1, false, 10)
	if err != nil || len(notes) != 1 || notes[0].Kind != "support_answered" {
		t.Errorf("Activity after the answer: %v %+v", err, notes)
	}
	b.run(t, "", "support", "close", "1").check(t, 0, []string{"Request 1 (closed)"}, nil)
	b.run(t, "", "support", "show", "1", "--json").check(t, 0, []string{`"status": "closed"`}, nil)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"support", "ask", "--category", "auth"}, "--problem-type, --category and --description are required"},
		{[]string{"support", "answer", "1"}, "exactly one of --text and --file"},
		{[]string{"support", "show", "x"}, `"x" is not a support request id`},
		{[]string{"support", "list", "--status", "done"}, `--status "done"`},
	} {
		b.run(t, "", c.args...).check(t, 2, nil, []string{c.want})
	}
	if r := b.run(t, "", "support", "list", "--json"); !strings.Contains(r.stdout, `"id": `+strconv.Itoa(1)) {
		t.Errorf("list --json: %s", r.stdout)
	}
}
