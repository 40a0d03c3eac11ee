package tokens

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/storage"
)

func allAlgs() []string { return []string{AlgRS256, AlgES256, AlgEdDSA} }

func sampleAccessToken(now time.Time) AccessToken {
	return AccessToken{
		ID: "jti-1", Subject: "user-1", ClientID: "app", GrantID: "grant-1", SessionID: "sid-1",
		Scopes: []string{"openid", "email", "offline_access"}, Audience: []string{"app"},
		AuthTime: now.Add(-time.Minute).Truncate(time.Second), Expiry: now.Add(10 * time.Minute).Truncate(time.Second),
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	for _, alg := range allAlgs() {
		t.Run(alg, func(t *testing.T) {
			clock := newClock()
			km, m := newTestMinter(t, &memKeyStore{}, clock, KeyOptions{Algorithm: alg})
			if !km.Ready() {
				t.Fatal("not ready after Init")
			}
			if got := km.Algorithms(); !reflect.DeepEqual(got, []string{alg}) {
				t.Errorf("Algorithms = %v", got)
			}

			want := sampleAccessToken(clock.Now())
			at, err := m.SignAccessToken(want)
			if err != nil {
				t.Fatal(err)
			}
			h := header(t, at)
			if h.Algorithm != alg || h.KeyID == "" || h.ExtraHeaders[jose.HeaderType] != "at+jwt" {
				t.Errorf("access token header = %+v", h)
			}
			got, err := m.VerifyAccessToken(at)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("VerifyAccessToken = %+v, want %+v", got, want)
			}

			id, err := m.SignIDToken(IDToken{
				Subject: "user-1", Audience: "app", SessionID: "sid-1", Expiry: clock.Now().Add(time.Hour),
			})
			if err != nil {
				t.Fatal(err)
			}
			h = header(t, id)
			if h.Algorithm != alg || h.ExtraHeaders[jose.HeaderType] != "JWT" {
				t.Errorf("ID token header = %+v", h)
			}
			hint, err := m.VerifyIDTokenHint(id)
			if err != nil {
				t.Fatal(err)
			}
			wantHint := IDTokenHint{Subject: "user-1", Audience: "app", SessionID: "sid-1", Expiry: clock.Now().Add(time.Hour)}
			if !hint.Expiry.Equal(wantHint.Expiry) || hint.Subject != wantHint.Subject ||
				hint.Audience != wantHint.Audience || hint.SessionID != wantHint.SessionID {
				t.Errorf("hint = %+v, want %+v", hint, wantHint)
			}
		})
	}
}

