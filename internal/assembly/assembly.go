package assembly

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/admin"
	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/broker"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/broker/samlidp"
	"github.com/gatehouse-id/gatehouse/broker/userinfo"
	"github.com/gatehouse-id/gatehouse/claims"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/local"
	"github.com/gatehouse-id/gatehouse/internal/examplerp"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/internal/telemetry"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/tokens"
	"github.com/gatehouse-id/gatehouse/tokens/pkcs11"
	"github.com/gatehouse-id/gatehouse/web"
)

// Options is what differs between `gatehouse serve` and a test building the same Gatehouse.
type Options struct {
	// Registry lists the connector types, given the local connector's user source (cmd's
	// newRegistry). Required.
	Registry func(users local.UserSource) connectors.Registry
	// Store is an already opened store; nil: Build opens cfg.Storage and Close closes it. A
	// store passed here is not closed by Close.
	Store storage.Storage
	// Logger receives every log line (nil: discarded).
	Logger *slog.Logger
	// Now is the clock of every component (nil: time.Now).
	Now func() time.Time
	// Getenv expands ${VAR} in connector blocks (nil: os-independent empty lookup).
	Getenv func(string) string
	// Filename is the configuration file named in error messages.
	Filename string
	// Users wraps the local connector's user source (tests: an unreachable or slow upstream).
	Users func(local.UserSource) local.UserSource
	// Slots changes the opened connectors before the broker is built (tests: a connector
	// type no registry knows, a connector that failed to open).
	Slots func([]connset.Slot) []connset.Slot
	// Deps changes the broker's dependencies just before broker.New (tests only: a store
	// wrapper that fails on purpose, a logger capturing lines).
	Deps func(*broker.Deps)
	// Version is the build's version (gatehouse_build_info).
	Version string
}

// ConfigError is a configuration problem found while building (connector blocks, claims
// rules): its Err is usually a *config.Errors listing every problem with file:line.
type ConfigError struct{ Err error }

// Error implements error.
func (e *ConfigError) Error() string { return e.Err.Error() }

// Unwrap returns the configuration problems.
func (e *ConfigError) Unwrap() error { return e.Err }

// Gatehouse is a built Gatehouse: the broker and what its owner runs and closes.
type Gatehouse struct {
	// Server is the broker (Handler, HealthHandler, Drain).
	Server *broker.Server
	// Store is the storage the broker uses.
	Store storage.Storage
	// Keys is the signing key manager.
	Keys *tokens.KeyManager
	// Connectors are the configured connectors, decoded and validated.
	Connectors []DecodedConnector
	// ExampleURL is the example relying party's base URL (served when example.enabled).
	ExampleURL string
	// Templates are the broker's pages and theme; Reload swaps them in place (SIGHUP).
	Templates *web.Templates
	// Metrics are the Prometheus metrics (served by AdminHandler at /metrics).
	Metrics *telemetry.Metrics
	// Tracer exports spans when tracing.otlp_endpoint is set; nil: tracing is off.
	Tracer *telemetry.Tracer
	// Audit records security events: stored, streamed when audit.log, and counted in the
	// metrics.
	Audit audit.Recorder
	// Admin is the admin API (served by AdminHandler); nil when admin.clients is empty.
	Admin *admin.Server

	cfg       *config.Config
	logger    *slog.Logger
	slots     []connset.Slot
	ownsStore bool
	hsm       *pkcs11.Backend // the PKCS#11 token of signing.backend: pkcs11, closed by Close
	closeOnce sync.Once
}

// LocalConnectorIDs are the IDs of the configured connectors of type local: the ones whose
// links name local users (upstream subject = username).
func (g *Gatehouse) LocalConnectorIDs() []string {
	var ids []string
	for _, d := range g.Connectors {
		if d.Info.Type == "local" {
			ids = append(ids, d.Info.ID)
		}
	}
	return ids
}

