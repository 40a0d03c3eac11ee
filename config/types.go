package config

import (
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole Gatehouse configuration file.
type Config struct {
	// Issuer is the OIDC issuer URL; every endpoint lives under it.
	Issuer string `yaml:"issuer"`
	Web    Web    `yaml:"web"`
	// Admin is the separate listener for metrics and health (optional).
	Admin      Admin            `yaml:"admin"`
	Storage    Storage          `yaml:"storage"`
	Expiry     Expiry           `yaml:"expiry"`
	Signing    Signing          `yaml:"signing"`
	Logging    Logging          `yaml:"logging"`
	Clients    []Client         `yaml:"clients"`
	Connectors []ConnectorBlock `yaml:"connectors"`
	Users      []User           `yaml:"users"`
	Example    ExampleClient    `yaml:"example"`
	// MFA configures second factors (TOTP, WebAuthn); policies are set per connector and client.
	MFA MFA `yaml:"mfa"`
	// Scopes declares custom scopes; each releases the listed identity claims.
	Scopes []Scope `yaml:"scopes"`
	// PairwiseSalt is the secret mixed into pairwise subjects; required when a client uses
	// subject_type: pairwise. Changing it changes every pairwise sub.
	PairwiseSalt string `yaml:"pairwise_salt" secret:"file"`
	// ClaimsTests are golden cases for the claims pipeline, run by check-config.
	ClaimsTests []ClaimsTest `yaml:"claims_tests"`
	// SAMLIdP configures Gatehouse as a SAML 2.0 identity provider for ServiceProviders.
	SAMLIdP SAMLIdP `yaml:"saml_idp"`
	// ServiceProviders are the SAML 2.0 service providers Gatehouse signs users in to.
	ServiceProviders []ServiceProvider `yaml:"service_providers"`
	// Secrets holds the seal keys that encrypt secrets at rest.
	Secrets Secrets `yaml:"secrets"`
	// Audit configures the audit trail: how long events are kept, and a log stream.
	Audit Audit `yaml:"audit"`
	// OAuth2 holds settings of the authorization server that apply to every client.
	OAuth2 OAuth2 `yaml:"oauth2"`
	// ProtectedApps are the apps behind a reverse proxy that asks Gatehouse's forward-auth
	// endpoint about every request (docs/forward-auth.md).
	ProtectedApps []ProtectedApp `yaml:"protected_apps"`
	// ForwardAuth configures the forward-auth endpoint's session cookie and assertion.
	ForwardAuth ForwardAuth `yaml:"forward_auth"`
	// Tracing exports OpenTelemetry spans over OTLP/HTTP; off when otlp_endpoint is empty.
	Tracing Tracing `yaml:"tracing"`
	// DPoP configures the validation of DPoP proofs (RFC 9449).
	DPoP DPoP `yaml:"dpop"`
	// Login configures the sign-in page (docs/login.md).
	Login Login `yaml:"login"`
	// Registration configures Dynamic Client Registration (RFC 7591/7592); off by default.
	Registration Registration `yaml:"registration"`

	// src records where each key came from (set by Parse) so Validate can cite file:line.
	src *source
}

// Web configures the public listener.
type Web struct {
	HTTP           string   `yaml:"http"`
	HTTPS          string   `yaml:"https"`
	TLSCert        string   `yaml:"tls_cert"`
	TLSKey         string   `yaml:"tls_key"`
	AllowedOrigins []string `yaml:"allowed_origins"`
	// TrustedProxies lists proxy addresses whose X-Forwarded-For is believed (rate limits, logs).
	TrustedProxies []string `yaml:"trusted_proxies"`
	// ClientCA is a PEM file of CA certificates: the https listener asks clients for a
	// certificate and verifies one that is presented against these CAs (a front proxy's
	// mutual TLS, checked by the authproxy connector's client_cert_names). Needs web.https.
	ClientCA string `yaml:"client_ca"`
	// TemplatesDir is a theme: its templates/*.html and static/* replace the embedded web
	// assets of the same name, file by file (everything it lacks stays embedded), and its
	// locales/<tag>.json catalogs override or add messages and languages (docs/languages.md).
	TemplatesDir string `yaml:"templates_dir"`
	// ShutdownDelay: on SIGTERM, /readyz answers 503 at once and the listeners keep serving
	// for this long (so a load balancer or Kubernetes stops sending traffic) before in-flight
	// requests are drained and the process exits. Default 0s; 5s suits Kubernetes.
	ShutdownDelay Duration `yaml:"shutdown_delay"`
	// MaxConnections bounds the open connections of each public listener (0: 4096). Above
	// three quarters of it idle keep-alive connections are closed; at it, new connections
	// wait in the kernel's backlog. Each open connection holds about 14 KB of memory.
	MaxConnections int `yaml:"max_connections"`
}

// Admin configures the admin listener (health, metrics). Empty: health is on the public
// listener and metrics are not served.
type Admin struct {
	HTTP string `yaml:"http"`
	// PProf serves net/http/pprof under /debug/pprof/ on the admin listener (never the
	// public one); it needs admin.http.
	PProf bool `yaml:"pprof"`
	// Clients are the configured clients that may call the admin API (docs/admin-api.md):
	// with a client_credentials access token carrying the gatehouse:admin scope, which only
	// they may have in allowed_scopes. Empty: the admin API is not served.
	Clients []string `yaml:"clients"`
	// TLSCert and TLSKey serve the admin listener over https (PEM files, reloaded when they
	// change); empty: plain HTTP (keep it on a private address).
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// ClientCA (needs TLSCert) verifies client certificates presented to the admin listener: a
	// verified certificate whose subject common name is one of Clients authenticates an admin
	// API caller as that client (mutual TLS), besides bearer tokens.
	ClientCA string `yaml:"client_ca"`
}

// Audit configures the audit trail (stored security events).
type Audit struct {
	// Retention is how long events are kept (default 2160h, 90 days); the GC loop deletes
	// older ones.
	Retention Duration `yaml:"retention"`
	// Log also writes every event as a log line (message "audit").
	Log bool `yaml:"log"`
}

// Tracing configures OpenTelemetry tracing (docs/observability.md).
type Tracing struct {
	// OTLPEndpoint is the collector's OTLP/HTTP URL (http or https); with no path,
	// /v1/traces is used. Empty: tracing is off.
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// SampleRatio is the share of new traces sampled, 0 to 1 (default 0.1); a request that
	// arrives with a sampled W3C traceparent from a trusted proxy follows its parent.
	SampleRatio *float64 `yaml:"sample_ratio"`
}

// DefaultSampleRatio is tracing.sample_ratio when it is not set.
const DefaultSampleRatio = 0.1

// Ratio is the sample ratio, DefaultSampleRatio when unset.
func (t Tracing) Ratio() float64 {
	if t.SampleRatio == nil {
		return DefaultSampleRatio
	}
	return *t.SampleRatio
}

// Storage selects and configures the storage backend.
type Storage struct {
	Type   string        `yaml:"type"` // sqlite (default) | postgres
	Config StorageConfig `yaml:"config"`
}

// StorageConfig holds the settings of every backend; each backend reads its own keys.
type StorageConfig struct {
	File string `yaml:"file"`              // sqlite
	DSN  string `yaml:"dsn" secret:"file"` // postgres
	// Postgres discrete fields (used when DSN is empty).
	Host        string `yaml:"host"`
	Port        int    `yaml:"port"`
	Database    string `yaml:"database"`
	User        string `yaml:"user"`
	Password    string `yaml:"password" secret:"file"`
	SSLMode     string `yaml:"ssl_mode"`
	SSLRootCert string `yaml:"ssl_root_cert"`
	MaxConns    int    `yaml:"max_conns"`
	// ConnectTimeout (postgres): how long `serve` keeps retrying an unreachable database at
	// start, with backoff and readiness false meanwhile, before it gives up. Default 60s.
	ConnectTimeout Duration `yaml:"connect_timeout"`
}

// Expiry holds every lifetime. Zero values are replaced by defaults in Defaults().
type Expiry struct {
	IDTokens      Duration      `yaml:"id_tokens"`
	AccessTokens  Duration      `yaml:"access_tokens"`
	AuthCodes     Duration      `yaml:"auth_codes"`
	AuthRequests  Duration      `yaml:"auth_requests"`
	RefreshTokens RefreshExpiry `yaml:"refresh_tokens"`
	Sessions      SessionExpiry `yaml:"sessions"`
	SigningKeys   Duration      `yaml:"signing_keys"`
}

// RefreshExpiry bounds refresh tokens: Absolute from the login, Idle between uses.
type RefreshExpiry struct {
	Absolute Duration `yaml:"absolute"`
	Idle     Duration `yaml:"idle"`
	// ReuseGrace: a client whose refresh response was lost (a replica died, the connection
	// dropped) may retry with the previous refresh token for this long while its successor is
	// unused; it gets a fresh pair and the unused successor is revoked. Any other reuse
	// revokes the family. Default 5s; 0s turns the retry off.
	ReuseGrace Duration `yaml:"reuse_grace"`
}

// SessionExpiry bounds SSO sessions.
type SessionExpiry struct {
	Absolute Duration `yaml:"absolute"`
	Idle     Duration `yaml:"idle"`
}

// Signing selects the token signing algorithm and where the private keys live.
type Signing struct {
	Algorithm string `yaml:"algorithm"` // RS256 | ES256 | EdDSA (pkcs11: RS256 | ES256)
	// Backend is where the private signing keys live: "storage" (the default; sealed with
	// secrets.keys) or "pkcs11" (generated in a PKCS#11 token and never leave it; needs a
	// binary built with -tags pkcs11).
	Backend string `yaml:"backend"`
	// Module is the PKCS#11 library (e.g. /usr/lib/softhsm/libsofthsm2.so).
	Module string `yaml:"module"`
	// TokenLabel selects the token by its label.
	TokenLabel string `yaml:"token_label"`
	// PinFile holds the user PIN of the token (read at start; surrounding whitespace ignored).
	PinFile string `yaml:"pin_file"`
	// KeyLabel prefixes the labels of the keys Gatehouse creates in the token
	// (key_label-<kid>); keys are found by their CKA_ID, the kid.
	KeyLabel string `yaml:"key_label"`
}

// Logging configures log output.
type Logging struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // text | json
}