func TestAccessTokenClaims(t *testing.T) {
	clock := newClock()
	_, m := newTestMinter(t, &memKeyStore{}, clock, KeyOptions{Algorithm: AlgES256})
	tests := []struct {
		name string
		in   AccessToken
		want map[string]any
	}{
		{
			name: "defaults audience to client",
			in: AccessToken{ID: "j", Subject: "s", ClientID: "c", GrantID: "g", SessionID: "x",
				Scopes: []string{"openid", "profile"}, AuthTime: clock.Now(), Expiry: clock.Now().Add(time.Minute)},
			want: map[string]any{
				"iss": testIssuer, "sub": "s", "aud": "c", "jti": "j", "client_id": "c", "gid": "g", "sid": "x",
				"scope": "openid profile", "iat": float64(clock.Now().Unix()), "auth_time": float64(clock.Now().Unix()),
				"exp": float64(clock.Now().Add(time.Minute).Unix()),
			},
		},
		{
			name: "several audiences, minimal claims",
			in: AccessToken{ID: "j", Subject: "s", ClientID: "c", Audience: []string{"c", "https://api"},
				Expiry: clock.Now().Add(time.Minute)},
			want: map[string]any{
				"iss": testIssuer, "sub": "s", "aud": []any{"c", "https://api"}, "jti": "j", "client_id": "c",
				"iat": float64(clock.Now().Unix()), "exp": float64(clock.Now().Add(time.Minute).Unix()),
			},
		},
		{
			name: "DPoP-bound: cnf.jkt",
			in:   AccessToken{ID: "j", Subject: "s", ClientID: "c", JKT: "thumb", Expiry: clock.Now().Add(time.Minute)},
			want: map[string]any{
				"iss": testIssuer, "sub": "s", "aud": "c", "jti": "j", "client_id": "c", "cnf": map[string]any{"jkt": "thumb"},
				"iat": float64(clock.Now().Unix()), "exp": float64(clock.Now().Add(time.Minute).Unix()),
			},
		},
		{
			name: "delegated: nested act (RFC 8693 4.1)",
			in: AccessToken{ID: "j", Subject: "s", ClientID: "c", Expiry: clock.Now().Add(time.Minute),
				Act: &Actor{Subject: "svc-b", Act: &Actor{Subject: "svc-a"}}},
			want: map[string]any{
				"iss": testIssuer, "sub": "s", "aud": "c", "jti": "j", "client_id": "c",
				"iat": float64(clock.Now().Unix()), "exp": float64(clock.Now().Add(time.Minute).Unix()),
				"act": map[string]any{"sub": "svc-b", "act": map[string]any{"sub": "svc-a"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := m.SignAccessToken(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := payloadClaims(t, tok); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("claims = %v\nwant     %v", got, tt.want)
			}
			at, err := m.VerifyAccessToken(tok)
			if err != nil {
				t.Fatal(err)
			}
			if at.JKT != tt.in.JKT {
				t.Errorf("verified JKT %q, want %q", at.JKT, tt.in.JKT)
			}
			if !reflect.DeepEqual(at.Act, tt.in.Act) {
				t.Errorf("verified act = %+v, want %+v", at.Act, tt.in.Act)
			}
		})
	}
}

func payloadClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestIDTokenClaims(t *testing.T) {
	clock := newClock()
	_, m := newTestMinter(t, &memKeyStore{}, clock, KeyOptions{Algorithm: AlgEdDSA})
	now := clock.Now()
	tok, err := m.SignIDToken(IDToken{
		Subject: "u", Audience: "app", AuthorizedParty: "app", Nonce: "n", SessionID: "sid", ACR: "1",
		AMR: []string{"pwd"}, AuthTime: now, Expiry: now.Add(time.Hour),
		Claims: map[string]any{"email": "a@example.com", "email_verified": true, "groups": []string{"g1"},
			"sub": "evil", "iss": "https://evil"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"iss": testIssuer, "sub": "u", "aud": "app", "azp": "app", "nonce": "n", "sid": "sid", "acr": "1",
		"amr": []any{"pwd"}, "auth_time": float64(now.Unix()), "iat": float64(now.Unix()),
		"exp": float64(now.Add(time.Hour).Unix()), "email": "a@example.com", "email_verified": true,
		"groups": []any{"g1"},
	}
	if got := payloadClaims(t, tok); !reflect.DeepEqual(got, want) {
		t.Errorf("claims = %v\nwant     %v", got, want)
	}
}

func TestHalfHash(t *testing.T) {
	// OpenID Connect Core 1.0, Appendix A.4 (RS256).
	if got := halfHash(crypto.SHA256, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"); got != "77QmUPtjPfzWtF2AnpK9RQ" {
		t.Errorf("at_hash = %s", got)
	}
	if got := halfHash(crypto.SHA512, "x"); len(got) != 43 {
		t.Errorf("EdDSA at_hash %q has %d chars, want 43 (32 bytes)", got, len(got))
	}
}

// TestGoOIDCVerifiesIDToken checks ID tokens with an unmodified third-party relying-party
// library, over a JWKS served by httptest and over a static key set.
func TestGoOIDCVerifiesIDToken(t *testing.T) {
	for _, alg := range allAlgs() {
		t.Run(alg, func(t *testing.T) {
			clock := newClock()
			store := &memKeyStore{}
			km, m := newTestMinter(t, store, clock, KeyOptions{Algorithm: alg})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, etag := km.JWKS()
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("ETag", etag)
				w.Write(body)
			}))
			defer srv.Close()

			now := clock.Now()
			at, err := m.SignAccessToken(sampleAccessToken(now))
			if err != nil {
				t.Fatal(err)
			}
			tok, err := m.SignIDToken(IDToken{
				Subject: "user-1", Audience: "app", Nonce: "nonce-1", SessionID: "sid-1", AMR: []string{"pwd"},
				AuthTime: now, Expiry: now.Add(time.Hour), AccessToken: at,
				Claims: map[string]any{"email": "u@example.com", "groups": []string{"a", "b"}},
			})
			if err != nil {
				t.Fatal(err)
			}

			var jwk jose.JSONWebKey
			if err := jwk.UnmarshalJSON(store.snapshot()[0].PublicJWK); err != nil {
				t.Fatal(err)
			}
			keySets := map[string]oidc.KeySet{
				"remote": oidc.NewRemoteKeySet(t.Context(), srv.URL),
				"static": &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{jwk.Key}},
			}
			for name, ks := range keySets {
				t.Run(name, func(t *testing.T) {
					v := oidc.NewVerifier(testIssuer, ks, &oidc.Config{
						ClientID: "app", SupportedSigningAlgs: []string{alg}, Now: clock.Now,
					})
					idt, err := v.Verify(t.Context(), tok)
					if err != nil {
						t.Fatalf("go-oidc Verify: %v", err)
					}
					if idt.Subject != "user-1" || idt.Nonce != "nonce-1" || idt.AccessTokenHash == "" {
						t.Errorf("token = %+v", idt)
					}
					if err := idt.VerifyAccessToken(at); err != nil {
						t.Errorf("at_hash: %v", err)
					}
					if err := idt.VerifyAccessToken(at + "x"); err == nil {
						t.Error("at_hash accepted a different access token")
					}
					var c struct {
						Email  string   `json:"email"`
						Groups []string `json:"groups"`
						SID    string   `json:"sid"`
					}
					if err := idt.Claims(&c); err != nil || c.Email != "u@example.com" || len(c.Groups) != 2 || c.SID != "sid-1" {
						t.Errorf("claims = %+v, %v", c, err)
					}

					// Wrong audience and expiry are the relying party's checks; make sure they bite.
					other := oidc.NewVerifier(testIssuer, ks, &oidc.Config{ClientID: "other", SupportedSigningAlgs: []string{alg}, Now: clock.Now})
					if _, err := other.Verify(t.Context(), tok); err == nil {
						t.Error("go-oidc accepted the token for another client")
					}
					late := oidc.NewVerifier(testIssuer, ks, &oidc.Config{ClientID: "app", SupportedSigningAlgs: []string{alg},
						Now: func() time.Time { return now.Add(2 * time.Hour) }})
					if _, err := late.Verify(t.Context(), tok); err == nil {
						t.Error("go-oidc accepted an expired token")
					}
				})
			}
		})
	}
}

