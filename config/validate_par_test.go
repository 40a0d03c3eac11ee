package config

import (
	"strings"
	"testing"
)

// TestValidateClientPAR: require_pushed_authorization_requests and
// allow_unsigned_request_objects need a client of the authorization code flow; the global
// oauth2 key decodes strictly.
func TestValidateClientPAR(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Client)
		want   []string
	}{
		{"PAR required", func(c *Client) { c.RequirePushedAuthorizationRequests = true }, nil},
		{"unsigned request objects allowed", func(c *Client) { c.AllowUnsignedRequestObjects = true }, nil},
		{"PAR required of a machine client", func(c *Client) {
			c.GrantTypes, c.RedirectURIs, c.PostLogoutRedirectURIs = []string{"client_credentials"}, nil, nil
			c.RequirePushedAuthorizationRequests, c.AllowUnsignedRequestObjects = true, true
		}, []string{"clients[0].require_pushed_authorization_requests: needs authorization_code",
			"clients[0].allow_unsigned_request_objects: needs authorization_code"}},
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

// TestParseOAuth2Block: the global switch decodes, and an unknown key in the block is an
// error with its line.
func TestParseOAuth2Block(t *testing.T) {
	cfg, err := Parse([]byte("oauth2:\n  require_pushed_authorization_requests: true\n"), "c.yaml", func(string) string { return "" })
	if err != nil || !cfg.OAuth2.RequirePushedAuthorizationRequests {
		t.Fatalf("parse: %v %+v", err, cfg)
	}
	_, err = Parse([]byte("oauth2:\n  require_par: true\n"), "c.yaml", func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), `c.yaml:2: oauth2.require_par: unknown key "require_par"`) {
		t.Fatalf("unknown key: %v", err)
	}
}
