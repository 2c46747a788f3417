package server

import (
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// refusalBody is the text of the answer to a connection over a cap.
const refusalBody = "too many connections: try again in a moment\n"

// refusal is the whole answer to a connection over a cap: a 503 that
// tells the client to come back, written once without reading anything.
var refusal = []byte("HTTP/1.1 503 Service Unavailable\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Retry-After: 5\r\n" +
	"Connection: close\r\n" +
	"Content-Length: " + strconv.Itoa(len(refusalBody)) + "\r\n" +
	"\r\n" + refusalBody)

// refusalWriteTimeout bounds writing the refusal, so that a client that
// does not read cannot hold the accept loop.
const refusalWriteTimeout = 100 * time.Millisecond

// capListener is a net.Listener that caps the connections open at once,
// in total and per client address (an IPv4 address, or the /64 of an
// IPv6 one, which one client typically holds whole). A connection over a
// cap is answered 503 and closed at once, before any of its bytes are
// read, so that refusing costs no more than accepting.
type capListener struct {
	net.Listener
	max, perClient int
	log            *slog.Logger

	mu       sync.Mutex
	open     int
	byClient map[netip.Addr]int
	// refused counts refusals since the last warning, which is logged at
	// most once a minute so that a flood does not flood the log.
	refused    int
	lastWarned time.Time
}

// newCapListener wraps ln; max or perClient of 0 or less means no cap.
func newCapListener(ln net.Listener, max, perClient int, log *slog.Logger) *capListener {
	return &capListener{Listener: ln, max: max, perClient: perClient, log: log, byClient: map[netip.Addr]int{}}
}

// Accept returns the next connection within the caps; connections over
// a cap are refused and never returned.
func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		client := clientKey(c.RemoteAddr())
		if l.take(client) {
			return &cappedConn{Conn: c, release: func() { l.release(client) }}, nil
		}
		_ = c.SetWriteDeadline(time.Now().Add(refusalWriteTimeout))
		_, _ = c.Write(refusal)
		_ = c.Close()
	}
}

// take counts a new connection from client, unless it is over a cap.
func (l *capListener) take(client netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	over := ""
	switch {
	case l.max > 0 && l.open >= l.max:
		over = "total"
	case l.perClient > 0 && client.IsValid() && l.byClient[client] >= l.perClient:
		over = "per client address"
	}
	if over != "" {
		l.refused++
		if now := time.Now(); now.Sub(l.lastWarned) >= time.Minute {
			l.log.Warn("refused connections over the connection cap", "cap", over, "client", client.String(),
				"refused", l.refused, "max_conns", l.max, "max_conns_per_client", l.perClient)
			l.refused, l.lastWarned = 0, now
		}
		return false
	}
	l.open++
	if client.IsValid() {
		l.byClient[client]++
	}
	return true
}

// release uncounts a closed connection from client.
func (l *capListener) release(client netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if !client.IsValid() {
		return
	}
	if l.byClient[client] <= 1 {
		delete(l.byClient, client)
	} else {
		l.byClient[client]--
	}
}

// clientKey is what the per-client cap counts by: the IPv4 address, or
// the /64 prefix of an IPv6 address. It is the zero Addr for an address
// that is not IP (never counted per client).
func clientKey(a net.Addr) netip.Addr {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Addr{}
	}
	ip, ok := netip.AddrFromSlice(tcp.IP)
	if !ok {
		return netip.Addr{}
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// cappedConn releases its place under the caps when it is closed (once,
// however many times Close is called).
type cappedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close closes the connection and releases its place.
func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite shuts the writing side down, as *net.TCPConn does, so that
// the HTTP server can still close gracefully after an early answer (a 413
// while the client is sending its body): the client reads the answer
// rather than a reset.
func (c *cappedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
