package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.RefreshReissuer = (*Store)(nil)

// supersededMark is the replaced_by of a token revoked unused by a reissue (no token hash
// has this form).
const supersededMark = "!superseded"

const (
	qGetReplacedBy  = `SELECT replaced_by FROM refresh_tokens WHERE hash = ?`
	qGetUsedAt      = `SELECT used_at FROM refresh_tokens WHERE hash = ?`
	qRevokeSuccessr = `UPDATE refresh_tokens SET used_at = ?, replaced_by = '` + supersededMark + `' WHERE hash = ?`
	qSetReplacedBy  = `UPDATE refresh_tokens SET replaced_by = ? WHERE hash = ?`
)

// ReissueRefreshToken implements storage.RefreshReissuer in one BEGIN IMMEDIATE transaction.
func (s *Store) ReissueRefreshToken(ctx context.Context, oldHash string, next storage.RefreshToken, grace time.Duration, now time.Time) (storage.Grant, storage.RefreshToken, error) {
	var (
		gr  grantRow
		old storage.RefreshToken
	)
	nowMs := ms(now)
	err := s.inTx(ctx, func(t *txn) error {
		var created, idle, usedAt int64
		dest := append([]any{&old.Hash, &old.GrantID, &created, &idle, &usedAt}, gr.dest()...)
		if err := t.queryRow(ctx, qGetRefreshAndGrant, oldHash).Scan(dest...); err != nil {
			return getErr("reissue refresh token", err)
		}
		old.CreatedAt, old.IdleExpiry, old.UsedAt = fromMs(created), fromMs(idle), fromMs(usedAt)
		switch {
		case old.UsedAt.IsZero():
			return fmt.Errorf("sqlite: reissue refresh token: never rotated: %w", storage.ErrConflict)
		case gr.revoked != 0:
			return fmt.Errorf("sqlite: reissue refresh token: grant revoked: %w", storage.ErrNotFound)
		case expired(fromMs(gr.absExp), nowMs):
			return fmt.Errorf("sqlite: reissue refresh token: grant expired: %w", storage.ErrNotFound)
		case now.Sub(old.UsedAt) > grace:
			return fmt.Errorf("sqlite: reissue refresh token: rotated %s ago: %w", now.Sub(old.UsedAt), storage.ErrReused)
		}
		var succ string
		if err := t.queryRow(ctx, qGetReplacedBy, oldHash).Scan(&succ); err != nil {
			return fmt.Errorf("sqlite: reissue refresh token: %w", err)
		}
		if succ == supersededMark {
			return fmt.Errorf("sqlite: reissue refresh token: superseded: %w", storage.ErrNotFound)
		}
		if succ == "" {
			return fmt.Errorf("sqlite: reissue refresh token: no successor recorded: %w", storage.ErrReused)
		}
		var succUsed int64
		err := t.queryRow(ctx, qGetUsedAt, succ).Scan(&succUsed)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && succUsed != 0) {
			return fmt.Errorf("sqlite: reissue refresh token: successor used: %w", storage.ErrReused)
		}
		if err != nil {
			return fmt.Errorf("sqlite: reissue refresh token: %w", err)
		}
		if _, err := t.exec(ctx, qRevokeSuccessr, nowMs, succ); err != nil {
			return fmt.Errorf("sqlite: reissue refresh token: revoke successor: %w", err)
		}
		if _, err := t.exec(ctx, qSetReplacedBy, next.Hash, oldHash); err != nil {
			return fmt.Errorf("sqlite: reissue refresh token: %w", err)
		}
		next.GrantID = old.GrantID
		if _, err := t.exec(ctx, qInsertRefresh, refreshArgs(next)...); err != nil {
			return insertErr("reissue refresh token: store next", err)
		}
		return nil
	})
	if err != nil {
		return storage.Grant{}, old, err
	}
	g, err := gr.decode(s.sealer)
	if err != nil {
		return storage.Grant{}, old, err
	}
	return g, old, nil
}

// RefreshTokenSuperseded implements storage.RefreshReissuer.
func (s *Store) RefreshTokenSuperseded(ctx context.Context, hash string) (bool, error) {
	var succ string
	if err := s.queryRow(ctx, qGetReplacedBy, hash).Scan(&succ); err != nil {
		return false, getErr("refresh token superseded", err)
	}
	return succ == supersededMark, nil
}
