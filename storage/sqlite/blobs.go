package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Blob statements run unprepared (like the MFA ones): they are rare.
var _ storage.BlobStore = (*Store)(nil)

const (
	qGetBlob = `SELECT value FROM blobs WHERE key = ? AND (expires_at = 0 OR expires_at > ?)`
	// An expired blob with the same key is replaced; a live one is kept and returned.
	qPutBlobIfAbsent = `INSERT INTO blobs (key, value, expires_at) VALUES (?, ?, ?)
	ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
	WHERE blobs.expires_at <> 0 AND blobs.expires_at <= ?
	RETURNING value`
	qPutBlob           = `INSERT OR REPLACE INTO blobs (key, value, expires_at) VALUES (?, ?, ?)`
	qDeleteBlob        = `DELETE FROM blobs WHERE key = ?`
	qDeleteExpiredBlob = `DELETE FROM blobs WHERE expires_at <> 0 AND expires_at <= ?`
)

// GetBlob returns a live blob's value.
func (s *Store) GetBlob(ctx context.Context, key string, now time.Time) ([]byte, error) {
	var v []byte
	err := s.reader.QueryRowContext(ctx, qGetBlob, key, ms(now)).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: get blob: %w", storage.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get blob: %w", err)
	}
	return s.openBlob(key, v)
}

// PutBlobIfAbsent stores the blob unless a live one exists and returns the stored value.
func (s *Store) PutBlobIfAbsent(ctx context.Context, b storage.Blob, now time.Time) ([]byte, error) {
	var v []byte
	sealed, err := s.sealBlob(b)
	if err != nil {
		return nil, fmt.Errorf("sqlite: put blob: %w", err)
	}
	err = s.writer.QueryRowContext(ctx, qPutBlobIfAbsent, b.Key, sealed, ms(b.Expiry), ms(now)).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		// A live blob exists: the upsert's WHERE kept it.
		return s.GetBlob(ctx, b.Key, now)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: put blob: %w", err)
	}
	return s.openBlob(b.Key, v)
}

// PutBlob stores the blob, replacing any earlier one.
func (s *Store) PutBlob(ctx context.Context, b storage.Blob) error {
	sealed, err := s.sealBlob(b)
	if err != nil {
		return fmt.Errorf("sqlite: put blob: %w", err)
	}
	if _, err := s.writer.ExecContext(ctx, qPutBlob, b.Key, sealed, ms(b.Expiry)); err != nil {
		return fmt.Errorf("sqlite: put blob: %w", err)
	}
	return nil
}

// DeleteBlob deletes the blob.
func (s *Store) DeleteBlob(ctx context.Context, key string) error {
	if _, err := s.writer.ExecContext(ctx, qDeleteBlob, key); err != nil {
		return fmt.Errorf("sqlite: delete blob: %w", err)
	}
	return nil
}

// DeleteExpiredBlobs deletes expired blobs.
func (s *Store) DeleteExpiredBlobs(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.writer.ExecContext(ctx, qDeleteExpiredBlob, ms(now))
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete expired blobs: %w", err)
	}
	return res.RowsAffected()
}
