package saml_test

import (
	"path/filepath"
	"testing"

	"github.com/gatehouse-id/gatehouse/claims/claimstest"
	"github.com/gatehouse-id/gatehouse/storage"
)

// TestDefaultClaims logs alice in through the crewjam samlidp IdP, records the upstream
// identity in testdata/saml-upstream.json (claims/testdata holds a copy for the peer-less
// unit test) and runs the default claims pipeline over it: the canonical identity is what the
// IdP asserted, and sub is an internal ID, not the persistent NameID.
func TestDefaultClaims(t *testing.T) {
	ti := newIdP(t, idpOptions{authnContext: "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"})
	s := newSP(t, ti, spOptions{})
	action, vals, step := s.login(t, newBrowser(t), "state-claims")
	up, err := s.finish("state-claims", step.Stash, action, vals)
	if err != nil {
		t.Fatalf("Finish: %v\nlogs:\n%s", err, s.logs)
	}
	claimstest.RecordUpstream(t, filepath.Join("testdata", "saml-upstream.json"), up)

	want := storage.Identity{
		Email: "alice@example.com", EmailVerified: true, Name: "Alice Example", PreferredUsername: "alice",
		Groups: []string{"admins", "staff"},
	}
	claimstest.CheckDefaultClaims(t, "saml", up, want)
}
