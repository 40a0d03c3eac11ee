package config

import (
	"fmt"
	"slices"
	"strings"
)

// Registration configures Dynamic Client Registration (RFC 7591) and management (RFC 7592)
// at POST /register on the public listener (docs/registration.md). Off by default; when on,
// every registration needs an initial access token issued through the admin API.
type Registration struct {
	// Enabled serves the registration endpoint and advertises it in discovery.
	Enabled bool `yaml:"enabled"`
	// AllowedRedirectURIs are redirect URIs a registered client may have, matched exactly.
	AllowedRedirectURIs []string `yaml:"allowed_redirect_uris"`
	// AllowedRedirectHosts are host suffixes: "example.com" allows redirect URIs on https
	// whose host is example.com or ends with ".example.com" (any path; http only on a
	// loopback host). A redirect URI passes when it matches an entry of either list; with both
	// lists empty every redirect URI the client rules accept passes.
	AllowedRedirectHosts []string `yaml:"allowed_redirect_hosts"`
	// GrantTypes a registered client may ask for (default: authorization_code,
	// refresh_token).
	GrantTypes []string `yaml:"grant_types"`
	// TokenEndpointAuthMethods a registered client may ask for (default:
	// client_secret_basic, client_secret_post, private_key_jwt, none).
	TokenEndpointAuthMethods []string `yaml:"token_endpoint_auth_methods"`
	// MaxClientsPerToken bounds the uses of one initial access token (default 1, at most
	// 1000): the admin API refuses a larger max_uses.
	MaxClientsPerToken int `yaml:"max_clients_per_token"`
	// SoftwareStatement checks software statements (RFC 7591 2.3).
	SoftwareStatement SoftwareStatement `yaml:"software_statement"`
}

// SoftwareStatement says which software statements are approved: JWTs signed by a key of
// JWKS (and, when Issuers is set, with one of them as iss). Their claims override the
// registration request's metadata.
type SoftwareStatement struct {
	// Required refuses a registration without a software statement.
	Required bool `yaml:"required"`
	// JWKS are the public keys that sign approved statements, inline ({keys: [...]}).
	JWKS map[string]any `yaml:"jwks"`
	// Issuers, when set, are the accepted iss values.
	Issuers []string `yaml:"issuers"`
}

// Registration defaults and bounds.
var (
	DefaultRegistrationGrantTypes  = []string{"authorization_code", "refresh_token"}
	DefaultRegistrationAuthMethods = []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"}
)

// MaxClientsPerTokenLimit bounds registration.max_clients_per_token.
const MaxClientsPerTokenLimit = 1000

// registrationGrantTypes are the grant types a registered client may have at all.
var registrationGrantTypes = []string{"authorization_code", "refresh_token", "client_credentials",
	"urn:ietf:params:oauth:grant-type:device_code"}

// applyRegistrationDefaults fills the unset registration settings.
func (c *Config) applyRegistrationDefaults() {
	r := &c.Registration
	if len(r.GrantTypes) == 0 {
		r.GrantTypes = slices.Clone(DefaultRegistrationGrantTypes)
	}
	if len(r.TokenEndpointAuthMethods) == 0 {
		r.TokenEndpointAuthMethods = slices.Clone(DefaultRegistrationAuthMethods)
	}
	if r.MaxClientsPerToken == 0 {
		r.MaxClientsPerToken = 1
	}
}

// registration checks the registration block (no I/O).
func (v *validator) registration(r *Registration) {
	for i, u := range r.AllowedRedirectURIs {
		v.redirectURI(fmt.Sprintf("registration.allowed_redirect_uris[%d]", i), u)
	}
	for i, h := range r.AllowedRedirectHosts {
		if h == "" || strings.ContainsAny(h, "/:*@ ") || strings.HasPrefix(h, ".") {
			v.addf(fmt.Sprintf("registration.allowed_redirect_hosts[%d]", i), "%q is not a host name (write example.com: it allows example.com and its subdomains)", h)
		}
	}
	for i, g := range r.GrantTypes {
		if !slices.Contains(registrationGrantTypes, g) {
			v.addf(fmt.Sprintf("registration.grant_types[%d]", i), "%q is not one of %s", g, strings.Join(registrationGrantTypes, ", "))
		}
	}
	for i, m := range r.TokenEndpointAuthMethods {
		if !slices.Contains(DefaultRegistrationAuthMethods, m) {
			v.addf(fmt.Sprintf("registration.token_endpoint_auth_methods[%d]", i), "%q is not one of %s", m, strings.Join(DefaultRegistrationAuthMethods, ", "))
		}
	}
	if r.MaxClientsPerToken < 1 || r.MaxClientsPerToken > MaxClientsPerTokenLimit {
		v.addf("registration.max_clients_per_token", "must be between 1 and %d, got %d", MaxClientsPerTokenLimit, r.MaxClientsPerToken)
	}
	ss := r.SoftwareStatement
	if len(ss.JWKS) > 0 {
		if _, err := ParseClientJWKS(ss.JWKS); err != nil {
			v.addf("registration.software_statement.jwks", "%v", err)
		}
	} else if ss.Required || len(ss.Issuers) > 0 {
		v.addf("registration.software_statement.jwks", "is required to check software statements (required or issuers is set)")
	}
	for i, iss := range ss.Issuers {
		if strings.TrimSpace(iss) == "" {
			v.addf(fmt.Sprintf("registration.software_statement.issuers[%d]", i), "must not be empty")
		}
	}
}
