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

	"github.com/sluice/sluice/internal/engine"
)

// Defaults of Config that the server fills in itself, each in this one
// place: the flag help and the README refer to them. The engine's and the
// notifier's settings default to engine.Default* and notify.Default*.
const (
	// DefaultDataDir is the data folder, relative to the working folder.
	DefaultDataDir = "sluice-data"
	// DefaultAddr is the address the server listens on.
	DefaultAddr = "127.0.0.1:8080"
	// DefaultAdminEmail is the first admin's email.
	DefaultAdminEmail = "admin@localhost"
	// DefaultReadHeaderTimeout bounds reading a request's headers.
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultReadTimeout bounds reading a whole request.
	DefaultReadTimeout = time.Minute
	// DefaultWriteTimeout bounds handling a request and writing its answer.
	DefaultWriteTimeout = time.Minute
	// DefaultIdleTimeout is how long a kept-alive connection may idle.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultSessionIdle signs a portal session out once it has not been
	// used for that long.
	DefaultSessionIdle = 8 * time.Hour
	// DefaultSessionLifetime signs a portal session out that long after
	// sign-in, however active.
	DefaultSessionLifetime = 7 * 24 * time.Hour
	// DefaultMaxConns caps the connections open at once.
	DefaultMaxConns = 1024
	// DefaultMaxConnsPerClient caps the connections open at once from one
	// client address.
	DefaultMaxConnsPerClient = 64
	// DefaultGCPercent is the Go garbage collector's GOGC when the
	// environment sets none: 200 instead of Go's 100 halves how often it
	// runs. A server's live heap is small and each run allocates about
	// 13 KB, so collections were 6% of W1's CPU; at 200 they cost about
	// half that, for 25 MiB more peak memory under W1
	// (docs/benchmarks.md, "Faster W1 and W3, second pass").
	DefaultGCPercent = 200
)

