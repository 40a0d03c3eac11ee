package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors/local"
	"github.com/gatehouse-id/gatehouse/internal/assembly"
	"github.com/gatehouse-id/gatehouse/internal/logctx"
	"github.com/gatehouse-id/gatehouse/storage"
)

// newLogger builds the process logger: text or JSON at the configured level; lines logged
// with a request's context carry its request ID and attributes (internal/logctx), and
// durations print alike in both formats.
func newLogger(cfg config.Logging, w io.Writer) *slog.Logger {
	var lvl slog.Level
	switch cfg.Level {
	case "debug":
		lvl = slog.LevelDebug
	case "warn":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: lvl, ReplaceAttr: logctx.ReplaceAttr}
	if cfg.Format == "json" {
		return slog.New(logctx.NewHandler(slog.NewJSONHandler(w, opts)))
	}
	return slog.New(logctx.NewHandler(slog.NewTextHandler(w, opts)))
}

// cmdServe runs the broker until ctx ends.
func cmdServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	err := serve(ctx, args, getenv, stdout, stderr)
	if errors.As(err, new(helpShown)) {
		return err
	}
	if err != nil && ctx.Err() != nil {
		// Stopped (SIGTERM) while starting: a requested stop is not a failure.
		fmt.Fprintf(stderr, "gatehouse: stopped while starting (%v)\n", err)
		return nil
	}
	return err
}

const serveUsage = `Usage: gatehouse serve [--config FILE]
       gatehouse serve [--listen 127.0.0.1:8080]

Runs the broker until SIGINT or SIGTERM (SIGHUP reloads the TLS certificate and the
templates). With no --config, a self-contained default: http://127.0.0.1:5556 (moved by
--listen or $GATEHOUSE_LISTEN, the issuer following), SQLite in ./gatehouse.db, the local
connector with an admin user, and the example app.`

// serveFlags parses serve's flags and loads the configuration they name (the built-in
// default with no --config); problems are reported on stderr.
func serveFlags(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (*config.Config, string, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "configuration file (YAML); none: the built-in default")
	listen := fs.String("listen", "", "the built-in default's listen address, a loopback host:port (default 127.0.0.1:5556, or $"+listenEnv+"); the issuer follows")
	if err := parseFlags(ctx, fs, args, serveUsage, stdout, stderr); err != nil {
		return nil, "", err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gatehouse serve: unexpected argument %q (did you mean --config %s?)\n", fs.Arg(0), fs.Arg(0))
		return nil, "", exitError{"usage"}
	}
	if *cfgPath == "" {
		addr, from := *listen, "--listen"
		if addr == "" && getenv != nil {
			addr, from = getenv(listenEnv), listenEnv
		}
		cfg, err := defaultConfigAt(addr)
		if err != nil {
			fmt.Fprintf(stderr, "gatehouse serve: %s %v\n", from, err)
			return nil, "", exitError{"bad listen address"}
		}
		return cfg, "", nil
	}
	if *listen != "" {
		fmt.Fprintln(stderr, "gatehouse serve: --listen moves the built-in default; with --config, set web.http (and issuer) in the file")
		return nil, "", exitError{"usage"}
	}
	// The path check-config takes: the same problems, the same file:line format. The
	// warnings are logged once the logger exists (openSealedStore, assembly.Build).
	cfg, _, err := checkConfig(ctx, *cfgPath, getenv)
	if err != nil {
		reportConfigErrors(stderr, *cfgPath, err)
		return nil, "", exitError{"invalid config"}
	}
	return cfg, *cfgPath, nil
}

// serve is `gatehouse serve`: it returns when ctx is done (after draining) or on a failure.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	start := time.Now()
	cfg, cfgPath, err := serveFlags(ctx, args, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	defaultMode := cfgPath == ""
	logger := newLogger(cfg.Logging, stderr)

	// Listen first: a port in use fails at once, and health answers ("starting", readiness
	// 503) while storage is reached.
	lns, err := openListeners(cfg, logger)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	lns.start(g)
	go trimWhenIdle(gctx, &lns.requests, idleTrimInterval, freeMemory)
	serving := false
	defer func() {
		if !serving { // startup failed: stop the "starting" listeners
			lns.close()
			_ = g.Wait() //nolint:errcheck // startup already failed; its error is returned
		}
	}()

	store, err := openSealedStore(gctx, cfg, defaultMode, logger, lns)
	if err != nil {
		return fmt.Errorf("open storage: %w", err)
	}
	defer closeStore(store, stderr)
	lns.setPhase("loading configuration and keys")

	gh, err := assembly.Build(ctx, cfg, assembly.Options{
		Registry: newRegistry, Store: store, Logger: logger, Getenv: getenv, Filename: cfgPath, Version: version(),
	})
	var cerr *assembly.ConfigError
	if errors.As(err, &cerr) {
		reportConfigErrors(stderr, cfgPath, cerr.Err)
		return exitError{"invalid config"}
	}
	if err != nil {
		return err
	}
	defer gh.Close() //nolint:errcheck // shutting down; the connectors hold nothing we could save
	srv := gh.Server
	keep, adminPassword, err := usersToKeep(ctx, cfg, store, defaultMode)
	if err != nil {
		return err
	}

	// Removing users cannot be undone: it comes after every step of the start that can still
	// fail (a configuration the claims rules, SAML or MFA refuse must not delete anyone).
	if err := removeStaleUsers(ctx, store, keep, gh.LocalConnectorIDs(), gh.Audit, logger); err != nil { // cmd/gatehouse/users.go
		return err
	}
	// The start is announced before readiness turns 200, so whoever waits for /readyz (a
	// newcomer's script, the e2e tests) finds the welcome text already printed.
	logger.Info("gatehouse is serving", "issuer", cfg.Issuer, "listen", cfg.Web.HTTP+cfg.Web.HTTPS, "version", version(), "startup", time.Since(start).Round(time.Millisecond))
	if defaultMode {
		printWelcome(stdout, cfg, gh.ExampleURL, adminPassword)
	}
	if cfg.Admin.HTTP != "" {
		lns.setHandlers(srv.Handler(), gh.AdminHandler()) // health, /metrics, pprof
	} else {
		lns.setHandlers(srv.Handler(), srv.Handler())
	}
	serving = true
	g.Go(func() error { gh.Run(gctx); return nil })
	watchReloads(gctx, g, lns, gh, logger)
	g.Go(func() error {
		<-gctx.Done()
		srv.Drain() // readiness 503 at once; requests keep being served until the listeners stop
		lns.shutdown(cfg.Web.ShutdownDelay.D())
		return nil
	})

	err = g.Wait()
	logger.Info("gatehouse stopped")
	return err
}

