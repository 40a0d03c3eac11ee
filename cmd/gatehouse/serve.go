package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/gatehouse-id/gatehouse/broker"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/broker/samlidp"
	"github.com/gatehouse-id/gatehouse/claims"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/local"
	"github.com/gatehouse-id/gatehouse/internal/examplerp"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/internal/logctx"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/tokens"
	"github.com/gatehouse-id/gatehouse/web"
)

// defaultConfig is what `gatehouse serve` runs with no config file: loopback, SQLite in the
// working directory, the local connector, and the example relying party.
func defaultConfig() *config.Config {
	cfg := &config.Config{
		Connectors: []config.ConnectorBlock{{Type: "local", ID: "local", Name: "Email and password"}},
		Example:    config.ExampleClient{Enabled: true},
	}
	cfg.ApplyDefaults()
	return cfg
}

type decodedConnector struct {
	info connectors.Info
	cfg  connectors.Config
	// trustMFA is the connector's trust_upstream_mfa.
	trustMFA bool
}

// decodeConnectors decodes every connector's config block into its typed config strictly and
// validates it, collecting every problem as a *config.Errors.
func decodeConnectors(cfg *config.Config, filename string, getenv func(string) string, reg connectors.Registry) ([]decodedConnector, error) {
	var out []decodedConnector
	var problems []*config.Problem
	at := func(path string) (string, int) {
		file, line := cfg.Position(path)
		if file == "" {
			file = filename
		}
		return file, line
	}
	for i, c := range cfg.Connectors {
		path := fmt.Sprintf("connectors[%d]", i)
		cc, err := reg.New(c.Type)
		if err != nil {
			file, line := at(path + ".type")
			problems = append(problems, &config.Problem{File: file, Line: line, Path: path + ".type", Message: err.Error()})
			continue
		}
		node := c.Config
		if err := config.DecodeStrict(&node, cc, filename, path+".config", getenv); err != nil {
			var ce *config.Errors
			if errors.As(err, &ce) {
				problems = append(problems, ce.Problems...)
			} else {
				file, line := at(path + ".config")
				problems = append(problems, &config.Problem{File: file, Line: line, Path: path + ".config", Message: err.Error()})
			}
			continue
		}
		if err := cc.Validate(); err != nil {
			file, line := at(path + ".config")
			problems = append(problems, &config.Problem{File: file, Line: line, Path: path + ".config", Message: err.Error()})
			continue
		}
		if msg := proxyNeedsProblem(cfg.Web, cc); msg != "" {
			file, line := at(path + ".type")
			problems = append(problems, &config.Problem{File: file, Line: line, Path: path + ".type", Message: c.Type + msg})
			continue
		}
		name := c.Name
		if name == "" {
			name = c.ID
		}
		out = append(out, decodedConnector{info: connectors.Info{ID: c.ID, Type: c.Type, Name: name}, cfg: cc, trustMFA: c.TrustUpstreamMFA})
	}
	if len(problems) > 0 {
		return nil, &config.Errors{Problems: problems}
	}
	byID := make(map[string]connectors.Config, len(out))
	for _, d := range out {
		byID[d.info.ID] = d.cfg
	}
	// Linking by verified email, email-domain and group requirements need connectors that
	// can vouch for emails and groups.
	if err := claims.CheckConnectorTrust(cfg, byID); err != nil {
		return nil, err
	}
	return out, nil
}

// connectorDeps is what serve gives a connector when opening it; Attributes are those its
// claims rules read, so that a connector fetching attributes on request (LDAP) fetches them.
func connectorDeps(issuer string, info connectors.Info, norm *claims.Normalizer, logger *slog.Logger,
	httpClient *http.Client, replay connectors.ReplayCache) connectors.Deps {
	return connectors.Deps{
		Logger: logger.With("connector", info.ID), HTTP: httpClient,
		CallbackURL: callbackURL(issuer, info), Now: time.Now, ReplayCache: replay,
		Attributes: norm.Attributes(info.ID),
	}
}

