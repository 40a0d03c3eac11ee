package saml

import (
	"errors"
	"sync"
	"time"

	csaml "github.com/crewjam/saml"
)

// errReplayCacheFull refuses an assertion when the replay cache cannot remember it.
var errReplayCacheFull = errors.New("saml: replay cache is full")

// replayCache is a bounded, in-memory csaml.AssertionReplayCache: it remembers each accepted
// assertion ID until the assertion could no longer be accepted anyway. It is per process: a
// deployment with several replicas needs a shared store for this (see the package doc).
type replayCache struct {
	mu      sync.Mutex
	seen    map[string]time.Time
	max     int
	now     func() time.Time
	inserts int
}

func newReplayCache(max int, now func() time.Time) *replayCache {
	return &replayCache{seen: map[string]time.Time{}, max: max, now: now}
}

// Consume implements csaml.AssertionReplayCache. When full of unexpired IDs it refuses the
// assertion (fails closed) rather than forgetting an ID that could then be replayed.
func (c *replayCache) Consume(id string, expiresAt time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if exp, ok := c.seen[id]; ok && now.Before(exp) {
		return csaml.ErrAssertionReplayed
	}
	c.inserts++
	if len(c.seen) >= c.max || c.inserts%1024 == 0 {
		for k, exp := range c.seen {
			if !now.Before(exp) {
				delete(c.seen, k)
			}
		}
	}
	if len(c.seen) >= c.max {
		return errReplayCacheFull
	}
	c.seen[id] = expiresAt
	return nil
}
