// Package gitlab is Gatehouse's GitLab connector (gitlab.com or a self-managed instance):
// OAuth 2.0 code flow with state and PKCE against {base_url}/oauth/authorize, the account from
// /api/v4/user, and groups either from the OpenID userinfo endpoint's groups claim
// (groups_source: oidc, the default, scopes read_user openid) or from /api/v4/groups with
// Link-header pagination (groups_source: api, scope read_api).
//
// The email counts as verified when GitLab says it is confirmed (confirmed_at) and the
// instance is gitlab.com, or a self-managed one configured with trust_email: true.
//
// With groups configured, only members of one of them may sign in (others get a
// *connectors.DeniedError) and only those groups are reported. Blocked accounts are refused.
// Refresh uses the stashed token (refreshing it with GitLab's refresh token when expired) and
// re-reads the user and groups.
package gitlab

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

// DefaultBaseURL is gitlab.com.
const DefaultBaseURL = "https://gitlab.com"

// Config is the YAML configuration of a gitlab connector. It implements connectors.Config.
type Config struct {
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret" secret:"file"`
	// BaseURL is the GitLab instance (default https://gitlab.com).
	BaseURL string `yaml:"base_url"`
	// Groups, when set, admits only members of these groups (full paths, e.g. acme/platform).
	Groups []string `yaml:"groups"`
	// GroupsSource is oidc (the userinfo groups claim; default) or api (/api/v4/groups).
	GroupsSource string `yaml:"groups_source"`
	// UseLoginAsID uses the username instead of the numeric user ID as the subject.
	UseLoginAsID bool `yaml:"use_login_as_id"`
	// TrustEmail reports a confirmed email (confirmed_at) of a self-managed instance as
	// verified. Its admins decide what confirmed means there (email confirmation can be
	// turned off, admins can confirm any address), so without it such emails are unverified.
	// On gitlab.com confirmed emails are always verified.
	TrustEmail bool `yaml:"trust_email"`
}

// VerifiesEmail implements connectors.EmailVerifier: gitlab.com, or a self-managed instance
// with trust_email.
func (c *Config) VerifiesEmail() (bool, string) {
	return c.trustsConfirmed(), "trust_email"
}

func (c *Config) trustsConfirmed() bool {
	base := strings.TrimSuffix(c.BaseURL, "/")
	return c.TrustEmail || base == "" || base == DefaultBaseURL
}

var _ connectors.Config = (*Config)(nil)

// Validate reports every problem with the configuration. It does no I/O.
func (c *Config) Validate() error {
	errs := oauthflow.ValidateClient(c.ClientID, c.ClientSecret)
	if c.BaseURL != "" {
		if err := oauthflow.ValidateBaseURL(c.BaseURL, "https://gitlab.example.com", false); err != nil {
			errs = append(errs, err)
		}
	}
	switch c.GroupsSource {
	case "", "oidc", "api":
	default:
		errs = append(errs, fmt.Errorf("groups_source: %q is not oidc or api", c.GroupsSource))
	}
	for i, g := range c.Groups {
		if g == "" {
			errs = append(errs, fmt.Errorf("groups[%d]: empty", i))
		}
	}
	return errors.Join(errs...)
}

// Open builds the connector without network I/O.
func (c *Config) Open(_ context.Context, info connectors.Info, deps connectors.Deps) (connectors.Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("gitlab connector %q: %w", info.ID, err)
	}
	base := strings.TrimSuffix(c.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	src := c.GroupsSource
	if src == "" {
		src = "oidc"
	}
	httpc := oauthflow.HTTPClient(deps.HTTP)
	return &Connector{
		info: info, base: base, groups: slices.Clone(c.Groups), source: src, loginAsID: c.UseLoginAsID, trustEmail: c.trustsConfirmed(),
		api: oauthflow.API{HTTP: httpc}, now: oauthflow.Clock(deps.Now),
		flow: &oauthflow.Flow{
			OAuth2: oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, Endpoint: oauth2.Endpoint{
				AuthURL: base + "/oauth/authorize", TokenURL: base + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams,
			}},
			PKCE: true, HTTP: httpc, Provider: info.Name,
		},
	}, nil
}

