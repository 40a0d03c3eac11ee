package storagetest

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// RunRateLimits runs the conformance tests of the optional storage.RateLimitStore and of
// storage.ConsumeOnce (the replay cache on BlobStore). open2 must return two handles on a
// new, empty database (two replicas; a backend with one handle per database may return the
// same handle twice) and register their Close with t.Cleanup. Attempts are reserved on both
// handles, so a budget or a replay record that lived in one process fails here.
func RunRateLimits(t *testing.T, open2 func(t *testing.T) (a, b storage.Storage)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b storage.RateLimitStore)
	}{
		{"Budget", testRateBudget},
		{"EveryKeyOrNone", testRateEveryKey},
		{"Expiry", testRateExpiry},
		{"ReleaseAndReset", testRateRelease},
		{"DeleteExpired", testRateDeleteExpired},
		{"Race", testRateRace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := open2(t)
			tt.fn(t, implements[storage.RateLimitStore](t, a), implements[storage.RateLimitStore](t, b))
		})
	}
	t.Run("ConsumeOnce", func(t *testing.T) {
		a, b := open2(t)
		testConsumeOnce(t, implements[storage.BlobStore](t, a), implements[storage.BlobStore](t, b))
	})
	t.Run("ConsumeOnceRace", func(t *testing.T) {
		a, b := open2(t)
		testConsumeOnceRace(t, implements[storage.BlobStore](t, a), implements[storage.BlobStore](t, b))
	})
}

// reserve calls ReserveAttempt and fails t unless it returns want.
func reserve(t *testing.T, s storage.RateLimitStore, id string, limits []storage.RateLimit, now time.Time, want bool) {
	t.Helper()
	ok, err := s.ReserveAttempt(ctxFor(t), id, limits, now, now.Add(time.Minute))
	wantErr(t, "reserve "+id, err, nil)
	if ok != want {
		t.Fatalf("ReserveAttempt(%s, %v) = %v, want %v", id, limits, ok, want)
	}
}

func testRateBudget(t *testing.T, a, b storage.RateLimitStore) {
	now := baseTime()
	alice := []storage.RateLimit{{Key: "user:alice", Max: 3}}
	reserve(t, a, "r1", alice, now, true)
	reserve(t, b, "r2", alice, now, true)
	reserve(t, a, "r3", alice, now, true)
	// The budget is shared: neither replica grants a fourth attempt.
	reserve(t, b, "r4", alice, now, false)
	reserve(t, a, "r5", alice, now, false)
	// Keys are exact.
	for _, k := range []string{"user:alice ", "user:Alice", "user:alic", ""} {
		reserve(t, b, "other-"+k, []storage.RateLimit{{Key: k, Max: 3}}, now, true)
	}
	// A larger budget on the same key has room.
	reserve(t, b, "r6", []storage.RateLimit{{Key: "user:alice", Max: 4}}, now, true)
}

func testRateEveryKey(t *testing.T, a, b storage.RateLimitStore) {
	now := baseTime()
	ip := storage.RateLimit{Key: "ip:192.0.2.1", Max: 2}
	reserve(t, a, "r1", []storage.RateLimit{ip}, now, true)
	reserve(t, a, "r2", []storage.RateLimit{ip}, now, true)
	// The IP is spent: the user's budget must not be taken either.
	reserve(t, b, "r3", []storage.RateLimit{{Key: "user:bob", Max: 1}, ip}, now, false)
	reserve(t, b, "r4", []storage.RateLimit{{Key: "user:bob", Max: 1}}, now, true)
}

func testRateExpiry(t *testing.T, a, b storage.RateLimitStore) {
	now := baseTime()
	l := []storage.RateLimit{{Key: "k", Max: 1}}
	reserve(t, a, "r1", l, now, true)
	reserve(t, b, "r2", l, now.Add(59*time.Second), false)
	// The attempt lives until its expiry (now + 1 minute) exactly.
	reserve(t, b, "r3", l, now.Add(time.Minute), true)
}

func testRateRelease(t *testing.T, a, b storage.RateLimitStore) {
	ctx := ctxFor(t)
	now := baseTime()
	l := []storage.RateLimit{{Key: "user:carol", Max: 2}, {Key: "ip:x", Max: 2}}
	reserve(t, a, "r1", l, now, true)
	reserve(t, a, "r2", l, now, true)
	reserve(t, b, "r3", l, now, false)
	wantErr(t, "release r2 on b", b.ReleaseAttempt(ctx, "r2"), nil)
	wantErr(t, "release unknown", b.ReleaseAttempt(ctx, "nope"), nil)
	reserve(t, a, "r4", l, now, true)
	reserve(t, a, "r5", l, now, false)
	wantErr(t, "reset user on b", b.ResetAttempts(ctx, "user:carol"), nil)
	// The IP key still holds r1 and r4.
	reserve(t, a, "r6", l, now, false)
	reserve(t, a, "r7", l[:1], now, true)
}

