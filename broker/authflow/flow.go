// Package authflow owns the protocol-neutral login: one state machine over one
// storage.AuthRequest, from the moment a protocol package hands it a validated request
// (Start) to the moment it hands the result back (a Responder's Finish, Fail or Deny).
//
// The states of a flow and the routes that move it on:
//
//	started ──► login (/login, /login/{connector}; password, Kerberos, trusted proxy)
//	        │        └► upstream (/callback/{connector}, /saml/sp/{connector}/acs)
//	        ├──► mfa (/mfa: the second factor, or a step-up of an SSO session)
//	        └──► consent (/consent) ──► finished (Responder.Finish)
//
// Any state may end in Fail (an error the protocol can send back) or Deny (a policy refuses
// the user). The package knows no protocol: OIDC and SAML plug in through SetResponder.
package authflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/broker/route"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/internal/logctx"
	"github.com/gatehouse-id/gatehouse/internal/ratelimit"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/web"
)

// Responder ends a flow in its protocol. authflow calls exactly one method per flow end.
type Responder interface {
	// Finish answers the client with the result of a completed flow. authflow has
	// checked the SSO session is live and has consumed (deleted) the auth request.
	Finish(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest)
	// Fail sends an error back to the client when the protocol lets it be sent (OIDC: an
	// error redirect / form_post with the RFC 6749 code; SAML: an error Response with the
	// status the code maps to), else renders a page. authflow has deleted the request.
	Fail(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, err *oauth2err.Error)
	// Deny renders "access denied" for an authenticated user a policy refuses (reason is
	// user-safe). authflow has deleted the request.
	Deny(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, reason string)
}

// Store is the storage a flow uses: its auth requests and the users' consents.
type Store interface {
	storage.AuthRequestStore
	storage.ConsentStore
}

// Claims is the part of the claims pipeline a flow uses.
type Claims interface {
	// Normalize turns an upstream identity into the canonical one (or a DeniedError).
	Normalize(ctx context.Context, connectorID string, up connectors.Upstream) (storage.Identity, error)
	// AuthorizeClient checks the client's requirements (a DeniedError when unmet).
	AuthorizeClient(clientID string, id storage.Identity) error
	// ScopeDescription is the consent page's text for a scope ("" for none).
	ScopeDescription(scope string) string
	// CustomScopeClaims are the claims of a custom scope without a description of its own
	// (nil otherwise), shown as "Your <claims>" in the user's language.
	CustomScopeClaims(scope string) []string
	// KnownClaim reports whether ClaimDescription has fixed words for the claim; a custom
	// claim is shown as "Your <claim>" in the user's language.
	KnownClaim(claim string) bool
	// IndividualClaims are the requested claims the client may receive individually (claims
	// parameter) that its scopes do not release: what consent must cover beyond the scopes.
	IndividualClaims(clientID string, scopes, requested []string) []string
	// ClaimDescription is the consent page's text for a claim asked for individually.
	ClaimDescription(claim string) string
	// SubjectFor is the subject the client sees for an internal subject.
	SubjectFor(clientID, sub string) string
}

// Deps is what a Flow needs.
type Deps struct {
	// Issuer is the issuer URL (upstream callback URLs are built under it).
	Issuer string
	Store  Store
	// RateLimits keeps the password login budgets (shared by every replica).
	RateLimits storage.RateLimitStore
	Sessions   *session.Manager
	Claims     Claims
	Clients    *clients.Registry
	Connectors *connset.Set
	Pages      *pages.Renderer
	Templates  *web.Templates
	// MFA is the second-factor step; nil turns it off.
	MFA *MFA
	// TrustedProxies name the client IP for rate limits and logs.
	TrustedProxies []netip.Prefix
	// Audit records the flow's security events (logins, second factors, consents); nil:
	// none.
	Audit audit.Recorder
	// RequestLifetime is how long a flow may take.
	RequestLifetime time.Duration
	// IdentifierFirst asks for the email or username first and routes by it
	// (identifier.go); otherwise the chooser lists the connectors.
	IdentifierFirst bool
	Logger          *slog.Logger
	Now             func() time.Time
}

// Flow runs logins. Build it with New, register the protocols' responders with
// SetResponder, and mount its routes with Mount.
type Flow struct {
	Deps
	limiter    *ratelimit.Limiter
	responders map[storage.Protocol]Responder
	// domains routes email domains to connectors (connectors[].domains, identifier.go).
	domains map[string]*connset.Slot
}

// New builds a Flow.
func New(d Deps) (*Flow, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		return nil, errors.New("authflow: logger is required")
	}
	if d.Audit == nil {
		d.Audit = audit.Nop{}
	}
	lim, err := ratelimit.New(d.RateLimits, d.Now, loginWindow)
	if err != nil {
		return nil, fmt.Errorf("authflow: login rate limit: %w", err)
	}
	return &Flow{Deps: d, limiter: lim, responders: map[storage.Protocol]Responder{}, domains: byDomain(d.Connectors)}, nil
}

// SetResponder registers the responder of a protocol (broker.New wires oidc and samlidp).
func (f *Flow) SetResponder(p storage.Protocol, r Responder) { f.responders[p] = r }

