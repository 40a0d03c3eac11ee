package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.BlobTaker = (*Store)(nil)

// qTakeBlob deletes a blob and returns its value and expiry (runs on the single writer, so
// concurrent takes serialize).
const qTakeBlob = `DELETE FROM blobs WHERE key = ? RETURNING value, expires_at`

// TakeBlob deletes the blob and returns its value if it was live at now.
func (s *Store) TakeBlob(ctx context.Context, key string, now time.Time) ([]byte, error) {
	var (
		v   []byte
		exp int64
	)
	err := s.writer.QueryRowContext(ctx, qTakeBlob, key).Scan(&v, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: take blob: %w", storage.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: take blob: %w", err)
	}
	if exp != 0 && exp <= ms(now) {
		return nil, fmt.Errorf("sqlite: take blob: expired: %w", storage.ErrNotFound)
	}
	return s.openBlob(key, v)
}
