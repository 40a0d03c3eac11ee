package oidc_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/connectors/internal/fakeoauth"
)

// TestVerifyIDToken: an upstream ID token is accepted only when the upstream signed it for
// this connector's client_id, with its issuer, and it has not expired (go-oidc against the
// upstream's JWKS, served by an httptest provider speaking OIDC discovery).
func TestVerifyIDToken(t *testing.T) {
	s, _ := newFakeIdP(t)
	other := fakeoauth.New(t)
	c := openFake(t, s, nil, nil)
	now := time.Now()
	claims := func(mut func(map[string]any)) map[string]any {
		m := map[string]any{"iss": s.URL, "sub": "u1", "aud": s.ClientID, "exp": now.Add(time.Minute).Unix(), "iat": now.Unix(),
			"email": "u1@example.com", "email_verified": true}
		if mut != nil {
			mut(m)
		}
		return m
	}
	tests := []struct {
		name string
		raw  string
		ok   bool
	}{
		{"valid", s.Sign(claims(nil)), true},
		{"another audience", s.Sign(claims(func(m map[string]any) { m["aud"] = "someone-else" })), false},
		{"another issuer", s.Sign(claims(func(m map[string]any) { m["iss"] = "https://evil.example" })), false},
		{"expired", s.Sign(claims(func(m map[string]any) { m["exp"] = now.Add(-time.Minute).Unix() })), false},
		{"signed by another key", other.Sign(claims(nil)), false},
		{"not a JWT", "abc.def", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, err := c.VerifyIDToken(context.Background(), tt.raw)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if tt.ok && (up.Subject != "u1" || up.Email != "u1@example.com" || !up.EmailVerified || up.Stash != nil) {
				t.Errorf("upstream = %+v", up)
			}
		})
	}
}
