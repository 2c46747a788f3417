package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/mail/mailtest"
)

func TestVerify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  SMTPConfig
		opts []mailtest.Option
		// stop stops the server before Verify, to test an unreachable one.
		stop bool
		// want is a substring of the error, "" for success.
		want     string
		wantAuth bool
	}{
		{name: "no auth", cfg: SMTPConfig{TLS: TLSNone}},
		{name: "good login", cfg: SMTPConfig{Username: "bob", Password: secret, TLS: TLSNone},
			opts: []mailtest.Option{mailtest.WithAuth("bob", secret)}},
		{name: "wrong password", cfg: SMTPConfig{Username: "bob", Password: secret, TLS: TLSNone},
			opts: []mailtest.Option{mailtest.WithAuth("bob", "the-right-one")},
			want: `refused the login of user "bob"`, wantAuth: true},
		{name: "server down", cfg: SMTPConfig{Username: "bob", Password: secret, TLS: TLSNone},
			stop: true, want: "cannot reach SMTP server"},
		{name: "starttls required but not offered", cfg: SMTPConfig{TLS: TLSStartTLS},
			want: "STARTTLS"},
		{name: "invalid config", cfg: SMTPConfig{TLS: "sometimes"}, want: "invalid SMTP configuration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.cfg, tt.opts...)
			if tt.stop {
				b.srv.Stop()
			}
			err := b.sender.Verify(t.Context())
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Verify error = %v, want it to contain %q", err, tt.want)
			}
			if errors.Is(err, ErrAuthFailed) != tt.wantAuth {
				t.Errorf("errors.Is(err, ErrAuthFailed) = %v, want %v (err %v)", !tt.wantAuth, tt.wantAuth, err)
			}
			for _, s := range []string{fmt.Sprint(err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				if strings.Contains(s, secret) {
					t.Errorf("error reveals the password: %s", s)
				}
			}
			if n := len(b.srv.Messages()); n != 0 {
				t.Errorf("Verify delivered %d messages", n)
			}
		})
	}
}

func TestVerifyStartTLS(t *testing.T) {
	t.Parallel()
	serverTLS, roots := selfSigned(t)
	cfg := SMTPConfig{Username: "bob", Password: secret, TLS: TLSStartTLS,
		tlsConfig: &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}}
	b := setup(t, cfg, mailtest.WithAuth("bob", secret), mailtest.WithTLS(serverTLS))
	if err := b.sender.Verify(t.Context()); err != nil {
		t.Fatalf("Verify over STARTTLS: %v", err)
	}
	wrong := cfg
	wrong.Password = "not-" + secret
	b = setup(t, wrong, mailtest.WithAuth("bob", secret), mailtest.WithTLS(serverTLS))
	if err := b.sender.Verify(t.Context()); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("Verify with a wrong password over STARTTLS: %v, want ErrAuthFailed", err)
	}
}

func TestVerifyHonoursContext(t *testing.T) {
	t.Parallel()
	b := setup(t, SMTPConfig{TLS: TLSNone})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	start := time.Now()
	err := b.sender.Verify(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Verify took %s after the context ended", d)
	}
}
