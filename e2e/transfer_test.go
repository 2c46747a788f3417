package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestExportImportRoundTrip moves a data folder with history to
// PostgreSQL and back with `sluice export | sluice import`, and checks that
// the API answers the same on every store: runs, steps, flows with their
// versions, connections, problems, notifications, the outbox. The export
// from SQLite is taken while its server runs.
func TestExportImportRoundTrip(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("fail") == "1" {
			http.Error(w, "refused", http.StatusUnprocessableEntity)
			return
		}
		fmt.Fprint(w, `{"ok":true}`)
	}))
	defer api.Close()
	key := strings.Repeat("cd", 32)
	config := t.TempDir()
	a := node(t, config, key)
	a.start()
	a.login()
	a.sluice("tok-123", "connections", "add", "crm", "--type", "bearer", "--token-stdin")
	a.sluice("", "flows", "apply", "-f", writeFlow(t, `name: sync
trigger: { type: manual }
actions:
  - id: call
    type: http
    with: { url: "`+api.URL+`/", query: { fail: "{{ trigger.input.fail }}" } }
`))
	// A second version of the flow, so that versions move too.
	a.sluice("", "flows", "apply", "-f", writeFlow(t, `name: sync
trigger: { type: manual }
actions:
  - id: call
    type: http
    with: { url: "`+api.URL+`/", query: { fail: "{{ trigger.input.fail }}", v: "2" } }
`))
	var ids []int64
	for i := range 6 {
		ids = append(ids, a.triggerWait("sync", fmt.Sprintf(`{"fail": "%d", "i": %d}`, i%2, i)))
	}
	// A resubmitted run keeps its link to the run it came from.
	a.sluice("", "runs", "resubmit", fmt.Sprint(ids[1]))
	a.waitRuns("sync", "failed", 4, 30*time.Second)
	a.waitRuns("sync", "succeeded", 3, 30*time.Second)

	before := answers(t, a, ids)
	if n := strings.Count(before["/runs?limit=100"], `"flow_name"`); n != 7 || !strings.Contains(before["/runs?limit=100"], fmt.Sprintf(`"resubmitted_from":%d`, ids[1])) {
		t.Fatalf("%d runs before the export, want 7 with one resubmitted from %d:\n%s", n, ids[1], before["/runs?limit=100"])
	}

	// SQLite to PostgreSQL, while the SQLite server runs.
	db := postgresURL(t)
	pipe(t, a, []string{"export", "--data", a.data}, []string{"import", "--db", db}, "SLUICE_SECRET_KEY="+key)

	// The target's key must open the connections' secrets: another key
	// is refused with a clear message and nothing is committed.
	other := postgresURL(t)
	out, ok := pipeResult(t, a, []string{"export", "--data", a.data}, []string{"import", "--db", other}, "SLUICE_SECRET_KEY="+strings.Repeat("ef", 32))
	if ok || !strings.Contains(out, "the secret key does not open the exported connections' secrets") {
		t.Fatalf("import with another key: ok=%v\n%s", ok, out)
	}
	// A backup of the live SQLite store, restored into a new data folder
	// (docs/deploy.md), reads the same.
	backup := filepath.Join(t.TempDir(), "sluice-backup.db")
	a.sluice("", "backup", "--data", a.data, "--out", backup)
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, mode %v, want 0600", err, fi.Mode())
	}
	a.kill()
	d := node(t, config, key)
	if err := os.Rename(backup, dataFile(d.data)); err != nil {
		t.Fatal(err)
	}
	d.start()
	sameAnswers(t, answers(t, d, ids), before, "after restoring the backup", nil)
	d.kill()

	b := node(t, config, key)
	b.start2(db)
	onPostgres := answers(t, b, ids)
	// PostgreSQL keeps times to the microsecond.
	sameAnswers(t, onPostgres, before, "on PostgreSQL", micros)

	// pg_dump of the live database, restored with pg_restore into a new
	// database (docs/deploy.md), reads the same.
	e := node(t, config, key)
	e.start2(pgDumpRestore(t, db))
	sameAnswers(t, answers(t, e, ids), onPostgres, "after pg_restore", nil)
	e.kill()

	// And back to a new data folder.
	c := node(t, config, key)
	pipe(t, b, []string{"export", "--db", db}, []string{"import", "--data", c.data}, "SLUICE_SECRET_KEY="+key)
	b.kill()
	c.start()
	sameAnswers(t, answers(t, c, ids), onPostgres, "back on SQLite", nil)
	// The moved store keeps working: new runs take new ids.
	out = c.sluice("", "--server", c.url, "--token", c.token(), "trigger", "sync", "--input", `{"fail": "0"}`, "--wait", "--json")
	var id int64
	if m := regexp.MustCompile(`"id":\s*(\d+)`).FindStringSubmatch(out); m != nil {
		fmt.Sscan(m[1], &id)
	}
	if id <= ids[len(ids)-1] {
		t.Fatalf("a new run after the import got id %d:\n%s", id, out)
	}
}