func testRateDeleteExpired(t *testing.T, a, b storage.RateLimitStore) {
	ctx := ctxFor(t)
	now := baseTime()
	l := []storage.RateLimit{{Key: "k1", Max: 5}, {Key: "k2", Max: 5}}
	reserve(t, a, "r1", l, now, true)
	if _, err := a.ReserveAttempt(ctx, "r2", l[:1], now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	n, err := b.DeleteExpiredAttempts(ctx, now.Add(time.Minute))
	wantErr(t, "delete expired", err, nil)
	if n != 2 {
		t.Fatalf("deleted %d attempts, want 2", n)
	}
	reserve(t, a, "r3", []storage.RateLimit{{Key: "k1", Max: 2}}, now.Add(time.Minute), true)
	reserve(t, a, "r4", []storage.RateLimit{{Key: "k1", Max: 2}}, now.Add(time.Minute), false)
}

// testRateRace: 64 concurrent reservations on two handles against a budget of 5 (and an
// IP budget of 7 shared with another user): exactly 5 win.
func testRateRace(t *testing.T, a, b storage.RateLimitStore) {
	ctx := ctxFor(t)
	now := baseTime()
	const racers, budget = 64, 5
	var won, lost atomic.Int32
	errs := make([]error, racers)
	run(racers, func(i int) {
		s := a
		if i%2 == 1 {
			s = b
		}
		ok, err := s.ReserveAttempt(ctx, fmt.Sprintf("r%d", i),
			[]storage.RateLimit{{Key: "ip:198.51.100.7", Max: 100}, {Key: "user:dave", Max: budget}}, now, now.Add(time.Minute))
		errs[i] = err
		switch {
		case err != nil:
		case ok:
			won.Add(1)
		default:
			lost.Add(1)
		}
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if won.Load() != budget || lost.Load() != racers-budget {
		t.Fatalf("%d reservations won and %d lost, want %d and %d", won.Load(), lost.Load(), budget, racers-budget)
	}
	// The IP key was charged for the winners only.
	for i := range 100 - budget {
		reserve(t, b, fmt.Sprintf("ip-%d", i), []storage.RateLimit{{Key: "ip:198.51.100.7", Max: 100}}, now, true)
	}
	reserve(t, a, "ip-last", []storage.RateLimit{{Key: "ip:198.51.100.7", Max: 100}}, now, false)
}

func testConsumeOnce(t *testing.T, a, b storage.BlobStore) {
	ctx := ctxFor(t)
	now := baseTime()
	exp := now.Add(time.Minute)
	wantErr(t, "first use on a", storage.ConsumeOnce(ctx, a, "saml-assertion:id-1", exp, now), nil)
	wantErr(t, "replay on b", storage.ConsumeOnce(ctx, b, "saml-assertion:id-1", exp, now), storage.ErrReused)
	wantErr(t, "replay on a", storage.ConsumeOnce(ctx, a, "saml-assertion:id-1", exp, now.Add(59*time.Second)), storage.ErrReused)
	wantErr(t, "other id on b", storage.ConsumeOnce(ctx, b, "saml-assertion:id-2", exp, now), nil)
	// After expiry the record is gone (the message it guarded has expired too).
	wantErr(t, "after expiry", storage.ConsumeOnce(ctx, b, "saml-assertion:id-1", exp.Add(time.Minute), exp), nil)
}

// testConsumeOnceRace: 32 concurrent uses of one ID on two handles: exactly one is first.
func testConsumeOnceRace(t *testing.T, a, b storage.BlobStore) {
	ctx := ctxFor(t)
	now := baseTime()
	const racers = 32
	var first, reused atomic.Int32
	errs := make([]error, racers)
	run(racers, func(i int) {
		s := a
		if i%2 == 1 {
			s = b
		}
		err := storage.ConsumeOnce(ctx, s, "saml-request:race", now.Add(time.Minute), now)
		switch {
		case err == nil:
			first.Add(1)
		case errors.Is(err, storage.ErrReused):
			reused.Add(1)
		default:
			errs[i] = err
		}
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if first.Load() != 1 || reused.Load() != racers-1 {
		t.Fatalf("%d first uses and %d replays, want 1 and %d", first.Load(), reused.Load(), racers-1)
	}
}
