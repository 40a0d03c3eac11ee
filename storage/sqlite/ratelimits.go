package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Rate-limit statements run unprepared (like the MFA ones). A reservation runs in one
// BEGIN IMMEDIATE transaction, which every handle on the file serializes on.
var _ storage.RateLimitStore = (*Store)(nil)

const (
	qCountAttempts   = `SELECT count(*) FROM rate_attempts WHERE key = ? AND expires_at > ?`
	qInsertAttempt   = `INSERT OR REPLACE INTO rate_attempts (key, id, expires_at) VALUES (?, ?, ?)`
	qReleaseAttempt  = `DELETE FROM rate_attempts WHERE id = ?`
	qResetAttempts   = `DELETE FROM rate_attempts WHERE key = ?`
	qExpiredAttempts = `DELETE FROM rate_attempts WHERE expires_at <= ?`
)

// ReserveAttempt records an attempt under every limit's key unless one is spent.
func (s *Store) ReserveAttempt(ctx context.Context, id string, limits []storage.RateLimit, now, expiry time.Time) (bool, error) {
	ok := true
	err := s.inTx(ctx, func(t *txn) error {
		for _, l := range limits {
			var n int
			if err := t.tx.QueryRowContext(ctx, qCountAttempts, l.Key, ms(now)).Scan(&n); err != nil {
				return fmt.Errorf("sqlite: reserve attempt: %w", err)
			}
			if n >= l.Max {
				ok = false
				return nil
			}
		}
		for _, l := range limits {
			if _, err := t.tx.ExecContext(ctx, qInsertAttempt, l.Key, id, ms(expiry)); err != nil {
				return fmt.Errorf("sqlite: reserve attempt: %w", err)
			}
		}
		return nil
	})
	return ok && err == nil, err
}

// ReleaseAttempt deletes the reservation's attempts.
func (s *Store) ReleaseAttempt(ctx context.Context, id string) error {
	if _, err := s.writer.ExecContext(ctx, qReleaseAttempt, id); err != nil {
		return fmt.Errorf("sqlite: release attempt: %w", err)
	}
	return nil
}

// ResetAttempts deletes every attempt under key.
func (s *Store) ResetAttempts(ctx context.Context, key string) error {
	if _, err := s.writer.ExecContext(ctx, qResetAttempts, key); err != nil {
		return fmt.Errorf("sqlite: reset attempts: %w", err)
	}
	return nil
}

// DeleteExpiredAttempts deletes attempts expired at now.
func (s *Store) DeleteExpiredAttempts(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.writer.ExecContext(ctx, qExpiredAttempts, ms(now))
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete expired attempts: %w", err)
	}
	return res.RowsAffected()
}
