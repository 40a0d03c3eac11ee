// Package discord is Gatehouse's "Sign in with Discord" connector: Discord's OAuth 2.0 code
// flow (discord.com/oauth2/authorize, discord.com/api/oauth2/token) with state, then the API
// /users/@me for the account (id, username, global_name, email, verified) and, when guilds
// are configured or the client asks for groups, /users/@me/guilds.
//
// email_verified is Discord's verified flag (the account's email address was confirmed). With
// guilds set, only members of one of those guilds (servers, by ID) may sign in and the guild
// IDs they are in become their groups. Discord issues refresh tokens (rotated at every use):
// a downstream refresh refreshes the upstream token when it has expired and reads the user and
// guilds again, so a user who left the guild or removed the app loses access then.
package discord

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/internal/oauthflow"
)

var snowflakeRe = regexp.MustCompile(`^[0-9]{15,21}$`)

// Config is the YAML configuration of a discord connector. It implements connectors.Config.
type Config struct {
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret" secret:"file"`
	// Guilds, when set, admits only members of these guilds (server IDs); they become groups.
	Guilds []string `yaml:"guilds"`

	base string // tests point it at a fake; empty means https://discord.com
}

var _ connectors.Config = (*Config)(nil)

// Validate reports every problem with the configuration. It does no I/O.
func (c *Config) Validate() error {
	errs := oauthflow.ValidateClient(c.ClientID, c.ClientSecret)
	for i, g := range c.Guilds {
		if !snowflakeRe.MatchString(g) {
			errs = append(errs, fmt.Errorf("guilds[%d]: %q is not a Discord guild ID (a number of 15 to 21 digits)", i, g))
		}
	}
	return errors.Join(errs...)
}

// Open builds the connector without network I/O.
func (c *Config) Open(_ context.Context, info connectors.Info, deps connectors.Deps) (connectors.Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("discord connector %q: %w", info.ID, err)
	}
	base := c.base
	if base == "" {
		base = "https://discord.com"
	}
	httpc := oauthflow.HTTPClient(deps.HTTP)
	return &Connector{
		info: info, api: oauthflow.API{HTTP: httpc}, apiURL: base + "/api", guilds: slices.Clone(c.Guilds), now: oauthflow.Clock(deps.Now),
		flow: &oauthflow.Flow{
			OAuth2: oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, Endpoint: oauth2.Endpoint{
				AuthURL: base + "/oauth2/authorize", TokenURL: base + "/api/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader,
			}},
			HTTP: httpc, Provider: info.Name,
		},
	}, nil
}

// Connector is an opened discord connector. It implements connectors.RedirectConnector and
// connectors.RefreshConnector.
type Connector struct {
	info   connectors.Info
	flow   *oauthflow.Flow
	api    oauthflow.API
	apiURL string
	guilds []string
	now    func() time.Time
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
	if len(c.guilds) > 0 || s.Groups {
		return []string{"identify", "email", "guilds"}
	}
	return []string{"identify", "email"}
}

// Begin returns Discord's authorization URL.
func (c *Connector) Begin(_ context.Context, req connectors.BeginRequest) (connectors.Step, error) {
	return c.flow.Begin(req, c.scopes(req.Scopes))
}

// Finish redeems the code and reads the user (and guilds).
func (c *Connector) Finish(ctx context.Context, req connectors.FinishRequest, r *http.Request) (connectors.Upstream, error) {
	return oauthflow.FinishIdentity(ctx, c.flow, req, r, c.identity)
}

// Refresh reads the user (and guilds) again, refreshing the upstream token when it expired.
func (c *Connector) Refresh(ctx context.Context, s connectors.Scopes, prev connectors.Upstream) (connectors.Upstream, error) {
	return oauthflow.RefreshIdentity(ctx, c.flow, c.now(), "Discord", prev, func(ctx context.Context, ts oauthflow.TokenStash) (connectors.Upstream, error) {
		return c.identity(ctx, s, ts)
	})
}

type user struct {
	ID         string `json:"id"`
	Username   string `json:"username"`
	GlobalName string `json:"global_name"`
	Email      string `json:"email"`
	Verified   bool   `json:"verified"`
}

type guild struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (c *Connector) identity(ctx context.Context, s connectors.Scopes, ts oauthflow.TokenStash) (connectors.Upstream, error) {
	var u user
	if _, err := c.api.Get(ctx, c.apiURL+"/users/@me", ts.AccessToken, &u); err != nil {
		return connectors.Upstream{}, fmt.Errorf("discord user: %w", err)
	}
	if u.ID == "" {
		return connectors.Upstream{}, errors.New("discord user: no id")
	}
	name := u.GlobalName
	if name == "" {
		name = u.Username
	}
	up := connectors.Upstream{
		Subject: u.ID, Username: u.Username, Name: name, Email: u.Email, EmailVerified: u.Email != "" && u.Verified,
		Attrs: map[string][]string{"id": {u.ID}, "username": {u.Username}},
	}
	if len(c.guilds) > 0 || s.Groups {
		var gs []guild
		if _, err := c.api.Get(ctx, c.apiURL+"/users/@me/guilds?limit=200", ts.AccessToken, &gs); err != nil {
			return connectors.Upstream{}, fmt.Errorf("discord guilds: %w", err)
		}
		ids := make([]string, 0, len(gs))
		for _, g := range gs {
			ids = append(ids, g.ID)
		}
		groups, err := oauthflow.RequireGroups(ids, c.guilds, false, "Discord server")
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
