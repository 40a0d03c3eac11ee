// Package account owns the user's own page at /account, for every signed-in user: the apps
// the user allowed (consents) with "Revoke", the user's active sessions with "Sign out" for
// each, a password change for users of a connector that lets them (the local connector), and,
// when MFA is on, their second factors: add one (TOTP enrolment, WebAuthn registration),
// remove one, regenerate recovery codes, verify a factor to unlock those changes. A visitor
// who is not signed in signs in through the login flow (storage.ProtocolAccount, this
// package's Responder) and comes back. Each section is its own template
// (web/templates/account_<section>.html). It keeps the account page's WebAuthn ceremony
// state server-side (single-use blobs bound to the SSO session). The login's MFA step is not
// here: it belongs to the login flow.
package account

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/broker/route"
	"github.com/gatehouse-id/gatehouse/internal/ratelimit"
	"github.com/gatehouse-id/gatehouse/mfa"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/web"
)

// CeremonyStore keeps the state of an account-page WebAuthn ceremony until its answer takes it.
type CeremonyStore interface {
	PutBlob(ctx context.Context, b storage.Blob) error
	TakeBlob(ctx context.Context, key string, now time.Time) ([]byte, error)
}

// Handler serves the account page. Build it with its fields set and Mount it.
type Handler struct {
	// Sessions finds the signed-in user and upgrades the session after a verification.
	Sessions *session.Manager
	// MFA is the second-factor service; nil: the page answers "Not available".
	MFA *mfa.Service
	// Policies holds each connector's MFA policy by connector ID (missing: off). Under
	// mfa.Required the user's last factor stays.
	Policies map[string]mfa.Policy
	// Ceremonies keeps WebAuthn ceremony state; nil: the page offers no WebAuthn.
	Ceremonies CeremonyStore
	// Passkeys holds the connectors whose users may register passkeys (passkeys.go).
	Passkeys map[string]bool
	// Pages renders the pages, error pages included.
	Pages *pages.Renderer
	// Connectors says whether the session's connector is still up.
	Connectors *connset.Set
	// TrustedProxies name the client IP for the attempt budgets.
	TrustedProxies []netip.Prefix
	// Audit records factors added and removed (required: audit.Nop records nothing).
	Audit audit.Recorder
	// Everywhere signs a user out of every session and app ("Sign out everywhere"); nil:
	// the page does not offer it.
	Everywhere Everywhere
	// Holdings lists and ends the user's sessions, consents and grants; nil (a backend
	// without storage.UserSessionStore): the apps and sessions sections are not shown.
	Holdings Holdings
	// Ender does what a logout does before a session signed out here is deleted
	// (logout.Ender: the session's online grants revoked, its apps told); required with
	// Holdings.
	Ender SessionEnder
	// Apps looks up the clients the user allowed, for their names.
	Apps *clients.Registry
	// Scopes says in plain words what a scope or claim lets an app see, as the consent page
	// does (claims.Normalizer).
	Scopes ScopeDescriber
	// Login starts a sign-in that returns here (authflow.Flow); nil, or no ClientID in Apps:
	// a visitor who is not signed in gets a page that says so.
	Login Starter
	// Passwords is the budget of password attempts, shared with the login's (the same keys:
	// a stolen session cannot guess more than a login could); nil: no password change.
	Passwords *ratelimit.Limiter
	// Logins is the page's sign-in methods section (broker/linking); nil: not shown.
	Logins Section
	// SignedOut answers after "Sign out" of this browser's own session as /logout does once
	// the session ended (logout.Handler.SignedOut: the upstream's logout, the SAML service
	// providers' redirect chain, the OIDC front-channel iframes); nil: a plain signed-out page.
	SignedOut SignedOut
	// Upstream ends, after "Sign out everywhere", this browser's session at the upstream of
	// the connector it signed in with (connectors with logout: upstream); nil: never.
	Upstream UpstreamLogout
	Logger   *slog.Logger
	Now      func() time.Time
}

// Section is a part of the account page another package owns, with its own template and
// routes: AccountSection returns its template's data for the signed-in session (flow is the
// browser's flow secret, for the section's CSRF tokens).
type Section interface {
	AccountSection(r *http.Request, sess storage.Session, flow string) (any, error)
}

// UpstreamLogout sends the browser to the upstream's logout of a signed-out session
// (broker/upstreamlogout implements it): next is where to go ("" when nothing is to be done
// upstream), notice why the upstream could not be asked (a catalog message, rendered in the
// page's language; nil when it was not to be asked).
type UpstreamLogout interface {
	BeginNotice(ctx context.Context, sess storage.Session, returnTo string) (next string, notice *web.Message)
}

// SignedOut finishes the logout of the browser's own session, which has just ended (the
// session cookie cleared), and answers the browser (logout.Handler implements it); returnTo
// "" ends on the signed-out page.
type SignedOut interface {
	SignedOut(w http.ResponseWriter, r *http.Request, sess storage.Session, returnTo string)
}

