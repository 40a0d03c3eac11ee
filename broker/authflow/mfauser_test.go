package authflow

import (
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Attack (issue 12.1, sibling): a user with an unverified email alice@example.com and no
// username had their authenticator entries (TOTP account, WebAuthn user name) and their
// enrolment name for `gatehouse mfa reset --user` set to alice's address.
func TestMFAUserNameNeedsVerifiedEmail(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   storage.Identity
		want string
	}{
		{"unverified email", storage.Identity{Subject: "u-mallory", Email: "alice@example.com"}, "u-mallory"},
		{"verified email", storage.Identity{Subject: "u-alice", Email: "alice@example.com", EmailVerified: true}, "alice@example.com"},
		{"username first", storage.Identity{Subject: "u", PreferredUsername: "mallory", Email: "alice@example.com"}, "mallory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mfaUser(tc.id).Name; got != tc.want {
				t.Fatalf("name = %q, want %q", got, tc.want)
			}
		})
	}
}
