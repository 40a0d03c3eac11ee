package claims

import (
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// TestRequirementOneRule: an OIDC client's require and a SAML SP's require are one check.
// Every row runs against a client and an SP configured with the same requirement and must
// give the same verdict; the reason names the client's or the SP's display name.
func TestRequirementOneRule(t *testing.T) {
	alice := storage.Identity{Subject: "u1", Email: "Alice@Example.COM", EmailVerified: true, Groups: []string{"staff"}}
	unverified := alice
	unverified.EmailVerified = false
	noEmail := alice
	noEmail.Email = ""
	tests := []struct {
		name    string
		require config.Requirement
		id      storage.Identity
		deny    string // substring of the reason after "use <name>"; "" admits
	}{
		{"nothing required", config.Requirement{}, alice, ""},
		{"in a required group", config.Requirement{Groups: []string{"admins", "staff"}}, alice, ""},
		{"in no required group", config.Requirement{Groups: []string{"admins"}}, alice, "not in a group that is allowed to use App (admins)"},
		{"domain, different case", config.Requirement{EmailDomains: []string{"example.com"}}, alice, ""},
		{"domain with a leading @, upper case", config.Requirement{EmailDomains: []string{"@EXAMPLE.com"}}, alice, ""},
		{"other domain", config.Requirement{EmailDomains: []string{"example.org"}}, alice, "not in a domain that is allowed to use App (example.org)"},
		{"subdomain is another domain", config.Requirement{EmailDomains: []string{"mail.example.com"}}, alice, "not in a domain"},
		{"unverified email", config.Requirement{EmailDomains: []string{"example.com"}}, unverified, "no verified email address, and one is required to use App"},
		{"no email", config.Requirement{EmailDomains: []string{"example.com"}}, noEmail, "no verified email address"},
		{"group and domain: both met", config.Requirement{Groups: []string{"staff"}, EmailDomains: []string{"example.com"}}, alice, ""},
		{"group and domain: domain missing", config.Requirement{Groups: []string{"staff"}, EmailDomains: []string{"example.org"}}, alice, "not in a domain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &config.Config{
				Clients:          []config.Client{{ID: "app", Name: "App", Require: tt.require}},
				ServiceProviders: []config.ServiceProvider{{ID: "wiki", Name: "App", Require: tt.require}},
			}
			n, err := New(cfg, Options{Links: newMemLinks()})
			if err != nil {
				t.Fatal(err)
			}
			for _, clientID := range []string{"app", SAMLClientID("wiki")} {
				err := n.AuthorizeClient(clientID, tt.id)
				var denied *connectors.DeniedError
				switch {
				case tt.deny == "" && err != nil:
					t.Errorf("%s: denied: %v", clientID, err)
				case tt.deny != "" && !errors.As(err, &denied):
					t.Errorf("%s: err = %v, want a DeniedError", clientID, err)
				case tt.deny != "" && !strings.Contains(denied.Reason, tt.deny):
					t.Errorf("%s: reason %q, want it to contain %q", clientID, denied.Reason, tt.deny)
				}
			}
		})
	}
}

// TestSAMLRequirementNamesSP: without a name, the SP's ID names it (as samlidp's DisplayName).
func TestSAMLRequirementNamesSP(t *testing.T) {
	cfg := &config.Config{ServiceProviders: []config.ServiceProvider{{ID: "finance", Require: config.Requirement{Groups: []string{"finance"}}}}}
	n, err := New(cfg, Options{Links: newMemLinks()})
	if err != nil {
		t.Fatal(err)
	}
	var denied *connectors.DeniedError
	if err := n.AuthorizeClient("saml:finance", storage.Identity{Subject: "u1"}); !errors.As(err, &denied) ||
		denied.Reason != "your account is not in a group that is allowed to use finance (finance)" {
		t.Fatalf("err = %v", err)
	}
}
