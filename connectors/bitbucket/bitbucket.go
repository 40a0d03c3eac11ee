// Package bitbucket is Gatehouse's Bitbucket Cloud connector: OAuth 2.0 code flow with state
// against https://bitbucket.org/site/oauth2, then the REST API 2.0 at https://api.bitbucket.org:
// /2.0/user for the account, /2.0/user/emails for the primary email (reported as verified only
// when Bitbucket says it is confirmed), and /2.0/user/workspaces (paged by the "next" URL in
// the body) for the workspaces the user belongs to, which become groups named by their slug.
//
// With workspaces configured only members of one of them may sign in (others get a
// *connectors.DeniedError) and only those workspaces are reported. Bitbucket access tokens
// live two hours; Refresh uses the stashed token (refreshing it with Bitbucket's refresh token
// when it has expired) and re-reads the API, so a user removed from the workspace, or who
// revoked the app, loses access at the next downstream refresh.
package bitbucket

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/internal/oauthflow"
)

// Bitbucket Cloud's OAuth and API endpoints.
const (
	WebURL = "https://bitbucket.org"
	APIURL = "https://api.bitbucket.org"
)

// Config is the YAML configuration of a bitbucket connector. It implements connectors.Config.
type Config struct {
	// ClientID and ClientSecret are the OAuth consumer's key and secret.
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret" secret:"file"`
	// Workspaces, when set, admits only members of these workspaces (slugs).
	Workspaces []string `yaml:"workspaces"`

	web, api string // tests point them at a fake; empty means WebURL, APIURL
}

var _ connectors.Config = (*Config)(nil)

// Validate reports every problem with the configuration. It does no I/O.
func (c *Config) Validate() error {
	errs := oauthflow.ValidateClient(c.ClientID, c.ClientSecret)
	for i, w := range c.Workspaces {
		if w == "" || strings.ContainsAny(w, "/ ") {
			errs = append(errs, fmt.Errorf("workspaces[%d]: %q is not a workspace slug", i, w))
		}
	}
	return errors.Join(errs...)
}

// Open builds the connector without network I/O.
func (c *Config) Open(_ context.Context, info connectors.Info, deps connectors.Deps) (connectors.Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("bitbucket connector %q: %w", info.ID, err)
	}
	web, api := WebURL, APIURL
	if c.web != "" {
		web, api = c.web, c.api
	}
	httpc := oauthflow.HTTPClient(deps.HTTP)
	return &Connector{
		info: info, apiURL: api + "/2.0", workspaces: slices.Clone(c.Workspaces), now: oauthflow.Clock(deps.Now),
		api: oauthflow.API{HTTP: httpc},
		flow: &oauthflow.Flow{
			OAuth2: oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, Endpoint: oauth2.Endpoint{
				AuthURL: web + "/site/oauth2/authorize", TokenURL: web + "/site/oauth2/access_token", AuthStyle: oauth2.AuthStyleInHeader,
			}},
			HTTP: httpc, Provider: info.Name,
		},
	}, nil
}

// Connector is an opened bitbucket connector. It implements connectors.RedirectConnector and
// connectors.RefreshConnector.
type Connector struct {
	info       connectors.Info
	flow       *oauthflow.Flow
	api        oauthflow.API
	apiURL     string
	workspaces []string
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

func (c *Connector) wantGroups(s connectors.Scopes) bool { return len(c.workspaces) > 0 || s.Groups }

// Begin returns Bitbucket's authorization URL. The scopes are those of the OAuth consumer
// (account, email), not of the request.
func (c *Connector) Begin(_ context.Context, req connectors.BeginRequest) (connectors.Step, error) {
	return c.flow.Begin(req, nil)
}

// Finish redeems the code and reads the user, emails and workspaces.
func (c *Connector) Finish(ctx context.Context, req connectors.FinishRequest, r *http.Request) (connectors.Upstream, error) {
	return oauthflow.FinishIdentity(ctx, c.flow, req, r, c.identity)
}

// Refresh re-reads the user and their workspaces with the stashed (or refreshed) token.
func (c *Connector) Refresh(ctx context.Context, s connectors.Scopes, prev connectors.Upstream) (connectors.Upstream, error) {
	return oauthflow.RefreshIdentity(ctx, c.flow, c.now(), "Bitbucket", prev, func(ctx context.Context, ts oauthflow.TokenStash) (connectors.Upstream, error) {
		return c.identity(ctx, s, ts)
	})
}

type user struct {
	UUID          string `json:"uuid"`
	AccountID     string `json:"account_id"`
	Username      string `json:"username"`
	Nickname      string `json:"nickname"`
	DisplayName   string `json:"display_name"`
	AccountStatus string `json:"account_status"`
}

type email struct {
	Email       string `json:"email"`
	IsPrimary   bool   `json:"is_primary"`
	IsConfirmed bool   `json:"is_confirmed"`
}

type workspaceAccess struct {
	Administrator bool `json:"administrator"`
	Workspace     struct {
		UUID string `json:"uuid"`
		Slug string `json:"slug"`
	} `json:"workspace"`
}

func (c *Connector) identity(ctx context.Context, s connectors.Scopes, ts oauthflow.TokenStash) (connectors.Upstream, error) {
	var u user
	if _, err := c.api.Get(ctx, c.apiURL+"/user", ts.AccessToken, &u); err != nil {
		return connectors.Upstream{}, fmt.Errorf("bitbucket user: %w", err)
	}
	if u.UUID == "" {
		return connectors.Upstream{}, errors.New("bitbucket user: no uuid")
	}
	if u.AccountStatus != "" && u.AccountStatus != "active" {
		return connectors.Upstream{}, &connectors.DeniedError{Reason: "your Bitbucket account is " + u.AccountStatus}
	}
	username := u.Username
	if username == "" {
		username = u.Nickname
	}
	up := connectors.Upstream{
		Subject: u.UUID, Username: username, Name: u.DisplayName,
		Attrs: map[string][]string{"uuid": {u.UUID}},
	}
	for k, v := range map[string]string{"account_id": u.AccountID, "username": u.Username, "nickname": u.Nickname} {
		if v != "" {
			up.Attrs[k] = []string{v}
		}
	}
	emails, err := oauthflow.GetNextPaged[email](ctx, c.api, c.apiURL+"/user/emails?pagelen=100", ts.AccessToken)
	if err != nil {
		return connectors.Upstream{}, fmt.Errorf("bitbucket emails: %w", err)
	}
	// Only the confirmed primary email: an unconfirmed address says nothing about the user.
	for _, e := range emails {
		if e.IsPrimary && e.IsConfirmed && e.Email != "" {
			up.Email, up.EmailVerified = e.Email, true
			break
		}
	}
	if c.wantGroups(s) {
		if up.Groups, err = c.groups(ctx, ts.AccessToken); err != nil {
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

// groups returns the slugs of the user's workspaces, restricted to the configured ones.
func (c *Connector) groups(ctx context.Context, token string) ([]string, error) {
	ws, err := oauthflow.GetNextPaged[workspaceAccess](ctx, c.api, c.apiURL+"/user/workspaces?pagelen=100", token)
	if err != nil {
		return nil, fmt.Errorf("bitbucket workspaces: %w", err)
	}
	var groups []string
	for _, w := range ws {
		slug := w.Workspace.Slug
		if slug != "" && !slices.Contains(groups, slug) {
			groups = append(groups, slug)
		}
	}
	return oauthflow.RequireGroups(groups, c.workspaces, false, "Bitbucket workspace")
}