// Config is everything `sluice serve` can be told. Fields are set from
// flags and SLUICE_* environment variables by the CLI, then validated once.
type Config struct {
	// DataDir holds the SQLite database and the secret key.
	// Defaults to DefaultDataDir.
	DataDir string
	// Addr is the HOST:PORT to listen on. Defaults to DefaultAddr.
	Addr string
	// DBURL selects the store: empty or sqlite:PATH for SQLite (the default,
	// in DataDir), postgres://... for PostgreSQL.
	DBURL string
	// BaseURL is the externally visible URL of the server, used in webhook
	// URLs and links. Defaults to http://Addr.
	BaseURL string
	// AdminEmail is the first admin's email (SLUICE_ADMIN_EMAIL).
	// Defaults to DefaultAdminEmail.
	AdminEmail string
	// AdminPassword is the first admin's password (SLUICE_ADMIN_PASSWORD).
	// Defaults to a random one, printed once.
	AdminPassword string
	// AllowNet lists CIDRs and hosts that http actions may reach although
	// they are loopback, private or link-local (SLUICE_ALLOW_NET).
	// Defaults to none.
	AllowNet string
	// SMTPURL configures outgoing mail (SLUICE_SMTP_URL), such as
	// smtp://user:pass@host:587?from=sluice@example.com; its from=
	// defaults to sluice@ the host of BaseURL. Defaults to none.
	SMTPURL string
	// SecretKey is the key that seals connections' secrets
	// (SLUICE_SECRET_KEY): 64 hex digits or base64 of 32 bytes.
	// Defaults to a key generated into DataDir/secret.key.
	SecretKey string
	// CatalogFile names a file of the admins' own diagnosis entries
	// (SLUICE_CATALOG), which win over the built-in catalog.
	// Defaults to none.
	CatalogFile string
	// HelpDir is a folder of the admins' own help articles (*.md,
	// SLUICE_HELP_DIR), which win over built-in ones of the same name.
	// Defaults to none.
	HelpDir string
	// CommunityURL is the community link the help center offers makers
	// (SLUICE_COMMUNITY_URL), an http or https URL. Defaults to none.
	CommunityURL string
	// Samples turns the sample service (internal/sample, under /sample/)
	// and the welcome page's sample flows on or off (SLUICE_SAMPLES: on
	// or off). Defaults to on for a single-node (SQLite) server and off
	// with PostgreSQL.
	Samples string
	// RepairGrace is how long the first repair-tip email about a problem
	// waits after its first failure, so that a burst is reported in one
	// email with its full count (SLUICE_REPAIR_GRACE). Defaults to
	// notify.DefaultGrace; notify.Off sends it at once.
	RepairGrace time.Duration
	// DisableAfter turns off a flow whose runs have all failed for that
	// long (SLUICE_DISABLE_AFTER). Defaults to notify.DefaultDisableAfter;
	// notify.Off never turns flows off.
	DisableAfter time.Duration
	// SessionIdle signs a portal session out once it has not been used
	// for that long (SLUICE_SESSION_IDLE). Defaults to
	// DefaultSessionIdle.
	SessionIdle time.Duration
	// SessionLifetime signs a portal session out that long after sign-in,
	// however active (SLUICE_SESSION_LIFETIME). Defaults to
	// DefaultSessionLifetime.
	SessionLifetime time.Duration
	// Workers caps how many runs this node works at once. Defaults to
	// engine.DefaultWorkers.
	Workers int
	// Retention is how long finished runs are kept. Defaults to
	// engine.DefaultRetention.
	Retention time.Duration
	// MaxPayload caps a step's input or output in bytes. Defaults to
	// engine.DefaultMaxPayload.
	MaxPayload int64
	// RunLimits caps what one run may cost: its recorded steps
	// (SLUICE_MAX_RUN_STEPS), its expression work (SLUICE_MAX_RUN_EXPRESSION_STEPS,
	// SLUICE_MAX_RUN_EXPRESSION_TIME) and the step outputs it holds in
	// memory (SLUICE_MAX_RUN_MEMORY). A zero field defaults to the engine's
	// (engine.DefaultMaxRunSteps and the others).
	RunLimits RunLimits
	// WebhookBaseURL is a separate public origin for webhooks
	// (SLUICE_WEBHOOK_BASE_URL), such as https://hooks.example.com, so
	// that what a respond action answers is never served from the
	// origin of the API and the /r/ pages. When it is set, webhook URLs
	// start with it and the server answers webhooks only on requests whose
	// Host is its host, and only webhooks there. Defaults to none: webhooks
	// are served on BaseURL.
	WebhookBaseURL string
	// ReadHeaderTimeout bounds reading a request's headers
	// (SLUICE_READ_HEADER_TIMEOUT). Defaults to DefaultReadHeaderTimeout.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, headers and body, so that
	// a client sending its body slowly is cut off (SLUICE_READ_TIMEOUT).
	// Defaults to DefaultReadTimeout.
	ReadTimeout time.Duration
	// WriteTimeout bounds handling a request and writing its answer, from
	// the end of its headers (SLUICE_WRITE_TIMEOUT); a webhook that waits
	// for its flow's respond action gets the respond timeout
	// (engine.DefaultRespondTimeout) more, on its own connection only.
	// Defaults to DefaultWriteTimeout.
	WriteTimeout time.Duration
	// IdleTimeout is how long a kept-alive connection may wait for its
	// next request (SLUICE_IDLE_TIMEOUT). Defaults to DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxConns caps the connections open at once; the ones over it are
	// answered 503 and closed before anything is read (SLUICE_MAX_CONNS).
	// Defaults to DefaultMaxConns.
	MaxConns int
	// MaxConnsPerClient caps the connections open at once from one client
	// address (an IPv4 address or an IPv6 /64), as MaxConns does
	// (SLUICE_MAX_CONNS_PER_CLIENT). Behind a reverse proxy every
	// connection comes from the proxy: raise it to MaxConns there.
	// Defaults to DefaultMaxConnsPerClient.
	MaxConnsPerClient int
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
	return fmt.Sprintf("data=%s addr=%s db=%s base_url=%s admin=%s admin_password=%s allow_net=%q smtp=%s workers=%d retention=%s max_payload=%d webhook_base_url=%s read_header_timeout=%s read_timeout=%s write_timeout=%s idle_timeout=%s max_conns=%d max_conns_per_client=%d%s",
		c.DataDir, c.Addr, redactURL(c.DBURL), c.BaseURL, c.AdminEmail, pw, c.AllowNet, smtp, c.Workers, c.Retention, c.MaxPayload,
		c.WebhookBaseURL, c.ReadHeaderTimeout, c.ReadTimeout, c.WriteTimeout, c.IdleTimeout, c.MaxConns, c.MaxConnsPerClient, key)
}