func TestVerifyAccessTokenRefuses(t *testing.T) {
	clock := newClock()
	store := &memKeyStore{}
	_, m := newTestMinter(t, store, clock, KeyOptions{Algorithm: AlgRS256})
	rec := store.snapshot()[0]
	now := clock.Now()
	good, err := m.SignAccessToken(sampleAccessToken(now))
	if err != nil {
		t.Fatal(err)
	}
	idTok, err := m.SignIDToken(IDToken{Subject: "user-1", Audience: "app", Expiry: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	// A key of another deployment.
	_, otherM := newTestMinter(t, &memKeyStore{}, clock, KeyOptions{Algorithm: AlgRS256})
	foreign, err := otherM.SignAccessToken(sampleAccessToken(now))
	if err != nil {
		t.Fatal(err)
	}
	wrongIss := &Minter{Issuer: "https://evil.example.com", Keys: m.Keys, Now: clock.Now}
	wrongIssTok, err := wrongIss.SignAccessToken(sampleAccessToken(now))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	enc := base64.RawURLEncoding.EncodeToString
	atOpts := func() *jose.SignerOptions { return (&jose.SignerOptions{}).WithType("at+jwt") }
	payloadWith := func(edit func(map[string]any)) []byte {
		var c map[string]any
		if err := json.Unmarshal(claims, &c); err != nil {
			t.Fatal(err)
		}
		edit(c)
		b, _ := json.Marshal(c)
		return b
	}

	tampered := strings.Replace(string(claims), `"sub":"user-1"`, `"sub":"admin"`, 1)
	// HS256 keyed with the public JWK: the classic algorithm-confusion attack.
	hmac, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: rec.PublicJWK},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader(jose.HeaderKey("kid"), rec.ID))
	if err != nil {
		t.Fatal(err)
	}
	hs, _ := hmac.Sign(claims)
	hsTok, _ := hs.CompactSerialize()

	tests := []struct {
		name  string
		token string
	}{
		{"empty", ""},
		{"garbage", "not.a.token"},
		{"tampered payload", parts[0] + "." + enc([]byte(tampered)) + "." + parts[2]},
		{"tampered signature", parts[0] + "." + parts[1] + "." + enc([]byte("0123456789"))},
		{"no signature", parts[0] + "." + parts[1] + "."},
		{"alg none", enc([]byte(`{"alg":"none","typ":"at+jwt","kid":"`+rec.ID+`"}`)) + "." + parts[1] + "."},
		{"alg HS256 with public key", hsTok},
		{"unknown kid", foreign},
		{"missing kid", signRaw(t, rec, jose.RS256, "", atOpts(), claims)},
		{"wrong issuer", wrongIssTok},
		{"ID token as access token", idTok},
		{"no typ", signRaw(t, rec, jose.RS256, rec.ID, nil, claims)},
		{"alg PS256 with RS256 key", signRaw(t, rec, jose.PS256, rec.ID, atOpts(), claims)},
		{"not before in the future", signRaw(t, rec, jose.RS256, rec.ID, atOpts(),
			payloadWith(func(c map[string]any) { c["nbf"] = now.Add(time.Minute).Unix() }))},
		{"no exp", signRaw(t, rec, jose.RS256, rec.ID, atOpts(),
			payloadWith(func(c map[string]any) { delete(c, "exp") }))},
		{"JSON serialization", `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`},
		{"too large", parts[0] + "." + strings.Repeat("A", maxTokenSize) + "." + parts[2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := m.VerifyAccessToken(tt.token); err == nil {
				t.Fatal("accepted")
			} else {
				mustErrorIs(t, err, ErrInvalidToken)
				t.Logf("refused: %v", err)
			}
		})
	}

	// typ application/at+jwt is the same media type.
	if _, err := m.VerifyAccessToken(signRaw(t, rec, jose.RS256, rec.ID,
		(&jose.SignerOptions{}).WithType("application/at+jwt"), claims)); err != nil {
		t.Errorf("typ application/at+jwt refused: %v", err)
	}
}

