package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse-id/gatehouse/storage"
)

// GC statements: each deletes at most gcBatch expired rows (chosen by ctid, so the
// deletion is a TID scan) and commits on its own, so no request waits long behind a
// collection. An expiry of 0 never expires. Refresh tokens of expiring grants are
// deleted (and counted) before their grants.
const (
	qGCAuthRequests = `DELETE FROM auth_requests WHERE ctid = ANY(ARRAY(
	SELECT ctid FROM auth_requests WHERE expiry <> 0 AND expiry < $1 LIMIT $2))`
	qGCAuthCodes = `DELETE FROM auth_codes WHERE ctid = ANY(ARRAY(
	SELECT ctid FROM auth_codes WHERE expiry <> 0 AND expiry < $1 LIMIT $2))`
	qGCRefreshTokens = `DELETE FROM refresh_tokens WHERE ctid = ANY(ARRAY(
	SELECT ctid FROM refresh_tokens WHERE idle_expiry > 0 AND idle_expiry < $1
	UNION
	SELECT t.ctid FROM refresh_tokens t JOIN grants g ON g.id = t.grant_id
	WHERE g.absolute_expiry > 0 AND g.absolute_expiry < $1
	LIMIT $2))`
	qGCGrants = `DELETE FROM grants WHERE ctid = ANY(ARRAY(
	SELECT ctid FROM grants WHERE absolute_expiry > 0 AND absolute_expiry < $1 LIMIT $2))`
	qGCSessions = `DELETE FROM sessions WHERE ctid = ANY(ARRAY(
	SELECT ctid FROM sessions WHERE idle_expiry > 0 AND idle_expiry < $1
	UNION
	SELECT ctid FROM sessions WHERE absolute_expiry > 0 AND absolute_expiry < $1
	LIMIT $2))`
	qGCSigningKeys = `DELETE FROM signing_keys WHERE ctid = ANY(ARRAY(
	SELECT ctid FROM signing_keys WHERE expires_at <> 0 AND expires_at < $1 LIMIT $2))`

	qGCTryLock = `SELECT pg_try_advisory_lock($1, $2)`
	qGCUnlock  = `SELECT pg_advisory_unlock($1, $2)`
)

// gcMaxBatches bounds one collection of one table; the rest waits for the next GC.
const gcMaxBatches = 10_000

// GC deletes every row that expired before now, in batches of gcBatch rows, and counts
// them. Only one replica collects at a time: GC holds a session advisory lock while it
// runs, and a GC that finds the lock taken returns an empty result at once. The counts
// cover the batches committed before an error.
func (s *Store) GC(ctx context.Context, now time.Time) (storage.GCResult, error) {
	var r storage.GCResult
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return r, fmt.Errorf("postgres: gc: %w", err)
	}
	var locked bool
	if err := conn.QueryRow(ctx, qGCTryLock, lockGC, s.lockKey).Scan(&locked); err != nil {
		conn.Release()
		return r, fmt.Errorf("postgres: gc: lock: %w", err)
	}
	if !locked {
		conn.Release()
		s.logger.DebugContext(ctx, "gc: another replica is collecting; skipped")
		return r, nil
	}
	defer unlockGC(ctx, conn, s.lockKey)

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
	for _, st := range steps {
		for range gcMaxBatches {
			tag, err := conn.Exec(ctx, st.query, nowMs, gcBatch)
			if err != nil {
				return r, fmt.Errorf("postgres: gc: %w", err)
			}
			*st.n += tag.RowsAffected()
			if tag.RowsAffected() < gcBatch {
				break
			}
		}
	}
	return r, nil
}

// unlockGC releases the GC lock and the connection. If the unlock fails (a canceled
// context, a broken connection) the connection is closed instead, which releases the
// lock on the server: a pooled connection must never keep holding it.
func unlockGC(ctx context.Context, conn *pgxpool.Conn, key int32) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pingTimeout)
	defer cancel()
	if _, err := conn.Exec(ctx, qGCUnlock, lockGC, key); err != nil {
		_ = conn.Conn().Close(ctx) //nolint:errcheck // the connection is being discarded so the session lock goes with it
	}
	conn.Release()
}
