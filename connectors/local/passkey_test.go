package local

import (
	"errors"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// TestPasskeyLogin: the account a verified passkey names signs in without a password unless
// it is unknown, disabled or named by anything but its exact username.
func TestPasskeyLogin(t *testing.T) {
	hash := mustHash(t, "pw", bcrypt.MinCost)
	users := &memUsers{users: map[string]User{
		"alice":    {Username: "alice", Email: "alice@example.com", PasswordHash: hash},
		"nopass":   {Username: "nopass"},
		"disabled": {Username: "disabled", PasswordHash: DisabledPrefix + hash},
	}}
	c := open(t, users, bcrypt.MinCost)
	tests := []struct {
		username    string
		wantErr     error
		hasPassword bool
	}{
		{"alice", nil, true},
		{"nopass", nil, false},
		{"disabled", connectors.ErrBadCredentials, false},
		{"bob", connectors.ErrBadCredentials, false},
		{"alice@example.com", connectors.ErrBadCredentials, false}, // usernames only: the binding stores one
		{"", connectors.ErrBadCredentials, false},
	}
	for _, tc := range tests {
		t.Run(tc.username, func(t *testing.T) {
			up, err := c.PasskeyLogin(t.Context(), connectors.Scopes{}, tc.username)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("PasskeyLogin error = %v, want %v", err, tc.wantErr)
			}
			if err == nil && (up.Subject != tc.username || !up.AuthTime.Equal(fixedNow) || len(up.AMR) != 0) {
				t.Errorf("PasskeyLogin = %+v", up)
			}
			has, err := c.HasPassword(t.Context(), tc.username)
			if err != nil || has != tc.hasPassword {
				t.Errorf("HasPassword = %v, %v; want %v", has, err, tc.hasPassword)
			}
		})
	}
	users.err = errors.New("store down")
	var upErr *connectors.UpstreamError
	if _, err := c.PasskeyLogin(t.Context(), connectors.Scopes{}, "alice"); !errors.As(err, &upErr) {
		t.Errorf("PasskeyLogin with the store down: %v, want an UpstreamError", err)
	}
	if _, err := c.HasPassword(t.Context(), "alice"); err == nil {
		t.Error("HasPassword with the store down: no error")
	}
}
