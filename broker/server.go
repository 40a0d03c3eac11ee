// Package broker assembles Gatehouse's HTTP surface: New builds the flow packages below it
// from Deps, each with only the narrow dependencies it uses, and mounts their routes on one
// route.Mux under the issuer's path: broker/oidc (/authorize and the OIDC responder),
// broker/authflow (the protocol-neutral login: chooser, password and redirect logins,
// callbacks, MFA step, consent), broker/samlidp (the SAML IdP endpoints and responder),
// broker/grants (token, revocation, introspection), broker/userinfo, broker/discovery,
// broker/logout and broker/account. This package keeps only what crosses them all: request
// IDs, the panic recoverer, request body limits, CORS, and health and readiness.
//
// Browser routes get CSRF tokens, cross-origin protection and a strict Content-Security-Policy;
// API routes (token, userinfo, JWKS, discovery) are never wrapped that way and get CORS for
// configured origins instead (broker/route says which is which).
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/broker/authflow"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/broker/device"
	"github.com/gatehouse-id/gatehouse/broker/dpop"
	"github.com/gatehouse-id/gatehouse/broker/forwardauth"
	"github.com/gatehouse-id/gatehouse/broker/linking"
	"github.com/gatehouse-id/gatehouse/broker/logout"
	"github.com/gatehouse-id/gatehouse/broker/oidc"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/broker/par"
	"github.com/gatehouse-id/gatehouse/broker/registration"
	"github.com/gatehouse-id/gatehouse/broker/route"
	"github.com/gatehouse-id/gatehouse/broker/samlidp"
	"github.com/gatehouse-id/gatehouse/broker/upstreamlogout"
	"github.com/gatehouse-id/gatehouse/claims"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/logctx"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/tokens"
	"github.com/gatehouse-id/gatehouse/web"
)

// Lifetimes are the token and flow lifetimes.
type Lifetimes struct {
	IDToken         time.Duration
	AccessToken     time.Duration
	AuthCode        time.Duration
	AuthRequest     time.Duration
	RefreshAbsolute time.Duration
	RefreshIdle     time.Duration
	// ReuseGrace: a client whose refresh response was lost may retry with the previous
	// refresh token for this long after the rotation, while its successor is unused: it gets
	// a fresh pair and the unused successor is revoked. 0 turns the retry off (every reuse
	// revokes the family).
	ReuseGrace time.Duration
}

// Deps is everything the broker needs; cmd/gatehouse wires it.
type Deps struct {
	Issuer         string
	Storage        storage.Storage
	Keys           *tokens.KeyManager
	Minter         *tokens.Minter
	Sessions       *session.Manager
	Claims         *claims.Normalizer
	Clients        *clients.Registry
	Connectors     []connset.Slot
	Templates      *web.Templates
	Lifetimes      Lifetimes
	AllowedOrigins []string
	Logger         *slog.Logger
	Now            func() time.Time
	// Extra handlers mounted under the issuer path (e.g. the example RP at "/example/").
	Mounts map[string]http.Handler
	// TrustedProxies are the proxies whose X-Forwarded-For names the client (rate limits, logs).
	TrustedProxies []netip.Prefix
	// MFA is the second-factor step and self-service pages; nil turns them off.
	MFA *MFA
	// SAML is the SAML 2.0 identity provider (broker/samlidp); nil turns it off. Its service
	// providers must be in Clients as samlidp.Clients.
	SAML *samlidp.IdP
	// Audit records the security events of every flow (package audit); nil: none.
	Audit audit.Recorder
	// RequirePAR makes every client push its authorization requests (RFC 9126 6,
	// oauth2.require_pushed_authorization_requests).
	RequirePAR bool
	// Metrics takes the per-route and per-connector metrics; nil: none.
	Metrics Metrics
	// ForwardAuth is the identity-aware proxy endpoint (broker/forwardauth); nil turns it
	// off. Its apps must be in Clients as forwardauth.ClientID pseudo-clients.
	ForwardAuth *forwardauth.Settings
	// DPoP bounds the DPoP proofs the token endpoint and userinfo accept (RFC 9449); zero
	// values take the defaults of broker/dpop.
	DPoP DPoP
	// IdentifierFirst makes the sign-in page ask for the email or username first and route
	// by it (login.identifier_first; broker/authflow/identifier.go).
	IdentifierFirst bool
	// Registration turns on Dynamic Client Registration (broker/registration) when Enabled;
	// nil: off.
	Registration *config.Registration
}

