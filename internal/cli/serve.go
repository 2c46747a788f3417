package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/notify"
	"github.com/sluice/sluice/internal/server"
)

// serveFunc runs a server until ctx is cancelled.
type serveFunc func(ctx context.Context, cfg server.Config) error

// defaultServe is the real server.
var defaultServe serveFunc = server.Run

// serveOptions are the options of `sluice serve`: each comes from its flag,
// else its SLUICE_* environment variable, else the server's default.
type serveOptions struct {
	DataDir   string
	Addr      string
	DBURL     string
	BaseURL   string
	Workers   int
	Retention string
	LogFormat string
	LogLevel  string

	// Set from the environment only: secrets do not belong in flags.
	AdminEmail    string
	AdminPassword string
	AllowNet      string
	SMTPURL       string
	SecretKey     string
	CatalogFile   string
	HelpDir       string
	CommunityURL  string
	Samples       string
	// WebhookBaseURL and the HTTP limits below come from the environment
	// only, as the other settings an operator rarely changes do.
	WebhookBaseURL string
	http           httpLimits
	runLimits      server.RunLimits

	retention       time.Duration
	repairGrace     time.Duration
	disableAfter    time.Duration
	sessionIdle     time.Duration
	sessionLifetime time.Duration
	level           slog.Level
}

func (o *serveOptions) validate() error {
	if o.Addr != "" {
		if _, _, err := net.SplitHostPort(o.Addr); err != nil {
			return fmt.Errorf("--addr %q must be HOST:PORT, such as 127.0.0.1:8080: %w", o.Addr, err)
		}
	}
	if o.BaseURL != "" {
		u, err := url.Parse(o.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--base-url %q must look like https://sluice.example.com", o.BaseURL)
		}
	}
	if o.Workers < 0 {
		return fmt.Errorf("--workers must be positive, got %d", o.Workers)
	}
	if o.Retention != "" {
		d, err := parseRetention(o.Retention)
		if err != nil {
			return err
		}
		o.retention = d
	}
	switch o.LogFormat {
	case "", "text", "json":
	default:
		return fmt.Errorf("--log-format %q must be text or json", o.LogFormat)
	}
	if o.LogLevel != "" {
		if err := o.level.UnmarshalText([]byte(o.LogLevel)); err != nil {
			return fmt.Errorf("--log-level %q must be debug, info, warn or error", o.LogLevel)
		}
	}
	return nil
}

// offWords turn a setting off where that is allowed.
var offWords = []string{"off", "never"}

// parseDuration reads a setting's duration, for flags and environment
// variables alike: Go's form (90s, 36h) or a whole number of days (28d).
// With offOK, the words off and never give notify.Off. It refuses a
// negative duration: off is said in words. name and want go into the
// error, which says what was wrong.
func parseDuration(name, v string, offOK bool, want string) (time.Duration, error) {
	if offOK && slices.Contains(offWords, strings.ToLower(strings.TrimSpace(v))) {
		return notify.Off, nil
	}
	d, err := time.ParseDuration(v)
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, nerr := strconv.Atoi(days)
		d, err = time.Duration(n)*24*time.Hour, nerr
	}
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s %q must be %s", name, v, want)
	}
	return d, nil
}

// parseRetention reads --retention: a positive duration.
func parseRetention(s string) (time.Duration, error) {
	d, err := parseDuration("--retention", s, false, "a positive duration such as 28d or 72h")
	if err == nil && d == 0 {
		err = fmt.Errorf("--retention %q must be a positive duration such as 28d or 72h", s)
	}
	return d, err
}

// parseRepairGrace reads SLUICE_REPAIR_GRACE: a duration, where 0, off
// and never send the first repair-tip email at once (notify.Off; a zero
// Config value would mean the default).
func parseRepairGrace(v string) (time.Duration, error) {
	d, err := parseDuration("SLUICE_REPAIR_GRACE", v, true, "a duration such as 30s, or 0 or off to send the first email at once")
	if err == nil && d == 0 {
		d = notify.Off
	}
	return d, err
}

// parseDisableAfter reads SLUICE_DISABLE_AFTER: a positive duration, or
// off or never to never turn flows off (notify.Off).
func parseDisableAfter(v string) (time.Duration, error) {
	const want = "a positive duration such as 14d or 336h, or off to never turn flows off"
	d, err := parseDuration("SLUICE_DISABLE_AFTER", v, true, want)
	if err == nil && d == 0 {
		err = fmt.Errorf("SLUICE_DISABLE_AFTER %q must be %s", v, want)
	}
	return d, err
}