// proxyNeedsProblem is what a connector that believes a front proxy's headers misses in the
// web configuration, or "".
func proxyNeedsProblem(web config.Web, cc connectors.Config) string {
	ph, ok := cc.(connectors.ProxyHeaderConfig)
	if !ok {
		return ""
	}
	switch n := ph.ProxyNeeds(); {
	case n.TrustedProxies && len(web.TrustedProxies) == 0:
		return " believes a front proxy's headers: set web.trusted_proxies to that proxy's address"
	case n.ClientCA && web.ClientCA == "":
		return " checks the proxy's client certificate (config.client_cert_names): set web.https and web.client_ca"
	}
	return ""
}

// localUsers adapts storage's local users to the local connector.
type localUsers struct{ store storage.LocalUserStore }

func (l localUsers) LookupUser(ctx context.Context, username string) (local.User, error) {
	u, err := l.store.GetLocalUser(ctx, username)
	if errors.Is(err, storage.ErrNotFound) {
		return local.User{}, local.ErrUserNotFound
	}
	if err != nil {
		return local.User{}, err
	}
	return local.User{Username: u.Username, Email: u.Email, Name: u.Name, PasswordHash: u.PasswordHash, EmailVerified: u.EmailVerified, Groups: u.Groups}, nil
}

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

func randomSecret() string {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// cmdServe runs the broker until ctx ends.
func cmdServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	err := serve(ctx, args, getenv, stdout, stderr)
	if err != nil && ctx.Err() != nil {
		// Stopped (SIGTERM) while starting: a requested stop is not a failure.
		fmt.Fprintf(stderr, "gatehouse: stopped while starting (%v)\n", err)
		return nil
	}
	return err
}

