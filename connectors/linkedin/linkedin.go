// Package linkedin is Gatehouse's "Sign in with LinkedIn" connector: LinkedIn's OpenID Connect
// product (issuer https://www.linkedin.com/oauth, discovery at
// https://www.linkedin.com/oauth/.well-known/openid-configuration), built on the oidc
// connector: lazy discovery, state, nonce, ID token verification against LinkedIn's JWKS.
//
// LinkedIn's ID token carries sub, name, given_name, family_name, picture, email and
// email_verified; email_verified is reported as LinkedIn states it (an email without the
// claim is unverified). LinkedIn has no groups. LinkedIn issues refresh tokens only to
// approved partner applications, so a downstream refresh re-reads nothing upstream: the
// identity of the login is kept until the downstream refresh token expires. LinkedIn accepts
// no PKCE for web applications with a client secret (state and nonce protect the flow).
package linkedin

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/internal/oauthflow"
	"github.com/gatehouse-id/gatehouse/connectors/oidc"
)

// Issuer is LinkedIn's OpenID issuer.
const Issuer = "https://www.linkedin.com/oauth"

// EndpointHosts are the hosts of LinkedIn's discovered endpoints Gatehouse fetches besides the
// issuer's www.linkedin.com (userinfo on api.linkedin.com).
func EndpointHosts() []string { return []string{"api.linkedin.com"} }

// Config is the YAML configuration of a linkedin connector. It implements connectors.Config.
type Config struct {
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret" secret:"file"`

	issuer string // tests point it at a fake; empty means Issuer
}

var _ connectors.Config = (*Config)(nil)

// Validate reports every problem with the configuration. It does no I/O.
func (c *Config) Validate() error {
	return errors.Join(oauthflow.ValidateClient(c.ClientID, c.ClientSecret)...)
}

// Open builds the connector without network I/O.
func (c *Config) Open(_ context.Context, info connectors.Info, deps connectors.Deps) (connectors.Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("linkedin connector %q: %w", info.ID, err)
	}
	issuer := c.issuer
	if issuer == "" {
		issuer = Issuer
	}
	return oidc.New(info, deps, oidc.Options{
		Issuer: issuer, ClientID: c.ClientID, ClientSecret: c.ClientSecret,
		Scopes: []string{"openid", "profile", "email"}, EndpointHosts: EndpointHosts(),
	}), nil
}
