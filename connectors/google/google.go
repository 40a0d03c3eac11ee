// Package google is Gatehouse's "Sign in with Google" connector: OpenID Connect against
// https://accounts.google.com (built on the oidc connector: lazy discovery, state, nonce, PKCE,
// ID token verification), with an optional Google Workspace hosted-domain restriction that is
// checked on the ID token's hd claim, not only requested with the hd parameter (which a user
// can remove from the URL). Refresh uses Google's refresh token (access_type=offline, asked
// only when the downstream client wants offline access) and re-checks hd.
//
// Google puts no groups in its tokens. With service_account_file and admin_email the
// connector reads a Workspace user's groups from the Admin SDK Directory API
// (groups?userKey=<sub>, the group email addresses the user is a direct member of) as a
// service account with domain-wide delegation impersonating admin_email, at every login and
// refresh; groups restricts sign-in to members of those groups. The lookup is keyed by the ID
// token's sub, never the email: a personal Google account can carry a Workspace address
// (a "conflicting account") and must not get that user's groups. Personal accounts (no hd
// claim) have no groups.
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
	ClientSecret string `yaml:"client_secret" secret:"file"`
	// Scopes requested; empty means openid, email, profile.
	Scopes []string `yaml:"scopes"`
	// HostedDomains, when set, admits only Google Workspace accounts of these domains (the
	// ID token's hd claim).
	HostedDomains []string `yaml:"hosted_domains"`
	// ServiceAccountFile is a service account's JSON key file, used to read Workspace groups
	// from the Directory API (with domain-wide delegation of DirectoryScope).
	ServiceAccountFile string `yaml:"service_account_file"`
	// AdminEmail is the Workspace admin the service account impersonates.
	AdminEmail string `yaml:"admin_email"`
	// Groups, when set, admits only members of these Workspace groups (group email
	// addresses) and reports only them.
	Groups []string `yaml:"groups"`

	issuer    string // tests point it at a fake; empty means Issuer
	directory string // tests point it at a fake; empty means DirectoryURL
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
	return errors.Join(append(errs, c.validateGroups()...)...)
}

// validateGroups checks the Workspace groups keys: a key file and an admin go together, and
// groups need them.
func (c *Config) validateGroups() []error {
	var errs []error
	switch {
	case c.ServiceAccountFile != "" && c.AdminEmail == "":
		errs = append(errs, errors.New("admin_email: required with service_account_file (the Workspace admin to impersonate)"))
	case c.ServiceAccountFile == "" && c.AdminEmail != "":
		errs = append(errs, errors.New("service_account_file: required with admin_email"))
	case c.ServiceAccountFile == "" && len(c.Groups) > 0:
		errs = append(errs, errors.New("groups: needs service_account_file and admin_email (groups are read from the Directory API)"))
	}
	if c.AdminEmail != "" && oauthflow.DomainOf(c.AdminEmail) == "" {
		errs = append(errs, fmt.Errorf("admin_email: %q is not an email address", c.AdminEmail))
	}
	for i, g := range c.Groups {
		if oauthflow.DomainOf(g) == "" || strings.ContainsAny(g, " /*") {
			errs = append(errs, fmt.Errorf("groups[%d]: %q is not a group email address", i, g))
		}
	}
	return errs
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
	var dir *directory
	if c.ServiceAccountFile != "" {
		key, err := readServiceAccount(c.ServiceAccountFile)
		if err != nil {
			return nil, fmt.Errorf("google connector %q: %w", info.ID, err)
		}
		base := c.directory
		if base == "" {
			base = DirectoryURL
		}
		dir = newDirectory(key, c.AdminEmail, base, oauthflow.HTTPClient(deps.HTTP))
	}
	required := slices.Clone(c.Groups)
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
		Enrich: func(ctx context.Context, s connectors.Scopes, _ *oauth2.Token, claims map[string]any, up *connectors.Upstream) error {
			if err := checkHostedDomain(domains, claims); err != nil {
				return err
			}
			if dir == nil || (!s.Groups && len(required) == 0) {
				return nil
			}
			return workspaceGroups(ctx, dir, required, claims, up)
		},
	}), nil
}

// workspaceGroups sets up.Groups to the Workspace groups of the user (only the required
// ones when set), refusing a user in none of them.
func workspaceGroups(ctx context.Context, dir *directory, required []string, claims map[string]any, up *connectors.Upstream) error {
	var groups []string
	if oauthflow.String(claims["hd"]) != "" {
		var err error
		if groups, err = dir.groups(ctx, oauthflow.String(claims["sub"])); err != nil {
			return err
		}
	}
	groups, err := oauthflow.RequireGroups(groups, required, true, "Google group")
	if err != nil {
		return err
	}
	up.Groups = groups
	return nil
}

// checkHostedDomain admits, when domains are configured, only Workspace accounts (the ID
// token's hd claim) of those domains.
func checkHostedDomain(domains []string, claims map[string]any) error {
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
}