// Client is a registered OAuth 2.0 / OIDC client (relying party).
type Client struct {
	ID                     string   `yaml:"id"`
	Name                   string   `yaml:"name"`
	Secret                 string   `yaml:"secret" secret:"file"`
	Public                 bool     `yaml:"public"`
	RedirectURIs           []string `yaml:"redirect_uris"`
	PostLogoutRedirectURIs []string `yaml:"post_logout_redirect_uris"`
	// BackchannelLogoutURI receives a signed logout token (OpenID Connect Back-Channel
	// Logout 1.0) when an SSO session the client took part in ends (docs/logout.md); https
	// unless on loopback.
	BackchannelLogoutURI string `yaml:"backchannel_logout_uri"`
	// BackchannelLogoutSessionRequired says the client needs sid in the logout token
	// (Gatehouse always sends it).
	BackchannelLogoutSessionRequired bool `yaml:"backchannel_logout_session_required"`
	// FrontchannelLogoutURI is loaded in an iframe of the logout page when an SSO session the
	// client took part in ends (OpenID Connect Front-Channel Logout 1.0); https unless on
	// loopback.
	FrontchannelLogoutURI string `yaml:"frontchannel_logout_uri"`
	// FrontchannelLogoutSessionRequired adds iss and sid to the front-channel logout URI.
	FrontchannelLogoutSessionRequired bool `yaml:"frontchannel_logout_session_required"`
	Trusted                           bool `yaml:"trusted"`
	// AllowedConnectors limits which connectors this client's users may log in with (empty: all).
	AllowedConnectors []string `yaml:"allowed_connectors"`
	AllowedOrigins    []string `yaml:"allowed_origins"`
	// Require lists what a user needs to use this client (checked after every login).
	Require Requirement `yaml:"require"`
	// Claims adds claims to this client's ID tokens and userinfo responses.
	Claims ClientClaims `yaml:"claims"`
	// SubjectType is public (default: sub is the internal user ID) or pairwise (OIDC Core 8).
	SubjectType string `yaml:"subject_type"`
	// MFA is this client's second-factor policy: required | optional | off (default off).
	MFA string `yaml:"mfa"`
	// GrantTypes are the grant types the client may use (default: authorization_code and
	// refresh_token); a grant it may not use gets unauthorized_client.
	GrantTypes []string `yaml:"grant_types"`
	// AllowedScopes are the scopes a client_credentials token may carry (empty: none).
	AllowedScopes []string `yaml:"allowed_scopes"`
	// AllowedAudiences are the audiences a client_credentials token may be issued for; the
	// first is the default (empty: the client's own ID).
	AllowedAudiences []string `yaml:"allowed_audiences"`
	// RequirePushedAuthorizationRequests: this client's authorization requests must be
	// pushed to /par first (RFC 9126 6); a plain /authorize request gets invalid_request.
	RequirePushedAuthorizationRequests bool `yaml:"require_pushed_authorization_requests"`
	// AllowUnsignedRequestObjects accepts request objects with alg none (RFC 9101) from this
	// client; otherwise a request object must be signed with a key of jwks/jwks_uri.
	AllowUnsignedRequestObjects bool `yaml:"allow_unsigned_request_objects"`
	// JWKS are the public keys of a private_key_jwt client (RFC 7523), inline: a JSON Web Key
	// Set as a mapping ({keys: [...]}). Exclusive with JWKSURI and Secret.
	JWKS map[string]any `yaml:"jwks"`
	// JWKSURI is where a private_key_jwt client publishes its keys (fetched, cached, and
	// fetched again when an assertion names an unknown kid). Exclusive with JWKS and Secret.
	JWKSURI string `yaml:"jwks_uri"`
	// DPoPBoundAccessTokens requires a DPoP proof at the token endpoint (RFC 9449 5.2): a
	// token request without one is refused, and every access token is bound to the key.
	DPoPBoundAccessTokens bool `yaml:"dpop_bound_access_tokens"`
	// TokenExchange is what this client may do with token exchange (RFC 8693); it also needs
	// urn:ietf:params:oauth:grant-type:token-exchange in grant_types. Nil: it may not exchange.
	TokenExchange *TokenExchange `yaml:"token_exchange"`
	// Resources are the resource indicators (RFC 8707: absolute URIs, no fragment) this
	// client may ask access tokens for, with resource at /authorize or the token endpoint.
	Resources []string `yaml:"resources"`
}

