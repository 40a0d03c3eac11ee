package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.RateLimitStore = (*Store)(nil)

const (
	// A reservation locks each key (a transaction-scoped advisory lock, keys in sorted order
	// so two reservations never wait on each other crosswise), counts its live attempts and
	// inserts one only when every key has room. A key without rows has no row to lock,
	// hence the advisory lock rather than SELECT ... FOR UPDATE.
	qLockAttemptKey = `SELECT pg_advisory_xact_lock($1, hashtext(current_schema() || ':' || $2))`
	qCountAttempts  = `SELECT count(*) FROM rate_attempts WHERE key = $1 AND expires_at > $2`
	qInsertAttempt  = `INSERT INTO rate_attempts (key, id, expires_at) VALUES ($1, $2, $3)
	ON CONFLICT (key, id) DO UPDATE SET expires_at = excluded.expires_at`
	qReleaseAttempt  = `DELETE FROM rate_attempts WHERE id = $1`
	qResetAttempts   = `DELETE FROM rate_attempts WHERE key = $1`
	qExpiredAttempts = `DELETE FROM rate_attempts WHERE expires_at <= $1`
)

// ReserveAttempt records an attempt under every limit's key unless one is spent.
func (s *Store) ReserveAttempt(ctx context.Context, id string, limits []storage.RateLimit, now, expiry time.Time) (bool, error) {
	limits = slices.Clone(limits)
	slices.SortFunc(limits, func(a, b storage.RateLimit) int { return strings.Compare(a.Key, b.Key) })
	ok := true
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		for _, l := range limits {
			if _, err := tx.Exec(ctx, qLockAttemptKey, int32(lockRate), l.Key); err != nil {
				return fmt.Errorf("postgres: reserve attempt: lock: %w", err)
			}
			var n int
			if err := tx.QueryRow(ctx, qCountAttempts, l.Key, ms(now)).Scan(&n); err != nil {
				return fmt.Errorf("postgres: reserve attempt: %w", err)
			}
			if n >= l.Max {
				ok = false
				return nil
			}
		}
		for _, l := range limits {
			if _, err := tx.Exec(ctx, qInsertAttempt, l.Key, id, ms(expiry)); err != nil {
				return fmt.Errorf("postgres: reserve attempt: %w", err)
			}
		}
		return nil
	})
	return ok && err == nil, err
}

// ReleaseAttempt deletes the reservation's attempts.
func (s *Store) ReleaseAttempt(ctx context.Context, id string) error {
	if _, err := s.pool.Exec(ctx, qReleaseAttempt, id); err != nil {
		return fmt.Errorf("postgres: release attempt: %w", err)
	}
	return nil
}

// ResetAttempts deletes every attempt under key.
func (s *Store) ResetAttempts(ctx context.Context, key string) error {
	if _, err := s.pool.Exec(ctx, qResetAttempts, key); err != nil {
		return fmt.Errorf("postgres: reset attempts: %w", err)
	}
	return nil
}

// DeleteExpiredAttempts deletes attempts expired at now.
func (s *Store) DeleteExpiredAttempts(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, qExpiredAttempts, ms(now))
	if err != nil {
		return 0, fmt.Errorf("postgres: delete expired attempts: %w", err)
	}
	return tag.RowsAffected(), nil
}
