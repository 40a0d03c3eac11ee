package assembly

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	csaml "github.com/crewjam/saml"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// replayLifetime is how long an ID without an expiry of its own is remembered.
const replayLifetime = 24 * time.Hour

// replayCache is the record of single-use message IDs (SAML assertion and request IDs),
// shared by every replica: storage.ConsumeOnce on the blob store, one key per ID under
// prefix. IDs are hashed into the key, so an upstream cannot choose its length.
type replayCache struct {
	blobs  storage.BlobStore
	prefix string
	now    func() time.Time
}

var _ connectors.ReplayCache = (*replayCache)(nil)

// newReplayCache returns the shared replay record under prefix; a backend without blobs
// cannot share one, and is refused.
func newReplayCache(store storage.Storage, prefix string) (*replayCache, error) {
	blobs, ok := store.(storage.BlobStore)
	if !ok {
		return nil, errors.New("the storage backend cannot keep replay records (storage.BlobStore)")
	}
	return &replayCache{blobs: blobs, prefix: prefix, now: time.Now}, nil
}

// Consume records id until expiresAt; connectors.ErrReplayed when it is already recorded.
func (c *replayCache) Consume(ctx context.Context, id string, expiresAt time.Time) error {
	now := c.now().UTC()
	if expiresAt.IsZero() {
		expiresAt = now.Add(replayLifetime)
	}
	sum := sha256.Sum256([]byte(id))
	err := storage.ConsumeOnce(ctx, c.blobs, c.prefix+hex.EncodeToString(sum[:]), expiresAt, now)
	if errors.Is(err, storage.ErrReused) {
		return connectors.ErrReplayed
	}
	if err != nil {
		return fmt.Errorf("replay cache: %w", err)
	}
	return nil
}

// samlReplayCache adapts a replayCache to crewjam's csaml.AssertionReplayCache (the SAML IdP's
// record of signed requests), which passes no context.
type samlReplayCache struct{ c *replayCache }

var _ csaml.AssertionReplayCache = samlReplayCache{}

// Consume implements csaml.AssertionReplayCache.
func (s samlReplayCache) Consume(id string, expiresAt time.Time) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.c.Consume(ctx, id, expiresAt)
	if errors.Is(err, connectors.ErrReplayed) {
		return csaml.ErrAssertionReplayed
	}
	return err
}
