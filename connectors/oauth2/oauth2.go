// Package oauth2 is Gatehouse's connector to a plain OAuth 2.0 provider that is not an OpenID
// provider: the authorization code flow (state, PKCE) against configured endpoints, then a
// userinfo-style JSON endpoint read with the access token, whose fields are picked by dotted
// paths (claims: {user_id: id, email: data.email, groups: roles}).
//
// Refresh re-reads the userinfo endpoint with the stashed access token (refreshed first with
// the upstream refresh token when it has expired); a 401 there, or a refused refresh token,
// is connectors.ErrUpstreamRevoked.
package oauth2

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	xoauth2 "golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/internal/oauthflow"
)

// Claims are dotted JSON paths into the userinfo response.
type Claims struct {
	UserID        string `yaml:"user_id"`        // default: sub
	Email         string `yaml:"email"`          // default: email
	EmailVerified string `yaml:"email_verified"` // default: email_verified
	Username      string `yaml:"username"`       // default: preferred_username
	Name          string `yaml:"name"`           // default: name
	Groups        string `yaml:"groups"`         // default: groups
}

// Config is the YAML configuration of an oauth2 connector. It implements connectors.Config.
type Config struct {
	AuthorizationURL string   `yaml:"authorization_url"`
	TokenURL         string   `yaml:"token_url"`
	UserinfoURL      string   `yaml:"userinfo_url"`
	ClientID         string   `yaml:"client_id"`
	ClientSecret     string   `yaml:"client_secret" secret:"file"`
	Scopes           []string `yaml:"scopes"`
	// PKCE sends an S256 code challenge (default true).
	PKCE   *bool  `yaml:"pkce"`
	Claims Claims `yaml:"claims"`
	// InsecureSkipEmailVerified treats the email as verified when the userinfo response has
	// no email_verified field (plain OAuth 2.0 has no standard one).
	InsecureSkipEmailVerified bool `yaml:"insecure_skip_email_verified"`
	// AuthStyle is how the client authenticates at the token endpoint: header (HTTP Basic,
	// the default) or params (client_id and client_secret in the form).
	AuthStyle string `yaml:"auth_style"`
}

var _ connectors.Config = (*Config)(nil)

// Validate reports every problem with the configuration. It does no I/O.
func (c *Config) Validate() error {
	var errs []error
	for _, f := range []struct{ name, v string }{
		{"authorization_url", c.AuthorizationURL}, {"token_url", c.TokenURL}, {"userinfo_url", c.UserinfoURL},
	} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("%s: required", f.name))
			continue
		}
		if err := oauthflow.ValidateEndpoint(f.v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
		}
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("client_id: required"))
	}
	switch c.AuthStyle {
	case "", "header", "params":
	default:
		errs = append(errs, fmt.Errorf("auth_style: %q is not header or params", c.AuthStyle))
	}
	return errors.Join(errs...)
}

// Open builds the connector without network I/O.
func (c *Config) Open(_ context.Context, info connectors.Info, deps connectors.Deps) (connectors.Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("oauth2 connector %q: %w", info.ID, err)
	}
	style := xoauth2.AuthStyleInHeader
	if c.AuthStyle == "params" {
		style = xoauth2.AuthStyleInParams
	}
	cl := c.Claims
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&cl.UserID, "sub")
	def(&cl.Email, "email")
	def(&cl.EmailVerified, "email_verified")
	def(&cl.Username, "preferred_username")
	def(&cl.Name, "name")
	def(&cl.Groups, "groups")
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	httpc := oauthflow.HTTPClient(deps.HTTP)
	return &Connector{
		info: info, claims: cl, userinfo: c.UserinfoURL, scopes: c.Scopes, skipVerified: c.InsecureSkipEmailVerified,
		api: oauthflow.API{HTTP: httpc}, logger: logger, now: now,
		flow: &oauthflow.Flow{
			OAuth2: xoauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, Endpoint: xoauth2.Endpoint{
				AuthURL: c.AuthorizationURL, TokenURL: c.TokenURL, AuthStyle: style,
			}},
			PKCE: c.PKCE == nil || *c.PKCE, HTTP: httpc, Provider: info.Name,
		},
	}, nil
}

// Connector is an opened oauth2 connector. It implements connectors.RedirectConnector and
// connectors.RefreshConnector.
type Connector struct {
	info         connectors.Info
	flow         *oauthflow.Flow
	api          oauthflow.API
	claims       Claims
	userinfo     string
	scopes       []string
	skipVerified bool
	logger       *slog.Logger
	now          func() time.Time
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

// Begin returns the upstream authorization URL.
func (c *Connector) Begin(_ context.Context, req connectors.BeginRequest) (connectors.Step, error) {
	return c.flow.Begin(req, c.scopes)
}

// Finish redeems the code and reads the userinfo endpoint.
func (c *Connector) Finish(ctx context.Context, req connectors.FinishRequest, r *http.Request) (connectors.Upstream, error) {
	tok, err := c.flow.Finish(ctx, req, r)
	if err != nil {
		return connectors.Upstream{}, err
	}
	return c.identity(ctx, oauthflow.NewTokenStash(tok))
}

// Refresh re-reads the userinfo endpoint, refreshing the access token first when needed.
func (c *Connector) Refresh(ctx context.Context, _ connectors.Scopes, prev connectors.Upstream) (connectors.Upstream, error) {
	return oauthflow.RefreshIdentity(ctx, c.flow, c.now(), "upstream", prev, c.identity)
}

func (c *Connector) identity(ctx context.Context, ts oauthflow.TokenStash) (connectors.Upstream, error) {
	var info map[string]any
	if _, err := c.api.Get(ctx, c.userinfo, ts.AccessToken, &info); err != nil {
		return connectors.Upstream{}, fmt.Errorf("userinfo: %w", err)
	}
	get := func(path string) any {
		v, _ := oauthflow.Lookup(info, path)
		return v
	}
	up := connectors.Upstream{
		Subject:  oauthflow.String(get(c.claims.UserID)),
		Email:    oauthflow.String(get(c.claims.Email)),
		Username: oauthflow.String(get(c.claims.Username)),
		Name:     oauthflow.String(get(c.claims.Name)),
		Groups:   oauthflow.Strings(get(c.claims.Groups)),
		Attrs:    oauthflow.Attrs(info),
	}
	if up.Subject == "" {
		return connectors.Upstream{}, fmt.Errorf("userinfo has no user ID at %q", c.claims.UserID)
	}
	if v, ok := oauthflow.Lookup(info, c.claims.EmailVerified); ok {
		up.EmailVerified = oauthflow.Bool(v)
	} else {
		up.EmailVerified = c.skipVerified
	}
	up.EmailVerified = up.EmailVerified && up.Email != ""
	stash, err := oauthflow.EncodeStash(ts)
	if err != nil {
		return connectors.Upstream{}, err
	}
	up.Stash = stash
	return up, nil
}
