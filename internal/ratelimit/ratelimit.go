// Package ratelimit counts failed attempts (password logins, second-factor codes) per key in a
// sliding window, so callers can refuse further attempts once a key has failed too often.
//
// It is per process: with several replicas each enforces its own budget.
package ratelimit

import (
	"sync"
	"time"
)

// Failures counts failures per key in a sliding window. It is safe for concurrent use.
type Failures struct {
	mu     sync.Mutex
	now    func() time.Time
	max    int
	window time.Duration
	fails  map[string][]time.Time
	sweep  time.Time
}

// New returns a counter that allows up to max failures per key within window.
func New(now func() time.Time, max int, window time.Duration) *Failures {
	if now == nil {
		now = time.Now
	}
	return &Failures{now: now, max: max, window: window, fails: make(map[string][]time.Time)}
}

// Allowed reports whether every key is still under its failure budget.
func (l *Failures) Allowed(keys ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range keys {
		if len(l.recent(k, now)) >= l.max {
			return false
		}
	}
	return true
}

// Fail records a failure against every key.
func (l *Failures) Fail(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range keys {
		l.fails[k] = append(l.recent(k, now), now)
	}
	if now.Sub(l.sweep) > l.window {
		l.sweep = now
		for k := range l.fails {
			if len(l.recent(k, now)) == 0 {
				delete(l.fails, k)
			}
		}
	}
}

// Reset forgets a key's failures (after a success).
func (l *Failures) Reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, key)
}

// recent drops the key's failures older than the window and returns the rest.
func (l *Failures) recent(k string, now time.Time) []time.Time {
	ts := l.fails[k]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= l.window {
		i++
	}
	if i > 0 {
		ts = append(ts[:0:0], ts[i:]...)
		l.fails[k] = ts
	}
	return ts
}
