// Package github is Gatehouse's GitHub connector (github.com and GitHub Enterprise Server):
// OAuth 2.0 code flow with state and PKCE, then the REST API: /user for the account,
// /user/emails for the primary email (reported only when verified), /user/orgs and /user/teams
// (following Link-header pagination) for organization membership and teams.
//
// With orgs configured only members of one of them may sign in (a user outside them gets a
// *connectors.DeniedError saying which orgs are required); an org entry with teams admits only
// members of those teams. Teams become groups as "org:team" (team_name_field picks the slug,
// the display name, or both), and each admitted org becomes a group "org". Refresh re-reads
// the API with the stashed token, so a user removed from the org, or who revoked the app,
// loses access at the next downstream refresh.
package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/internal/oauthflow"
)

// Org is a GitHub organization whose members may sign in; with teams, only members of those
// teams (name or slug) of the org.
type Org = oauthflow.OrgRule

// Config is the YAML configuration of a github connector. It implements connectors.Config.
type Config struct {
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret" secret:"file"`
	// BaseURL is a GitHub Enterprise Server, e.g. https://github.example.com (API at
	// {base_url}/api/v3). Empty means github.com.
	BaseURL string `yaml:"base_url"`
	// Orgs, when set, restricts sign-in to their members; their teams become groups.
	Orgs []Org `yaml:"orgs"`
	// TeamNameField is how a team is named in groups: slug (default), name or both.
	TeamNameField string `yaml:"team_name_field"`
}

var _ connectors.Config = (*Config)(nil)

// Validate reports every problem with the configuration. It does no I/O.
func (c *Config) Validate() error {
	errs := oauthflow.ValidateClient(c.ClientID, c.ClientSecret)
	if c.BaseURL != "" {
		if err := oauthflow.ValidateBaseURL(c.BaseURL, "https://github.example.com", true); err != nil {
			errs = append(errs, err)
		}
	}
	for i, o := range c.Orgs {
		if o.Name == "" {
			errs = append(errs, fmt.Errorf("orgs[%d].name: required", i))
		}
	}
	switch c.TeamNameField {
	case "", "slug", "name", "both":
	default:
		errs = append(errs, fmt.Errorf("team_name_field: %q is not name, slug or both", c.TeamNameField))
	}
	return errors.Join(errs...)
}

// Open builds the connector without network I/O.
func (c *Config) Open(_ context.Context, info connectors.Info, deps connectors.Deps) (connectors.Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("github connector %q: %w", info.ID, err)
	}
	web, api := "https://github.com", "https://api.github.com"
	if c.BaseURL != "" {
		web = strings.TrimSuffix(c.BaseURL, "/")
		api = web + "/api/v3"
	}
	field := c.TeamNameField
	if field == "" {
		field = "slug"
	}
	httpc := oauthflow.HTTPClient(deps.HTTP)
	return &Connector{
		info: info, apiURL: api, orgs: slices.Clone(c.Orgs), teamField: field, now: oauthflow.Clock(deps.Now),
		api: oauthflow.API{HTTP: httpc, Header: http.Header{"Accept": {"application/vnd.github+json"}, "X-Github-Api-Version": {"2022-11-28"}}},
		flow: &oauthflow.Flow{
			OAuth2: oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, Endpoint: oauth2.Endpoint{
				AuthURL: web + "/login/oauth/authorize", TokenURL: web + "/login/oauth/access_token", AuthStyle: oauth2.AuthStyleInParams,
			}},
			PKCE: true, HTTP: httpc, Provider: info.Name,
		},
	}, nil
}

