package userinfo

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/tokens"
)

func TestVerifiedCache(t *testing.T) {
	now := time.Now()
	calls := 0
	verify := func(raw string) (tokens.AccessToken, error) {
		calls++
		if raw == "bad" {
			return tokens.AccessToken{}, errors.New("bad signature")
		}
		return tokens.AccessToken{ID: raw, Expiry: now.Add(time.Minute)}, nil
	}
	c := newVerifiedCache(2)
	for i := 0; i < 3; i++ {
		if at, err := c.verify("a", now, verify); err != nil || at.ID != "a" {
			t.Fatalf("verify a: %v %v", at, err)
		}
	}
	if calls != 1 {
		t.Fatalf("a verified %d times, want once", calls)
	}
	// Failures are never cached.
	for i := 0; i < 2; i++ {
		if _, err := c.verify("bad", now, verify); err == nil {
			t.Fatal("bad token accepted")
		}
	}
	if calls != 3 {
		t.Fatalf("calls = %d, want 3", calls)
	}
	// An expired entry is verified again (and then refused by the real verifier's clock).
	if _, err := c.verify("a", now.Add(2*time.Minute), verify); err != nil || calls != 4 {
		t.Fatalf("expired entry served from cache (calls %d)", calls)
	}
	// The cache stays bounded.
	for _, k := range []string{"b", "c", "d", "e"} {
		c.verify(k, now, verify)
	}
	if len(c.entries) > 2 {
		t.Fatalf("cache grew to %d entries", len(c.entries))
	}
}
