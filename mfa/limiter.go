package mfa

import (
	"sync"
	"time"
)

// limiter counts failures per key in a sliding window. It is per process: with several
// replicas each enforces its own budget.
type limiter struct {
	mu     sync.Mutex
	now    func() time.Time
	max    int
	window time.Duration
	fails  map[string][]time.Time
	sweep  time.Time
}

func newLimiter(now func() time.Time, max int, window time.Duration) *limiter {
	return &limiter{now: now, max: max, window: window, fails: make(map[string][]time.Time)}
}

func (l *limiter) allowed(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.recent(key, l.now())) < l.max
}

func (l *limiter) fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.fails[key] = append(l.recent(key, now), now)
	if now.Sub(l.sweep) > l.window {
		l.sweep = now
		for k := range l.fails {
			if len(l.recent(k, now)) == 0 {
				delete(l.fails, k)
			}
		}
	}
}

func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, key)
}

func (l *limiter) recent(k string, now time.Time) []time.Time {
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
