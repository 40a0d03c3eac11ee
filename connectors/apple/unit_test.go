package apple_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/connectors/apple"
)

// TestClientSecret: the secret is an ES256 JWT Apple accepts (kid, iss, aud, sub, lifetime).
func TestClientSecret(t *testing.T) {
	key, _ := newKey(t)
	other, _ := newKey(t)
	s, err := apple.ClientSecret(key, keyID, teamID, servicesID, time.Now(), 180*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkSecret(&key.PublicKey, s); err != nil {
		t.Fatalf("secret refused: %v", err)
	}
	if err := checkSecret(&other.PublicKey, s); err == nil {
		t.Fatal("secret verified with another key")
	}
	long, _ := apple.ClientSecret(key, keyID, teamID, servicesID, time.Now(), 200*24*time.Hour)
	if err := checkSecret(&key.PublicKey, long); err == nil {
		t.Fatal("the fake accepts a secret longer than six months: the test cannot fail")
	}
}

func TestValidate(t *testing.T) {
	ok := apple.Config{ClientID: servicesID, TeamID: teamID, KeyID: keyID, PrivateKeyFile: "/k.p8"}
	for _, tt := range []struct {
		name string
		mod  func(*apple.Config)
		want string
	}{
		{"ok", func(*apple.Config) {}, ""},
		{"no client_id", func(c *apple.Config) { c.ClientID = "" }, "client_id"},
		{"bad team_id", func(c *apple.Config) { c.TeamID = "abc" }, "team_id"},
		{"bad key_id", func(c *apple.Config) { c.KeyID = "KEY-1" }, "key_id"},
		{"no key file", func(c *apple.Config) { c.PrivateKeyFile = "" }, "private_key_file"},
		{"lifetime over six months", func(c *apple.Config) { c.ClientSecretLifetime = 181 * 24 * time.Hour }, "client_secret_lifetime"},
		{"lifetime too short", func(c *apple.Config) { c.ClientSecretLifetime = time.Minute }, "client_secret_lifetime"},
		{"lifetime six months", func(c *apple.Config) { c.ClientSecretLifetime = 180 * 24 * time.Hour }, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mod(&c)
			err := c.Validate()
			if (tt.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestParsePrivateKey(t *testing.T) {
	_, good := newKey(t)
	p8, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(p384)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		pem  []byte
		ok   bool
	}{
		{"Apple .p8 (PKCS#8 P-256)", p8, true},
		{"not PEM", []byte("not pem"), false},
		{"P-384", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), false},
		{"not PKCS#8", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}), false},
	} {
		if _, err := apple.ParsePrivateKey(tt.pem); (err == nil) != tt.ok {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

func TestParseUser(t *testing.T) {
	for _, tt := range []struct {
		name, field string
		want        apple.User
		wantErr     bool
	}{
		{"empty", "", apple.User{}, false},
		{"documented shape", `{"name":{"firstName":"Jane","lastName":"Appleseed"},"email":"j@example.com"}`, apple.User{FirstName: "Jane", LastName: "Appleseed", Email: "j@example.com"}, false},
		{"no name", `{"email":"j@example.com"}`, apple.User{Email: "j@example.com"}, false},
		{"trimmed and cut", `{"name":{"firstName":"  ` + strings.Repeat("é", 150) + `  "}}`, apple.User{FirstName: strings.Repeat("é", 100)}, false},
		{"control character", `{"name":{"firstName":"Ja\u0000ne"}}`, apple.User{}, true},
		{"not JSON", `Jane`, apple.User{}, true},
		{"too large", `{"email":"` + strings.Repeat("a", apple.MaxUserField) + `"}`, apple.User{}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := apple.ParseUser(tt.field)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParseUser = %+v, %v", got, err)
			}
		})
	}
}

// FuzzParseUser: the user form field is attacker-controlled (anyone can POST the callback).
func FuzzParseUser(f *testing.F) {
	f.Add(`{"name":{"firstName":"Jane","lastName":"Appleseed"},"email":"j@example.com"}`)
	f.Add(`{"name":null}`)
	f.Add(`{"name":{"firstName":1}}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, field string) {
		u, err := apple.ParseUser(field)
		if err != nil {
			return
		}
		if len(field) > apple.MaxUserField {
			t.Fatal("oversized field accepted")
		}
		for _, s := range []string{u.FirstName, u.LastName} {
			if utf8.RuneCountInString(s) > 100 || !utf8.ValidString(s) || strings.TrimSpace(s) != s {
				t.Fatalf("name part %q", s)
			}
		}
	})
}
