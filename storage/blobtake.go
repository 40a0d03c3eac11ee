package storage

import (
	"context"
	"time"
)

// BlobTaker is implemented by backends that can read and delete a blob in one atomic step,
// for single-use state shared by replicas (a WebAuthn ceremony begun on the account page).
// It is optional, next to BlobStore; the SQLite and PostgreSQL backends implement it
// (storagetest.RunBlobTake).
type BlobTaker interface {
	// TakeBlob deletes the blob and returns the value it had. ErrNotFound when it does not
	// exist or has expired at now (an expired blob is deleted too). Of concurrent takes of
	// one blob exactly one gets the value.
	TakeBlob(ctx context.Context, key string, now time.Time) ([]byte, error)
}
