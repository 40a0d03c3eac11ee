package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.BlobTaker = (*Store)(nil)

// qTakeBlob deletes a blob and returns its value and expiry; of concurrent deletes of one
// row exactly one returns it.
const qTakeBlob = `DELETE FROM blobs WHERE key = $1 RETURNING value, expires_at`

// TakeBlob deletes the blob and returns its value if it was live at now.
func (s *Store) TakeBlob(ctx context.Context, key string, now time.Time) ([]byte, error) {
	var (
		v   []byte
		exp int64
	)
	err := s.pool.QueryRow(ctx, qTakeBlob, key).Scan(&v, &exp)
	if err := getErr("take blob", err); err != nil {
		return nil, err
	}
	if exp != 0 && exp <= ms(now) {
		return nil, fmt.Errorf("postgres: take blob: expired: %w", storage.ErrNotFound)
	}
	return s.openBlob(key, v)
}
