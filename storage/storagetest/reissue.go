package storagetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// RunRefreshReissue runs the conformance tests of the optional storage.RefreshReissuer: a
// client whose token response was lost retries with the previous refresh token. open must
// return a new, empty store.
func RunRefreshReissue(t *testing.T, open func(t *testing.T) storage.Storage) {
	const grace = 5 * time.Second
	reissuer := func(t *testing.T) (storage.Storage, storage.RefreshReissuer) {
		s := open(t)
		return s, implements[storage.RefreshReissuer](t, s)
	}
	// family creates grant g-1 with token A and rotates A to B at now.
	family := func(t *testing.T, s storage.Storage, now time.Time) {
		t.Helper()
		ctx := ctxFor(t)
		a := refreshToken("A", "g-1", now)
		wantErr(t, "create grant", s.CreateGrant(ctx, grant("g-1", "sub-1", "sess-1", now), &a), nil)
		_, _, err := s.RotateRefreshToken(ctx, "A", refreshToken("B", "", now), now)
		wantErr(t, "rotate A->B", err, nil)
	}
	used := func(t *testing.T, s storage.Storage, hash string) bool {
		t.Helper()
		rt, err := s.GetRefreshToken(ctxFor(t), hash)
		wantErr(t, "get "+hash, err, nil)
		return !rt.UsedAt.IsZero()
	}

	t.Run("RetryWithinGrace", func(t *testing.T) {
		s, r := reissuer(t)
		ctx, now := ctxFor(t), baseTime()
		family(t, s, now)
		g, old, err := r.ReissueRefreshToken(ctx, "A", refreshToken("C", "", now.Add(time.Second)), grace, now.Add(time.Second))
		wantErr(t, "reissue A", err, nil)
		if g.ID != "g-1" || old.Hash != "A" {
			t.Fatalf("reissue returned grant %q token %q", g.ID, old.Hash)
		}
		if !used(t, s, "B") || used(t, s, "C") {
			t.Fatal("after a reissue the unused successor B must be revoked and C usable")
		}
		for h, want := range map[string]bool{"A": false, "B": true, "C": false} {
			got, err := r.RefreshTokenSuperseded(ctx, h)
			wantErr(t, "superseded "+h, err, nil)
			if got != want {
				t.Fatalf("RefreshTokenSuperseded(%s) = %v, want %v", h, got, want)
			}
		}
		_, err = r.RefreshTokenSuperseded(ctx, "nope")
		wantErr(t, "superseded of a missing token", err, storage.ErrNotFound)
		_, _, err = r.ReissueRefreshToken(ctx, "B", refreshToken("X", "", now), grace, now.Add(time.Second))
		wantErr(t, "reissue a superseded token", err, storage.ErrNotFound)
		// A second retry within the grace replaces C the same way.
		_, _, err = r.ReissueRefreshToken(ctx, "A", refreshToken("D", "", now.Add(2*time.Second)), grace, now.Add(2*time.Second))
		wantErr(t, "reissue A again", err, nil)
		if !used(t, s, "C") || used(t, s, "D") {
			t.Fatal("after a second reissue C must be revoked and D usable")
		}
		// The revoked successors are reuse now; the live one rotates.
		_, _, err = s.RotateRefreshToken(ctx, "B", refreshToken("X", "", now), now.Add(3*time.Second))
		wantErr(t, "rotate revoked successor", err, storage.ErrReused)
		_, _, err = s.RotateRefreshToken(ctx, "D", refreshToken("E", "", now), now.Add(3*time.Second))
		wantErr(t, "rotate D", err, nil)
		// The successor was used: a retry with A is reuse, and nothing is stored.
		_, _, err = r.ReissueRefreshToken(ctx, "A", refreshToken("F", "", now), grace, now.Add(4*time.Second))
		wantErr(t, "reissue after the successor was used", err, storage.ErrReused)
		if _, err := s.GetRefreshToken(ctx, "F"); err == nil {
			t.Fatal("a refused reissue stored its token")
		}
	})
	t.Run("Refusals", func(t *testing.T) {
		s, r := reissuer(t)
		ctx, now := ctxFor(t), baseTime()
		family(t, s, now)
		_, _, err := r.ReissueRefreshToken(ctx, "A", refreshToken("C", "", now), grace, now.Add(grace+time.Second))
		wantErr(t, "reissue after the grace", err, storage.ErrReused)
		_, _, err = r.ReissueRefreshToken(ctx, "B", refreshToken("C", "", now), grace, now)
		wantErr(t, "reissue an unrotated token", err, storage.ErrConflict)
		_, _, err = r.ReissueRefreshToken(ctx, "nope", refreshToken("C", "", now), grace, now)
		wantErr(t, "reissue a missing token", err, storage.ErrNotFound)
		wantErr(t, "revoke", s.RevokeGrant(ctx, "g-1", now), nil)
		_, _, err = r.ReissueRefreshToken(ctx, "A", refreshToken("C", "", now), grace, now.Add(time.Second))
		wantErr(t, "reissue in a revoked grant", err, storage.ErrNotFound)
		if used(t, s, "B") {
			t.Fatal("refused reissues changed the successor")
		}
	})
	t.Run("RacesLeaveOneLiveToken", func(t *testing.T) {
		s, r := reissuer(t)
		ctx, now := ctxFor(t), baseTime()
		family(t, s, now)
		// 8 retries with A race one rotation of the successor B: whatever the order, the
		// grant ends with exactly one unused token, and B's rotation and the reissues never
		// both win over B.
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		var rotErr error
		wg.Add(n + 1)
		go func() {
			defer wg.Done()
			_, _, rotErr = s.RotateRefreshToken(ctx, "B", refreshToken("R", "", now), now.Add(time.Second))
		}()
		for i := range n {
			go func() {
				defer wg.Done()
				_, _, errs[i] = r.ReissueRefreshToken(ctx, "A", refreshToken(fmt.Sprintf("C%d", i), "", now), grace, now.Add(time.Second))
			}()
		}
		wg.Wait()
		live := 0
		for _, h := range append([]string{"B", "R"}, func() []string {
			var hs []string
			for i := range n {
				hs = append(hs, fmt.Sprintf("C%d", i))
			}
			return hs
		}()...) {
			rt, err := s.GetRefreshToken(ctx, h)
			if err != nil {
				continue // not stored
			}
			if rt.UsedAt.IsZero() {
				live++
			}
		}
		if live != 1 {
			t.Fatalf("%d unused tokens after the race (rotation: %v, reissues: %v), want 1", live, rotErr, errs)
		}
		if rotErr == nil { // B was rotated first: every retry with A must have been reuse
			for i, err := range errs {
				wantErr(t, fmt.Sprintf("reissue %d after B was rotated", i), err, storage.ErrReused)
			}
		}
	})
}
