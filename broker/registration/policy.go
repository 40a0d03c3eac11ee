package registration

import (
	"encoding/json"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Defaults of RFC 7591 2 for members a request leaves out.
var (
	defaultGrantTypes    = []string{clients.GrantAuthorizationCode}
	defaultResponseTypes = []string{"code"}
)

// RedirectAllowed reports whether the policy allows a redirect URI: an exact entry of
// allowed_redirect_uris, or an https URI (http on a loopback host) whose host is an entry of
// allowed_redirect_hosts or a subdomain of one. With both lists empty every URI is allowed.
func RedirectAllowed(p *config.Registration, raw string) bool {
	if len(p.AllowedRedirectURIs) == 0 && len(p.AllowedRedirectHosts) == 0 {
		return true
	}
	if slices.Contains(p.AllowedRedirectURIs, raw) {
		return true
	}
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Fragment != "" {
		return false
	}
	host := strings.ToLower(u.Hostname())
	switch u.Scheme {
	case "https":
	case "http":
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return false
		}
	default:
		return false
	}
	for _, h := range p.AllowedRedirectHosts {
		h = strings.ToLower(h)
		if host == h || strings.HasSuffix(host, "."+h) {
			return true
		}
	}
	return false
}

// toClient checks the metadata against the policy and the client rules (the same
// clients.Validate the admin API uses) and returns the client to store (no secret, times or
// version yet).
func toClient(p *config.Registration, m Metadata, id string, connectorIDs []string) (storage.Client, error) {
	rts := m.ResponseTypes
	if len(rts) == 0 {
		rts = defaultResponseTypes
	}
	for i, rt := range rts {
		if rt != "code" {
			return storage.Client{}, metadataErr("response_types", "[%d] %q is not supported (only code)", i, rt)
		}
	}
	gts := m.GrantTypes
	if len(gts) == 0 {
		gts = defaultGrantTypes
	}
	for i, gt := range gts {
		if !slices.Contains(p.GrantTypes, gt) {
			return storage.Client{}, metadataErr("grant_types", "[%d] %q is not allowed here (allowed: %s)", i, gt, strings.Join(p.GrantTypes, ", "))
		}
	}
	if !slices.Contains(gts, clients.GrantAuthorizationCode) && len(m.ResponseTypes) > 0 {
		return storage.Client{}, metadataErr("grant_types", "response type code needs grant type authorization_code (RFC 7591 2.1)")
	}
	method := m.TokenEndpointAuthMethod
	if method == "" {
		method = clients.AuthSecretBasic
	}
	if !slices.Contains(p.TokenEndpointAuthMethods, method) {
		return storage.Client{}, metadataErr("token_endpoint_auth_method", "%q is not allowed here (allowed: %s)", method, strings.Join(p.TokenEndpointAuthMethods, ", "))
	}
	for i, u := range m.RedirectURIs {
		if !RedirectAllowed(p, u) {
			return storage.Client{}, redirectErr("redirect_uris", "[%d] %q is not allowed by the registration policy", i, u)
		}
	}
	sc := storage.Client{
		ID: id, Name: m.ClientName, Public: method == clients.AuthNone, RedirectURIs: m.RedirectURIs,
		PostLogoutRedirectURIs: m.PostLogoutRedirectURIs, GrantTypes: gts, Scopes: strings.Fields(m.Scope),
		TokenEndpointAuthMethod: method, JWKS: string(m.JWKS), JWKSURI: m.JWKSURI,
		BackchannelLogoutURI: m.BackchannelLogoutURI, BackchannelLogoutSessionRequired: m.BackchannelLogoutSessionRequired,
		FrontchannelLogoutURI: m.FrontchannelLogoutURI, FrontchannelLogoutSessionRequired: m.FrontchannelLogoutSessionRequired,
		RequirePushedAuthorizationRequests: m.RequirePushedAuthorizationRequests, DPoPBoundAccessTokens: m.DPoPBoundAccessTokens,
	}
	if pr := clients.Validate(sc, connectorIDs); pr != nil {
		if strings.HasPrefix(pr.Field, "redirect_uris") || strings.HasPrefix(pr.Field, "post_logout_redirect_uris") {
			return storage.Client{}, redirectErr(pr.Field, "%s", pr.Message)
		}
		return storage.Client{}, metadataErr(registeredName(pr.Field), "%s", pr.Message)
	}
	return sc, nil
}

// registeredName is the RFC 7591 name of a client rules field.
func registeredName(field string) string {
	if strings.HasPrefix(field, "scopes") {
		return "scope"
	}
	if field == "secret" {
		return "token_endpoint_auth_method"
	}
	return field
}

// metadataOf is the registered metadata of a stored client, as the endpoint answers it.
func metadataOf(sc storage.Client) Metadata {
	m := Metadata{
		RedirectURIs: sc.RedirectURIs, TokenEndpointAuthMethod: sc.TokenEndpointAuthMethod, GrantTypes: sc.GrantTypes,
		ClientName: sc.Name, Scope: strings.Join(sc.Scopes, " "), JWKSURI: sc.JWKSURI,
		PostLogoutRedirectURIs: sc.PostLogoutRedirectURIs, BackchannelLogoutURI: sc.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired: sc.BackchannelLogoutSessionRequired, FrontchannelLogoutURI: sc.FrontchannelLogoutURI,
		FrontchannelLogoutSessionRequired:  sc.FrontchannelLogoutSessionRequired,
		RequirePushedAuthorizationRequests: sc.RequirePushedAuthorizationRequests, DPoPBoundAccessTokens: sc.DPoPBoundAccessTokens,
	}
	if slices.Contains(sc.GrantTypes, clients.GrantAuthorizationCode) {
		m.ResponseTypes = defaultResponseTypes
	}
	if sc.JWKS != "" {
		m.JWKS = json.RawMessage(sc.JWKS)
	}
	return m
}
