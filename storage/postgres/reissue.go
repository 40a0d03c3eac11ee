package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.RefreshReissuer = (*Store)(nil)

// supersededMark is the replaced_by of a token revoked unused by a reissue (no token hash
// has this form).
const supersededMark = "!superseded"

const (
	// qLockRefreshAndGrant reads a token, its successor and its grant, locking the token row
	// so that concurrent reissues of one token serialize.
	qLockRefreshAndGrant = `SELECT t.hash, t.grant_id, t.created_at, t.idle_expiry, t.used_at,
	g.id, g.client_id, g.scopes, g.nonce, g.identity, g.auth, g.session_id, g.created_at,
	g.absolute_expiry, g.revoked, g.revoked_at, g.dpop_jkt, g.resources, g.claims_request, t.replaced_by
	FROM refresh_tokens t JOIN grants g ON g.id = t.grant_id WHERE t.hash = $1 FOR UPDATE OF t`
	// qLockUsedAt locks the successor row (a concurrent rotation of it waits, then finds it
	// used) and reads whether it was used.
	qLockUsedAt     = `SELECT used_at FROM refresh_tokens WHERE hash = $1 FOR UPDATE`
	qRevokeSuccessr = `UPDATE refresh_tokens SET used_at = $1, replaced_by = '` + supersededMark + `' WHERE hash = $2`
	qGetReplacedBy  = `SELECT replaced_by FROM refresh_tokens WHERE hash = $1`
	qSetReplacedBy  = `UPDATE refresh_tokens SET replaced_by = $1 WHERE hash = $2`
)

// ReissueRefreshToken implements storage.RefreshReissuer in one transaction holding row
// locks on the token and its successor.
func (s *Store) ReissueRefreshToken(ctx context.Context, oldHash string, next storage.RefreshToken, grace time.Duration, now time.Time) (storage.Grant, storage.RefreshToken, error) {
	var (
		rr   refreshRow
		gr   grantRow
		succ string
	)
	nowMs := ms(now)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, qLockRefreshAndGrant, oldHash).Scan(append(append(rr.dest(), gr.dest()...), &succ)...); err != nil {
			return getErr("reissue refresh token", err)
		}
		old := rr.decode()
		switch {
		case old.UsedAt.IsZero():
			return fmt.Errorf("postgres: reissue refresh token: never rotated: %w", storage.ErrConflict)
		case gr.g.Revoked:
			return fmt.Errorf("postgres: reissue refresh token: grant revoked: %w", storage.ErrNotFound)
		case expired(gr.absExp, nowMs):
			return fmt.Errorf("postgres: reissue refresh token: grant expired: %w", storage.ErrNotFound)
		case now.Sub(old.UsedAt) > grace:
			return fmt.Errorf("postgres: reissue refresh token: rotated %s ago: %w", now.Sub(old.UsedAt), storage.ErrReused)
		case succ == supersededMark:
			return fmt.Errorf("postgres: reissue refresh token: superseded: %w", storage.ErrNotFound)
		case succ == "":
			return fmt.Errorf("postgres: reissue refresh token: no successor recorded: %w", storage.ErrReused)
		}
		var succUsed int64
		err := tx.QueryRow(ctx, qLockUsedAt, succ).Scan(&succUsed)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && succUsed != 0) {
			return fmt.Errorf("postgres: reissue refresh token: successor used: %w", storage.ErrReused)
		}
		if err != nil {
			return fmt.Errorf("postgres: reissue refresh token: %w", err)
		}
		if _, err := tx.Exec(ctx, qRevokeSuccessr, nowMs, succ); err != nil {
			return fmt.Errorf("postgres: reissue refresh token: revoke successor: %w", err)
		}
		if _, err := tx.Exec(ctx, qSetReplacedBy, next.Hash, oldHash); err != nil {
			return fmt.Errorf("postgres: reissue refresh token: %w", err)
		}
		next.GrantID = old.GrantID
		if _, err := tx.Exec(ctx, qInsertRefresh, refreshArgs(next)...); err != nil {
			return insertErr("reissue refresh token: store next", err)
		}
		return nil
	})
	if err != nil {
		return storage.Grant{}, rr.decode(), err
	}
	g, err := gr.decode(s.sealer)
	if err != nil {
		return storage.Grant{}, rr.decode(), err
	}
	return g, rr.decode(), nil
}

// RefreshTokenSuperseded implements storage.RefreshReissuer.
func (s *Store) RefreshTokenSuperseded(ctx context.Context, hash string) (bool, error) {
	var succ string
	if err := s.pool.QueryRow(ctx, qGetReplacedBy, hash).Scan(&succ); err != nil {
		return false, getErr("refresh token superseded", err)
	}
	return succ == supersededMark, nil
}
