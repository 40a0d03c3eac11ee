package config

import (
	"strings"
	"testing"
)

const testMFAKey = "0123456789abcdef0123456789abcdef"

func TestValidateMFA(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{"off by default", func(*Config) {}, nil},
		{"off needs no key", func(c *Config) { c.Connectors[0].MFA, c.Clients[0].MFA = "off", "off" }, nil},
		{"required with key", func(c *Config) { c.Connectors[0].MFA, c.MFA.SecretsKey = "required", testMFAKey }, nil},
		{"required needs key", func(c *Config) { c.Clients[0].MFA = "required" }, []string{"mfa.secrets_key: is required"}},
		{"short key", func(c *Config) { c.Connectors[0].MFA, c.MFA.SecretsKey = "optional", "short" }, []string{"mfa.secrets_key: is too short (5 characters)"}},
		{"bad policies", func(c *Config) { c.Connectors[0].MFA, c.Clients[0].MFA, c.MFA.SecretsKey = "always", "yes", testMFAKey },
			[]string{`connectors[0].mfa: must be one of required, optional, off, got "always"`, `clients[0].mfa: must be one of required, optional, off, got "yes"`}},
		{"webauthn on the issuer host", func(c *Config) {
			c.MFA.SecretsKey, c.MFA.WebAuthn = testMFAKey, MFAWebAuthn{RPID: "login.example.com", RPName: "Example"}
		}, nil},
		{"webauthn on a parent domain", func(c *Config) {
			c.MFA.SecretsKey, c.MFA.WebAuthn = testMFAKey, MFAWebAuthn{RPID: "example.com", Origins: []string{"https://login.example.com"}}
		}, nil},
		{"webauthn needs the key", func(c *Config) { c.MFA.WebAuthn.RPID = "login.example.com" }, []string{"mfa.secrets_key: is required"}},
		{"webauthn on another domain", func(c *Config) {
			c.MFA.SecretsKey, c.MFA.WebAuthn.RPID = testMFAKey, "example.org"
		}, []string{`mfa.webauthn.rp_id: "example.org" must be the host "login.example.com" or a parent domain`}},
		{"webauthn on an IP", func(c *Config) {
			c.Issuer, c.MFA.SecretsKey, c.MFA.WebAuthn.RPID = "http://127.0.0.1:5556", testMFAKey, "127.0.0.1"
		}, []string{`mfa.webauthn.rp_id: "127.0.0.1" is an IP address`}},
		{"webauthn with a port", func(c *Config) { c.MFA.SecretsKey, c.MFA.WebAuthn.RPID = testMFAKey, "login.example.com:443" },
			[]string{"must be a bare host name"}},
		{"webauthn bad origin", func(c *Config) {
			c.MFA.SecretsKey, c.MFA.WebAuthn = testMFAKey, MFAWebAuthn{RPID: "login.example.com", Origins: []string{"login.example.com"}}
		}, []string{`mfa.webauthn.origins[0]: "login.example.com" is not an origin`}},
		{"webauthn settings without rp_id", func(c *Config) { c.MFA.SecretsKey, c.MFA.WebAuthn.RPName = testMFAKey, "X" },
			[]string{"mfa.webauthn.rp_id: is required"}},
		// Issue 12.10: an SP can require MFA, validated as clients[].mfa.
		{"sp required needs key", func(c *Config) {
			c.ServiceProviders = []ServiceProvider{{ID: "wiki", EntityID: "https://wiki.example.com", ACSURL: "https://wiki.example.com/acs", MFA: "required"}}
		}, []string{"mfa.secrets_key: is required"}},
		{"sp bad policy and class", func(c *Config) {
			c.MFA.SecretsKey = testMFAKey
			c.ServiceProviders = []ServiceProvider{{ID: "wiki", EntityID: "https://wiki.example.com", ACSURL: "https://wiki.example.com/acs",
				MFA: "always", MFAClasses: []string{"https://refeds.org/profile/mfa", "not a uri", ""}}}
		}, []string{`service_providers[0].mfa: must be one of required, optional, off, got "always"`,
			`service_providers[0].mfa_classes[1]: "not a uri" is not an absolute URI`, `service_providers[0].mfa_classes[2]: "" is not an absolute URI`}},
		// Issue 24.4: passkeys per local connector, WebAuthn on the issuer's host.
		{"passkeys with key", func(c *Config) { c.Connectors[0].Passkeys.Enabled, c.MFA.SecretsKey = true, testMFAKey }, nil},
		{"passkeys need the key", func(c *Config) { c.Connectors[0].Passkeys.Enabled = true }, []string{"mfa.secrets_key: is required"}},
		{"passkeys on a non-local connector", func(c *Config) {
			c.Connectors[0].Type, c.Connectors[0].Passkeys.Enabled, c.MFA.SecretsKey = "ldap", true, testMFAKey
		}, []string{`connectors[0].passkeys.enabled: passkeys are for local connectors; "local" is of type "ldap"`}},
		{"passkeys on an IP issuer", func(c *Config) {
			c.Issuer, c.Connectors[0].Passkeys.Enabled, c.MFA.SecretsKey = "http://127.0.0.1:5556", true, testMFAKey
		}, []string{`connectors[0].passkeys.enabled: the issuer's host "127.0.0.1" is an IP address`}},
		{"passkeys on localhost", func(c *Config) {
			c.Issuer, c.Connectors[0].Passkeys.Enabled, c.MFA.SecretsKey, c.MFA.WebAuthn.RPID = "http://localhost:5556", true, testMFAKey, "localhost"
		}, nil},
		{"localhost for local testing", func(c *Config) {
			c.Issuer, c.MFA.SecretsKey, c.MFA.WebAuthn.RPID = "http://localhost:5556", testMFAKey, "localhost"
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(c)
			err := c.Validate()
			ps := problems(t, err)
			if len(ps) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.Contains(ps[i].Error(), w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, ps[i].Error(), w)
				}
			}
		})
	}
}

