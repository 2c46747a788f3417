// Package mailtest runs a real SMTP server in the test process, built on
// github.com/emersion/go-smtp, that records what it receives. Tests of the
// mailer, the engine and end-to-end flows send to it instead of to a fake
// Sender, so that the whole SMTP exchange is exercised.
package mailtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one message the server accepted.
type Message struct {
	// From is the envelope sender (MAIL FROM).
	From string
	// To are the envelope recipients (RCPT TO), Bcc included.
	To []string
	// Data is the message as sent after DATA, headers and body.
	Data []byte
	// Header is the parsed header of Data; nil if Data did not parse.
	Header mail.Header
	// Subject is the decoded Subject header.
	Subject string
	// Text and HTML are the decoded text/plain and text/html bodies, found
	// at the top level or in multipart parts; empty when absent. Line
	// breaks are "\n", and the line break that ends a single-part message
	// on the wire is removed, so they read as the sender wrote them.
	Text, HTML string
	// User is the name the client logged in with, or "".
	User string
}

// Option configures NewServer.
type Option func(*config)

type config struct {
	user, pass string
	tlsConfig  *tls.Config
	reject     map[string]bool
}

// WithAuth makes the server offer AUTH PLAIN and refuse MAIL FROM until
// the client has logged in as user with pass.
func WithAuth(user, pass string) Option {
	return func(c *config) { c.user, c.pass = user, pass }
}

// WithTLS makes the server offer STARTTLS with the given configuration,
// which must hold a certificate.
func WithTLS(tc *tls.Config) Option {
	return func(c *config) { c.tlsConfig = tc }
}

// WithRejectRecipients makes the server refuse RCPT TO for these addresses
// with a permanent 550 error, to test how failures are reported.
func WithRejectRecipients(addrs ...string) Option {
	return func(c *config) {
		if c.reject == nil {
			c.reject = map[string]bool{}
		}
		for _, a := range addrs {
			c.reject[strings.ToLower(a)] = true
		}
	}
}

// Server is a running test SMTP server on 127.0.0.1.
type Server struct {
	// Addr is the "host:port" the server listens on.
	Addr string
	// Host and Port are Addr split, ready for an SMTP configuration.
	Host string
	Port int

	cfg    config
	srv    *smtp.Server
	ln     *trackingListener
	served chan struct{}
	once   sync.Once

	mu       sync.Mutex
	messages []Message
	changed  chan struct{} // closed and replaced whenever a message arrives
}

// NewServer starts a server on a free port of 127.0.0.1 and stops it when
// the test ends.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{served: make(chan struct{}), changed: make(chan struct{})}
	for _, o := range opts {
		o(&s.cfg)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	s.ln = &trackingListener{Listener: l, conns: map[net.Conn]struct{}{}}
	tcp := l.Addr().(*net.TCPAddr)
	s.Addr, s.Host, s.Port = tcp.String(), "127.0.0.1", tcp.Port

	s.srv = smtp.NewServer(&backend{s: s})
	s.srv.Domain = "mailtest.localhost"
	s.srv.AllowInsecureAuth = true
	s.srv.ReadTimeout = 30 * time.Second
	s.srv.WriteTimeout = 30 * time.Second
	s.srv.MaxMessageBytes = 10 << 20
	s.srv.MaxRecipients = 100
	s.srv.TLSConfig = s.cfg.tlsConfig
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(s.ln)
	}()
	t.Cleanup(s.Stop)
	return s
}

// Messages returns a copy of the messages received so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// WaitMessages waits until at least n messages have arrived and returns
// them all, or returns an error after timeout. It wakes on each delivery,
// it does not poll.
func (s *Server) WaitMessages(n int, timeout time.Duration) ([]Message, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if len(s.messages) >= n {
			out := append([]Message(nil), s.messages...)
			s.mu.Unlock()
			return out, nil
		}
		got, changed := len(s.messages), s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-timer.C:
			return nil, fmt.Errorf("mailtest: got %d messages within %s, want %d", got, timeout, n)
		}
	}
}

// Stop closes the listener and every open connection and waits until the
// server's goroutines have ended. It is safe to call more than once; tests
// call it to simulate a server that went down.
func (s *Server) Stop() {
	s.once.Do(func() {
		s.ln.shut()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(ctx) // waits for the connection handlers
		<-s.served
	})
}

func (s *Server) record(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, m)
	close(s.changed)
	s.changed = make(chan struct{})
}

// trackingListener remembers accepted connections so that Stop can close
// them; go-smtp's Shutdown would otherwise wait for idle clients.
type trackingListener struct {
	net.Listener
	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	l.conns[c] = struct{}{}
	return &trackedConn{Conn: c, l: l}, nil
}

func (l *trackingListener) shut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.Listener.Close()
	for c := range l.conns {
		c.Close()
	}
}

type trackedConn struct {
	net.Conn
	l *trackingListener
}

func (c *trackedConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c.Conn)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

type backend struct{ s *Server }

func (b *backend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s}, nil
}

type session struct {
	s    *Server
	user string
	from string
	to   []string
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string {
	if ss.s.cfg.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if ss.s.cfg.user == "" || mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != ss.s.cfg.user || password != ss.s.cfg.pass {
			return smtp.ErrAuthFailed
		}
		ss.user = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.cfg.user != "" && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.s.cfg.reject[strings.ToLower(to)] {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := Message{From: ss.from, To: append([]string(nil), ss.to...), Data: data, User: ss.user}
	parse(&m)
	ss.s.record(m)
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }

// parse fills Header, Subject, Text and HTML from m.Data as well as it can;
// a test that needs more reads Data itself.
func parse(m *Message) {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return
	}
	m.Header = msg.Header
	dec := new(mime.WordDecoder)
	if subj, err := dec.DecodeHeader(msg.Header.Get("Subject")); err == nil {
		m.Subject = subj
	} else {
		m.Subject = msg.Header.Get("Subject")
	}
	walk(m, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, true)
}

func walk(m *Message, contentType, encoding string, body io.Reader, top bool) {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if contentType == "" || err != nil {
		mediaType = "text/plain"
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return
			}
			walk(m, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, false)
		}
	}
	b, err := io.ReadAll(decodeBody(encoding, body))
	if err != nil {
		return
	}
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	if top {
		text = strings.TrimSuffix(text, "\n")
	}
	switch {
	case mediaType == "text/plain" && m.Text == "":
		m.Text = text
	case mediaType == "text/html" && m.HTML == "":
		m.HTML = text
	}
}

func decodeBody(encoding string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &lineStripper{r: r})
	}
	return r
}

// lineStripper drops CR and LF so that line-wrapped base64 decodes.
type lineStripper struct{ r io.Reader }

func (l *lineStripper) Read(p []byte) (int, error) {
	for {
		n, err := l.r.Read(p)
		k := 0
		for _, c := range p[:n] {
			if c != '\r' && c != '\n' {
				p[k] = c
				k++
			}
		}
		if k > 0 || err != nil {
			if errors.Is(err, io.EOF) && k > 0 {
				return k, nil
			}
			return k, err
		}
	}
}