// TokenExchange is a client's token exchange policy (RFC 8693).
type TokenExchange struct {
	// Audiences are the audience values the client may ask exchanged tokens for; the first is
	// the default when the request names neither audience nor resource. Resource URIs come
	// from the client's resources.
	Audiences []string `yaml:"audiences"`
	// SubjectTokenTypes are the subject token types accepted: access_token (a Gatehouse
	// access token), id_token (a Gatehouse ID token, or an upstream's from
	// UpstreamConnectors). Default: [access_token].
	SubjectTokenTypes []string `yaml:"subject_token_types"`
	// Delegation allows an actor_token: the exchanged token carries act: {sub: <actor>}.
	Delegation bool `yaml:"delegation"`
	// Impersonation allows an exchange without an actor_token: the exchanged token is the
	// subject's, with no act claim (except one the subject token already carried).
	Impersonation bool `yaml:"impersonation"`
	// UpstreamConnectors name oidc connectors whose upstream ID tokens (issued to the
	// connector's client_id) are accepted as id_token subject tokens.
	UpstreamConnectors []string `yaml:"upstream_connectors"`
}

// ClientClaims adds per-client claims.
type ClientClaims struct {
	// Extra maps a claim name to a CEL expression over the final identity.
	Extra map[string]string `yaml:"extra"`
	// Hardcoded maps a claim name to a fixed (JSON-compatible) value.
	Hardcoded map[string]any `yaml:"hardcoded"`
	// Requestable are the claims this client may ask for individually with the claims
	// request parameter (OIDC Core 5.5) without the scope that releases them (e.g. email
	// without the email scope). Each needs the user's consent (unless the client is
	// trusted). Empty: the claims parameter never releases more than the scopes.
	Requestable []string `yaml:"requestable"`
}

