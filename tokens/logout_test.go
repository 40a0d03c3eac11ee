package tokens

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

// TestLogoutTokenClaims: a logout token carries exactly the Back-Channel Logout 1.0 claims
// (no nonce), is typed logout+jwt, and is accepted neither as an id_token_hint nor as an
// access token; a token without sub and sid, audience or ID is refused.
func TestLogoutTokenClaims(t *testing.T) {
	clock := newClock()
	_, m := newTestMinter(t, &memKeyStore{}, clock, KeyOptions{Algorithm: AlgES256})
	now := clock.Now()
	tok, err := m.SignLogoutToken(context.Background(), LogoutToken{ID: "j1", Audience: "app", Subject: "u", SessionID: "sid", Expiry: now.Add(2 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if typ := header(t, tok).ExtraHeaders["typ"]; typ != "logout+jwt" {
		t.Errorf("typ = %v, want logout+jwt", typ)
	}
	want := map[string]any{
		"iss": testIssuer, "sub": "u", "aud": "app", "sid": "sid", "jti": "j1", "iat": float64(now.Unix()),
		"exp": float64(now.Add(2 * time.Minute).Unix()), "events": map[string]any{BackChannelLogoutEvent: map[string]any{}},
	}
	if got := payloadClaims(t, tok); !reflect.DeepEqual(got, want) {
		t.Errorf("claims = %v\nwant     %v", got, want)
	}
	if _, err := m.VerifyIDTokenHint(tok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("logout token as id_token_hint: %v, want refused", err)
	}
	if _, err := m.VerifyAccessToken(tok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("logout token as access token: %v, want refused", err)
	}
	for _, bad := range []LogoutToken{
		{Audience: "app", Subject: "u", Expiry: now.Add(time.Minute)},
		{ID: "j", Subject: "u", Expiry: now.Add(time.Minute)},
		{ID: "j", Audience: "app", Expiry: now.Add(time.Minute)},
		{ID: "j", Audience: "app", Subject: "u"},
	} {
		if _, err := m.SignLogoutToken(context.Background(), bad); err == nil {
			t.Errorf("SignLogoutToken(%+v) signed", bad)
		}
	}
}
