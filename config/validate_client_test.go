package config

import (
	"strings"
	"testing"
)

// testJWK is a public P-256 key (RFC 7515 A.3) as a config mapping.
func testJWKS() map[string]any {
	return map[string]any{"keys": []any{map[string]any{
		"kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig",
		"x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
		"y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
	}}}
}

func TestValidateClientGrants(t *testing.T) {
	private := testJWKS()
	private["keys"].([]any)[0].(map[string]any)["d"] = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"
	tests := []struct {
		name   string
		mutate func(*Client)
		want   []string
	}{
		{"default grants", func(*Client) {}, nil},
		{"client_credentials only, no redirect URIs", func(c *Client) {
			c.GrantTypes, c.RedirectURIs, c.PostLogoutRedirectURIs = []string{"client_credentials"}, nil, nil
			c.AllowedScopes, c.AllowedAudiences = []string{"read"}, []string{"https://api.example"}
		}, nil},
		{"authorization_code needs redirect URIs", func(c *Client) { c.RedirectURIs = nil }, []string{"clients[0].redirect_uris: needs at least one"}},
		{"unknown grant", func(c *Client) { c.GrantTypes = []string{"password"} }, []string{`clients[0].grant_types[0]: unknown grant type "password"`}},
		{"duplicate grant", func(c *Client) { c.GrantTypes = []string{"refresh_token", "authorization_code", "refresh_token"} },
			[]string{`clients[0].grant_types[2]: duplicate grant type`}},
		{"public client_credentials", func(c *Client) {
			c.Public, c.Secret, c.GrantTypes = true, "", []string{"authorization_code", "client_credentials"}
		},
			[]string{"clients[0].grant_types[1]: client_credentials needs a confidential client"}},
		{"allowed_scopes without the grant", func(c *Client) { c.AllowedScopes = []string{"read"} },
			[]string{"clients[0].allowed_scopes: allowed_scopes and allowed_audiences limit client_credentials tokens"}},
		{"user scopes in allowed_scopes", func(c *Client) {
			c.GrantTypes, c.AllowedScopes = []string{"client_credentials", "authorization_code"}, []string{"openid", "bad scope"}
		}, []string{`clients[0].allowed_scopes[0]: "openid" needs a user`, `clients[0].allowed_scopes[1]: "bad scope" is not a valid scope name`}},
		{"jwks instead of a secret", func(c *Client) { c.Secret, c.JWKS = "", testJWKS() }, nil},
		{"jwks_uri instead of a secret", func(c *Client) { c.Secret, c.JWKSURI = "", "https://app.example.com/jwks" }, nil},
		{"jwks_uri on loopback http", func(c *Client) { c.Secret, c.JWKSURI = "", "http://127.0.0.1:8080/jwks" }, nil},
		{"jwks_uri plain http", func(c *Client) { c.Secret, c.JWKSURI = "", "http://app.example.com/jwks" }, []string{"clients[0].jwks_uri: must use https"}},
		{"jwks_uri relative", func(c *Client) { c.Secret, c.JWKSURI = "", "/jwks" }, []string{"clients[0].jwks_uri: must be an absolute http(s) URL"}},
		{"jwks and jwks_uri", func(c *Client) { c.Secret, c.JWKS, c.JWKSURI = "", testJWKS(), "https://app.example.com/jwks" },
			[]string{"clients[0].jwks_uri: set jwks or jwks_uri, not both"}},
		{"jwks and a secret", func(c *Client) { c.JWKS = testJWKS() }, []string{"clients[0].secret: must not be set with jwks or jwks_uri"}},
		{"private key in jwks", func(c *Client) { c.Secret, c.JWKS = "", private }, []string{"clients[0].jwks: keys[0] is not a valid public key"}},
		{"empty jwks", func(c *Client) { c.Secret, c.JWKS = "", map[string]any{"keys": []any{}} }, []string{"clients[0].jwks: has no keys"}},
		{"back- and front-channel logout", func(c *Client) {
			c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired = "https://app.example.com/bcl", true
			c.FrontchannelLogoutURI, c.FrontchannelLogoutSessionRequired = "http://127.0.0.1:8080/fcl?x=1", true
		}, nil},
		{"back-channel logout plain http", func(c *Client) { c.BackchannelLogoutURI = "http://app.example.com/bcl" },
			[]string{`clients[0].backchannel_logout_uri: "http://app.example.com/bcl" must use https`}},
		{"front-channel logout relative", func(c *Client) { c.FrontchannelLogoutURI = "/fcl" },
			[]string{`clients[0].frontchannel_logout_uri: "/fcl" must be an absolute http(s) URL`}},
		{"back-channel logout with a fragment", func(c *Client) { c.BackchannelLogoutURI = "https://app.example.com/bcl#x" },
			[]string{"clients[0].backchannel_logout_uri: \"https://app.example.com/bcl#x\" must not contain a fragment"}},
		{"logout javascript scheme", func(c *Client) { c.FrontchannelLogoutURI = "javascript:alert(1)" },
			[]string{"clients[0].frontchannel_logout_uri: \"javascript:alert(1)\" must be an absolute http(s) URL"}},
		{"session_required without a URI", func(c *Client) {
			c.BackchannelLogoutSessionRequired, c.FrontchannelLogoutSessionRequired = true, true
		}, []string{"clients[0].backchannel_logout_session_required: needs backchannel_logout_uri",
			"clients[0].frontchannel_logout_session_required: needs frontchannel_logout_uri"}},
		{"jwks not a key set", func(c *Client) { c.Secret, c.JWKS = "", map[string]any{"keys": "x"} }, []string{"clients[0].jwks: is not a JSON Web Key Set"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c.Clients[0])
			ps := problems(t, c.Validate())
			if len(ps) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(tt.want), ps)
			}
			for i, w := range tt.want {
				if !strings.Contains(ps[i].Error(), w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, ps[i].Error(), w)
				}
			}
		})
	}
}