// watchReloads reloads the TLS certificate when its files change, and the certificate and
// the templates on SIGHUP, until ctx ends.
func watchReloads(ctx context.Context, g *errgroup.Group, lns *listeners, gh *assembly.Gatehouse, logger *slog.Logger) {
	if lns.certs != nil {
		g.Go(func() error { lns.certs.watch(ctx, certPollInterval); return nil })
	}
	if lns.adminCerts != nil {
		g.Go(func() error { lns.adminCerts.watch(ctx, certPollInterval); return nil })
	}
	r := reloadables{certs: lns.certs, templates: gh.Templates, logger: logger}
	onSIGHUP(ctx, func(ctx context.Context) {
		logger.InfoContext(ctx, "SIGHUP: reloading the TLS certificate and the templates")
		r.reload(ctx, "SIGHUP")
	})
}

// printWelcome tells a newcomer what to open and how to log in.
func printWelcome(w io.Writer, cfg *config.Config, exampleBase, adminPassword string) {
	fmt.Fprintf(w, "\nGatehouse is running with its built-in default configuration (no --config given).\n")
	fmt.Fprintf(w, "  Issuer:       %s\n", cfg.Issuer)
	fmt.Fprintf(w, "  Example app:  %s/  <- open this and click \"Log in\"\n", exampleBase)
	if adminPassword != "" {
		fmt.Fprintf(w, "  Sign in as:   admin / %s\n", adminPassword)
		fmt.Fprintf(w, "  This password is shown only once; it is stored hashed in %s.\n\n", cfg.Storage.Config.File)
	} else {
		fmt.Fprintf(w, "  Sign in as:   admin, with the password printed when %s was created.\n", cfg.Storage.Config.File)
		fmt.Fprintf(w, "  Forgot it? Stop Gatehouse, delete %s, and start again for a new one.\n\n", cfg.Storage.Config.File)
	}
}

// usersToKeep are the configuration's users, and in the default mode the admin user (created
// the first time, with the password returned to be printed once).
func usersToKeep(ctx context.Context, cfg *config.Config, store storage.LocalUserStore, defaultMode bool) (map[string]bool, string, error) {
	keep := configUsernames(cfg.Users)
	if !defaultMode {
		return keep, "", nil
	}
	adminPassword, err := bootstrapAdmin(ctx, store)
	if err != nil {
		return nil, "", err
	}
	keep[defaultAdmin] = true
	return keep, adminPassword, nil
}

// bootstrapAdmin creates the default mode's admin user with a random password the first time;
// it returns the password only when it created the user. The admin belongs to the default
// configuration (FromConfig): a start with a configuration file that does not list it
// removes it.
func bootstrapAdmin(ctx context.Context, store storage.LocalUserStore) (string, error) {
	_, err := store.GetLocalUser(ctx, defaultAdmin)
	if err == nil {
		return "", nil
	}
	if !errors.Is(err, storage.ErrNotFound) {
		return "", fmt.Errorf("look up admin user: %w", err)
	}
	pw, err := local.GeneratePassword()
	if err != nil {
		return "", err
	}
	hash, err := local.HashPassword(pw, local.DefaultCost)
	if err != nil {
		return "", err
	}
	now := time.Now().UTC()
	err = store.CreateLocalUser(ctx, storage.LocalUser{
		Username: defaultAdmin, Email: "admin@example.com", EmailVerified: true, Name: "Gatehouse Admin",
		Groups: []string{"admins"}, PasswordHash: hash, FromConfig: true, CreatedAt: now, UpdatedAt: now,
	})
	if err != nil {
		return "", fmt.Errorf("create admin user: %w", err)
	}
	return pw, nil
}
