// Package apple is Gatehouse's "Sign in with Apple" connector.
//
// Apple's authorization endpoint is asked for response_mode=form_post: Apple sends the code,
// the state and, on the user's first authorization only, a user form field with their name,
// as a cross-site POST to the callback (the broker accepts POST there; a POST without a valid
// state and flow cookie gets the expired page). The client secret is an ES256 JWT signed with
// the team's private key (team_id, key_id, private_key_file), generated on first use, cached,
// and generated again before it expires (client_secret_lifetime, at most Apple's six months).
// The ID token is verified against Apple's JWKS (iss https://appleid.apple.com, aud the
// Services ID, the login's nonce).
//
// Email: Apple's email_verified is reported as is. A private-relay address (is_private_email)
// is verified (Apple forwards to the user's real address) but belongs to this app only, so it
// is marked not linkable (connectors.Upstream.EmailNotLinkable): the claims step never links
// it to another account by email. The name is only sent on the first authorization; it is
// kept in the grant stash and reported again at refresh.
//
// Refresh: Apple issues refresh tokens; a downstream refresh validates the upstream refresh
// token at Apple's token endpoint (invalid_grant when the user revoked the app or deleted the
// account: connectors.ErrUpstreamRevoked). Apple has no groups.
package apple

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"time"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/internal/oauthflow"
)

// Apple's endpoints.
const (
	Issuer       = "https://appleid.apple.com"
	AuthURL      = Issuer + "/auth/authorize"
	TokenURL     = Issuer + "/auth/token"
	KeysURL      = Issuer + "/auth/keys"
	maxSecretTTL = 180 * 24 * time.Hour // Apple: no more than 15777000 seconds (6 months)
)

// DefaultSecretLifetime is client_secret_lifetime when it is not set.
const DefaultSecretLifetime = 30 * 24 * time.Hour

var appleIDRe = regexp.MustCompile(`^[A-Z0-9]{10}$`)

// Config is the YAML configuration of an apple connector. It implements connectors.Config.
type Config struct {
	// ClientID is the Services ID (e.g. com.example.login), the ID token's audience.
	ClientID string `yaml:"client_id"`
	// TeamID is the Apple Developer team ID (10 characters).
	TeamID string `yaml:"team_id"`
	// KeyID is the ID of the Sign in with Apple private key (10 characters).
	KeyID string `yaml:"key_id"`
	// PrivateKeyFile is the .p8 file Apple issued for KeyID (a PKCS#8 P-256 key).
	PrivateKeyFile string `yaml:"private_key_file"`
	// ClientSecretLifetime is how long a generated client secret is valid (default 30 days,
	// at most 180 days); a new one is generated when half of it has passed.
	ClientSecretLifetime time.Duration `yaml:"client_secret_lifetime"`

	authURL, tokenURL, keysURL, issuer string // tests point them at a fake
}

var _ connectors.Config = (*Config)(nil)

// Validate reports every problem with the configuration. It does no I/O.
func (c *Config) Validate() error {
	var errs []error
	if c.ClientID == "" {
		errs = append(errs, errors.New("client_id: required (the Services ID)"))
	}
	if !appleIDRe.MatchString(c.TeamID) {
		errs = append(errs, fmt.Errorf("team_id: %q is not an Apple team ID (10 upper-case letters and digits)", c.TeamID))
	}
	if !appleIDRe.MatchString(c.KeyID) {
		errs = append(errs, fmt.Errorf("key_id: %q is not an Apple key ID (10 upper-case letters and digits)", c.KeyID))
	}
	if c.PrivateKeyFile == "" {
		errs = append(errs, errors.New("private_key_file: required (the .p8 key Apple issued)"))
	}
	if c.ClientSecretLifetime < 0 || c.ClientSecretLifetime > maxSecretTTL || (c.ClientSecretLifetime != 0 && c.ClientSecretLifetime < time.Hour) {
		errs = append(errs, fmt.Errorf("client_secret_lifetime: %s is not between 1h and 4320h (Apple's six months)", c.ClientSecretLifetime))
	}
	return errors.Join(errs...)
}

// Open reads the private key and builds the connector; it does no network I/O.
func (c *Config) Open(_ context.Context, info connectors.Info, deps connectors.Deps) (connectors.Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("apple connector %q: %w", info.ID, err)
	}
	pemBytes, err := os.ReadFile(c.PrivateKeyFile)
	if err != nil {
		return nil, fmt.Errorf("apple connector %q: private_key_file: %w", info.ID, err)
	}
	key, err := ParsePrivateKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("apple connector %q: private_key_file %s: %w", info.ID, c.PrivateKeyFile, err)
	}
	ttl := c.ClientSecretLifetime
	if ttl == 0 {
		ttl = DefaultSecretLifetime
	}
	pick := func(v, def string) string {
		if v != "" {
			return v
		}
		return def
	}
	now := oauthflow.Clock(deps.Now)
	httpc := oauthflow.HTTPClient(deps.HTTP)
	conn := &Connector{
		info: info, clientID: c.ClientID, http: httpc, now: now,
		authURL: pick(c.authURL, AuthURL), tokenURL: pick(c.tokenURL, TokenURL), issuer: pick(c.issuer, Issuer),
		secrets: &secretSource{teamID: c.TeamID, keyID: c.KeyID, clientID: c.ClientID, key: key, ttl: ttl, now: now},
	}
	conn.verifier = newVerifier(httpc, pick(c.keysURL, KeysURL), conn.issuer, c.ClientID, now)
	return conn, nil
}

// ParsePrivateKey reads Apple's .p8 key: a PEM "PRIVATE KEY" (PKCS#8) holding a P-256 key.
func ParsePrivateKey(pemBytes []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not a PKCS#8 private key: %w", err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve.Params().Name != "P-256" {
		return nil, errors.New("not a P-256 EC key (Sign in with Apple keys are ES256)")
	}
	return ek, nil
}

// Connector is an opened apple connector. It implements connectors.RedirectConnector and
// connectors.RefreshConnector.
type Connector struct {
	info                      connectors.Info
	clientID                  string
	authURL, tokenURL, issuer string
	http                      *http.Client
	now                       func() time.Time
	secrets                   *secretSource
	verifier                  *verifier
}

// Interface guards.
var (
	_ connectors.RedirectConnector = (*Connector)(nil)
	_ connectors.RefreshConnector  = (*Connector)(nil)
)

// Info returns the connector's identity.
func (c *Connector) Info() connectors.Info { return c.info }

// Close releases nothing.
func (c *Connector) Close() error { return nil }
