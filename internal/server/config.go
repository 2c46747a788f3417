// Package server wires a Sluice server together: the store, the engine, the
// scheduler, the REST API and the webhook endpoint, on one HTTP listener.
package server

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// Config is everything `sluice serve` can be told. Fields are set from
// flags and SLUICE_* environment variables by the CLI, then validated once.
type Config struct {
	// DataDir holds the SQLite database and the secret key.
	// Defaults to ./sluice-data.
	DataDir string
	// Addr is the HOST:PORT to listen on. Defaults to 127.0.0.1:8080.
	Addr string
	// DBURL selects the store: empty or sqlite:PATH for SQLite (the default,
	// in DataDir), postgres://... for PostgreSQL.
	DBURL string
	// BaseURL is the externally visible URL of the server, used in webhook
	// URLs and links. Defaults to http://Addr.
	BaseURL string
	// AdminEmail is the first admin's email (SLUICE_ADMIN_EMAIL).
	// Defaults to admin@localhost.
	AdminEmail string
	// AdminPassword is the first admin's password (SLUICE_ADMIN_PASSWORD).
	// Defaults to a random one, printed once.
	AdminPassword string
	// AllowNet lists CIDRs and hosts that http actions may reach although
	// they are loopback, private or link-local (SLUICE_ALLOW_NET).
	// Defaults to none.
	AllowNet string
	// SMTPURL configures outgoing mail (SLUICE_SMTP_URL), such as
	// smtp://user:pass@host:587?from=sluice@example.com. Defaults to none.
	SMTPURL string
	// SecretKey is the key that seals connections' secrets
	// (SLUICE_SECRET_KEY): 64 hex digits or base64 of 32 bytes.
	// Defaults to a key generated into DataDir/secret.key.
	SecretKey string
	// CatalogFile names a file of the admins' own diagnosis entries
	// (SLUICE_CATALOG), which win over the built-in catalog.
	// Defaults to none.
	CatalogFile string
	// RepairGrace is how long the first repair-tip email about a problem
	// waits after its first failure, so that a burst is reported in one
	// email with its full count (SLUICE_REPAIR_GRACE). Defaults to 30s.
	RepairGrace time.Duration
	// DisableAfter turns off a flow whose runs have all failed for that
	// long (SLUICE_DISABLE_AFTER); negative never does. Defaults to 14 days.
	DisableAfter time.Duration
	// Workers caps how many runs this node works at once. Defaults to 256.
	Workers int
	// Retention is how long finished runs are kept. Defaults to 28 days.
	Retention time.Duration
	// MaxPayload caps a step's input or output in bytes. Defaults to 10 MiB.
	MaxPayload int64
	// Logger receives the server's logs. Defaults to slog.Default().
	Logger *slog.Logger
	// Out receives the one message that is not a log line: the first
	// admin's generated password, printed once. Defaults to os.Stderr.
	Out io.Writer
}

// String prints the configuration with secrets redacted.
func (c Config) String() string {
	pw := ""
	if c.AdminPassword != "" {
		pw = "[redacted]"
	}
	smtp := ""
	if c.SMTPURL != "" {
		smtp = "[redacted]"
	}
	key := ""
	if c.SecretKey != "" {
		key = " secret_key=[redacted]"
	}
	return fmt.Sprintf("data=%s addr=%s db=%s base_url=%s admin=%s admin_password=%s allow_net=%q smtp=%s workers=%d retention=%s max_payload=%d%s",
		c.DataDir, c.Addr, redactURL(c.DBURL), c.BaseURL, c.AdminEmail, pw, c.AllowNet, smtp, c.Workers, c.Retention, c.MaxPayload, key)
}

// redactURL hides the password of a database URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// validate fills defaults and checks the configuration.
func (c *Config) validate() error {
	if c.DataDir == "" {
		c.DataDir = "sluice-data"
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("address %q must be HOST:PORT: %w", c.Addr, err)
	}
	if c.BaseURL == "" {
		c.BaseURL = "http://" + c.Addr
	}
	c.BaseURL = strings.TrimSuffix(c.BaseURL, "/")
	if c.AdminEmail == "" {
		c.AdminEmail = "admin@localhost"
	}
	if c.Workers <= 0 {
		c.Workers = 256
	}
	if c.Retention <= 0 {
		c.Retention = 28 * 24 * time.Hour
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = 10 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Out == nil {
		c.Out = os.Stderr
	}
	return nil
}