// serve is `gatehouse serve`: it returns when ctx is done (after draining) or on a failure.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	start := time.Now()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (YAML); none: the built-in default")
	if err := fs.Parse(args); err != nil {
		return exitError{"bad flags"}
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gatehouse serve: unexpected argument %q (did you mean --config %s?)\n", fs.Arg(0), fs.Arg(0))
		return exitError{"usage"}
	}
	var cfg *config.Config
	defaultMode := *cfgPath == ""
	if defaultMode {
		cfg = defaultConfig()
	} else {
		var err error
		if cfg, err = loadConfig(*cfgPath, getenv); err != nil {
			reportConfigErrors(stderr, *cfgPath, err)
			return exitError{"invalid config"}
		}
	}
	logger := newLogger(cfg.Logging, stderr)

	// Listen first: a port in use fails at once, and health answers ("starting", readiness
	// 503) while storage is reached.
	lns, err := openListeners(cfg, logger)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	lns.start(g)
	serving := false
	defer func() {
		if !serving { // startup failed: stop the "starting" listeners
			lns.close()
			_ = g.Wait() //nolint:errcheck // startup already failed; its error is returned
		}
	}()

	store, err := openStorageRetrying(gctx, cfg.Storage, logger, lns)
	if err != nil {
		return fmt.Errorf("open storage: %w", err)
	}
	defer closeStore(store, stderr)
	lns.setPhase("loading configuration and keys")

	users := localUsers{store: store}
	decoded, err := decodeConnectors(cfg, *cfgPath, getenv, newRegistry(users))
	if err != nil {
		reportConfigErrors(stderr, *cfgPath, err)
		return exitError{"invalid config"}
	}
	if err := provisionUsers(ctx, store, cfg.Users); err != nil {
		return err
	}
	for _, w := range cheapHashWarnings(cfg, decoded) {
		logger.Warn(w)
	}
	adminPassword := ""
	keep := configUsernames(cfg.Users)
	if defaultMode {
		if adminPassword, err = bootstrapAdmin(ctx, store); err != nil {
			return err
		}
		keep[defaultAdmin] = true
	}

	keys := tokens.NewKeyManager(store, tokens.KeyOptions{
		Algorithm: cfg.Signing.Algorithm, RotationPeriod: cfg.Expiry.SigningKeys.D(),
		MaxTokenLifetime: max(cfg.Expiry.IDTokens.D(), cfg.Expiry.AccessTokens.D()), Logger: logger,
	})
	if err := keys.Init(ctx); err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	minter := &tokens.Minter{Issuer: cfg.Issuer, Keys: keys}

	issuerURL, _ := url.Parse(cfg.Issuer) //nolint:errcheck // the issuer was validated by config.Validate
	prefix := strings.TrimSuffix(issuerURL.Path, "/")
	sessions := &session.Manager{
		Store: store, Secure: issuerURL.Scheme == "https", Path: prefix + "/",
		Idle: cfg.Expiry.Sessions.Idle.D(), Absolute: cfg.Expiry.Sessions.Absolute.D(), Now: time.Now,
	}

	proxies, err := parseProxies(cfg.Web.TrustedProxies)
	if err != nil {
		return err
	}
	// The claims rules first: they say which upstream attributes each connector must fetch.
	norm, err := claims.New(cfg, claims.Options{Links: store, Now: time.Now, Logger: logger.With("component", "claims")})
	if err != nil {
		reportConfigErrors(stderr, *cfgPath, err)
		return exitError{"invalid config"}
	}
	httpClient := httpx.NewOutboundClient() // every upstream response capped, timeouts set
	var conns []connset.Slot
	for _, d := range decoded {
		replay, err := newReplayCache(store, "replay:connector:"+d.info.ID+":")
		if err != nil {
			return err
		}
		deps := connectorDeps(cfg.Issuer, d.info, norm, logger, httpClient, replay)
		deps.Keys = newConnectorKeys(store, d.info.ID)
		deps.TrustedProxies = proxies
		c, err := d.cfg.Open(ctx, d.info, deps)
		if err != nil {
			logger.Error("connector failed to open; it is unavailable, the others keep working", "connector", d.info.ID, "err", err)
		}
		conns = append(conns, connset.Slot{Info: d.info, Conn: c, Err: err, TrustUpstreamMFA: d.trustMFA})
	}
	defer func() {
		for _, c := range conns {
			if c.Conn != nil {
				_ = c.Conn.Close() //nolint:errcheck // shutting down; a connector that fails to close holds nothing we could save
			}
		}
	}()

	var cls []clients.Client
	for _, c := range cfg.Clients {
		cls = append(cls, clients.New(clients.Client{
			ID: c.ID, Name: c.Name, Public: c.Public, RedirectURIs: c.RedirectURIs,
			PostLogoutRedirectURIs: c.PostLogoutRedirectURIs, Trusted: c.Trusted,
			AllowedConnectors: c.AllowedConnectors, AllowedOrigins: c.AllowedOrigins,
		}, c.Secret))
	}
	mounts := map[string]http.Handler{}
	exampleBase := strings.TrimSuffix(cfg.Issuer, "/") + "/example"
	if cfg.Example.Enabled {
		secret := randomSecret()
		cls = append(cls, clients.New(clients.Client{
			ID: "example-app", Name: "Gatehouse example app", RedirectURIs: []string{exampleBase + "/callback"},
			PostLogoutRedirectURIs: []string{exampleBase + "/"},
		}, secret))
		rp, err := examplerp.New(examplerp.Options{Issuer: cfg.Issuer, ClientID: "example-app", ClientSecret: secret,
			BaseURL: exampleBase, HTTPClient: httpx.BoundedClient(&http.Client{Timeout: 15 * time.Second}), Logger: logger.With("component", "examplerp")})
		if err != nil {
			return fmt.Errorf("example app: %w", err)
		}
		mounts["/example/"] = http.StripPrefix(prefix+"/example", rp)
	}
	samlIdP, err := newSAMLIdP(ctx, cfg, store, httpClient, logger) // cmd/gatehouse/saml.go
	if err != nil {
		return err
	}
	cls = append(cls, samlidp.Clients(samlIdP)...)
	registry, err := clients.NewRegistry(cls)
	if err != nil {
		return err
	}
	tmpl, err := web.Load(cfg.Web.TemplatesDir)
	if err != nil {
		return err
	}
	mfaStep, err := newMFA(cfg, store)
	if err != nil {
		return err
	}
	srv, err := broker.New(broker.Deps{
		TrustedProxies: proxies,
		Issuer:         cfg.Issuer, Storage: store, Keys: keys, Minter: minter, Sessions: sessions,
		Claims: norm, Clients: registry, Connectors: conns, MFA: mfaStep, SAML: samlIdP,
		Templates: tmpl, AllowedOrigins: cfg.Web.AllowedOrigins, Logger: logger, Now: time.Now, Mounts: mounts,
		Lifetimes: broker.Lifetimes{
			IDToken: cfg.Expiry.IDTokens.D(), AccessToken: cfg.Expiry.AccessTokens.D(), AuthCode: cfg.Expiry.AuthCodes.D(),
			AuthRequest: cfg.Expiry.AuthRequests.D(), RefreshAbsolute: cfg.Expiry.RefreshTokens.Absolute.D(),
			RefreshIdle: cfg.Expiry.RefreshTokens.Idle.D(), ReuseGrace: cfg.Expiry.RefreshTokens.ReuseGrace.D(),
		},
	})
	if err != nil {
		return err
	}

	// Removing users cannot be undone: it comes after every step of the start that can still
	// fail (a configuration the claims rules, SAML or MFA refuse must not delete anyone).
	if err := removeStaleUsers(ctx, store, keep, localConnectorIDs(decoded), logger); err != nil { // cmd/gatehouse/users.go
		return err
	}
	// The start is announced before readiness turns 200, so whoever waits for /readyz (a
	// newcomer's script, the e2e tests) finds the welcome text already printed.
	logger.Info("gatehouse is serving", "issuer", cfg.Issuer, "listen", cfg.Web.HTTP+cfg.Web.HTTPS, "version", version(), "startup", time.Since(start).Round(time.Millisecond))
	if defaultMode {
		printWelcome(stdout, cfg, exampleBase, adminPassword)
	}
	if cfg.Admin.HTTP != "" {
		lns.setHandlers(srv.Handler(), srv.HealthHandler())
	} else {
		lns.setHandlers(srv.Handler(), srv.Handler())
	}
	serving = true
	g.Go(func() error { keys.Run(gctx, keyRefreshInterval(cfg.Expiry.SigningKeys.D())); return nil })
	g.Go(func() error { runGC(gctx, store, logger); return nil })
	g.Go(func() error { runMFAGC(gctx, store, logger); return nil })
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

