package oidc_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/connectors/internal/fakeoauth"
)

// TestVerifyLogoutToken: an upstream back-channel logout token is accepted only as
// Back-Channel Logout 1.0 2.6 says (the upstream's JWKS served by an httptest provider
// speaking OIDC discovery; issue 18 item 4's receiver builds on it).
func TestVerifyLogoutToken(t *testing.T) {
	s, _ := newFakeIdP(t)
	other := fakeoauth.New(t)
	c := openFake(t, s, nil, nil)
	now := time.Now()
	claims := func(mut func(map[string]any)) map[string]any {
		m := map[string]any{"iss": s.URL, "sub": "u1", "sid": "up-sid", "aud": s.ClientID, "iat": now.Unix(),
			"exp": now.Add(2 * time.Minute).Unix(), "jti": "j1",
			"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}}
		if mut != nil {
			mut(m)
		}
		return m
	}
	const typ = "logout+jwt"
	tests := []struct {
		name    string
		raw     string
		wantErr string // "" for accepted
	}{
		{"valid", s.SignTyped(claims(nil), typ), ""},
		{"valid without typ", s.Sign(claims(nil)), ""},
		{"sid only", s.SignTyped(claims(func(m map[string]any) { delete(m, "sub") }), typ), ""},
		{"sub only", s.SignTyped(claims(func(m map[string]any) { delete(m, "sid") }), typ), ""},
		{"typed as an ID token", s.SignTyped(claims(nil), "JWT"), "typ"},
		{"with a nonce (an ID token)", s.SignTyped(claims(func(m map[string]any) { m["nonce"] = "n" }), typ), "nonce"},
		{"no events", s.SignTyped(claims(func(m map[string]any) { delete(m, "events") }), typ), "event"},
		{"another event", s.SignTyped(claims(func(m map[string]any) { m["events"] = map[string]any{"urn:other": map[string]any{}} }), typ), "event"},
		{"event not an object", s.SignTyped(claims(func(m map[string]any) {
			m["events"] = map[string]any{"http://schemas.openid.net/event/backchannel-logout": "yes"}
		}), typ), "event"},
		{"neither sub nor sid", s.SignTyped(claims(func(m map[string]any) { delete(m, "sub"); delete(m, "sid") }), typ), "neither"},
		{"no jti", s.SignTyped(claims(func(m map[string]any) { delete(m, "jti") }), typ), "jti"},
		{"no iat", s.SignTyped(claims(func(m map[string]any) { delete(m, "iat") }), typ), "iat"},
		{"another audience", s.SignTyped(claims(func(m map[string]any) { m["aud"] = "someone-else" }), typ), "verify"},
		{"another issuer", s.SignTyped(claims(func(m map[string]any) { m["iss"] = "https://evil.example" }), typ), "verify"},
		{"expired", s.SignTyped(claims(func(m map[string]any) { m["exp"] = now.Add(-time.Minute).Unix() }), typ), "verify"},
		{"signed by another key", other.SignTyped(claims(nil), typ), "verify"},
		{"not a JWT", "abc.def", "not a signed JWT"},
		{"too large", strings.Repeat("a", 17<<10), "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lt, err := c.VerifyLogoutToken(context.Background(), tt.raw)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if lt.JTI != "j1" || lt.IssuedAt.Unix() != now.Unix() || (lt.Subject != "u1" && lt.SessionID != "up-sid") {
					t.Errorf("logout token = %+v", lt)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want one with %q", err, tt.wantErr)
			}
		})
	}
}

// FuzzVerifyLogoutToken: whatever is POSTed as a logout token, the check never panics and
// accepts nothing the upstream did not sign.
func FuzzVerifyLogoutToken(f *testing.F) {
	s, _ := newFakeIdP(f)
	other := fakeoauth.New(f)
	c := openFake(f, s, nil, nil)
	now := time.Now()
	f.Add(other.SignTyped(map[string]any{"iss": s.URL, "sub": "u1", "aud": s.ClientID, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"jti": "j", "events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}}, "logout+jwt"))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		if _, err := c.VerifyLogoutToken(context.Background(), raw); err == nil {
			t.Fatalf("accepted a logout token the upstream did not sign: %q", raw)
		}
	})
}
