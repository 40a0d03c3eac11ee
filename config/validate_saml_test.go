package config

import (
	"strings"
	"testing"
)

// issueSAMLConfig is the configuration example of the SAML IdP issue, verbatim.
const issueSAMLConfig = `
issuer: https://login.example.com
web: {http: "127.0.0.1:5556"}
storage: {type: sqlite, config: {file: gh.db}}
connectors:
  - {type: ldap, id: corp}
saml_idp:
  entity_id: ""                     # default {issuer}/saml/idp/metadata
  key: /etc/gatehouse/saml-idp.key  # or generated and stored, rotated like the signing keys
  cert: /etc/gatehouse/saml-idp.crt
service_providers:
  - id: wiki
    name: Team Wiki
    metadata_url: https://wiki.example.com/saml/metadata    # or metadata_file, or entity_id + acs_url
    entity_id: https://wiki.example.com/saml/metadata       # required with metadata_url since issue 12.9
    name_id_format: persistent       # persistent | emailAddress | transient
    attributes:                      # SAML attribute name -> Gatehouse claim
      mail: email
      displayName: name
      memberOf: groups
    sign_response: true
    sign_assertion: true
    encrypt_assertion: false         # with the SP's certificate from its metadata
    require: { groups: [staff] }
    allowed_connectors: [corp]
`

func TestSAMLIssueConfig(t *testing.T) {
	c, err := Parse([]byte(issueSAMLConfig), "gatehouse.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	sp := c.ServiceProviders[0]
	if sp.ID != "wiki" || sp.MetadataURL == "" || sp.NameIDFormat != "persistent" || sp.Attributes["memberOf"] != "groups" ||
		sp.SignResponse == nil || !*sp.SignResponse || sp.SignAssertion == nil || !*sp.SignAssertion || sp.EncryptAssertion ||
		len(sp.Require.Groups) != 1 || sp.AllowedConnectors[0] != "corp" || c.SAMLIdP.Key == "" {
		t.Fatalf("decoded %+v", sp)
	}
}

func TestValidateSAML(t *testing.T) {
	f := false
	static := ServiceProvider{ID: "wiki", EntityID: "https://wiki.example.com", ACSURL: "https://wiki.example.com/acs"}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{"static", func(c *Config) { c.ServiceProviders = []ServiceProvider{static} }, nil},
		{"file", func(c *Config) { c.ServiceProviders = []ServiceProvider{{ID: "a", MetadataFile: "sp.xml"}} }, nil},
		{"no source", func(c *Config) { c.ServiceProviders = []ServiceProvider{{ID: "a"}} }, []string{"needs metadata_url"}},
		{"two sources", func(c *Config) {
			c.ServiceProviders = []ServiceProvider{{ID: "a", MetadataFile: "x", MetadataURL: "https://a.example.com/md", EntityID: "https://a.example.com"}}
		}, []string{"set only one"}},
		{"http metadata", func(c *Config) {
			c.ServiceProviders = []ServiceProvider{{ID: "a", MetadataURL: "http://a.example.com/md", EntityID: "https://a.example.com"}}
		}, []string{"uses http on a non-loopback host"}},
		// Attack (issue 12.9): a metadata_url SP without entity_id could publish metadata
		// claiming another SP's entity ID and be answered in its place.
		{"metadata_url without entity_id", func(c *Config) {
			c.ServiceProviders = []ServiceProvider{{ID: "a", MetadataURL: "https://a.example.com/md"}}
		}, []string{"entity_id: is required with metadata_url"}},
		{"metadata_url entity clash", func(c *Config) {
			c.ServiceProviders = []ServiceProvider{static, {ID: "evil", MetadataURL: "https://evil.example.com/md", EntityID: static.EntityID}}
		}, []string{"duplicate entity ID"}},
		{"acs without entity", func(c *Config) {
			c.ServiceProviders = []ServiceProvider{{ID: "a", ACSURL: "https://a.example.com/acs"}}
		}, []string{"entity_id: is required with acs_url"}},
		{"bad id and format", func(c *Config) {
			sp := static
			sp.ID, sp.NameIDFormat = "Wiki!", "email"
			c.ServiceProviders = []ServiceProvider{sp}
		}, []string{"may contain only", "name_id_format: must be one of"}},
		{"duplicates", func(c *Config) { c.ServiceProviders = []ServiceProvider{static, static} },
			[]string{"duplicate service provider id", "duplicate entity ID"}},
		{"unsigned", func(c *Config) {
			sp := static
			sp.SignResponse, sp.SignAssertion = &f, &f
			c.ServiceProviders = []ServiceProvider{sp}
		}, []string{"both false"}},
		{"encrypt needs cert", func(c *Config) {
			sp := static
			sp.EncryptAssertion = true
			c.ServiceProviders = []ServiceProvider{sp}
		}, []string{"cert: is required with encrypt_assertion"}},
		{"unknown connector", func(c *Config) {
			sp := static
			sp.AllowedConnectors = []string{"nope"}
			c.ServiceProviders = []ServiceProvider{sp}
		}, []string{`allowed_connectors[0]: "nope" is not a configured connector`}},
		{"key without cert", func(c *Config) { c.SAMLIdP.Key = "k.pem" }, []string{"key and cert go together"}},
		{"reserved client id", func(c *Config) { c.Clients[0].ID = "saml:wiki" }, []string{"reserved for service_providers"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
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