// sameHost reports whether two URLs name the same host.
func sameHost(a, b string) bool {
	ua, erra := url.Parse(a)
	ub, errb := url.Parse(b)
	return erra == nil && errb == nil && strings.EqualFold(ua.Hostname(), ub.Hostname())
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
		c.DataDir = DefaultDataDir
	}
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("address %q must be HOST:PORT: %w", c.Addr, err)
	}
	if c.BaseURL == "" {
		c.BaseURL = "http://" + c.Addr
	}
	c.BaseURL = strings.TrimSuffix(c.BaseURL, "/")
	if c.AdminEmail == "" {
		c.AdminEmail = DefaultAdminEmail
	}
	if c.Workers <= 0 {
		c.Workers = engine.DefaultWorkers
	}
	if c.Retention <= 0 {
		c.Retention = engine.DefaultRetention
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = engine.DefaultMaxPayload
	}
	if c.Samples != "" && c.Samples != "on" && c.Samples != "off" {
		return fmt.Errorf("SLUICE_SAMPLES %q must be on or off", c.Samples)
	}
	if c.CommunityURL != "" {
		if u, err := url.Parse(c.CommunityURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("SLUICE_COMMUNITY_URL %q must be an http or https URL with a host, such as https://community.example.com", c.CommunityURL)
		}
	}
	if c.WebhookBaseURL != "" {
		c.WebhookBaseURL = strings.TrimSuffix(c.WebhookBaseURL, "/")
		if u, err := url.Parse(c.WebhookBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
			return fmt.Errorf("SLUICE_WEBHOOK_BASE_URL %q must be an http or https URL with a host and no path, such as https://hooks.example.com", c.WebhookBaseURL)
		}
		if sameHost(c.WebhookBaseURL, c.BaseURL) {
			return fmt.Errorf("SLUICE_WEBHOOK_BASE_URL %q must have another host than the base URL %q: a separate origin is its purpose", c.WebhookBaseURL, c.BaseURL)
		}
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&c.ReadHeaderTimeout, DefaultReadHeaderTimeout},
		{&c.ReadTimeout, DefaultReadTimeout},
		{&c.WriteTimeout, DefaultWriteTimeout},
		{&c.IdleTimeout, DefaultIdleTimeout},
	} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	if c.SessionIdle <= 0 {
		c.SessionIdle = DefaultSessionIdle
	}
	if c.SessionLifetime <= 0 {
		c.SessionLifetime = DefaultSessionLifetime
	}
	if c.SessionIdle > c.SessionLifetime {
		c.SessionIdle = c.SessionLifetime
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxConnsPerClient <= 0 {
		c.MaxConnsPerClient = DefaultMaxConnsPerClient
	}
	if c.MaxConnsPerClient > c.MaxConns {
		c.MaxConnsPerClient = c.MaxConns
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Out == nil {
		c.Out = os.Stderr
	}
	return nil
}

// RunLimits are the engine's per-run caps (docs/security.md, "Large
// runs"); an operator raises them for heavy flows, or lowers them to keep
// one maker's run from taking a small machine.
type RunLimits struct {
	// Steps caps the steps one run may record. Defaults to
	// engine.DefaultMaxRunSteps.
	Steps int
	// ExpressionSteps caps the budget steps of all the expression
	// evaluations of one run. Defaults to
	// engine.DefaultMaxRunExpressionSteps.
	ExpressionSteps int64
	// ExpressionTime caps the time of all the expression evaluations of
	// one run. Defaults to engine.DefaultMaxRunExpressionTime.
	ExpressionTime time.Duration
	// Memory caps the encoded size of the step outputs one run holds, in
	// bytes. Defaults to engine.DefaultMaxRunMemory.
	Memory int64
}