// settingDuration writes a default the way settings are written: whole
// days as 14d, else Go's form without its zero units (2m, not 2m0s).
func settingDuration(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// config turns the options into the server's configuration; the server
// fills in its defaults and validates it.
func (o *serveOptions) config(logger *slog.Logger) server.Config {
	return server.Config{
		DataDir:       o.DataDir,
		Addr:          o.Addr,
		DBURL:         o.DBURL,
		BaseURL:       o.BaseURL,
		AdminEmail:    o.AdminEmail,
		AdminPassword: o.AdminPassword,
		AllowNet:      o.AllowNet,
		SMTPURL:       o.SMTPURL,
		SecretKey:     o.SecretKey,
		CatalogFile:   o.CatalogFile,
		HelpDir:       o.HelpDir,
		CommunityURL:  o.CommunityURL,
		Samples:       o.Samples,
		RepairGrace:   o.repairGrace,
		DisableAfter:  o.disableAfter,

		SessionIdle:     o.sessionIdle,
		SessionLifetime: o.sessionLifetime,
		Workers:         o.Workers,
		Retention:       o.retention,
		Logger:          logger,

		WebhookBaseURL:    o.WebhookBaseURL,
		ReadHeaderTimeout: o.http.readHeader,
		ReadTimeout:       o.http.read,
		WriteTimeout:      o.http.write,
		IdleTimeout:       o.http.idle,
		MaxConns:          o.http.maxConns,
		MaxConnsPerClient: o.http.maxConnsPerClient,
		RunLimits:         o.runLimits,
	}
}

// httpLimits are the HTTP server's deadlines and connection caps; zero
// leaves the server's default.
type httpLimits struct {
	readHeader, read, write, idle time.Duration
	maxConns, maxConnsPerClient   int
}

// fromEnv reads the limits from their SLUICE_* variables.
func (l *httpLimits) fromEnv(getenv func(string) string) error {
	positiveDuration := func(v string) (time.Duration, bool) {
		d, err := time.ParseDuration(v)
		return d, err == nil && d > 0
	}
	positiveInt := func(v string) (int, bool) {
		i, err := strconv.Atoi(v)
		return i, err == nil && i > 0
	}
	return errors.Join(
		envValue(getenv, "SLUICE_READ_HEADER_TIMEOUT", &l.readHeader, positiveDuration, "a positive duration such as 30s"),
		envValue(getenv, "SLUICE_READ_TIMEOUT", &l.read, positiveDuration, "a positive duration such as 30s"),
		envValue(getenv, "SLUICE_WRITE_TIMEOUT", &l.write, positiveDuration, "a positive duration such as 30s"),
		envValue(getenv, "SLUICE_IDLE_TIMEOUT", &l.idle, positiveDuration, "a positive duration such as 30s"),
		envValue(getenv, "SLUICE_MAX_CONNS", &l.maxConns, positiveInt, "a positive number"),
		envValue(getenv, "SLUICE_MAX_CONNS_PER_CLIENT", &l.maxConnsPerClient, positiveInt, "a positive number"),
	)
}

// runLimitsFromEnv reads the per-run caps from their SLUICE_* variables.
func runLimitsFromEnv(getenv func(string) string, l *server.RunLimits) error {
	positiveInt64 := func(v string) (int64, bool) {
		i, err := strconv.ParseInt(v, 10, 64)
		return i, err == nil && i > 0
	}
	positiveInt := func(v string) (int, bool) {
		i, err := strconv.Atoi(v)
		return i, err == nil && i > 0
	}
	positiveDuration := func(v string) (time.Duration, bool) {
		d, err := time.ParseDuration(v)
		return d, err == nil && d > 0
	}
	return errors.Join(
		envValue(getenv, "SLUICE_MAX_RUN_STEPS", &l.Steps, positiveInt, "a positive number"),
		envValue(getenv, "SLUICE_MAX_RUN_EXPRESSION_STEPS", &l.ExpressionSteps, positiveInt64, "a positive number"),
		envValue(getenv, "SLUICE_MAX_RUN_EXPRESSION_TIME", &l.ExpressionTime, positiveDuration, "a positive duration such as 5m"),
		envValue(getenv, "SLUICE_MAX_RUN_MEMORY", &l.Memory, parseMiB, "a size in MiB or GiB such as 256MiB"),
	)
}

// parseMiB reads a positive size written in MiB or GiB ("256MiB",
// "1GiB") as bytes.
func parseMiB(v string) (int64, bool) {
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"MiB", 20}, {"GiB", 30}} {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			i, err := strconv.ParseInt(n, 10, 64)
			if err != nil || i <= 0 || i > 1<<(62-u.shift) {
				return 0, false
			}
			return i << u.shift, true
		}
	}
	return 0, false
}

// envValue sets *dst from the environment variable env when it is set;
// a value parse refuses is a usage error that says what is wanted.
func envValue[T any](getenv func(string) string, env string, dst *T, parse func(string) (T, bool), want string) error {
	v := getenv(env)
	if v == "" {
		return nil
	}
	x, ok := parse(v)
	if !ok {
		return usagef("%s %q must be %s", env, v, want)
	}
	*dst = x
	return nil
}

