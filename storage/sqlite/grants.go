package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

const grantCols = `id, client_id, scopes, nonce, identity, auth, session_id, created_at,
	absolute_expiry, revoked, revoked_at, dpop_jkt, resources, claims_request`

const refreshCols = `hash, grant_id, created_at, idle_expiry, used_at`

const (
	qInsertGrant = `INSERT INTO grants (id, client_id, scopes, nonce, subject, identity, auth,
	session_id, created_at, absolute_expiry, revoked, revoked_at, dpop_jkt, resources, claims_request)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qGetGrant          = `SELECT ` + grantCols + ` FROM grants WHERE id = ?`
	qListGrants        = `SELECT ` + grantCols + ` FROM grants WHERE subject = ? AND revoked = 0 ORDER BY created_at, id`
	qRevokeGrant       = `UPDATE grants SET revoked = 1, revoked_at = ? WHERE id = ? AND revoked = 0`
	qRevokeSessionGrts = `UPDATE grants SET revoked = 1, revoked_at = ? WHERE session_id = ? AND session_id <> '' AND revoked = 0`
	qInsertRefresh     = `INSERT INTO refresh_tokens (` + refreshCols + `) VALUES (?, ?, ?, ?, ?)`
	qGetRefresh        = `SELECT ` + refreshCols + ` FROM refresh_tokens WHERE hash = ?`
	qUseRefresh        = `UPDATE refresh_tokens SET used_at = ?, replaced_by = ? WHERE hash = ?`
	// qGetRefreshAndGrant reads a token and its grant in one step (refresh_tokens.grant_id
	// is a foreign key, so the grant exists).
	qGetRefreshAndGrant = `SELECT t.hash, t.grant_id, t.created_at, t.idle_expiry, t.used_at,
	g.id, g.client_id, g.scopes, g.nonce, g.identity, g.auth, g.session_id, g.created_at,
	g.absolute_expiry, g.revoked, g.revoked_at, g.dpop_jkt, g.resources, g.claims_request
	FROM refresh_tokens t JOIN grants g ON g.id = t.grant_id WHERE t.hash = ?`
)

// grantRow holds a grant's columns as scanned.
type grantRow struct {
	g                                  storage.Grant
	scopes, idt, authT, resources      []byte
	claims                             string
	created, absExp, revoked, revoked2 int64
}

func (r *grantRow) dest() []any {
	return []any{&r.g.ID, &r.g.ClientID, &r.scopes, &r.g.Nonce, &r.idt, &r.authT, &r.g.SessionID,
		&r.created, &r.absExp, &r.revoked, &r.revoked2, &r.g.DPoPJKT, &r.resources, &r.claims}
}

// decode finishes the grant once the row is scanned.
func (r *grantRow) decode(sl storage.Sealer) (storage.Grant, error) {
	return r.finish(func(g *storage.Grant) error {
		return decodeIdentityAuth(sl, storage.SealContext("grants", "auth", g.ID), r.idt, r.authT, &g.Identity, &g.Auth)
	})
}

// decodeCached is decode with the identity and auth columns decoded through the Store's
// cache (decodedGrants): the hot reads of a grant (userinfo, introspection, refresh).
func (r *grantRow) decodeCached(s *Store) (storage.Grant, error) {
	return r.finish(func(g *storage.Grant) error {
		return s.decoded.decode(s.sealer, g.ID, r.idt, r.authT, &g.Identity, &g.Auth)
	})
}

// finish decodes every column but identity and auth, which identityAuth decodes.
func (r *grantRow) finish(identityAuth func(g *storage.Grant) error) (storage.Grant, error) {
	g := r.g
	var err error
	if g.Scopes, err = decodeStrings(r.scopes); err != nil {
		return g, err
	}
	if g.Resources, err = decodeStrings(r.resources); err != nil {
		return g, err
	}
	if g.RequestedClaims, err = storage.DecodeRequestedClaims(r.claims); err != nil {
		return g, err
	}
	if err := identityAuth(&g); err != nil {
		return g, err
	}
	g.CreatedAt, g.AbsoluteExpiry = fromMs(r.created), fromMs(r.absExp)
	g.Revoked, g.RevokedAt = r.revoked != 0, fromMs(r.revoked2)
	return g, nil
}

func scanGrant(sl storage.Sealer, sc scanner) (storage.Grant, error) {
	var r grantRow
	if err := sc.Scan(r.dest()...); err != nil {
		return storage.Grant{}, err
	}
	return r.decode(sl)
}

func scanRefresh(sc scanner) (storage.RefreshToken, error) {
	var (
		r                     storage.RefreshToken
		created, idle, usedAt int64
	)
	if err := sc.Scan(&r.Hash, &r.GrantID, &created, &idle, &usedAt); err != nil {
		return r, err
	}
	r.CreatedAt, r.IdleExpiry, r.UsedAt = fromMs(created), fromMs(idle), fromMs(usedAt)
	return r, nil
}

func refreshArgs(r storage.RefreshToken) []any {
	return []any{r.Hash, r.GrantID, ms(r.CreatedAt), ms(r.IdleExpiry), ms(r.UsedAt)}
}

// grantArgs returns qInsertGrant's arguments: the grant encoded and its auth sealed.
func (s *Store) grantArgs(g storage.Grant) ([]any, error) {
	scopes, err := stringsText(g.Scopes)
	if err != nil {
		return nil, err
	}
	resources, err := stringsText(g.Resources)
	if err != nil {
		return nil, err
	}
	claims, err := storage.EncodeRequestedClaims(g.RequestedClaims)
	if err != nil {
		return nil, err
	}
	enc, err := encodeIdentityAuth(s.sealer, storage.SealContext("grants", "auth", g.ID), g.Identity, g.Auth)
	if err != nil {
		return nil, err
	}
	return []any{g.ID, g.ClientID, scopes, g.Nonce, g.Identity.Subject, enc.identity, enc.auth,
		g.SessionID, ms(g.CreatedAt), ms(g.AbsoluteExpiry), boolInt(g.Revoked), ms(g.RevokedAt), g.DPoPJKT, resources, claims}, nil
}

// CreateGrant stores the grant and, if first is non-nil, its first refresh token (whose
// GrantID is set to g.ID), in one transaction.
func (s *Store) CreateGrant(ctx context.Context, g storage.Grant, first *storage.RefreshToken) error {
	args, err := s.grantArgs(g)
	if err != nil {
		return err
	}
	if first == nil {
		_, err := s.exec(ctx, qInsertGrant, args...)
		return insertErr("create grant", err)
	}
	return s.inTx(ctx, func(t *txn) error {
		if _, err := t.exec(ctx, qInsertGrant, args...); err != nil {
			return insertErr("create grant", err)
		}
		rt := *first
		rt.GrantID = g.ID
		_, err := t.exec(ctx, qInsertRefresh, refreshArgs(rt)...)
		return insertErr("create grant: refresh token", err)
	})
}

// GetGrant returns the grant (revoked or not).
func (s *Store) GetGrant(ctx context.Context, id string) (storage.Grant, error) {
	var r grantRow
	if err := s.queryRow(ctx, qGetGrant, id).Scan(r.dest()...); err != nil {
		return storage.Grant{}, getErr("get grant", err)
	}
	g, err := r.decodeCached(s)
	if err != nil {
		return storage.Grant{}, fmt.Errorf("sqlite: get grant: %w", err)
	}
	return g, nil
}

// RevokeGrant revokes the grant; revoking a revoked or missing grant is a no-op (the
// first RevokedAt is kept).
func (s *Store) RevokeGrant(ctx context.Context, id string, now time.Time) error {
	if _, err := s.exec(ctx, qRevokeGrant, ms(now), id); err != nil {
		return fmt.Errorf("sqlite: revoke grant: %w", err)
	}
	return nil
}

// GetRefreshToken returns a refresh token by hash, used or not.
func (s *Store) GetRefreshToken(ctx context.Context, hash string) (storage.RefreshToken, error) {
	r, err := scanRefresh(s.queryRow(ctx, qGetRefresh, hash))
	return r, getErr("get refresh token", err)
}

// RotateRefreshToken marks oldHash used at now and stores next (in the old token's grant)
// in one BEGIN IMMEDIATE transaction. See storage.GrantStore for the errors. A used token
// is reported as storage.ErrReused before its expiry or its grant is examined.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash string, next storage.RefreshToken, now time.Time) (storage.Grant, storage.RefreshToken, error) {
	var (
		gr  grantRow // decoded after commit, to hold the write lock briefly
		old storage.RefreshToken
	)
	nowMs := ms(now)
	err := s.inTx(ctx, func(t *txn) error {
		var (
			created, idle, usedAt int64
		)
		dest := append([]any{&old.Hash, &old.GrantID, &created, &idle, &usedAt}, gr.dest()...)
		if err := t.queryRow(ctx, qGetRefreshAndGrant, oldHash).Scan(dest...); err != nil {
			return getErr("rotate refresh token", err)
		}
		old.CreatedAt, old.IdleExpiry, old.UsedAt = fromMs(created), fromMs(idle), fromMs(usedAt)
		if !old.UsedAt.IsZero() {
			return fmt.Errorf("sqlite: rotate refresh token: %w", storage.ErrReused)
		}
		if expired(old.IdleExpiry, nowMs) {
			return fmt.Errorf("sqlite: rotate refresh token: idle expired: %w", storage.ErrNotFound)
		}
		if gr.revoked != 0 {
			return fmt.Errorf("sqlite: rotate refresh token: grant revoked: %w", storage.ErrNotFound)
		}
		if expired(fromMs(gr.absExp), nowMs) {
			return fmt.Errorf("sqlite: rotate refresh token: grant expired: %w", storage.ErrNotFound)
		}
		if _, err := t.exec(ctx, qUseRefresh, nowMs, next.Hash, oldHash); err != nil {
			return fmt.Errorf("sqlite: rotate refresh token: %w", err)
		}
		next.GrantID = old.GrantID
		if _, err := t.exec(ctx, qInsertRefresh, refreshArgs(next)...); err != nil {
			return insertErr("rotate refresh token: store next", err)
		}
		old.UsedAt = fromMs(nowMs)
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

// expired reports whether an expiry (unix ms, 0 = never) has passed at nowMs.
func expired(t time.Time, nowMs int64) bool {
	return !t.IsZero() && ms(t) <= nowMs
}

// ListGrants lists the subject's unrevoked grants, oldest first.
func (s *Store) ListGrants(ctx context.Context, subject string) ([]storage.Grant, error) {
	rows, err := s.query(ctx, qListGrants, subject)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list grants: %w", err)
	}
	defer rows.Close()
	var out []storage.Grant
	for rows.Next() {
		g, err := scanGrant(s.sealer, rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list grants: %w", err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list grants: %w", err)
	}
	return out, nil
}

// RevokeSessionGrants revokes every unrevoked grant of the SSO session. An empty
// sessionID matches nothing.
func (s *Store) RevokeSessionGrants(ctx context.Context, sessionID string, now time.Time) error {
	if sessionID == "" {
		return nil
	}
	if _, err := s.exec(ctx, qRevokeSessionGrts, ms(now), sessionID); err != nil {
		return fmt.Errorf("sqlite: revoke session grants: %w", err)
	}
	return nil
}
