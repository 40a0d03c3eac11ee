package grants

import (
	"reflect"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
)

// TestSameIdentityFields compares identities field by field as the refresh grant does: every
// field's change is seen, nil and empty are equal, and Extra compares as stored JSON.
func TestSameIdentityFields(t *testing.T) {
	// sameIdentity names every field of storage.Identity: a new field must be added there.
	if n := reflect.TypeFor[storage.Identity]().NumField(); n != 7 {
		t.Fatalf("storage.Identity has %d fields; sameIdentity compares 7: compare the new one too", n)
	}
	base := storage.Identity{Subject: "u1", Email: "a@example.org", EmailVerified: true, Name: "A",
		PreferredUsername: "a", Groups: []string{"g1", "g2"}, Extra: map[string]any{"n": float64(3)}}
	tests := []struct {
		name   string
		change func(*storage.Identity)
		same   bool
	}{
		{"unchanged", func(*storage.Identity) {}, true},
		{"subject", func(id *storage.Identity) { id.Subject = "u2" }, false},
		{"email", func(id *storage.Identity) { id.Email = "b@example.org" }, false},
		{"email_verified", func(id *storage.Identity) { id.EmailVerified = false }, false},
		{"name", func(id *storage.Identity) { id.Name = "B" }, false},
		{"preferred_username", func(id *storage.Identity) { id.PreferredUsername = "b" }, false},
		{"group removed", func(id *storage.Identity) { id.Groups = id.Groups[:1] }, false},
		{"groups reordered", func(id *storage.Identity) { id.Groups = []string{"g2", "g1"} }, false},
		{"extra number as int64", func(id *storage.Identity) { id.Extra = map[string]any{"n": int64(3)} }, true},
		{"extra changed", func(id *storage.Identity) { id.Extra = map[string]any{"n": 4} }, false},
		{"extra removed", func(id *storage.Identity) { id.Extra = nil }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := base
			b.Groups = append([]string(nil), base.Groups...)
			tt.change(&b)
			if got := sameIdentity(base, b); got != tt.same {
				t.Errorf("sameIdentity = %v, want %v", got, tt.same)
			}
		})
	}
	if !sameIdentity(storage.Identity{Subject: "u1", Extra: map[string]any{}}, storage.Identity{Subject: "u1"}) {
		t.Error("empty and nil Extra differ")
	}
}
