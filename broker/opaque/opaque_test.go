package opaque

import (
	"encoding/base64"
	"testing"
)

// TestSizesAndUniqueness proves tokens carry 256 bits and IDs 128 bits, and that a thousand
// of each never repeat.
func TestSizesAndUniqueness(t *testing.T) {
	for _, tc := range []struct {
		name  string
		make  func() string
		bytes int
	}{{"Token", Token, 32}, {"ID", ID, 16}} {
		seen := map[string]bool{}
		for range 1000 {
			v := tc.make()
			b, err := base64.RawURLEncoding.DecodeString(v)
			if err != nil || len(b) != tc.bytes {
				t.Fatalf("%s() = %q: %d bytes, err %v; want %d bytes", tc.name, v, len(b), err, tc.bytes)
			}
			if seen[v] {
				t.Fatalf("%s() repeated %q", tc.name, v)
			}
			seen[v] = true
		}
	}
}

// TestHash pins the at-rest form: base64url SHA-256 (stored codes and refresh tokens depend on it).
func TestHash(t *testing.T) {
	if got, want := Hash("abc"), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"; got != want {
		t.Fatalf("Hash(abc) = %s, want %s", got, want)
	}
}