// Requirement is what a user must satisfy: membership of at least one of Groups (when set)
// and a verified email address in one of EmailDomains (when set).
type Requirement struct {
	Groups       []string `yaml:"groups"`
	EmailDomains []string `yaml:"email_domains"`
}

// ConnectorClaims shapes what one connector's upstream says into Gatehouse's identity.
type ConnectorClaims struct {
	// Map overrides a claim (email, email_verified, name, preferred_username, groups, or a
	// custom claim) with a CEL expression over the upstream identity.
	Map map[string]string `yaml:"map"`
	// Groups filters, renames and prefixes the groups.
	Groups GroupRules `yaml:"groups"`
	// Require is what a user of this connector needs to sign in at all; group names are the
	// mapped upstream names, before Groups filters them.
	Require Requirement `yaml:"require"`
	// Link is the account-linking policy: create (default), link_verified_email or deny_unknown.
	Link string `yaml:"link"`
}

// GroupRules filter groups. An entry of Allow or Deny that is a plain name matches exactly;
// one with regular-expression syntax (^ $ . * + ? [ ] ( ) | { } \) is an RE2 expression.
type GroupRules struct {
	Allow  []string          `yaml:"allow"`
	Deny   []string          `yaml:"deny"`
	Rename map[string]string `yaml:"rename"`
	Prefix string            `yaml:"prefix"`
}