// Run runs the background loops (signing key refresh and rotation, garbage collection of
// expired rows and of used TOTP steps) until ctx ends.
func (g *Gatehouse) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { g.Keys.Run(ctx, keyRefreshInterval(g.cfg.Expiry.SigningKeys.D())) })
	wg.Go(func() { every(ctx, gcInterval, func() { gc(ctx, g.Store, g.cfg.Audit.Retention.D(), g.logger) }) })
	wg.Go(func() { every(ctx, gcInterval, func() { gcMFA(ctx, g.Store, g.logger) }) })
	wg.Go(func() { g.Server.RunLogoutDeliveries(ctx, logoutDeliveryInterval) })
	wg.Wait()
}

// Close closes the connectors, and the store when Build opened it.
func (g *Gatehouse) Close() error {
	var err error
	g.closeOnce.Do(func() {
		for _, c := range g.slots {
			if c.Conn != nil {
				_ = c.Conn.Close() //nolint:errcheck // shutting down; a connector that fails to close holds nothing we could save
			}
		}
		if g.Tracer != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if terr := g.Tracer.Shutdown(ctx); terr != nil {
				g.logger.Warn("tracing: spans not flushed at shutdown", "err", terr)
			}
			cancel()
		}
		if g.hsm != nil {
			if herr := g.hsm.Close(); herr != nil {
				g.logger.Warn("closing the PKCS#11 token", "err", herr)
			}
		}
		if g.ownsStore {
			err = g.Store.Close()
		}
	})
	return err
}

// logoutDeliveryInterval is how often each replica looks for due back-channel logout
// deliveries (a logout's tokens go out within about this long).
const logoutDeliveryInterval = time.Second

// keyRefreshInterval is how often each replica reloads the key set (and rotates when due). It
// must be well inside the publish delay (a tenth of the rotation period, at most an hour) so
// every replica publishes a new key before any replica signs with it.
func keyRefreshInterval(rotation time.Duration) time.Duration {
	return min(max(rotation/40, 100*time.Millisecond), time.Minute)
}

// builder carries what the steps of Build share.
type builder struct {
	cfg        *config.Config
	opts       Options
	logger     *slog.Logger
	now        func() time.Time
	store      storage.Storage
	httpClient *http.Client
	gh         *Gatehouse
}

// Build assembles a Gatehouse from a loaded, defaulted and validated cfg: storage (opened
// unless given), connectors, local users, signing keys, sessions, claims, clients, the example
// RP, the SAML IdP, MFA, templates and the broker. On error everything opened is closed again.
// Configuration problems come back as a *ConfigError.
func Build(ctx context.Context, cfg *config.Config, opts Options) (*Gatehouse, error) {
	b := &builder{cfg: cfg, opts: opts, logger: opts.Logger, now: opts.Now, store: opts.Store}
	if b.logger == nil {
		b.logger = slog.New(slog.DiscardHandler)
	}
	if b.now == nil {
		b.now = time.Now
	}
	if b.opts.Getenv == nil {
		b.opts.Getenv = func(string) string { return "" }
	}
	if opts.Registry == nil {
		return nil, errors.New("assembly: Options.Registry is required")
	}
	b.gh = &Gatehouse{cfg: cfg, logger: b.logger, ExampleURL: strings.TrimSuffix(cfg.Issuer, "/") + "/example"}
	if b.store == nil {
		st, err := OpenStorage(ctx, cfg.Storage, b.logger)
		if err != nil {
			return nil, fmt.Errorf("open storage: %w", err)
		}
		b.store, b.gh.ownsStore = st, true
	}
	b.gh.Store = b.store
	if err := b.build(ctx); err != nil {
		_ = b.gh.Close() //nolint:errcheck // the build error is the one to report
		return nil, err
	}
	return b.gh, nil
}