func TestParseMFAKeys(t *testing.T) {
	src := `issuer: https://sso.example.com
web: {http: "127.0.0.1:5556"}
storage: {type: sqlite, config: {file: gh.db}}
mfa:
  issuer_name: Example Corp
  secrets_key: ${GATEHOUSE_MFA_KEY}
  webauthn: { rp_id: sso.example.com, rp_name: Example Corp }
connectors:
  - type: ldap
    id: corp
    mfa: required
    trust_upstream_mfa: true
clients:
  - id: payroll
    secret: s
    redirect_uris: [https://payroll.example.com/cb]
    mfa: required
service_providers:
  - id: wiki
    metadata_url: https://wiki.example.com/saml/metadata
    entity_id: https://wiki.example.com/saml/metadata
    mfa: optional
    mfa_classes: [urn:example:mfa]
`
	env := map[string]string{"GATEHOUSE_MFA_KEY": testMFAKey}
	c, err := Parse([]byte(src), "gh.yaml", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.MFA.IssuerName != "Example Corp" || c.MFA.SecretsKey != testMFAKey || c.MFA.WebAuthn.RPID != "sso.example.com" ||
		c.Connectors[0].MFA != "required" || !c.Connectors[0].TrustUpstreamMFA || c.Clients[0].MFA != "required" ||
		c.ServiceProviders[0].MFA != "optional" || c.ServiceProviders[0].MFAClasses[0] != "urn:example:mfa" {
		t.Errorf("parsed %+v / %+v / %+v", c.MFA, c.Connectors[0], c.Clients[0])
	}
	if !c.UsesMFA() {
		t.Error("UsesMFA = false")
	}
	c.MFA, c.Connectors[0].MFA, c.Clients[0].MFA = MFA{}, "", ""
	if !c.UsesMFA() {
		t.Error("UsesMFA = false with an SP's mfa")
	}
}
