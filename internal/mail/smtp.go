package mail

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	netmail "net/mail"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLS modes of SMTPConfig.TLS.
const (
	// TLSStartTLS connects in clear text and requires STARTTLS before
	// authenticating or sending. Default for port 587 and unknown ports.
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (SMTPS). Default for 465.
	TLSImplicit = "tls"
	// TLSNone never encrypts. Default for port 25 and for localhost.
	TLSNone = "none"
	// TLSOpportunistic uses STARTTLS when the server offers it and clear
	// text otherwise; a password is then only sent over TLS or to localhost.
	TLSOpportunistic = "opportunistic"
)

// DefaultSMTPTimeout bounds each connection and command when
// SMTPConfig.Timeout is zero.
const DefaultSMTPTimeout = 30 * time.Second

const redacted = "xxxxx"

// SMTPConfig says how to reach an SMTP server. Build it from a URL with
// ParseSMTPURL; print it with String, which hides the password.
type SMTPConfig struct {
	// Host is the server's host name or IP. Required.
	Host string
	// Port is the server's TCP port. Defaults to 465 for TLS "tls", 25 for
	// "none" and 587 otherwise.
	Port int
	// Username and Password log in with AUTH PLAIN or LOGIN. No login is
	// attempted when Username is empty.
	Username, Password string
	// From is the sender address used when a Message has none.
	From string
	// TLS is one of "starttls", "tls", "none" and "opportunistic". Defaults
	// to "tls" for port 465, "none" for port 25 and for localhost, and
	// "starttls" otherwise.
	TLS string
	// Timeout bounds connecting and each SMTP command. Defaults to 30s.
	Timeout time.Duration

	// tlsConfig replaces the default TLS settings; tests use it to trust
	// a self-signed certificate.
	tlsConfig *tls.Config
}

// isLocalHost reports whether host is this machine, where a clear-text
// connection cannot be overheard.
func isLocalHost(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// withDefaults fills Port, TLS and Timeout as documented on SMTPConfig.
func (c SMTPConfig) withDefaults() SMTPConfig {
	c.TLS = strings.ToLower(strings.TrimSpace(c.TLS))
	if c.TLS == "" {
		switch {
		case c.Port == 465:
			c.TLS = TLSImplicit
		case c.Port == 25, isLocalHost(c.Host):
			c.TLS = TLSNone
		default:
			c.TLS = TLSStartTLS
		}
	}
	if c.Port == 0 {
		switch c.TLS {
		case TLSImplicit:
			c.Port = 465
		case TLSNone:
			c.Port = 25
		default:
			c.Port = 587
		}
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultSMTPTimeout
	}
	return c
}

// Validate reports what is missing or wrong in c after defaults are
// applied, so that a bad configuration is found at start-up or when a
// connection is saved rather than at the first send. The error wraps
// ErrInvalidConfig and never contains the password.
func (c SMTPConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Host == "":
		return fmt.Errorf("%w: no host", ErrInvalidConfig)
	case strings.ContainsAny(c.Host, "/@?# "):
		return fmt.Errorf("%w: host %q is not a host name or IP", ErrInvalidConfig, c.Host)
	case c.Port < 1 || c.Port > 65535:
		return fmt.Errorf("%w: port %d is not between 1 and 65535", ErrInvalidConfig, c.Port)
	case c.Password != "" && c.Username == "":
		return fmt.Errorf("%w: a password is set but no username", ErrInvalidConfig)
	}
	switch c.TLS {
	case TLSStartTLS, TLSImplicit, TLSNone, TLSOpportunistic:
	default:
		return fmt.Errorf("%w: tls %q is not one of starttls, tls, none, opportunistic", ErrInvalidConfig, c.TLS)
	}
	if c.From != "" {
		if _, err := netmail.ParseAddress(c.From); err != nil {
			return fmt.Errorf("%w: from address %q: %s", ErrInvalidConfig, c.From, strings.TrimPrefix(err.Error(), "mail: "))
		}
	}
	return nil
}

