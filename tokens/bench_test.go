package tokens

import (
	"strings"
	"testing"
	"time"
)

func benchMinter(b *testing.B, alg string) *Minter {
	b.Helper()
	clock := newClock()
	opt := KeyOptions{Algorithm: alg, Now: clock.Now}
	km := NewKeyManager(&memKeyStore{}, opt)
	if err := km.Init(b.Context()); err != nil {
		b.Fatal(err)
	}
	return &Minter{Issuer: testIssuer, Keys: km, Now: clock.Now}
}

func benchIDToken(now time.Time) IDToken {
	return IDToken{
		Subject: "2b7e1516-28ae-d2a6-abf7-158809cf4f3c", Audience: "example-app", Nonce: "n-0S6_WzA2Mj",
		SessionID: "3f8a2c", AMR: []string{"pwd"}, AuthTime: now, Expiry: now.Add(time.Hour),
		AccessToken: "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiYXQrand0In0.e30.sig",
		Claims: map[string]any{
			"email": "jane@example.com", "email_verified": true, "name": "Jane Doe",
			"preferred_username": "jane", "groups": []string{"admins", "developers"},
		},
	}
}

func BenchmarkSignIDToken(b *testing.B) {
	for _, alg := range allAlgs() {
		b.Run(alg, func(b *testing.B) {
			m := benchMinter(b, alg)
			t := benchIDToken(m.Now())
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.SignIDToken(t); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSignAccessToken(b *testing.B) {
	for _, alg := range allAlgs() {
		b.Run(alg, func(b *testing.B) {
			m := benchMinter(b, alg)
			t := sampleAccessToken(m.Now())
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.SignAccessToken(t); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerifyAccessToken(b *testing.B) {
	for _, alg := range allAlgs() {
		b.Run(alg, func(b *testing.B) {
			m := benchMinter(b, alg)
			tok, err := m.SignAccessToken(sampleAccessToken(m.Now()))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.VerifyAccessToken(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkJWKS(b *testing.B) {
	m := benchMinter(b, AlgRS256)
	b.ReportAllocs()
	for b.Loop() {
		if body, etag := m.Keys.JWKS(); len(body) == 0 || etag == "" {
			b.Fatal("empty JWKS")
		}
	}
}

func FuzzVerifyAccessToken(f *testing.F) {
	clock := newClock()
	store := &memKeyStore{}
	km := NewKeyManager(store, KeyOptions{Algorithm: AlgES256, Now: clock.Now})
	if err := km.Init(f.Context()); err != nil {
		f.Fatal(err)
	}
	m := &Minter{Issuer: testIssuer, Keys: km, Now: clock.Now}
	at, err := m.SignAccessToken(sampleAccessToken(clock.Now()))
	if err != nil {
		f.Fatal(err)
	}
	id, err := m.SignIDToken(benchIDToken(clock.Now()))
	if err != nil {
		f.Fatal(err)
	}
	parts := strings.Split(at, ".")
	for _, s := range []string{
		at, id, "", ".", "..", "a.b.c", parts[0] + "." + parts[1] + ".",
		"eyJhbGciOiJub25lIn0." + parts[1] + ".", `{"payload":"e30","signatures":[]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		got, err := m.VerifyAccessToken(token)
		if err == nil && (got.Subject == "" || got.ClientID == "" || got.Expiry.IsZero()) {
			t.Errorf("accepted a token without subject, client or expiry: %+v", got)
		}
		_, _ = m.VerifyIDTokenHint(token)
	})
}
