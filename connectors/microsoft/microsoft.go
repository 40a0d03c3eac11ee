// Package microsoft is Gatehouse's Microsoft Entra ID (Azure AD) and Microsoft account
// connector: OpenID Connect against the v2.0 endpoints of
// https://login.microsoftonline.com/{tenant}/v2.0 (built on the oidc connector), with groups
// read from Microsoft Graph /me/memberOf following @odata.nextLink, so users in more groups
// than fit in a token (the "groups overage" case) get all of them.
//
// tenant is common (any work, school or personal account), organizations (work and school
// only), consumers (personal only) or a tenant ID (that directory only). The multi-tenant
// endpoints publish an issuer template, so the connector checks each ID token's iss against
// its tid itself, and allowed_tenants can restrict tids further. With groups configured, only
// members of one of them may sign in. Graph needs the delegated permission
// GroupMember.Read.All, requested only when groups are needed.
package microsoft

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/internal/oauthflow"
	"github.com/gatehouse-id/gatehouse/connectors/oidc"
)

// Endpoints of the Microsoft identity platform and Microsoft Graph.
const (
	Authority = "https://login.microsoftonline.com"
	GraphURL  = "https://graph.microsoft.com"
	// ConsumersTenantID is the tenant of personal Microsoft accounts.
	ConsumersTenantID = "9188040d-6c67-4c5b-b112-36a304b66dad"
)

// Config is the YAML configuration of a microsoft connector. It implements connectors.Config.
type Config struct {
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	// Tenant is common (default), organizations, consumers, or a tenant ID (a GUID).
	Tenant string `yaml:"tenant"`
	// AllowedTenants, when set, admits only accounts of these tenant IDs.
	AllowedTenants []string `yaml:"allowed_tenants"`
	// Groups, when set, admits only members of these groups (display names, or IDs with
	// group_name_format: id).
	Groups []string `yaml:"groups"`
	// GroupNameFormat is how groups are named: name (displayName, default) or id.
	GroupNameFormat string `yaml:"group_name_format"`
	// InsecureSkipEmailVerified treats the email claim as verified. Entra ID does not send
	// email_verified; only the optional xms_edov claim says an email's domain is verified.
	InsecureSkipEmailVerified bool `yaml:"insecure_skip_email_verified"`

	authority, graph string // tests point them at a fake
}

var _ connectors.Config = (*Config)(nil)

func guid() *regexp.Regexp {
	return regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
}

// Validate reports every problem with the configuration. It does no I/O.
func (c *Config) Validate() error {
	var errs []error
	if c.ClientID == "" {
		errs = append(errs, errors.New("client_id: required"))
	}
	if c.ClientSecret == "" {
		errs = append(errs, errors.New("client_secret: required"))
	}
	switch {
	case c.Tenant == "", c.Tenant == "common", c.Tenant == "organizations", c.Tenant == "consumers", guid().MatchString(c.Tenant):
	default:
		errs = append(errs, fmt.Errorf("tenant: %q is not common, organizations, consumers or a tenant ID (GUID; find it in the Entra admin center)", c.Tenant))
	}
	for i, t := range c.AllowedTenants {
		if !guid().MatchString(t) {
			errs = append(errs, fmt.Errorf("allowed_tenants[%d]: %q is not a tenant ID (GUID)", i, t))
		}
	}
	switch c.GroupNameFormat {
	case "", "name", "id":
	default:
		errs = append(errs, fmt.Errorf("group_name_format: %q is not name or id", c.GroupNameFormat))
	}
	return errors.Join(errs...)
}