// Mount registers the flow's routes: login, upstream callbacks, the MFA step and consent.
func (f *Flow) Mount(m *route.Mux) {
	m.Browser("GET /login", f.handleChooser)
	if f.IdentifierFirst {
		m.Browser("POST /login", f.handleIdentifier)
	}
	m.Browser("GET /login/{connector}", f.handleLoginPage)
	m.Browser("POST /login/{connector}", f.handleLoginSubmit)
	m.Browser("POST /login/{connector}/passkey", f.handlePasskeySubmit)
	m.Page("GET /callback/{connector}", f.handleCallback)
	m.Page("POST /callback/{connector}", f.handleCallback)
	// SAML service-provider endpoints of SAML connectors: the assertion consumer service is
	// the generic callback under the name IdP admins expect, plus the SP metadata to import.
	m.Page("POST /saml/sp/{connector}/acs", f.handleCallback)
	m.Plain("GET /saml/sp/{connector}/metadata", http.HandlerFunc(f.handleSPMetadata))
	m.Browser("GET /consent", f.handleConsentPage)
	m.Browser("POST /consent", f.handleConsentSubmit)
	m.Browser("GET /mfa", f.handleMFAPage)
	m.Browser("POST /mfa", f.handleMFASubmit)
}

// responder is the responder of the request's protocol (the zero Protocol reads as OIDC),
// or nil after rendering the expired page.
func (f *Flow) responder(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest) Responder {
	p := ar.Protocol
	if p == "" {
		p = storage.ProtocolOIDC
	}
	if rs := f.responders[p]; rs != nil {
		return rs
	}
	f.Logger.WarnContext(r.Context(), "auth request of a protocol without a responder", "protocol", string(p), "req", ar.ID)
	f.Pages.Expired(w, r)
	return nil
}

// fail ends a flow with an error through its protocol, after deleting its request.
func (f *Flow) fail(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, err *oauth2err.Error) {
	f.dropAuthRequest(r.Context(), ar.ID)
	if rs := f.responder(w, r, ar); rs != nil {
		rs.Fail(w, r, ar, err)
	}
}

// record reports an audit event of the flow of ar, with its client.
func (f *Flow) record(r *http.Request, ar storage.AuthRequest, e audit.Event) {
	e.ClientID = ar.ClientID
	f.Audit.Record(r.Context(), e)
}

// loginEvent is the audit event of a login through cn by user (the subject when known, else
// the username typed, else empty) that ended with outcome.
func loginEvent(cn *connset.Slot, user, outcome string) audit.Event {
	return audit.Event{Type: audit.Login, Outcome: outcome, User: user, ConnectorID: cn.Info.ID}
}

// deny ends the flow of a user a policy refuses, after deleting its request.
func (f *Flow) deny(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, reason string) {
	f.dropAuthRequest(r.Context(), ar.ID)
	f.Logger.InfoContext(r.Context(), "login denied", "client_id", ar.ClientID, "reason", reason)
	if rs := f.responder(w, r, ar); rs != nil {
		rs.Deny(w, r, ar, reason)
	}
}

// finish ends a completed flow: the SSO session must still be live, and the request is
// consumed before the responder issues anything.
func (f *Flow) finish(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest) {
	if !f.sessionLive(w, r, ar) { // signed out (or expired) since the request was authenticated
		return
	}
	rs := f.responder(w, r, ar)
	if rs == nil || !f.consumeAuthRequest(w, r, ar.ID) {
		return
	}
	if c := f.Clients.Get(ar.ClientID); c != nil {
		ar.RequestedClaims = consentedClaims(ar.RequestedClaims, f.individualClaims(ar, c))
	} else {
		ar.RequestedClaims = nil // (a client gone from the config cannot redeem the code anyway)
	}
	rs.Finish(w, r, ar)
}

// url returns an absolute URL for a path under the issuer.
func (f *Flow) url(path string) string { return strings.TrimSuffix(f.Issuer, "/") + path }

// rel returns a path under the issuer's path.
func (f *Flow) rel(path string) string { return f.Pages.Rel(path) }

// render renders one of the flow's templates, logging a failure as what.
func (f *Flow) render(w http.ResponseWriter, r *http.Request, status int, name, what string, data any) {
	lang := f.Pages.Language(r)
	if err := f.Templates.RenderLang(w, status, lang, name, f.Pages.WithLanguages(r, lang, data)); err != nil {
		f.Logger.ErrorContext(r.Context(), "render "+what, "err", err)
	}
}

// logFlow attaches what an operator needs to every later log line of the request: the auth
// request's client and, once known, its connector and username. Never secrets.
func logFlow(ctx context.Context, ar storage.AuthRequest) {
	logctx.Add(ctx, "client_id", ar.ClientID)
	if ar.Auth.ConnectorID != "" {
		logctx.Add(ctx, "connector", ar.Auth.ConnectorID)
	}
	if ar.Identity.PreferredUsername != "" {
		logctx.Add(ctx, "username", ar.Identity.PreferredUsername)
	}
}

