package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// GC statements: each deletes at most ?2 expired rows, chosen through the expiry's index,
// and commits on its own, so the write lock is held for one batch at a time and requests
// interleave with a long collection. An expiry of 0 never expires. Refresh tokens of
// expiring grants are deleted (and counted) explicitly, before their grants.
const (
	qGCAuthRequests = `DELETE FROM auth_requests WHERE id IN (
	SELECT id FROM auth_requests WHERE expiry <> 0 AND expiry < ?1 LIMIT ?2)`
	qGCAuthCodes = `DELETE FROM auth_codes WHERE hash IN (
	SELECT hash FROM auth_codes WHERE expiry <> 0 AND expiry < ?1 LIMIT ?2)`
	qGCRefreshTokens = `DELETE FROM refresh_tokens WHERE hash IN (
	SELECT hash FROM refresh_tokens WHERE idle_expiry > 0 AND idle_expiry < ?1 LIMIT ?2)`
	// qGCGrantTokens and qGCGrants run in one transaction and pick the same grants (the
	// first ?2 expired ones in index order), so the tokens of a batch of grants go with it.
	qGCGrantTokens = `DELETE FROM refresh_tokens WHERE grant_id IN (
	SELECT id FROM grants WHERE absolute_expiry > 0 AND absolute_expiry < ?1
	ORDER BY absolute_expiry, id LIMIT ?2)`
	qGCGrants = `DELETE FROM grants WHERE id IN (
	SELECT id FROM grants WHERE absolute_expiry > 0 AND absolute_expiry < ?1
	ORDER BY absolute_expiry, id LIMIT ?2)`
	qGCSessionsIdle = `DELETE FROM sessions WHERE id IN (
	SELECT id FROM sessions WHERE idle_expiry > 0 AND idle_expiry < ?1 LIMIT ?2)`
	qGCSessionsAbsolute = `DELETE FROM sessions WHERE id IN (
	SELECT id FROM sessions WHERE absolute_expiry > 0 AND absolute_expiry < ?1 LIMIT ?2)`
	qGCSigningKeys = `DELETE FROM signing_keys WHERE expires_at <> 0 AND expires_at < ?1 AND ?2 > 0`
)

// gcBatch is how many rows one GC statement deletes; after each batch the collection
// waits as long as the batch took (at least gcPause), so it holds the single writer at most
// half of the time and requests interleave with a collection of any size; gcMaxBatches
// bounds one collection of one table (the rest waits for the next GC).
const (
	gcBatch      = 500
	gcPause      = 2 * time.Millisecond
	gcMaxBatches = 20_000
)

// gcStep is one GC batch: statements run in one transaction, each adding what it deleted
// to its count; the last one's count ends the step when it is under gcBatch.
type gcStep struct {
	queries []string
	counts  []*int64
}

// GC deletes every row that expired before now, in batches of gcBatch rows each committed
// on its own with a pause between, and counts them. The counts cover the batches committed
// before an error.
func (s *Store) GC(ctx context.Context, now time.Time) (storage.GCResult, error) {
	var r storage.GCResult
	one := func(q string, n *int64) gcStep { return gcStep{[]string{q}, []*int64{n}} }
	steps := []gcStep{
		one(qGCAuthRequests, &r.AuthRequests),
		one(qGCAuthCodes, &r.AuthCodes),
		one(qGCRefreshTokens, &r.RefreshTokens),
		{[]string{qGCGrantTokens, qGCGrants}, []*int64{&r.RefreshTokens, &r.Grants}},
		one(qGCSessionsIdle, &r.Sessions),
		one(qGCSessionsAbsolute, &r.Sessions),
		one(qGCSigningKeys, &r.SigningKeys),
	}
	nowMs := ms(now)
	for _, st := range steps {
		if err := s.deleteInBatches(ctx, st, nowMs); err != nil {
			return r, fmt.Errorf("sqlite: gc: %w", err)
		}
	}
	return r, nil
}

// deleteInBatches runs the step's statements (?1 the time, ?2 the batch size) in one
// transaction per batch until the last deletes fewer than gcBatch rows.
func (s *Store) deleteInBatches(ctx context.Context, st gcStep, arg int64) error {
	var pause time.Duration
	for i := range gcMaxBatches {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(pause):
			}
		}
		var k int64
		start := time.Now()
		err := s.inTx(ctx, func(t *txn) error {
			for j, q := range st.queries {
				res, err := t.exec(ctx, q, arg, gcBatch)
				if err != nil {
					return err
				}
				if k, err = res.RowsAffected(); err != nil {
					return err
				}
				*st.counts[j] += k
			}
			return nil
		})
		if err != nil || k < gcBatch {
			return err
		}
		pause = max(gcPause, time.Since(start))
	}
	return nil
}