// answers reads the API with the token the CLI signed in with, replacing
// the server's own URL so that servers can be compared.
func answers(t *testing.T, s *server, runIDs []int64) map[string]string {
	t.Helper()
	paths := []string{"/runs?limit=100", "/flows", "/flows/sync", "/flows/sync/versions", "/flows/sync/versions/1",
		"/connections", "/connections/crm", "/problems", "/notifications", "/me/settings", "/tokens", "/users"}
	for _, id := range runIDs {
		paths = append(paths, fmt.Sprintf("/runs/%d", id))
	}
	out := make(map[string]string)
	for _, p := range paths {
		req, _ := http.NewRequest("GET", s.url+"/api/v1"+p, nil)
		req.Header.Set("Authorization", "Bearer "+s.token())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", p, resp.StatusCode, body)
		}
		out[p] = strings.ReplaceAll(string(body), s.url, "BASE")
	}
	return out
}

// fraction matches the fraction of a second of an RFC 3339 time.
var fraction = regexp.MustCompile(`(T\d\d:\d\d:\d\d)\.(\d+)`)

// micros cuts the times in s to microseconds, as PostgreSQL keeps them,
// dropping trailing zeros as Go's RFC 3339 does.
func micros(s string) string {
	return fraction.ReplaceAllStringFunc(s, func(m string) string {
		p := fraction.FindStringSubmatch(m)
		f := p[2]
		if len(f) > 6 {
			f = f[:6]
		}
		f = strings.TrimRight(f, "0")
		if f == "" {
			return p[1]
		}
		return p[1] + "." + f
	})
}

// pipe runs `sluice FROM... | sluice TO...` in a shell and fails the test
// unless both succeed.
func pipe(t *testing.T, s *server, from, to []string, env ...string) {
	t.Helper()
	if out, ok := pipeResult(t, s, from, to, env...); !ok {
		t.Fatalf("sluice %s | sluice %s failed:\n%s", strings.Join(from, " "), strings.Join(to, " "), out)
	}
}

// pipeResult runs the pipe and returns its stderr and whether both sides
// succeeded.
func pipeResult(t *testing.T, s *server, from, to []string, env ...string) (string, bool) {
	t.Helper()
	quote := func(args []string) string {
		q := make([]string, len(args))
		for i, a := range args {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		return strings.Join(q, " ")
	}
	script := "set -o pipefail; '" + binary + "' " + quote(from) + " | '" + binary + "' " + quote(to)
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append(append(os.Environ(), "XDG_CONFIG_HOME="+s.config, "SLUICE_DATA=", "SLUICE_DB="), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// dataFile is the SQLite file of a data folder.
func dataFile(dir string) string { return filepath.Join(dir, "sluice.db") }

// pgDumpRestore backs up the schema of the database URL db with pg_dump
// and restores it with pg_restore into a new database, whose URL (with the
// same search_path) it returns.
func pgDumpRestore(t *testing.T, db string) string {
	t.Helper()
	if _, err := exec.LookPath("pg_dump"); err != nil {
		if os.Getenv("SLUICE_TEST_POSTGRES") != "" {
			t.Fatalf("pg_dump is required (SLUICE_TEST_POSTGRES is set): %v", err)
		}
		t.Skipf("pg_dump: %v", err)
	}
	base, schema, _ := strings.Cut(db, "&search_path=")
	file := filepath.Join(t.TempDir(), "sluice.dump")
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	run("pg_dump", "--format=custom", "--schema="+schema, "--file="+file, base)
	newDB := "sluice_restore_" + strings.TrimPrefix(schema, "sluice_e2e_")
	run("psql", base, "-c", "CREATE DATABASE "+newDB)
	t.Cleanup(func() { exec.Command("psql", base, "-c", "DROP DATABASE IF EXISTS "+newDB+" WITH (FORCE)").Run() })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + newDB
	restored := u.String()
	run("pg_restore", "--no-owner", "--dbname="+restored, file)
	return restored + "&search_path=" + schema
}

// node is a server, not started yet, on a new data folder with the CLI
// configuration folder config and the secret key.
func node(t *testing.T, config, key string) *server {
	s := &server{t: t, data: t.TempDir(), config: config, addr: freeAddr(t), env: []string{"SLUICE_SECRET_KEY=" + key}}
	s.url = "http://" + s.addr
	t.Cleanup(s.kill)
	return s
}

// sameAnswers fails the test for every answer of got that differs from
// want's (passed through norm when it is not nil).
func sameAnswers(t *testing.T, got, want map[string]string, what string, norm func(string) string) {
	t.Helper()
	for path, w := range want {
		if norm != nil {
			w = norm(w)
		}
		if got[path] != w {
			t.Errorf("GET %s %s:\n got %s\nwant %s", path, what, got[path], w)
		}
	}
}