// ParseSMTPURL parses an SMTP server URL such as
//
//	smtp://user:pass@smtp.example.com:587?from=sluice@example.com&tls=starttls
//	smtps://user:pass@smtp.example.com?from=Sluice%20<sluice@example.com>
//
// smtps:// means TLS "tls". Query parameters: from (the default sender),
// tls (starttls, tls, none, opportunistic) and timeout (a Go duration such
// as 10s). User name and password are percent-decoded. Missing port and
// TLS mode get the defaults of SMTPConfig. Errors say what is wrong, wrap
// ErrInvalidConfig and never contain the password.
func ParseSMTPURL(s string) (SMTPConfig, error) {
	var c SMTPConfig
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		msg := err.Error()
		var ue *url.Error
		if errors.As(err, &ue) {
			msg = ue.Err.Error() // without the URL, which holds the password
		}
		return c, fmt.Errorf("%w: SMTP URL %s is not a valid URL: %s",
			ErrInvalidConfig, redactURLText(s), scrubSecret(msg, userinfoPassword(s)))
	}
	switch strings.ToLower(u.Scheme) {
	case "smtp":
	case "smtps":
		c.TLS = TLSImplicit
	case "":
		return c, fmt.Errorf("%w: SMTP URL %s has no scheme: want smtp:// or smtps://", ErrInvalidConfig, u.Redacted())
	default:
		return c, fmt.Errorf("%w: SMTP URL %s has scheme %q: want smtp:// or smtps://", ErrInvalidConfig, u.Redacted(), u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" {
		return c, fmt.Errorf("%w: SMTP URL %s has no host: want e.g. smtp://smtp.example.com:587", ErrInvalidConfig, u.Redacted())
	}
	if u.Path != "" && u.Path != "/" {
		return c, fmt.Errorf("%w: SMTP URL %s has a path %q: an SMTP URL has none", ErrInvalidConfig, u.Redacted(), u.Path)
	}
	c.Host = u.Hostname()
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return c, fmt.Errorf("%w: SMTP URL %s has port %q: want a number from 1 to 65535", ErrInvalidConfig, u.Redacted(), p)
		}
		c.Port = n
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return c, fmt.Errorf("%w: SMTP URL %s has a malformed query: %w", ErrInvalidConfig, u.Redacted(), err)
	}
	for key, vals := range q {
		v := vals[len(vals)-1]
		switch key {
		case "from":
			c.From = v
		case "tls":
			mode := strings.ToLower(v)
			if c.TLS == TLSImplicit && mode != TLSImplicit {
				return c, fmt.Errorf("%w: SMTP URL %s: smtps:// always uses tls, but tls=%s was given", ErrInvalidConfig, u.Redacted(), v)
			}
			c.TLS = mode
		case "timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return c, fmt.Errorf("%w: SMTP URL %s has timeout %q: want a duration such as 30s", ErrInvalidConfig, u.Redacted(), v)
			}
			c.Timeout = d
		default:
			return c, fmt.Errorf("%w: SMTP URL %s has unknown parameter %q: known are from, tls, timeout", ErrInvalidConfig, u.Redacted(), key)
		}
	}
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("SMTP URL %s: %w", u.Redacted(), err)
	}
	return c, nil
}