// Open builds the connector without network I/O.
func (c *Config) Open(_ context.Context, info connectors.Info, deps connectors.Deps) (connectors.Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("microsoft connector %q: %w", info.ID, err)
	}
	authority, graph := c.authority, c.graph
	if authority == "" {
		authority = Authority
	}
	if graph == "" {
		graph = GraphURL
	}
	tenant := c.Tenant
	if tenant == "" {
		tenant = "common"
	}
	g := &graphGroups{
		api: oauthflow.API{HTTP: oauthflow.HTTPClient(deps.HTTP)}, url: graph + "/v1.0/me/memberOf?$select=id,displayName",
		required: slices.Clone(c.Groups), byID: c.GroupNameFormat == "id",
	}
	opts := oidc.Options{
		Issuer: authority + "/" + tenant + "/v2.0", ClientID: c.ClientID, ClientSecret: c.ClientSecret,
		Scopes: []string{"openid", "profile", "email", "offline_access"}, OfflineScope: "offline_access", PKCE: true,
		UserIDClaim: "oid", InsecureSkipEmailVerified: c.InsecureSkipEmailVerified,
		ExtraScopes: func(s connectors.Scopes) []string {
			if g.wanted(s) {
				return []string{"https://graph.microsoft.com/GroupMember.Read.All"}
			}
			return nil
		},
	}
	allowed := slices.Clone(c.AllowedTenants)
	multi := !guid().MatchString(tenant)
	if multi {
		// The multi-tenant discovery documents carry "{tenantid}" in the issuer: each ID
		// token's iss must then match its own tid.
		opts.DiscoveryIssuer = authority + "/{tenantid}/v2.0"
		opts.CheckIssuer = func(iss string, claims map[string]any) error {
			tid := oauthflow.String(claims["tid"])
			if tid == "" || iss != authority+"/"+tid+"/v2.0" {
				return fmt.Errorf("ID token issuer %q does not match its tenant %q", iss, tid)
			}
			switch {
			case tenant == "organizations" && tid == ConsumersTenantID:
				return &connectors.DeniedError{Reason: "personal Microsoft accounts may not sign in here; use a work or school account"}
			case tenant == "consumers" && tid != ConsumersTenantID:
				return &connectors.DeniedError{Reason: "only personal Microsoft accounts may sign in here"}
			}
			return nil
		}
	}
	opts.Enrich = func(ctx context.Context, s connectors.Scopes, tok *oauth2.Token, claims map[string]any, up *connectors.Upstream) error {
		tid := oauthflow.String(claims["tid"])
		if len(allowed) > 0 && !slices.ContainsFunc(allowed, func(a string) bool { return strings.EqualFold(a, tid) }) {
			return &connectors.DeniedError{Reason: "accounts of your organization (tenant " + tid + ") may not sign in here"}
		}
		if up.Email == "" {
			if pu := oauthflow.String(claims["preferred_username"]); strings.Contains(pu, "@") {
				up.Email = pu // a UPN: not a verified email address
			}
		}
		up.EmailVerified = up.Email != "" && (c.InsecureSkipEmailVerified || oauthflow.Bool(claims["xms_edov"]))
		return g.enrich(ctx, s, tok, claims, up)
	}
	return oidc.New(info, deps, opts), nil
}

// graphGroups reads group memberships from Microsoft Graph.
type graphGroups struct {
	api      oauthflow.API
	url      string
	required []string
	byID     bool
}

func (g *graphGroups) wanted(s connectors.Scopes) bool { return len(g.required) > 0 || s.Groups }

type directoryObject struct {
	Type        string `json:"@odata.type"`
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
}

// enrich sets up.Groups from Graph (or, at a refresh without an access token, from the groups
// recorded at login) and applies the required groups.
func (g *graphGroups) enrich(ctx context.Context, s connectors.Scopes, tok *oauth2.Token, claims map[string]any, up *connectors.Upstream) error {
	if !g.wanted(s) {
		up.Groups = nil
		return nil
	}
	if tok != nil {
		objs, err := oauthflow.GetODataPaged[directoryObject](ctx, g.api, g.url, tok.AccessToken)
		if err != nil {
			return fmt.Errorf("microsoft graph memberOf: %w", err)
		}
		groups := []string{}
		for _, o := range objs {
			if o.Type != "#microsoft.graph.group" {
				continue // directory roles, administrative units
			}
			name := o.DisplayName
			if g.byID || name == "" {
				name = o.ID
			}
			groups = append(groups, name)
		}
		up.Groups = groups
		claims["groups"] = groups // stashed for refreshes without a new token
	}
	if len(g.required) > 0 {
		up.Groups = slices.DeleteFunc(up.Groups, func(x string) bool { return !slices.Contains(g.required, x) })
		if len(up.Groups) == 0 {
			return &connectors.DeniedError{Reason: "you are not a member of the group " + strings.Join(g.required, " or ")}
		}
	}
	return nil
}