// Metrics is what the broker reports to the metrics (internal/telemetry implements it).
type Metrics interface {
	// Instrument wraps the handler of a route pattern ("POST /token").
	Instrument(pattern string, h http.Handler) http.Handler
	// ConnectorCall records one connector call (connset.Observer).
	ConnectorCall(connectorID, op string, start time.Time, up bool)
}

// Server serves the broker's endpoints.
type Server struct {
	Deps
	issuerURL *url.URL
	prefix    string // issuer path without trailing slash ("" at the root)
	conns     *connset.Set
	apis      []mounter // token endpoints, userinfo, discovery (broker/apis.go)
	origins   map[string]bool
	flow      *authflow.Flow
	oidc      *oidc.Handler
	handler   http.Handler
	pages     *pages.Renderer
	saml      *samlidp.Handler // nil without an IdP
	logout    *logout.Handler
	deliverer *logout.Deliverer // nil when storage keeps no logout queue
	ender     *logout.Ender
	upstream  *upstreamlogout.Handler // nil when no connector has logout: upstream
	device    *device.Handler         // nil when storage keeps no device codes
	// assertionVerifier authenticates private_key_jwt clients (broker/devices.go).
	assertionVerifier *clients.AssertionVerifier
	fwd               *forwardauth.Handler  // nil without protected apps
	linking           *linking.Handler      // nil without the account pseudo-client
	par               *par.Handler          // nil when storage cannot take blobs
	registration      *registration.Handler // nil unless registration.enabled
	proofs            *dpop.Validator       // DPoP proofs, shared by /token, /userinfo and /par
	draining          atomic.Bool           // set by Drain: readiness answers 503 while the process shuts down
}

// New validates the dependencies and builds the server.
func New(d Deps) (*Server, error) {
	u, err := url.Parse(d.Issuer)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("broker: invalid issuer %q", d.Issuer)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		return nil, errors.New("broker: logger is required")
	}
	if d.Audit == nil {
		d.Audit = audit.Nop{}
	}
	s := &Server{Deps: d, issuerURL: u, prefix: strings.TrimSuffix(u.Path, "/")}
	s.pages = &pages.Renderer{Templates: d.Templates, Logger: d.Logger, Base: s.prefix, Ping: d.Storage.Ping}
	s.conns = connset.New(d.Connectors)
	if d.Metrics != nil {
		s.conns.Observe(d.Metrics.ConnectorCall)
	}
	s.origins = make(map[string]bool)
	for _, o := range d.AllowedOrigins {
		s.origins[strings.TrimSuffix(o, "/")] = true
	}
	for _, c := range d.Clients.All() {
		for _, o := range c.AllowedOrigins {
			s.origins[strings.TrimSuffix(o, "/")] = true
		}
	}
	if s.proofs, err = s.dpopValidator(); err != nil {
		return nil, err
	}
	if err := s.buildFlows(); err != nil {
		return nil, err
	}
	if err := s.buildRegistration(); err != nil {
		return nil, err
	}
	if s.apis, err = s.buildAPIs(); err != nil {
		return nil, err
	}
	s.handler = s.routes()
	return s, nil
}