func (a *app) serveCommand() *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve [--data DIR] [--addr HOST:PORT] [--db URL] [--base-url URL] [--workers N] [--retention DUR]",
		Short: "Run a Sluice server",
		Long:  serveHelp(),
		Args:  argsRange(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.serveFromEnv(cmd, &o); err != nil {
				return err
			}
			return runValidated(cmd.Context(), &o, a.runServe)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.DataDir, "data", "", "data directory (SQLite database and secret key) (default ./"+server.DefaultDataDir+")")
	f.StringVar(&o.Addr, "addr", "", "HOST:PORT to listen on (default "+server.DefaultAddr+")")
	f.StringVar(&o.DBURL, "db", "", "database URL: sqlite:PATH or postgres://... (default SQLite in the data directory)")
	f.StringVar(&o.BaseURL, "base-url", "", "URL the server is reached at, for webhook URLs and links (default http://ADDR)")
	f.IntVar(&o.Workers, "workers", 0, fmt.Sprintf("runs this node works at once (default %d)", engine.DefaultWorkers))
	f.StringVar(&o.Retention, "retention", "", "how long finished runs are kept, such as 28d or 72h (default "+settingDuration(engine.DefaultRetention)+")")
	f.StringVar(&o.LogFormat, "log-format", "", "log format: text or json (default text)")
	f.StringVar(&o.LogLevel, "log-level", "", "log level: debug, info, warn or error (default info)")
	return cmd
}

// serveHelp is the long help of serve, with the defaults of the server,
// the engine and the notifier filled in from their constants.
func serveHelp() string {
	return fmt.Sprintf(`Run a Sluice server until interrupted.

Every flag can also be set with an environment variable; a flag wins:
  --data SLUICE_DATA, --addr SLUICE_ADDR, --db SLUICE_DB,
  --base-url SLUICE_BASE_URL, --workers SLUICE_WORKERS,
  --retention SLUICE_RETENTION, --log-format SLUICE_LOG_FORMAT,
  --log-level SLUICE_LOG_LEVEL.
Set only in the environment:
  SLUICE_ADMIN_EMAIL (default %s), SLUICE_ADMIN_PASSWORD,
  SLUICE_ALLOW_NET, SLUICE_SMTP_URL,
  SLUICE_SECRET_KEY (seals connections' secrets; default: DATA/secret.key),
  SLUICE_CATALOG (a file of your own diagnosis entries; see sluice diagnose),
  SLUICE_HELP_DIR (a folder of your own help articles, *.md; see docs/help.md),
  SLUICE_COMMUNITY_URL (the community link the help center offers),
  SLUICE_SAMPLES (on or off: the sample service under /sample/ and the
  welcome page's sample flows; default on with SQLite, off with PostgreSQL),
  SLUICE_REPAIR_GRACE (how long the first repair-tip email about a problem
  waits to count a burst of failures; default %s; 0 or off: at once),
  SLUICE_DISABLE_AFTER (turn off a flow that has failed continuously that
  long; default %s; off or never: never),
  SLUICE_SESSION_IDLE (sign a portal session out after it is unused that
  long; default %s), SLUICE_SESSION_LIFETIME (however active; default %s),
  SLUICE_WEBHOOK_BASE_URL (a separate public origin for webhooks, such as
  https://hooks.example.com; default: webhooks on the base URL),
  SLUICE_READ_HEADER_TIMEOUT (%s), SLUICE_READ_TIMEOUT (headers and body,
  %s), SLUICE_WRITE_TIMEOUT (%s; a webhook waiting for its respond action
  gets %s more), SLUICE_IDLE_TIMEOUT (%s), SLUICE_MAX_CONNS (%d) and
  SLUICE_MAX_CONNS_PER_CLIENT (%d; raise it behind a reverse proxy),
  SLUICE_MAX_RUN_STEPS (%d), SLUICE_MAX_RUN_EXPRESSION_STEPS (%d),
  SLUICE_MAX_RUN_EXPRESSION_TIME (%s) and SLUICE_MAX_RUN_MEMORY (%dMiB):
  what one run may record, compute and hold.
SLUICE_ADMIN_PASSWORD_FILE, SLUICE_SMTP_URL_FILE and SLUICE_SECRET_KEY_FILE
read those secrets from a file instead.`,
		server.DefaultAdminEmail, settingDuration(notify.DefaultGrace), settingDuration(notify.DefaultDisableAfter),
		settingDuration(server.DefaultSessionIdle), settingDuration(server.DefaultSessionLifetime),
		settingDuration(server.DefaultReadHeaderTimeout), settingDuration(server.DefaultReadTimeout), settingDuration(server.DefaultWriteTimeout),
		settingDuration(engine.DefaultRespondTimeout), settingDuration(server.DefaultIdleTimeout), server.DefaultMaxConns, server.DefaultMaxConnsPerClient,
		engine.DefaultMaxRunSteps, engine.DefaultMaxRunExpressionSteps, settingDuration(engine.DefaultMaxRunExpressionTime), engine.DefaultMaxRunMemory>>20)
}

