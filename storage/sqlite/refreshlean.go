package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.RefreshHotPath = (*Store)(nil)

const (
	// qRotateRefresh marks an unused, unexpired token of a live grant used, in one statement:
	// the success path of a rotation is this UPDATE and the INSERT of the successor. The
	// grant's revocation is read in the same statement, under the write lock, so a family
	// revoked before the rotation began cannot rotate.
	qRotateRefresh = `UPDATE refresh_tokens SET used_at = ?1, replaced_by = ?2
	WHERE hash = ?3 AND used_at = 0 AND (idle_expiry = 0 OR idle_expiry > ?1)
	AND EXISTS (SELECT 1 FROM grants g WHERE g.id = refresh_tokens.grant_id AND g.revoked = 0
		AND (g.absolute_expiry = 0 OR g.absolute_expiry > ?1))
	RETURNING ` + refreshCols
	// qRefreshRefusal reads what decides why qRotateRefresh touched no row.
	qRefreshRefusal = `SELECT t.hash, t.grant_id, t.created_at, t.idle_expiry, t.used_at,
	g.revoked, g.absolute_expiry
	FROM refresh_tokens t JOIN grants g ON g.id = t.grant_id WHERE t.hash = ?`
)

// GetRefreshTokenAndGrant returns the token and its grant from one SELECT on the reader pool.
func (s *Store) GetRefreshTokenAndGrant(ctx context.Context, hash string) (storage.RefreshToken, storage.Grant, error) {
	var (
		rt                    storage.RefreshToken
		gr                    grantRow
		created, idle, usedAt int64
	)
	dest := append([]any{&rt.Hash, &rt.GrantID, &created, &idle, &usedAt}, gr.dest()...)
	if err := s.queryRow(ctx, qGetRefreshAndGrant, hash).Scan(dest...); err != nil {
		return rt, storage.Grant{}, getErr("get refresh token and grant", err)
	}
	rt.CreatedAt, rt.IdleExpiry, rt.UsedAt = fromMs(created), fromMs(idle), fromMs(usedAt)
	g, err := gr.decodeCached(s)
	if err != nil {
		return rt, storage.Grant{}, fmt.Errorf("sqlite: get refresh token and grant: %w", err)
	}
	return rt, g, nil
}

// RotateRefreshTokenOnly rotates in one BEGIN IMMEDIATE transaction of two statements when
// the rotation succeeds (UPDATE ... RETURNING, INSERT); a refused rotation reads the token
// and its grant in the same transaction to report why, with RotateRefreshToken's precedence
// (a used token is ErrReused before its expiry or its grant is examined).
func (s *Store) RotateRefreshTokenOnly(ctx context.Context, oldHash string, next storage.RefreshToken, now time.Time) (storage.RefreshToken, error) {
	var old storage.RefreshToken
	nowMs := ms(now)
	err := s.inTx(ctx, func(t *txn) error {
		var err error
		old, err = scanRefresh(t.queryRow(ctx, qRotateRefresh, nowMs, next.Hash, oldHash))
		if errors.Is(err, sql.ErrNoRows) {
			return s.refreshRefusal(ctx, t, oldHash, nowMs, &old)
		}
		if err != nil {
			return fmt.Errorf("sqlite: rotate refresh token: %w", err)
		}
		next.GrantID = old.GrantID
		if _, err := t.exec(ctx, qInsertRefresh, refreshArgs(next)...); err != nil {
			return insertErr("rotate refresh token: store next", err)
		}
		return nil
	})
	return old, err
}

// refreshRefusal reports why qRotateRefresh matched no row, filling old with the token.
func (s *Store) refreshRefusal(ctx context.Context, t *txn, oldHash string, nowMs int64, old *storage.RefreshToken) error {
	var created, idle, usedAt, revoked, absExp int64
	err := t.queryRow(ctx, qRefreshRefusal, oldHash).Scan(&old.Hash, &old.GrantID, &created, &idle, &usedAt, &revoked, &absExp)
	if err != nil {
		return getErr("rotate refresh token", err)
	}
	old.CreatedAt, old.IdleExpiry, old.UsedAt = fromMs(created), fromMs(idle), fromMs(usedAt)
	switch {
	case usedAt != 0:
		return fmt.Errorf("sqlite: rotate refresh token: %w", storage.ErrReused)
	case expired(old.IdleExpiry, nowMs):
		return fmt.Errorf("sqlite: rotate refresh token: idle expired: %w", storage.ErrNotFound)
	case revoked != 0:
		return fmt.Errorf("sqlite: rotate refresh token: grant revoked: %w", storage.ErrNotFound)
	case expired(fromMs(absExp), nowMs):
		return fmt.Errorf("sqlite: rotate refresh token: grant expired: %w", storage.ErrNotFound)
	}
	// Unreachable while the write lock is held: the row matched qRotateRefresh's conditions.
	return fmt.Errorf("sqlite: rotate refresh token: no row rotated for a usable token: %w", storage.ErrConflict)
}
