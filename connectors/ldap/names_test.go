package ldap

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
)

// TestBindNameForms proves that bind_dn takes a user principal name or a down-level logon
// name with preset: active_directory (issue 20.2: "broker@corp.example.test" was refused as
// "not a valid DN"), that without the preset they are refused with a message saying what to
// do, that a DN stays valid with or without the preset, and that malformed names of every
// form are refused.
func TestBindNameForms(t *testing.T) {
	tests := []struct {
		name, bind string
		ad         bool
		want       string // substring of the error; "" means valid
	}{
		{"DN", "cn=broker,ou=services,dc=example,dc=org", false, ""},
		{"DN on AD", "CN=broker,OU=Services,DC=corp,DC=example,DC=test", true, ""},
		{"DN with an escaped comma", `cn=Smith\, John,dc=example,dc=org`, true, ""},
		{"DN with @ in a value", "cn=broker@corp,dc=example,dc=org", false, ""},
		{"UPN on AD", "broker@corp.example.test", true, ""},
		{"down-level name on AD", `CORP\broker`, true, ""},
		{"UPN without the preset", "broker@corp.example.test", false, "only Active Directory accepts: set preset: active_directory"},
		{"down-level name without the preset", `CORP\broker`, false, "only Active Directory accepts"},
		{"plain word", "broker", true, "not a valid DN"},
		{"UPN without a dotted domain", "broker@corp", true, "neither a valid DN nor a user principal name"},
		{"UPN with an empty name", "@corp.example.test", true, "before @"},
		{"UPN with a space", "bro ker@corp.example.test", true, "before @"},
		{"UPN with a bad label", "broker@corp..example", true, "DNS label"},
		{"down-level name without a name", `CORP\`, true, "account name"},
		{"down-level name with a long domain", `AVERYLONGDOMAINNAME\broker`, true, "NetBIOS"},
		{"down-level name with two backslashes", `CORP\a\b`, true, "account name"},
		{"down-level name with a newline", "CORP\\bro\nker", true, "account name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			c.BindDN = tt.bind
			if tt.ad {
				c.Preset = PresetActiveDirectory
			}
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), "bind_dn: "):
				t.Errorf("the error does not name bind_dn: %v", err)
			}
		})
	}
}

// TestUserSearchAttributesConfig proves that user_search.attributes decodes strictly,
// accepts attribute names and refuses malformed names and attributes holding password
// material (issue 20.1).
func TestUserSearchAttributesConfig(t *testing.T) {
	var c Config
	var node yaml.Node
	doc := "host: dc1:636\nbind_dn: cn=b,dc=x\nbind_password: s\nuser_search:\n  base_dn: dc=x\n  attributes: [employeeNumber, departmentNumber]\n"
	if err := yaml.Unmarshal([]byte(doc), &node); err != nil {
		t.Fatal(err)
	}
	if err := config.DecodeStrict(node.Content[0], &c, "test.yaml", "connectors[0].config", func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if !slices.Equal(c.UserSearch.Attributes, []string{"employeeNumber", "departmentNumber"}) {
		t.Errorf("attributes = %q", c.UserSearch.Attributes)
	}
	tests := []struct{ attr, want string }{
		{"employee number", "user_search.attributes[0]: \"employee number\" is not an attribute name"},
		{"*", "is not an attribute name"},
		{"userPassword", "holds password material"},
		{"unicodePwd;binary", "holds password material"},
	}
	for _, tt := range tests {
		c := validConfig()
		c.UserSearch.Attributes = []string{tt.attr}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("attributes [%q]: Validate = %v, want %q", tt.attr, err, tt.want)
		}
	}
}

// TestRequestedAttributes proves that the connector asks the directory for the attributes
// of user_search.attributes and of the claims rules (connectors.Deps.Attributes), once each
// whatever their case, and skips names it cannot or must not request (issue 20.1: before, a
// rule's attribute was never requested, so the claim was always missing).
func TestRequestedAttributes(t *testing.T) {
	cfg := validConfig()
	cfg.UserSearch.Attributes = []string{"departmentNumber"}
	logger, buf := testLoggerBuf()
	conn, err := cfg.Open(context.Background(), connectors.Info{ID: "corp"}, connectors.Deps{
		Logger: logger, Attributes: []string{"employeeNumber", "DEPARTMENTNUMBER", "userPassword", "bad name"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got := conn.(*Connector).userAttrs()
	for _, want := range []string{"employeeNumber", "departmentNumber"} {
		if !slices.Contains(got, want) {
			t.Errorf("userAttrs() = %q, lacks %q", got, want)
		}
	}
	for _, never := range []string{"DEPARTMENTNUMBER", "userPassword", "bad name"} {
		if slices.Contains(got, never) {
			t.Errorf("userAttrs() = %q, has %q", got, never)
		}
	}
	if !strings.Contains(buf.String(), "userPassword") || !strings.Contains(buf.String(), "bad name") {
		t.Errorf("skipped rule attributes not logged: %s", buf)
	}
	attrs := map[string][]string{"employeenumber": {"7"}, "departmentNumber": {"42"}}
	conn.(*Connector).aliasExtra(attrs)
	if !slices.Equal(attrs["employeeNumber"], []string{"7"}) || !slices.Equal(attrs["DEPARTMENTNUMBER"], []string{"42"}) {
		t.Errorf("attributes not reported under the rules' spelling: %q", attrs)
	}
}

// testLoggerBuf is a text logger writing to a buffer.
func testLoggerBuf() (*slog.Logger, *strings.Builder) {
	var b strings.Builder
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}
