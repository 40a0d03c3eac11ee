// Package oidc is Gatehouse's connector to any upstream OpenID Provider (Keycloak, Okta, Entra
// ID, Auth0, another Gatehouse): the authorization code flow with state, nonce and PKCE, ID
// tokens verified with go-oidc (issuer, audience, expiry, signature, nonce, at_hash), claims the
// ID token lacks filled from the userinfo endpoint, and refresh through the upstream's refresh
// token so that a user removed upstream loses access at the next downstream refresh.
//
// Discovery is lazy: Open does no I/O, the first login fetches the discovery document, and a
// failure is retried with backoff on later logins (each such login gets a
// *connectors.UpstreamError, shown as "provider unavailable"), so an upstream that is down when
// Gatehouse starts does not stop it. The google and microsoft connectors are built on New.
//
// Every upstream response is capped (internal/httpx), and the endpoints the discovery document
// names and Gatehouse fetches itself (jwks_uri, token_endpoint, userinfo_endpoint) must be
// https on the issuer's host or on a host listed in endpoint_hosts. A login whose client
// demanded re-authentication (prompt=login, max_age) sends prompt=login / max_age upstream and
// fails with connectors.ErrLoginRequired unless the ID token's auth_time proves it.
package oidc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// GoogleIssuer is Google's issuer, the only one whose hd claim allowed_domains reads.
const GoogleIssuer = "https://accounts.google.com"

// DefaultScopes returns the scopes requested when none are configured.
func DefaultScopes() []string { return []string{"openid", "email", "profile"} }

// Config is the YAML configuration of an oidc connector. It implements connectors.Config.
type Config struct {
	// Issuer is the upstream's issuer URL; discovery is {issuer}/.well-known/openid-configuration.
	Issuer       string `yaml:"issuer"`
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret" secret:"file"`
	// Scopes requested upstream; empty means openid, email, profile. offline_access, when
	// listed, is sent only for logins whose downstream client asked for offline access.
	Scopes []string `yaml:"scopes"`
	// PKCE sends an S256 code challenge upstream (default true).
	PKCE *bool `yaml:"pkce"`
	// GetUserInfo fills claims the ID token lacks from the userinfo endpoint.
	GetUserInfo bool `yaml:"get_userinfo"`
	// UserIDClaim is the claim used as the stable upstream subject (default sub).
	UserIDClaim string `yaml:"user_id_claim"`
	// UsernameClaim is the claim used as the username (default preferred_username).
	UsernameClaim string `yaml:"username_claim"`
	// GroupsClaim is the claim (a dotted path) holding the user's groups (default groups).
	GroupsClaim string `yaml:"groups_claim"`
	// InsecureSkipEmailVerified treats an upstream email as verified when the upstream sends
	// no email_verified claim; an explicit email_verified: false stays false.
	InsecureSkipEmailVerified bool `yaml:"insecure_skip_email_verified"`
	// AllowedDomains, when set, admits only users whose verified email domain is listed (or,
	// when the issuer is Google's, whose hd claim is: only Google defines hd).
	AllowedDomains []string `yaml:"allowed_domains"`
	// EndpointHosts lists the host names, besides the issuer's own, that the endpoints named
	// in the discovery document and fetched by Gatehouse itself (jwks_uri, token_endpoint,
	// and userinfo_endpoint with get_userinfo) may be on. Those endpoints must use https;
	// a discovery document naming another host, or plain http, is refused. (A loopback
	// issuer may name loopback endpoints, over http too: for tests.)
	EndpointHosts []string `yaml:"endpoint_hosts"`
	// Prompt is sent as the prompt parameter. Empty means "consent" when offline_access is
	// requested (most providers issue refresh tokens only then) and nothing otherwise.
	Prompt string `yaml:"prompt"`
}

var _ connectors.Config = (*Config)(nil)

