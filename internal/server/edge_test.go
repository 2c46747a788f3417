package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/auth"
	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/sqlite"
)

// running is a server started by startRun, with an admin's API token.
type running struct {
	cfg   Config
	token string
}

// startRun runs a server with cfg (its data folder, address and logger
// filled in) until the test ends, on a store seeded with an admin and an
// API token, so that no sign-in (argon2id) runs under the test's short
// deadlines.
func startRun(t *testing.T, cfg Config) *running {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Addr == "" {
		cfg.Addr = freeAddr(t)
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.Out = io.Discard
	st, err := sqlite.Open(t.Context(), filepath.Join(cfg.DataDir, "sluice.db"), cfg.Logger)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := st.CreateUser(t.Context(), store.User{Email: "admin@localhost", Name: "Admin", PasswordHash: "unused", Role: store.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	plain, hash, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateToken(t.Context(), store.Token{UserID: admin.ID, Name: "test", Hash: hash}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	})
	waitHealthy(t, cfg.Addr)
	return &running{cfg: cfg, token: plain}
}

// do sends a request as the admin to url and returns the answer.
func (s *running) do(t *testing.T, method, url, body string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// call makes an API request as the admin and decodes the answer into out.
func (s *running) call(t *testing.T, method, path, body string, want int, out any) {
	t.Helper()
	code, b, _ := s.do(t, method, "http://"+s.cfg.Addr+path, body)
	if code != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, code, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// saveFlow saves a flow from YAML source and returns its webhook URL.
func (s *running) saveFlow(t *testing.T, source string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"source": source})
	var f struct {
		WebhookURL string `json:"webhook_url"`
	}
	s.call(t, "POST", "/api/v1/flows", string(body), http.StatusCreated, &f)
	return f.WebhookURL
}

// TestSlowBodiesCutOff sends request bodies one byte at a time, as a
// slowloris client does, to an unauthenticated route, an authenticated
// one and a webhook, over real TCP: the server must close each connection
// once the read timeout passes, long before the body would have arrived.
func TestSlowBodiesCutOff(t *testing.T) {
	t.Parallel()
	const readTimeout = 500 * time.Millisecond
	s := startRun(t, Config{ReadTimeout: readTimeout})
	hook := s.saveFlow(t, "name: slow-hook\ntrigger: { type: webhook }\nactions:\n  - { id: a, type: compose, with: { value: 1 } }\n")
	hookPath := strings.TrimPrefix(hook, "http://"+s.cfg.Addr)

	cases := []struct{ name, path, auth string }{
		{"unauthenticated", "/api/v1/login", ""},
		{"authenticated", "/api/v1/flows", "Authorization: Bearer " + s.token + "\r\n"},
		{"webhook", hookPath, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The body would take 1,000 s at one byte per 100 ms; the bound
			// is 20 read timeouts.
			const bodyLen, every, bound = 10000, 100 * time.Millisecond, 20 * readTimeout
			const clients = 5
			errs := make(chan error, clients)
			for range clients {
				go func() { errs <- slowBody(s.cfg.Addr, tc.path, tc.auth, bodyLen, every, bound) }()
			}
			for range clients {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// slowBody sends a request whose body trickles in one byte per every and
// returns nil when the server closes the connection within bound.
func slowBody(addr, path, auth string, bodyLen int, every, bound time.Duration) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n", path, addr, bodyLen, auth)
	if _, err := c.Write([]byte(head)); err != nil {
		return err
	}
	closed := make(chan error, 1)
	go func() {
		_ = c.SetReadDeadline(time.Now().Add(bound))
		_, err := io.Copy(io.Discard, c)
		closed <- err
	}()
	tick := time.NewTicker(every)
	defer tick.Stop()
	sent := 0
	for {
		select {
		case err := <-closed:
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("%s: the connection is still open after %s (%d of %d body bytes sent)", path, bound, sent, bodyLen)
			}
			if sent >= bodyLen {
				return fmt.Errorf("%s: the whole body arrived before the server closed", path)
			}
			return nil
		case <-tick.C:
			if _, err := c.Write([]byte{' '}); err == nil {
				sent++
			}
		}
	}
}

// TestConnectionCaps checks the caps over real TCP: a client address over
// its cap is answered 503 and closed at once while another address still
// gets through, the total cap refuses any address, and a closed
// connection frees its place.
func TestConnectionCaps(t *testing.T) {
	t.Parallel()
	cfg := Config{Addr: "127.0.0.1:0", MaxConns: 3, MaxConnsPerClient: 2}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	ln, err := listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()

	// dialFrom connects from the loopback address from (all of 127/8 is
	// the loopback interface on Linux).
	dialFrom := func(from string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// status sends a GET on c and returns the answer's status code.
	status := func(c net.Conn) int {
		t.Helper()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("read answer: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// refused reads what a refused connection gets without sending
	// anything: a 503, then the end of the connection.
	refused := func(c net.Conn) {
		t.Helper()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil || !bytes.HasPrefix(b, []byte("HTTP/1.1 503 ")) || !bytes.Contains(b, []byte("Retry-After: 5")) {
			t.Fatalf("refused connection got %q, %v", b, err)
		}
	}

	// What the server accepts keeps TCP's half-close, which net/http uses
	// to close gracefully after an early answer.
	if _, ok := any(&cappedConn{}).(interface{ CloseWrite() error }); !ok {
		t.Error("accepted connections cannot CloseWrite")
	}
	a1, a2 := dialFrom("127.0.0.1"), dialFrom("127.0.0.1")
	if status(a1) != 200 || status(a2) != 200 {
		t.Fatal("the first two connections of one address were not served")
	}
	refused(dialFrom("127.0.0.1")) // the third of 127.0.0.1
	b1 := dialFrom("127.0.0.2")
	if got := status(b1); got != 200 {
		t.Fatalf("another address while the first is at its cap: %d", got)
	}
	refused(dialFrom("127.0.0.3")) // the total cap of 3
	// The server sees a1 close when it reads its end: until then a new
	// connection of 127.0.0.1 is still refused.
	a1.Close()
	for deadline := time.Now().Add(5 * time.Second); ; {
		got := status(dialFrom("127.0.0.1"))
		if got == 200 {
			break
		}
		if got != 503 || time.Now().After(deadline) {
			t.Fatalf("after a connection closed: %d", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRespondOutlivesWriteTimeout checks that a webhook waiting for its
// respond action gets its answer although the run takes longer than the
// server's write and read timeouts, which stay short for everything else;
// and that the answer is sandboxed and keeps none of the headers a respond
// action may not set.
func TestRespondOutlivesWriteTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(4 * timeout)
		fmt.Fprint(w, `{"late": true}`)
	}))
	defer slow.Close()
	s := startRun(t, Config{ReadTimeout: timeout, WriteTimeout: timeout, AllowNet: "127.0.0.1/32"})
	hook := s.saveFlow(t, `name: late-answer
trigger: { type: webhook }
actions:
  - id: call
    type: http
    with: { url: "`+slow.URL+`" }
  - id: answer
    type: respond
    with:
      status: 200
      headers: { Set-Cookie: "sid=evil", Access-Control-Allow-Origin: "*", Location: "https://evil.example", X-Kept: yes }
      body: "<script>alert(1)</script>"
`)
	resp, err := http.Post(hook, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<script>") {
		t.Fatalf("webhook answer: %d %q", resp.StatusCode, body)
	}
	h := resp.Header
	if h.Get("Content-Security-Policy") != "sandbox" || h.Get("X-Kept") != "yes" {
		t.Errorf("answer headers: %v", h)
	}
	for _, name := range []string{"Set-Cookie", "Access-Control-Allow-Origin", "Location"} {
		if v := h.Values(name); len(v) > 0 {
			t.Errorf("the respond action set %s: %q", name, v)
		}
	}
}

// TestWebhookOrigin checks a separate webhook origin: webhook URLs use it,
// only it serves webhooks, and it serves nothing else.
func TestWebhookOrigin(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	hookBase := "http://localhost:" + port
	s := startRun(t, Config{Addr: addr, WebhookBaseURL: hookBase})
	hook := s.saveFlow(t, "name: elsewhere\ntrigger: { type: webhook }\nactions:\n  - { id: a, type: compose, with: { value: 1 } }\n")
	if !strings.HasPrefix(hook, hookBase+"/hooks/") {
		t.Fatalf("webhook_url %q does not start with %s", hook, hookBase)
	}
	get := func(method, url string) (int, string, http.Header) {
		t.Helper()
		code, b, h := s.do(t, method, url, `{}`)
		return code, string(b), h
	}
	if code, body, h := get("POST", hook); code != http.StatusAccepted || h.Get("Content-Security-Policy") != "sandbox" {
		t.Errorf("webhook on its origin: %d %s %v", code, body, h)
	}
	mainHook := "http://" + addr + strings.TrimPrefix(hook, hookBase)
	if code, body, _ := get("POST", mainHook); code != http.StatusNotFound || !strings.Contains(body, hookBase) {
		t.Errorf("webhook on the main origin: %d %s", code, body)
	}
	if code, body, _ := get("GET", hookBase+"/api/v1/me"); code != http.StatusNotFound {
		t.Errorf("the API on the webhook origin: %d %s", code, body)
	}
	if code, _, _ := get("GET", "http://"+addr+"/api/v1/me"); code != http.StatusOK {
		t.Errorf("the API on the main origin: %d", code)
	}
}

// TestWarnReadable checks that a data folder and secret key others may
// read are reported.
func TestWarnReadable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret.key"), make([]byte, 32), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	warnReadable(slog.New(slog.NewTextHandler(&logs, nil)), dir)
	for _, want := range []string{"path=" + dir + " ", "secret.key", "mode=-rw-r--r--", "mode=-rwxr-xr-x"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	logs.Reset()
	os.Chmod(dir, 0o700)
	os.Chmod(filepath.Join(dir, "secret.key"), 0o600)
	warnReadable(slog.New(slog.NewTextHandler(&logs, nil)), dir)
	if logs.Len() != 0 {
		t.Errorf("warned about private files:\n%s", logs.String())
	}
}

// TestValidateHTTPLimits checks the defaults of the deadlines and caps,
// and the webhook origin's checks.
func TestValidateHTTPLimits(t *testing.T) {
	t.Parallel()
	c := Config{}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if c.ReadHeaderTimeout != 10*time.Second || c.ReadTimeout != time.Minute || c.WriteTimeout != time.Minute ||
		c.IdleTimeout != 2*time.Minute || c.MaxConns != 1024 || c.MaxConnsPerClient != 64 || c.WebhookBaseURL != "" {
		t.Errorf("defaults: %+v", c)
	}
	for _, tc := range []struct{ base, hooks, want string }{
		{"https://sluice.example.com", "https://hooks.example.com/", ""},
		{"https://sluice.example.com", "https://sluice.example.com:8443", "another host"},
		{"https://sluice.example.com", "https://hooks.example.com/in", "no path"},
		{"https://sluice.example.com", "hooks.example.com", "http or https URL"},
	} {
		c := Config{BaseURL: tc.base, WebhookBaseURL: tc.hooks}
		err := c.validate()
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("WebhookBaseURL %q: %v, want %q", tc.hooks, err, tc.want)
		}
	}
}

// TestClientKey checks what the per-client cap counts by.
func TestClientKey(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		"192.0.2.7:4000":             "192.0.2.7",
		"[::ffff:192.0.2.7]:4000":    "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::",
		"[2001:db8:1:2:ffff::1]:443": "2001:db8:1:2::",
	} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := clientKey(a).String(); got != want {
			t.Errorf("clientKey(%s) = %s, want %s", addr, got, want)
		}
	}
	if clientKey(&net.UnixAddr{Name: "/tmp/s"}).IsValid() {
		t.Error("a Unix address has a client key")
	}
}
