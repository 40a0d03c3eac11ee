// Package facebook is Gatehouse's "Log in with Facebook" connector: Facebook Login's OAuth 2.0
// code flow (www.facebook.com/{version}/dialog/oauth, graph.facebook.com/{version}/oauth/
// access_token) with state and PKCE, then the Graph API /me?fields=id,name,email, every call
// signed with appsecret_proof (HMAC-SHA256 of the access token with the app secret).
//
// Email: the Graph API returns email only when the account has a confirmed address, but
// Facebook documents no verification claim (the user field "verified" is deprecated and says
// nothing about the address). Gatehouse therefore reports the email as NOT verified unless
// trust_email is set: linking by verified email and email-domain requirements need the
// operator to accept Facebook's confirmation as proof.
//
// Facebook has no groups and no refresh tokens: a downstream refresh re-reads /me with the
// (long-lived, about 60 days) access token kept at login, so a user who removed the app, or
// whose token expired, loses access at the next downstream refresh.
package facebook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/internal/oauthflow"
)

// DefaultAPIVersion is the Graph API version used when api_version is not set.
const DefaultAPIVersion = "v19.0"

var versionRe = regexp.MustCompile(`^v[0-9]{1,2}\.[0-9]$`)

// Config is the YAML configuration of a facebook connector. It implements connectors.Config.
type Config struct {
	// ClientID is the App ID; ClientSecret the App Secret.
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret" secret:"file"`
	// APIVersion is the Graph API version, e.g. v19.0 (default DefaultAPIVersion).
	APIVersion string `yaml:"api_version"`
	// TrustEmail reports the email Facebook returns as verified.
	TrustEmail bool `yaml:"trust_email"`

	web, graph string // tests point them at a fake
}

var (
	_ connectors.Config        = (*Config)(nil)
	_ connectors.EmailVerifier = (*Config)(nil)
)

// Validate reports every problem with the configuration. It does no I/O.
func (c *Config) Validate() error {
	errs := oauthflow.ValidateClient(c.ClientID, c.ClientSecret)
	if c.APIVersion != "" && !versionRe.MatchString(c.APIVersion) {
		errs = append(errs, fmt.Errorf("api_version: %q is not a Graph API version like %s", c.APIVersion, DefaultAPIVersion))
	}
	return errors.Join(errs...)
}

// VerifiesEmail implements connectors.EmailVerifier: only with trust_email.
func (c *Config) VerifiesEmail() (bool, string) { return c.TrustEmail, "trust_email" }

// Open builds the connector without network I/O.
func (c *Config) Open(_ context.Context, info connectors.Info, deps connectors.Deps) (connectors.Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("facebook connector %q: %w", info.ID, err)
	}
	v := c.APIVersion
	if v == "" {
		v = DefaultAPIVersion
	}
	web, graph := c.web, c.graph
	if web == "" {
		web, graph = "https://www.facebook.com", "https://graph.facebook.com"
	}
	httpc := oauthflow.HTTPClient(deps.HTTP)
	return &Connector{
		info: info, graph: graph + "/" + v, secret: c.ClientSecret, trustEmail: c.TrustEmail, now: oauthflow.Clock(deps.Now),
		api: oauthflow.API{HTTP: httpc},
		flow: &oauthflow.Flow{
			OAuth2: oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, Endpoint: oauth2.Endpoint{
				AuthURL: web + "/" + v + "/dialog/oauth", TokenURL: graph + "/" + v + "/oauth/access_token", AuthStyle: oauth2.AuthStyleInParams,
			}},
			PKCE: true, HTTP: httpc, Provider: info.Name,
		},
	}, nil
}

// Connector is an opened facebook connector. It implements connectors.RedirectConnector and
// connectors.RefreshConnector.
type Connector struct {
	info       connectors.Info
	flow       *oauthflow.Flow
	api        oauthflow.API
	graph      string
	secret     string
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

// Begin returns Facebook's login dialog URL.
func (c *Connector) Begin(_ context.Context, req connectors.BeginRequest) (connectors.Step, error) {
	return c.flow.Begin(req, []string{"public_profile", "email"})
}

// Finish redeems the code and reads /me.
func (c *Connector) Finish(ctx context.Context, req connectors.FinishRequest, r *http.Request) (connectors.Upstream, error) {
	return oauthflow.FinishIdentity(ctx, c.flow, req, r, func(ctx context.Context, _ connectors.Scopes, ts oauthflow.TokenStash) (connectors.Upstream, error) {
		return c.identity(ctx, ts)
	})
}

// Refresh re-reads /me with the stashed token.
func (c *Connector) Refresh(ctx context.Context, _ connectors.Scopes, prev connectors.Upstream) (connectors.Upstream, error) {
	return oauthflow.RefreshIdentity(ctx, c.flow, c.now(), "Facebook", prev, c.identity)
}

type me struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// AppSecretProof is Facebook's appsecret_proof: hex HMAC-SHA256 of the access token keyed with
// the app secret.
func AppSecretProof(secret, token string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(token))
	return hex.EncodeToString(m.Sum(nil))
}

func (c *Connector) identity(ctx context.Context, ts oauthflow.TokenStash) (connectors.Upstream, error) {
	q := url.Values{"fields": {"id,name,email"}, "appsecret_proof": {AppSecretProof(c.secret, ts.AccessToken)}}
	var u me
	_, err := c.api.Get(ctx, c.graph+"/me?"+q.Encode(), ts.AccessToken, &u)
	if he := (*oauthflow.HTTPError)(nil); errors.As(err, &he) && he.Status == http.StatusBadRequest && strings.Contains(he.Body, "OAuthException") {
		// The Graph API answers an expired or revoked token with 400 OAuthException.
		he.Status = http.StatusUnauthorized
	}
	if err != nil {
		return connectors.Upstream{}, fmt.Errorf("facebook /me: %w", err)
	}
	if u.ID == "" {
		return connectors.Upstream{}, errors.New("facebook /me: no id")
	}
	up := connectors.Upstream{Subject: u.ID, Name: u.Name, Email: u.Email, EmailVerified: u.Email != "" && c.trustEmail,
		Attrs: map[string][]string{"id": {u.ID}}}
	stash, err := oauthflow.EncodeStash(ts)
	if err != nil {
		return connectors.Upstream{}, err
	}
	up.Stash = stash
	return up, nil
}
