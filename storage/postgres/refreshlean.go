package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.RefreshHotPath = (*Store)(nil)

// qRotateRefreshOnly is qRotateRefresh without reading the grant back: the same single
// statement (lock the usable token, mark it used, insert the successor), returning only the
// old token. One round trip per rotation.
var qRotateRefreshOnly = qRotateRefresh[:strings.Index(qRotateRefresh, "\n\tSELECT used.hash")] + `
	SELECT used.hash, used.grant_id, used.created_at, used.idle_expiry, used.used_at FROM used`

// GetRefreshTokenAndGrant returns the token and its grant from one SELECT (a join).
func (s *Store) GetRefreshTokenAndGrant(ctx context.Context, hash string) (storage.RefreshToken, storage.Grant, error) {
	var (
		rr refreshRow
		gr grantRow
	)
	if err := s.pool.QueryRow(ctx, qGetRefreshAndGrant, hash).Scan(append(rr.dest(), gr.dest()...)...); err != nil {
		return storage.RefreshToken{}, storage.Grant{}, getErr("get refresh token and grant", err)
	}
	g, err := gr.decode(s.sealer)
	if err != nil {
		return rr.decode(), storage.Grant{}, fmt.Errorf("postgres: get refresh token and grant: %w", err)
	}
	return rr.decode(), g, nil
}

// RotateRefreshTokenOnly rotates in one statement (one round trip) when the rotation
// succeeds; a refused rotation reads the token and its grant to say why, with
// RotateRefreshToken's precedence and errors.
func (s *Store) RotateRefreshTokenOnly(ctx context.Context, oldHash string, next storage.RefreshToken, now time.Time) (storage.RefreshToken, error) {
	var rr refreshRow
	err := s.pool.QueryRow(ctx, qRotateRefreshOnly, oldHash, ms(now), next.Hash, ms(next.CreatedAt),
		ms(next.IdleExpiry), ms(next.UsedAt)).Scan(rr.dest()...)
	if err == nil {
		return rr.decode(), nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return storage.RefreshToken{}, insertErr("rotate refresh token", err)
	}
	return s.refreshRefusal(ctx, oldHash, ms(now))
}

// refreshRefusal reads the token and its grant after a rotation that did not happen and
// says why.
func (s *Store) refreshRefusal(ctx context.Context, oldHash string, nowMs int64) (storage.RefreshToken, error) {
	var (
		rr refreshRow
		gr grantRow
	)
	err := s.pool.QueryRow(ctx, qGetRefreshAndGrant, oldHash).Scan(append(rr.dest(), gr.dest()...)...)
	if err != nil {
		return storage.RefreshToken{}, getErr("rotate refresh token", err)
	}
	old := rr.decode()
	switch {
	case !old.UsedAt.IsZero():
		return old, fmt.Errorf("postgres: rotate refresh token: %w", storage.ErrReused)
	case expired(rr.idle, nowMs):
		return old, fmt.Errorf("postgres: rotate refresh token: idle expired: %w", storage.ErrNotFound)
	case gr.g.Revoked:
		return old, fmt.Errorf("postgres: rotate refresh token: grant revoked: %w", storage.ErrNotFound)
	case expired(gr.absExp, nowMs):
		return old, fmt.Errorf("postgres: rotate refresh token: grant expired: %w", storage.ErrNotFound)
	}
	// The token looks usable now, so a concurrent transaction changed it between the two
	// statements; the caller may retry.
	return old, fmt.Errorf("postgres: rotate refresh token: %w", storage.ErrConflict)
}
