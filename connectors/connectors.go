// Package connectors defines how Gatehouse talks to upstream identity sources: the
// capability interfaces a connector implements, the upstream identity it returns, the
// errors it reports, and the registry that maps a connector type name to its config factory.
//
// A connector never imports broker, session, claims or storage: it gets what it needs through
// Deps and its method arguments. Capabilities are optional interfaces in the style of
// net/http's Flusher: the broker tests for them at runtime, implementations pin them with
// interface guards.
package connectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Info names a configured connector.
type Info struct {
	ID   string // unique among connectors, used in URLs
	Type string // registry type name: local, ldap, oidc, ...
	Name string // shown to users
	// Icon is the name of the built-in icon of the connector's button (config
	// connectors[].icon); empty: the type's.
	Icon string
}

// Scopes tells a connector what the downstream client asked for.
type Scopes struct {
	// Offline is true when the client asked for a refresh token (offline_access).
	Offline bool
	// Groups is true when the client asked for group claims.
	Groups bool
	// Requested lists every requested scope.
	Requested []string
}

// Upstream is what the upstream asserted about the user, before any normalization.
type Upstream struct {
	// Subject is the upstream's stable ID for the user (entryUUID, OIDC sub, persistent NameID).
	Subject string
	// SessionID is the upstream's ID of its own session with the user, when it gives one
	// (OIDC sid): what its back-channel logout tokens name.
	SessionID string
	// Username is what the user typed or the upstream's login name, if any.
	Username      string
	Email         string
	EmailVerified bool
	// EmailNotLinkable marks an email that identifies the user only towards this connector
	// (Apple's private relay address, unique per app): it may be verified, but the claims step
	// never links the account to another one by it, and records no linking email for it.
	EmailNotLinkable bool
	Name             string
	// Attrs holds the raw claims or attributes, multi-valued, in the upstream's spelling.
	Attrs  map[string][]string
	Groups []string
	// AuthTime is when the upstream authenticated the user, from its evidence (OIDC auth_time,
	// SAML AuthnInstant) or, for a password checked just now, the time of the check. Zero: the
	// upstream gave no evidence (the broker then uses the login time, unless Reauth demanded
	// a fresh authentication, which then fails with ErrLoginRequired).
	AuthTime time.Time
	AMR      []string
	ACR      string
	// Stash is connector-private data returned to Refresh (an upstream refresh token, a DN).
	Stash []byte
}

// LogoutToken is what a verified upstream back-channel logout token (OpenID Connect
// Back-Channel Logout 1.0) names: the upstream user (Subject), the upstream session
// (SessionID), or both; JTI is the token's unique ID for the receiver's replay check.
type LogoutToken struct {
	Subject, SessionID, JTI string
	IssuedAt                time.Time
	// Expiry is the token's exp: a receiver keeps its JTI at least until then.
	Expiry time.Time
}

// LogoutTokenVerifier is implemented by connectors whose upstream sends back-channel logout
// tokens (the oidc connector): VerifyLogoutToken checks one as Back-Channel Logout 1.0 2.6
// says (signature against the upstream's keys, iss, aud, iat/exp, events, sub or sid, no
// nonce, typ logout+jwt when typed) and returns what it names.
type LogoutTokenVerifier interface {
	Connector
	VerifyLogoutToken(ctx context.Context, raw string) (LogoutToken, error)
}

// LogoutRequest asks a connector how to end the user's session at the upstream.
type LogoutRequest struct {
	// Upstream is what the login recorded: Subject, SessionID and the connector's Stash.
	Upstream Upstream
	// ReturnURL is where the upstream sends the browser back when its logout is done
	// ({issuer}/logout/upstream), registered at the upstream.
	ReturnURL string
	// State is the broker's opaque value that must come back unchanged with the browser.
	State string
}

// ErrNoUpstreamLogout: the upstream offers no way to end its session (no
// end_session_endpoint in its discovery, no single logout service in its metadata).
var ErrNoUpstreamLogout = errors.New("connectors: the upstream offers no logout")

