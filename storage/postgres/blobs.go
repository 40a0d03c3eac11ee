package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.BlobStore = (*Store)(nil)

const (
	qGetBlob = `SELECT value FROM blobs WHERE key = $1 AND (expires_at = 0 OR expires_at > $2)`
	// A live blob with the same key is kept (rewritten with its own values, so the statement
	// always returns the stored value); an expired one is replaced. Concurrent inserts of one
	// key serialize on the key's index entry: the later ones see the first one's row.
	qPutBlobIfAbsent = `INSERT INTO blobs (key, value, expires_at) VALUES ($1, $2, $3)
	ON CONFLICT (key) DO UPDATE SET
		value      = CASE WHEN blobs.expires_at <> 0 AND blobs.expires_at <= $4 THEN excluded.value ELSE blobs.value END,
		expires_at = CASE WHEN blobs.expires_at <> 0 AND blobs.expires_at <= $4 THEN excluded.expires_at ELSE blobs.expires_at END
	RETURNING value`
	qPutBlob = `INSERT INTO blobs (key, value, expires_at) VALUES ($1, $2, $3)
	ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`
	qDeleteBlob         = `DELETE FROM blobs WHERE key = $1`
	qDeleteExpiredBlobs = `DELETE FROM blobs WHERE expires_at <> 0 AND expires_at <= $1`
)

// GetBlob returns a live blob's value; storage.ErrNotFound if it does not exist or has
// expired at now.
func (s *Store) GetBlob(ctx context.Context, key string, now time.Time) ([]byte, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, qGetBlob, key, ms(now)).Scan(&v)
	if err := getErr("get blob", err); err != nil {
		return nil, err
	}
	return s.openBlob(key, v)
}

// PutBlobIfAbsent stores the blob unless a live one with the key exists, and returns the
// value now stored.
func (s *Store) PutBlobIfAbsent(ctx context.Context, b storage.Blob, now time.Time) ([]byte, error) {
	var v []byte
	sealed, err := s.sealBlob(b)
	if err != nil {
		return nil, fmt.Errorf("postgres: put blob: %w", err)
	}
	if err := s.pool.QueryRow(ctx, qPutBlobIfAbsent, b.Key, sealed, ms(b.Expiry), ms(now)).Scan(&v); err != nil {
		return nil, fmt.Errorf("postgres: put blob if absent: %w", err)
	}
	return s.openBlob(b.Key, v)
}

// PutBlob stores the blob, replacing any earlier one.
func (s *Store) PutBlob(ctx context.Context, b storage.Blob) error {
	sealed, err := s.sealBlob(b)
	if err != nil {
		return fmt.Errorf("postgres: put blob: %w", err)
	}
	if _, err := s.pool.Exec(ctx, qPutBlob, b.Key, sealed, ms(b.Expiry)); err != nil {
		return fmt.Errorf("postgres: put blob: %w", err)
	}
	return nil
}

// DeleteBlob deletes the blob; a missing blob is not an error.
func (s *Store) DeleteBlob(ctx context.Context, key string) error {
	if _, err := s.pool.Exec(ctx, qDeleteBlob, key); err != nil {
		return fmt.Errorf("postgres: delete blob: %w", err)
	}
	return nil
}

// DeleteExpiredBlobs deletes the blobs expired at now and returns how many.
func (s *Store) DeleteExpiredBlobs(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, qDeleteExpiredBlobs, ms(now))
	if err != nil {
		return 0, fmt.Errorf("postgres: delete expired blobs: %w", err)
	}
	return tag.RowsAffected(), nil
}
