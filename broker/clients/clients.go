// Package clients owns Gatehouse's registered OAuth clients (relying parties): the registry,
// redirect URI matching (exact, plus the RFC 8252 rules for native apps), and client
// authentication at the token, revocation and introspection endpoints.
package clients

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Client is a registered client.
type Client struct {
	ID                     string
	Name                   string
	Public                 bool
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	Trusted                bool
	AllowedConnectors      []string
	AllowedOrigins         []string
	// RequirePAR: the client's authorization requests must be pushed (RFC 9126 6); a plain
	// one gets invalid_request. Its Keys also verify its signed request objects (RFC 9101).
	RequirePAR bool
	// AllowUnsignedRequestObjects accepts request objects with alg none (RFC 9101 4) from this
	// client; otherwise they are refused.
	AllowUnsignedRequestObjects bool
	// BackchannelLogoutURI receives logout tokens (Back-Channel Logout 1.0); "" for none.
	BackchannelLogoutURI string
	// FrontchannelLogoutURI is loaded in an iframe of the logout page (Front-Channel Logout
	// 1.0); "" for none.
	FrontchannelLogoutURI string
	// FrontchannelLogoutSessionRequired adds iss and sid to FrontchannelLogoutURI.
	FrontchannelLogoutSessionRequired bool
	// GrantTypes are the grant types the client may use at the token endpoint (and
	// authorization_code also gates /authorize); empty means DefaultGrantTypes.
	GrantTypes []string
	// Scopes are the scopes a client_credentials token may carry (empty: none).
	Scopes []string
	// Audiences are the audiences a client_credentials token may name; the first is the
	// default. Empty: the client itself.
	Audiences []string
	// AuthMethod is private_key_jwt when the client authenticates with a signed assertion
	// (RFC 7523) instead of a secret; "" otherwise.
	AuthMethod string
	// Keys verify the client's assertions when AuthMethod is private_key_jwt.
	Keys KeySource
	// DPoPBound requires a DPoP proof at the token endpoint (dpop_bound_access_tokens,
	// RFC 9449 5.2): every access token the client gets is bound to its key.
	DPoPBound bool
	// Source is where the client comes from: SourceConfig (read-only) or SourceAPI (stored).
	Source string
	// TokenExchange is the client's token exchange policy (RFC 8693); nil: none.
	TokenExchange *ExchangePolicy
	// Resources are the resource indicators (RFC 8707) the client may ask tokens for.
	Resources  []string
	secretHash [32]byte
}

// Where a client comes from (Client.Source).
const (
	SourceConfig = "config"
	SourceAPI    = "api"
)

// AuthPrivateKeyJWT is the client authentication method of RFC 7523 2.2 / OIDC Core 9.
const AuthPrivateKeyJWT = "private_key_jwt"

// DefaultGrantTypes are the grant types of a client that configures none.
var DefaultGrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}

// Grant type names (RFC 6749, RFC 8628).
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
)

// AllowsGrant reports whether the client may use the grant type.
func (c *Client) AllowsGrant(gt string) bool {
	if len(c.GrantTypes) == 0 {
		return slices.Contains(DefaultGrantTypes, gt)
	}
	return slices.Contains(c.GrantTypes, gt)
}

// New builds a client. The secret is kept only as its SHA-256 and compared in constant time.
func New(c Client, secret string) Client {
	if secret != "" {
		c.secretHash = sha256.Sum256([]byte(secret))
	}
	return c
}

// HashSecret is how a client secret is kept: its SHA-256, hex-encoded. Secrets are generated
// with 256 bits of entropy, so a fast hash is enough (the same as config secrets).
func HashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// CheckSecret reports whether secret is the client's secret, in constant time.
func (c *Client) CheckSecret(secret string) bool {
	if c.Public {
		return false
	}
	h := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(h[:], c.secretHash[:]) == 1
}

// AllowsConnector reports whether users of this client may log in with the connector.
func (c *Client) AllowsConnector(id string) bool {
	if len(c.AllowedConnectors) == 0 {
		return true
	}
	for _, a := range c.AllowedConnectors {
		if a == id {
			return true
		}
	}
	return false
}

// Registry is the set of clients, safe for concurrent use: the configured ones (immutable, a
// read-only overlay) and, with a store, the ones registered at runtime, read from storage on
// every lookup so that a client created, changed or deleted through any replica counts at once.
type Registry struct {
	byID    map[string]*Client
	store   storage.ClientStore
	logger  *slog.Logger
	remote  *remoteKeys
	origins storedOrigins
	// resolvers find the pseudo-clients of runtime objects by ID prefix (saml: for stored
	// service providers).
	resolvers []resolver
}