// UpstreamLogoutConnector is implemented by redirect connectors that can end the user's
// session at the upstream through the browser (OIDC RP-Initiated Logout, SAML single logout).
type UpstreamLogoutConnector interface {
	Connector
	// LogoutStep returns where to send the browser to end the upstream session: a redirect,
	// or a form to POST. It returns ErrNoUpstreamLogout when the upstream offers none and an
	// *UpstreamError when the upstream cannot be reached. Step.Stash, when set, is handed
	// back to FinishLogout.
	LogoutStep(ctx context.Context, req LogoutRequest) (Step, error)
	// FinishLogout checks the upstream's answer when the browser comes back to ReturnURL
	// (the state already matched by the broker): a SAML LogoutResponse is verified; an OIDC
	// upstream sends nothing to check. An error means the upstream did not confirm the
	// logout.
	FinishLogout(ctx context.Context, stash []byte, r *http.Request) error
}

// UpstreamLogoutRequest is a logout the upstream started through the browser (a SAML IdP's
// LogoutRequest): it names the upstream user and sessions whose Gatehouse sessions end.
type UpstreamLogoutRequest struct {
	// ID identifies the request; the answer refers to it.
	ID string
	// Subject is the upstream user as the connector's logins record it (Upstream.Subject),
	// "" when the request names the user in another way.
	Subject string
	// SessionIDs are the upstream sessions it names (SAML SessionIndex, as logins record
	// them in Upstream.SessionID); none: every session of Subject.
	SessionIDs []string
	// RelayState goes back unchanged with the answer.
	RelayState string
}

// LogoutRequestReceiver is implemented by connectors whose upstream sends logout requests
// through the browser (SAML IdP-initiated single logout) to {issuer}/saml/sp/{id}/slo.
type LogoutRequestReceiver interface {
	Connector
	// ReadLogoutRequest validates the upstream's request (signature, destination, issuer,
	// freshness, single use) and returns what it names; an error means it is refused.
	ReadLogoutRequest(ctx context.Context, r *http.Request) (UpstreamLogoutRequest, error)
	// AnswerLogoutRequest returns the answer to send the browser back with: a success when
	// complete, else a partial logout.
	AnswerLogoutRequest(ctx context.Context, req UpstreamLogoutRequest, complete bool) (Step, error)
}

// Connector is implemented by every connector.
type Connector interface {
	Info() Info
	Close() error
}

// PasswordConnector authenticates a username and password typed into Gatehouse's own form.
type PasswordConnector interface {
	Connector
	// Prompt is the label of the username field ("Username", "Email").
	Prompt() string
	// Login checks the credentials. Wrong credentials, unknown users and empty passwords
	// return ErrBadCredentials (and take about as long as a wrong password).
	Login(ctx context.Context, s Scopes, username, password string) (Upstream, error)
}

// BeginRequest starts a redirect login.
type BeginRequest struct {
	Scopes Scopes
	// CallbackURL is where the upstream must send the user back ({issuer}/callback/{id}).
	CallbackURL string
	// State is the broker's opaque value that must come back unchanged (OAuth state, RelayState).
	State     string
	LoginHint string
	// Reauth is what the downstream request demands of the upstream authentication
	// (prompt=login, max_age, SAML ForceAuthn). A connector that can ask its upstream for it
	// does; one that cannot prove it returns ErrLoginRequired.
	Reauth Reauth
}

// Reauth is a demand for a fresh upstream authentication. The zero value demands nothing.
type Reauth struct {
	// Force asks the upstream to authenticate the user again whatever session it has (OIDC
	// prompt=login, SAML ForceAuthn). The broker sets it for prompt=login and max_age=0.
	Force bool
	// MaxAge, when positive, is the downstream max_age to pass on (OIDC max_age).
	MaxAge time.Duration
	// NotBefore is the earliest upstream authentication time that satisfies the demand;
	// zero when nothing is demanded.
	NotBefore time.Time
}

// Demanded reports whether the upstream must prove a fresh authentication.
func (r Reauth) Demanded() bool { return !r.NotBefore.IsZero() }

