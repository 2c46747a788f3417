package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/sluice/sluice/internal/api"
	"github.com/sluice/sluice/internal/auth"
	"github.com/sluice/sluice/internal/diagnose"
	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/help"
	"github.com/sluice/sluice/internal/mail"
	"github.com/sluice/sluice/internal/netguard"
	"github.com/sluice/sluice/internal/notify"
	"github.com/sluice/sluice/internal/sample"
	"github.com/sluice/sluice/internal/secret"
	"github.com/sluice/sluice/internal/signin"
	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/postgres"
	"github.com/sluice/sluice/internal/store/sqlite"
	"github.com/sluice/sluice/internal/web"
)

// Run starts a server and serves until ctx ends, then shuts down: it stops
// taking requests, stops the runs in flight (they resume on the next
// start) and closes the store. The HTTP server, the engine and the
// notifier run as one: when one of them stops, Run stops the others and
// returns its error.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	log := cfg.Logger
	tuneGC()
	// The settings read from text are checked before anything is
	// written: a mistyped SMTP URL creates no data folder and no admin.
	mailer, mailFrom, err := smtpMailer(cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data folder %s: %w", cfg.DataDir, err)
	}
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()
	key, err := loadSecretKey(cfg.DataDir, cfg.SecretKey)
	if err != nil {
		return err
	}
	warnReadable(log, cfg.DataDir)
	box, err := secret.NewBox(key)
	if err != nil {
		return err
	}
	st, single, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := bootstrapAdmin(ctx, st, cfg); err != nil {
		return err
	}
	allow, err := netguard.ParseAllow(cfg.AllowNet)
	if err != nil {
		return fmt.Errorf("SLUICE_ALLOW_NET: %w", err)
	}
	catalog := diagnose.Default()
	if cfg.CatalogFile != "" {
		if err := catalog.LoadFile(cfg.CatalogFile); err != nil {
			return fmt.Errorf("SLUICE_CATALOG: %w", err)
		}
	}
	client := netguard.NewClient(netguard.Options{Allow: allow})
	var sampleBase string
	var samples *sample.Service
	if cfg.Samples == "on" || cfg.Samples == "" && single {
		// Flows reach the sample service in process: only requests for
		// sample.Origin/sample/... and BaseURL/sample/... are diverted, and
		// only to it (docs/security.md).
		sampleBase, samples = cfg.BaseURL, sample.New()
		client.Transport = samples.Transport(sampleBase, client.Transport)
	}
	smtpDial := netguard.NewDialer(netguard.Options{Allow: allow}).DialContext
	eng, err := engine.New(engine.Config{
		Store:      st,
		Logger:     log,
		HTTPClient: client,
		Mailer:     mailer,
		MailFrom:   mailFrom,
		Workers:    cfg.Workers,
		MaxPayload: cfg.MaxPayload,
		Retention:  cfg.Retention,

		MaxRunSteps:           cfg.RunLimits.Steps,
		MaxRunExpressionSteps: cfg.RunLimits.ExpressionSteps,
		MaxRunExpressionTime:  cfg.RunLimits.ExpressionTime,
		MaxRunMemory:          cfg.RunLimits.Memory,
		SingleNode:            single,
		Secrets:               box,
		Catalog:               catalog,
		SMTPDial:              smtpDial,
	})
	if err != nil {
		return err
	}

	linkKey := notify.LinkKey(key)
	notifier, err := notify.New(notify.Config{
		Store: st, Mailer: mailer, From: mailFrom, BaseURL: cfg.BaseURL, Key: linkKey,
		Logger: log.With("component", "notify"), Grace: cfg.RepairGrace, DisableAfter: cfg.DisableAfter,
	})
	if err != nil {
		return err
	}

	// One password check for the API and the link pages, so that they
	// count a client address together.
	signIn := signin.New(signin.Config{Store: st, Logger: log.With("component", "signin")})
	sessions := web.NewSessions(web.SessionConfig{Store: st, Idle: cfg.SessionIdle, Lifetime: cfg.SessionLifetime,
		Secure: strings.HasPrefix(cfg.BaseURL, "https://")})
	mux := http.NewServeMux()
	mux.Handle("/r/", web.New(web.Config{
		Store: st, Key: linkKey, BaseURL: cfg.BaseURL, Logger: log.With("component", "web"), SignIn: signIn, Sessions: sessions,
		Resubmit: func(ctx context.Context, r store.Run, again bool) (store.Run, error) {
			// No Force: a double POST of one link gives one run.
			nr, _, err := eng.Resubmit(ctx, r, engine.ResubmitOptions{Again: again})
			return nr, err
		},
	}))
	helpCenter, err := help.New(ctx, help.Config{Store: st, Catalog: catalog, Dir: cfg.HelpDir, BaseURL: cfg.BaseURL, CommunityURL: cfg.CommunityURL})
	if err != nil {
		return fmt.Errorf("help center (SLUICE_HELP_DIR): %w", err)
	}
	apiCfg := api.Config{Store: st, Runner: eng, Logger: log, BaseURL: cfg.BaseURL, WebhookBaseURL: cfg.WebhookBaseURL,
		MaxBody: cfg.MaxPayload, WriteTimeout: cfg.WriteTimeout, Secrets: box, HTTPClient: client, SMTPDial: smtpDial, SignIn: signIn,
		Help: helpCenter, Catalog: catalog}
	// One API server: the portal's parts share its route table, its
	// sign-in checker and its help center instead of building their own.
	apiServer := api.Build(apiCfg)
	mux.Handle("/api/", apiServer.Handler())
	hooks := apiServer.Webhooks()
	mux.HandleFunc("GET /healthz", healthz)
	if samples != nil {
		mux.Handle(sample.Prefix, samples) // for a browser or curl; flows use the transport
	}
	mux.Handle("/", web.NewPortal(web.PortalConfig{
		Store: st, Sessions: sessions, Runner: eng, SignIn: signIn,
		Verify: apiServer.Verifier(), SaveFlow: apiServer.FlowSaver(), Connections: apiServer.ConnectionFixer(),
		Support: apiServer.Support(), Accounts: apiServer.Accounts(),
		SampleBaseURL: sampleBase, BaseURL: cfg.BaseURL, WebhookBaseURL: cfg.WebhookBaseURL, Logger: log.With("component", "portal"),
	}))
	ln, err := listen(cfg)
	if err != nil {
		return err
	}
	srv := newHTTPServer(cfg, originHandler(cfg, mux, hooks))

	log.Info("sluice is listening", "addr", ln.Addr().String(), "base_url", cfg.BaseURL, "data", cfg.DataDir, "store", storeName(cfg))
	err = supervise(ctx, log, srv, ln, part{"engine", eng.Run}, part{"notifier", notifier.Run}, part{"input scrubber", scrubber(st, log)})
	log.Info("sluice stopped")
	return err
}