// resolver finds the pseudo-clients whose IDs start with prefix.
type resolver struct {
	prefix string
	find   func(ctx context.Context, id string) (*Client, error)
}

// NewRegistry builds a registry of configured clients; client IDs must be unique. Clients
// without a Source are marked SourceConfig.
func NewRegistry(cs []Client) (*Registry, error) {
	r := &Registry{byID: make(map[string]*Client, len(cs))}
	for i := range cs {
		c := cs[i]
		if _, dup := r.byID[c.ID]; dup {
			return nil, fmt.Errorf("duplicate client id %q", c.ID)
		}
		if c.Source == "" {
			c.Source = SourceConfig
		}
		r.byID[c.ID] = &c
	}
	return r, nil
}

// WithStore makes the registry also serve the clients stored in cs (runtime clients); a
// configured client hides a stored one of the same ID. Storage errors met by Get and
// Authenticate (which cannot return them) are logged to logger and count as no client.
func (r *Registry) WithStore(cs storage.ClientStore, logger *slog.Logger) *Registry {
	r.store, r.logger = cs, logger
	return r
}

// WithResolver makes the registry find the clients whose IDs start with prefix through find
// (the pseudo-clients of service providers stored at runtime: "saml:"), read on every lookup
// like stored clients; find returns nil and no error when there is none. A configured client
// hides a resolved one.
func (r *Registry) WithResolver(prefix string, find func(ctx context.Context, id string) (*Client, error)) *Registry {
	r.resolvers = append(r.resolvers, resolver{prefix: prefix, find: find})
	return r
}

// Configured returns the configured client with the ID, or nil (a stored one is not looked at).
func (r *Registry) Configured(id string) *Client {
	if r == nil {
		return nil
	}
	return r.byID[id]
}

