package storagetest

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// RunObservable runs the conformance test of the optional storage.Observable: after
// SetObserver, operations are reported with statement names; after SetObserver(nil), none.
func RunObservable(t *testing.T, open func(t *testing.T) storage.Storage) {
	s := open(t)
	obs := implements[storage.Observable](t, s)
	var mu sync.Mutex
	var ops []string
	obs.SetObserver(func(op string, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if d < 0 {
			t.Errorf("negative duration for %s", op)
		}
		ops = append(ops, op)
	})
	ctx := ctxFor(t)
	if _, err := s.GetAuthRequest(ctx, "missing"); err == nil {
		t.Fatal("GetAuthRequest of a missing ID succeeded")
	}
	mu.Lock()
	seen := slices.Clone(ops)
	mu.Unlock()
	if !slices.ContainsFunc(seen, func(op string) bool { return strings.HasPrefix(op, "select auth_requests") }) {
		t.Errorf("observed %v, want a select auth_requests", seen)
	}
	obs.SetObserver(nil)
	mu.Lock()
	n := len(ops)
	mu.Unlock()
	if _, err := s.GetAuthRequest(ctx, "missing"); err == nil {
		t.Fatal("GetAuthRequest of a missing ID succeeded")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ops) != n {
		t.Errorf("operations reported after SetObserver(nil): %v", ops[n:])
	}
}
