//go:build peers

package ldap

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/gatehouse-id/gatehouse/claims/claimstest"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// TestSlapdDefaultClaims logs alice in against slapd, records the upstream identity in
// testdata/ldap-upstream.json (claims/testdata holds a copy for the peer-less unit test) and
// runs the default claims pipeline over it: the canonical identity is what the directory
// says, and sub is an internal ID, not the entryUUID.
func TestSlapdDefaultClaims(t *testing.T) {
	c, _ := open(t, slapdConfig(needPeers(t).slapd))
	up, err := c.Login(context.Background(), connectors.Scopes{Groups: true}, "alice", alicePW)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	claimstest.RecordUpstream(t, filepath.Join("testdata", "ldap-upstream.json"), up)

	want := storage.Identity{
		Email: "alice@example.org", EmailVerified: false, Name: "Alice Liddell", PreferredUsername: "alice",
		Groups: []string{"big", "cycle-a", "cycle-b", "developers", "engineering", "staff"},
	}
	claimstest.CheckDefaultClaims(t, "ldap", up, want)
}
