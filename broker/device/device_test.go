package device

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

func TestNormalizeUserCode(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"BCDF-GHJK", "BCDFGHJK", true},
		{"bcdf ghjk", "BCDFGHJK", true},
		{"  bcdfghjk", "BCDFGHJK", true},
		{"BCDF-GHJ", "", false},       // too short
		{"BCDF-GHJKL", "", false},     // too long
		{"BCDF-GHJA", "", false},      // a vowel is not in the alphabet
		{"BCDF-GHJ1", "", false},      // nor a digit
		{"BCDF\u00a0GHJK", "", false}, // nor another space
		{"BCDFĞHJK", "", false},
		{strings.Repeat("B", 40), "", false},
	}
	for _, tc := range tests {
		got, ok := NormalizeUserCode(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("NormalizeUserCode(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestNewUserCode(t *testing.T) {
	seen := map[string]bool{}
	counts := map[rune]int{}
	for range 2000 {
		c := NewUserCode()
		if n, ok := NormalizeUserCode(display(c)); !ok || n != c {
			t.Fatalf("code %q does not normalize to itself", c)
		}
		seen[c] = true
		for _, r := range c {
			counts[r]++
		}
	}
	if len(seen) < 1999 {
		t.Errorf("%d distinct codes of 2000", len(seen))
	}
	if len(counts) != len(Alphabet) {
		t.Errorf("%d letters used, want all %d", len(counts), len(Alphabet))
	}
}

// FuzzNormalizeUserCode: what a user types is untrusted; a code that normalizes has exactly
// eight characters of the alphabet and normalizes to itself.
func FuzzNormalizeUserCode(f *testing.F) {
	for _, s := range []string{"BCDF-GHJK", "bcdf ghjk", "", "ÄÖÜ", "BBBB-BBBB-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := NormalizeUserCode(in)
		if !ok {
			return
		}
		if len(got) != userCodeLen || strings.Trim(got, Alphabet) != "" {
			t.Fatalf("%q normalized to %q", in, got)
		}
		if again, ok := NormalizeUserCode(got); !ok || again != got {
			t.Fatalf("%q is not stable", got)
		}
	})
}

// collidingStore refuses the first n codes as taken.
type collidingStore struct {
	storage.DeviceStore
	n, calls int
	err      error
}

func (s *collidingStore) CreateDeviceCode(context.Context, storage.DeviceCode) error {
	s.calls++
	if s.calls <= s.n {
		return fmt.Errorf("taken: %w", storage.ErrAlreadyExists)
	}
	return s.err
}

// TestCreateRedrawsTakenCodes: a user code that is taken is drawn again (a few times); any
// other storage error is returned at once.
func TestCreateRedrawsTakenCodes(t *testing.T) {
	boom := errors.New("storage down")
	for _, tc := range []struct {
		n         int
		err, want error
		calls     int
	}{
		{0, nil, nil, 1},
		{3, nil, nil, 4},
		{4, nil, storage.ErrAlreadyExists, 4},
		{0, boom, boom, 1},
	} {
		st := &collidingStore{n: tc.n, err: tc.err}
		h := &Handler{Deps: Deps{Devices: st, Now: time.Now, Lifetime: time.Minute, Interval: time.Second}}
		_, uc, err := h.create(context.Background(), "tv", []string{"openid"})
		if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) || st.calls != tc.calls {
			t.Errorf("%d taken, store error %v: err %v after %d calls, want %v after %d", tc.n, tc.err, err, st.calls, tc.want, tc.calls)
		}
		if err == nil && len(uc) != userCodeLen {
			t.Errorf("user code %q", uc)
		}
	}
}
