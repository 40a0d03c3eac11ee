package storage

import (
	"context"
	"time"
)

// LocalPasswordUpdater replaces a local user's password hash only if it is still the one the
// caller read (compare-and-swap). It is optional: the local connector uses it to rehash a
// password at the configured bcrypt cost when the user logs in, and a concurrent password
// change must never be overwritten by a rehash of the old password. The SQLite and
// PostgreSQL backends implement it (storagetest.RunLocalPasswordUpdates).
type LocalPasswordUpdater interface {
	// ReplaceLocalPasswordHash sets the user's password hash to newHash and updated_at to
	// now if the stored hash equals oldHash. It returns ErrNotFound when the user does not
	// exist and ErrConflict when the stored hash is no longer oldHash.
	ReplaceLocalPasswordHash(ctx context.Context, username, oldHash, newHash string, now time.Time) error
}