// build runs the steps of Build in serve's order.
func (b *builder) build(ctx context.Context) error {
	cfg := b.cfg
	var users local.UserSource = LocalUsers{Store: b.store}
	if b.opts.Users != nil {
		users = b.opts.Users(users)
	}
	decoded, err := DecodeConnectors(cfg, b.opts.Filename, b.opts.Getenv, b.opts.Registry(users))
	if err != nil {
		return &ConfigError{Err: err}
	}
	b.gh.Connectors = decoded
	if err := b.observability(decoded); err != nil {
		return err
	}
	if err := ProvisionUsers(ctx, b.store, cfg.Users, b.gh.Audit); err != nil {
		return err
	}
	for _, w := range CheapHashWarnings(cfg, decoded) {
		b.logger.WarnContext(ctx, w)
	}
	backend, err := b.keyBackend()
	if err != nil {
		return err
	}
	keys := tokens.NewKeyManager(b.store, tokens.KeyOptions{
		Algorithm: cfg.Signing.Algorithm, RotationPeriod: cfg.Expiry.SigningKeys.D(),
		MaxTokenLifetime: max(cfg.Expiry.IDTokens.D(), cfg.Expiry.AccessTokens.D()), Logger: b.logger, Now: b.now,
		Backend: backend,
	})
	if err := keys.Init(ctx); err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	b.gh.Keys = keys
	proxies, err := parseProxies(cfg.Web.TrustedProxies)
	if err != nil {
		return err
	}
	// The claims rules first: they say which upstream attributes each connector must fetch.
	norm, err := claims.New(cfg, claims.Options{Links: b.store, Now: b.now, Logger: b.logger.With("component", "claims")})
	if err != nil {
		return &ConfigError{Err: err}
	}
	b.httpClient = httpx.NewOutboundClient() // every upstream response capped, timeouts set
	if err := b.openConnectors(ctx, decoded, norm, proxies); err != nil {
		return err
	}
	deps, err := b.deps(ctx, keys, norm, proxies)
	if err != nil {
		return err
	}
	deps.Audit, deps.Metrics = b.gh.Audit, instrumented{Metrics: b.gh.Metrics, tracer: b.gh.Tracer}
	if b.opts.Deps != nil {
		b.opts.Deps(&deps)
	}
	srv, err := broker.New(deps)
	if err != nil {
		return err
	}
	b.gh.Server = srv
	return b.adminAPI(deps)
}

// adminAPI builds the admin API when admin.clients names its callers.
func (b *builder) adminAPI(deps broker.Deps) error {
	if len(b.cfg.Admin.Clients) == 0 {
		return nil
	}
	cs, ok := b.store.(storage.ClientStore)
	if !ok {
		return errors.New("admin API: the storage backend cannot store clients (storage.ClientStore)")
	}
	us, ok := b.store.(storage.UserSessionStore)
	if !ok {
		return errors.New("admin API: the storage backend cannot list sessions (storage.UserSessionStore)")
	}
	as, _ := b.store.(storage.AuditStore)                //nolint:errcheck // nil: ListAuditEvents answers unimplemented
	spStore, _ := b.store.(storage.ServiceProviderStore) //nolint:errcheck // nil: the ServiceProviderService answers failed_precondition
	var connectorIDs []string
	for _, c := range b.cfg.Connectors {
		connectorIDs = append(connectorIDs, c.ID)
	}
	var regs storage.RegistrationStore
	if b.cfg.Registration.Enabled {
		if regs, ok = b.store.(storage.RegistrationStore); !ok {
			return errors.New("registration: the storage backend cannot store initial access tokens (storage.RegistrationStore)")
		}
	}
	b.gh.Admin = admin.New(admin.Deps{
		Clients: deps.Clients, ClientStore: cs, ConnectorIDs: connectorIDs,
		Registrations: regs, MaxClientsPerToken: b.cfg.Registration.MaxClientsPerToken,
		Verifier:     userinfo.NewVerifier(deps.Minter, b.store, b.now),
		AdminClients: b.cfg.Admin.Clients, Audit: b.gh.Audit, Logger: b.logger, Now: b.now,
		Store: b.store, Sessions: us, AuditStore: as, LocalConnectorIDs: b.gh.LocalConnectorIDs(),
		PasswordCost: localCost(b.gh.Connectors), Keys: b.gh.Keys, Connectors: deps.Connectors,
		SessionsEnded: deps.Sessions.NoteEnded,
		SAML:          deps.SAML, SPStore: spStore, HTTP: b.httpClient,
	})
	return nil
}

