// Package storage defines what Gatehouse persists: the record types, the narrow store
// interfaces each consumer depends on, the error sentinels every backend returns, and the
// composite Storage interface that backends implement. Backends live in sub-packages
// (sqlite, and later postgres); storagetest holds the one conformance suite they all pass.
//
// Rules every backend follows:
//   - Secret-bearing values (authorization codes, refresh tokens, session IDs) arrive here
//     already hashed by the caller; a backend never sees the clear text.
//   - Times are stored and returned in UTC with at least millisecond precision.
//   - Operations documented as atomic are atomic across every handle opened on the same
//     database (several replicas behave as one server).
//   - No callback passed to a backend may call back into storage.
package storage

import (
	"context"
	"errors"
	"time"
)

// Error sentinels. Backends wrap them with %w; callers test with errors.Is.
var (
	// ErrNotFound: no record with that key, or it has expired.
	ErrNotFound = errors.New("storage: not found")
	// ErrAlreadyExists: a record with that key already exists.
	ErrAlreadyExists = errors.New("storage: already exists")
	// ErrConflict: a concurrent update won; the caller's view is stale.
	ErrConflict = errors.New("storage: conflict")
	// ErrReused: a single-use value (authorization code, refresh token) was presented again.
	ErrReused = errors.New("storage: already used")
	// ErrSchemaTooNew: the database was migrated by a newer Gatehouse than this binary.
	// Waiting cannot fix it (start the newer binary, or restore a backup).
	ErrSchemaTooNew = errors.New("the database schema is newer than this binary")
)

// Identity is the canonical, normalized identity of a user as Gatehouse asserts it downstream.
// It is produced by the claims layer and persisted with auth requests, codes, grants and
// sessions so that tokens can be minted later without asking the upstream again.
type Identity struct {
	// Subject is Gatehouse's internal, stable user ID (the `sub` claim).
	Subject           string         `json:"sub"`
	Email             string         `json:"email,omitempty"`
	EmailVerified     bool           `json:"email_verified,omitempty"`
	Name              string         `json:"name,omitempty"`
	PreferredUsername string         `json:"preferred_username,omitempty"`
	Groups            []string       `json:"groups,omitempty"`
	Extra             map[string]any `json:"extra,omitempty"`
}

// DisplayName is how pages name the user: the email, else the username, else the name, else
// the subject (the first that is set).
func (id Identity) DisplayName() string {
	switch {
	case id.Email != "":
		return id.Email
	case id.PreferredUsername != "":
		return id.PreferredUsername
	case id.Name != "":
		return id.Name
	}
	return id.Subject
}

// Authentication records how and when the user authenticated (OIDC auth_time, amr, acr).
type Authentication struct {
	ConnectorID string    `json:"connector_id"`
	AuthTime    time.Time `json:"auth_time"`
	AMR         []string  `json:"amr,omitempty"`
	ACR         string    `json:"acr,omitempty"`
	// UpstreamSubject is the connector's stable ID for the user.
	UpstreamSubject string `json:"upstream_subject,omitempty"`
	// UpstreamSessionID is the upstream's ID of its session with the user (OIDC sid), when
	// it gave one: what its back-channel logout tokens name (issue 18 item 4).
	UpstreamSessionID string `json:"upstream_session_id,omitempty"`
	// ConnectorData is the connector's private stash (for refresh); opaque to everyone else.
	ConnectorData []byte `json:"connector_data,omitempty"`
	// Device is what the browser that signed in said it is, summarised from fixed names
	// ("Firefox · Linux", session.Device), never the User-Agent header itself; "" when
	// unknown. The account page's list of sessions shows it.
	Device string `json:"device,omitempty"`
}

