package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.LocalPasswordUpdater = (*Store)(nil)

const qReplacePassword = `UPDATE local_users SET password_hash = $1, updated_at = $2 WHERE username = $3 AND password_hash = $4`

// ReplaceLocalPasswordHash sets the user's password hash to newHash if it is still oldHash:
// storage.ErrNotFound for a missing user, storage.ErrConflict when the hash changed meanwhile.
func (s *Store) ReplaceLocalPasswordHash(ctx context.Context, username, oldHash, newHash string, now time.Time) error {
	tag, err := s.pool.Exec(ctx, qReplacePassword, newHash, ms(now), username, oldHash)
	err = mustAffect("replace local password hash", tag, err)
	if !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	if _, err := s.GetLocalUser(ctx, username); err != nil {
		return err
	}
	return fmt.Errorf("postgres: replace local password hash of %q: %w", username, storage.ErrConflict)
}
