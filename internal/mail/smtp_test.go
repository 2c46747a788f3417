package mail

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluice/sluice/internal/mail/mailtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const secret = "s3cr3t-Pa55word"

// testBundle is what setup returns: a running server and a sender for it.
type testBundle struct {
	srv    *mailtest.Server
	sender *SMTPSender
}

func setup(t *testing.T, cfg SMTPConfig, opts ...mailtest.Option) testBundle {
	t.Helper()
	srv := mailtest.NewServer(t, opts...)
	cfg.Host, cfg.Port = srv.Host, srv.Port
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	return testBundle{srv: srv, sender: NewSMTPSender(cfg)}
}

func waitOne(t *testing.T, srv *mailtest.Server) mailtest.Message {
	t.Helper()
	msgs, err := srv.WaitMessages(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return msgs[0]
}

func TestSendTextAndHTML(t *testing.T) {
	t.Parallel()
	b := setup(t, SMTPConfig{From: "Sluice <sluice@example.com>", TLS: TLSNone})
	id, err := b.sender.Send(t.Context(), Message{
		To:      []string{"Ann <ann@example.com>"},
		Subject: "Your flow failed — “Welcome a new hire”",
		Text:    "What happened: the token expired.\nHow do I fix: reconnect.",
		HTML:    "<p>What happened: <b>the token expired</b>.</p>",
		Headers: map[string]string{"X-Sluice-Run": "run_42"},
	})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := waitOne(t, b.srv)
	if got.Subject != "Your flow failed — “Welcome a new hire”" {
		t.Errorf("Subject = %q", got.Subject)
	}
	if got.Text != "What happened: the token expired.\nHow do I fix: reconnect." {
		t.Errorf("Text = %q", got.Text)
	}
	if got.HTML != "<p>What happened: <b>the token expired</b>.</p>" {
		t.Errorf("HTML = %q", got.HTML)
	}
	if ct := got.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative") {
		t.Errorf("Content-Type = %q, want multipart/alternative", ct)
	}
	if got.From != "sluice@example.com" || !slices.Equal(got.To, []string{"ann@example.com"}) {
		t.Errorf("envelope = %q -> %q", got.From, got.To)
	}
	if mid := got.Header.Get("Message-Id"); mid != "<"+id+">" || !strings.HasSuffix(id, "@example.com") {
		t.Errorf("Message-ID header %q, returned id %q", mid, id)
	}
	if got.Header.Get("X-Sluice-Run") != "run_42" {
		t.Errorf("X-Sluice-Run = %q", got.Header.Get("X-Sluice-Run"))
	}
}

