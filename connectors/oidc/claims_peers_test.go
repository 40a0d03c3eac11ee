//go:build peers

package oidc_test

import (
	"path/filepath"
	"testing"

	"github.com/gatehouse-id/gatehouse/claims/claimstest"
	"github.com/gatehouse-id/gatehouse/storage"
)

// TestPeerDefaultClaims logs alice in against oidc-provider (claims from userinfo), records
// the upstream identity in testdata/oidc-upstream.json (claims/testdata holds a copy for the
// peer-less unit test) and runs the default claims pipeline over it: the canonical identity
// is what the provider says, and sub is an internal ID, not the upstream sub.
func TestPeerDefaultClaims(t *testing.T) {
	up, err := directLogin(t, openPeer(t, peerConfig()), "alice", false)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	claimstest.RecordUpstream(t, filepath.Join("testdata", "oidc-upstream.json"), up)

	want := storage.Identity{
		Email: "alice@example.com", EmailVerified: true, Name: "Alice Upstream", PreferredUsername: "alice",
		Groups: []string{"admins", "staff"},
	}
	claimstest.CheckDefaultClaims(t, "oidc", up, want)
}