// Scope is a custom scope: granting it releases the listed claims.
type Scope struct {
	Name        string   `yaml:"name"`
	Description string   `yaml:"description"`
	Claims      []string `yaml:"claims"`
}

// ClaimsTest is a golden case: an upstream identity through a connector's rules (and a
// client's, when Client is set) and the claims, or the denial, expected.
type ClaimsTest struct {
	Name      string `yaml:"name"`
	Connector string `yaml:"connector"`
	Client    string `yaml:"client"`
	// Scopes granted (default: openid and every known scope).
	Scopes []string         `yaml:"scopes"`
	Input  ClaimsTestInput  `yaml:"input"`
	Expect ClaimsTestExpect `yaml:"expect"`
}

// ClaimsTestInput is an upstream identity as a connector would return it.
type ClaimsTestInput struct {
	Subject       string `yaml:"subject"`
	Username      string `yaml:"username"`
	Email         string `yaml:"email"`
	EmailVerified bool   `yaml:"email_verified"`
	// EmailNotLinkable: the connector marked the email not linkable (Apple's private relay).
	EmailNotLinkable bool                `yaml:"email_not_linkable"`
	Name             string              `yaml:"name"`
	Groups           []string            `yaml:"groups"`
	Attrs            map[string][]string `yaml:"attrs"`
	ACR              string              `yaml:"acr"`
	AMR              []string            `yaml:"amr"`
}

// ClaimsTestExpect is the expected outcome: the listed ID token claims have exactly these
// values (others are not checked), or the login is denied (with Reason in the message).
type ClaimsTestExpect struct {
	Claims map[string]any `yaml:"claims"`
	Denied bool           `yaml:"denied"`
	Reason string         `yaml:"reason"`
}

// ConnectorBlock is one connector's block in the configuration file (connectors[i]): the
// upstream it names, its claims and MFA settings. Config stays a YAML node until the connector type's
// registry factory decodes it (see DecodeStrict).
type ConnectorBlock struct {
	Type string `yaml:"type"`
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// Icon is the built-in icon of the connector's button on the chooser (default: its
	// type's; see docs/login.md for the names).
	Icon   string    `yaml:"icon"`
	Config yaml.Node `yaml:"config"`
	// Claims shapes this connector's identities (see ConnectorClaims).
	Claims ConnectorClaims `yaml:"claims"`
	// MFA is the second-factor policy of this connector's users: required | optional | off.
	MFA string `yaml:"mfa"`
	// TrustUpstreamMFA lets the upstream's own multi-factor claim (OIDC amr/acr, SAML
	// AuthnContext) satisfy the MFA policy and its amr values reach Gatehouse's tokens.
	// Without it, amr keeps only pwd and fed and acr is Gatehouse's single-factor value.
	TrustUpstreamMFA bool `yaml:"trust_upstream_mfa"`
	// Passkeys lets this (local) connector's users sign in with a passkey alone.
	Passkeys ConnectorPasskeys `yaml:"passkeys"`
	// Domains are the email domains whose users sign in with this connector (home-realm
	// discovery, docs/login.md): an identifier or login_hint ending in @domain goes straight
	// to it. Lowercase DNS names; a domain belongs to one connector only.
	Domains []string `yaml:"domains"`
	// Logout is what a Gatehouse logout of this connector's users ends: "local" (default,
	// the Gatehouse session only) or "upstream" (the upstream's session too, and the
	// upstream's back-channel logouts end Gatehouse sessions: OIDC RP-Initiated and
	// Back-Channel Logout; SAML single logout with the upstream IdP both ways). Only oidc
	// and saml connectors can do it.
	// docs/logout.md.
	Logout string `yaml:"logout"`
}