// listen opens the server's listener with the connection caps.
func listen(cfg Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	return newCapListener(ln, cfg.MaxConns, cfg.MaxConnsPerClient, cfg.Logger.With("component", "http")), nil
}

// newHTTPServer returns the HTTP server with the configured deadlines, so
// that no client holds a connection longer than they allow by sending
// its headers or body slowly, or by reading the answer slowly.
func newHTTPServer(cfg Config, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.With("component", "http").Handler(), slog.LevelDebug),
	}
}

// originHandler serves webhooks (hooks) at /hooks/{token} and everything
// else with main. With a separate webhook origin (WebhookBaseURL), the
// requests for its host get only the webhooks (and /healthz), and hooks
// refuses the other hosts, so that a respond action's answer is never
// served on the origin of the API and the /r/ pages.
func originHandler(cfg Config, main *http.ServeMux, hooks http.Handler) http.Handler {
	main.Handle("/hooks/{token}", hooks)
	if cfg.WebhookBaseURL == "" {
		return main
	}
	u, _ := url.Parse(cfg.WebhookBaseURL) // validated
	hookHost := u.Hostname()
	hookMux := http.NewServeMux()
	hookMux.Handle("/hooks/{token}", hooks)
	hookMux.HandleFunc("GET /healthz", healthz)
	hookMux.Handle("/", hooks) // no token: a JSON 404
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(api.RequestHost(r), hookHost) {
			hookMux.ServeHTTP(w, r)
			return
		}
		main.ServeHTTP(w, r)
	})
}

// healthz answers that the server is up.
func healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// storeName names the store in the start-up log, without secrets.
func storeName(cfg Config) string {
	if strings.HasPrefix(cfg.DBURL, "postgres") {
		return redactURL(cfg.DBURL)
	}
	return "sqlite"
}

