package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigStringRedactsSecrets(t *testing.T) {
	c := Config{
		AdminPassword: "admin-secret-1",
		SMTPURL:       "smtp://u:smtp-secret-2@mail.example.com:587",
		SecretKey:     strings.Repeat("ab", 32),
		DBURL:         "postgres://sluice:db-secret-3@db.example.com/sluice",
	}
	s := c.String()
	for _, secret := range []string{"admin-secret-1", "smtp-secret-2", strings.Repeat("ab", 32), "db-secret-3"} {
		if strings.Contains(s, secret) {
			t.Errorf("Config.String() shows %q: %s", secret, s)
		}
	}
	if !strings.Contains(s, "db.example.com") {
		t.Errorf("Config.String() hides what is not secret: %s", s)
	}
}

func TestValidate(t *testing.T) {
	c := Config{}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "sluice-data" || c.Addr != "127.0.0.1:8080" || c.BaseURL != "http://127.0.0.1:8080" || c.Workers != 256 || c.Retention != 28*24*time.Hour ||
		c.SessionIdle != 8*time.Hour || c.SessionLifetime != 7*24*time.Hour {
		t.Errorf("defaults: %+v", c)
	}
	bad := Config{Addr: "8080"}
	if err := bad.validate(); err == nil || !strings.Contains(err.Error(), "HOST:PORT") {
		t.Errorf("validate(addr 8080) = %v", err)
	}
}

// freeAddr returns a free loopback address.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestRunOnce(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	cfg := Config{DataDir: dir, Addr: freeAddr(t), Logger: slog.New(slog.DiscardHandler), Out: &out}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	waitHealthy(t, cfg.Addr)

	// The generated admin password is printed once.
	if !strings.Contains(out.String(), "It is shown only this once") {
		t.Errorf("no generated password printed:\n%s", out.String())
	}
	info, err := os.Stat(filepath.Join(dir, "secret.key"))
	if err != nil || info.Mode().Perm() != 0o600 || info.Size() != 32 {
		t.Errorf("secret.key: %v %v", info, err)
	}
	// The portal is at /: an anonymous visitor is sent to sign in.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get("http://" + cfg.Addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin?next=%2F" {
		t.Errorf("GET /: %d to %q, want 303 to the sign-in form", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = http.Get("http://" + cfg.Addr + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Sign in to Sluice") {
		t.Errorf("GET /signin: %d\n%s", resp.StatusCode, body)
	}
	// A second server on the same data folder refuses to start.
	second := cfg
	second.Addr = freeAddr(t)
	if err := Run(context.Background(), second); err == nil || !strings.Contains(err.Error(), "in use by another sluice server") {
		t.Errorf("second server on the same data folder: %v", err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancel")
	}

	// Restarting does not print a password again, and says that an admin
	// password given now is ignored.
	out.Reset()
	var logs bytes.Buffer
	ctx2, cancel2 := context.WithCancel(context.Background())
	cfg.Addr, cfg.AdminPassword, cfg.Logger = freeAddr(t), "a new password", slog.New(slog.NewTextHandler(&logs, nil))
	go func() { done <- Run(ctx2, cfg) }()
	waitHealthy(t, cfg.Addr)
	cancel2()
	<-done
	if out.Len() != 0 {
		t.Errorf("second start printed:\n%s", out.String())
	}
	if !strings.Contains(logs.String(), "SLUICE_ADMIN_PASSWORD ignored") {
		t.Errorf("the ignored admin password is not logged:\n%s", logs.String())
	}
}

// TestBadSMTPURLWritesNothing: a mistyped SLUICE_SMTP_URL stops the
// server before it creates its data folder, key or first admin.
func TestBadSMTPURLWritesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var out bytes.Buffer
	cfg := Config{DataDir: dir, Addr: freeAddr(t), SMTPURL: "smtp//mail.example.com", Logger: slog.New(slog.DiscardHandler), Out: &out}
	err := Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "SLUICE_SMTP_URL") {
		t.Fatalf("Run = %v, want an SLUICE_SMTP_URL error", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the data folder was created: %v", err)
	}
	if out.Len() != 0 {
		t.Errorf("an admin was created:\n%s", out.String())
	}
}

// TestSMTPFromDefault: an SMTP URL without from= sends as sluice@ the
// host of the base URL.
func TestSMTPFromDefault(t *testing.T) {
	for _, tc := range []struct{ smtp, base, from string }{
		{"smtp://mail.example.com:25", "https://sluice.example.com", "sluice@sluice.example.com"},
		{"smtp://mail.example.com:25?from=ops@example.com", "https://sluice.example.com", "ops@example.com"},
		{"smtp://mail.example.com:25", "http://127.0.0.1:8080", "sluice@127.0.0.1"},
	} {
		_, from, err := smtpMailer(Config{SMTPURL: tc.smtp, BaseURL: tc.base})
		if err != nil || from != tc.from {
			t.Errorf("smtpMailer(%s, %s) = %q, %v; want %q", tc.smtp, tc.base, from, err, tc.from)
		}
	}
}

// waitHealthy polls /healthz until the server answers.
func waitHealthy(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server on %s did not come up: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSamplesSwitch: SLUICE_SAMPLES takes on or off only; the sample
// service answers under /sample/ by default with SQLite, and not at all
// when off.
func TestSamplesSwitch(t *testing.T) {
	bad := Config{Samples: "yes"}
	if err := bad.validate(); err == nil || !strings.Contains(err.Error(), "SLUICE_SAMPLES") {
		t.Errorf("validate(samples yes) = %v", err)
	}
	for _, tc := range []struct {
		samples string
		want    []int
	}{{"", []int{http.StatusBadGateway, http.StatusOK}}, {"off", []int{http.StatusSeeOther, http.StatusSeeOther}}} {
		cfg := Config{DataDir: t.TempDir(), Addr: freeAddr(t), Samples: tc.samples, AdminPassword: "a long enough password",
			Logger: slog.New(slog.DiscardHandler), Out: io.Discard}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- Run(ctx, cfg) }()
		waitHealthy(t, cfg.Addr)
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for i, want := range tc.want {
			resp, err := noFollow.Get("http://" + cfg.Addr + "/sample/flaky")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("samples %q: call %d of /sample/flaky: %d, want %d", tc.samples, i+1, resp.StatusCode, want)
			}
		}
		cancel()
		<-done
	}
}
