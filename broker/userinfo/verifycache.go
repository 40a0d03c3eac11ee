package userinfo

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/tokens"
)

// verifiedCache remembers access tokens whose signature and claims were already verified, keyed
// by the SHA-256 of the token, until they expire. Userinfo and introspection are called with the
// same token again and again; verifying a signature costs far more than a map lookup. Only the
// signature check is cached: the grant is still read on every call, so revocation takes effect
// at once. A token signed by a key that has since left the JWKS has expired too (keys stay
// published until every token they signed has expired), so key rotation needs no flush.
type verifiedCache struct {
	mu      sync.Mutex
	max     int
	entries map[[32]byte]tokens.AccessToken
}

// newVerifiedCache returns an empty cache holding at most max tokens.
func newVerifiedCache(max int) *verifiedCache {
	return &verifiedCache{max: max, entries: make(map[[32]byte]tokens.AccessToken)}
}

// verify returns the verified claims of raw, from the cache or from verify.
func (c *verifiedCache) verify(raw string, now time.Time, verify func(string) (tokens.AccessToken, error)) (tokens.AccessToken, error) {
	key := sha256.Sum256([]byte(raw))
	c.mu.Lock()
	at, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Before(at.Expiry) {
		return at, nil
	}
	at, err := verify(raw)
	if err != nil {
		return at, err
	}
	c.mu.Lock()
	if len(c.entries) >= c.max {
		// Drop expired entries; if that frees nothing, start over (bounded memory).
		for k, v := range c.entries {
			if !now.Before(v.Expiry) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
	}
	c.entries[key] = at
	c.mu.Unlock()
	return at, nil
}
