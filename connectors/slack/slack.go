// Package slack is Gatehouse's "Sign in with Slack" connector: Slack's OpenID Connect
// (issuer https://slack.com, discovery at https://slack.com/.well-known/openid-configuration),
// built on the oidc connector: lazy discovery, state, nonce, ID token verification against
// Slack's JWKS.
//
// Slack's ID token carries sub (the user ID), https://slack.com/user_id,
// https://slack.com/team_id, email, email_verified, name and picture; the upstream subject is
// sub, and email_verified is reported as Slack states it. With team
// set, only members of that workspace may sign in: the team parameter is sent to Slack and
// the ID token's team_id is checked (a user can remove the parameter from the URL). The
// workspace ID is reported as the group "team:<team_id>" (the ID, not the name, which
// changes). Slack issues no refresh token to Sign in with
// Slack, so a downstream refresh re-reads nothing upstream.
package slack

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/internal/oauthflow"
	"github.com/gatehouse-id/gatehouse/connectors/oidc"
)

// Issuer is Slack's OpenID issuer.
const Issuer = "https://slack.com"

// TeamIDClaim is the ID token claim naming the user's Slack workspace.
const TeamIDClaim = "https://slack.com/team_id"

// teamIDRe is the shape of a Slack workspace ID (T followed by upper-case letters and digits).
var teamIDRe = regexp.MustCompile(`^T[A-Z0-9]{2,20}$`)

// Config is the YAML configuration of a slack connector. It implements connectors.Config.
type Config struct {
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret" secret:"file"`
	// Team, when set, admits only members of this workspace (its ID, e.g. T0123ABCD).
	Team string `yaml:"team"`

	issuer string // tests point it at a fake; empty means Issuer
}

var _ connectors.Config = (*Config)(nil)

// Validate reports every problem with the configuration. It does no I/O.
func (c *Config) Validate() error {
	errs := oauthflow.ValidateClient(c.ClientID, c.ClientSecret)
	if c.Team != "" && !teamIDRe.MatchString(c.Team) {
		errs = append(errs, fmt.Errorf("team: %q is not a Slack workspace ID like T0123ABCD", c.Team))
	}
	return errors.Join(errs...)
}

// Open builds the connector without network I/O.
func (c *Config) Open(_ context.Context, info connectors.Info, deps connectors.Deps) (connectors.Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("slack connector %q: %w", info.ID, err)
	}
	issuer := c.issuer
	if issuer == "" {
		issuer = Issuer
	}
	team := c.Team
	return oidc.New(info, deps, oidc.Options{
		Issuer: issuer, ClientID: c.ClientID, ClientSecret: c.ClientSecret,
		Scopes: []string{"openid", "profile", "email"}, PKCE: true,
		AuthParams: func(connectors.Scopes) []oauth2.AuthCodeOption {
			if team == "" {
				return nil
			}
			return []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("team", team)}
		},
		Enrich: func(_ context.Context, _ connectors.Scopes, _ *oauth2.Token, claims map[string]any, up *connectors.Upstream) error {
			return enrich(team, claims, up)
		},
	}), nil
}

// enrich checks the workspace and reports it as a group.
func enrich(team string, claims map[string]any, up *connectors.Upstream) error {
	tid := oauthflow.String(claims[TeamIDClaim])
	if tid == "" {
		return errors.New("slack ID token has no " + TeamIDClaim + " claim")
	}
	if team != "" && tid != team {
		return &connectors.DeniedError{Reason: "only members of the Slack workspace " + team + " may sign in here"}
	}
	up.Groups = []string{"team:" + tid}
	return nil
}