func TestVerifyAccessTokenExpiry(t *testing.T) {
	clock := newClock()
	_, m := newTestMinter(t, &memKeyStore{}, clock, KeyOptions{Algorithm: AlgES256})
	in := sampleAccessToken(clock.Now())
	tok, err := m.SignAccessToken(in)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		at      time.Time
		expired bool
	}{
		{"one second before exp", in.Expiry.Add(-time.Second), false},
		{"at exp (no leeway)", in.Expiry, true},
		{"after exp", in.Expiry.Add(time.Hour), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &Minter{Issuer: testIssuer, Keys: m.Keys, Now: func() time.Time { return tt.at }}
			_, err := v.VerifyAccessToken(tok)
			if tt.expired {
				mustErrorIs(t, err, ErrTokenExpired)
				mustErrorIs(t, err, ErrInvalidToken)
			} else if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestVerifyIDTokenHint(t *testing.T) {
	clock := newClock()
	store := &memKeyStore{}
	_, m := newTestMinter(t, store, clock, KeyOptions{Algorithm: AlgRS256, MaxTokenLifetime: time.Hour})
	now := clock.Now()
	tok, err := m.SignIDToken(IDToken{Subject: "u", Audience: "app", SessionID: "s", Expiry: now.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	at, err := m.SignAccessToken(sampleAccessToken(now))
	if err != nil {
		t.Fatal(err)
	}
	wrongIss := &Minter{Issuer: "https://other", Keys: m.Keys, Now: clock.Now}
	otherTok, err := wrongIss.SignIDToken(IDToken{Subject: "u", Audience: "app", Expiry: now.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	multiAud := signRaw(t, store.snapshot()[0], jose.RS256, store.snapshot()[0].ID, (&jose.SignerOptions{}).WithType("JWT"),
		[]byte(`{"iss":"`+testIssuer+`","sub":"u","aud":["api","app"],"azp":"app","exp":1}`))

	clock.Advance(24 * time.Hour) // long expired: still accepted as a hint
	tests := []struct {
		name    string
		token   string
		wantAud string
		ok      bool
	}{
		{"expired hint accepted", tok, "app", true},
		{"several audiences use azp", multiAud, "app", true},
		{"wrong issuer", otherTok, "", false},
		{"access token", at, "", false},
		{"tampered", parts[0] + "." + parts[1] + "x." + parts[2], "", false},
		{"garbage", "abc", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := m.VerifyIDTokenHint(tt.token)
			if !tt.ok {
				mustErrorIs(t, err, ErrInvalidToken)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Subject != "u" || h.Audience != tt.wantAud {
				t.Errorf("hint = %+v", h)
			}
		})
	}
}

func TestSignRefuses(t *testing.T) {
	clock := newClock()
	_, m := newTestMinter(t, &memKeyStore{}, clock, KeyOptions{Algorithm: AlgES256, MaxTokenLifetime: time.Hour})
	unready := &Minter{Issuer: testIssuer, Keys: NewKeyManager(&memKeyStore{}, KeyOptions{}), Now: clock.Now}
	now := clock.Now()
	tests := []struct {
		name string
		m    *Minter
		id   IDToken
		at   AccessToken
	}{
		{"no expiry", m, IDToken{Subject: "s", Audience: "a"}, AccessToken{ID: "j", Subject: "s", ClientID: "c"}},
		{"beyond MaxTokenLifetime", m, IDToken{Subject: "s", Audience: "a", Expiry: now.Add(2 * time.Hour)},
			AccessToken{ID: "j", Subject: "s", ClientID: "c", Expiry: now.Add(2 * time.Hour)}},
		{"missing subject", m, IDToken{Audience: "a", Expiry: now.Add(time.Minute)},
			AccessToken{ID: "j", ClientID: "c", Expiry: now.Add(time.Minute)}},
		{"not ready", unready, IDToken{Subject: "s", Audience: "a", Expiry: now.Add(time.Minute)},
			AccessToken{ID: "j", Subject: "s", ClientID: "c", Expiry: now.Add(time.Minute)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.m.SignIDToken(tt.id); err == nil {
				t.Error("SignIDToken succeeded")
			}
			if _, err := tt.m.SignAccessToken(tt.at); err == nil {
				t.Error("SignAccessToken succeeded")
			}
		})
	}
	if _, err := unready.VerifyAccessToken("a.b.c"); err == nil {
		t.Error("unready minter verified a token")
	}
}

// keyIDs lists the kids of a JWKS body.
func keyIDs(t *testing.T, body []byte) []string {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("JWKS %s: %v", body, err)
	}
	var ids []string
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatalf("JWKS publishes a private key: %s", body)
		}
		if k.Use != "sig" || k.Algorithm == "" {
			t.Errorf("key %s: use %q alg %q", k.KeyID, k.Use, k.Algorithm)
		}
		ids = append(ids, k.KeyID)
	}
	return ids
}

var _ storage.KeyStore = (*memKeyStore)(nil)