// Connector is an opened gitlab connector. It implements connectors.RedirectConnector and
// connectors.RefreshConnector.
type Connector struct {
	info      connectors.Info
	flow      *oauthflow.Flow
	api       oauthflow.API
	base      string
	groups    []string
	source    string
	loginAsID bool
	// trustEmail: confirmed_at means verified (gitlab.com, or trust_email).
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

func (c *Connector) wantGroups(s connectors.Scopes) bool { return len(c.groups) > 0 || s.Groups }

func (c *Connector) scopes(s connectors.Scopes) []string {
	scopes := []string{"read_user"}
	if c.wantGroups(s) {
		if c.source == "api" {
			scopes = append(scopes, "read_api")
		} else {
			scopes = append(scopes, "openid")
		}
	}
	return scopes
}

// Begin returns GitLab's authorization URL.
func (c *Connector) Begin(_ context.Context, req connectors.BeginRequest) (connectors.Step, error) {
	return c.flow.Begin(req, c.scopes(req.Scopes))
}

// Finish redeems the code and reads the user and groups.
func (c *Connector) Finish(ctx context.Context, req connectors.FinishRequest, r *http.Request) (connectors.Upstream, error) {
	return oauthflow.FinishIdentity(ctx, c.flow, req, r, c.identity)
}

// Refresh re-reads the user and groups with the stashed (or refreshed) token.
func (c *Connector) Refresh(ctx context.Context, s connectors.Scopes, prev connectors.Upstream) (connectors.Upstream, error) {
	return oauthflow.RefreshIdentity(ctx, c.flow, c.now(), "GitLab", prev, func(ctx context.Context, ts oauthflow.TokenStash) (connectors.Upstream, error) {
		return c.identity(ctx, s, ts)
	})
}

type user struct {
	ID          int64  `json:"id"`
	Username    string `json:"username"`
	Name        string `json:"name"`
	Email       string `json:"email"`
	State       string `json:"state"`
	ConfirmedAt string `json:"confirmed_at"`
	WebURL      string `json:"web_url"`
}

type group struct {
	FullPath string `json:"full_path"`
}

func (c *Connector) identity(ctx context.Context, s connectors.Scopes, ts oauthflow.TokenStash) (connectors.Upstream, error) {
	var u user
	if _, err := c.api.Get(ctx, c.base+"/api/v4/user", ts.AccessToken, &u); err != nil {
		return connectors.Upstream{}, fmt.Errorf("gitlab user: %w", err)
	}
	if u.ID == 0 || u.Username == "" {
		return connectors.Upstream{}, errors.New("gitlab user: no id or username")
	}
	if u.State != "" && u.State != "active" {
		return connectors.Upstream{}, &connectors.DeniedError{Reason: "your GitLab account is " + u.State}
	}
	id := strconv.FormatInt(u.ID, 10)
	up := connectors.Upstream{
		Subject: id, Username: u.Username, Name: u.Name, Email: u.Email,
		EmailVerified: c.trustEmail && u.Email != "" && u.ConfirmedAt != "",
		Attrs:         map[string][]string{"id": {id}, "username": {u.Username}},
	}
	if c.loginAsID {
		up.Subject = u.Username
	}
	if u.WebURL != "" {
		up.Attrs["web_url"] = []string{u.WebURL}
	}
	if c.wantGroups(s) {
		groups, err := c.userGroups(ctx, ts.AccessToken)
		if err != nil {
			return connectors.Upstream{}, err
		}
		if up.Groups, err = oauthflow.RequireGroups(groups, c.groups, false, "GitLab group"); err != nil {
			return connectors.Upstream{}, err
		}
	}
	stash, err := oauthflow.EncodeStash(ts)
	if err != nil {
		return connectors.Upstream{}, err
	}
	up.Stash = stash
	return up, nil
}

func (c *Connector) userGroups(ctx context.Context, token string) ([]string, error) {
	if c.source == "api" {
		gs, err := oauthflow.GetLinkPaged[group](ctx, c.api, c.base+"/api/v4/groups?min_access_level=10&per_page=100", token)
		if err != nil {
			return nil, fmt.Errorf("gitlab groups: %w", err)
		}
		out := make([]string, 0, len(gs))
		for _, g := range gs {
			if g.FullPath != "" {
				out = append(out, g.FullPath)
			}
		}
		return out, nil
	}
	var info struct {
		Groups []string `json:"groups"`
	}
	if _, err := c.api.Get(ctx, c.base+"/oauth/userinfo", token, &info); err != nil {
		return nil, fmt.Errorf("gitlab userinfo: %w", err)
	}
	return info.Groups, nil
}