// Validate reports every problem with the configuration. It does no I/O.
func (c *Config) Validate() error {
	var errs []error
	if err := ValidateIssuer(c.Issuer); err != nil {
		errs = append(errs, fmt.Errorf("issuer: %w", err))
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("client_id: required"))
	}
	if len(c.Scopes) > 0 && !slices.Contains(c.Scopes, "openid") {
		errs = append(errs, errors.New("scopes: must include openid"))
	}
	for i, d := range c.AllowedDomains {
		if d == "" || strings.ContainsAny(d, "@/ ") {
			errs = append(errs, fmt.Errorf("allowed_domains[%d]: %q is not a domain name", i, d))
		}
	}
	for i, h := range c.EndpointHosts {
		if !validHostName(h) {
			errs = append(errs, fmt.Errorf("endpoint_hosts[%d]: %q is not a host name (no scheme, port or path)", i, h))
		}
	}
	switch c.Prompt {
	case "", "login", "consent", "select_account", "none":
	default:
		errs = append(errs, fmt.Errorf("prompt: %q is not one of login, consent, select_account, none", c.Prompt))
	}
	return errors.Join(errs...)
}

// ValidateIssuer checks an issuer URL: absolute, https (http only for loopback hosts), no
// query or fragment.
func ValidateIssuer(issuer string) error {
	if issuer == "" {
		return errors.New("required")
	}
	u, err := url.Parse(issuer)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q must be an absolute URL without query or fragment", issuer)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return fmt.Errorf("%q must use https (http only on loopback)", issuer)
		}
	default:
		return fmt.Errorf("%q must use https", issuer)
	}
	return nil
}

// Options returns the connector behaviour the configuration describes.
func (c *Config) Options() Options {
	pkce := c.PKCE == nil || *c.PKCE
	scopes := slices.Clone(c.Scopes)
	if len(scopes) == 0 {
		scopes = DefaultScopes()
	}
	return Options{
		Issuer: c.Issuer, ClientID: c.ClientID, ClientSecret: c.ClientSecret, Scopes: scopes, PKCE: pkce,
		GetUserInfo: c.GetUserInfo, UserIDClaim: c.UserIDClaim, UsernameClaim: c.UsernameClaim, GroupsClaim: c.GroupsClaim,
		InsecureSkipEmailVerified: c.InsecureSkipEmailVerified, AllowedDomains: c.AllowedDomains, Prompt: c.Prompt,
		OfflineScope: "offline_access", EndpointHosts: slices.Clone(c.EndpointHosts),
		HostedDomainClaim: strings.TrimSuffix(c.Issuer, "/") == GoogleIssuer,
	}
}

// Open builds the connector without network I/O.
func (c *Config) Open(_ context.Context, info connectors.Info, deps connectors.Deps) (connectors.Connector, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("oidc connector %q: %w", info.ID, err)
	}
	return New(info, deps, c.Options()), nil
}

// validHostName reports whether h is a bare DNS name or IP address.
func validHostName(h string) bool {
	return net.ParseIP(h) != nil || (h != "" && !strings.ContainsAny(h, "/:@ ?#[]\\"))
}

// CheckEndpoint checks an endpoint URL taken from the discovery document of issuer before
// Gatehouse fetches it: absolute https on the issuer's host or one of hosts (host names,
// case-insensitive). When the issuer is on a loopback host, loopback endpoints are allowed
// over http too (tests).
func CheckEndpoint(issuer, endpoint string, hosts []string) error {
	iss, err := url.Parse(issuer)
	if err != nil {
		return fmt.Errorf("issuer: %w", err)
	}
	u, err := url.Parse(endpoint)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", endpoint)
	}
	if isLoopback(iss.Hostname()) && isLoopback(u.Hostname()) && (u.Scheme == "http" || u.Scheme == "https") {
		return nil
	}
	if u.Scheme != "https" {
		return fmt.Errorf("%s must use https", u.Redacted())
	}
	h := u.Hostname()
	if strings.EqualFold(h, iss.Hostname()) || slices.ContainsFunc(hosts, func(a string) bool { return strings.EqualFold(a, h) }) {
		return nil
	}
	return fmt.Errorf("%s is on host %q, neither the issuer's host %q nor listed in endpoint_hosts", u.Redacted(), h, iss.Hostname())
}

func isLoopback(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
