package storage

import (
	"context"
	"encoding/json"
	"time"
)

// Client is an OAuth client registered at runtime (through the admin API or Dynamic Client
// Registration). Clients from the configuration are not stored: they overlay the stored
// ones, read-only. Every metadata field of a configured client has its field here.
type Client struct {
	ID   string
	Name string
	// SecretHash is the hex SHA-256 of the client secret (generated, high-entropy), compared in
	// constant time; "" for a public client or one that authenticates with private_key_jwt.
	// The secret itself is never stored.
	SecretHash             string
	Public                 bool
	Trusted                bool
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	AllowedConnectors      []string
	AllowedOrigins         []string
	GrantTypes             []string
	Scopes                 []string
	Audiences              []string
	// TokenEndpointAuthMethod is how the client said it authenticates (RFC 7591 2):
	// client_secret_basic, client_secret_post, private_key_jwt or none; "" when not said.
	TokenEndpointAuthMethod string
	// JWKS is the client's public key set (a JSON Web Key Set, JSON) for private_key_jwt and
	// signed request objects; "" for none. Exclusive with JWKSURI.
	JWKS string
	// JWKSURI is where the client publishes its key set; "" for none.
	JWKSURI                            string
	BackchannelLogoutURI               string
	BackchannelLogoutSessionRequired   bool
	FrontchannelLogoutURI              string
	FrontchannelLogoutSessionRequired  bool
	RequirePushedAuthorizationRequests bool
	AllowUnsignedRequestObjects        bool
	DPoPBoundAccessTokens              bool
	// Resources are the resource indicators (RFC 8707) the client may ask tokens for.
	Resources []string
	// RegistrationTokenHash is the hex SHA-256 of the registration access token (RFC 7592)
	// of a client registered through Dynamic Client Registration; "" for other clients.
	RegistrationTokenHash string
	// Version counts the client's changes: 1 when created, one more on every UpdateClient.
	// UpdateClient takes the version the caller read (optimistic concurrency).
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ClientStore keeps runtime clients. It is optional; the SQLite and PostgreSQL backends
// implement it (storagetest.RunClients).
type ClientStore interface {
	// CreateClient stores c at Version 1 (c.Version is ignored); an ID already stored is
	// ErrAlreadyExists.
	CreateClient(ctx context.Context, c Client) error
	// GetClient returns the client; ErrNotFound when there is none.
	GetClient(ctx context.Context, id string) (Client, error)
	// ListClients returns every stored client, ordered by ID.
	ListClients(ctx context.Context) ([]Client, error)
	// UpdateClient replaces every field of the stored client c.ID but CreatedAt (the secret
	// and registration token hashes included: rotation is an update) when the stored Version
	// is c.Version, and stores Version c.Version+1, atomically: of N concurrent updates from
	// the same version exactly one succeeds. ErrNotFound when there is no such client,
	// ErrConflict when its version is another.
	UpdateClient(ctx context.Context, c Client) error
	// DeleteClient deletes the client and, in the same transaction, everything issued to it:
	// its grants are revoked at now and their refresh tokens deleted (so its access and
	// refresh tokens stop working), its authorization codes and consents deleted.
	// ErrNotFound when there is none.
	DeleteClient(ctx context.Context, id string, now time.Time) error
}

// clientData is the JSON backends keep for every Client field without a column of its own
// (all but ID, SecretHash, RegistrationTokenHash, Version and the times).
type clientData struct {
	Name                               string   `json:"name,omitempty"`
	Public                             bool     `json:"public,omitempty"`
	Trusted                            bool     `json:"trusted,omitempty"`
	RedirectURIs                       []string `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs             []string `json:"post_logout_redirect_uris,omitempty"`
	AllowedConnectors                  []string `json:"allowed_connectors,omitempty"`
	AllowedOrigins                     []string `json:"allowed_origins,omitempty"`
	GrantTypes                         []string `json:"grant_types,omitempty"`
	Scopes                             []string `json:"scopes,omitempty"`
	Audiences                          []string `json:"audiences,omitempty"`
	TokenEndpointAuthMethod            string   `json:"token_endpoint_auth_method,omitempty"`
	JWKS                               string   `json:"jwks,omitempty"`
	JWKSURI                            string   `json:"jwks_uri,omitempty"`
	BackchannelLogoutURI               string   `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired   bool     `json:"backchannel_logout_session_required,omitempty"`
	FrontchannelLogoutURI              string   `json:"frontchannel_logout_uri,omitempty"`
	FrontchannelLogoutSessionRequired  bool     `json:"frontchannel_logout_session_required,omitempty"`
	RequirePushedAuthorizationRequests bool     `json:"require_pushed_authorization_requests,omitempty"`
	AllowUnsignedRequestObjects        bool     `json:"allow_unsigned_request_objects,omitempty"`
	DPoPBoundAccessTokens              bool     `json:"dpop_bound_access_tokens,omitempty"`
	Resources                          []string `json:"resources,omitempty"`
}

// EncodeClientData is the JSON a backend stores for c's fields without a column (see
// DecodeClientData).
func EncodeClientData(c Client) (string, error) {
	b, err := json.Marshal(clientData{
		Name: c.Name, Public: c.Public, Trusted: c.Trusted, RedirectURIs: c.RedirectURIs,
		PostLogoutRedirectURIs: c.PostLogoutRedirectURIs, AllowedConnectors: c.AllowedConnectors,
		AllowedOrigins: c.AllowedOrigins, GrantTypes: c.GrantTypes, Scopes: c.Scopes, Audiences: c.Audiences,
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, JWKS: c.JWKS, JWKSURI: c.JWKSURI,
		BackchannelLogoutURI: c.BackchannelLogoutURI, BackchannelLogoutSessionRequired: c.BackchannelLogoutSessionRequired,
		FrontchannelLogoutURI: c.FrontchannelLogoutURI, FrontchannelLogoutSessionRequired: c.FrontchannelLogoutSessionRequired,
		RequirePushedAuthorizationRequests: c.RequirePushedAuthorizationRequests,
		AllowUnsignedRequestObjects:        c.AllowUnsignedRequestObjects, DPoPBoundAccessTokens: c.DPoPBoundAccessTokens,
		Resources: c.Resources,
	})
	return string(b), err
}

// DecodeClientData fills c's fields without a column from data (EncodeClientData's JSON).
func DecodeClientData(data []byte, c *Client) error {
	var d clientData
	if err := json.Unmarshal(data, &d); err != nil {
		return err
	}
	c.Name, c.Public, c.Trusted, c.RedirectURIs = d.Name, d.Public, d.Trusted, d.RedirectURIs
	c.PostLogoutRedirectURIs, c.AllowedConnectors, c.AllowedOrigins = d.PostLogoutRedirectURIs, d.AllowedConnectors, d.AllowedOrigins
	c.GrantTypes, c.Scopes, c.Audiences = d.GrantTypes, d.Scopes, d.Audiences
	c.TokenEndpointAuthMethod, c.JWKS, c.JWKSURI = d.TokenEndpointAuthMethod, d.JWKS, d.JWKSURI
	c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired = d.BackchannelLogoutURI, d.BackchannelLogoutSessionRequired
	c.FrontchannelLogoutURI, c.FrontchannelLogoutSessionRequired = d.FrontchannelLogoutURI, d.FrontchannelLogoutSessionRequired
	c.RequirePushedAuthorizationRequests, c.AllowUnsignedRequestObjects = d.RequirePushedAuthorizationRequests, d.AllowUnsignedRequestObjects
	c.DPoPBoundAccessTokens, c.Resources = d.DPoPBoundAccessTokens, d.Resources
	return nil
}

// InitialAccessToken authorizes Dynamic Client Registration (RFC 7591 3): issued through the
// admin API, presented as a bearer token at the registration endpoint, good for MaxUses
// registrations until ExpiresAt. Only its hash is stored.
type InitialAccessToken struct {
	// ID names the token in lists and audit events (not secret).
	ID string
	// TokenHash is the hex SHA-256 of the token (256 random bits).
	TokenHash string
	MaxUses   int
	// Uses counts the registrations made with it.
	Uses      int
	CreatedBy string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// RegistrationStore keeps initial access tokens (storagetest.RunClients tests it). It is
// optional; the SQLite and PostgreSQL backends implement it.
type RegistrationStore interface {
	// CreateInitialAccessToken stores t (t.Uses is ignored: 0); a hash or ID already stored
	// is ErrAlreadyExists.
	CreateInitialAccessToken(ctx context.Context, t InitialAccessToken) error
	// GetInitialAccessToken returns the token with the hash; ErrNotFound when there is none.
	GetInitialAccessToken(ctx context.Context, tokenHash string) (InitialAccessToken, error)
	// UseInitialAccessToken counts one use of the token with the hash when it has uses left
	// and has not expired at now, atomically (of N concurrent uses of a token with k left,
	// exactly k succeed), and returns it as it is after the use. ErrNotFound for an unknown
	// hash; ErrReused when it is used up or expired.
	UseInitialAccessToken(ctx context.Context, tokenHash string, now time.Time) (InitialAccessToken, error)
	// ListInitialAccessTokens returns every stored token, ordered by ID.
	ListInitialAccessTokens(ctx context.Context) ([]InitialAccessToken, error)
	// DeleteInitialAccessToken deletes the token with the ID; ErrNotFound when there is none.
	DeleteInitialAccessToken(ctx context.Context, id string) error
}
