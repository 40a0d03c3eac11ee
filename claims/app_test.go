package claims

import (
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// TestAuthorizeApp: a protected app's require is the clients' rule, and its path rules add
// requirements under a prefix on segment boundaries.
func TestAuthorizeApp(t *testing.T) {
	cfg := &config.Config{ProtectedApps: []config.ProtectedApp{{
		ID: "grafana", Name: "Grafana", Require: config.Requirement{Groups: []string{"ops", "admins"}},
		Paths: []config.PathRule{
			{Prefix: "/admin", Require: config.Requirement{Groups: []string{"admins"}}},
			{Prefix: "/admin/billing", Require: config.Requirement{EmailDomains: []string{"example.com"}}},
		},
	}}}
	n, err := New(cfg, Options{Links: newMemLinks()})
	if err != nil {
		t.Fatal(err)
	}
	ops := storage.Identity{Subject: "u1", Groups: []string{"ops"}}
	admin := storage.Identity{Subject: "u2", Groups: []string{"admins"}, Email: "a@example.org", EmailVerified: true}
	tests := []struct {
		name, app, path string
		id              storage.Identity
		deny            string // substring of the reason; "" admits
	}{
		{"ops at the root", "grafana", "/", ops, ""},
		{"ops on a page", "grafana", "/d/abc", ops, ""},
		{"ops below /admin", "grafana", "/admin/users", ops, "allowed to open /admin in Grafana (admins)"},
		{"ops at /admin", "grafana", "/admin", ops, "open /admin in Grafana"},
		{"ops at /administrator (not under /admin)", "grafana", "/administrator", ops, ""},
		{"admin below /admin", "grafana", "/admin/users", admin, ""},
		{"admin under both prefixes: both apply", "grafana", "/admin/billing/x", admin, "not in a domain that is allowed to open /admin/billing"},
		{"no group at all", "grafana", "/", storage.Identity{Subject: "u3"}, "allowed to use Grafana (ops, admins)"},
		{"unknown app", "wiki", "/", admin, "not configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := n.AuthorizeApp(tt.app, tt.path, tt.id)
			var denied *connectors.DeniedError
			switch {
			case tt.deny == "" && err != nil:
				t.Fatalf("denied: %v", err)
			case tt.deny != "" && !errors.As(err, &denied):
				t.Fatalf("err = %v, want a DeniedError", err)
			case tt.deny != "" && !strings.Contains(denied.Reason, tt.deny):
				t.Fatalf("reason %q, want it to contain %q", denied.Reason, tt.deny)
			}
		})
	}
	if err := n.AuthorizeClient(AppClientID("grafana"), ops); err != nil {
		t.Errorf("AuthorizeClient on the app's pseudo-client: %v", err)
	}
}