// AuthRequest is an authorization request in flight, from /authorize until a code is issued
// (or the user gives up). Its ID is random and travels in URLs and forms; FlowHash binds it
// to the browser that started it (the hash of a value held in a cookie).
type AuthRequest struct {
	ID       string
	FlowHash string
	// Protocol is how the request came in, and so how its flow ends: an OIDC authorization
	// request answered with a code, or a SAML AuthnRequest answered with an assertion. The
	// zero value reads as ProtocolOIDC.
	Protocol Protocol
	// ClientID is the OIDC client, or the SAML service provider's pseudo-client
	// ("saml:"+SP ID), whose policy (allowed connectors, trust, requirements, MFA) applies.
	ClientID string
	// The OAuth 2.0 / OIDC request (Protocol oidc only; empty for SAML). With Protocol
	// forward-auth, RedirectURI is the original URL the browser returns to (on a configured
	// host of the app ClientID names) and the other OIDC fields are empty.
	RedirectURI         string
	ResponseType        string
	ResponseMode        string
	State               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
	// DPoPJKT is the dpop_jkt of the authorization request (RFC 9449 10): the thumbprint of
	// the DPoP key the code is bound to; empty when none was given.
	DPoPJKT string
	// RequestedClaims is what the claims parameter asked for (OIDC Core 5.5; OIDC only);
	// nil when the request had none.
	RequestedClaims *RequestedClaims
	// SAML is the SAML request this auth request answers (Protocol saml only).
	SAML *SAMLRequest
	// Resources are the resource indicators of the request (RFC 8707; OIDC only): the
	// access tokens of its code may be issued for these.
	Resources []string
	// What the login must satisfy, whatever the protocol.
	Scopes    []string
	Prompt    []string // login (ForceAuthn), none (IsPassive), consent, select_account
	MaxAge    int      // seconds; -1 when absent
	LoginHint string
	// ConnectorID is the connector the request named (connector_id): it is bound to it and
	// no other connector may complete it. Empty: the user chooses.
	ConnectorID string
	ACRValues   []string
	// UILocales is the request's ui_locales (OIDC Core 3.1.2.1): space-separated BCP 47 tags,
	// preferred first, the pages' language unless the user chose one; "" when absent.
	UILocales string
	// ConnectorState is what a redirect connector stashed at Begin (nonce, PKCE verifier, ...),
	// and nothing else.
	ConnectorState []byte
	// MFA is the second-factor step in progress (nil: none).
	MFA *MFAProgress
	// Set once the user has authenticated. While a redirect login is in progress,
	// Auth.ConnectorID names its connector (whose ConnectorState is stashed).
	LoggedIn bool
	Identity Identity
	Auth     Authentication
	// SessionID is the hash of the SSO session this request was authenticated in.
	SessionID string
	CreatedAt time.Time
	Expiry    time.Time
}

// Protocol is the protocol an auth request came in by.
type Protocol string

// The protocols.
const (
	ProtocolOIDC Protocol = "oidc" // an OAuth 2.0 / OpenID Connect authorization request
	ProtocolSAML Protocol = "saml" // a SAML 2.0 AuthnRequest, or an IdP-initiated login
	// ProtocolForwardAuth is a login for a protected app behind a forward-auth proxy: it ends
	// by setting the forward-auth cookie and redirecting to RedirectURI (the original URL).
	ProtocolForwardAuth Protocol = "forward-auth"
	// ProtocolAccount is a sign-in to the user's own account page (/account): it ends by
	// returning to that page, and issues nothing to any client.
	ProtocolAccount Protocol = "account"
)

// SAMLRequest is the SAML side of an auth request: what the assertion must answer.
type SAMLRequest struct {
	// SP is the service provider's ID (service_providers[].id).
	SP string `json:"sp"`
	// RequestID is the AuthnRequest's ID (the Response's InResponseTo); empty when the login
	// was IdP-initiated.
	RequestID string `json:"request_id,omitempty"`
	// ACSURL is the validated assertion consumer service URL the Response is posted to.
	ACSURL string `json:"acs_url"`
	// RelayState goes back to the SP unchanged.
	RelayState string `json:"relay_state,omitempty"`
	// Policy is what the request asks of the assertion (NameIDPolicy,
	// RequestedAuthnContext), in the IdP's own encoding (samlidp.AuthnRequest.Policy).
	Policy string `json:"policy,omitempty"`
	// Parked marks a POST-binding request stored until the browser comes back with a GET
	// (which carries the SameSite=Lax cookies); a parked request is not yet bound to a browser.
	Parked bool `json:"parked,omitempty"`
}

// MFAProgress is a second-factor step in progress in an auth request.
type MFAProgress struct {
	// StepUp: an existing SSO session is being upgraded (not a fresh login).
	StepUp bool `json:"step_up,omitempty"`
	// TOTP is a TOTP enrolment in progress (mfa.TOTPSetup.State).
	TOTP string `json:"totp,omitempty"`
	// WebAuthn is a WebAuthn ceremony in progress (registration or assertion state).
	WebAuthn string `json:"webauthn,omitempty"`
	// Verified is the amr method once the factor passed at enrolment, while the user reads
	// their recovery codes.
	Verified string `json:"verified,omitempty"`
}

// AuthCode is an issued authorization code. Hash is the SHA-256 (hex or base64url) of the code.
type AuthCode struct {
	Hash                string
	ClientID            string
	RedirectURI         string
	Scopes              []string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
	Identity            Identity
	Auth                Authentication
	SessionID           string
	// GrantID is the grant (token family) this code's tokens belong to; revoking it revokes
	// everything issued from the code.
	GrantID string
	// DPoPJKT binds the code to a DPoP key (dpop_jkt at /authorize, RFC 9449 10): it is
	// redeemed only with a proof of that key. Empty: unbound.
	DPoPJKT string
	// Resources are the resource indicators (RFC 8707) of the authorization request.
	Resources []string
	// RequestedClaims are the claims the claims parameter asked for that the user consented
	// to (OIDC Core 5.5); nil when none.
	RequestedClaims *RequestedClaims
	CreatedAt       time.Time
	Expiry          time.Time
	// Consumed is set by ConsumeCode; a second ConsumeCode returns ErrReused.
	Consumed bool
}

