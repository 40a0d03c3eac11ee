package ratelimit_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/ratelimit"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
)

func TestLimiter(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "rl.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Unix(1_800_000_000, 0)
	l, err := ratelimit.New(st, func() time.Time { return now }, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	user := storage.RateLimit{Key: "user:alice", Max: 2}
	reserve := func(want bool) ratelimit.Attempt {
		t.Helper()
		a, ok, err := l.Reserve(ctx, user)
		if err != nil || ok != want {
			t.Fatalf("Reserve = %v, %v; want %v", ok, err, want)
		}
		return a
	}
	reserve(true)
	a := reserve(true)
	reserve(false)
	if err := l.Refund(ctx, a); err != nil {
		t.Fatal(err)
	}
	reserve(true)
	if err := l.Reset(ctx, user.Key); err != nil {
		t.Fatal(err)
	}
	reserve(true)
	reserve(true)
	now = now.Add(time.Minute) // the window has passed
	reserve(true)
	if err := l.Refund(ctx, ratelimit.Attempt{}); err != nil {
		t.Errorf("refunding no reservation: %v", err)
	}
}

func TestLimiterNeedsStore(t *testing.T) {
	if _, err := ratelimit.New(nil, nil, time.Minute); err == nil || !strings.Contains(err.Error(), "RateLimitStore") {
		t.Fatalf("New without a store = %v", err)
	}
}
