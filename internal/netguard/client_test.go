package netguard

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testServer is an httptest server on 127.0.0.1 that counts the requests it
// was sent, so a test can prove a refused request never reached it.
type testServer struct {
	*httptest.Server
	hits atomic.Int64
}

func newTestServer(t *testing.T, h http.HandlerFunc) *testServer {
	t.Helper()
	ts := &testServer{}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.hits.Add(1)
		if h != nil {
			h(w, r)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(ts.Close)
	return ts
}

// localhostURL returns the server's URL with the host written "localhost".
func (ts *testServer) localhostURL() string {
	u, _ := url.Parse(ts.URL)
	u.Host = "localhost:" + u.Port()
	return u.String()
}

func newTestClient(t *testing.T, allow string) *http.Client {
	t.Helper()
	a, err := ParseAllow(allow)
	if err != nil {
		t.Fatalf("ParseAllow(%q): %v", allow, err)
	}
	c := NewClient(Options{Allow: a, Timeout: 5 * time.Second})
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func get(t *testing.T, c *http.Client, u string) (string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func requireBlocked(t *testing.T, err error, wantReason string) *BlockedError {
	t.Helper()
	if err == nil {
		t.Fatal("request succeeded, want it refused")
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Errorf("error %T is not a *url.Error: %v", err, err)
	}
	var be *BlockedError
	if !errors.As(err, &be) {
		t.Fatalf("error is not a *BlockedError: %v", err)
	}
	if be.Reason != wantReason {
		t.Errorf("Reason = %q, want %q", be.Reason, wantReason)
	}
	if !IsBlocked(err) {
		t.Error("IsBlocked = false")
	}
	return be
}

func TestClientBlocksLoopbackByDefault(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	c := newTestClient(t, "")

	t.Run("ip literal", func(t *testing.T) {
		_, err := get(t, c, ts.URL)
		be := requireBlocked(t, err, ReasonLoopback)
		if be.IP != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("IP = %v", be.IP)
		}
	})
	t.Run("host name resolved at dial time", func(t *testing.T) {
		_, err := get(t, c, ts.localhostURL())
		be := requireBlocked(t, err, ReasonLoopback)
		want := `refusing to connect to 127.0.0.1 (loopback) for host "localhost": set SLUICE_ALLOW_NET to allow it`
		if be.Error() != want {
			t.Errorf("message = %q\nwant        %q", be.Error(), want)
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("client error %q does not carry the message", err)
		}
	})
	if n := ts.hits.Load(); n != 0 {
		t.Errorf("server got %d requests, want 0", n)
	}
}

func TestClientAllowed(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	tests := []struct {
		name, allow string
		url         func() string
	}{
		{"cidr", "127.0.0.1/32", func() string { return ts.URL }},
		{"loopback range", "10.0.0.0/8, 127.0.0.0/8", func() string { return ts.localhostURL() }},
		{"host name", "localhost", func() string { return ts.localhostURL() }},
		{"host name any case", "LocalHost.", func() string { return ts.localhostURL() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body, err := get(t, newTestClient(t, tt.allow), tt.url())
			if err != nil {
				t.Fatalf("allowed request failed: %v", err)
			}
			if body != "ok" {
				t.Errorf("body = %q", body)
			}
		})
	}
}

func TestClientHostNameDoesNotOpenIPLiteral(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	_, err := get(t, newTestClient(t, "localhost"), ts.URL) // 127.0.0.1 literal
	requireBlocked(t, err, ReasonLoopback)
}

func TestClientRedirectToBlockedAddress(t *testing.T) {
	t.Parallel()
	target := newTestServer(t, nil)
	front := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/secret", http.StatusFound)
	})
	// Only the name "localhost" is opened: the front server is reached by
	// that name, the redirect points at the 127.0.0.1 literal.
	c := newTestClient(t, "localhost")
	_, err := get(t, c, front.localhostURL())
	requireBlocked(t, err, ReasonLoopback)
	if front.hits.Load() != 1 {
		t.Errorf("front server hits = %d, want 1", front.hits.Load())
	}
	if target.hits.Load() != 0 {
		t.Errorf("redirect target was reached %d times", target.hits.Load())
	}
}