// Grant is one login's token family for one client: every access and refresh token issued
// from one authorization code belongs to it. Revoking the grant revokes them all.
type Grant struct {
	ID             string
	ClientID       string
	Scopes         []string
	Nonce          string
	Identity       Identity
	Auth           Authentication
	SessionID      string
	CreatedAt      time.Time
	AbsoluteExpiry time.Time
	Revoked        bool
	RevokedAt      time.Time
	// DPoPJKT is the thumbprint of the DPoP key the grant's refresh tokens are bound to
	// (RFC 9449 5: a public client's refresh must prove that key). Empty: not bound.
	DPoPJKT string
	// Resources are the resource indicators (RFC 8707) granted: the access tokens of the
	// grant may be issued for these (a token request narrows them, never widens).
	Resources []string
	// RequestedClaims are the individually requested claims of the grant's authorization
	// (OIDC Core 5.5): every token minted from the grant, refreshed ones too, carries them
	// where they were asked for, as far as the client's policy still allows. Nil: none.
	RequestedClaims *RequestedClaims
}

// RefreshToken is one refresh token of a grant. Hash is the SHA-256 of the opaque token.
type RefreshToken struct {
	Hash       string
	GrantID    string
	CreatedAt  time.Time
	IdleExpiry time.Time
	// UsedAt is set when the token is rotated; it can never be used again.
	UsedAt time.Time
}

// Session is an SSO session. ID is the SHA-256 of the random value held in the cookie.
type Session struct {
	ID             string
	Identity       Identity
	Auth           Authentication
	CreatedAt      time.Time
	LastUsed       time.Time
	IdleExpiry     time.Time
	AbsoluteExpiry time.Time
}

