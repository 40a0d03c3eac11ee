package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.LocalPasswordUpdater = (*Store)(nil)

const qReplacePassword = `UPDATE local_users SET password_hash = ?, updated_at = ? WHERE username = ? AND password_hash = ?`

// ReplaceLocalPasswordHash sets the user's password hash to newHash if it is still oldHash:
// storage.ErrNotFound for a missing user, storage.ErrConflict when the hash changed meanwhile.
func (s *Store) ReplaceLocalPasswordHash(ctx context.Context, username, oldHash, newHash string, now time.Time) error {
	res, err := s.exec(ctx, qReplacePassword, newHash, ms(now), username, oldHash)
	err = mustAffect("replace local password hash", res, err)
	if !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	if _, err := s.GetLocalUser(ctx, username); err != nil {
		return err
	}
	return fmt.Errorf("sqlite: replace local password hash of %q: %w", username, storage.ErrConflict)
}