// openStore opens the store the configuration names. It reports whether
// the store is single-node (SQLite), where no other process can hold runs.
func openStore(ctx context.Context, cfg Config) (store.Store, bool, error) {
	switch {
	case cfg.DBURL == "":
		st, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "sluice.db"), cfg.Logger)
		return st, true, err
	case strings.HasPrefix(cfg.DBURL, "sqlite:"):
		st, err := sqlite.Open(ctx, strings.TrimPrefix(strings.TrimPrefix(cfg.DBURL, "sqlite:"), "//"), cfg.Logger)
		return st, true, err
	case strings.HasPrefix(cfg.DBURL, "postgres://"), strings.HasPrefix(cfg.DBURL, "postgresql://"):
		if cfg.SecretKey == "" {
			cfg.Logger.Warn("every node sharing this database must use the same secret key: set SLUICE_SECRET_KEY on all of them, or copy secret.key between their data folders")
		}
		st, err := postgres.Open(ctx, cfg.DBURL, cfg.Logger)
		return st, false, err
	}
	return nil, false, fmt.Errorf("--db %q: unsupported database URL: use postgres://..., sqlite:PATH, or leave it empty for SQLite in the data folder", redactURL(cfg.DBURL))
}

// lockDataDir takes an exclusive lock on the data folder so that two
// servers never share one SQLite file and its single-node assumptions.
func lockDataDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data folder %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data folder %s is in use by another sluice server: %w", dir, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// loadSecretKey returns the server's 32-byte secret key: the configured
// one (SLUICE_SECRET_KEY) when set, else the one in the data folder,
// created (mode 0600) on first start.
func loadSecretKey(dir, configured string) ([]byte, error) {
	key, err := ReadSecretKey(dir, configured)
	if !errors.Is(err, os.ErrNotExist) {
		return key, err
	}
	path := filepath.Join(dir, "secret.key")
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate secret key: %w", err)
	}
	if err := os.WriteFile(path, key, 0o600); err != nil {
		return nil, fmt.Errorf("write secret key: %w", err)
	}
	return key, nil
}

// smtpMailer returns the sender of SLUICE_SMTP_URL and the address its
// mail comes from: its from=, which defaults to sluice@ the host of the
// base URL. Without SLUICE_SMTP_URL, there is none.
func smtpMailer(cfg Config) (mail.Sender, string, error) {
	if cfg.SMTPURL == "" {
		return nil, "", nil
	}
	sc, err := mail.ParseSMTPURL(cfg.SMTPURL)
	if err != nil {
		return nil, "", fmt.Errorf("SLUICE_SMTP_URL: %w", err)
	}
	if sc.From == "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || u.Hostname() == "" {
			return nil, "", fmt.Errorf("SLUICE_SMTP_URL has no from= and the base URL %q has no host to default it to: add ?from=sluice@example.com", cfg.BaseURL)
		}
		sc.From = "sluice@" + u.Hostname()
	}
	return mail.NewSMTPSender(sc), sc.From, nil
}

// bootstrapAdmin creates the first admin on first start. Without a
// configured password it generates one and prints it once.
func bootstrapAdmin(ctx context.Context, st store.Store, cfg Config) error {
	n, err := st.CountUsers(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		if cfg.AdminPassword != "" {
			cfg.Logger.Warn("SLUICE_ADMIN_PASSWORD ignored: it sets the first admin's password only, and this database has users; reset one with: sluice users reset-password EMAIL --generate")
		}
		return nil
	}
	pw, generated := cfg.AdminPassword, false
	if pw == "" {
		pw, generated = auth.RandomPassword(), true
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return fmt.Errorf("admin password: %w", err)
	}
	if _, err := st.CreateUser(ctx, store.User{Email: cfg.AdminEmail, Name: "Admin", PasswordHash: hash, Role: store.RoleAdmin}); errors.Is(err, store.ErrConflict) {
		// Another node sharing the database created it first.
		return nil
	} else if err != nil {
		return fmt.Errorf("create the first admin: %w", err)
	}
	cfg.Logger.Info("created the first admin", "email", cfg.AdminEmail)
	if generated {
		fmt.Fprintf(cfg.Out, "\nCreated the admin account %s with the password:\n\n    %s\n\nIt is shown only this once. Sign in with: sluice login --server %s --email %s --password-stdin\n\n", cfg.AdminEmail, pw, cfg.BaseURL, cfg.AdminEmail)
	}
	return nil
}

// scrubber returns a part that redacts, once, the webhook tokens and
// credentials in run inputs stored before webhook inputs were redacted
// (docs/security.md), then idles until the server stops: a failure is
// logged and does not stop the server, since the runs it would redact are
// as they were before.
func scrubber(st store.Store, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		n, err := engine.ScrubStoredInputs(ctx, st)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("scrub stored webhook inputs", "scrubbed", n, "err", err)
		case n > 0:
			log.Info("redacted webhook tokens and credentials in stored run inputs", "runs", n)
		}
		<-ctx.Done()
		return nil
	}
}

// tuneGC sets the garbage collector's percentage to DefaultGCPercent
// unless GOGC in the environment says otherwise, which Go then applies.
func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(DefaultGCPercent)
	}
}