// Consent is a user's recorded decision to let a client see the given scopes, and the
// claims it asked for individually with the claims parameter (OIDC Core 5.5).
type Consent struct {
	Subject  string
	ClientID string
	Scopes   []string
	// Claims are the claims consented to individually (beyond what Scopes release).
	Claims    []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// SigningKey is one token-signing key pair, stored as JWKs (JSON). A key is published in the
// JWKS from CreatedAt, signs from ActiveFrom until it is retired, and stays published until
// ExpiresAt (when every token it signed has expired).
type SigningKey struct {
	ID         string // kid
	Algorithm  string // RS256, ES256, EdDSA
	PrivateJWK []byte
	PublicJWK  []byte
	CreatedAt  time.Time
	ActiveFrom time.Time
	RetiredAt  time.Time // zero while it is (or will be) the signing key
	ExpiresAt  time.Time // zero while not retired
}

// LocalUser is a user of the built-in password store (the `local` connector).
type LocalUser struct {
	Username      string
	Email         string
	EmailVerified bool
	Name          string
	Groups        []string
	PasswordHash  string // bcrypt
	// FromConfig marks a user provisioned from the configuration (`users:`, or the default
	// configuration's generated admin): such a user is deleted at start once the configuration
	// no longer lists it. Users created otherwise are never removed that way.
	FromConfig bool
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// UserLink maps an upstream account (connector ID + upstream subject) to an internal user ID.
type UserLink struct {
	ConnectorID     string
	UpstreamSubject string
	UserID          string
	// Email is the upstream account's verified email address (lowercased) as last seen, or
	// empty. Only backends implementing EmailLinkStore record it.
	Email     string
	CreatedAt time.Time
}

// AuthRequestStore keeps authorization requests in flight.
type AuthRequestStore interface {
	CreateAuthRequest(ctx context.Context, r AuthRequest) error // ErrAlreadyExists
	GetAuthRequest(ctx context.Context, id string) (AuthRequest, error)
	// UpdateAuthRequest loads the request, passes it to fn and stores fn's result atomically.
	// fn must not call storage.
	UpdateAuthRequest(ctx context.Context, id string, fn func(AuthRequest) (AuthRequest, error)) error
	DeleteAuthRequest(ctx context.Context, id string) error
}

// CodeStore keeps authorization codes.
type CodeStore interface {
	CreateAuthCode(ctx context.Context, c AuthCode) error // ErrAlreadyExists
	// ConsumeCode atomically marks the code consumed and returns it. If it was already
	// consumed it returns the record with ErrReused (so the caller can revoke the grant);
	// if it does not exist or has expired at now it returns ErrNotFound.
	ConsumeCode(ctx context.Context, hash string, now time.Time) (AuthCode, error)
}

// GrantStore keeps grants (token families) and their refresh tokens.
type GrantStore interface {
	// CreateGrant stores a grant and, if first is non-nil, its first refresh token, atomically.
	CreateGrant(ctx context.Context, g Grant, first *RefreshToken) error
	GetGrant(ctx context.Context, id string) (Grant, error)
	// RevokeGrant marks the grant revoked; all its refresh tokens stop working. Revoking a
	// revoked or missing grant is not an error.
	RevokeGrant(ctx context.Context, id string, now time.Time) error
	// GetRefreshToken returns a refresh token by hash (used or not).
	GetRefreshToken(ctx context.Context, hash string) (RefreshToken, error)
	// RotateRefreshToken atomically marks the token oldHash used at now and stores next in
	// the same grant. It returns the grant and the old token. Errors:
	//   ErrNotFound  the token does not exist, has passed its idle expiry, or its grant is
	//                revoked or past its absolute expiry;
	//   ErrReused    the token was already used (the old token, with UsedAt, is returned so
	//                the caller can decide to revoke the family); nothing is stored.
	// Of N concurrent rotations of one token exactly one succeeds.
	RotateRefreshToken(ctx context.Context, oldHash string, next RefreshToken, now time.Time) (Grant, RefreshToken, error)
	// ListGrants lists the live (unrevoked) grants of a subject.
	ListGrants(ctx context.Context, subject string) ([]Grant, error)
	// RevokeSessionGrants revokes every grant created in the given SSO session.
	RevokeSessionGrants(ctx context.Context, sessionID string, now time.Time) error
}

// SessionStore keeps SSO sessions.
type SessionStore interface {
	CreateSession(ctx context.Context, s Session) error // ErrAlreadyExists
	GetSession(ctx context.Context, id string) (Session, error)
	// TouchSession sets LastUsed and IdleExpiry (never beyond AbsoluteExpiry).
	TouchSession(ctx context.Context, id string, lastUsed, idleExpiry time.Time) error
	DeleteSession(ctx context.Context, id string) error
}

// ConsentStore keeps users' consent decisions.
type ConsentStore interface {
	// GetConsent returns ErrNotFound when the user never consented to the client.
	GetConsent(ctx context.Context, subject, clientID string) (Consent, error)
	// PutConsent stores the consent, replacing any earlier one for the same subject and client.
	PutConsent(ctx context.Context, c Consent) error
	DeleteConsent(ctx context.Context, subject, clientID string) error
}

// KeyStore keeps signing keys.
type KeyStore interface {
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	// UpdateSigningKeys runs fn over the current key set inside one exclusive transaction
	// (a lease across replicas) and replaces the set with fn's result. If fn returns
	// changed == false nothing is written. fn must not call storage.
	UpdateSigningKeys(ctx context.Context, fn func(current []SigningKey) (next []SigningKey, changed bool, err error)) error
}

// LocalUserStore keeps the built-in password store.
type LocalUserStore interface {
	CreateLocalUser(ctx context.Context, u LocalUser) error // ErrAlreadyExists
	GetLocalUser(ctx context.Context, username string) (LocalUser, error)
	// UpsertLocalUser creates or replaces a user (config-provisioned users are upserted at start).
	UpsertLocalUser(ctx context.Context, u LocalUser) error
	ListLocalUsers(ctx context.Context) ([]LocalUser, error)
	DeleteLocalUser(ctx context.Context, username string) error
}

// LinkStore maps upstream accounts to internal user IDs.
type LinkStore interface {
	// LinkUser returns the user ID linked to (connectorID, upstreamSubject); if there is
	// none it links newUserID atomically and returns it with created == true.
	LinkUser(ctx context.Context, connectorID, upstreamSubject, newUserID string, now time.Time) (userID string, created bool, err error)
	GetUserLink(ctx context.Context, connectorID, upstreamSubject string) (UserLink, error)
}

// GCResult counts what a garbage collection removed.
type GCResult struct {
	AuthRequests, AuthCodes, RefreshTokens, Grants, Sessions, SigningKeys int64
}

// Storage is everything a backend provides.
type Storage interface {
	AuthRequestStore
	CodeStore
	GrantStore
	SessionStore
	ConsentStore
	KeyStore
	LocalUserStore
	LinkStore
	// GC deletes rows that expired before now: auth requests, codes (kept until expiry so
	// replays are detected), refresh tokens past idle expiry, grants past absolute expiry
	// (or revoked and older than their absolute expiry), sessions, expired signing keys.
	GC(ctx context.Context, now time.Time) (GCResult, error)
	// Ping reports whether the backend is reachable (readiness).
	Ping(ctx context.Context) error
	Close() error
}
