// Package ratelimit reserves attempts (password logins, second-factor codes) against budgets
// kept in storage (storage.RateLimitStore), so every replica draws on the same budget.
//
// An attempt is reserved before the credential is checked and given back (refunded) only when
// the check succeeds: concurrent wrong guesses cannot all pass a check made before any of them
// failed, and a refused reservation checks nothing.
package ratelimit

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Limiter reserves attempts in storage. It is safe for concurrent use.
type Limiter struct {
	store  storage.RateLimitStore
	now    func() time.Time
	window time.Duration
}

// New returns a limiter whose attempts count against their budgets for window.
func New(store storage.RateLimitStore, now func() time.Time, window time.Duration) (*Limiter, error) {
	if store == nil {
		return nil, errors.New("ratelimit: the storage backend does not keep attempt budgets (storage.RateLimitStore)")
	}
	if window <= 0 {
		return nil, fmt.Errorf("ratelimit: window must be positive, got %s", window)
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{store: store, now: now, window: window}, nil
}

// Attempt is a reserved attempt; the zero value is no reservation.
type Attempt struct{ id string }

// Reserve takes one attempt from every budget, atomically across replicas. ok is false (and
// nothing is taken) when any budget is spent. An error means the budgets could not be read:
// callers refuse the attempt (fail closed).
func (l *Limiter) Reserve(ctx context.Context, limits ...storage.RateLimit) (a Attempt, ok bool, err error) {
	id := rand.Text()
	now := l.now().UTC()
	ok, err = l.store.ReserveAttempt(ctx, id, limits, now, now.Add(l.window))
	if err != nil || !ok {
		return Attempt{}, false, err
	}
	return Attempt{id: id}, true, nil
}

// Refund gives a reserved attempt back to every budget it was taken from (the check passed).
func (l *Limiter) Refund(ctx context.Context, a Attempt) error {
	if a.id == "" {
		return nil
	}
	return l.store.ReleaseAttempt(ctx, a.id)
}

// Reset empties one budget (an account's, after its owner proved who they are).
func (l *Limiter) Reset(ctx context.Context, key string) error {
	return l.store.ResetAttempts(ctx, key)
}

// Window is how long an attempt counts against its budgets.
func (l *Limiter) Window() time.Duration { return l.window }