// deps builds the broker's dependencies around the keys, claims and opened connectors.
func (b *builder) deps(ctx context.Context, keys *tokens.KeyManager, norm *claims.Normalizer, proxies []netip.Prefix) (broker.Deps, error) {
	cfg := b.cfg
	issuerURL, _ := url.Parse(cfg.Issuer) //nolint:errcheck // the issuer was validated by config.Validate
	prefix := strings.TrimSuffix(issuerURL.Path, "/")
	sessions := &session.Manager{
		Store: b.store, Secure: issuerURL.Scheme == "https", Path: prefix + "/",
		Idle: cfg.Expiry.Sessions.Idle.D(), Absolute: cfg.Expiry.Sessions.Absolute.D(), Now: b.now,
	}
	mounts := map[string]http.Handler{}
	cls, err := b.clients(prefix, mounts)
	if err != nil {
		return broker.Deps{}, err
	}
	samlIdP, err := newSAMLIdP(ctx, cfg, b.store, b.samlTokenKeys(), b.httpClient, b.logger, b.now)
	if err != nil {
		return broker.Deps{}, err
	}
	cls = append(cls, samlidp.Clients(samlIdP)...)
	cls = append(cls, appClients(cfg)...)
	cls = append(cls, accountClients(b.store)...)
	cls = append(cls, accountClient())
	registry, err := clients.NewRegistry(cls)
	if err != nil {
		return broker.Deps{}, err
	}
	if cs, ok := b.store.(storage.ClientStore); ok {
		registry.WithStore(cs, b.logger).WithRemoteKeys(httpx.BoundedClient(&http.Client{Timeout: 10 * time.Second}), b.now)
	}
	if samlIdP != nil {
		registry.WithResolver(samlidp.ClientID(""), samlIdP.StoredClient)
	}
	tmpl, err := web.Load(cfg.Web.TemplatesDir)
	if err != nil {
		return broker.Deps{}, err
	}
	b.gh.Templates = tmpl
	mfaStep, err := NewMFA(cfg, b.store, b.now, b.logger)
	if err != nil {
		return broker.Deps{}, err
	}
	slots := b.gh.slots
	if b.opts.Slots != nil {
		slots = b.opts.Slots(slots)
	}
	return broker.Deps{
		TrustedProxies: proxies,
		Issuer:         cfg.Issuer, Storage: b.store, Keys: keys, Minter: &tokens.Minter{Issuer: cfg.Issuer, Keys: keys, Now: b.now},
		Sessions: sessions, Claims: norm, Clients: registry, Connectors: slots, MFA: mfaStep, SAML: samlIdP,
		ForwardAuth:     forwardAuth(cfg, issuerURL.Scheme == "https"),
		RequirePAR:      cfg.OAuth2.RequirePushedAuthorizationRequests,
		IdentifierFirst: cfg.Login.IdentifierFirst,
		Templates:       tmpl, AllowedOrigins: cfg.Web.AllowedOrigins, Logger: b.logger, Now: b.now, Mounts: mounts,
		Lifetimes: broker.Lifetimes{
			IDToken: cfg.Expiry.IDTokens.D(), AccessToken: cfg.Expiry.AccessTokens.D(), AuthCode: cfg.Expiry.AuthCodes.D(),
			AuthRequest: cfg.Expiry.AuthRequests.D(), RefreshAbsolute: cfg.Expiry.RefreshTokens.Absolute.D(),
			RefreshIdle: cfg.Expiry.RefreshTokens.Idle.D(), ReuseGrace: cfg.Expiry.RefreshTokens.ReuseGrace.D(),
		},
		Registration: &cfg.Registration,
		DPoP:         broker.DPoP{ProofMaxAge: cfg.DPoP.ProofMaxAge.D(), ProofMaxSkew: cfg.DPoP.ProofMaxSkew.D(), Nonce: cfg.DPoP.Nonce},
	}, nil
}

