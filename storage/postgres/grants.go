package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/storage"
)

const grantCols = `id, client_id, scopes, nonce, identity, auth, session_id, created_at,
	absolute_expiry, revoked, revoked_at, dpop_jkt, resources, claims_request`

const refreshCols = `hash, grant_id, created_at, idle_expiry, used_at`

const (
	qInsertGrant = `INSERT INTO grants (id, client_id, scopes, nonce, subject, identity, auth,
	session_id, created_at, absolute_expiry, revoked, revoked_at, dpop_jkt, resources, claims_request)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`
	// qInsertGrantAndRefresh stores a grant and its first refresh token in one statement
	// (atomic, one round trip).
	qInsertGrantAndRefresh = `WITH g AS (` + qInsertGrant + ` RETURNING id)
	INSERT INTO refresh_tokens (` + refreshCols + `) SELECT $16, g.id, $17, $18, $19 FROM g`
	qGetGrant          = `SELECT ` + grantCols + ` FROM grants WHERE id = $1`
	qListGrants        = `SELECT ` + grantCols + ` FROM grants WHERE subject = $1 AND NOT revoked ORDER BY created_at, id`
	qRevokeGrant       = `UPDATE grants SET revoked = true, revoked_at = $1 WHERE id = $2 AND NOT revoked`
	qRevokeSessionGrts = `UPDATE grants SET revoked = true, revoked_at = $1 WHERE session_id = $2 AND session_id <> '' AND NOT revoked`
	qInsertRefresh     = `INSERT INTO refresh_tokens (` + refreshCols + `) VALUES ($1, $2, $3, $4, $5)`
	qGetRefresh        = `SELECT ` + refreshCols + ` FROM refresh_tokens WHERE hash = $1`
	// qGetRefreshAndGrant reads a token and its grant (refresh_tokens.grant_id is a
	// foreign key, so the grant exists).
	qGetRefreshAndGrant = `SELECT t.hash, t.grant_id, t.created_at, t.idle_expiry, t.used_at,
	g.id, g.client_id, g.scopes, g.nonce, g.identity, g.auth, g.session_id, g.created_at,
	g.absolute_expiry, g.revoked, g.revoked_at, g.dpop_jkt, g.resources, g.claims_request
	FROM refresh_tokens t JOIN grants g ON g.id = t.grant_id WHERE t.hash = $1`
	// qRotateRefresh rotates a usable token in one statement (one round trip, atomic):
	// cand locks the token row if it is unused, not idle-expired and its grant is live;
	// a concurrent rotation that committed first makes PostgreSQL re-check those
	// conditions on the new row version, which then fails (used_at <> 0), so exactly one
	// of N racers gets a row. used marks it used; ins stores the next token (a key
	// collision aborts the whole statement, leaving the old token unused). No row means
	// the rotation did not happen; the caller reads the token to say why.
	qRotateRefresh = `WITH cand AS (
		SELECT t.hash FROM refresh_tokens t JOIN grants g ON g.id = t.grant_id
		WHERE t.hash = $1 AND t.used_at = 0 AND (t.idle_expiry = 0 OR t.idle_expiry > $2)
		  AND NOT g.revoked AND (g.absolute_expiry = 0 OR g.absolute_expiry > $2)
		FOR UPDATE OF t
	), used AS (
		UPDATE refresh_tokens t SET used_at = $2, replaced_by = $3 FROM cand WHERE t.hash = cand.hash
		RETURNING t.hash, t.grant_id, t.created_at, t.idle_expiry, t.used_at
	), ins AS (
		INSERT INTO refresh_tokens (` + refreshCols + `)
		SELECT $3, used.grant_id, $4, $5, $6 FROM used
	)
	SELECT used.hash, used.grant_id, used.created_at, used.idle_expiry, used.used_at,
	g.id, g.client_id, g.scopes, g.nonce, g.identity, g.auth, g.session_id, g.created_at,
	g.absolute_expiry, g.revoked, g.revoked_at, g.dpop_jkt, g.resources, g.claims_request
	FROM used JOIN grants g ON g.id = used.grant_id`
)

// grantRow holds a grant's columns as scanned.
type grantRow struct {
	g                  storage.Grant
	scopes, idt, authT string
	resources, claims  string
	created, absExp    int64
	revokedAt          int64
}

func (r *grantRow) dest() []any {
	return []any{&r.g.ID, &r.g.ClientID, &r.scopes, &r.g.Nonce, &r.idt, &r.authT, &r.g.SessionID,
		&r.created, &r.absExp, &r.g.Revoked, &r.revokedAt, &r.g.DPoPJKT, &r.resources, &r.claims}
}

// decode finishes the grant once the row is scanned.
func (r *grantRow) decode(sl storage.Sealer) (storage.Grant, error) {
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
	if err := decodeIdentityAuth(sl, storage.SealContext("grants", "auth", g.ID), r.idt, r.authT, &g.Identity, &g.Auth); err != nil {
		return g, err
	}
	g.CreatedAt, g.AbsoluteExpiry, g.RevokedAt = fromMs(r.created), fromMs(r.absExp), fromMs(r.revokedAt)
	return g, nil
}

func scanGrant(sl storage.Sealer, sc scanner) (storage.Grant, error) {
	var r grantRow
	if err := sc.Scan(r.dest()...); err != nil {
		return storage.Grant{}, err
	}
	return r.decode(sl)
}

// refreshRow holds a refresh token's columns as scanned.
type refreshRow struct {
	r                     storage.RefreshToken
	created, idle, usedAt int64
}

