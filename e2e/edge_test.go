package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServerEdgeEndToEnd checks the HTTP edge of the real binary: the
// database files are private, a webhook's answer is sandboxed and its
// caller's credentials and token are not stored (and the run still
// resubmits), a manual input over the cap answers 413 too_large, a slow
// body is cut off and one client address cannot hold more connections
// than its cap.
func TestServerEdgeEndToEnd(t *testing.T) {
	s := &server{t: t, data: t.TempDir(), config: t.TempDir(), addr: freeAddr(t),
		env: []string{"SLUICE_READ_TIMEOUT=1s", "SLUICE_MAX_CONNS_PER_CLIENT=8"}}
	s.url = "http://" + s.addr
	s.start()
	t.Cleanup(s.kill)
	s.login()
	token := s.token()
	api := func(method, path, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, s.url+"/api/v1"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}

	s.sluice("", "flows", "apply", "-f", writeFlow(t, `name: answer
trigger: { type: webhook }
actions:
  - id: answer
    type: respond
    with:
      headers: { Set-Cookie: "sid=1" }
      body: "hello {{ trigger.body.who }}"
`))
	var shown struct {
		WebhookURL string `json:"webhook_url"`
	}
	if err := json.Unmarshal([]byte(s.sluice("", "flows", "show", "answer", "--json")), &shown); err != nil {
		t.Fatal(err)
	}
	hookToken := shown.WebhookURL[strings.LastIndex(shown.WebhookURL, "/")+1:]
	req, _ := http.NewRequest("POST", shown.WebhookURL, strings.NewReader(`{"who": "Ada"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer caller-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello Ada" || resp.Header.Get("Content-Security-Policy") != "sandbox" || resp.Header.Get("Set-Cookie") != "" {
		t.Fatalf("webhook answer: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	runID := resp.Header.Get("X-Sluice-Run")
	code, run := api("GET", "/runs/"+runID, "")
	if code != 200 || strings.Contains(string(run), "caller-secret") || strings.Contains(string(run), hookToken) || !strings.Contains(string(run), "[redacted]") {
		t.Errorf("stored run: %d %s", code, run)
	}
	if code, out := api("POST", "/runs/"+runID+"/resubmit", ""); code != http.StatusCreated {
		t.Errorf("resubmit: %d %s", code, out)
	}
	s.waitRuns("answer", "succeeded", 2, 30*time.Second)

	// The database files are the server user's only.
	for _, name := range []string{"sluice.db", "sluice.db-wal", "sluice.db-shm"} {
		info, err := os.Stat(filepath.Join(s.data, name))
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", name, info.Mode(), err)
		}
	}

	// A manual input of 6 MB is stored once; one over the body cap is 413.
	s.sluice("", "flows", "apply", "-f", writeFlow(t, "name: big\ntrigger: { type: manual }\nactions:\n  - { id: a, type: compose, with: { value: 1 } }\n"))
	if code, out := api("POST", "/flows/big/trigger", `{"input": "`+strings.Repeat("x", 6<<20)+`"}`); code != http.StatusCreated {
		t.Errorf("6 MB input: %d %.200s", code, out)
	}
	if code, out := api("POST", "/flows/big/trigger", `{"input": "`+strings.Repeat("x", 11<<20)+`"}`); code != http.StatusRequestEntityTooLarge || !strings.Contains(string(out), `"too_large"`) {
		t.Errorf("11 MB input: %d %.200s", code, out)
	}

	// A body sent one byte a second is cut off after the 1s read timeout.
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /api/v1/login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n", s.addr)
	cut := make(chan error, 1)
	go func() {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err := io.Copy(io.Discard, c)
		cut <- err
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case err := <-cut:
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("a slow body held its connection for 20s")
			}
			done = true
		case <-tick.C:
			c.Write([]byte{' '})
		}
	}

	// The ninth connection of one address is refused at once.
	for range 8 {
		held, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer held.Close()
	}
	over, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer over.Close()
	over.SetReadDeadline(time.Now().Add(10 * time.Second))
	if got, err := io.ReadAll(over); err != nil || !strings.HasPrefix(string(got), "HTTP/1.1 503") {
		t.Errorf("connection over the cap: %q %v", got, err)
	}
}
