package storage

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"time"
)

// Blob is a small named value: a generated key pair, or short-lived state shared by replicas
// (a SAML service provider's participation in an SSO session, a logout in progress).
type Blob struct {
	Key   string
	Value []byte
	// Expiry is when the blob stops existing; zero: never.
	Expiry time.Time
}

// BlobStore keeps blobs. It is optional: a backend that implements it lets the SAML identity
// provider persist its generated key and track session participants across replicas. The
// SQLite and PostgreSQL backends implement it (storagetest.RunBlobs).
type BlobStore interface {
	// GetBlob returns the blob's value, or ErrNotFound when it does not exist or has expired
	// at now.
	GetBlob(ctx context.Context, key string, now time.Time) ([]byte, error)
	// PutBlobIfAbsent stores the blob unless a live one with the key exists, atomically
	// across replicas; it returns the value now stored (the caller's, or the existing one).
	PutBlobIfAbsent(ctx context.Context, b Blob, now time.Time) ([]byte, error)
	// PutBlob stores the blob, replacing any earlier one.
	PutBlob(ctx context.Context, b Blob) error
	// DeleteBlob deletes the blob; deleting a missing blob is not an error.
	DeleteBlob(ctx context.Context, key string) error
	// DeleteExpiredBlobs deletes blobs that expired before now and returns how many.
	DeleteExpiredBlobs(ctx context.Context, now time.Time) (int64, error)
}

// ConsumeOnce records key as used until expiry, atomically across replicas: the first call
// for a key returns nil; every later call before expiry returns ErrReused. It is the replay
// cache of single-use identifiers (SAML assertion and request IDs) on top of PutBlobIfAbsent:
// each caller offers a random value, and only the caller whose value was stored is first.
func ConsumeOnce(ctx context.Context, bs BlobStore, key string, expiry, now time.Time) error {
	mine := make([]byte, 16)
	if _, err := rand.Read(mine); err != nil {
		return fmt.Errorf("storage: consume once: %w", err)
	}
	got, err := bs.PutBlobIfAbsent(ctx, Blob{Key: key, Value: mine, Expiry: expiry}, now)
	if err != nil {
		return fmt.Errorf("storage: consume once: %w", err)
	}
	if subtle.ConstantTimeCompare(got, mine) != 1 {
		return ErrReused
	}
	return nil
}
