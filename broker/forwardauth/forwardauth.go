// Package forwardauth is the identity-aware proxy: a reverse proxy (nginx auth_request, Caddy
// forward_auth, Traefik ForwardAuth, Envoy ext_authz in HTTP mode) asks GET /forward-auth
// about every request to a protected app, and gets 200 with identity headers (and an
// optional signed assertion), 401 or a redirect to the login when the browser is not signed
// in, or 403 with a page saying why the user may not use the app.
//
// The original URL is read only from a peer in web.trusted_proxies (X-Original-URL, or
// X-Forwarded-Proto/-Host/-Uri; the Host and path for Envoy). The login is the normal one
// (broker/authflow) with a protocol of its own, storage.ProtocolForwardAuth: its Responder
// sets a cookie on the protected domain and redirects back to the original URL, which must
// be on a configured host. That cookie names a record in storage bound to the SSO session, so
// a logout anywhere ends it.
package forwardauth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/broker/route"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/tokens"
)

// Default identity header names.
const (
	DefaultUserHeader              = "X-Auth-Request-User"
	DefaultEmailHeader             = "X-Auth-Request-Email"
	DefaultGroupsHeader            = "X-Auth-Request-Groups"
	DefaultPreferredUsernameHeader = "X-Auth-Request-Preferred-Username"
	// AssertionHeader carries the signed JWT assertion of an app with Assertion set.
	AssertionHeader = "X-Gatehouse-Assertion"
)

// Headers names an app's identity headers.
type Headers struct {
	User, Email, Groups, PreferredUsername string
}

// withDefaults fills the empty names with the defaults.
func (h Headers) withDefaults() Headers {
	set := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	set(&h.User, DefaultUserHeader)
	set(&h.Email, DefaultEmailHeader)
	set(&h.Groups, DefaultGroupsHeader)
	set(&h.PreferredUsername, DefaultPreferredUsernameHeader)
	return h
}

// App is one protected app.
type App struct {
	// ID is the app's ID: its pseudo-client is ClientID(ID) and the assertion's aud is ID.
	ID string
	// Hosts are the lowercase host or host:port names the proxy serves the app on.
	Hosts []string
	// Bypass are clean path prefixes answered 200 with no identity (health checks, assets).
	Bypass    []string
	Headers   Headers
	Assertion bool
}

// Settings are the forward-auth settings (config forward_auth and protected_apps).
type Settings struct {
	// CookieDomain is the Domain of the forward-auth cookie.
	CookieDomain string
	// CookieName is the cookie's name.
	CookieName string
	// Secure marks the cookie Secure (the issuer is https); return URLs must then be https.
	Secure bool
	// AssertionLifetime is the lifetime of a signed assertion.
	AssertionLifetime time.Duration
	// SessionRecheck: a session read less than this long ago answers checks, unless a
	// session ended in this process since (0: read it on every check). A logout on another
	// replica reaches this one's checks within SessionRecheck.
	SessionRecheck time.Duration
	Apps           []App
}

// ClientID is the pseudo-client ID of a protected app (claims.AppClientID).
func ClientID(appID string) string { return "app:" + appID }

// Starter starts a login (authflow.Flow).
type Starter interface {
	Start(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, hintSubject string)
}

// Authorizer checks an app's requirements for a path (claims.Normalizer.AuthorizeApp): a
// *connectors.DeniedError says why a user may not.
type Authorizer interface {
	AuthorizeApp(appID, urlPath string, id storage.Identity) error
}

// Sessions finds live SSO sessions and extends their idle expiry (session.Manager).
type Sessions interface {
	Live(ctx context.Context, id string) (storage.Session, bool, error)
	Touch(ctx context.Context, s storage.Session) error
	// Ended grows whenever this process ends a session: cached sessions read before are
	// dropped.
	Ended() uint64
}

// Signer signs the assertion (tokens.Minter).
type Signer interface {
	SignIDToken(t tokens.IDToken) (string, error)
}

// Deps is what the handler needs.
type Deps struct {
	// Issuer is the issuer URL: the login starts at {issuer}/forward-auth/start.
	Issuer   string
	Settings Settings
	// Blobs keeps the forward-auth cookies' records (shared by every replica).
	Blobs    storage.BlobStore
	Sessions Sessions
	Authz    Authorizer
	// MFANeeded reports whether an authentication lacks a second factor the app's (or its
	// connector's) policy requires; such a session is sent to the login to step up.
	MFANeeded func(clientID string, auth storage.Authentication) bool
	Signer    Signer
	Flow      Starter
	Pages     *pages.Renderer
	// TrustedProxies are the only peers whose forwarding headers name the original URL.
	TrustedProxies []netip.Prefix
	// Audit records refusals (audit.ForwardAuthRefused); nil records none.
	Audit  audit.Recorder
	Logger *slog.Logger
	Now    func() time.Time
}

// Handler serves the forward-auth endpoints and ends forward-auth logins (authflow.Responder).
type Handler struct {
	Deps
	byHost     map[string]*App
	assertions *assertionCache
	records    recordCache
	sessions   sessionCache
	auditSeen  recentEvents
}

// New builds the handler.
func New(d Deps) (*Handler, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil || d.Blobs == nil || d.Sessions == nil || d.Authz == nil || d.Flow == nil || d.Pages == nil {
		return nil, errors.New("forwardauth: logger, blobs, sessions, authorizer, flow and pages are required")
	}
	if d.Audit == nil {
		d.Audit = audit.Nop{}
	}
	if d.MFANeeded == nil {
		d.MFANeeded = func(string, storage.Authentication) bool { return false }
	}
	h := &Handler{Deps: d, byHost: map[string]*App{}, assertions: newAssertionCache(maxCachedAssertions)}
	for i := range d.Settings.Apps {
		app := &h.Settings.Apps[i]
		app.Headers = app.Headers.withDefaults()
		if app.Assertion && d.Signer == nil {
			return nil, errors.New("forwardauth: an app asks for assertions and there is no signer")
		}
		for _, host := range app.Hosts {
			h.byHost[strings.ToLower(host)] = app
		}
	}
	return h, nil
}

// Mount registers the routes: the check (/forward-auth for proxies that relay a redirect,
// /forward-auth/nginx answering 401 instead, /forward-auth/envoy/ for Envoy's ext_authz), and
// the login start (/forward-auth/start?rd=<original URL>).
func (h *Handler) Mount(m *route.Mux) {
	m.Plain("GET /forward-auth", http.HandlerFunc(h.handleCheck))
	m.Plain("GET /forward-auth/nginx", http.HandlerFunc(h.handleCheck))
	m.Plain("/forward-auth/envoy/", http.HandlerFunc(h.handleCheck)) // reached through EnvoyBypass
	m.Page("GET /forward-auth/start", h.handleStart)
}

// EnvoyBypass sends Envoy's checks ({prefix}/forward-auth/envoy/<original path>) to the
// handler before next (the broker's ServeMux) sees them: the mux answers a path with "..",
// "." or "//" with a redirect to the cleaned path, which Envoy would hand to the browser; the
// check must instead judge the path the app will see (cleaned only for the rules).
func (h *Handler) EnvoyBypass(prefix string, next http.Handler) http.Handler {
	envoy := prefix + "/forward-auth/envoy/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, envoy) {
			h.handleCheck(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
