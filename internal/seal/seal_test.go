package seal

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func key(id string, b byte) Key { return Key{ID: id, Secret: bytes.Repeat([]byte{b}, KeySize)} }

func TestSealOpen(t *testing.T) {
	k1, err := NewKeyring(key("k1", 1))
	if err != nil {
		t.Fatal(err)
	}
	v, err := k1.Seal([]byte("refresh-token"), "grants/auth/g1")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(v, []byte("refresh-token")) || !IsSealed(v) || !k1.Current(v) {
		t.Fatalf("sealed value %q", v)
	}
	if id, ok := KeyID(v); !ok || id != "k1" {
		t.Errorf("KeyID = %q, %v", id, ok)
	}
	if p, err := k1.Open(v, "grants/auth/g1"); err != nil || string(p) != "refresh-token" {
		t.Errorf("Open = %q, %v", p, err)
	}
	if _, err := k1.Open(v, "grants/auth/g2"); err == nil || !strings.Contains(err.Error(), "grants/auth/g2") {
		t.Errorf("Open under another context = %v, want an error naming it", err)
	}
	if p, err := k1.Open([]byte(`{"plain":1}`), "x"); err != nil || string(p) != `{"plain":1}` {
		t.Errorf("Open(plaintext) = %q, %v", p, err)
	}
	if k1.Current([]byte("plain")) {
		t.Error("plaintext reported current")
	}

	// Rotation: k2 seals, k1 still opens; a keyring without k1 fails loudly.
	k21, err := NewKeyring(key("k2", 2), key("k1", 1))
	if err != nil {
		t.Fatal(err)
	}
	if p, err := k21.Open(v, "grants/auth/g1"); err != nil || string(p) != "refresh-token" {
		t.Errorf("Open with the old key second = %q, %v", p, err)
	}
	if k21.Current(v) {
		t.Error("a value under k1 is current in a keyring sealing with k2")
	}
	k2, _ := NewKeyring(key("k2", 2))
	if _, err := k2.Open(v, "grants/auth/g1"); !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), "grants/auth/g1") {
		t.Errorf("Open under an unknown key = %v", err)
	}
	// A tampered key ID in the header does not open under another key either.
	forged := bytes.Replace(v, []byte("k1"), []byte("k2"), 1)
	if _, err := k21.Open(forged, "grants/auth/g1"); err == nil {
		t.Error("a value with a rewritten key ID opened")
	}
}

func TestNewKeyringRejects(t *testing.T) {
	for name, keys := range map[string][]Key{
		"none":      nil,
		"short key": {{ID: "a", Secret: []byte("short")}},
		"bad id":    {key("a b", 1)},
		"duplicate": {key("a", 1), key("a", 2)},
	} {
		if _, err := NewKeyring(keys...); err == nil {
			t.Errorf("%s: NewKeyring accepted %v", name, keys)
		}
	}
}

func TestNewKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seal.key")
	if err := NewKeyFile(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v", fi.Mode(), err)
	}
	b, err := os.ReadFile(path)
	if k, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b))); err != nil || derr != nil || len(k) != KeySize {
		t.Errorf("key file %q: %v %v", b, err, derr)
	}
	if err := NewKeyFile(path); err == nil {
		t.Error("NewKeyFile overwrote an existing key")
	}
}

// BenchmarkSealOpen is what sealing adds to a refresh with an upstream connector: one Open
// (the grant read) and one Seal (the refreshed identity stored) of a 600-byte stash.
func BenchmarkSealOpen(b *testing.B) {
	k, err := NewKeyring(key("k1", 1))
	if err != nil {
		b.Fatal(err)
	}
	plain := bytes.Repeat([]byte("x"), 600)
	b.ReportAllocs()
	for b.Loop() {
		v, err := k.Seal(plain, "grants/auth/some-grant-id")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := k.Open(v, "grants/auth/some-grant-id"); err != nil {
			b.Fatal(err)
		}
	}
}
