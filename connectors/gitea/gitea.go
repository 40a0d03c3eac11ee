// Package gitea is Gatehouse's Gitea and Forgejo connector (a self-hosted instance, or a
// hosted one such as gitea.com or codeberg.org): OAuth 2.0 code flow with state and PKCE
// against {base_url}/login/oauth/authorize, then the REST API under {base_url}/api/v1:
// /user for the account, /user/emails for whether its email is verified, /user/orgs and
// /user/teams (following Link-header pagination) for organizations and teams.
//
// Every Gitea is run by someone: its admins decide whether an email must be confirmed (and
// can mark any address as confirmed), so an email counts as verified only when the instance
// is configured with trust_email: true and the API says the primary email is verified.
//
// Orgs become groups "org" and teams "org:team" (the spelling of Gitea's own OIDC groups
// claim). With orgs configured only members of one of them may sign in (others get a
// *connectors.DeniedError); an org entry with teams admits only members of those teams.
// Inactive and login-prohibited accounts are refused. Refresh uses the stashed token
// (refreshing it with Gitea's refresh token when it has expired) and re-reads the API, so a
// user removed from the org, or who revoked the app, loses access at the next refresh.
package gitea

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

// Org is a Gitea organization whose members may sign in; with teams, only members of those
// teams of the org.
type Org = oauthflow.OrgRule

// Config is the YAML configuration of a gitea connector. It implements connectors.Config.
type Config struct {
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret" secret:"file"`
	// BaseURL is the Gitea or Forgejo instance, e.g. https://gitea.example.com (required).
	BaseURL string `yaml:"base_url"`
	// Orgs, when set, restricts sign-in to their members (and their teams).
	Orgs []Org `yaml:"orgs"`
	// UseLoginAsID uses the login name instead of the numeric user ID as the subject.
	UseLoginAsID bool `yaml:"use_login_as_id"`
	// TrustEmail reports the primary email as verified when the instance says it is. The
	// instance's admins decide what verified means there, so without it emails are
	// unverified.
	TrustEmail bool `yaml:"trust_email"`
}

var (
	_ connectors.Config        = (*Config)(nil)
	_ connectors.EmailVerifier = (*Config)(nil)
)

// VerifiesEmail implements connectors.EmailVerifier: only with trust_email.
func (c *Config) VerifiesEmail() (bool, string) { return c.TrustEmail, "trust_email" }

// Validate reports every problem with the configuration. It does no I/O.
func (c *Config) Validate() error {
	errs := oauthflow.ValidateClient(c.ClientID, c.ClientSecret)
	if c.BaseURL == "" {
		errs = append(errs, errors.New("base_url: required (the Gitea or Forgejo instance, e.g. https://gitea.example.com)"))
	} else if err := oauthflow.ValidateBaseURL(c.BaseURL, "https://gitea.example.com", false); err != nil {
		errs = append(errs, err)
	}
	for i, o := range c.Orgs {
		if o.Name == "" {
			errs = append(errs, fmt.Errorf("orgs[%d].name: required", i))
		}
		for j, t := range o.Teams {
			if t == "" {
				errs = append(errs, fmt.Errorf("orgs[%d].teams[%d]: empty", i, j))
			}
		}
	}
	return errors.Join(errs...)
}

// Open builds the connector without network I/O.
func (c *Config) Open(_ context.Context, info connectors.Info, deps connectors.Deps) (connectors.Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("gitea connector %q: %w", info.ID, err)
	}
	base := strings.TrimSuffix(c.BaseURL, "/")
	httpc := oauthflow.HTTPClient(deps.HTTP)
	return &Connector{
		info: info, apiURL: base + "/api/v1", orgs: slices.Clone(c.Orgs), loginAsID: c.UseLoginAsID,
		trustEmail: c.TrustEmail, now: oauthflow.Clock(deps.Now),
		api: oauthflow.API{HTTP: httpc},
		flow: &oauthflow.Flow{
			OAuth2: oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, Endpoint: oauth2.Endpoint{
				AuthURL: base + "/login/oauth/authorize", TokenURL: base + "/login/oauth/access_token", AuthStyle: oauth2.AuthStyleInParams,
			}},
			PKCE: true, HTTP: httpc, Provider: info.Name,
		},
	}, nil
}