// Holdings is what the account page reads and ends of the signed-in user (the storage
// backend: storage.UserSessionStore, storage.SessionStore, storage.ConsentStore and
// storage.GrantStore).
type Holdings interface {
	ListUserSessions(ctx context.Context, subject string) ([]storage.Session, error)
	ListUserConsents(ctx context.Context, subject string) ([]storage.Consent, error)
	GetSession(ctx context.Context, id string) (storage.Session, error)
	DeleteSession(ctx context.Context, id string) error
	DeleteConsent(ctx context.Context, subject, clientID string) error
	ListGrants(ctx context.Context, subject string) ([]storage.Grant, error)
	RevokeGrant(ctx context.Context, id string, now time.Time) error
}

// SessionEnder does the work that precedes the deletion of an SSO session (logout.Ender).
type SessionEnder interface {
	Ended(ctx context.Context, sess storage.Session, flowHash string) error
}

// ScopeDescriber says what a scope or an individually requested claim lets an app see.
type ScopeDescriber interface {
	ScopeDescription(scope string) string
	ClaimDescription(claim string) string
}

// Everywhere ends every session of a user, revokes their grants and tells every app
// (logout.Ender implements it); it reports how many sessions ended.
type Everywhere interface {
	EndAll(ctx context.Context, subject string) (int, error)
}

// Mount registers GET and POST /account as browser routes.
func (h *Handler) Mount(m *route.Mux) {
	m.Browser("GET /account", h.handlePage)
	m.Browser("POST /account", h.handleSubmit)
}

// notices are the messages (catalog IDs) shown after a redirect with ?done=.
var notices = map[string]string{
	"added":    "account.notice_added",
	"removed":  "account.notice_removed",
	"verified": "account.notice_verified",
	"revoked":  "account.notice_revoked",
	"ended":    "account.notice_session_ended",
	"password": "account.notice_password",
	// passkeys.go
	"passkey-added": "The passkey is ready: you can sign in with it.",
}

// signedIn returns the request's SSO session. Without one it has answered: a GET starts a
// sign-in that comes back here (when it can), anything else gets a page that says so.
func (h *Handler) signedIn(w http.ResponseWriter, r *http.Request) (storage.Session, bool) {
	sess, has, err := h.Sessions.Current(r.Context(), r)
	if err != nil {
		h.Pages.Internal(w, r, "load session", err)
		return sess, false
	}
	if has && h.Connectors.Up(sess.Auth.ConnectorID) {
		return sess, true
	}
	if !has && r.Method == http.MethodGet && h.canSignIn() {
		h.signIn(w, r)
		return sess, false
	}
	h.Pages.Error(w, r, http.StatusUnauthorized, "You are not signed in",
		"Your security settings are shown to signed-in users only.",
		"Sign in to one of your applications, then open this page again.")
	return sess, false
}

// handlePage shows the account page.
func (h *Handler) handlePage(w http.ResponseWriter, r *http.Request) {
	sess, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	flow, err := h.Sessions.Flow(w, r)
	if err != nil {
		h.Pages.Internal(w, r, "flow cookie", err)
		return
	}
	q := r.URL.Query()
	h.render(w, r, view{status: http.StatusOK, sess: sess, flow: flow, addTOTP: q.Get("add") == "totp", notice: notices[q.Get("done")]})
}

// required reports whether the session's connector requires a second factor.
func (h *Handler) required(sess storage.Session) bool {
	return h.Policies[sess.Auth.ConnectorID] == mfa.Required
}

// reserve reserves a second-factor attempt for the user and client IP. On false it has
// answered: with tooMany (after setting Retry-After) when a budget is spent, or with an error
// page when the budgets could not be read.
func (h *Handler) reserve(w http.ResponseWriter, r *http.Request, userID, ip string, tooMany func()) (mfa.Attempt, bool) {
	attempt, ok, err := h.MFA.Reserve(r.Context(), userID, ip)
	if err != nil {
		h.Pages.Internal(w, r, "mfa rate limit", err)
		return mfa.Attempt{}, false
	}
	if !ok {
		h.Logger.WarnContext(r.Context(), "mfa rate limited", "sub", userID, "ip", ip)
		h.Audit.Record(r.Context(), audit.Event{Type: audit.MFAVerify, Outcome: audit.OutcomeRateLimited, User: userID})
		w.Header().Set("Retry-After", "900")
		tooMany()
	}
	return attempt, ok
}

// succeeded gives a passed attempt back and clears the user's failures.
func (h *Handler) succeeded(r *http.Request, attempt mfa.Attempt) {
	if err := h.MFA.Succeeded(r.Context(), attempt); err != nil {
		h.Logger.WarnContext(r.Context(), "mfa rate limit: refund", "err", err)
	}
}
