package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// GC deletes statements. An expiry of 0 never expires. Refresh tokens of expiring grants
// are deleted (and counted) explicitly, before their grants.
const (
	qGCAuthRequests  = `DELETE FROM auth_requests WHERE expiry <> 0 AND expiry < ?`
	qGCAuthCodes     = `DELETE FROM auth_codes WHERE expiry <> 0 AND expiry < ?`
	qGCRefreshTokens = `DELETE FROM refresh_tokens WHERE (idle_expiry > 0 AND idle_expiry < ?1)
	OR grant_id IN (SELECT id FROM grants WHERE absolute_expiry > 0 AND absolute_expiry < ?1)`
	qGCGrants   = `DELETE FROM grants WHERE absolute_expiry > 0 AND absolute_expiry < ?`
	qGCSessions = `DELETE FROM sessions WHERE (idle_expiry > 0 AND idle_expiry < ?1)
	OR (absolute_expiry > 0 AND absolute_expiry < ?1)`
	qGCSigningKeys = `DELETE FROM signing_keys WHERE expires_at <> 0 AND expires_at < ?`
)

// GC deletes every row that expired before now, in one transaction, and counts them.
func (s *Store) GC(ctx context.Context, now time.Time) (storage.GCResult, error) {
	var r storage.GCResult
	steps := []struct {
		query string
		n     *int64
	}{
		{qGCAuthRequests, &r.AuthRequests},
		{qGCAuthCodes, &r.AuthCodes},
		{qGCRefreshTokens, &r.RefreshTokens},
		{qGCGrants, &r.Grants},
		{qGCSessions, &r.Sessions},
		{qGCSigningKeys, &r.SigningKeys},
	}
	nowMs := ms(now)
	err := s.inTx(ctx, func(t *txn) error {
		for _, st := range steps {
			res, err := t.exec(ctx, st.query, nowMs)
			if err != nil {
				return fmt.Errorf("sqlite: gc: %w", err)
			}
			if *st.n, err = res.RowsAffected(); err != nil {
				return fmt.Errorf("sqlite: gc: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return storage.GCResult{}, err
	}
	return r, nil
}
