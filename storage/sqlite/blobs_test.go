package sqlite

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

func TestBlobs(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	now := time.Now().UTC()
	if _, err := s.GetBlob(ctx, "k", now); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("missing blob: %v", err)
	}
	got, err := s.PutBlobIfAbsent(ctx, storage.Blob{Key: "k", Value: []byte("one")}, now)
	if err != nil || string(got) != "one" {
		t.Fatalf("first put: %q %v", got, err)
	}
	got, err = s.PutBlobIfAbsent(ctx, storage.Blob{Key: "k", Value: []byte("two")}, now)
	if err != nil || string(got) != "one" {
		t.Fatalf("second put must keep the first: %q %v", got, err)
	}
	// An expired blob is gone and may be replaced.
	if err := s.PutBlob(ctx, storage.Blob{Key: "e", Value: []byte("old"), Expiry: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	later := now.Add(2 * time.Minute)
	if _, err := s.GetBlob(ctx, "e", later); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("expired blob: %v", err)
	}
	if v, _ := s.GetBlob(ctx, "e", now); string(v) != "old" {
		t.Fatalf("live blob = %q", v)
	}
	got, err = s.PutBlobIfAbsent(ctx, storage.Blob{Key: "e", Value: []byte("new")}, later)
	if err != nil || string(got) != "new" {
		t.Fatalf("put over expired: %q %v", got, err)
	}
	if err := s.PutBlob(ctx, storage.Blob{Key: "x", Value: []byte("x"), Expiry: now.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	n, err := s.DeleteExpiredBlobs(ctx, later)
	if err != nil || n != 1 {
		t.Fatalf("gc: %d %v", n, err)
	}
	if err := s.DeleteBlob(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBlob(ctx, "k"); err != nil {
		t.Fatalf("delete missing: %v", err)
	}
	if _, err := s.GetBlob(ctx, "k", now); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("deleted blob: %v", err)
	}
}

// TestBlobRace: concurrent PutBlobIfAbsent on one key agree on one value (two handles act as
// two replicas).
func TestBlobRace(t *testing.T) {
	ctx := context.Background()
	a := openTemp(t)
	now := time.Now().UTC()
	var wg sync.WaitGroup
	vals := make([]string, 8)
	for i := range vals {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := a.PutBlobIfAbsent(ctx, storage.Blob{Key: "key", Value: []byte{byte('a' + i)}}, now)
			if err != nil {
				t.Error(err)
			}
			vals[i] = string(v)
		}()
	}
	wg.Wait()
	for _, v := range vals {
		if v != vals[0] {
			t.Fatalf("values differ: %q", vals)
		}
	}
}
