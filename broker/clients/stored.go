package clients

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Client authentication methods a stored client may declare (RFC 7591 2,
// token_endpoint_auth_method). Gatehouse accepts basic and post alike for a secret.
const (
	AuthSecretBasic = "client_secret_basic"
	AuthSecretPost  = "client_secret_post"
	AuthNone        = "none"
)

// AuthMethods are the token_endpoint_auth_method values a stored client may have.
var AuthMethods = []string{AuthSecretBasic, AuthSecretPost, AuthPrivateKeyJWT, AuthNone}

// ConfigOf is the configuration form of a stored client: what config.ValidateClient checks,
// so that a client from the API or from Dynamic Client Registration passes the same rules
// as one from the config file. A confidential client without keys gets a placeholder secret
// (its secret is generated, never given); a malformed stored jwks gives a jwks the rules refuse.
func ConfigOf(sc storage.Client) config.Client {
	cc := config.Client{
		ID: sc.ID, Name: sc.Name, Public: sc.Public, Trusted: sc.Trusted, RedirectURIs: sc.RedirectURIs,
		PostLogoutRedirectURIs: sc.PostLogoutRedirectURIs, AllowedConnectors: sc.AllowedConnectors,
		AllowedOrigins: sc.AllowedOrigins, GrantTypes: sc.GrantTypes, AllowedScopes: sc.Scopes,
		AllowedAudiences: sc.Audiences, JWKSURI: sc.JWKSURI,
		BackchannelLogoutURI: sc.BackchannelLogoutURI, BackchannelLogoutSessionRequired: sc.BackchannelLogoutSessionRequired,
		FrontchannelLogoutURI: sc.FrontchannelLogoutURI, FrontchannelLogoutSessionRequired: sc.FrontchannelLogoutSessionRequired,
		RequirePushedAuthorizationRequests: sc.RequirePushedAuthorizationRequests,
		AllowUnsignedRequestObjects:        sc.AllowUnsignedRequestObjects,
		DPoPBoundAccessTokens:              sc.DPoPBoundAccessTokens, Resources: sc.Resources,
	}
	if sc.JWKS != "" {
		if err := json.Unmarshal([]byte(sc.JWKS), &cc.JWKS); err != nil || len(cc.JWKS) == 0 {
			cc.JWKS = map[string]any{"keys": "not a JSON object"}
		}
	}
	if !cc.Public && cc.JWKS == nil && cc.JWKSURI == "" {
		cc.Secret = "generated"
	}
	return cc
}

// Problem is one thing wrong with a client, Field in the API's names (redirect_uris[0],
// scopes, jwks, token_endpoint_auth_method).
type Problem struct{ Field, Message string }

// Validate checks a stored client with the rules of the config file's clients
// (config.ValidateClient, through ConfigOf), plus the consistency of its declared
// token_endpoint_auth_method; nil when it is valid, else the first problem.
func Validate(sc storage.Client, connectorIDs []string) *Problem {
	switch m := sc.TokenEndpointAuthMethod; {
	case m == "":
	case m != AuthSecretBasic && m != AuthSecretPost && m != AuthPrivateKeyJWT && m != AuthNone:
		return &Problem{"token_endpoint_auth_method", fmt.Sprintf("%q is not one of %s", m, strings.Join(AuthMethods, ", "))}
	case (m == AuthNone) != sc.Public:
		return &Problem{"token_endpoint_auth_method", "none goes with a public client, and only with one"}
	case (m == AuthPrivateKeyJWT) != (sc.JWKS != "" || sc.JWKSURI != ""):
		return &Problem{"token_endpoint_auth_method", "private_key_jwt needs jwks or jwks_uri, and jwks or jwks_uri need private_key_jwt"}
	}
	errs := config.ValidateClient(ConfigOf(sc), connectorIDs)
	if errs == nil {
		return nil
	}
	p := errs.Problems[0]
	field := strings.Replace(p.Path, "allowed_scopes", "scopes", 1)
	field = strings.Replace(field, "allowed_audiences", "audiences", 1)
	if field == "" {
		field = "client"
	}
	return &Problem{field, p.Message}
}

// FromStored builds a client from its stored record (Source SourceAPI). keys gives the key
// source of a client with a jwks_uri (nil: such a client cannot authenticate).
func FromStored(sc storage.Client, remote func(clientID, uri string) KeySource) (Client, error) {
	c := Client{
		ID: sc.ID, Name: sc.Name, Public: sc.Public, Trusted: sc.Trusted, RedirectURIs: sc.RedirectURIs,
		PostLogoutRedirectURIs: sc.PostLogoutRedirectURIs, AllowedConnectors: sc.AllowedConnectors,
		AllowedOrigins: sc.AllowedOrigins, GrantTypes: sc.GrantTypes, Scopes: sc.Scopes, Audiences: sc.Audiences,
		RequirePAR: sc.RequirePushedAuthorizationRequests, AllowUnsignedRequestObjects: sc.AllowUnsignedRequestObjects,
		BackchannelLogoutURI: sc.BackchannelLogoutURI, FrontchannelLogoutURI: sc.FrontchannelLogoutURI,
		FrontchannelLogoutSessionRequired: sc.FrontchannelLogoutSessionRequired,
		DPoPBound:                         sc.DPoPBoundAccessTokens, Resources: sc.Resources,
		Source: SourceAPI,
	}
	switch {
	case sc.JWKS != "":
		var m map[string]any
		if err := json.Unmarshal([]byte(sc.JWKS), &m); err != nil {
			return Client{}, fmt.Errorf("client %q: stored jwks: %w", sc.ID, err)
		}
		set, err := config.ParseClientJWKS(m)
		if err != nil {
			return Client{}, fmt.Errorf("client %q: stored jwks %w", sc.ID, err)
		}
		c.Keys, c.AuthMethod = StaticKeys{Set: set}, AuthPrivateKeyJWT
	case sc.JWKSURI != "" && remote != nil:
		c.Keys, c.AuthMethod = remote(sc.ID, sc.JWKSURI), AuthPrivateKeyJWT
	case sc.JWKSURI != "":
		return Client{}, fmt.Errorf("client %q: has a jwks_uri and the registry fetches none", sc.ID)
	case !sc.Public:
		h, err := hex.DecodeString(sc.SecretHash)
		if err != nil || len(h) != sha256.Size {
			return Client{}, fmt.Errorf("client %q: stored secret hash is not a hex SHA-256", sc.ID)
		}
		copy(c.secretHash[:], h)
	}
	return c, nil
}

// remoteKeys caches the RemoteKeys of stored clients with a jwks_uri, per client and URI, so
// that a lookup (which reads the client from storage every time) reuses the fetched set.
type remoteKeys struct {
	http *http.Client
	now  func() time.Time
	mu   sync.Mutex
	m    map[string]*RemoteKeys
}

// maxRemoteKeySources bounds the cache; past it, it starts over.
const maxRemoteKeySources = 4096

func (rk *remoteKeys) source(clientID, uri string) KeySource {
	rk.mu.Lock()
	defer rk.mu.Unlock()
	k := clientID + " " + uri
	if s := rk.m[k]; s != nil {
		return s
	}
	if len(rk.m) >= maxRemoteKeySources {
		rk.m = map[string]*RemoteKeys{}
	}
	s := &RemoteKeys{URL: uri, HTTP: rk.http, TTL: time.Hour, MinRefetch: 30 * time.Second, Now: rk.now}
	rk.m[k] = s
	return s
}

// WithRemoteKeys lets stored clients with a jwks_uri authenticate: their key sets are fetched
// with hc (bounded by the caller) and cached per client.
func (r *Registry) WithRemoteKeys(hc *http.Client, now func() time.Time) *Registry {
	r.remote = &remoteKeys{http: hc, now: now, m: map[string]*RemoteKeys{}}
	return r
}

func (r *Registry) remoteSource() func(clientID, uri string) KeySource {
	if r.remote == nil {
		return nil
	}
	return r.remote.source
}

// How long the set of stored clients' allowed origins is reused: originsTTL for an origin
// in it, originsMissTTL for one missing from it (a new client's origin counts that soon,
// and unknown origins cannot make a replica list the clients more often).
const (
	originsTTL     = 2 * time.Second
	originsMissTTL = 250 * time.Millisecond
)

// storedOrigins caches the allowed origins of every stored client for CORS.
type storedOrigins struct {
	mu      sync.Mutex
	at      time.Time
	origins map[string]bool
}

// StoredOriginAllowed reports whether a stored client lists the origin in allowed_origins.
// The set is read from storage again when it is 2 seconds old, or 250 ms old and lacks the
// origin; a storage error is logged and allows nothing.
func (r *Registry) StoredOriginAllowed(ctx context.Context, origin string) bool {
	if r == nil || r.store == nil || origin == "" {
		return false
	}
	o := &r.origins
	o.mu.Lock()
	defer o.mu.Unlock()
	age := time.Since(o.at)
	if o.origins == nil || age > originsTTL || (!o.origins[origin] && age > originsMissTTL) {
		list, err := r.store.ListClients(ctx)
		if err != nil {
			r.logger.ErrorContext(ctx, "clients: list stored clients for CORS", "err", err)
			return false
		}
		o.origins, o.at = map[string]bool{}, time.Now()
		for _, c := range list {
			for _, a := range c.AllowedOrigins {
				o.origins[strings.TrimSuffix(a, "/")] = true
			}
		}
	}
	return o.origins[origin]
}
