package config

import (
	"slices"
	"strings"
	"testing"
)

// TestRegistrationConfig: the registration block decodes strictly, defaults, and every bad
// setting is a problem with file:line and key path.
func TestRegistrationConfig(t *testing.T) {
	base := "issuer: https://login.example.com\nconnectors: [{type: local, id: local}]\n"
	key := "{keys: [{kty: EC, crv: P-256, x: f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU, y: x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0}]}"
	tests := []struct {
		name       string
		yaml       string
		wantErrors []string
	}{
		{"off by default", base, nil},
		{"on with a policy", base + "registration:\n  enabled: true\n  allowed_redirect_uris: [https://app.example.com/cb]\n" +
			"  allowed_redirect_hosts: [example.com]\n  grant_types: [authorization_code]\n  max_clients_per_token: 10\n" +
			"  software_statement: {required: true, issuers: [https://vendor.example.com], jwks: " + key + "}\n", nil},
		{"bad redirect", base + "registration:\n  allowed_redirect_uris: [/cb]\n",
			[]string{"f.yaml:4: registration.allowed_redirect_uris[0]: \"/cb\" must be an absolute URI"}},
		{"host with a scheme", base + "registration:\n  allowed_redirect_hosts: [https://example.com]\n",
			[]string{"f.yaml:4: registration.allowed_redirect_hosts[0]: \"https://example.com\" is not a host name"}},
		{"host with a leading dot", base + "registration:\n  allowed_redirect_hosts: [.example.com]\n",
			[]string{"registration.allowed_redirect_hosts[0]"}},
		{"unknown grant", base + "registration:\n  grant_types: [password]\n",
			[]string{"f.yaml:4: registration.grant_types[0]: \"password\" is not one of"}},
		{"unknown auth method", base + "registration:\n  token_endpoint_auth_methods: [tls_client_auth]\n",
			[]string{"registration.token_endpoint_auth_methods[0]: \"tls_client_auth\" is not one of"}},
		{"too many clients per token", base + "registration:\n  max_clients_per_token: 1001\n",
			[]string{"f.yaml:4: registration.max_clients_per_token: must be between 1 and 1000, got 1001"}},
		{"statement required without keys", base + "registration:\n  software_statement: {required: true}\n",
			[]string{"registration.software_statement.jwks: is required"}},
		{"statement keys not a key set", base + "registration:\n  software_statement: {jwks: {keys: []}}\n",
			[]string{"registration.software_statement.jwks: has no keys"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.yaml), "f.yaml", nil)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			cfg.ApplyDefaults()
			var msgs []string
			for _, p := range problems(t, cfg.Validate()) {
				msgs = append(msgs, p.Error())
			}
			if len(msgs) != len(tt.wantErrors) {
				t.Fatalf("problems %q, want %q", msgs, tt.wantErrors)
			}
			for i, w := range tt.wantErrors {
				if !strings.Contains(msgs[i], w) {
					t.Errorf("problem %q, want it to contain %q", msgs[i], w)
				}
			}
		})
	}
	cfg, err := Parse([]byte(base), "f.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ApplyDefaults()
	r := cfg.Registration
	if r.Enabled || r.MaxClientsPerToken != 1 || !slices.Equal(r.GrantTypes, DefaultRegistrationGrantTypes) ||
		!slices.Equal(r.TokenEndpointAuthMethods, DefaultRegistrationAuthMethods) {
		t.Errorf("defaults = %+v", r)
	}
	if _, err := Parse([]byte(base+"registration: {enable: true}\n"), "f.yaml", nil); err == nil || !strings.Contains(err.Error(), "enable") {
		t.Errorf("unknown key in registration: %v", err)
	}
}