// Login configures the sign-in page.
type Login struct {
	// IdentifierFirst makes the first page ask for the email or username, then route by
	// connector_id, login_hint, connectors[].domains and the connector this browser used
	// last, else show the list of connectors (docs/login.md).
	IdentifierFirst bool `yaml:"identifier_first"`
}

// Connector logout modes (ConnectorBlock.Logout).
const (
	ConnectorLogoutLocal    = "local"
	ConnectorLogoutUpstream = "upstream"
)

// User is a user of the local connector.
type User struct {
	Username      string   `yaml:"username"`
	Email         string   `yaml:"email"`
	EmailVerified bool     `yaml:"email_verified"`
	Name          string   `yaml:"name"`
	Groups        []string `yaml:"groups"`
	PasswordHash  string   `yaml:"password_hash"`
}

// ExampleClient configures the built-in example relying party at /example/.
type ExampleClient struct {
	// Enabled defaults to true only for the embedded default configuration.
	Enabled bool `yaml:"enabled"`
}

// MFA configures second factors.
type MFA struct {
	// IssuerName is shown in authenticator apps (default "Gatehouse").
	IssuerName string `yaml:"issuer_name"`
	// SecretsKey seals TOTP secrets at rest (at least 32 characters; keep it secret and stable).
	SecretsKey string `yaml:"secrets_key" secret:"file"`
	// WebAuthn enables security keys and passkeys when rp_id is set.
	WebAuthn MFAWebAuthn `yaml:"webauthn"`
}

// MFAWebAuthn configures the WebAuthn relying party.
type MFAWebAuthn struct {
	// RPID is the relying party ID: the issuer's host name or a parent domain of it.
	RPID   string `yaml:"rp_id"`
	RPName string `yaml:"rp_name"`
	// Origins allowed for ceremonies (default: the issuer's origin).
	Origins []string `yaml:"origins"`
}

// Duration is a time.Duration written as "90s", "1h", "720h" in YAML.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// SAMLIdP configures the SAML 2.0 identity provider (endpoints under {issuer}/saml/idp/).
type SAMLIdP struct {
	// EntityID is the IdP's entity ID (default {issuer}/saml/idp/metadata).
	EntityID string `yaml:"entity_id"`
	// Key and Cert are PEM files of the IdP's RSA signing key and certificate. When both are
	// empty, a key and a self-signed certificate are generated at first start and stored.
	Key  string `yaml:"key"`
	Cert string `yaml:"cert"`
	// AssertionLifetime is the validity window of assertions (default 5m).
	AssertionLifetime Duration `yaml:"assertion_lifetime"`
}