// clients are the configured OAuth clients, plus the example relying party (mounted at
// /example/) when example.enabled.
func (b *builder) clients(prefix string, mounts map[string]http.Handler) ([]clients.Client, error) {
	var cls []clients.Client
	for _, c := range b.cfg.Clients {
		keys, err := b.clientKeys(c)
		if err != nil {
			return nil, err
		}
		cl := clients.Client{
			ID: c.ID, Name: c.Name, Public: c.Public, RedirectURIs: c.RedirectURIs,
			PostLogoutRedirectURIs: c.PostLogoutRedirectURIs, Trusted: c.Trusted,
			AllowedConnectors: c.AllowedConnectors, AllowedOrigins: c.AllowedOrigins,
			GrantTypes: c.GrantTypes, Scopes: c.AllowedScopes, Audiences: c.AllowedAudiences, Keys: keys,
			RequirePAR: c.RequirePushedAuthorizationRequests, AllowUnsignedRequestObjects: c.AllowUnsignedRequestObjects,
			BackchannelLogoutURI: c.BackchannelLogoutURI, FrontchannelLogoutURI: c.FrontchannelLogoutURI,
			FrontchannelLogoutSessionRequired: c.FrontchannelLogoutSessionRequired,
		}
		if keys != nil {
			cl.AuthMethod = clients.AuthPrivateKeyJWT
		}
		cl.DPoPBound = c.DPoPBoundAccessTokens
		cl.TokenExchange, cl.Resources = exchangePolicy(c.TokenExchange), c.Resources
		cls = append(cls, clients.New(cl, c.Secret))
	}
	if !b.cfg.Example.Enabled {
		return cls, nil
	}
	exampleBase := b.gh.ExampleURL
	secret := randomSecret()
	cls = append(cls, clients.New(clients.Client{
		ID: config.ExampleClientID, Name: "Gatehouse example app", RedirectURIs: []string{exampleBase + "/callback"},
		PostLogoutRedirectURIs: []string{exampleBase + "/"},
	}, secret))
	rp, err := examplerp.New(examplerp.Options{Issuer: b.cfg.Issuer, ClientID: config.ExampleClientID, ClientSecret: secret,
		BaseURL: exampleBase, HTTPClient: httpx.BoundedClient(&http.Client{Timeout: 15 * time.Second}), Logger: b.logger.With("component", "examplerp")})
	if err != nil {
		return nil, fmt.Errorf("example app: %w", err)
	}
	mounts["/example/"] = http.StripPrefix(prefix+"/example", rp)
	return cls, nil
}

// clientKeys is the key source of a private_key_jwt client (inline jwks, or jwks_uri fetched
// with a bounded client and cached), or nil for a client that authenticates otherwise.
func (b *builder) clientKeys(c config.Client) (clients.KeySource, error) {
	switch {
	case len(c.JWKS) > 0:
		set, err := config.ParseClientJWKS(c.JWKS)
		if err != nil {
			return nil, fmt.Errorf("client %s: jwks %w", c.ID, err)
		}
		return clients.StaticKeys{Set: set}, nil
	case c.JWKSURI != "":
		return &clients.RemoteKeys{
			URL: c.JWKSURI, HTTP: httpx.BoundedClient(&http.Client{Timeout: 10 * time.Second}),
			TTL: time.Hour, MinRefetch: 30 * time.Second, Now: b.now,
		}, nil
	}
	return nil, nil
}

func randomSecret() string {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}
