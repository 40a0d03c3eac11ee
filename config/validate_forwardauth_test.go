package config

import (
	"strings"
	"testing"
	"time"
)

// issueForwardAuthConfig is the configuration example of issue 19, with what it needs around it.
const issueForwardAuthConfig = `
issuer: https://login.corp.example
web: {http: "127.0.0.1:5556", trusted_proxies: [127.0.0.1/32]}
connectors:
  - {type: local, id: local}
mfa: {secrets_key: 0123456789abcdef0123456789abcdef}
forward_auth: { cookie_domain: .corp.example }
protected_apps:
  - id: grafana
    hosts: [grafana.corp.example]
    require: { groups: [ops] }          # same require/CEL rules as clients
    mfa: required
    paths: [{ prefix: /admin, require: { groups: [admins] } }]
    headers: { user: X-WEBAUTH-USER, email: X-WEBAUTH-EMAIL, groups: X-WEBAUTH-GROUPS }
    assertion: true
    bypass: [/api/health]
`

func TestForwardAuthIssueConfig(t *testing.T) {
	c, err := Parse([]byte(issueForwardAuthConfig), "gatehouse.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	app := c.ProtectedApps[0]
	if app.ID != "grafana" || app.Hosts[0] != "grafana.corp.example" || app.Require.Groups[0] != "ops" || app.MFA != "required" ||
		app.Paths[0].Prefix != "/admin" || app.Paths[0].Require.Groups[0] != "admins" || app.Headers.User != "X-WEBAUTH-USER" ||
		app.Headers.PreferredUsername != "" || !app.Assertion || app.Bypass[0] != "/api/health" || c.ForwardAuth.CookieDomain != ".corp.example" {
		t.Fatalf("decoded %+v %+v", app, c.ForwardAuth)
	}
	if !c.UsesMFA() {
		t.Error("an app with mfa: required does not turn MFA on")
	}
}

func TestForwardAuthUnknownKey(t *testing.T) {
	_, err := Parse([]byte(strings.Replace(issueForwardAuthConfig, "assertion: true", "asertion: true", 1)), "gatehouse.yaml", nil)
	if err == nil || !strings.Contains(err.Error(), "gatehouse.yaml:15") || !strings.Contains(err.Error(), "asertion") {
		t.Fatalf("err = %v, want an unknown-key error at gatehouse.yaml:15", err)
	}
}

func TestValidateForwardAuth(t *testing.T) {
	app := ProtectedApp{ID: "grafana", Hosts: []string{"grafana.example.com"}}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{"valid", func(c *Config) {}, nil},
		{"valid dotless domain and port", func(c *Config) {
			c.ForwardAuth.CookieDomain = "example.com"
			c.ProtectedApps[0].Hosts = []string{"grafana.example.com:8443", "example.com"}
		}, nil},
		{"forward_auth without apps", func(c *Config) { c.ProtectedApps = nil }, []string{"protected_apps is empty"}},
		{"no cookie domain", func(c *Config) { c.ForwardAuth.CookieDomain = "" }, []string{"cookie_domain: is required"}},
		{"tld cookie domain", func(c *Config) { c.ForwardAuth.CookieDomain = ".com" }, []string{"at least two labels"}},
		{"issuer outside the domain", func(c *Config) {
			c.ForwardAuth.CookieDomain = ".corp.example"
			c.ProtectedApps[0].Hosts = []string{"grafana.corp.example"}
		}, []string{`does not contain the issuer's host "login.example.com"`}},
		// Attack: a look-alike domain must not count as a subdomain.
		{"host outside the domain", func(c *Config) { c.ProtectedApps[0].Hosts = []string{"grafana.evilexample.com"} },
			[]string{"not within forward_auth.cookie_domain"}},
		{"host with scheme", func(c *Config) { c.ProtectedApps[0].Hosts = []string{"https://grafana.example.com/"} },
			[]string{"not a lowercase host name"}},
		{"uppercase host", func(c *Config) { c.ProtectedApps[0].Hosts = []string{"Grafana.example.com"} }, []string{"not a lowercase host"}},
		{"no hosts", func(c *Config) { c.ProtectedApps[0].Hosts = nil }, []string{"needs at least one host"}},
		{"host in two apps", func(c *Config) {
			b := app
			b.ID = "other"
			c.ProtectedApps = append(c.ProtectedApps, b)
		}, []string{"also a host of protected_apps[0]"}},
		{"duplicate id", func(c *Config) {
			b := app
			b.Hosts = []string{"b.example.com"}
			c.ProtectedApps = append(c.ProtectedApps, b)
		}, []string{"duplicate protected app id"}},
		{"id of a client", func(c *Config) { c.ProtectedApps[0].ID = "app" }, []string{"is also a client id"}},
		{"reserved client id", func(c *Config) { c.Clients[0].ID = "app:grafana" }, []string{"reserved for protected_apps"}},
		{"client id of the account page", func(c *Config) { c.Clients[0].ID = "gatehouse:account" }, []string{"reserved for Gatehouse's own pages"}},
		{"bad id", func(c *Config) { c.ProtectedApps[0].ID = "Graf ana" }, []string{"may contain only"}},
		{"no trusted proxies", func(c *Config) { c.Web.TrustedProxies = nil }, []string{"web.trusted_proxies: is required with protected_apps"}},
		{"bad mfa", func(c *Config) { c.ProtectedApps[0].MFA, c.MFA.SecretsKey = "always", strings.Repeat("k", 32) }, []string{"mfa: must be one of"}},
		{"unknown connector", func(c *Config) { c.ProtectedApps[0].AllowedConnectors = []string{"nope"} },
			[]string{`"nope" is not a configured connector`}},
		{"unclean path prefixes", func(c *Config) {
			c.ProtectedApps[0].Paths = []PathRule{
				{Prefix: "admin", Require: Requirement{Groups: []string{"a"}}},
				{Prefix: "/admin/", Require: Requirement{Groups: []string{"a"}}},
				{Prefix: "/a/../b", Require: Requirement{Groups: []string{"a"}}},
				{Prefix: "/%61dmin", Require: Requirement{Groups: []string{"a"}}},
			}
		}, []string{"paths[0].prefix", "paths[1].prefix", "paths[2].prefix", "paths[3].prefix"}},
		{"empty path rule", func(c *Config) { c.ProtectedApps[0].Paths = []PathRule{{Prefix: "/admin"}} },
			[]string{"a path rule must require"}},
		{"bad bypass", func(c *Config) { c.ProtectedApps[0].Bypass = []string{""} }, []string{"bypass[0]"}},
		{"bad headers", func(c *Config) {
			c.ProtectedApps[0].Headers = AppHeaders{User: "X User", Email: "X-Mail", Groups: "x-mail"}
		}, []string{"headers.user", "headers.groups: \"x-mail\" is also the email header"}},
		{"bad cookie name", func(c *Config) { c.ForwardAuth.CookieName = "__Host-fwd" }, []string{"cookie_name"}},
		{"assertion lifetime", func(c *Config) { c.ForwardAuth.AssertionLifetime = Duration(2 * MaxAssertionLifetime) },
			[]string{"assertion_lifetime"}},
		{"session recheck", func(c *Config) { c.ForwardAuth.SessionRecheck = Duration(2 * MaxSessionRecheck) },
			[]string{"session_recheck"}},
		{"negative session recheck", func(c *Config) { c.ForwardAuth.SessionRecheck = -1 }, []string{"session_recheck"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			c.Web.TrustedProxies = []string{"127.0.0.1/32"}
			c.ForwardAuth = ForwardAuth{CookieDomain: ".example.com"}
			c.ProtectedApps = []ProtectedApp{app}
			c.ProtectedApps[0].Hosts = append([]string(nil), app.Hosts...)
			tt.mutate(c)
			ps := problems(t, c.Validate())
			if len(ps) != len(tt.want) {
				t.Fatalf("got %d problems, want %d: %v", len(ps), len(tt.want), ps)
			}
			for i, w := range tt.want {
				if !strings.Contains(ps[i].Error(), w) {
					t.Errorf("problem %d = %q, want %q", i, ps[i].Error(), w)
				}
			}
		})
	}
}

// TestForwardAuthSessionRecheckDefault: session_recheck is 1s unless the file sets it; a 0s
// the file sets (read the session on every check) is kept.
func TestForwardAuthSessionRecheckDefault(t *testing.T) {
	for _, tt := range []struct {
		name, fa string
		want     time.Duration
	}{
		{"unset", "forward_auth: { cookie_domain: .corp.example }", DefaultSessionRecheck},
		{"0s set", "forward_auth: { cookie_domain: .corp.example, session_recheck: 0s }", 0},
		{"5s set", "forward_auth: { cookie_domain: .corp.example, session_recheck: 5s }", 5 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(issueForwardAuthConfig, "forward_auth: { cookie_domain: .corp.example }", tt.fa, 1)
			c, err := Parse([]byte(src), "gatehouse.yaml", nil)
			if err != nil {
				t.Fatal(err)
			}
			c.ApplyDefaults()
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := c.ForwardAuth.SessionRecheck.D(); got != tt.want {
				t.Errorf("session_recheck = %s, want %s", got, tt.want)
			}
		})
	}
}