// parseProxies parses web.trusted_proxies: addresses and CIDR prefixes.
func parseProxies(list []string) ([]netip.Prefix, error) {
	var proxies []netip.Prefix
	for _, p := range list {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return nil, fmt.Errorf("web.trusted_proxies: %q is not an address or CIDR prefix", p)
			}
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		proxies = append(proxies, pfx)
	}
	return proxies, nil
}

// keyRefreshInterval is how often each replica reloads the key set (and rotates when due). It
// must be well inside the publish delay (a tenth of the rotation period, at most an hour) so
// every replica publishes a new key before any replica signs with it.
func keyRefreshInterval(rotation time.Duration) time.Duration {
	return min(max(rotation/40, 100*time.Millisecond), time.Minute)
}

// callbackURL is where an upstream sends the user back to: {issuer}/callback/{id}, or for
// SAML connectors the assertion consumer service {issuer}/saml/sp/{id}/acs.
func callbackURL(issuer string, info connectors.Info) string {
	base := strings.TrimSuffix(issuer, "/")
	if info.Type == "saml" {
		return base + "/saml/sp/" + info.ID + "/acs"
	}
	return base + "/callback/" + info.ID
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

// provisionUsers upserts the config's local users into storage, marked as from the
// configuration.
func provisionUsers(ctx context.Context, store storage.LocalUserStore, users []config.User) error {
	now := time.Now().UTC()
	for _, u := range users {
		err := store.UpsertLocalUser(ctx, storage.LocalUser{
			Username: u.Username, Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name,
			Groups: u.Groups, PasswordHash: u.PasswordHash, FromConfig: true, CreatedAt: now, UpdatedAt: now,
		})
		if err != nil {
			return fmt.Errorf("provision user %s: %w", u.Username, err)
		}
	}
	return nil
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

// runGC deletes expired rows every five minutes.
func runGC(ctx context.Context, store storage.Storage, logger *slog.Logger) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			res, err := store.GC(ctx, time.Now().UTC())
			if err != nil {
				logger.Warn("garbage collection failed", "err", err)
				continue
			}
			logger.Debug("garbage collection", "result", res)
			if bs, ok := store.(storage.BlobStore); ok {
				if _, err := bs.DeleteExpiredBlobs(ctx, time.Now().UTC()); err != nil {
					logger.Warn("garbage collection of blobs failed", "err", err)
				}
			}
			if rl, ok := store.(storage.RateLimitStore); ok {
				if _, err := rl.DeleteExpiredAttempts(ctx, time.Now().UTC()); err != nil {
					logger.Warn("garbage collection of attempt budgets failed", "err", err)
				}
			}
		}
	}
}
