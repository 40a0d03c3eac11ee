package assembly

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// connectorKeys is one connector's connectors.KeyStore: blobs under a prefix of its own
// ("connector-key:{id}/"), so a connector reads and writes no other blob (not the SAML
// IdP's key, not another connector's). Replicas on one database share them.
type connectorKeys struct {
	blobs  storage.BlobStore
	prefix string
	now    func() time.Time
}

var _ connectors.KeyStore = (*connectorKeys)(nil)

// newConnectorKeys returns the key store of connector id, or nil when the backend cannot
// keep blobs (a connector that needs one then refuses to open, saying so).
func newConnectorKeys(store storage.Storage, id string) connectors.KeyStore {
	blobs, ok := store.(storage.BlobStore)
	if !ok {
		return nil
	}
	return &connectorKeys{blobs: blobs, prefix: "connector-key:" + id + "/", now: time.Now}
}

// Get implements connectors.KeyStore.
func (k *connectorKeys) Get(ctx context.Context, name string) ([]byte, error) {
	v, err := k.blobs.GetBlob(ctx, k.prefix+name, k.now().UTC())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, connectors.ErrKeyNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("connector key store: %w", err)
	}
	return v, nil
}

// PutIfAbsent implements connectors.KeyStore.
func (k *connectorKeys) PutIfAbsent(ctx context.Context, name string, value []byte, expiresAt time.Time) ([]byte, error) {
	if !expiresAt.IsZero() {
		expiresAt = expiresAt.UTC()
	}
	v, err := k.blobs.PutBlobIfAbsent(ctx, storage.Blob{Key: k.prefix + name, Value: value, Expiry: expiresAt}, k.now().UTC())
	if err != nil {
		return nil, fmt.Errorf("connector key store: %w", err)
	}
	return v, nil
}
