package config

import (
	"strings"
	"testing"
)

// TestConnectorLogout: connectors[].logout is local or upstream, and upstream only on oidc
// and saml connectors; a problem names the file and line of the key.
func TestConnectorLogout(t *testing.T) {
	base := `issuer: https://sso.example.com
web: {http: "127.0.0.1:5556"}
storage: {type: sqlite, config: {file: gh.db}}
connectors:
  - type: %TYPE%
    id: up
    logout: %MODE%
clients:
  - id: app
    secret: s
    redirect_uris: [https://app.example.com/cb]
`
	tests := []struct {
		typ, mode string
		want      string // "" for valid
	}{
		{"oidc", "upstream", ""},
		{"saml", "upstream", ""},
		{"oidc", "local", ""},
		{"ldap", "local", ""},
		{"ldap", "upstream", `gh.yaml:7: connectors[0].logout: upstream logout needs an oidc or saml connector (this one is "ldap")`},
		{"github", "upstream", `gh.yaml:7: connectors[0].logout: upstream logout needs an oidc or saml connector (this one is "github")`},
		{"oidc", "everywhere", `gh.yaml:7: connectors[0].logout: "everywhere" is not a logout mode (local or upstream)`},
		{"oidc", "Upstream", `gh.yaml:7: connectors[0].logout: "Upstream" is not a logout mode`},
	}
	for _, tt := range tests {
		t.Run(tt.typ+"/"+tt.mode, func(t *testing.T) {
			src := strings.NewReplacer("%TYPE%", tt.typ, "%MODE%", tt.mode).Replace(base)
			c, err := Parse([]byte(src), "gh.yaml", func(string) string { return "" })
			if err != nil {
				t.Fatal(err)
			}
			c.ApplyDefaults()
			err = c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if c.Connectors[0].Logout != tt.mode {
					t.Fatalf("logout = %q", c.Connectors[0].Logout)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}
