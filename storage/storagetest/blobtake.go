package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// RunBlobTake runs the conformance tests of the optional storage.BlobTaker. A backend that
// implements it calls RunBlobTake next to RunBlobs; the tests fail if it does not.
func RunBlobTake(t *testing.T, open func(t *testing.T) storage.Storage) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b storage.BlobStore, tk storage.BlobTaker)
	}{
		{"TakeOnce", testBlobTakeOnce},
		{"TakeExpired", testBlobTakeExpired},
		{"TakeRace", testBlobTakeRace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			tt.fn(t, implements[storage.BlobStore](t, s), implements[storage.BlobTaker](t, s))
		})
	}
}

func testBlobTakeOnce(t *testing.T, b storage.BlobStore, tk storage.BlobTaker) {
	ctx := ctxFor(t)
	now := baseTime()
	_, err := tk.TakeBlob(ctx, "missing", now)
	wantErr(t, "take missing", err, storage.ErrNotFound)
	wantErr(t, "put", b.PutBlob(ctx, storage.Blob{Key: "k", Value: []byte("state"), Expiry: now.Add(time.Minute)}), nil)
	wantErr(t, "put other", b.PutBlob(ctx, storage.Blob{Key: "k2", Value: []byte("other")}), nil)
	v, err := tk.TakeBlob(ctx, "k", now)
	wantErr(t, "take", err, nil)
	if string(v) != "state" {
		t.Fatalf("take = %q, want %q", v, "state")
	}
	_, err = tk.TakeBlob(ctx, "k", now)
	wantErr(t, "take again", err, storage.ErrNotFound)
	_, err = b.GetBlob(ctx, "k", now)
	wantErr(t, "get after take", err, storage.ErrNotFound)
	wantBlob(t, b, "k2", now, "other")
}

func testBlobTakeExpired(t *testing.T, b storage.BlobStore, tk storage.BlobTaker) {
	ctx := ctxFor(t)
	now := baseTime()
	wantErr(t, "put", b.PutBlob(ctx, storage.Blob{Key: "k", Value: []byte("old"), Expiry: now}), nil)
	_, err := tk.TakeBlob(ctx, "k", now)
	wantErr(t, "take expired", err, storage.ErrNotFound)
	_, err = b.GetBlob(ctx, "k", now.Add(-time.Hour))
	wantErr(t, "expired blob is gone after take", err, storage.ErrNotFound)
}

func testBlobTakeRace(t *testing.T, b storage.BlobStore, tk storage.BlobTaker) {
	ctx := ctxFor(t)
	now := baseTime()
	const racers = 8
	wantErr(t, "put", b.PutBlob(ctx, storage.Blob{Key: "ceremony", Value: []byte("once")}), nil)
	errs := make([]error, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			<-start
			_, errs[i] = tk.TakeBlob(ctx, "ceremony", now)
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, storage.ErrNotFound):
			t.Fatalf("racer %d: %v", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d concurrent takes got the blob, want exactly 1 (%s)", won, racers, fmt.Sprint(errs))
	}
}
