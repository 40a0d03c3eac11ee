package saml

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	csaml "github.com/crewjam/saml"

	"github.com/gatehouse-id/gatehouse/connectors"
)

var (
	// errReplayCacheFull refuses an assertion when the replay cache cannot remember it.
	errReplayCacheFull = errors.New("saml: replay cache is full")
	// errReplayCacheDown refuses an assertion when the shared replay cache cannot be reached.
	errReplayCacheDown = errors.New("saml: replay cache unavailable")
)

// replayTimeout bounds one call to the shared replay cache (crewjam passes no context).
const replayTimeout = 10 * time.Second

// sharedReplay is a csaml.AssertionReplayCache over the connectors.ReplayCache the broker
// passes in Deps (storage-backed, shared by every replica).
type sharedReplay struct{ cache connectors.ReplayCache }

// Consume implements csaml.AssertionReplayCache; any failure refuses the assertion.
func (s sharedReplay) Consume(id string, expiresAt time.Time) error {
	ctx, cancel := context.WithTimeout(context.Background(), replayTimeout)
	defer cancel()
	err := s.cache.Consume(ctx, id, expiresAt)
	switch {
	case errors.Is(err, connectors.ErrReplayed):
		return csaml.ErrAssertionReplayed
	case err != nil:
		return fmt.Errorf("%w: %w", errReplayCacheDown, err)
	}
	return nil
}

// replayCacheFor is the shared cache from deps, or a bounded in-memory one of size max.
func replayCacheFor(deps connectors.Deps, max int, now func() time.Time) csaml.AssertionReplayCache {
	if deps.ReplayCache != nil {
		return sharedReplay{deps.ReplayCache}
	}
	return newReplayCache(max, now)
}

// replayCache is a bounded, in-memory csaml.AssertionReplayCache: it remembers each accepted
// assertion ID until the assertion could no longer be accepted anyway. It is per process,
// used only when the broker passes no shared connectors.ReplayCache.
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
