//go:build peers

package ldap

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/claims"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
)

// openDeps opens a connector with the given deps (a test logger added).
func openDeps(t *testing.T, cfg *Config, deps connectors.Deps) *Connector {
	t.Helper()
	deps.Logger, _ = testLogger(t)
	c, err := cfg.Open(context.Background(), connectors.Info{ID: "corp", Type: "ldap"}, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*Connector)
}

// attrRules is a claims configuration whose rule reads an attribute the connector does not
// map itself.
const attrRules = `
connectors:
  - type: ldap
    id: corp
    claims:
      map:
        employee: 'attrs.employeeNumber[0]'
`

// TestClaimsReadDirectoryAttributes proves, against slapd and Samba AD, issue 20.1: a
// claims rule reading attrs.employeeNumber gets the directory's value at login because the
// claims pipeline names the attribute and the connector requests it (opened without that
// list, as before the fix, the claim is missing); user_search.attributes adds an attribute
// to attrs; and for a user the directory returns no value for, the claim is absent and
// claims explain says why.
func TestClaimsReadDirectoryAttributes(t *testing.T) {
	p := needPeers(t)
	cfg, err := config.Parse([]byte(attrRules), "test.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ApplyDefaults()
	n, err := claims.New(cfg, claims.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Attributes("corp"); !slices.Equal(got, []string{"employeeNumber"}) {
		t.Fatalf("Attributes(corp) = %q", got)
	}
	tests := []struct {
		name                 string
		cfg                  *Config
		user, pass, employee string
		listed, listedValue  string
		without, withoutPass string
	}{
		{"slapd", slapdConfig(p.slapd), "alice", alicePW, "E-1001", "departmentNumber", "4711", "bob", bobPW},
		{"samba AD", sambaConfig(p.samba), "alice", adAlicePW, "A-2001", "department", "Research", "ellen", adEllenPW},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := openDeps(t, tt.cfg, connectors.Deps{})
			up, err := before.Login(ctx, connectors.Scopes{}, tt.user, tt.pass)
			if err != nil {
				t.Fatal(err)
			}
			if id, err := n.Normalize(ctx, "corp", up); err != nil || id.Extra["employee"] != nil {
				t.Fatalf("without the rules' attributes: employee = %v (err %v), want absent", id.Extra["employee"], err)
			}

			cfg := *tt.cfg
			cfg.UserSearch.Attributes = []string{tt.listed}
			c := openDeps(t, &cfg, connectors.Deps{Attributes: n.Attributes("corp")})
			up, err = c.Login(ctx, connectors.Scopes{}, tt.user, tt.pass)
			if err != nil {
				t.Fatal(err)
			}
			id, err := n.Normalize(ctx, "corp", up)
			if err != nil {
				t.Fatal(err)
			}
			if id.Extra["employee"] != tt.employee {
				t.Errorf("employee = %v, want %q (attrs %q)", id.Extra["employee"], tt.employee, up.Attrs)
			}
			if got := up.Attrs[tt.listed]; !slices.Equal(got, []string{tt.listedValue}) {
				t.Errorf("attrs[%s] = %q, want [%q] (user_search.attributes)", tt.listed, got, tt.listedValue)
			}
			if got := up.Attrs["userPassword"]; got != nil {
				t.Errorf("userPassword read: %q", got)
			}

			up, err = c.Login(ctx, connectors.Scopes{}, tt.without, tt.withoutPass)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := n.Explain(ctx, "corp", up, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := tr.Identity.Extra["employee"]; ok {
				t.Errorf("%s has no employeeNumber, yet the claim is %v", tt.without, tr.Identity.Extra["employee"])
			}
			var notes []string
			for _, st := range tr.Steps {
				notes = append(notes, st.Notes...)
			}
			if !strings.Contains(strings.Join(notes, "\n"), "hint: attrs.employeeNumber is not in the upstream identity") {
				t.Errorf("explain gives no hint for the missing attribute:\n%s", strings.Join(notes, "\n"))
			}
		})
	}
}

// TestSambaServiceAccountBindNames proves issue 20.2 against Samba AD: with preset:
// active_directory the service account binds by DN, user principal name or down-level
// logon name, and a login searches with it; a wrong password under each name fails the
// health check, so the name is really used in the bind.
func TestSambaServiceAccountBindNames(t *testing.T) {
	s := needPeers(t).samba
	for _, bind := range []string{adUserDN("gh-svc"), "gh-svc@corp.example.test", adDomain + `\gh-svc`} {
		t.Run(bind, func(t *testing.T) {
			cfg := sambaConfig(s)
			cfg.BindDN = bind
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			c := openDeps(t, cfg, connectors.Deps{})
			if err := c.Check(context.Background()); err != nil {
				t.Fatalf("Check: %v", err)
			}
			up, err := c.Login(context.Background(), connectors.Scopes{}, "alice", adAlicePW)
			if err != nil || up.Email != "alice@corp.example.test" {
				t.Fatalf("Login = %+v, %v", up, err)
			}
			bad := *cfg
			bad.BindPassword = "Wrong-Pass-1!"
			var ue *connectors.UpstreamError
			if err := openDeps(t, &bad, connectors.Deps{}).Check(context.Background()); !errors.As(err, &ue) {
				t.Errorf("Check with a wrong service password = %v, want an upstream error", err)
			}
		})
	}
}
