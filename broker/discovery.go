package broker

import (
	"encoding/json"
	"net/http"
)

// buildDiscovery renders the OpenID Provider Metadata once (OIDC Discovery 3, RFC 8414).
func (s *Server) buildDiscovery() ([]byte, error) {
	m := map[string]any{
		"issuer":                                         s.Issuer,
		"authorization_endpoint":                         s.url("/authorize"),
		"token_endpoint":                                 s.url("/token"),
		"userinfo_endpoint":                              s.url("/userinfo"),
		"jwks_uri":                                       s.url("/keys"),
		"revocation_endpoint":                            s.url("/revoke"),
		"introspection_endpoint":                         s.url("/introspect"),
		"end_session_endpoint":                           s.url("/logout"),
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query", "form_post"},
		"grant_types_supported":                          []string{"authorization_code", "refresh_token"},
		"subject_types_supported":                        s.Claims.SubjectTypes(),
		"id_token_signing_alg_values_supported":          s.Keys.Algorithms(),
		"scopes_supported":                               s.Claims.SupportedScopes(),
		"claims_supported":                               s.Claims.SupportedClaims(),
		"token_endpoint_auth_methods_supported":          []string{"client_secret_basic", "client_secret_post", "none"},
		"revocation_endpoint_auth_methods_supported":     []string{"client_secret_basic", "client_secret_post", "none"},
		"introspection_endpoint_auth_methods_supported":  []string{"client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":               []string{"S256"},
		"prompt_values_supported":                        []string{"none", "login", "consent", "select_account"},
		"authorization_response_iss_parameter_supported": true,
		"request_parameter_supported":                    false,
		"request_uri_parameter_supported":                false,
		"claims_parameter_supported":                     false,
		"frontchannel_logout_supported":                  false,
		"backchannel_logout_supported":                   false,
	}
	s.mfaDiscovery(m)
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// handleDiscovery serves the provider metadata: fixed bytes.
func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(s.discovery)
}

// handleJWKS serves the published signing keys: fixed bytes until the keys change.
func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	body, etag := s.Keys.JWKS()
	h := w.Header()
	h.Set("Content-Type", "application/jwk-set+json")
	h.Set("Cache-Control", "public, max-age=300, must-revalidate")
	if etag != "" {
		h.Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	_, _ = w.Write(body)
}
