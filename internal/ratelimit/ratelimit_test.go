package ratelimit

import (
	"testing"
	"time"
)

func TestFailures(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l := New(func() time.Time { return now }, 3, time.Minute)
	for i := 0; i < 3; i++ {
		if !l.Allowed("ip", "user") {
			t.Fatalf("refused after %d failures", i)
		}
		l.Fail("ip", "user")
	}
	if l.Allowed("user") || l.Allowed("ip", "other") {
		t.Fatal("allowed past the budget")
	}
	if !l.Allowed("other") {
		t.Fatal("an unrelated key is limited")
	}
	l.Reset("user")
	if !l.Allowed("user") {
		t.Fatal("reset did not clear the key")
	}
	now = now.Add(time.Minute + time.Second)
	if !l.Allowed("ip") {
		t.Fatal("failures outside the window still count")
	}
	l.Fail("x")
	if len(l.fails) != 1 {
		t.Fatalf("expired keys not swept: %v", l.fails)
	}
}
