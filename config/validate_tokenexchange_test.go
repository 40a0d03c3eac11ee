package config

import (
	"strings"
	"testing"
)

func TestValidateTokenExchange(t *testing.T) {
	te := func() *TokenExchange {
		return &TokenExchange{Audiences: []string{"api-b"}, SubjectTokenTypes: []string{"access_token", "id_token"}, Delegation: true}
	}
	exchanger := func(c *Client) {
		c.GrantTypes = []string{"authorization_code", GrantTokenExchange}
		c.TokenExchange = te()
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{"valid", func(c *Config) { exchanger(&c.Clients[0]) }, nil},
		{"valid with an upstream connector", func(c *Config) {
			exchanger(&c.Clients[0])
			c.Connectors = append(c.Connectors, ConnectorBlock{ID: "corp-oidc", Type: "oidc"})
			c.Clients[0].TokenExchange.UpstreamConnectors = []string{"corp-oidc"}
		}, nil},
		{"resources only", func(c *Config) {
			exchanger(&c.Clients[0])
			c.Clients[0].TokenExchange.Audiences = nil
			c.Clients[0].Resources = []string{"https://api.example/", "urn:example:api"}
		}, nil},
		{"grant without policy", func(c *Config) { c.Clients[0].GrantTypes = []string{"authorization_code", GrantTokenExchange} },
			[]string{"clients[0].grant_types: " + GrantTokenExchange + " needs a token_exchange policy"}},
		{"policy without grant", func(c *Config) { c.Clients[0].TokenExchange = te() },
			[]string{"clients[0].token_exchange: add " + GrantTokenExchange}},
		{"public exchanger", func(c *Config) {
			exchanger(&c.Clients[0])
			c.Clients[0].Public, c.Clients[0].Secret = true, ""
		}, []string{"clients[0].token_exchange: needs a confidential client"}},
		{"no audience", func(c *Config) {
			exchanger(&c.Clients[0])
			c.Clients[0].TokenExchange.Audiences = nil
		}, []string{"clients[0].token_exchange.audiences: name at least one audience"}},
		{"neither delegation nor impersonation", func(c *Config) {
			exchanger(&c.Clients[0])
			c.Clients[0].TokenExchange.Delegation = false
		}, []string{"clients[0].token_exchange: allows neither delegation nor impersonation"}},
		{"unknown subject token type", func(c *Config) {
			exchanger(&c.Clients[0])
			c.Clients[0].TokenExchange.SubjectTokenTypes = []string{"saml2"}
		}, []string{`clients[0].token_exchange.subject_token_types[0]: unknown subject token type "saml2"`}},
		{"upstream connector unknown", func(c *Config) {
			exchanger(&c.Clients[0])
			c.Clients[0].TokenExchange.UpstreamConnectors = []string{"nope"}
		}, []string{`clients[0].token_exchange.upstream_connectors[0]: "nope" is not a configured connector id`}},
		{"upstream connector not oidc", func(c *Config) {
			exchanger(&c.Clients[0])
			c.Clients[0].TokenExchange.UpstreamConnectors = []string{"local"}
		}, []string{`clients[0].token_exchange.upstream_connectors[0]: connector "local" is of type "local"`}},
		{"upstream connector without id_token", func(c *Config) {
			exchanger(&c.Clients[0])
			c.Connectors = append(c.Connectors, ConnectorBlock{ID: "corp-oidc", Type: "oidc"})
			c.Clients[0].TokenExchange.SubjectTokenTypes = []string{"access_token"}
			c.Clients[0].TokenExchange.UpstreamConnectors = []string{"corp-oidc"}
		}, []string{"clients[0].token_exchange.upstream_connectors: upstream ID tokens are id_token subject tokens"}},
		{"bad resources", func(c *Config) {
			c.Clients[0].Resources = []string{"/api", "https://api.example/#frag", ""}
		}, []string{`clients[0].resources[0]: "/api" is not an absolute URI`, `clients[0].resources[1]: "https://api.example/#frag" has a fragment`,
			`clients[0].resources[2]: "" is not a URI`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(c)
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

// TestTokenExchangeYAMLLines: token_exchange and resources problems carry file:line, and
// an unknown key in the block is refused.
func TestTokenExchangeYAMLLines(t *testing.T) {
	src := `issuer: https://login.example.com
connectors:
  - {type: local, id: local}
clients:
  - id: api-a
    secret: s
    grant_types: [urn:ietf:params:oauth:grant-type:token-exchange]
    resources: [/relative]
    token_exchange:
      audiences: [api-b]
      delegation: true
      upstream_connectors: [local]
      subject_token_type: [id_token]
`
	_, err := Parse([]byte(src), "gh.yaml", nil)
	want := []string{
		`gh.yaml:13: clients[0].token_exchange.subject_token_type: unknown key "subject_token_type" (did you mean "subject_token_types"?)`,
	}
	ps := problems(t, err)
	if len(ps) != len(want) || ps[0].Error() != want[0] {
		t.Fatalf("problems %v, want %v", ps, want)
	}
	src = strings.Replace(src, "subject_token_type:", "subject_token_types:", 1)
	cfg, err := Parse([]byte(src), "gh.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ApplyDefaults()
	err = cfg.Validate()
	want = []string{
		`gh.yaml:8: clients[0].resources[0]: "/relative" is not an absolute URI`,
		`gh.yaml:12: clients[0].token_exchange.upstream_connectors[0]: connector "local" is of type "local"; only oidc connectors verify upstream ID tokens`,
	}
	ps = problems(t, err)
	if len(ps) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(want), ps)
	}
	for i, w := range want {
		if ps[i].Error() != w {
			t.Errorf("problem %d = %q, want %q", i, ps[i].Error(), w)
		}
	}
}
