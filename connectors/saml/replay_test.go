package saml_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	csaml "github.com/crewjam/saml"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// sharedCache is a connectors.ReplayCache shared by two connector instances (what storage
// gives replicas; the storage-backed one is tested in storage/storagetest and cmd/gatehouse).
type sharedCache struct {
	mu   sync.Mutex
	seen map[string]bool
	err  error
}

func (c *sharedCache) Consume(_ context.Context, id string, _ time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	if c.seen[id] {
		return connectors.ErrReplayed
	}
	c.seen[id] = true
	return nil
}

// TestReplayAcrossReplicas: the assertion replay record is the shared one from Deps.
// Attack (issue 12 item 7): a captured SAML Response accepted at replica A is posted again to
// replica B, whose per-process replay cache has never seen it, and is accepted.
func TestReplayAcrossReplicas(t *testing.T) {
	t.Parallel()
	ti := newIdP(t, idpOptions{})
	cache := &sharedCache{seen: map[string]bool{}}
	a := newSP(t, ti, spOptions{replay: cache})
	b := newSP(t, ti, spOptions{replay: cache})
	action, vals, step := a.login(t, newBrowser(t), "st")
	if _, err := a.finish("st", step.Stash, action, vals); err != nil {
		t.Fatalf("Finish at replica A: %v\n%s", err, a.logs)
	}
	refused(t, b, b.finishErr("st", step.Stash, action, vals), csaml.ErrAssertionReplayed, "already used")
}

// TestReplayCacheDownFailsClosed: when the shared replay record cannot be written, the
// assertion is refused (it could otherwise be replayed).
func TestReplayCacheDownFailsClosed(t *testing.T) {
	t.Parallel()
	ti := newIdP(t, idpOptions{})
	s := newSP(t, ti, spOptions{replay: &sharedCache{err: errors.New("database is down")}})
	action, vals, step := s.login(t, newBrowser(t), "st")
	refused(t, s, s.finishErr("st", step.Stash, action, vals), nil, "temporarily unavailable")
}
