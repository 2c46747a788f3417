package mail

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestParseSMTPURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want SMTPConfig
	}{
		{"smtp://user:pass@smtp.example.com:587?from=sluice@example.com&tls=starttls",
			SMTPConfig{Host: "smtp.example.com", Port: 587, Username: "user", Password: "pass", From: "sluice@example.com", TLS: TLSStartTLS, Timeout: DefaultSMTPTimeout}},
		{"smtp://smtp.example.com",
			SMTPConfig{Host: "smtp.example.com", Port: 587, TLS: TLSStartTLS, Timeout: DefaultSMTPTimeout}},
		{"smtp://smtp.example.com:465",
			SMTPConfig{Host: "smtp.example.com", Port: 465, TLS: TLSImplicit, Timeout: DefaultSMTPTimeout}},
		{"smtp://relay.example.com:25",
			SMTPConfig{Host: "relay.example.com", Port: 25, TLS: TLSNone, Timeout: DefaultSMTPTimeout}},
		{"smtp://localhost:2525",
			SMTPConfig{Host: "localhost", Port: 2525, TLS: TLSNone, Timeout: DefaultSMTPTimeout}},
		{"smtp://localhost",
			SMTPConfig{Host: "localhost", Port: 25, TLS: TLSNone, Timeout: DefaultSMTPTimeout}},
		{"smtp://smtp.example.com:2525",
			SMTPConfig{Host: "smtp.example.com", Port: 2525, TLS: TLSStartTLS, Timeout: DefaultSMTPTimeout}},
		{"smtps://u%40x.com:p%3Aw%2Fd@mail.example.com?from=Sluice%20%3Cs@example.com%3E&timeout=10s",
			SMTPConfig{Host: "mail.example.com", Port: 465, Username: "u@x.com", Password: "p:w/d", From: "Sluice <s@example.com>", TLS: TLSImplicit, Timeout: 10 * time.Second}},
		{"SMTP://[::1]:1025?tls=Opportunistic",
			SMTPConfig{Host: "::1", Port: 1025, TLS: TLSOpportunistic, Timeout: DefaultSMTPTimeout}},
		{"smtp://h.example.com/?tls=tls",
			SMTPConfig{Host: "h.example.com", Port: 465, TLS: TLSImplicit, Timeout: DefaultSMTPTimeout}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSMTPURL(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
			if got.Password != tt.want.Password {
				t.Errorf("password = %q, want %q", got.Password, tt.want.Password)
			}
			// String reads back to the same configuration, less the password.
			back, err := ParseSMTPURL(got.String())
			if err != nil {
				t.Fatalf("String %q does not parse: %v", got.String(), err)
			}
			if tt.want.Password != "" {
				back.Password = tt.want.Password
			}
			if back != got {
				t.Errorf("round trip through %q:\ngot  %#v\nwant %#v", got.String(), back, got)
			}
		})
	}
}

func TestParseSMTPURLErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", "no scheme"},
		{"smtp.example.com:587", "scheme"},
		{"http://smtp.example.com", `scheme "http"`},
		{"smtp://", "no host"},
		{"smtp:///?from=a@b.c", "no host"},
		{"smtp://h.example.com:0", `port "0"`},
		{"smtp://h.example.com:99999", `port "99999"`},
		{"smtp://h.example.com:587?tls=ssl", `tls "ssl"`},
		{"smtps://h.example.com?tls=starttls", "smtps:// always uses tls"},
		{"smtp://h.example.com?from=not-an-address", `from address "not-an-address"`},
		{"smtp://h.example.com?form=a@b.c", `unknown parameter "form"`},
		{"smtp://h.example.com?timeout=soon", `timeout "soon"`},
		{"smtp://h.example.com/inbox", `path "/inbox"`},
		{"smtp://:pw@h.example.com", "password is set but no username"},
		{"smtp://u:" + secret + "@h.example.com:port", `invalid port ":port"`},
		{"smtp://u:" + secret + "@h.example.com?tls=bad", `tls "bad"`},
		{"smtp://u:" + secret + "@bad host", "not a valid URL"},
		{"smtp://u:" + secret + "@h.example.com:12ab", "not a valid URL"},
		{"smtp://u:" + secret + "%zz@h.example.com", "not a valid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseSMTPURL(tt.in)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error does not wrap ErrInvalidConfig: %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error reveals the password: %q", err)
			}
		})
	}
}

func TestSMTPConfigRedacts(t *testing.T) {
	t.Parallel()
	c, err := ParseSMTPURL("smtp://bob:" + secret + "@smtp.example.com:587?from=a@example.com")
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("smtp", "config", c)
	for _, s := range []string{c.String(), fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprint(&c), logged.String()} {
		if strings.Contains(s, secret) {
			t.Errorf("password shown in %q", s)
		}
		if !strings.Contains(s, "bob:xxxxx@smtp.example.com:587") {
			t.Errorf("%q does not show the redacted user", s)
		}
	}
	if got := c.String(); got != "smtp://bob:xxxxx@smtp.example.com:587?from=a%40example.com&tls=starttls" {
		t.Errorf("String = %q", got)
	}
}