// dropAuthRequest deletes an auth request on a path that ends its flow with an error (the
// error is what the user sees); a failure to delete is logged, never dropped: the request
// then expires on its own.
func (f *Flow) dropAuthRequest(ctx context.Context, id string) {
	if id == "" {
		return
	}
	if err := f.Store.DeleteAuthRequest(ctx, id); err != nil && !errors.Is(err, storage.ErrNotFound) {
		f.Logger.WarnContext(ctx, "delete ended auth request; it expires on its own", "req", id, "err", err)
	}
}

// consumeAuthRequest deletes the auth request before anything is issued from it: of several
// submissions of one flow (a double click, a form replayed from history, parallel tabs)
// exactly one finds the row and goes on; the others get the "already finished" page. A
// request that logout or expiry removed meanwhile is refused the same way. It renders the
// page itself and reports whether the caller may issue.
func (f *Flow) consumeAuthRequest(w http.ResponseWriter, r *http.Request, id string) bool {
	err := f.Store.DeleteAuthRequest(r.Context(), id)
	switch {
	case err == nil:
		return true
	case errors.Is(err, storage.ErrNotFound):
		f.Logger.InfoContext(r.Context(), "sign-in already finished or gone; nothing issued", "req", id)
		f.Pages.AlreadyFinished(w, r)
		return false
	default:
		f.Pages.Internal(w, r, "consume auth request", err)
		return false
	}
}

// sessionLive checks, for an auth request that was authenticated in an SSO session, that the
// session still exists and has not expired: a logout (or the session's absolute expiry)
// ends the flows it started, so a consent form from the browser history yields nothing. It
// deletes the dead request and renders the page itself when it reports false.
func (f *Flow) sessionLive(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest) bool {
	if !ar.LoggedIn {
		return true
	}
	_, live, err := f.Sessions.Live(r.Context(), ar.SessionID)
	if err != nil {
		f.Pages.Internal(w, r, "load session of auth request", err)
		return false
	}
	if live {
		return true
	}
	if err := f.Store.DeleteAuthRequest(r.Context(), ar.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		f.Pages.Internal(w, r, "delete auth request of an ended session", err)
		return false
	}
	f.Logger.InfoContext(r.Context(), "auth request of an ended session refused", "client_id", ar.ClientID)
	f.Pages.Error(w, r, http.StatusBadRequest, "You were signed out",
		"This sign-in belonged to a session that has ended (you signed out, or it expired), so it cannot be finished.",
		"Go back to the application and sign in again.")
	return false
}

// param reads a flow parameter: from the URL of a GET, from the (bounded, already limited by
// the broker's body limits) form body of a POST, never one from the other.
func param(r *http.Request, key string) string {
	if r.Method == http.MethodPost {
		return r.PostFormValue(key)
	}
	return r.URL.Query().Get(key)
}

// loadFlow loads the auth request named in the request and checks that it belongs to this
// browser. It renders the error page itself and returns ok == false on failure.
func (f *Flow) loadFlow(w http.ResponseWriter, r *http.Request) (storage.AuthRequest, *clients.Client, string, bool) {
	id := param(r, "req")
	if id == "" || len(id) > 64 {
		f.Pages.Expired(w, r)
		return storage.AuthRequest{}, nil, "", false
	}
	ar, err := f.Store.GetAuthRequest(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		f.Pages.Expired(w, r)
		return ar, nil, "", false
	}
	if err != nil {
		f.Pages.Internal(w, r, "load auth request", err)
		return ar, nil, "", false
	}
	flow := f.Sessions.FlowSecret(r)
	if flow == "" || !f.Now().Before(ar.Expiry) || session.HashID(flow) != ar.FlowHash {
		f.Pages.Expired(w, r)
		return ar, nil, "", false
	}
	c := f.Clients.Get(ar.ClientID)
	if c == nil {
		f.Pages.Expired(w, r)
		return ar, nil, "", false
	}
	logFlow(r.Context(), ar)
	// The pages of this request are in the language its ui_locales asks for (unless the user
	// chose one): the request carries it to every page rendered from here on.
	*r = *r.WithContext(pages.WithUILocales(r.Context(), ar.UILocales))
	if !f.sessionLive(w, r, ar) {
		return ar, nil, "", false
	}
	return ar, c, flow, true
}

// checkCSRF verifies a form's CSRF token for the auth request; on failure it renders a page.
func (f *Flow) checkCSRF(w http.ResponseWriter, r *http.Request, flow, purpose string) bool {
	if session.CheckCSRF(flow, purpose, r.PostFormValue("csrf")) {
		return true
	}
	f.Logger.WarnContext(r.Context(), "csrf token missing or wrong", "path", r.URL.Path)
	f.Pages.Error(w, r, http.StatusForbidden, "Request refused",
		"This form could not be verified (its security token is missing or wrong), so nothing was done.",
		"Go back to the application and start signing in again.")
	return false
}

// readForm parses a flow form's bounded body; on failure it renders a page.
func (f *Flow) readForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		f.Pages.Error(w, r, http.StatusBadRequest, "Request refused", "The form could not be read.", "Go back and try again.")
		return false
	}
	return true
}