func (r *refreshRow) dest() []any {
	return []any{&r.r.Hash, &r.r.GrantID, &r.created, &r.idle, &r.usedAt}
}

func (r *refreshRow) decode() storage.RefreshToken {
	t := r.r
	t.CreatedAt, t.IdleExpiry, t.UsedAt = fromMs(r.created), fromMs(r.idle), fromMs(r.usedAt)
	return t
}

func refreshArgs(r storage.RefreshToken) []any {
	return []any{r.Hash, r.GrantID, ms(r.CreatedAt), ms(r.IdleExpiry), ms(r.UsedAt)}
}

// grantArgs returns qInsertGrant's arguments: the grant encoded and its auth sealed.
func (s *Store) grantArgs(g storage.Grant) ([]any, error) {
	scopes, err := jsonText(g.Scopes)
	if err != nil {
		return nil, err
	}
	resources, err := jsonText(g.Resources)
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
		g.SessionID, ms(g.CreatedAt), ms(g.AbsoluteExpiry), g.Revoked, ms(g.RevokedAt), g.DPoPJKT, resources, claims}, nil
}

// CreateGrant stores the grant and, if first is non-nil, its first refresh token (whose
// GrantID is set to g.ID), in one transaction.
func (s *Store) CreateGrant(ctx context.Context, g storage.Grant, first *storage.RefreshToken) error {
	args, err := s.grantArgs(g)
	if err != nil {
		return err
	}
	if first == nil {
		_, err := s.pool.Exec(ctx, qInsertGrant, args...)
		return insertErr("create grant", err)
	}
	rt := *first
	rt.GrantID = g.ID
	_, err = s.pool.Exec(ctx, qInsertGrantAndRefresh, append(args, rt.Hash, ms(rt.CreatedAt), ms(rt.IdleExpiry), ms(rt.UsedAt))...)
	return insertErr("create grant with refresh token", err)
}

// GetGrant returns the grant (revoked or not).
func (s *Store) GetGrant(ctx context.Context, id string) (storage.Grant, error) {
	g, err := scanGrant(s.sealer, s.pool.QueryRow(ctx, qGetGrant, id))
	return g, getErr("get grant", err)
}

// RevokeGrant revokes the grant; revoking a revoked or missing grant is a no-op (the
// first RevokedAt is kept).
func (s *Store) RevokeGrant(ctx context.Context, id string, now time.Time) error {
	if _, err := s.pool.Exec(ctx, qRevokeGrant, ms(now), id); err != nil {
		return fmt.Errorf("postgres: revoke grant: %w", err)
	}
	return nil
}

// GetRefreshToken returns a refresh token by hash, used or not.
func (s *Store) GetRefreshToken(ctx context.Context, hash string) (storage.RefreshToken, error) {
	var r refreshRow
	if err := s.pool.QueryRow(ctx, qGetRefresh, hash).Scan(r.dest()...); err != nil {
		return storage.RefreshToken{}, getErr("get refresh token", err)
	}
	return r.decode(), nil
}

// RotateRefreshToken marks oldHash used at now and stores next (in the old token's grant)
// in one statement. See storage.GrantStore for the errors. When the rotation does not
// happen the token is read again to tell a reuse (storage.ErrReused, reported before its
// expiry or its grant is examined) from a missing, expired or revoked one.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash string, next storage.RefreshToken, now time.Time) (storage.Grant, storage.RefreshToken, error) {
	var (
		rr refreshRow
		gr grantRow
	)
	nowMs := ms(now)
	err := s.pool.QueryRow(ctx, qRotateRefresh, oldHash, nowMs, next.Hash, ms(next.CreatedAt),
		ms(next.IdleExpiry), ms(next.UsedAt)).Scan(append(rr.dest(), gr.dest()...)...)
	if err == nil {
		g, err := gr.decode(s.sealer)
		if err != nil {
			return storage.Grant{}, rr.decode(), err
		}
		return g, rr.decode(), nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return storage.Grant{}, storage.RefreshToken{}, insertErr("rotate refresh token", err)
	}
	// Not rotated: say why.
	old, err := s.refreshRefusal(ctx, oldHash, nowMs)
	return storage.Grant{}, old, err
}

// expired reports whether an expiry (unix ms, 0 = never) has passed at nowMs.
func expired(expiryMs, nowMs int64) bool {
	return expiryMs != 0 && expiryMs <= nowMs
}

// ListGrants lists the subject's unrevoked grants, oldest first.
func (s *Store) ListGrants(ctx context.Context, subject string) ([]storage.Grant, error) {
	rows, err := s.pool.Query(ctx, qListGrants, subject)
	if err != nil {
		return nil, fmt.Errorf("postgres: list grants: %w", err)
	}
	defer rows.Close()
	var out []storage.Grant
	for rows.Next() {
		g, err := scanGrant(s.sealer, rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list grants: %w", err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list grants: %w", err)
	}
	return out, nil
}

// RevokeSessionGrants revokes every unrevoked grant of the SSO session. An empty
// sessionID matches nothing.
func (s *Store) RevokeSessionGrants(ctx context.Context, sessionID string, now time.Time) error {
	if sessionID == "" {
		return nil
	}
	if _, err := s.pool.Exec(ctx, qRevokeSessionGrts, ms(now), sessionID); err != nil {
		return fmt.Errorf("postgres: revoke session grants: %w", err)
	}
	return nil
}
