package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/connection/oauthtest"
)

// authorize runs 'sluice connections authorize NAME', follows the address
// it prints as a browser would (the provider signs in at once and
// redirects to the server's /oauth/callback), and returns the callback
// page and what the command printed once it exited 0.
func (s *server) authorize(name string) (page, out string) {
	s.t.Helper()
	cmd := exec.Command(binary, "connections", "authorize", name)
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+s.config, "SLUICE_SERVER=", "SLUICE_TOKEN=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	var errOut strings.Builder
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var printed strings.Builder
	var link string
	for link == "" && sc.Scan() {
		line := sc.Text()
		printed.WriteString(line + "\n")
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "http") {
			link = t
		}
	}
	if link == "" {
		cmd.Wait()
		s.t.Fatalf("connections authorize printed no address:\n%s%s", printed.String(), errOut.String())
	}
	resp, err := http.Get(link)
	if err != nil {
		s.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Request.URL.String(), s.url+"/oauth/callback") {
		s.t.Fatalf("the browser ended at %s with %d:\n%s", resp.Request.URL, resp.StatusCode, b)
	}
	rest, _ := io.ReadAll(stdout)
	printed.Write(rest)
	if err := cmd.Wait(); err != nil {
		s.t.Fatalf("connections authorize: %v\n%s%s", err, printed.String(), errOut.String())
	}
	return string(b), printed.String()
}

