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
//
// Groups are object IDs (GUIDs), in groups requirements and in the groups the connector
// reports: a display name is chosen by whoever creates the group, and Entra lets ordinary
// users create groups. group_name_format: name matches and reports display names instead; it
// needs a single-tenant tenant (names are then those of that directory, where anyone allowed
// to create groups can still pick any name). A groups requirement on a multi-tenant endpoint
// (common, organizations, consumers) needs allowed_tenants.
//
// Email: the email claim is verified only with the optional claim xms_edov (the domain owner
// verified it); insecure_skip_email_verified trusts the email claim without it. Without an
// email claim, a preferred_username that looks like an address (a UPN) is reported as the
// email, never as verified.
package microsoft

import (
	"cmp"
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
	ClientSecret string `yaml:"client_secret" secret:"file"`
	// Tenant is common (default), organizations, consumers, or a tenant ID (a GUID).
	Tenant string `yaml:"tenant"`
	// AllowedTenants, when set, admits only accounts of these tenant IDs.
	AllowedTenants []string `yaml:"allowed_tenants"`
	// Groups, when set, admits only members of these groups: object IDs, or display names
	// with group_name_format: name. On a multi-tenant endpoint it needs AllowedTenants.
	Groups []string `yaml:"groups"`
	// GroupNameFormat is how groups are matched and reported: id (object ID, default) or name
	// (displayName, which the group's creator chooses; only with a single-tenant Tenant).
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
	return errors.Join(append(errs, c.validateGroups()...)...)
}

// VerifiesGroups implements connectors.GroupVerifier: group requirements need a single
// tenant, or allowed_tenants on a multi-tenant endpoint.
func (c *Config) VerifiesGroups() (bool, string) {
	return guid().MatchString(c.Tenant) || len(c.AllowedTenants) > 0, "allowed_tenants"
}

// validateGroups checks the group settings: IDs unless names are asked for, names only in one
// tenant, and requirements on multi-tenant endpoints only with allowed_tenants.
func (c *Config) validateGroups() []error {
	var errs []error
	single := guid().MatchString(c.Tenant)
	switch c.GroupNameFormat {
	case "", "id":
		for i, g := range c.Groups {
			if !guid().MatchString(g) {
				errs = append(errs, fmt.Errorf("groups[%d]: %q is not a group object ID (GUID); display names need group_name_format: name", i, g))
			}
		}
	case "name":
		if !single {
			errs = append(errs, errors.New("group_name_format: name needs tenant set to one tenant ID: display names are chosen by whoever creates a group, in any tenant"))
		}
	default:
		errs = append(errs, fmt.Errorf("group_name_format: %q is not id or name", c.GroupNameFormat))
	}
	if len(c.Groups) > 0 && !single && len(c.AllowedTenants) == 0 {
		errs = append(errs, fmt.Errorf("groups: a group requirement on the multi-tenant endpoint %q needs allowed_tenants (the tenant IDs whose groups count)", cmp.Or(c.Tenant, "common")))
	}
	return errs
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
		required: slices.Clone(c.Groups), byName: c.GroupNameFormat == "name",
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
		// Only the email claim can be verified, by xms_edov (or the operator's insecure trust).
		up.EmailVerified = up.Email != "" && (c.InsecureSkipEmailVerified || oauthflow.Bool(claims["xms_edov"]))
		if up.Email == "" {
			if pu := oauthflow.String(claims["preferred_username"]); strings.Contains(pu, "@") {
				up.Email, up.EmailVerified = pu, false // a UPN: not a verified email address
			}
		}
		return g.enrich(ctx, s, tok, claims, up)
	}
	return oidc.New(info, deps, opts), nil
}

// graphGroups reads group memberships from Microsoft Graph.
type graphGroups struct {
	api      oauthflow.API
	url      string
	required []string
	byName   bool // match and report display names instead of object IDs
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
			name := o.ID
			if g.byName && o.DisplayName != "" {
				name = o.DisplayName
			}
			groups = append(groups, name)
		}
		up.Groups = groups
		claims["groups"] = groups // stashed for refreshes without a new token
	}
	if len(g.required) > 0 {
		up.Groups = slices.DeleteFunc(up.Groups, func(x string) bool { return !slices.ContainsFunc(g.required, g.matches(x)) })
		if len(up.Groups) == 0 {
			return &connectors.DeniedError{Reason: "you are not a member of the group " + strings.Join(g.required, " or ")}
		}
	}
	return nil
}

// matches returns a predicate for required entries equal to group: object IDs compare
// case-insensitively (GUIDs), display names exactly.
func (g *graphGroups) matches(group string) func(string) bool {
	return func(req string) bool {
		if g.byName {
			return req == group
		}
		return strings.EqualFold(req, group)
	}
}
