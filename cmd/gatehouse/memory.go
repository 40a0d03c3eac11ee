package main

import (
	"context"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// idleTrimInterval is how long the public listeners must have served no request before the
// process returns its free memory to the system (once per idle period).
const idleTrimInterval = 30 * time.Second

// countRequests counts the requests h serves into n.
func countRequests(n *atomic.Int64, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h.ServeHTTP(w, r)
	})
}

// freeMemory returns the heap's free memory to the system: a GC moves sync.Pool contents
// (net/http's per-connection read and write buffers) to the pools' victim caches, and
// debug.FreeOSMemory's GC frees them and scavenges every free page.
func freeMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}

// trimWhenIdle returns the heap's free memory to the system (freeMemory) once the request count n has not moved for a whole interval, and again
// only after a new burst of requests has ended. The Go runtime otherwise gives memory back
// over minutes, so the RSS after a burst of load stays near its peak; a GC while idle costs
// nothing a request would wait for. free is freeMemory but in tests. It returns
// when ctx ends.
func trimWhenIdle(ctx context.Context, n *atomic.Int64, interval time.Duration, free func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	last, trimmed := n.Load(), true // nothing to give back right after start
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur := n.Load()
		switch {
		case cur != last:
			last, trimmed = cur, false
		case !trimmed:
			free()
			trimmed = true
		}
	}
}