// Lookup returns the client with the ID: a configured one, else a stored one; nil and no error
// when there is none. A storage error is returned.
func (r *Registry) Lookup(ctx context.Context, id string) (*Client, error) {
	if r == nil {
		return nil, nil
	}
	if c := r.byID[id]; c != nil || id == "" {
		return c, nil
	}
	for _, rs := range r.resolvers {
		if strings.HasPrefix(id, rs.prefix) {
			c, err := rs.find(ctx, id)
			if err != nil {
				return nil, fmt.Errorf("clients: look up %q: %w", id, err)
			}
			return c, nil
		}
	}
	if r.store == nil {
		return nil, nil
	}
	sc, err := r.store.GetClient(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("clients: look up %q: %w", id, err)
	}
	c, err := FromStored(sc, r.remoteSource())
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// Get returns the client with the ID, or nil. A storage error is logged and gives nil (the
// caller refuses the unknown client); callers that can report it use Lookup.
func (r *Registry) Get(id string) *Client {
	ctx := context.Background()
	c, err := r.Lookup(ctx, id)
	if err != nil {
		r.logger.ErrorContext(ctx, "client lookup failed", "client_id", id, "err", err)
		return nil
	}
	return c
}

// All returns every configured client (for CORS origin collection at start).
func (r *Registry) All() []*Client {
	out := make([]*Client, 0, len(r.byID))
	for _, c := range r.byID {
		out = append(out, c)
	}
	return out
}

// MatchRedirectURI reports whether the requested redirect URI is registered for the client.
// Matching is exact string comparison, with the RFC 8252 exceptions for native apps:
//   - a registered loopback URI (http://127.0.0.1/..., http://[::1]/..., http://localhost/...)
//     matches the same URI with any port (RFC 8252 7.3);
//   - private-use URI schemes (com.example.app:/callback) match exactly (RFC 8252 7.1).
//
// Requested URIs with a fragment never match (RFC 6749 3.1.2).
func MatchRedirectURI(registered []string, requested string) bool {
	if requested == "" || strings.Contains(requested, "#") {
		return false
	}
	for _, reg := range registered {
		if reg == requested {
			return true
		}
	}
	req, err := url.Parse(requested)
	if err != nil || req.Scheme != "http" || req.User != nil || req.Port() == "" {
		return false
	}
	if !isLoopbackHost(req.Hostname()) {
		return false
	}
	for _, reg := range registered {
		ru, err := url.Parse(reg)
		if err != nil || ru.Scheme != "http" || ru.User != nil || ru.Fragment != "" || !isLoopbackHost(ru.Hostname()) {
			continue
		}
		if ru.Hostname() == req.Hostname() && ru.EscapedPath() == req.EscapedPath() &&
			ru.RawQuery == req.RawQuery && !ru.ForceQuery && !req.ForceQuery {
			return true
		}
	}
	return false
}

func isLoopbackHost(h string) bool {
	return h == "127.0.0.1" || h == "::1" || h == "localhost"
}

// Credentials are what a request presented to authenticate a client.
type Credentials struct {
	ID     string
	Secret string
	// Method is client_secret_basic, client_secret_post, private_key_jwt or none.
	Method string
	// Assertion is the client_assertion JWT of private_key_jwt.
	Assertion string
}

// AssertionTypeJWT is the client_assertion_type of a JWT client assertion (RFC 7523 2.2).
const AssertionTypeJWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// ErrMultipleMethods is returned when a request uses more than one authentication method.
var ErrMultipleMethods = fmt.Errorf("client used more than one authentication method")

// ReadCredentials extracts client credentials from an already-parsed form request
// (RFC 6749 2.3.1): HTTP Basic with form-urlencoded ID and secret, or client_id and
// client_secret in the body, or client_id alone for public clients.
//
// A client_assertion (RFC 7523 2.2) gives Method private_key_jwt with the assertion in
// Assertion and ID the form's client_id (possibly empty: the assertion's sub names the
// client); it cannot be combined with another method.
func ReadCredentials(r *http.Request) (Credentials, error) {
	user, pass, basic := r.BasicAuth()
	formID, formSecret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if r.PostForm.Has("client_assertion") || r.PostForm.Has("client_assertion_type") {
		if basic || formSecret != "" {
			return Credentials{}, ErrMultipleMethods
		}
		if r.PostForm.Get("client_assertion_type") != AssertionTypeJWT {
			return Credentials{}, fmt.Errorf("client_assertion_type must be %s", AssertionTypeJWT)
		}
		if r.PostForm.Get("client_assertion") == "" {
			return Credentials{}, fmt.Errorf("client_assertion is missing")
		}
		return Credentials{ID: formID, Assertion: r.PostForm.Get("client_assertion"), Method: AuthPrivateKeyJWT}, nil
	}
	if basic {
		if formSecret != "" {
			return Credentials{}, ErrMultipleMethods
		}
		id, err1 := url.QueryUnescape(user)
		secret, err2 := url.QueryUnescape(pass)
		if err1 != nil || err2 != nil {
			return Credentials{}, fmt.Errorf("malformed basic credentials")
		}
		if formID != "" && formID != id {
			return Credentials{}, fmt.Errorf("client_id does not match the authenticated client")
		}
		return Credentials{ID: id, Secret: secret, Method: "client_secret_basic"}, nil
	}
	if formSecret != "" {
		return Credentials{ID: formID, Secret: formSecret, Method: "client_secret_post"}, nil
	}
	return Credentials{ID: formID, Method: "none"}, nil
}

// Authenticate checks secret credentials against the registry. Public clients authenticate
// with "none"; confidential clients must present their secret; private_key_jwt clients and
// assertions are refused here (broker/grants verifies assertions). It returns nil when
// authentication fails, for any reason (the caller answers invalid_client). A storage error
// is logged; callers that can report it use AuthenticateContext.
func (r *Registry) Authenticate(cr Credentials) *Client {
	ctx := context.Background()
	c, err := r.AuthenticateContext(ctx, cr)
	if err != nil {
		r.logger.ErrorContext(ctx, "client authentication: lookup failed", "client_id", cr.ID, "err", err)
		return nil
	}
	return c
}

// AuthenticateContext is Authenticate reporting a storage error (the caller answers
// server_error, not invalid_client).
func (r *Registry) AuthenticateContext(ctx context.Context, cr Credentials) (*Client, error) {
	if cr.ID == "" {
		return nil, nil
	}
	c, err := r.Lookup(ctx, cr.ID)
	if err != nil {
		return nil, err
	}
	return r.authenticate(c, cr), nil
}

func (r *Registry) authenticate(c *Client, cr Credentials) *Client {
	if c == nil {
		// Spend the same work as a real comparison.
		dummy := Client{}
		dummy.CheckSecret(cr.Secret)
		return nil
	}
	if c.Public {
		if cr.Method != "none" {
			return nil
		}
		return c
	}
	if c.AuthMethod == AuthPrivateKeyJWT || cr.Method == AuthPrivateKeyJWT {
		// Assertions are verified by the token endpoint (broker/grants), which keeps the
		// replay cache; a keyed client never authenticates with a secret.
		c.CheckSecret(cr.Secret)
		return nil
	}
	if cr.Method == "none" || !c.CheckSecret(cr.Secret) {
		return nil
	}
	return c
}