// ServiceProvider is a SAML 2.0 service provider. Its metadata comes from MetadataURL
// (fetched lazily and cached), MetadataFile, or EntityID + ACSURL (+ SLOURL, Cert).
type ServiceProvider struct {
	// ID names the SP in URLs ({issuer}/saml/idp/init/{id}) and in logs.
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// MetadataURL is fetched on first use and cached (refreshed hourly, or as the metadata says).
	MetadataURL  string `yaml:"metadata_url"`
	MetadataFile string `yaml:"metadata_file"`
	// EntityID and ACSURL describe an SP without metadata (HTTP-POST assertion consumer).
	EntityID string `yaml:"entity_id"`
	ACSURL   string `yaml:"acs_url"`
	// SLOURL is the SP's single logout service (HTTP-Redirect) when it has no metadata.
	SLOURL string `yaml:"slo_url"`
	// Cert is a PEM file with the SP's certificate when it has no metadata: it verifies signed
	// requests and encrypts assertions.
	Cert string `yaml:"cert"`
	// NameIDFormat is persistent (default), emailAddress or transient.
	NameIDFormat string `yaml:"name_id_format"`
	// Attributes maps a SAML attribute name to a Gatehouse claim (email, name, groups, ...).
	Attributes map[string]string `yaml:"attributes"`
	// SignResponse and SignAssertion default to true; at least one must stay true.
	SignResponse  *bool `yaml:"sign_response"`
	SignAssertion *bool `yaml:"sign_assertion"`
	// EncryptAssertion encrypts the assertion with the SP's encryption certificate.
	EncryptAssertion bool `yaml:"encrypt_assertion"`
	// Require is what a user needs to use this SP (checked after every login).
	Require Requirement `yaml:"require"`
	// AllowedConnectors limits which connectors this SP's users may log in with (empty: all).
	AllowedConnectors []string `yaml:"allowed_connectors"`
	// Trusted skips the consent page.
	Trusted bool `yaml:"trusted"`
	// MFA is this SP's second-factor policy: required | optional | off (default off), as
	// clients[].mfa.
	MFA string `yaml:"mfa"`
	// MFAClasses are AuthnContextClassRefs this SP asks for to mean multi-factor, besides
	// https://refeds.org/profile/mfa: a RequestedAuthnContext naming one makes the second
	// factor needed, and the assertion then carries that class.
	MFAClasses []string `yaml:"mfa_classes"`
}

// ForwardAuth configures the identity-aware proxy endpoint (/forward-auth).
type ForwardAuth struct {
	// CookieDomain is the Domain of the forward-auth session cookie: the protected apps'
	// hosts and the issuer's host must all be within it (".corp.example" or "corp.example").
	CookieDomain string `yaml:"cookie_domain"`
	// CookieName is the cookie's name (default gh_fwd). The cookie is bound to the SSO
	// session: a logout anywhere ends it.
	CookieName string `yaml:"cookie_name"`
	// AssertionLifetime is the lifetime of the signed X-Gatehouse-Assertion JWT (default 5m,
	// at most 1h); a cached assertion is reused until a fifth of it is left.
	AssertionLifetime Duration `yaml:"assertion_lifetime"`
	// SessionRecheck lets a replica answer checks from an SSO session it read at most this
	// long ago (default 1s; at most 1m). A logout on the same replica ends the cookie at
	// once (every cached session is dropped); one on another replica reaches the apps
	// within this interval. 0s, set in the file, reads the session on every check.
	SessionRecheck Duration `yaml:"session_recheck"`
}

// ProtectedApp is one app behind a forward-auth proxy: configured like a client, with the
// same require rules and MFA policy (it is the pseudo-client "app:<id>").
type ProtectedApp struct {
	// ID is a short URL-safe name; the assertion's aud.
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// Hosts are the host names (host or host:port, lowercase) the proxy serves the app on;
	// only URLs on these hosts are accepted as the original URL and as the return URL.
	Hosts []string `yaml:"hosts"`
	// Require is what a user needs to use the app (checked on every request).
	Require Requirement `yaml:"require"`
	// MFA is the app's second-factor policy: required | optional | off (default off).
	MFA string `yaml:"mfa"`
	// AllowedConnectors limits which connectors the app's users may log in with (empty: all).
	AllowedConnectors []string `yaml:"allowed_connectors"`
	// Paths add requirements under path prefixes (every matching prefix applies).
	Paths []PathRule `yaml:"paths"`
	// Bypass lists path prefixes answered 200 without a login and without identity
	// headers (health checks, static assets). Never by default.
	Bypass []string `yaml:"bypass"`
	// Headers renames the identity headers (defaults X-Auth-Request-User, -Email, -Groups,
	// -Preferred-Username).
	Headers AppHeaders `yaml:"headers"`
	// Assertion adds X-Gatehouse-Assertion: a JWT signed with the issuer's keys, aud = ID.
	Assertion bool `yaml:"assertion"`
}

// PathRule is a requirement for the paths under Prefix ("/admin" covers /admin and
// /admin/..., not /administrator).
type PathRule struct {
	Prefix  string      `yaml:"prefix"`
	Require Requirement `yaml:"require"`
}

// AppHeaders names the identity headers of a protected app (empty: the default name).
type AppHeaders struct {
	User              string `yaml:"user"`
	Email             string `yaml:"email"`
	Groups            string `yaml:"groups"`
	PreferredUsername string `yaml:"preferred_username"`
}