func TestClientRedirectRules(t *testing.T) {
	t.Parallel()
	var ts *testServer
	ts = newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/ftp":
			http.Redirect(w, r, "ftp://127.0.0.1/x", http.StatusFound)
		case "/file":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		case "/chain":
			n := len(r.URL.Query()["n"])
			if n < 3 {
				http.Redirect(w, r, r.URL.String()+"&n=1", http.StatusFound)
				return
			}
			_, _ = io.WriteString(w, "end")
		}
	})

	t.Run("loop stops after 10", func(t *testing.T) {
		before := ts.hits.Load()
		_, err := get(t, newTestClient(t, "127.0.0.1"), ts.URL+"/loop")
		if err == nil || !strings.Contains(err.Error(), "stopped after 10 redirects") {
			t.Fatalf("err = %v, want stopped after 10 redirects", err)
		}
		if got := ts.hits.Load() - before; got != 11 {
			t.Errorf("requests = %d, want 11 (first + 10 redirects)", got)
		}
	})
	for _, path := range []string{"/ftp", "/file"} {
		t.Run("scheme "+path, func(t *testing.T) {
			_, err := get(t, newTestClient(t, "127.0.0.1"), ts.URL+path)
			if err == nil || !strings.Contains(err.Error(), "only http and https") {
				t.Fatalf("err = %v, want scheme refusal", err)
			}
		})
	}
	t.Run("custom cap", func(t *testing.T) {
		a, _ := ParseAllow("127.0.0.1")
		c := NewClient(Options{Allow: a, MaxRedirects: 2})
		t.Cleanup(c.CloseIdleConnections)
		if _, err := get(t, c, ts.URL+"/chain?x=1"); err == nil || !strings.Contains(err.Error(), "after 2 redirects") {
			t.Errorf("err = %v, want stop after 2", err)
		}
		c3 := NewClient(Options{Allow: a, MaxRedirects: 3})
		t.Cleanup(c3.CloseIdleConnections)
		if body, err := get(t, c3, ts.URL+"/chain?x=1"); err != nil || body != "end" {
			t.Errorf("3 redirects allowed: body %q, err %v", body, err)
		}
	})
	t.Run("negative follows none", func(t *testing.T) {
		a, _ := ParseAllow("127.0.0.1")
		c := NewClient(Options{Allow: a, MaxRedirects: -1})
		t.Cleanup(c.CloseIdleConnections)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, ts.URL+"/loop", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			t.Errorf("status = %d, want 302", resp.StatusCode)
		}
	})
}

func TestClientRefusesMetadataWithoutDialing(t *testing.T) {
	t.Parallel()
	// Even a broad allow by host name must not open the metadata address.
	c := newTestClient(t, "*.example.com,169.254.0.1")
	for _, u := range []string{"http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/latest/"} {
		_, err := get(t, c, u)
		requireBlocked(t, err, ReasonMetadata)
		// A refusal from the Control hook would name the address dialed;
		// the pre-dial check refuses before any socket exists.
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Addr != nil {
			t.Errorf("%s: want a refusal before dialing, got %#v", u, oe)
		}
	}
}

func TestClientRefusesIPv6Loopback(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, "127.0.0.1/32")
	_, err := get(t, c, "http://[::1]:1/")
	requireBlocked(t, err, ReasonLoopback)

	// A real server on ::1 when the machine has IPv6, to refuse a live target.
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Logf("no IPv6 loopback here (%v); live-server case skipped", err)
		return
	}
	ts := &testServer{}
	ts.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ts.hits.Add(1) }))
	ts.Listener.Close()
	ts.Listener = l
	ts.Start()
	t.Cleanup(ts.Close)
	_, err = get(t, c, ts.URL)
	requireBlocked(t, err, ReasonLoopback)
	if ts.hits.Load() != 0 {
		t.Error("IPv6 server was reached")
	}
	if _, err := get(t, newTestClient(t, "::1"), ts.URL); err != nil {
		t.Errorf("allowed ::1: %v", err)
	}
}

func TestClientIgnoresProxyEnv(t *testing.T) {
	// Not parallel: it sets the environment.
	ts := newTestServer(t, nil)
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	t.Setenv("http_proxy", "http://127.0.0.1:1")
	c := newTestClient(t, "127.0.0.1")
	if _, err := get(t, c, ts.URL); err != nil {
		t.Fatalf("request went through the proxy: %v", err)
	}
	if ts.hits.Load() != 1 {
		t.Errorf("hits = %d", ts.hits.Load())
	}
}