// serveFromEnv fills every option whose flag was not given from its
// environment variable, and reads the *_FILE secrets.
func (a *app) serveFromEnv(cmd *cobra.Command, o *serveOptions) error {
	flags := cmd.Flags()
	strs := []struct {
		flag, env string
		dst       *string
	}{
		{"data", "SLUICE_DATA", &o.DataDir},
		{"addr", "SLUICE_ADDR", &o.Addr},
		{"db", "SLUICE_DB", &o.DBURL},
		{"base-url", "SLUICE_BASE_URL", &o.BaseURL},
		{"retention", "SLUICE_RETENTION", &o.Retention},
		{"log-format", "SLUICE_LOG_FORMAT", &o.LogFormat},
		{"log-level", "SLUICE_LOG_LEVEL", &o.LogLevel},
	}
	for _, s := range strs {
		if v := a.getenv(s.env); v != "" && !flags.Changed(s.flag) {
			*s.dst = v
		}
	}
	if v := a.getenv("SLUICE_WORKERS"); v != "" && !flags.Changed("workers") {
		n, err := strconv.Atoi(v)
		if err != nil {
			return usagef("SLUICE_WORKERS %q must be a number", v)
		}
		o.Workers = n
	}
	o.AdminEmail = a.getenv("SLUICE_ADMIN_EMAIL")
	o.AllowNet = a.getenv("SLUICE_ALLOW_NET")
	o.CatalogFile = a.getenv("SLUICE_CATALOG")
	o.HelpDir = a.getenv("SLUICE_HELP_DIR")
	o.CommunityURL = a.getenv("SLUICE_COMMUNITY_URL")
	o.Samples = a.getenv("SLUICE_SAMPLES")
	o.WebhookBaseURL = a.getenv("SLUICE_WEBHOOK_BASE_URL")
	if err := o.http.fromEnv(a.getenv); err != nil {
		return err
	}
	if err := runLimitsFromEnv(a.getenv, &o.runLimits); err != nil {
		return err
	}
	for _, d := range []struct {
		env   string
		dst   *time.Duration
		parse func(string) (time.Duration, error)
	}{
		{"SLUICE_REPAIR_GRACE", &o.repairGrace, parseRepairGrace},
		{"SLUICE_DISABLE_AFTER", &o.disableAfter, parseDisableAfter},
	} {
		if v := a.getenv(d.env); v != "" {
			x, err := d.parse(v)
			if err != nil {
				return usagef("%v", err)
			}
			*d.dst = x
		}
	}
	days := func(v string) (time.Duration, bool) {
		d, err := parseRetention(v)
		return d, err == nil && d > 0
	}
	if err := errors.Join(
		envValue(a.getenv, "SLUICE_SESSION_IDLE", &o.sessionIdle, days, "a positive duration such as 8h or 7d"),
		envValue(a.getenv, "SLUICE_SESSION_LIFETIME", &o.sessionLifetime, days, "a positive duration such as 8h or 7d"),
	); err != nil {
		return err
	}
	var err error
	if o.AdminPassword, err = a.secretFromEnv("SLUICE_ADMIN_PASSWORD"); err != nil {
		return err
	}
	if o.SMTPURL, err = a.secretFromEnv("SLUICE_SMTP_URL"); err != nil {
		return err
	}
	if o.SecretKey, err = a.secretFromEnv("SLUICE_SECRET_KEY"); err != nil {
		return err
	}
	return nil
}

// secretFromEnv reads the secret in $NAME, or in the file named by
// $NAME_FILE (without its final line ending), as Docker and systemd
// credentials provide them. Setting both is a usage error.
func (a *app) secretFromEnv(name string) (string, error) {
	v, file := a.getenv(name), a.getenv(name+"_FILE")
	switch {
	case v != "" && file != "":
		return "", usagef("set %s or %s_FILE, not both", name, name)
	case file == "":
		return v, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading %s_FILE: %w", name, err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s_FILE %s is empty", name, file)
	}
	return s, nil
}

func (a *app) runServe(ctx context.Context, o *serveOptions) error {
	hopts := &slog.HandlerOptions{Level: o.level}
	var h slog.Handler = slog.NewTextHandler(a.stderr, hopts)
	if o.LogFormat == "json" {
		h = slog.NewJSONHandler(a.stderr, hopts)
	}
	err := a.serve(ctx, o.config(slog.New(h)))
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil // stopped by a signal: a clean shutdown
	}
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
