// Package netguard provides the one HTTP client through which flows reach
// the network. It refuses to connect to every address that the IANA
// special-purpose registries do not mark globally reachable (loopback,
// private, link-local, documentation, benchmarking, reserved, ...), to
// multicast, cloud-metadata and unallocated IPv6 addresses, to IPv6
// addresses that carry a refused IPv4 address (IPv4-compatible, NAT64,
// 6to4, Teredo, ...), and to the server's own interface addresses and
// default gateway, unless SLUICE_ALLOW_NET opens them, so that a flow
// cannot be turned against the server it runs on or the network behind it
// (SSRF). docs/security.md lists the ranges.
//
// The check is made on the resolved IP at dial time, for every connection
// including those made to follow redirects, so a DNS answer that changes
// between a check and the connection (DNS rebinding) cannot slip through.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// Defaults of Options.
const (
	DefaultTimeout      = 30 * time.Second
	DefaultMaxRedirects = 10
)

// Options configures NewClient and NewDialer. The zero value is the strict
// default policy with a 30s timeout.
type Options struct {
	// Allow opens addresses that are refused by default. Defaults to nil:
	// nothing is opened.
	Allow *Allow
	// Timeout bounds a whole request, from dial to the end of the body.
	// Defaults to 30s when zero or negative.
	Timeout time.Duration
	// MaxRedirects is how many redirects the client follows before it
	// gives up with an error. Defaults to 10 when zero; a negative value
	// follows none and returns the 3xx response itself.
	MaxRedirects int
}

func (o Options) timeout() time.Duration {
	if o.Timeout <= 0 {
		return DefaultTimeout
	}
	return o.Timeout
}

// Dialer opens TCP connections under the netguard policy. NewClient uses it;
// other outbound connectors use it to apply the same policy.
type Dialer struct {
	allow *Allow
	net   net.Dialer
}

// NewDialer returns a Dialer enforcing o.Allow; its connect timeout is
// o.Timeout (default 30s). It loads the host's own addresses if no dialer
// did before.
func NewDialer(o Options) *Dialer {
	thisHost.warm()
	return &Dialer{
		allow: o.Allow,
		net: net.Dialer{
			Timeout:   o.timeout(),
			KeepAlive: 30 * time.Second,
		},
	}
}

// DialContext connects to addr ("host:port") on a TCP network, refusing
// with a *BlockedError an IP literal before dialing and every resolved
// address in the socket's Control hook, just before connect(2).
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("netguard: refusing network %q for %s: only tcp is allowed", network, addr)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("netguard: bad address %q: %w", addr, err)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := Check(d.allow, host, ip); err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
	}
	nd := d.net // copy: the Control hook is bound to this request's host
	nd.ControlContext = func(_ context.Context, _, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("netguard: cannot check address %q: %w", address, err)
		}
		return Check(d.allow, host, ap.Addr())
	}
	return nd.DialContext(ctx, network, addr)
}

// NewClient returns the HTTP client for outbound requests from flows. It
// refuses addresses outside the policy of o (see Check) on every dial, also
// when following redirects, follows at most o.MaxRedirects redirects and
// only to http and https URLs, ignores HTTP_PROXY and friends (a proxy
// would hide the real destination from the check), and keeps connections
// alive for throughput. A refused address surfaces as a *url.Error wrapping
// a *BlockedError.
func NewClient(o Options) *http.Client {
	d := NewDialer(o)
	t := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
	}
	maxRedirects := o.MaxRedirects
	if maxRedirects == 0 {
		maxRedirects = DefaultMaxRedirects
	}
	return &http.Client{
		Transport: t,
		Timeout:   o.timeout(),
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if maxRedirects < 0 {
				return http.ErrUseLastResponse
			}
			if len(via) > maxRedirects {
				return fmt.Errorf("netguard: stopped after %d redirects", maxRedirects)
			}
			if s := strings.ToLower(req.URL.Scheme); s != "http" && s != "https" {
				return fmt.Errorf("netguard: refusing redirect to %q: only http and https are allowed", req.URL.Redacted())
			}
			return nil
		},
	}
}

// IsBlocked reports whether err, as returned by the client or a Dialer,
// is a refusal by the policy.
func IsBlocked(err error) bool {
	var be *BlockedError
	return errors.As(err, &be)
}
