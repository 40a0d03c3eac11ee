// Package google is Gatehouse's "Sign in with Google" connector: OpenID Connect against
// https://accounts.google.com (built on the oidc connector: lazy discovery, state, nonce, PKCE,
// ID token verification), with an optional Google Workspace hosted-domain restriction that is
// checked on the ID token's hd claim, not only requested with the hd parameter (which a user
// can remove from the URL). Refresh uses Google's refresh token (access_type=offline, asked
// only when the downstream client wants offline access) and re-checks hd.
//
// Groups are not implemented: Google puts no groups in its tokens, and reading Workspace
// groups needs the Admin SDK Directory API with a service account and domain-wide delegation.
// Upstream users therefore carry no groups from this connector.
package google

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/internal/oauthflow"
	"github.com/gatehouse-id/gatehouse/connectors/oidc"
)

// Issuer is Google's OpenID issuer.
const Issuer = "https://accounts.google.com"

// Config is the YAML configuration of a google connector. It implements connectors.Config.
type Config struct {
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	// Scopes requested; empty means openid, email, profile.
	Scopes []string `yaml:"scopes"`
	// HostedDomains, when set, admits only Google Workspace accounts of these domains (the
	// ID token's hd claim).
	HostedDomains []string `yaml:"hosted_domains"`

	issuer string // tests point it at a fake; empty means Issuer
}

var _ connectors.Config = (*Config)(nil)

// Validate reports every problem with the configuration. It does no I/O.
func (c *Config) Validate() error {
	var errs []error
	if c.ClientID == "" {
		errs = append(errs, errors.New("client_id: required"))
	}
	if c.ClientSecret == "" {
		errs = append(errs, errors.New("client_secret: required"))
	}
	if len(c.Scopes) > 0 && !slices.Contains(c.Scopes, "openid") {
		errs = append(errs, errors.New("scopes: must include openid"))
	}
	for i, d := range c.HostedDomains {
		if d == "" || strings.ContainsAny(d, "@/ *") {
			errs = append(errs, fmt.Errorf("hosted_domains[%d]: %q is not a domain name", i, d))
		}
	}
	return errors.Join(errs...)
}

// EndpointHosts returns the hosts Google's discovery document names for the endpoints
// Gatehouse fetches (keys, token, userinfo), besides the issuer's accounts.google.com.
func EndpointHosts() []string {
	return []string{"www.googleapis.com", "oauth2.googleapis.com", "openidconnect.googleapis.com"}
}

// Open builds the connector without network I/O.
func (c *Config) Open(_ context.Context, info connectors.Info, deps connectors.Deps) (connectors.Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("google connector %q: %w", info.ID, err)
	}
	issuer := c.issuer
	if issuer == "" {
		issuer = Issuer
	}
	scopes := slices.Clone(c.Scopes)
	if len(scopes) == 0 {
		scopes = oidc.DefaultScopes()
	}
	domains := slices.Clone(c.HostedDomains)
	return oidc.New(info, deps, oidc.Options{
		Issuer: issuer, ClientID: c.ClientID, ClientSecret: c.ClientSecret, Scopes: scopes, PKCE: true,
		EndpointHosts: EndpointHosts(),
		AuthParams: func(s connectors.Scopes) []oauth2.AuthCodeOption {
			var opts []oauth2.AuthCodeOption
			if s.Offline {
				opts = append(opts, oauth2.AccessTypeOffline, oauth2.SetAuthURLParam("prompt", "consent"))
			}
			switch len(domains) {
			case 0:
			case 1:
				opts = append(opts, oauth2.SetAuthURLParam("hd", domains[0]))
			default:
				opts = append(opts, oauth2.SetAuthURLParam("hd", "*"))
			}
			return opts
		},
		Enrich: func(_ context.Context, _ connectors.Scopes, _ *oauth2.Token, claims map[string]any, _ *connectors.Upstream) error {
			if len(domains) == 0 {
				return nil
			}
			hd := oauthflow.String(claims["hd"])
			if hd == "" {
				return &connectors.DeniedError{Reason: "only Google Workspace accounts of " + strings.Join(domains, ", ") + " may sign in; this is a personal Google account"}
			}
			if !slices.ContainsFunc(domains, func(d string) bool { return strings.EqualFold(d, hd) }) {
				return &connectors.DeniedError{Reason: "Google Workspace accounts of " + hd + " may not sign in here"}
			}
			return nil
		},
	}), nil
}