// buildFlows builds the login flow and the protocols that start and end it, and logout.
func (s *Server) buildFlows() error {
	rl, _ := s.Storage.(storage.RateLimitStore) // nil (no budgets kept) is refused by authflow.New
	fm := s.MFA.flowSettings()
	if cs, ok := s.Storage.(authflow.CeremonyStore); ok && fm != nil {
		fm.Ceremonies = cs
	}
	flow, err := authflow.New(authflow.Deps{
		Issuer: s.Issuer, Store: s.Storage, RateLimits: rl, Sessions: s.Sessions, Claims: s.Claims,
		Clients: s.Clients, Connectors: s.conns, Pages: s.pages, Templates: s.Templates, MFA: fm,
		TrustedProxies: s.TrustedProxies, RequestLifetime: s.Lifetimes.AuthRequest, Audit: s.Audit, Logger: s.Logger, Now: s.Now,
		IdentifierFirst: s.IdentifierFirst,
	})
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	s.flow = flow
	objects, pushed := s.buildPAR()
	od := oidc.Deps{
		Issuer: s.Issuer, Clients: s.Clients, KnownScope: s.Claims.KnownScope, Hints: s.Minter, Codes: s.Storage,
		Pages: s.pages, Flow: flow, CodeLifetime: s.Lifetimes.AuthCode, SessionLifetime: s.Sessions.Absolute,
		Logger: s.Logger, Now: s.Now, Pushed: pushed, RequestObjects: objects, RequirePAR: s.RequirePAR,
	}
	ender := logout.NewEnder(s.Storage, s.Clients, s.Now)
	ender.Audit = s.Audit
	ender.Deleted = s.Sessions.NoteEnded
	s.ender = ender
	if ender.Logouts != nil {
		od.Participants = ender.Logouts
		s.deliverer = &logout.Deliverer{Queue: ender.Logouts, Signer: s.Minter, Subjects: s.Claims, Logger: s.Logger, Now: s.Now}
		if m, ok := s.Metrics.(logout.DeliveryMetrics); ok {
			s.deliverer.Metrics = m
		}
	}
	s.oidc = oidc.New(od)
	flow.SetResponder(storage.ProtocolOIDC, s.oidc)
	s.logout = &logout.Handler{Sessions: s.Sessions, Hints: s.Minter, Subjects: s.Claims, Clients: s.Clients,
		Ender: ender, Pages: s.pages, Logger: s.Logger, Issuer: s.Issuer, SessionRecords: s.Storage, Now: s.Now}
	if p, ok := s.Storage.(logout.PendingStore); ok {
		s.logout.Pending = p
	}
	if err := s.buildUpstreamLogout(ender); err != nil {
		return err
	}
	if s.SAML != nil {
		s.saml = &samlidp.Handler{IdP: s.SAML, Flow: flow, AuthRequests: s.Storage, SessionRecords: s.Storage,
			Blobs: s.blobs(), Sessions: s.Sessions, Claims: s.Claims, Ender: ender, Pages: s.pages, Logger: s.Logger,
			Now: s.Now, TrustedProxies: s.TrustedProxies, MFAAvailable: s.MFA != nil}
		flow.SetResponder(storage.ProtocolSAML, s.saml)
		s.logout.FrontChannel = s.saml
		s.saml.FrontChannelPage = s.logout.DonePage
		if s.upstream != nil {
			s.upstream.SAML = s.saml
		}
	}
	if err := s.buildDevice(flow); err != nil {
		return err
	}
	if err := s.buildLinking(flow); err != nil {
		return err
	}
	return s.buildForwardAuth(flow)
}

// RunLogoutDeliveries delivers the back-channel logout queue (broker/logout.Deliverer) every
// interval until ctx ends; without a logout queue in storage it returns at once. Every
// replica runs it: claims in storage keep two from delivering one token.
func (s *Server) RunLogoutDeliveries(ctx context.Context, interval time.Duration) {
	if s.deliverer != nil {
		s.deliverer.Run(ctx, interval)
	}
}

// DeliverLogouts runs one round of back-channel logout deliveries (what RunLogoutDeliveries
// does every interval) and reports how many it claimed; tests drive the queue with it.
func (s *Server) DeliverLogouts(ctx context.Context) (int, error) {
	if s.deliverer == nil {
		return 0, errors.New("broker: storage keeps no back-channel logout queue")
	}
	return s.deliverer.RunOnce(ctx)
}

// blobs returns the storage's BlobStore, or nil.
func (s *Server) blobs() storage.BlobStore {
	b, _ := s.Storage.(storage.BlobStore)
	return b
}

// Handler returns the HTTP handler with every route mounted under the issuer's path.
func (s *Server) Handler() http.Handler { return s.handler }