// Connector is an opened github connector. It implements connectors.RedirectConnector and
// connectors.RefreshConnector.
type Connector struct {
	info      connectors.Info
	flow      *oauthflow.Flow
	api       oauthflow.API
	apiURL    string
	orgs      []oauthflow.OrgRule
	teamField string
	now       func() time.Time
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

func (c *Connector) scopes(s connectors.Scopes) []string {
	scopes := []string{"read:user", "user:email"}
	if len(c.orgs) > 0 || s.Groups {
		scopes = append(scopes, "read:org")
	}
	return scopes
}

// Begin returns GitHub's authorization URL.
func (c *Connector) Begin(_ context.Context, req connectors.BeginRequest) (connectors.Step, error) {
	var extra []oauth2.AuthCodeOption
	if req.LoginHint != "" {
		extra = append(extra, oauth2.SetAuthURLParam("login", req.LoginHint))
	}
	return c.flow.Begin(req, c.scopes(req.Scopes), extra...)
}

// Finish redeems the code and reads the user, emails, orgs and teams.
func (c *Connector) Finish(ctx context.Context, req connectors.FinishRequest, r *http.Request) (connectors.Upstream, error) {
	return oauthflow.FinishIdentity(ctx, c.flow, req, r, c.identity)
}

// Refresh re-reads the user and their memberships with the stashed token.
func (c *Connector) Refresh(ctx context.Context, s connectors.Scopes, prev connectors.Upstream) (connectors.Upstream, error) {
	return oauthflow.RefreshIdentity(ctx, c.flow, c.now(), "GitHub", prev, func(ctx context.Context, ts oauthflow.TokenStash) (connectors.Upstream, error) {
		return c.identity(ctx, s, ts)
	})
}

type user struct {
	ID      int64  `json:"id"`
	Login   string `json:"login"`
	Name    string `json:"name"`
	Email   string `json:"email"`
	HTMLURL string `json:"html_url"`
}

type email struct {
	Email    string `json:"email"`
	Primary  bool   `json:"primary"`
	Verified bool   `json:"verified"`
}

type org struct {
	Login string `json:"login"`
}

type team struct {
	Name         string `json:"name"`
	Slug         string `json:"slug"`
	Organization org    `json:"organization"`
}

func (c *Connector) identity(ctx context.Context, s connectors.Scopes, ts oauthflow.TokenStash) (connectors.Upstream, error) {
	var u user
	if _, err := c.api.Get(ctx, c.apiURL+"/user", ts.AccessToken, &u); err != nil {
		return connectors.Upstream{}, fmt.Errorf("github user: %w", err)
	}
	if u.ID == 0 || u.Login == "" {
		return connectors.Upstream{}, errors.New("github user: no id or login")
	}
	emails, err := oauthflow.GetLinkPaged[email](ctx, c.api, c.apiURL+"/user/emails?per_page=100", ts.AccessToken)
	if err != nil {
		return connectors.Upstream{}, fmt.Errorf("github emails: %w", err)
	}
	up := connectors.Upstream{
		Subject: strconv.FormatInt(u.ID, 10), Username: u.Login, Name: u.Name,
		Attrs: map[string][]string{"login": {u.Login}, "id": {strconv.FormatInt(u.ID, 10)}},
	}
	if u.HTMLURL != "" {
		up.Attrs["html_url"] = []string{u.HTMLURL}
	}
	// Only a verified primary email: GitHub lets anyone add any address to an account, and
	// an unverified one says nothing about who the user is.
	for _, e := range emails {
		if e.Primary && e.Verified && e.Email != "" {
			up.Email, up.EmailVerified = e.Email, true
			break
		}
	}
	if len(c.orgs) > 0 || s.Groups {
		groups, err := c.groups(ctx, ts.AccessToken)
		if err != nil {
			return connectors.Upstream{}, err
		}
		up.Groups = groups
	}
	stash, err := oauthflow.EncodeStash(ts)
	if err != nil {
		return connectors.Upstream{}, err
	}
	up.Stash = stash
	return up, nil
}

// groups reads the user's orgs and teams, applies the org/team restriction and returns the
// groups.
func (c *Connector) groups(ctx context.Context, token string) ([]string, error) {
	orgs, err := oauthflow.GetLinkPaged[org](ctx, c.api, c.apiURL+"/user/orgs?per_page=100", token)
	if err != nil {
		return nil, fmt.Errorf("github orgs: %w", err)
	}
	teams, err := oauthflow.GetLinkPaged[team](ctx, c.api, c.apiURL+"/user/teams?per_page=100", token)
	if err != nil {
		return nil, fmt.Errorf("github teams: %w", err)
	}
	if len(c.orgs) == 0 {
		var groups []string
		add := func(g string) {
			if !slices.Contains(groups, g) {
				groups = append(groups, g)
			}
		}
		for _, o := range orgs {
			add(o.Login)
		}
		for _, t := range teams {
			for _, g := range c.teamGroups(t) {
				add(t.Organization.Login + ":" + g)
			}
		}
		return groups, nil
	}
	memberOf := map[string]bool{}
	for _, o := range orgs {
		memberOf[strings.ToLower(o.Login)] = true
	}
	inTeams := make([]oauthflow.OrgTeam, 0, len(teams))
	for _, t := range teams {
		memberOf[strings.ToLower(t.Organization.Login)] = true
		inTeams = append(inTeams, oauthflow.OrgTeam{Org: t.Organization.Login, Names: []string{t.Slug, t.Name}, Groups: c.teamGroups(t)})
	}
	return oauthflow.RestrictOrgs("GitHub", c.orgs, func(o string) bool { return memberOf[strings.ToLower(o)] }, inTeams)
}

// teamGroups names team t in groups (after "org:") as team_name_field says.
func (c *Connector) teamGroups(t team) []string {
	switch c.teamField {
	case "name":
		return []string{t.Name}
	case "both":
		return []string{t.Slug, t.Name}
	default:
		return []string{t.Slug}
	}
}
