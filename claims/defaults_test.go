package claims

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// TestDefaultMappingRecorded runs each connector kind's default mapping (no claims rules)
// over an upstream identity recorded from its real peer by the connector's tests
// (connectors/<kind>/testdata/<kind>-upstream.json, copied to testdata/): LDAP from slapd,
// SAML from the crewjam samlidp IdP, OIDC from oidc-provider; gitea, bitbucket and google
// from httptest servers serving those providers' documented API answers.
func TestDefaultMappingRecorded(t *testing.T) {
	tests := []struct {
		kind string
		want storage.Identity
	}{
		{kind: "ldap", want: storage.Identity{ // no trust_email: the directory mail is unverified
			Email: "alice@example.org", EmailVerified: false, Name: "Alice Liddell", PreferredUsername: "alice",
			Groups: []string{"big", "cycle-a", "cycle-b", "developers", "engineering", "staff"},
		}},
		{kind: "saml", want: storage.Identity{
			Email: "alice@example.com", EmailVerified: true, Name: "Alice Example", PreferredUsername: "alice",
			Groups: []string{"admins", "staff"},
		}},
		{kind: "bitbucket", want: storage.Identity{ // from the documented API answers
			Email: "ann@example.com", EmailVerified: true, Name: "Ann Smith", PreferredUsername: "ann-smith",
			Groups: []string{"acme", "acme-labs", "hobby"},
		}},
		{kind: "gitea", want: storage.Identity{ // from the documented API answers, trust_email set
			Email: "ann@example.com", EmailVerified: true, Name: "Ann Smith", PreferredUsername: "ann",
			Groups: []string{"acme", "acme:Owners", "acme:platform", "hobby", "hobby:web", "zeta"},
		}},
		{kind: "google", want: storage.Identity{ // ID token + Directory API groups
			Email: "alice@acme.test", EmailVerified: true, Name: "Alice",
			Groups: []string{"eng@acme.test", "all@acme.test", "ops-oncall@acme.test"},
		}},
		{kind: "oidc", want: storage.Identity{
			Email: "alice@example.com", EmailVerified: true, Name: "Alice Upstream", PreferredUsername: "alice",
			Groups: []string{"admins", "staff"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tt.kind+"-upstream.json"))
			if err != nil {
				t.Fatal(err)
			}
			// The copy must be the connector's current recording.
			src := filepath.Join("..", "connectors", tt.kind, "testdata", tt.kind+"-upstream.json")
			if rec, err := os.ReadFile(src); err != nil {
				t.Fatal(err)
			} else if !bytes.Equal(rec, b) {
				t.Fatalf("testdata/%s-upstream.json differs from %s: copy the new recording", tt.kind, src)
			}
			var up connectors.Upstream
			if err := json.Unmarshal(b, &up); err != nil {
				t.Fatalf("recorded upstream: %v", err)
			}
			if up.Subject == "" {
				t.Fatal("recorded upstream has no subject")
			}
			cfg := &config.Config{Connectors: []config.ConnectorBlock{{Type: tt.kind, ID: "peer", Name: "Peer"}}}
			cfg.ApplyDefaults()
			links := newMemLinks()
			n, err := New(cfg, Options{Links: links, Now: func() time.Time { return t0 }})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			ctx := context.Background()
			id, err := n.Normalize(ctx, "peer", up)
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			if id.Subject == "" || id.Subject == up.Subject {
				t.Errorf("sub = %q, want an internal user ID, not the upstream subject %q", id.Subject, up.Subject)
			}
			l, err := links.GetUserLink(ctx, "peer", up.Subject)
			if err != nil || l.UserID != id.Subject {
				t.Errorf("link of %q = %+v, %v; want user %q", up.Subject, l, err, id.Subject)
			}
			again, err := n.Normalize(ctx, "peer", up)
			if err != nil || again.Subject != id.Subject {
				t.Errorf("second login: sub = %q, %v; want the linked %q", again.Subject, err, id.Subject)
			}
			got := id
			got.Subject = ""
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("identity:\n got %s\nwant %s", marshal(t, got), marshal(t, tt.want))
			}
		})
	}
}
