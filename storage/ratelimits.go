package storage

import (
	"context"
	"time"
)

// RateLimit is one budget an attempt is taken from: at most Max live attempts under Key.
type RateLimit struct {
	Key string
	Max int
}

// RateLimitStore keeps attempt budgets (password logins, second-factor codes) shared by every
// replica. It is optional; the SQLite and PostgreSQL backends implement it
// (storagetest.RunRateLimits). An attempt is reserved before the credential is checked, so
// concurrent attempts cannot all pass a check made before any of them failed.
type RateLimitStore interface {
	// ReserveAttempt takes one attempt from every limit atomically across replicas: if any
	// limit already holds Max attempts live at now, nothing is stored and ok is false;
	// otherwise an attempt with the reservation ID id, living until expiry, is recorded
	// under every limit's key. Of N concurrent reservations against a limit with room for
	// M, exactly min(N, M) succeed.
	ReserveAttempt(ctx context.Context, id string, limits []RateLimit, now, expiry time.Time) (ok bool, err error)
	// ReleaseAttempt gives reservation id back to every budget it was taken from (the
	// attempt succeeded, or checked nothing). Releasing an unknown ID is not an error.
	ReleaseAttempt(ctx context.Context, id string) error
	// ResetAttempts deletes every attempt recorded under key.
	ResetAttempts(ctx context.Context, key string) error
	// DeleteExpiredAttempts deletes attempts that expired at or before now and returns how
	// many.
	DeleteExpiredAttempts(ctx context.Context, now time.Time) (int64, error)
}
