package storagetest

import (
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
)

// RunLocalUserEmails runs the conformance tests of the optional storage.LocalUserEmailFinder.
// A backend that implements it calls this from its tests next to Run; for a backend that does
// not, the tests fail.
func RunLocalUserEmails(t *testing.T, open func(t *testing.T) storage.Storage) {
	s := open(t)
	f := implements[storage.LocalUserEmailFinder](t, s)
	ctx := ctxFor(t)
	now := baseTime()
	users := []storage.LocalUser{localUser("carol", now), localUser("alice", now), localUser("bob", now), localUser("nomail", now)}
	users[0].Email = "Shared@Example.com" // carol and bob share an address (emails are not unique)
	users[2].Email = "shared@example.com"
	users[3].Email = ""
	for _, u := range users {
		wantErr(t, "create", s.CreateLocalUser(ctx, u), nil)
	}
	tests := []struct {
		email string
		want  []string // usernames, in order
	}{
		{"alice@example.com", []string{"alice"}},
		{"ALICE@EXAMPLE.COM", []string{"alice"}},
		{"shared@example.com", []string{"bob", "carol"}},
		{"nobody@example.com", nil},
		{"", nil}, // a user without an email is never found by the empty one
		{"alice", nil},
		{"%@example.com", nil}, // no pattern matching
		{"_lice@example.com", nil},
	}
	for _, tt := range tests {
		got, err := f.FindLocalUsersByEmail(ctx, tt.email)
		wantErr(t, "find "+tt.email, err, nil)
		var names []string
		for _, u := range got {
			names = append(names, u.Username)
		}
		mustEqual(t, "users with email "+tt.email, tt.want, names)
	}
	got, err := f.FindLocalUsersByEmail(ctx, "alice@example.com")
	wantErr(t, "find", err, nil)
	if len(got) == 1 {
		mustEqual(t, "found user", users[1], got[0])
	}
}