func TestNewClientDefaults(t *testing.T) {
	t.Parallel()
	c := NewClient(Options{})
	if c.Timeout != DefaultTimeout {
		t.Errorf("Timeout = %v, want %v", c.Timeout, DefaultTimeout)
	}
	tr, ok := c.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("Transport is %T", c.Transport)
	}
	if tr.MaxIdleConnsPerHost != 64 || tr.DisableKeepAlives || tr.Proxy != nil {
		t.Errorf("transport not tuned: perHost=%d keepalives-off=%v proxy=%v",
			tr.MaxIdleConnsPerHost, tr.DisableKeepAlives, tr.Proxy != nil)
	}
}

func TestDialerRefusesNonTCP(t *testing.T) {
	t.Parallel()
	_, err := NewDialer(Options{}).DialContext(context.Background(), "udp", "8.8.8.8:53")
	if err == nil || !strings.Contains(err.Error(), "only tcp") {
		t.Errorf("err = %v", err)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ip, want string
	}{
		{"8.8.8.8", ""},
		{"2606:4700:4700::1111", ""},
		{"127.0.0.1", ReasonLoopback},
		{"127.255.0.9", ReasonLoopback},
		{"::1", ReasonLoopback},
		{"::ffff:127.0.0.1", ReasonLoopback},
		{"64:ff9b::7f00:1", ReasonLoopback},
		{"10.1.2.3", ReasonPrivate},
		{"172.16.0.1", ReasonPrivate},
		{"172.31.255.255", ReasonPrivate},
		{"172.32.0.1", ""},
		{"192.168.1.1", ReasonPrivate},
		{"fc00::1", ReasonPrivate},
		{"fdff::1", ReasonPrivate},
		{"169.254.1.1", ReasonLinkLocal},
		{"fe80::1", ReasonLinkLocal},
		{"fe80::1%eth0", ReasonLinkLocal},
		{"169.254.169.254", ReasonMetadata},
		{"fd00:ec2::254", ReasonMetadata},
		{"100.100.100.200", ReasonMetadata},
		{"0.0.0.0", ReasonUnspecified},
		{"0.1.2.3", ReasonUnspecified},
		{"::", ReasonUnspecified},
		{"224.0.0.1", ReasonMulticast},
		{"ff02::1", ReasonMulticast},
		{"ff0e::1", ReasonMulticast},
		{"255.255.255.255", ReasonBroadcast},
		{"100.64.0.1", ReasonCGNAT},
		{"100.127.255.255", ReasonCGNAT},
		{"100.128.0.1", ""},
	}
	for _, tt := range tests {
		err := Check(nil, "h", netip.MustParseAddr(tt.ip))
		var got string
		var be *BlockedError
		if errors.As(err, &be) {
			got = be.Reason
		} else if err != nil {
			t.Errorf("%s: unexpected error %v", tt.ip, err)
		}
		if got != tt.want {
			t.Errorf("Check(%s) reason = %q, want %q", tt.ip, got, tt.want)
		}
	}
	if err := Check(nil, "h", netip.Addr{}); err == nil {
		t.Error("invalid address was allowed")
	}
}

// TestClientRefusesEmbeddedLoopback checks that IPv6 forms carrying
// 127.0.0.1 are refused before dialing although 127.0.0.1 itself is
// allowed: the allow list opens the address it names, not its disguises.
func TestClientRefusesEmbeddedLoopback(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	u, _ := url.Parse(ts.URL)
	c := newTestClient(t, "127.0.0.1/32")
	for _, host := range []string{"[::127.0.0.1]", "[2002:7f00:1::1]", "[64:ff9b::127.0.0.1]", "[::ffff:0:127.0.0.1]"} {
		_, err := get(t, c, "http://"+host+":"+u.Port()+"/")
		be := requireBlocked(t, err, ReasonLoopback)
		if be.Embedded != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("%s: embedded %v, want 127.0.0.1", host, be.Embedded)
		}
	}
	if ts.hits.Load() != 0 {
		t.Error("the server was reached")
	}
}