// rel returns a path under the issuer's path (for links on our own pages).
func (s *Server) rel(path string) string { return s.prefix + path }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	m := route.New(mux, s.prefix, s.cors, pages.Headers, func(h http.Handler) http.Handler { return s.pages.BrowserRoute(h.ServeHTTP) })
	if s.Metrics != nil {
		m.Instrument(s.Metrics.Instrument)
	}
	for _, a := range s.apis {
		a.Mount(m)
	}
	preflight := []string{"/.well-known/openid-configuration", "/keys", "/token", "/userinfo", "/revoke", "/par"}
	if s.registration != nil {
		preflight = append(preflight, "/register", "/register/{client_id}")
	}
	for _, path := range preflight {
		m.Plain("OPTIONS "+path, http.HandlerFunc(s.handlePreflight))
	}

	s.oidc.Mount(m) // /authorize
	s.flow.Mount(m) // /login, /callback, /saml/sp, /consent, /mfa
	s.accountPages().Mount(m)
	if s.linking != nil {
		s.linking.Mount(m) // /account/logins/link, /account/logins/unlink
	}
	if s.saml != nil {
		s.saml.Mount(m) // SAML IdP endpoints under /saml/idp/
	}
	s.logout.Mount(m)
	if s.upstream != nil {
		s.upstream.Mount(m) // /connectors/{id}/backchannel-logout, /logout/upstream
	}
	if s.device != nil {
		s.device.Mount(m) // /device/code, /device
	}
	if s.par != nil {
		s.par.Mount(m) // /par
	}
	if s.registration != nil {
		s.registration.Mount(m) // /register, /register/{client_id}
	}
	if s.fwd != nil {
		s.fwd.Mount(m) // /forward-auth, /forward-auth/nginx, /forward-auth/envoy/, /forward-auth/start
	}
	m.Plain("GET /static/", http.StripPrefix(s.prefix+"/static/", s.Templates.Static()))
	m.Plain("GET /favicon.ico", http.RedirectHandler(s.rel("/static/favicon.svg"), http.StatusMovedPermanently))
	m.Browser("GET /language", s.pages.SetLanguage) // the language switcher
	m.Plain("GET /healthz", http.HandlerFunc(s.handleHealth))
	m.Plain("GET /readyz", http.HandlerFunc(s.handleReady))
	for path, h := range s.Mounts {
		m.Plain(path, h)
	}
	m.Plain("/{$}", http.RedirectHandler(s.rel("/.well-known/openid-configuration"), http.StatusFound))
	h := s.pages.NotFound(mux)
	if s.fwd != nil {
		h = s.fwd.EnvoyBypass(s.prefix, h)
	}
	return logctx.Middleware(s.TrustedProxies, s.recoverer(s.limitBodies(h)))
}

// recoverer turns a panic into a 500 with a log line and the request ID the user can quote,
// instead of a dropped connection.
func (s *Server) recoverer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Logger.ErrorContext(r.Context(), "panic serving request", "path", r.URL.Path, "panic", fmt.Sprint(v))
				http.Error(w, "internal error (reference: "+logctx.RequestID(r.Context())+")", http.StatusInternalServerError)
			}
		}()
		h.ServeHTTP(w, r)
	})
}

// Drain makes /readyz answer 503 from now on, because the process is shutting down; every
// other route keeps serving until the listeners are shut down.
func (s *Server) Drain() { s.draining.Store(true) }

// HealthHandler serves only /healthz and /readyz, for a separate admin listener.
func (s *Server) HealthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.HandleFunc("GET /readyz", s.handleReady)
	return logctx.Middleware(s.TrustedProxies, mux)
}

// handleHealth reports liveness.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

// handleReady reports readiness: storage reachable and signing keys loaded.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Cache-Control", "no-store")
	if s.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("draining: shutting down\n"))
		return
	}
	if err := s.Storage.Ping(ctx); err != nil {
		s.Logger.WarnContext(r.Context(), "readiness: storage unreachable", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("storage unreachable\n"))
		return
	}
	if !s.Keys.Ready() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("signing keys not loaded\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}
