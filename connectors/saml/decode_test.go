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

// TestDecodeGeneratedKeyKeys (issue 20.5): sp_key_rotation and sp_key_grace decode strictly
// as durations, and a misspelt key is reported with its file and line.
func TestDecodeGeneratedKeyKeys(t *testing.T) {
	decode := func(doc string) (Config, error) {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(doc), &n); err != nil {
			t.Fatal(err)
		}
		var c Config
		return c, config.DecodeStrict(&n, &c, "gatehouse.yaml", "connectors[0].config", nil)
	}
	c, err := decode("idp_metadata_url: https://idp.example.com/metadata\nsign_requests: true\nsp_key_rotation: 2160h\nsp_key_grace: 168h\n")
	if err != nil {
		t.Fatalf("DecodeStrict: %v", err)
	}
	if c.SPKeyRotation != 90*24*time.Hour || c.SPKeyGrace != 7*24*time.Hour {
		t.Errorf("decoded rotation %s grace %s", c.SPKeyRotation, c.SPKeyGrace)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	_, err = decode("idp_metadata_url: https://idp.example.com/metadata\nsign_requests: true\nsp_key_rotaton: 2160h\n")
	if err == nil || !strings.Contains(err.Error(), "gatehouse.yaml:3") || !strings.Contains(err.Error(), "sp_key_rotaton") {
		t.Errorf("misspelt key: %v", err)
	}
}
