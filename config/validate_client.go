package config

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// knownGrantTypes are the grant types known to Gatehouse, as clients name them in grant_types.
var knownGrantTypes = []string{
	"authorization_code", "refresh_token", "client_credentials",
	"urn:ietf:params:oauth:grant-type:device_code",
	GrantTokenExchange,
}

// DefaultGrantTypes are the grant types of a client whose grant_types is empty.
var DefaultGrantTypes = []string{"authorization_code", "refresh_token"}

// allowsGrant reports whether the client may use the grant type (grant_types, or the default).
func (c Client) allowsGrant(gt string) bool {
	if len(c.GrantTypes) == 0 {
		return slices.Contains(DefaultGrantTypes, gt)
	}
	return slices.Contains(c.GrantTypes, gt)
}

// clientGrants checks grant_types, allowed_scopes and allowed_audiences.
func (v *validator) clientGrants(p string, c Client) {
	seen := map[string]bool{}
	for j, gt := range c.GrantTypes {
		q := fmt.Sprintf("%s.grant_types[%d]", p, j)
		switch {
		case !slices.Contains(knownGrantTypes, gt):
			v.addf(q, "unknown grant type %q (one of %v)", gt, knownGrantTypes)
		case seen[gt]:
			v.addf(q, "duplicate grant type %q", gt)
		case gt == "client_credentials" && c.Public:
			v.addf(q, "client_credentials needs a confidential client (a public client cannot authenticate)")
		}
		seen[gt] = true
	}
	if (len(c.AllowedScopes) > 0 || len(c.AllowedAudiences) > 0) && !c.allowsGrant("client_credentials") && !c.allowsGrant(GrantTokenExchange) {
		v.addf(p+".allowed_scopes", "allowed_scopes and allowed_audiences limit client_credentials tokens; add client_credentials to grant_types")
	}
	for j, sc := range c.AllowedScopes {
		if !scopeNameRe.MatchString(sc) {
			v.addf(fmt.Sprintf("%s.allowed_scopes[%d]", p, j), "%q is not a valid scope name", sc)
		}
		if sc == "openid" || sc == "offline_access" {
			v.addf(fmt.Sprintf("%s.allowed_scopes[%d]", p, j), "%q needs a user; a client_credentials token has none", sc)
		}
	}
	for j, a := range c.AllowedAudiences {
		if a == "" {
			v.addf(fmt.Sprintf("%s.allowed_audiences[%d]", p, j), "must not be empty")
		}
	}
}

// clientKeys checks jwks and jwks_uri (private_key_jwt, RFC 7523): exclusive with each other
// and with secret; inline keys must parse as public signing keys.
func (v *validator) clientKeys(p string, c Client) {
	switch {
	case len(c.JWKS) > 0 && c.JWKSURI != "":
		v.addf(p+".jwks_uri", "set jwks or jwks_uri, not both")
	case (len(c.JWKS) > 0 || c.JWKSURI != "") && c.Secret != "":
		v.addf(p+".secret", "must not be set with jwks or jwks_uri: a client authenticates with private_key_jwt or a secret, not both")
	case (len(c.JWKS) > 0 || c.JWKSURI != "") && c.Public:
		v.addf(p+".public", "a public client has no keys; drop jwks/jwks_uri or public: true")
	}
	if len(c.JWKS) > 0 {
		if _, err := ParseClientJWKS(c.JWKS); err != nil {
			v.addf(p+".jwks", "%v", err)
		}
	}
	if c.JWKSURI != "" {
		u, err := url.Parse(c.JWKSURI)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			v.addf(p+".jwks_uri", "must be an absolute http(s) URL")
		case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
			v.addf(p+".jwks_uri", "must use https (http only on loopback)")
		}
	}
}

// clientLogout checks backchannel_logout_uri and frontchannel_logout_uri: absolute http(s)
// URLs without a fragment, https unless on loopback (a logout token or the user's session ID
// must not cross the network in the clear).
func (v *validator) clientLogout(p string, c Client) {
	for _, k := range []struct{ key, uri string }{
		{"backchannel_logout_uri", c.BackchannelLogoutURI}, {"frontchannel_logout_uri", c.FrontchannelLogoutURI},
	} {
		if k.uri == "" {
			continue
		}
		u, err := url.Parse(k.uri)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			v.addf(p+"."+k.key, "%q must be an absolute http(s) URL", k.uri)
		case u.Fragment != "" || strings.Contains(k.uri, "#"):
			v.addf(p+"."+k.key, "%q must not contain a fragment (#...)", k.uri)
		case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
			v.addf(p+"."+k.key, "%q must use https (http only on loopback)", k.uri)
		}
	}
	if c.BackchannelLogoutSessionRequired && c.BackchannelLogoutURI == "" {
		v.addf(p+".backchannel_logout_session_required", "needs backchannel_logout_uri")
	}
	if c.FrontchannelLogoutSessionRequired && c.FrontchannelLogoutURI == "" {
		v.addf(p+".frontchannel_logout_session_required", "needs frontchannel_logout_uri")
	}
}

// ParseClientJWKS turns an inline jwks mapping into a key set of public signing keys.
func ParseClientJWKS(m map[string]any) (jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	b, err := json.Marshal(m)
	if err != nil {
		return set, fmt.Errorf("is not a JSON Web Key Set: %v", err)
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return set, fmt.Errorf("is not a JSON Web Key Set: %v", err)
	}
	if len(set.Keys) == 0 {
		return set, fmt.Errorf("has no keys")
	}
	for i, k := range set.Keys {
		if !k.Valid() || !k.IsPublic() {
			return set, fmt.Errorf("keys[%d] is not a valid public key (never put a private key here)", i)
		}
		if k.Use != "" && k.Use != "sig" {
			return set, fmt.Errorf("keys[%d] has use %q; only sig keys verify assertions", i, k.Use)
		}
	}
	return set, nil
}
