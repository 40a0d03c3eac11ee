package grants

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/storage"
)

func TestVerifyPKCE(t *testing.T) {
	verifier := strings.Repeat("v", 43)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	tests := []struct {
		name                        string
		challenge, method, verifier string
		ok                          bool
	}{
		{"no PKCE", "", "", "", true},
		{"verifier without challenge", "", "", verifier, false},
		{"S256 match", challenge, "S256", verifier, true},
		{"missing verifier", challenge, "S256", "", false},
		{"short verifier", challenge, "S256", "short", false},
		{"long verifier", challenge, "S256", strings.Repeat("v", 129), false},
		{"plain method", verifier, "plain", verifier, false},
		{"wrong verifier", challenge, "S256", strings.Repeat("w", 43), false},
	}
	for _, tt := range tests {
		err := verifyPKCE(tt.challenge, tt.method, tt.verifier)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok %v", tt.name, err, tt.ok)
		}
		if err != nil && oauth2err.As(err).Code != oauth2err.InvalidGrant {
			t.Errorf("%s: code %s, want invalid_grant", tt.name, oauth2err.As(err).Code)
		}
	}
}

func TestSameIdentity(t *testing.T) {
	a := storage.Identity{Subject: "u1", Groups: nil}
	if !sameIdentity(a, storage.Identity{Subject: "u1", Groups: []string{}}) {
		t.Error("nil and empty groups differ")
	}
	if sameIdentity(a, storage.Identity{Subject: "u1", Groups: []string{"admins"}}) {
		t.Error("a group change went unnoticed")
	}
}