func TestSendSingleBody(t *testing.T) {
	t.Parallel()
	b := setup(t, SMTPConfig{TLS: TLSNone})
	for _, m := range []Message{
		{From: "a@example.com", To: []string{"b@example.com"}, Subject: "text", Text: "only text"},
		{From: "a@example.com", To: []string{"b@example.com"}, Subject: "html", HTML: "<i>only html</i>"},
	} {
		if _, err := b.sender.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := b.srv.WaitMessages(2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if msgs[0].Text != "only text" || msgs[0].HTML != "" {
		t.Errorf("text message: text %q html %q", msgs[0].Text, msgs[0].HTML)
	}
	if msgs[1].HTML != "<i>only html</i>" || msgs[1].Text != "" {
		t.Errorf("html message: text %q html %q", msgs[1].Text, msgs[1].HTML)
	}
}

func TestSendMultipleRecipients(t *testing.T) {
	t.Parallel()
	b := setup(t, SMTPConfig{From: "sluice@example.com", TLS: TLSNone})
	_, err := b.sender.Send(t.Context(), Message{
		To:      []string{"a@example.com", "B <b@example.com>"},
		Cc:      []string{"c@example.com"},
		Bcc:     []string{"hidden@example.com"},
		ReplyTo: "help@example.com",
		Subject: "hello",
		Text:    "hi",
	})
	if err != nil {
		t.Fatal(err)
	}
	got := waitOne(t, b.srv)
	want := []string{"a@example.com", "b@example.com", "c@example.com", "hidden@example.com"}
	gotTo := slices.Clone(got.To)
	slices.Sort(gotTo)
	if !slices.Equal(gotTo, want) {
		t.Errorf("RCPT TO = %q, want %q", gotTo, want)
	}
	if strings.Contains(string(got.Data), "hidden@example.com") {
		t.Error("Bcc address appears in the message data")
	}
	if got.Header.Get("Cc") != "<c@example.com>" {
		t.Errorf("Cc = %q", got.Header.Get("Cc"))
	}
	if got.Header.Get("Reply-To") != "<help@example.com>" {
		t.Errorf("Reply-To = %q", got.Header.Get("Reply-To"))
	}
}

func TestSendWithAuth(t *testing.T) {
	t.Parallel()
	b := setup(t, SMTPConfig{Username: "bob", Password: secret, From: "bob@example.com", TLS: TLSNone},
		mailtest.WithAuth("bob", secret))
	if _, err := b.sender.Send(t.Context(), Message{To: []string{"x@example.com"}, Subject: "s", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	if got := waitOne(t, b.srv); got.User != "bob" {
		t.Errorf("logged in as %q", got.User)
	}
}

func TestSendAuthFailure(t *testing.T) {
	t.Parallel()
	b := setup(t, SMTPConfig{Username: "bob", Password: secret, From: "bob@example.com", TLS: TLSNone},
		mailtest.WithAuth("bob", "the-right-one"))
	_, err := b.sender.Send(t.Context(), Message{To: []string{"x@example.com"}, Subject: "s", Text: "t"})
	if !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("err = %v, want ErrAuthFailed", err)
	}
	for _, s := range []string{fmt.Sprint(err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		if strings.Contains(s, secret) {
			t.Errorf("error reveals the password: %s", s)
		}
	}
	if !strings.Contains(err.Error(), `user "bob"`) || !strings.Contains(err.Error(), "535") {
		t.Errorf("error is not clear: %v", err)
	}
	if n := len(b.srv.Messages()); n != 0 {
		t.Errorf("%d messages delivered", n)
	}
}

func TestSendWithoutAuthWhenRequired(t *testing.T) {
	t.Parallel()
	b := setup(t, SMTPConfig{From: "bob@example.com", TLS: TLSNone}, mailtest.WithAuth("bob", secret))
	_, err := b.sender.Send(t.Context(), Message{To: []string{"x@example.com"}, Subject: "s"})
	if err == nil || !strings.Contains(err.Error(), "authenticate") {
		t.Fatalf("err = %v, want the server's demand to authenticate", err)
	}
}

func TestSendRejectedRecipient(t *testing.T) {
	t.Parallel()
	b := setup(t, SMTPConfig{From: "a@example.com", TLS: TLSNone}, mailtest.WithRejectRecipients("gone@example.com"))
	_, err := b.sender.Send(t.Context(), Message{To: []string{"gone@example.com"}, Subject: "s"})
	if err == nil || !strings.Contains(err.Error(), "550") {
		t.Fatalf("err = %v, want a 550", err)
	}
}

func TestSendServerDown(t *testing.T) {
	t.Parallel()
	b := setup(t, SMTPConfig{From: "a@example.com", TLS: TLSNone, Username: "u", Password: secret})
	b.srv.Stop()
	_, err := b.sender.Send(t.Context(), Message{To: []string{"b@example.com"}, Subject: "s"})
	if err == nil {
		t.Fatal("Send to a stopped server succeeded")
	}
	if !strings.Contains(err.Error(), "cannot reach SMTP server "+b.srv.Addr) {
		t.Errorf("err = %v", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Error("error reveals the password")
	}
}

func TestSendHonoursContext(t *testing.T) {
	t.Parallel()
	// A listener that accepts and never speaks: the SMTP greeting never
	// comes, so only the context can end the Send.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	t.Cleanup(func() {
		l.Close()
		for c := range accepted {
			c.Close()
		}
	})
	addr := l.Addr().(*net.TCPAddr)
	s := NewSMTPSender(SMTPConfig{Host: "127.0.0.1", Port: addr.Port, TLS: TLSNone, From: "a@example.com", Timeout: time.Minute})

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.Send(ctx, Message{To: []string{"b@example.com"}, Subject: "s"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Send took %s after the context ended", d)
	}

	cancelled, cancelNow := context.WithCancel(t.Context())
	cancelNow()
	if _, err := s.Send(cancelled, Message{To: []string{"b@example.com"}}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v", err)
	}
}

func TestSendStartTLS(t *testing.T) {
	t.Parallel()
	serverTLS, roots := selfSigned(t)
	cfg := SMTPConfig{Username: "bob", Password: secret, From: "bob@example.com", TLS: TLSStartTLS,
		tlsConfig: &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}}
	b := setup(t, cfg, mailtest.WithAuth("bob", secret), mailtest.WithTLS(serverTLS))
	if _, err := b.sender.Send(t.Context(), Message{To: []string{"x@example.com"}, Subject: "tls", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	if got := waitOne(t, b.srv); got.User != "bob" {
		t.Errorf("user = %q", got.User)
	}

	// STARTTLS is required: a server without it is refused before login.
	plain := setup(t, SMTPConfig{Username: "bob", Password: secret, From: "bob@example.com", TLS: TLSStartTLS},
		mailtest.WithAuth("bob", secret))
	_, err := plain.sender.Send(t.Context(), Message{To: []string{"x@example.com"}, Subject: "s"})
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("err = %v, want STARTTLS required", err)
	}
}

func TestSendInvalidMessage(t *testing.T) {
	t.Parallel()
	s := NewSMTPSender(SMTPConfig{Host: "127.0.0.1", Port: 1, From: "a@example.com"})
	tests := []struct {
		name string
		m    Message
		want string
	}{
		{"bad to", Message{To: []string{"bob"}}, `To address "bob"`},
		{"bad cc", Message{To: []string{"a@b.example"}, Cc: []string{"x@"}}, `Cc address "x@"`},
		{"bad from", Message{From: "nobody", To: []string{"a@b.example"}}, `From address "nobody"`},
		{"bad reply-to", Message{To: []string{"a@b.example"}, ReplyTo: "@"}, `Reply-To address "@"`},
		{"no recipient", Message{Subject: "s"}, "no recipient"},
		{"subject injection", Message{To: []string{"a@b.example"}, Subject: "x\r\nBcc: evil@example.com"}, "line break"},
		{"header injection", Message{To: []string{"a@b.example"}, Headers: map[string]string{"X-A": "1\nBcc: e@x"}}, "line break"},
		{"reserved header", Message{To: []string{"a@b.example"}, Headers: map[string]string{"subject": "x"}}, "Subject field"},
		{"bad header name", Message{To: []string{"a@b.example"}, Headers: map[string]string{"X A": "1"}}, "header name"},
		{"bad message-id", Message{To: []string{"a@b.example"}, Headers: map[string]string{"Message-ID": "nope"}}, "Message-ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Send(t.Context(), tt.m)
			if !errors.Is(err, ErrInvalidMessage) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrInvalidMessage mentioning %q", err, tt.want)
			}
		})
	}
	if _, err := NewSMTPSender(SMTPConfig{Host: "h"}).Send(t.Context(), Message{To: []string{"a@b.example"}}); !errors.Is(err, ErrInvalidMessage) ||
		!strings.Contains(err.Error(), "no From address") {
		t.Errorf("missing from: %v", err)
	}
	if _, err := NewSMTPSender(SMTPConfig{}).Send(t.Context(), Message{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("empty config: %v", err)
	}
}

func TestSendKeepsGivenMessageID(t *testing.T) {
	t.Parallel()
	b := setup(t, SMTPConfig{From: "a@example.com", TLS: TLSNone})
	id, err := b.sender.Send(t.Context(), Message{To: []string{"b@example.com"}, Headers: map[string]string{"message-id": "<run-1.step-2@sluice.example>"}})
	if err != nil {
		t.Fatal(err)
	}
	if id != "run-1.step-2@sluice.example" {
		t.Errorf("id = %q", id)
	}
	if got := waitOne(t, b.srv); got.Header.Get("Message-Id") != "<run-1.step-2@sluice.example>" {
		t.Errorf("header = %q", got.Header.Get("Message-Id"))
	}
}

// selfSigned returns a server TLS config for 127.0.0.1 and a pool that
// trusts it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mailtest"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}, pool
}
