package main

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestTrimWhenIdle: memory is given back once per idle period: not right after start, once
// after a burst of requests ends, not again while idle, and again after the next burst.
func TestTrimWhenIdle(t *testing.T) {
	var n atomic.Int64
	trims := make(chan struct{}, 10)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		trimWhenIdle(ctx, &n, 20*time.Millisecond, func() { trims <- struct{}{} })
		close(done)
	}()
	wantTrims := func(what string, want int, wait time.Duration) {
		t.Helper()
		time.Sleep(wait)
		if got := len(trims); got != want {
			t.Errorf("%s: %d trims, want %d", what, got, want)
		}
		for range len(trims) {
			<-trims
		}
	}
	wantTrims("idle since start", 0, 100*time.Millisecond)
	n.Add(5)
	wantTrims("after a burst", 1, 100*time.Millisecond)
	wantTrims("still idle", 0, 100*time.Millisecond)
	n.Add(1)
	wantTrims("after a second burst", 1, 100*time.Millisecond)
	cancel()
	<-done
}
