package tokens

import (
	"strings"
	"testing"
)

// TestRotateNow: the new key is published at once and signs after PublishDelay; the old
// one keeps verifying what it signed; a second call adds nothing.
func TestRotateNow(t *testing.T) {
	clock := newClock()
	store := &memKeyStore{}
	km, m := newTestMinter(t, store, clock, KeyOptions{Algorithm: AlgES256})
	long := sampleAccessToken(clock.Now())
	long.Expiry = clock.Now().Add(2 * km.opt.PublishDelay) // still valid once the new key signs
	before, err := m.SignAccessToken(long)
	if err != nil {
		t.Fatal(err)
	}
	next, err := km.RotateNow(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !next.ActiveFrom.Equal(storageTime(clock.Now().Add(km.opt.PublishDelay))) {
		t.Fatalf("new key active from %v, want now + publish delay %v", next.ActiveFrom, km.opt.PublishDelay)
	}
	again, err := km.RotateNow(t.Context())
	if err != nil || again.ID != next.ID {
		t.Fatalf("second RotateNow = %s, %v; want the pending %s", again.ID, err, next.ID)
	}
	keys, err := km.Keys(t.Context())
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys after rotation: %d, %v", len(keys), err)
	}
	jwks, _ := km.JWKS()
	if !containsKid(jwks, next.ID) {
		t.Fatal("the new key is not published at once")
	}
	clock.Advance(km.opt.PublishDelay)
	if err := km.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	after, err := m.SignAccessToken(sampleAccessToken(clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if kidOf(t, after) != next.ID {
		t.Fatalf("signing with %s after the publish delay, want %s", kidOf(t, after), next.ID)
	}
	if _, err := m.VerifyAccessToken(before); err != nil {
		t.Fatalf("a token of the old key no longer verifies: %v", err)
	}
}

func containsKid(jwks []byte, kid string) bool {
	return strings.Contains(string(jwks), `"kid":"`+kid+`"`)
}

func kidOf(tb testing.TB, token string) string {
	return header(tb, token).KeyID
}