// TestOAuth2Journey follows an authorization-code connection through its
// life with the real binary and a provider served by the test: sign in
// from the CLI, a run, the access token expiring and refreshed (the
// rotated refresh token saved, so that a restarted server refreshes with
// it), the provider refusing the refresh, the connection needing
// attention and the run's failure saying to sign in again, signing in
// again, and the failed run resubmitted with success.
func TestOAuth2Journey(t *testing.T) {
	p := oauthtest.New(t)
	s, smtp := startServerWithMail(t)
	s.login()
	s.sluice(oauthtest.ClientSecret, "connections", "add", "google", "--type", "oauth2", "--grant", "authorization_code",
		"--auth-url", p.URL+"/authorize", "--token-url", p.URL+"/token", "--client-id", oauthtest.ClientID,
		"--client-secret-stdin", "--scope", "drive.readonly")
	s.sluice("", "flows", "apply", "-f", writeFlow(t, `name: sync
trigger: { type: manual }
actions:
  - { id: list_files, type: http, connection: google, with: { url: "`+p.URL+`/api" } }
`))

	// Before anyone signed in, the run says so.
	first := s.showRun(s.triggerWait("sync", `{}`))
	if first.Status != "failed" || first.Steps[0].Error == nil || first.Steps[0].Error.Diagnosis.Code != "oauth2.not_authorized" {
		t.Fatalf("run before the sign-in: %+v", first)
	}

	// Sign in. Access tokens live 70 s, so that the first one is fresh
	// (not within the one-minute refresh margin) for about 10 s.
	p.SetLifetime(70 * time.Second)
	page, out := s.authorize("google")
	signedAt := time.Now()
	if !strings.Contains(page, "Signed in") || !strings.Contains(out, "Signed in: connection google has a new token") {
		t.Fatalf("sign-in: page\n%s\ncommand:\n%s", page, out)
	}
	if ex, _, _ := p.Counts(); ex != 1 {
		t.Fatalf("%d codes exchanged, want 1", ex)
	}
	var conn struct {
		Health       string   `json:"health"`
		SecretFields []string `json:"secret_fields"`
	}
	showConn := func() {
		t.Helper()
		out := s.sluice("", "connections", "show", "google", "--json")
		if err := json.Unmarshal([]byte(out), &conn); err != nil {
			t.Fatalf("connections show: %v\n%s", err, out)
		}
	}
	showConn()
	if conn.Health != "ok" || !strings.Contains(strings.Join(conn.SecretFields, ","), "refresh_token") {
		t.Fatalf("connection after the sign-in: %+v", conn)
	}

	// A run with the fresh token.
	if r := s.showRun(s.triggerWait("sync", `{}`)); r.Status != "succeeded" {
		t.Fatalf("run after the sign-in: %+v", r)
	}
	if _, refreshes, calls := p.Counts(); calls != 1 || refreshes != 0 && time.Since(signedAt) < 9*time.Second {
		t.Fatalf("after the first run: %d API calls, %d refreshes; want 1 and 0", calls, refreshes)
	}

	// The token expires (within the margin): the next run refreshes it.
	// Tokens from now on live 30 s, so that every use refreshes.
	p.SetLifetime(30 * time.Second)
	time.Sleep(time.Until(signedAt.Add(11 * time.Second)))
	if r := s.showRun(s.triggerWait("sync", `{}`)); r.Status != "succeeded" {
		t.Fatalf("run after the token expired: %+v", r)
	}
	_, refreshed, _ := p.Counts()
	if refreshed != 1 {
		t.Fatalf("%d refreshes after the token expired, want 1", refreshed)
	}
	// The provider rotated the refresh token and spent the old one: a
	// restarted server (no cache) refreshes with the one saved.
	s.kill()
	s.start()
	if r := s.showRun(s.triggerWait("sync", `{}`)); r.Status != "succeeded" {
		t.Fatalf("run after a restart: %+v\n%s", r, s.logs)
	}
	if _, n, _ := p.Counts(); n != refreshed+1 {
		t.Fatalf("%d refreshes after the restart, want %d", n, refreshed+1)
	}

	// The person revokes the access: the refresh is refused.
	p.RefuseRefresh(true)
	failedID := s.triggerWait("sync", `{}`)
	failed := s.showRun(failedID)
	if failed.Status != "failed" || failed.Steps[0].Error == nil {
		t.Fatalf("run after the refresh was refused: %+v", failed)
	}
	d := failed.Steps[0].Error.Diagnosis
	if d.Class != "auth" || d.Code != "oauth2.refresh_refused" || !strings.Contains(d.HowToFix, "sluice connections authorize google") || !strings.Contains(d.HowToFix, "Sign in again") {
		t.Fatalf("diagnosis of the refused refresh: %+v", d)
	}
	if text := s.sluice("", "runs", "show", fmt.Sprint(failedID)); !strings.Contains(text, "sign in again") {
		t.Errorf("runs show does not say to sign in again:\n%s", text)
	}
	showConn()
	if conn.Health != "needs_attention" {
		t.Fatalf("connection after the refused refresh: %+v", conn)
	}
	email := waitMail(t, smtp, "repair_tip")
	if !strings.Contains(email.Text, "sluice connections authorize google") || !strings.Contains(email.Text, "google") {
		t.Errorf("the repair tip does not say to sign in again:\n%s", email.Text)
	}

	if out, errOut, code := s.run("", "connections", "verify", "google"); code != 1 || !strings.Contains(out+errOut, "sluice connections authorize google") {
		t.Errorf("connections verify after the refused refresh: exit %d\n%s%s", code, out, errOut)
	}

	// Sign in again, resubmit: success.
	p.RefuseRefresh(false)
	p.SetLifetime(time.Hour)
	if page, _ := s.authorize("google"); !strings.Contains(page, "Signed in") {
		t.Fatalf("signing in again:\n%s", page)
	}
	showConn()
	if conn.Health != "ok" {
		t.Fatalf("connection after signing in again: %+v", conn)
	}
	s.sluice("", "runs", "resubmit", "--connection", "google", "--wait")
	runs := s.waitRuns("sync", "succeeded", 4, 30*time.Second)
	if got := s.showRun(runs[0].ID); got.ResubmittedFrom == nil || *got.ResubmittedFrom != failedID {
		t.Fatalf("the latest success is not the resubmit of run %d: %+v", failedID, got)
	}

	// A used sign-in address does not work twice.
	resp, err := http.Get(s.url + "/oauth/callback?state=nope&code=x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "Sluice does not know this sign-in") {
		t.Errorf("callback with an unknown state: %d\n%s", resp.StatusCode, b)
	}
	// No secret reached the server's log, an email, a run or a byte of the
	// database (the tokens are sealed).
	shown := s.sluice("", "runs", "list", "--json")
	for _, r := range s.waitRuns("sync", "", 6, time.Second) {
		shown += s.sluice("", "runs", "show", fmt.Sprint(r.ID), "--json")
	}
	shown += s.sluice("", "connections", "show", "google", "--json") + s.sluice("", "activity", "--json")
	for _, m := range smtp.Messages() {
		shown += string(m.Data) + m.Text + m.HTML
	}
	s.kill()
	files, _ := filepath.Glob(filepath.Join(s.data, "*"))
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			shown += string(b)
		}
	}
	for _, secret := range []string{oauthtest.ClientSecret, "AT-oauthtest-", "RT-oauthtest-", "CODE-oauthtest-"} {
		if strings.Contains(s.logs.String(), secret) {
			t.Errorf("the server log holds %q", secret)
		}
		if strings.Contains(shown, secret) {
			t.Errorf("a run, an email, the API or the database holds %q", secret)
		}
	}
}