// Check returns an error wrapping ErrLoginRequired unless authTime, the upstream's evidence
// of when it authenticated the user (OIDC auth_time, SAML AuthnInstant; zero when the
// upstream said nothing), satisfies the demand.
func (r Reauth) Check(authTime time.Time) error {
	switch {
	case !r.Demanded():
		return nil
	case authTime.IsZero():
		return fmt.Errorf("%w: the upstream did not say when it authenticated the user", ErrLoginRequired)
	case authTime.Before(r.NotBefore):
		return fmt.Errorf("%w: the upstream authenticated the user at %s, before the required %s",
			ErrLoginRequired, authTime.UTC().Format(time.RFC3339), r.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

// Step is what the broker does next in a redirect login: redirect the browser to URL, or,
// when PostForm is non-nil, auto-submit those form values to URL (SAML POST binding).
type Step struct {
	URL      string
	PostForm map[string]string
	// Stash is kept by the broker with the auth request and handed back to Finish.
	Stash []byte
}

// FinishRequest completes a redirect login.
type FinishRequest struct {
	Scopes      Scopes
	CallbackURL string
	State       string
	Stash       []byte
	// Reauth is the demand Begin was given; Finish refuses an identity whose AuthTime does
	// not satisfy it (Reauth.Check).
	Reauth Reauth
}

// RedirectConnector authenticates by sending the browser to the upstream and back.
type RedirectConnector interface {
	Connector
	Begin(ctx context.Context, req BeginRequest) (Step, error)
	Finish(ctx context.Context, req FinishRequest, r *http.Request) (Upstream, error)
}

// RequestConnector authenticates from the login request itself, with no form and no
// redirect: identity headers set by a trusted front proxy that did its own authentication.
// The broker calls Authenticate when the user picks the connector. A request the connector
// may not believe returns an error wrapping ErrUntrustedRequest; nothing of it is used.
type RequestConnector interface {
	Connector
	Authenticate(ctx context.Context, s Scopes, r *http.Request) (Upstream, error)
}

// ProxyHeaderConfig is implemented by connector configs that believe headers set by a front
// proxy (authproxy). ProxyNeeds reports what the connector, as configured, needs of the web
// configuration; check-config refuses the connector when it is missing.
type ProxyHeaderConfig interface {
	ProxyNeeds() ProxyNeeds
}

// ProxyNeeds is what a ProxyHeaderConfig needs of the web configuration.
type ProxyNeeds struct {
	// TrustedProxies: web.trusted_proxies must list the proxy.
	TrustedProxies bool
	// ClientCA: web.client_ca must be set (the proxy's client certificate is checked).
	ClientCA bool
}

// RefreshConnector re-checks the upstream when a downstream client refreshes its tokens.
type RefreshConnector interface {
	Connector
	// Refresh returns the user's current identity, or ErrUpstreamRevoked when the upstream
	// no longer vouches for the user (account disabled, deleted, refresh token revoked).
	Refresh(ctx context.Context, s Scopes, prev Upstream) (Upstream, error)
}

// IDTokenVerifier is implemented by a connector that can verify an ID token its upstream
// issued to the connector's own client (signature against the upstream's keys, issuer,
// audience = the connector's client_id, expiry) outside a login: token exchange (RFC 8693)
// accepts such a token as a subject token.
type IDTokenVerifier interface {
	Connector
	// VerifyIDToken returns the identity the ID token asserts, or an error when it does not
	// verify (an *UpstreamError when the upstream's keys cannot be fetched).
	VerifyIDToken(ctx context.Context, raw string) (Upstream, error)
}

// UsernameCanonicalizer is implemented by a password connector whose upstream treats
// several spellings of a username as one account (a domain prefix, surrounding spaces):
// CanonicalUsername returns the one spelling. The broker keys its per-account attempt budget
// on it.
type UsernameCanonicalizer interface {
	CanonicalUsername(username string) string
}

// NegotiateConnector is implemented by a password connector that also signs in a browser
// holding a Kerberos ticket (SPNEGO, RFC 4559: "Authorization: Negotiate <token>") without
// showing its form. The broker answers the form page with 401 and "WWW-Authenticate:
// Negotiate", the form as the body, and hands the header of the retry to Negotiate.
type NegotiateConnector interface {
	PasswordConnector
	// Negotiate checks the value of an Authorization header. It returns ErrNoTicket when the
	// header carries no Kerberos ticket (absent, another scheme, an NTLM token): the broker
	// then shows the form. A ticket that is refused (wrong service key, expired, replayed,
	// another realm, unknown user) returns ErrBadCredentials.
	Negotiate(ctx context.Context, s Scopes, authorization string) (Upstream, error)
}

// PasswordChanger is implemented by a password connector whose users may change their own
// password (the local connector; the account page offers it). ChangePassword checks current
// against the stored password of the user whose upstream subject is subject, in constant time
// (as Login does: ErrBadCredentials when wrong, the user unknown or disabled), then stores
// next as the connector stores passwords, or refuses it with a *PasswordPolicyError and
// changes nothing. A failing store returns an *UpstreamError.
type PasswordChanger interface {
	PasswordConnector
	ChangePassword(ctx context.Context, subject, current, next string) error
}

// PasswordPolicyError reports a new password the connector's password policy refuses.
// Reason is user-safe: a message ID of the page catalogs (web/locales).
type PasswordPolicyError struct{ Reason string }

func (e *PasswordPolicyError) Error() string { return "password policy: " + e.Reason }

// HealthChecker is implemented by connectors that can tell whether their upstream is up.
type HealthChecker interface {
	Check(ctx context.Context) error
}

// Errors connectors return.
var (
	// ErrBadCredentials: wrong username or password, unknown user, or an empty password.
	ErrBadCredentials = errors.New("connectors: invalid username or password")
	// ErrUpstreamRevoked: the upstream no longer vouches for this user.
	ErrUpstreamRevoked = errors.New("connectors: upstream revoked the user")
	// ErrLoginRequired: a fresh authentication was demanded (Reauth) and the upstream cannot
	// ask for one or did not prove one. The broker answers the client login_required.
	ErrLoginRequired = errors.New("connectors: the upstream did not prove a fresh authentication")
	// ErrNoTicket: a NegotiateConnector got no Kerberos ticket to check; the broker shows the
	// password form instead.
	ErrNoTicket = errors.New("connectors: no Kerberos ticket")
	// ErrUntrustedRequest: a RequestConnector refused the request: it did not come from a
	// trusted proxy, lacked the proxy's proof, or named no user (or an ambiguous one).
	ErrUntrustedRequest = errors.New("connectors: the request did not come through the trusted proxy")
	// ErrReplayed: a ReplayCache already holds the identifier.
	ErrReplayed = errors.New("connectors: already used")
)

// ReplayCache records single-use identifiers (SAML assertion IDs) until they expire, shared
// by every replica, so that a message replayed to another replica is refused too.
// cmd/gatehouse fills it from storage.
type ReplayCache interface {
	// Consume records id as used until expiresAt, atomically across replicas. It returns
	// ErrReplayed when id is recorded and live, and any other error when it cannot record
	// it; the caller refuses the message on every error.
	Consume(ctx context.Context, id string, expiresAt time.Time) error
}

// UpstreamError reports that the upstream could not be reached or answered badly. The broker
// shows a "provider unavailable" page for it and keeps serving the other connectors.
type UpstreamError struct {
	Temporary bool
	Err       error
	// Stash, when set, is connector state the upstream changed before the failure (it
	// rotated a refresh token, then an API read failed): the broker stores it in place of the
	// old stash, which the upstream no longer accepts, so the next attempt can succeed.
	Stash []byte
}

func (e *UpstreamError) Error() string { return "upstream unavailable: " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *UpstreamError) Unwrap() error { return e.Err }

// DeniedError reports that the upstream authenticated the user but the user may not log in
// here (not in a required org or group). Reason is shown to the user.
type DeniedError struct{ Reason string }

func (e *DeniedError) Error() string { return "access denied: " + e.Reason }

// Deps is what a connector gets from the broker when it is opened.
type Deps struct {
	Logger      *slog.Logger
	HTTP        *http.Client
	CallbackURL string
	Now         func() time.Time
	// ReplayCache is the shared record of single-use upstream message IDs; nil: a bounded
	// in-memory record per process (one replica only).
	ReplayCache ReplayCache
	// TrustedProxies is web.trusted_proxies: the immediate peers whose forwarding and
	// identity headers may be believed (by a RequestConnector, among others).
	TrustedProxies []netip.Prefix
	// Attributes are the upstream attributes the connector's claims rules read (attrs.x,
	// attrs["x"]), spelled as the rules spell them. A connector that fetches only the
	// attributes it asks for (LDAP) asks for these too and reports them under these names;
	// the others may ignore the list.
	Attributes []string
	// UpstreamLogout is the connector block's logout: upstream: a connector that publishes
	// metadata lists its single logout service only then.
	UpstreamLogout bool
	// Keys keeps what the connector generates and every replica must share (the SAML
	// connector's SP key pairs), private to this connector; nil: the backend cannot keep
	// them, and a connector that needs it refuses to open.
	Keys KeyStore
}

// ErrKeyNotFound: a KeyStore holds no live value under the name.
var ErrKeyNotFound = errors.New("connectors: no such stored key")

// KeyStore keeps a connector's generated key material in storage, shared by every replica
// and visible to no other connector. cmd/gatehouse fills it from storage (storage.BlobStore
// under a per-connector prefix). Values are secrets: implementations never log them.
type KeyStore interface {
	// Get returns the live value stored under name, or ErrKeyNotFound.
	Get(ctx context.Context, name string) ([]byte, error)
	// PutIfAbsent stores value under name until expiresAt (zero: forever) unless a live
	// value is stored there, atomically across replicas, and returns the value now stored:
	// the caller's, or the one another replica stored first.
	PutIfAbsent(ctx context.Context, name string, value []byte, expiresAt time.Time) ([]byte, error)
}

// Config is a connector's typed configuration. It is decoded strictly, validated without
// I/O (check-config), then opened. Open must not block on the network.
type Config interface {
	// Validate reports every problem with the configuration, without side effects.
	Validate() error
	// Open builds the connector.
	Open(ctx context.Context, info Info, deps Deps) (Connector, error)
}

// EmailVerifier is implemented by connector configs that can report an email as verified
// only under some setting (LDAP and SAML without trust_email, GitLab self-managed without
// trust_email). VerifiesEmail reports whether the connector, as configured, can prove an
// email verified; when it cannot, key is the config key (under the connector's config block)
// that would make it trust its upstream. Configs that do not implement it report emails as
// verified exactly when their upstream says so.
//
// Linking by verified email and email-domain requirements are refused at config time on a
// connector that cannot prove verification (see claims.CheckConnectorTrust).
type EmailVerifier interface {
	VerifiesEmail() (ok bool, key string)
}

// GroupVerifier is implemented by connector configs whose groups can be trusted for
// requirements only under some setting (Microsoft's multi-tenant endpoints without
// allowed_tenants: any tenant's users sign in, with groups of their own tenant).
// VerifiesGroups reports whether group requirements (claims.require.groups, a client's
// require.groups) may rely on this connector's groups; when not, key is the config key that
// would make them trustworthy.
type GroupVerifier interface {
	VerifiesGroups() (ok bool, key string)
}

// AttributeValidator is implemented by connector configs that fetch the attributes claims
// rules read on request (connectors.Deps.Attributes) and refuse some of them (LDAP: names
// that are not attribute descriptions, attributes holding password material).
// ValidateAttribute says why a rule may not read the attribute, or returns nil.
type AttributeValidator interface {
	ValidateAttribute(name string) error
}

// Registry maps a connector type name to a factory of its empty config. cmd/gatehouse fills it.
type Registry map[string]func() Config

// New returns a fresh, empty config for a type, or an error naming the known types.
func (r Registry) New(typ string) (Config, error) {
	f, ok := r[typ]
	if !ok {
		known := make([]string, 0, len(r))
		for k := range r {
			known = append(known, k)
		}
		slices.Sort(known)
		return nil, fmt.Errorf("unknown connector type %q (known: %s)", typ, strings.Join(known, ", "))
	}
	return f(), nil
}
