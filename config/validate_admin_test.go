package config

import (
	"strings"
	"testing"
)

func TestValidateAdminClients(t *testing.T) {
	adminClient := func(c *Config) {
		c.Admin.HTTP = "127.0.0.1:9090"
		c.Clients = append(c.Clients, Client{ID: "ops-cli", Secret: "s", GrantTypes: []string{"client_credentials"}, AllowedScopes: []string{AdminScope}})
		c.Admin.Clients = []string{"ops-cli"}
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{"none", func(*Config) {}, nil},
		{"an admin client", adminClient, nil},
		{"without admin.http", func(c *Config) { adminClient(c); c.Admin.HTTP = "" }, []string{"admin.clients: needs admin.http"}},
		{"unknown client", func(c *Config) { adminClient(c); c.Admin.Clients = []string{"ops-cli", "nobody"} },
			[]string{`admin.clients[1]: "nobody" is not a configured client id`}},
		{"without the scope", func(c *Config) { adminClient(c); c.Clients[len(c.Clients)-1].AllowedScopes = []string{"read"} },
			[]string{"admin.clients[0]: client \"ops-cli\" needs grant_types [client_credentials] and allowed_scopes [gatehouse:admin]"}},
		{"mutual TLS", func(c *Config) {
			adminClient(c)
			c.Admin.TLSCert, c.Admin.TLSKey, c.Admin.ClientCA = "admin.pem", "admin-key.pem", "ops-ca.pem"
		}, nil},
		{"tls_cert without tls_key", func(c *Config) { adminClient(c); c.Admin.TLSCert = "admin.pem" },
			[]string{"admin.tls_key: admin.tls_cert and admin.tls_key go together"}},
		{"client_ca without https", func(c *Config) { adminClient(c); c.Admin.ClientCA = "ops-ca.pem" },
			[]string{"admin.client_ca: needs admin.tls_cert"}},
		{"client_ca without admin clients", func(c *Config) {
			c.Admin.HTTP, c.Admin.TLSCert, c.Admin.TLSKey, c.Admin.ClientCA = "127.0.0.1:9090", "a.pem", "k.pem", "ca.pem"
		}, []string{"admin.client_ca: needs admin.clients"}},
		{"scope on another client", func(c *Config) { adminClient(c); c.Admin.Clients = nil },
			[]string{"allowed_scopes[0]: gatehouse:admin is granted only to the clients named in admin.clients"}},
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

func TestValidateClientAlone(t *testing.T) {
	tests := []struct {
		name   string
		c      Client
		wantAt []string
	}{
		{"valid", Client{ID: "app", Secret: "x", RedirectURIs: []string{"https://app.example.com/cb"}}, nil},
		{"fragment", Client{ID: "app", Secret: "x", RedirectURIs: []string{"https://app.example.com/cb#x"}}, []string{"redirect_uris[0]"}},
		{"relative", Client{ID: "app", Secret: "x", RedirectURIs: []string{"https://ok.example/cb", "/cb"}}, []string{"redirect_uris[1]"}},
		{"no redirect", Client{ID: "app", Secret: "x"}, []string{"redirect_uris"}},
		{"unknown connector", Client{ID: "app", Secret: "x", RedirectURIs: []string{"https://a.example/cb"}, AllowedConnectors: []string{"ldap"}},
			[]string{"allowed_connectors[0]"}},
		{"admin scope", Client{ID: "app", Secret: "x", GrantTypes: []string{"client_credentials"}, AllowedScopes: []string{AdminScope}},
			[]string{"allowed_scopes[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := ValidateClient(tt.c, []string{"local"})
			var got []string
			if errs != nil {
				for _, p := range errs.Problems {
					got = append(got, p.Path)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.wantAt, ",") {
				t.Fatalf("problems at %v, want %v (%v)", got, tt.wantAt, errs)
			}
		})
	}
}
