package saml

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-id/gatehouse/config"
)

// TestDecodeIssueExample decodes the configuration from the issue with the strict decoder
// cmd/gatehouse uses: every documented key exists with the documented type.
func TestDecodeIssueExample(t *testing.T) {
	const doc = `
idp_metadata_url: https://idp.example.com/metadata
entity_id: ""
sign_requests: true
sp_key: /etc/gatehouse/saml.key
sp_cert: /etc/gatehouse/saml.crt
name_id_format: persistent
attributes:
  email: mail
  name: displayName
  username: uid
  groups: memberOf
allowed_clock_skew: 90s
allow_idp_initiated: false
`
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &n); err != nil {
		t.Fatal(err)
	}
	var c Config
	if err := config.DecodeStrict(&n, &c, "gatehouse.yaml", "connectors[0].config", nil); err != nil {
		t.Fatalf("DecodeStrict: %v", err)
	}
	if c.IDPMetadataURL != "https://idp.example.com/metadata" || !c.SignRequests || c.SPKey != "/etc/gatehouse/saml.key" ||
		c.NameIDFormat != "persistent" || c.Attributes.Groups != "memberOf" || c.AllowedClockSkew != 90*time.Second {
		t.Errorf("decoded %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}

	if err := yaml.Unmarshal([]byte("idp_metadata_url: https://x/m\nattributes:\n  mail: email\n"), &n); err != nil {
		t.Fatal(err)
	}
	err := config.DecodeStrict(&n, &Config{}, "gatehouse.yaml", "connectors[0].config", nil)
	if err == nil || !strings.Contains(err.Error(), "mail") {
		t.Errorf("unknown attribute key not reported: %v", err)
	}
}