// Connector is an opened gitea connector. It implements connectors.RedirectConnector and
// connectors.RefreshConnector.
type Connector struct {
	info       connectors.Info
	flow       *oauthflow.Flow
	api        oauthflow.API
	apiURL     string
	orgs       []oauthflow.OrgRule
	loginAsID  bool
	trustEmail bool
	now        func() time.Time
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

func (c *Connector) wantGroups(s connectors.Scopes) bool { return len(c.orgs) > 0 || s.Groups }

// scopes are Gitea's token scopes (1.20+; Forgejo alike): older instances ignore them and
// issue full-access tokens.
func (c *Connector) scopes(s connectors.Scopes) []string {
	scopes := []string{"read:user"}
	if c.wantGroups(s) {
		scopes = append(scopes, "read:organization")
	}
	return scopes
}

// Begin returns the instance's authorization URL.
func (c *Connector) Begin(_ context.Context, req connectors.BeginRequest) (connectors.Step, error) {
	return c.flow.Begin(req, c.scopes(req.Scopes))
}

// Finish redeems the code and reads the user, emails, orgs and teams.
func (c *Connector) Finish(ctx context.Context, req connectors.FinishRequest, r *http.Request) (connectors.Upstream, error) {
	return oauthflow.FinishIdentity(ctx, c.flow, req, r, c.identity)
}

// Refresh re-reads the user and their memberships with the stashed (or refreshed) token.
func (c *Connector) Refresh(ctx context.Context, s connectors.Scopes, prev connectors.Upstream) (connectors.Upstream, error) {
	return oauthflow.RefreshIdentity(ctx, c.flow, c.now(), "Gitea", prev, func(ctx context.Context, ts oauthflow.TokenStash) (connectors.Upstream, error) {
		return c.identity(ctx, s, ts)
	})
}

type user struct {
	ID            int64  `json:"id"`
	Login         string `json:"login"`
	FullName      string `json:"full_name"`
	Email         string `json:"email"`
	Active        *bool  `json:"active"`
	ProhibitLogin bool   `json:"prohibit_login"`
	HTMLURL       string `json:"html_url"`
}

type email struct {
	Email    string `json:"email"`
	Verified bool   `json:"verified"`
	Primary  bool   `json:"primary"`
}

type org struct {
	Name     string `json:"name"`
	UserName string `json:"username"`
}

// login is the org's name (username in Gitea before 1.x, still sent by both).
func (o org) login() string {
	if o.Name != "" {
		return o.Name
	}
	return o.UserName
}

type team struct {
	Name         string `json:"name"`
	Organization *org   `json:"organization"`
}

func (c *Connector) identity(ctx context.Context, s connectors.Scopes, ts oauthflow.TokenStash) (connectors.Upstream, error) {
	var u user
	if _, err := c.api.Get(ctx, c.apiURL+"/user", ts.AccessToken, &u); err != nil {
		return connectors.Upstream{}, fmt.Errorf("gitea user: %w", err)
	}
	if u.ID == 0 || u.Login == "" {
		return connectors.Upstream{}, errors.New("gitea user: no id or login")
	}
	if u.ProhibitLogin || (u.Active != nil && !*u.Active) {
		return connectors.Upstream{}, &connectors.DeniedError{Reason: "your " + c.info.Name + " account is not active or may not sign in"}
	}
	id := strconv.FormatInt(u.ID, 10)
	up := connectors.Upstream{
		Subject: id, Username: u.Login, Name: u.FullName, Email: u.Email,
		Attrs: map[string][]string{"id": {id}, "login": {u.Login}},
	}
	if c.loginAsID {
		up.Subject = u.Login
	}
	if u.HTMLURL != "" {
		up.Attrs["html_url"] = []string{u.HTMLURL}
	}
	if c.trustEmail && u.Email != "" {
		verified, err := c.emailVerified(ctx, ts.AccessToken, u.Email)
		if err != nil {
			return connectors.Upstream{}, err
		}
		up.EmailVerified = verified
	}
	if c.wantGroups(s) {
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

// emailVerified reports whether the instance lists addr as a verified email of the user.
func (c *Connector) emailVerified(ctx context.Context, token, addr string) (bool, error) {
	emails, err := oauthflow.GetLinkPaged[email](ctx, c.api, c.apiURL+"/user/emails", token)
	if err != nil {
		return false, fmt.Errorf("gitea emails: %w", err)
	}
	return slices.ContainsFunc(emails, func(e email) bool {
		return e.Verified && strings.EqualFold(e.Email, addr)
	}), nil
}

// groups reads the user's orgs and teams, applies the org/team restriction and returns the
// groups.
func (c *Connector) groups(ctx context.Context, token string) ([]string, error) {
	orgs, err := oauthflow.GetLinkPaged[org](ctx, c.api, c.apiURL+"/user/orgs?limit=50", token)
	if err != nil {
		return nil, fmt.Errorf("gitea orgs: %w", err)
	}
	teams, err := oauthflow.GetLinkPaged[team](ctx, c.api, c.apiURL+"/user/teams?limit=50", token)
	if err != nil {
		return nil, fmt.Errorf("gitea teams: %w", err)
	}
	inTeams := make([]oauthflow.OrgTeam, 0, len(teams))
	for _, t := range teams {
		if t.Organization != nil && t.Name != "" {
			inTeams = append(inTeams, oauthflow.OrgTeam{Org: t.Organization.login(), Names: []string{t.Name}, Groups: []string{t.Name}})
		}
	}
	if len(c.orgs) > 0 {
		isMember := func(name string) bool {
			return slices.ContainsFunc(orgs, func(o org) bool { return strings.EqualFold(o.login(), name) })
		}
		return oauthflow.RestrictOrgs(c.info.Name, c.orgs, isMember, inTeams)
	}
	var groups []string
	add := func(g string) {
		if g != "" && !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	for _, o := range orgs {
		add(o.login())
		for _, t := range inTeams {
			if strings.EqualFold(t.Org, o.login()) {
				add(o.login() + ":" + t.Groups[0])
			}
		}
	}
	return groups, nil
}
