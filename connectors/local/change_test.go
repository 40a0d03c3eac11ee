package local

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// TestChangePassword: the current password is checked as a login checks it, the policy
// refuses short, long and unchanged passwords before anything is compared or stored, and a
// success stores the new password at the configured cost (the old one stops working).
func TestChangePassword(t *testing.T) {
	const cost = 5
	newUsers := func() *rehashUsers {
		return &rehashUsers{memUsers: memUsers{users: map[string]User{
			"alice": {Username: "alice", PasswordHash: mustHash(t, "old-password", bcrypt.MinCost)},
			"gone":  {Username: "gone", PasswordHash: DisabledPrefix + mustHash(t, "old-password", bcrypt.MinCost)},
		}}}
	}
	policy := func(reason string) func(error) bool {
		return func(err error) bool {
			var pe *connectors.PasswordPolicyError
			return errors.As(err, &pe) && pe.Reason == reason
		}
	}
	bad := func(err error) bool { return errors.Is(err, connectors.ErrBadCredentials) }
	tests := []struct {
		name, subject, current, next string
		want                         func(error) bool
		stored                       bool
	}{
		{"success", "alice", "old-password", "new-password", func(err error) bool { return err == nil }, true},
		{"wrong current", "alice", "wrong-password", "new-password", bad, false},
		{"empty current", "alice", "", "new-password", bad, false},
		{"unknown user", "nobody", "old-password", "new-password", bad, false},
		{"empty subject", "", "old-password", "new-password", bad, false},
		{"disabled user", "gone", "old-password", "new-password", bad, false},
		{"too short", "alice", "old-password", "short", policy(PolicyTooShort), false},
		{"too long", "alice", "old-password", strings.Repeat("x", MaxPasswordLen+1), policy(PolicyTooLong), false},
		{"unchanged", "alice", "old-password", "old-password", policy(PolicySame), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			users := newUsers()
			before := users.hash("alice")
			c := open(t, users, cost)
			err := c.ChangePassword(t.Context(), tc.subject, tc.current, tc.next)
			if !tc.want(err) {
				t.Fatalf("ChangePassword: %v", err)
			}
			after := users.hash("alice")
			if changed := after != before; changed != tc.stored {
				t.Fatalf("stored a new hash: %v, want %v", changed, tc.stored)
			}
			if !tc.stored {
				return
			}
			if got := costOf(t, after); got != cost {
				t.Errorf("new hash cost %d, want the configured %d", got, cost)
			}
			if _, err := c.Login(t.Context(), connectors.Scopes{}, "alice", tc.next); err != nil {
				t.Errorf("login with the new password: %v", err)
			}
			if _, err := c.Login(t.Context(), connectors.Scopes{}, "alice", tc.current); !bad(err) {
				t.Errorf("login with the old password: %v, want bad credentials", err)
			}
		})
	}
}

// TestChangePasswordStore: a user source that cannot store passwords says so, a failing
// lookup or store is an upstream error (not "wrong password"), and a concurrent change
// (the compare-and-swap fails) is not overwritten.
func TestChangePasswordStore(t *testing.T) {
	m := &memUsers{users: map[string]User{"alice": {Username: "alice", PasswordHash: mustHash(t, "old-password", bcrypt.MinCost)}}}
	if err := open(t, m, 4).ChangePassword(t.Context(), "alice", "old-password", "new-password"); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("read-only user source: %v, want ErrUnsupported", err)
	}
	users := &rehashUsers{memUsers: memUsers{users: map[string]User{"alice": {Username: "alice", PasswordHash: mustHash(t, "old-password", bcrypt.MinCost)}}}}
	c := open(t, users, 4)
	var up *connectors.UpstreamError
	users.err = errors.New("database down")
	if err := c.ChangePassword(t.Context(), "alice", "old-password", "new-password"); !errors.As(err, &up) {
		t.Errorf("lookup failing: %v, want an upstream error", err)
	}
	users.err = nil
	users.fail = errors.New("conflict")
	if err := c.ChangePassword(t.Context(), "alice", "old-password", "new-password"); !errors.As(err, &up) {
		t.Errorf("store failing: %v, want an upstream error", err)
	}
	if bcrypt.CompareHashAndPassword([]byte(users.hash("alice")), []byte("old-password")) != nil {
		t.Error("a failed store changed the password")
	}
}