// String returns c as an SMTP URL with the password replaced by "xxxxx",
// fit for logs and the admin UI; ParseSMTPURL reads it back.
func (c SMTPConfig) String() string {
	c = c.withDefaults()
	u := url.URL{Scheme: "smtp", Host: net.JoinHostPort(c.Host, strconv.Itoa(c.Port))}
	q := url.Values{}
	if c.TLS == TLSImplicit {
		u.Scheme = "smtps"
	} else {
		q.Set("tls", c.TLS)
	}
	switch {
	case c.Username != "" && c.Password != "":
		u.User = url.UserPassword(c.Username, redacted)
	case c.Username != "":
		u.User = url.User(c.Username)
	}
	if c.From != "" {
		q.Set("from", c.From)
	}
	if c.Timeout != DefaultSMTPTimeout {
		q.Set("timeout", c.Timeout.String())
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// GoString is String, so that %#v does not print the password either.
func (c SMTPConfig) GoString() string { return "mail.SMTPConfig(" + c.String() + ")" }

// LogValue is String, so that slog does not print the password either.
func (c SMTPConfig) LogValue() slog.Value { return slog.StringValue(c.String()) }

// userinfoPassword finds the password in the userinfo of a raw URL that
// may not parse, so that it can be scrubbed from error text.
func userinfoPassword(s string) string {
	_, rest, ok := strings.Cut(s, "://")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return ""
	}
	_, pass, ok := strings.Cut(rest[:at], ":")
	if !ok {
		return ""
	}
	return pass
}

// redactURLText replaces the password in a raw URL that may not parse.
func redactURLText(s string) string {
	pass := userinfoPassword(s)
	if pass == "" {
		return strconv.Quote(s)
	}
	return strconv.Quote(strings.Replace(s, ":"+pass+"@", ":"+redacted+"@", 1))
}

// scrubSecret removes secret, raw, percent-decoded and as it would appear
// base64-encoded in an AUTH exchange, from msg.
func scrubSecret(msg, secret string) string {
	if secret == "" {
		return msg
	}
	forms := []string{secret}
	if dec, err := url.PathUnescape(secret); err == nil && dec != secret {
		forms = append(forms, dec)
	}
	for _, f := range forms {
		if len(f) >= 3 {
			forms = append(forms, base64.StdEncoding.EncodeToString([]byte(f)))
		}
	}
	for _, f := range forms {
		msg = strings.ReplaceAll(msg, f, redacted)
	}
	return msg
}

// scrubbedError is an error whose text has had the password removed. It
// keeps the chain for errors.Is and errors.As.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

func scrub(err error, secret string) error {
	if err == nil || secret == "" {
		return err
	}
	msg := err.Error()
	if clean := scrubSecret(msg, secret); clean != msg {
		return &scrubbedError{msg: clean, err: err}
	}
	return err
}

// SMTPSender sends messages through one SMTP server, opening a connection
// per message. It is safe for concurrent use.
type SMTPSender struct {
	cfg  SMTPConfig
	dial DialFunc
}

// DialFunc connects to an SMTP server.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// SenderOption adjusts an SMTPSender.
type SenderOption func(*SMTPSender)

// WithDial makes the sender connect through dial. Makers' smtp
// connections use the netguard dialer, so that a connection cannot reach
// internal or cloud-metadata addresses. Defaults to a plain net.Dialer.
func WithDial(dial DialFunc) SenderOption {
	return func(s *SMTPSender) { s.dial = dial }
}

var _ Sender = (*SMTPSender)(nil)

// NewSMTPSender returns a Sender for the server c describes, with the
// defaults of SMTPConfig applied. A configuration that does not Validate
// makes every Send fail with that error.
func NewSMTPSender(c SMTPConfig, opts ...SenderOption) *SMTPSender {
	s := &SMTPSender{cfg: c.withDefaults()}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Send delivers m and returns its Message-ID (without angle brackets). It
// validates every address first (errors wrap ErrInvalidMessage), logs in
// when a username is configured (a refused login wraps ErrAuthFailed), and
// stops as soon as ctx is done. No error contains the password.
func (s *SMTPSender) Send(ctx context.Context, m Message) (string, error) {
	c := s.cfg
	if err := c.Validate(); err != nil {
		return "", fmt.Errorf("mail: %w", err)
	}
	msg, id, err := s.build(m)
	if err != nil {
		return "", fmt.Errorf("mail: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("mail: not sent: %w", context.Cause(ctx))
	}

	client, addr, stop, err := s.newClient(ctx)
	if err != nil {
		return "", err
	}
	defer stop()
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return "", s.sendError(ctx, "sending via", addr, err)
	}
	return id, nil
}

// Verify connects to the SMTP server, negotiates TLS as configured, logs
// in when a username is configured, and disconnects without sending
// anything, so that a connection can be checked before a flow relies on
// it. A refused login wraps ErrAuthFailed, an unreachable server says so,
// and no error contains the password.
func (s *SMTPSender) Verify(ctx context.Context) error {
	if err := s.cfg.Validate(); err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mail: not verified: %w", context.Cause(ctx))
	}
	client, addr, stop, err := s.newClient(ctx)
	if err != nil {
		return err
	}
	defer stop()
	if err := client.DialWithContext(ctx); err != nil {
		return s.sendError(ctx, "verifying", addr, err)
	}
	if err := client.Close(); err != nil {
		return s.sendError(ctx, "verifying", addr, err)
	}
	return nil
}

// newClient returns a go-mail client for the configured server whose
// connections are closed as soon as ctx ends, the server's address for
// errors, and a function that releases what was set up for ctx; call it
// when done with the client.
func (s *SMTPSender) newClient(ctx context.Context) (*gomail.Client, string, func(), error) {
	c := s.cfg
	addr := net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	var (
		mu    sync.Mutex
		stops []func() bool
	)
	stop := func() {
		mu.Lock()
		defer mu.Unlock()
		for _, stop := range stops {
			stop()
		}
		stops = nil
	}
	dialer := &net.Dialer{Timeout: c.Timeout, KeepAlive: -1}
	tlsConf := s.tlsConfig()
	dial := func(dctx context.Context, network, address string) (net.Conn, error) {
		rawDial := dialer.DialContext
		if s.dial != nil {
			rawDial = s.dial
		}
		conn, err := rawDial(dctx, network, address)
		if err == nil && c.TLS == TLSImplicit {
			conf := tlsConf.Clone()
			if conf.ServerName == "" {
				conf.ServerName, _, _ = net.SplitHostPort(address)
			}
			tc := tls.Client(conn, conf)
			if err = tc.HandshakeContext(dctx); err != nil {
				conn.Close()
			} else {
				conn = tc
			}
		}
		if err != nil {
			return nil, err
		}
		// go-mail honours ctx only while dialing; closing the connection
		// when ctx ends interrupts whatever command is in flight.
		mu.Lock()
		stops = append(stops, context.AfterFunc(ctx, func() { conn.Close() }))
		mu.Unlock()
		return conn, nil
	}

	opts := []gomail.Option{
		gomail.WithPort(c.Port),
		gomail.WithTimeout(c.Timeout),
		gomail.WithDialContextFunc(dial),
		gomail.WithTLSConfig(tlsConf),
	}
	switch c.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if c.Username != "" {
		mechs := []gomail.SMTPAuthType{gomail.SMTPAuthPlain, gomail.SMTPAuthLogin}
		if c.TLS == TLSNone {
			// Configured as clear text on purpose (a relay on localhost or
			// in a private network): allow the password without TLS.
			mechs = []gomail.SMTPAuthType{gomail.SMTPAuthPlainNoEnc, gomail.SMTPAuthLoginNoEnc}
		}
		opts = append(opts,
			gomail.WithOpportunisticSMTPAuth(mechs...),
			gomail.WithUsername(c.Username),
			gomail.WithPassword(c.Password))
	}
	client, err := gomail.NewClient(c.Host, opts...)
	if err != nil {
		return nil, addr, stop, fmt.Errorf("mail: setting up SMTP client for %s: %w", addr, scrub(err, c.Password))
	}
	return client, addr, stop, nil
}

// sendError turns a go-mail error into one that says where and why, with
// ErrAuthFailed or the context's error in its chain when they apply. op
// says what was being done, such as "sending via".
func (s *SMTPSender) sendError(ctx context.Context, op, addr string, err error) error {
	err = scrub(err, s.cfg.Password)
	if ctx.Err() != nil {
		return fmt.Errorf("mail: %s %s stopped: %w (%w)", op, addr, context.Cause(ctx), err)
	}
	if strings.Contains(err.Error(), "SMTP AUTH failed") {
		return fmt.Errorf("mail: SMTP server %s refused the login of user %q: %w: check the username and password of the connection: %w",
			addr, s.cfg.Username, ErrAuthFailed, err)
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" || errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("mail: cannot reach SMTP server %s: %w", addr, err)
	}
	return fmt.Errorf("mail: %s %s: %w", op, addr, err)
}

func (s *SMTPSender) tlsConfig() *tls.Config {
	if s.cfg.tlsConfig != nil {
		tc := s.cfg.tlsConfig.Clone()
		if tc.ServerName == "" {
			tc.ServerName = s.cfg.Host
		}
		return tc
	}
	return &tls.Config{ServerName: s.cfg.Host, MinVersion: tls.VersionTLS12}
}

// build validates m and turns it into a go-mail message, returning the
// Message-ID it carries.
func (s *SMTPSender) build(m Message) (*gomail.Msg, string, error) {
	from := m.From
	if from == "" {
		from = s.cfg.From
	}
	if from == "" {
		return nil, "", fmt.Errorf("%w: no From address: set it on the message or as from= in the SMTP URL", ErrInvalidMessage)
	}
	fromAddr, err := parseAddress("From", from)
	if err != nil {
		return nil, "", err
	}
	to, err := parseAddresses("To", m.To)
	if err != nil {
		return nil, "", err
	}
	cc, err := parseAddresses("Cc", m.Cc)
	if err != nil {
		return nil, "", err
	}
	bcc, err := parseAddresses("Bcc", m.Bcc)
	if err != nil {
		return nil, "", err
	}
	if len(to)+len(cc)+len(bcc) == 0 {
		return nil, "", fmt.Errorf("%w: no recipient: set To, Cc or Bcc", ErrInvalidMessage)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return nil, "", fmt.Errorf("%w: subject contains a line break", ErrInvalidMessage)
	}

	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(fromAddr)
	if len(to) > 0 {
		msg.ToMailAddress(to...)
	}
	if len(cc) > 0 {
		msg.CcMailAddress(cc...)
	}
	if len(bcc) > 0 {
		msg.BccMailAddress(bcc...)
	}
	if m.ReplyTo != "" {
		rt, err := parseAddress("Reply-To", m.ReplyTo)
		if err != nil {
			return nil, "", err
		}
		msg.ReplyToMailAddress(rt)
	}
	msg.Subject(m.Subject)

	var id string
	for name, value := range m.Headers {
		if err := checkHeader(name, value); err != nil {
			return nil, "", err
		}
		canon := canonicalHeader(name)
		if canon == "Message-Id" {
			id = strings.Trim(strings.TrimSpace(value), "<>")
			if id == "" || !strings.Contains(id, "@") || strings.ContainsAny(id, "<> ") {
				return nil, "", fmt.Errorf("%w: Message-ID %q is not of the form local@domain", ErrInvalidMessage, value)
			}
			continue
		}
		if field, ok := reservedHeaders[canon]; ok {
			if field != "" {
				return nil, "", fmt.Errorf("%w: header %s is set by the %s field of the message, not by Headers", ErrInvalidMessage, name, field)
			}
			return nil, "", fmt.Errorf("%w: header %s is set by the mailer and cannot be given", ErrInvalidMessage, name)
		}
		msg.SetGenHeader(gomail.Header(canon), value)
	}
	if id == "" {
		id = newMessageID(fromAddr.Address)
	}
	msg.SetMessageIDWithValue(id)
	msg.SetDate()

	switch {
	case m.Text != "" && m.HTML != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	case m.HTML != "":
		msg.SetBodyString(gomail.TypeTextHTML, m.HTML)
	default:
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	}
	return msg, id, nil
}

// canonicalHeader returns name in the canonical MIME form, "x-run-id" →
// "X-Run-Id".
func canonicalHeader(name string) string {
	parts := strings.Split(strings.ToLower(name), "-")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "-")
}

// newMessageID returns a unique id in the domain of the sender address, so
// that replies and bounces can be matched to what Sluice sent.
func newMessageID(from string) string {
	domain := "sluice.invalid"
	if _, d, ok := strings.Cut(from, "@"); ok && d != "" {
		domain = d
	}
	return rand.Text() + "@" + domain
}
