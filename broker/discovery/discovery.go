// Package discovery owns the provider's published metadata: the OpenID Provider Metadata
// document (OIDC Discovery 3, RFC 8414) at /.well-known/openid-configuration and the signing
// keys (JWKS) at /keys. The document is rendered once at start from its inputs; the JWKS is
// whatever the key set publishes now.
package discovery

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/route"
)

// Provider is what the metadata document says beyond the fixed endpoint paths.
type Provider struct {
	Issuer string
	// SubjectTypes, Scopes and Claims are what the claims pipeline supports.
	SubjectTypes, Scopes, Claims []string
	// SigningAlgorithms are the ID token signing algorithms of the key set.
	SigningAlgorithms []string
	// ACRValues are the acr values the second-factor step can satisfy; empty (MFA off)
	// leaves acr_values_supported out.
	ACRValues []string
	// DeviceAuthorization advertises the device authorization grant (RFC 8628 4).
	DeviceAuthorization bool
	// Registration advertises the Dynamic Client Registration endpoint (RFC 7591 3,
	// registration_endpoint).
	Registration bool
	// PushedAuthorization advertises the pushed authorization request endpoint (RFC 9126 5);
	// RequirePAR says every client must use it.
	PushedAuthorization, RequirePAR bool
	// ForwardAuth adds gatehouse_forward_auth_endpoint (an RFC 8414 extension member): the
	// identity-aware proxy check of broker/forwardauth, when apps are protected.
	ForwardAuth bool
	// DPoPAlgorithms are the DPoP proof algorithms accepted (RFC 9449 5.1,
	// dpop_signing_alg_values_supported); empty leaves the member out.
	DPoPAlgorithms []string
	// UILocales are the languages of the pages (ui_locales_supported, OIDC Discovery 3);
	// empty leaves the member out.
	UILocales []string
	// Logout advertises back-channel and front-channel logout with session IDs (OpenID
	// Connect Back-Channel Logout 1.0 2.1, Front-Channel Logout 1.0 3): set when the storage
	// keeps session participants and the logout queue.
	Logout bool
}

// KeySet publishes the signing keys.
type KeySet interface {
	// JWKS returns the JSON Web Key Set and its ETag ("" for none).
	JWKS() (body []byte, etag string)
}

// Handler serves the metadata document and the JWKS.
type Handler struct {
	doc  []byte
	keys KeySet
}

// New renders the metadata document of p and returns the handler serving it and keys' JWKS.
func New(p Provider, keys KeySet) (*Handler, error) {
	doc, err := document(p)
	if err != nil {
		return nil, err
	}
	return &Handler{doc: doc, keys: keys}, nil
}

// Mount registers the metadata document and the JWKS as API routes.
func (h *Handler) Mount(m *route.Mux) {
	m.API("GET /.well-known/openid-configuration", h.serveDocument)
	m.API("GET /keys", h.serveJWKS)
}

// document renders the OpenID Provider Metadata once (OIDC Discovery 3, RFC 8414).
func document(p Provider) ([]byte, error) {
	url := func(path string) string { return strings.TrimSuffix(p.Issuer, "/") + path }
	m := map[string]any{
		"issuer":                                                   p.Issuer,
		"authorization_endpoint":                                   url("/authorize"),
		"token_endpoint":                                           url("/token"),
		"userinfo_endpoint":                                        url("/userinfo"),
		"jwks_uri":                                                 url("/keys"),
		"revocation_endpoint":                                      url("/revoke"),
		"introspection_endpoint":                                   url("/introspect"),
		"end_session_endpoint":                                     url("/logout"),
		"response_types_supported":                                 []string{"code"},
		"response_modes_supported":                                 []string{"query", "form_post"},
		"grant_types_supported":                                    []string{"authorization_code", "refresh_token", "client_credentials", clients.GrantTokenExchange},
		"subject_types_supported":                                  p.SubjectTypes,
		"id_token_signing_alg_values_supported":                    p.SigningAlgorithms,
		"scopes_supported":                                         p.Scopes,
		"claims_supported":                                         p.Claims,
		"token_endpoint_auth_methods_supported":                    []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"},
		"revocation_endpoint_auth_methods_supported":               []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"},
		"introspection_endpoint_auth_methods_supported":            []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		"token_endpoint_auth_signing_alg_values_supported":         clients.AssertionAlgorithms,
		"revocation_endpoint_auth_signing_alg_values_supported":    clients.AssertionAlgorithms,
		"introspection_endpoint_auth_signing_alg_values_supported": clients.AssertionAlgorithms,
		"code_challenge_methods_supported":                         []string{"S256"},
		"prompt_values_supported":                                  []string{"none", "login", "consent", "select_account"},
		"authorization_response_iss_parameter_supported":           true,
		"request_parameter_supported":                              true,
		"request_object_signing_alg_values_supported":              clients.AssertionAlgorithms,
		"request_uri_parameter_supported":                          false, // only PAR's own URNs; never fetched
		"claims_parameter_supported":                               true,
		"frontchannel_logout_supported":                            p.Logout,
		"backchannel_logout_supported":                             p.Logout,
	}
	if p.Logout {
		m["frontchannel_logout_session_supported"] = true
		m["backchannel_logout_session_supported"] = true
	}
	if len(p.ACRValues) > 0 {
		m["acr_values_supported"] = p.ACRValues
		if !slices.Contains(p.Claims, "acr") {
			m["claims_supported"] = append(slices.Clip(p.Claims), "acr") // ID tokens carry acr with MFA on
		}
	}
	if p.PushedAuthorization {
		m["pushed_authorization_request_endpoint"] = url("/par")
		m["require_pushed_authorization_requests"] = p.RequirePAR
	}
	if len(p.UILocales) > 0 {
		m["ui_locales_supported"] = p.UILocales
	}
	if p.Registration {
		m["registration_endpoint"] = url("/register")
	}
	if p.DeviceAuthorization {
		m["device_authorization_endpoint"] = url("/device/code")
		m["grant_types_supported"] = []string{"authorization_code", "refresh_token", "client_credentials",
			clients.GrantTokenExchange, "urn:ietf:params:oauth:grant-type:device_code"}
	}
	if len(p.DPoPAlgorithms) > 0 {
		m["dpop_signing_alg_values_supported"] = p.DPoPAlgorithms
	}
	if p.ForwardAuth {
		m["gatehouse_forward_auth_endpoint"] = url("/forward-auth")
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// serveDocument serves the provider metadata: fixed bytes.
func (h *Handler) serveDocument(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(h.doc) //nolint:errcheck // the client went away; nothing to do
}

// serveJWKS serves the published signing keys: fixed bytes until the keys change.
func (h *Handler) serveJWKS(w http.ResponseWriter, r *http.Request) {
	body, etag := h.keys.JWKS()
	hd := w.Header()
	hd.Set("Content-Type", "application/jwk-set+json")
	hd.Set("Cache-Control", "public, max-age=300, must-revalidate")
	if etag != "" {
		hd.Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	_, _ = w.Write(body) //nolint:errcheck // the client went away; nothing to do
}
