package storage

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestObserverSlotNames: the observer gets OpName's name for every query, the first time and
// from the cache, and the cache stops growing at maxOpNames while names stay right.
func TestObserverSlotNames(t *testing.T) {
	var s ObserverSlot
	var got []string
	s.Set(func(op string, _ time.Duration) { got = append(got, op) })
	queries := []string{"SELECT a FROM grants WHERE id = ?", "UPDATE refresh_tokens SET used_at = ?", "SELECT a FROM grants WHERE id = ?", "tx"}
	for _, q := range queries {
		s.Done(context.Background(), q, time.Now())
	}
	want := []string{"select grants", "update refresh_tokens", "select grants", "tx"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("observed %q, want %q", got, want)
	}
	for i := range maxOpNames + 10 {
		q := fmt.Sprintf("DELETE FROM t%d WHERE x = ?", i)
		if n := s.opNames(q); n.op != fmt.Sprintf("delete t%d", i) || n.span != "storage."+n.op {
			t.Fatalf("names of %q = %+v", q, n)
		}
	}
	count := 0
	s.names.Range(func(any, any) bool { count++; return true })
	if count > maxOpNames {
		t.Fatalf("the name cache holds %d entries, want at most %d", count, maxOpNames)
	}
}
