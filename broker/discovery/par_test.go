package discovery

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestDocumentPARAndRequestObjects: items 6 and 7 of issue 17 are advertised: the pushed
// authorization request endpoint and whether it is required (only when the broker has it),
// request objects with their algorithms (never none), no fetched request_uri, the claims
// parameter, and acr among the claims when MFA is on.
func TestDocumentPARAndRequestObjects(t *testing.T) {
	cases := []struct {
		par, require bool
		acr          []string
	}{{false, false, nil}, {true, false, nil}, {true, true, []string{"pwd", "mfa"}}}
	for _, tc := range cases {
		rec := serve(t, Provider{Issuer: "https://id.example/auth", SigningAlgorithms: []string{"RS256"},
			Claims: []string{"sub", "email"}, ACRValues: tc.acr, PushedAuthorization: tc.par, RequirePAR: tc.require},
			"/auth/.well-known/openid-configuration", nil)
		var doc map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		endpoint, has := doc["pushed_authorization_request_endpoint"]
		if has != tc.par || (tc.par && endpoint != "https://id.example/auth/par") {
			t.Errorf("%+v: pushed_authorization_request_endpoint = %v", tc, endpoint)
		}
		if req, has := doc["require_pushed_authorization_requests"]; has != tc.par || (tc.par && req != tc.require) {
			t.Errorf("%+v: require_pushed_authorization_requests = %v", tc, req)
		}
		if doc["request_parameter_supported"] != true || doc["request_uri_parameter_supported"] != false || doc["claims_parameter_supported"] != true {
			t.Errorf("%+v: request %v request_uri %v claims %v", tc, doc["request_parameter_supported"], doc["request_uri_parameter_supported"], doc["claims_parameter_supported"])
		}
		algs, _ := doc["request_object_signing_alg_values_supported"].([]any)
		if !slices.Contains(algs, any("ES256")) || slices.Contains(algs, any("none")) {
			t.Errorf("request_object_signing_alg_values_supported = %v", algs)
		}
		claims, _ := doc["claims_supported"].([]any)
		if slices.Contains(claims, any("acr")) != (tc.acr != nil) || !slices.Contains(claims, any("email")) {
			t.Errorf("%+v: claims_supported = %v", tc, claims)
		}
	}
}
