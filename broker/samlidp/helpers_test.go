package samlidp

import (
	"context"
	"sync"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehouse-id/gatehouse/storage"
)

func xmlDoc(el *etree.Element) *etree.Document {
	d := etree.NewDocument()
	d.SetRoot(el)
	return d
}

// memBlobs is an in-memory storage.BlobStore.
type memBlobs struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (b *memBlobs) GetBlob(_ context.Context, key string, _ time.Time) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.m[key]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return v, nil
}

func (b *memBlobs) PutBlobIfAbsent(_ context.Context, bl storage.Blob, _ time.Time) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if v, ok := b.m[bl.Key]; ok {
		return v, nil
	}
	b.m[bl.Key] = bl.Value
	return bl.Value, nil
}

func (b *memBlobs) PutBlob(_ context.Context, bl storage.Blob) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.m[bl.Key] = bl.Value
	return nil
}

func (b *memBlobs) DeleteBlob(_ context.Context, key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, key)
	return nil
}

func (b *memBlobs) DeleteExpiredBlobs(context.Context, time.Time) (int64, error) { return 0, nil }
