package storagetest

import (
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// testDPoPBindings: the DPoP key thumbprint (RFC 9449) of an auth request, a code and a
// grant round-trips through every call that returns them, including the grant a rotation
// or a reissue returns; records written without one read back unbound.
func testDPoPBindings(t *testing.T, s storage.Storage) {
	ctx := ctxFor(t)
	now := baseTime()
	const jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"

	r := authRequest("ar-dpop", now)
	r.DPoPJKT = jkt
	wantErr(t, "create auth request", s.CreateAuthRequest(ctx, r), nil)
	got, err := s.GetAuthRequest(ctx, r.ID)
	wantErr(t, "get auth request", err, nil)
	if got.DPoPJKT != jkt {
		t.Fatalf("auth request DPoPJKT = %q, want %q", got.DPoPJKT, jkt)
	}
	err = s.UpdateAuthRequest(ctx, r.ID, func(cur storage.AuthRequest) (storage.AuthRequest, error) {
		cur.DPoPJKT = "other"
		return cur, nil
	})
	wantErr(t, "update auth request", err, nil)
	got, err = s.GetAuthRequest(ctx, r.ID)
	wantErr(t, "get updated auth request", err, nil)
	if got.DPoPJKT != "other" {
		t.Fatalf("updated auth request DPoPJKT = %q, want other", got.DPoPJKT)
	}

	for _, bound := range []string{jkt, ""} {
		c := authCode("code-dpop-"+bound, now)
		c.DPoPJKT = bound
		wantErr(t, "create code", s.CreateAuthCode(ctx, c), nil)
		gotc, err := s.ConsumeCode(ctx, c.Hash, now)
		wantErr(t, "consume code", err, nil)
		if gotc.DPoPJKT != bound {
			t.Fatalf("code DPoPJKT = %q, want %q", gotc.DPoPJKT, bound)
		}
	}

	g := grant("grant-dpop", "alice", "", now)
	g.DPoPJKT = jkt
	wantErr(t, "create grant", s.CreateGrant(ctx, g, ptr(refreshToken("rt-dpop-1", "", now))), nil)
	gotg, err := s.GetGrant(ctx, g.ID)
	wantErr(t, "get grant", err, nil)
	if gotg.DPoPJKT != jkt {
		t.Fatalf("grant DPoPJKT = %q, want %q", gotg.DPoPJKT, jkt)
	}
	rg, _, err := s.RotateRefreshToken(ctx, "rt-dpop-1", refreshToken("rt-dpop-2", "", now), now.Add(time.Second))
	wantErr(t, "rotate", err, nil)
	if rg.DPoPJKT != jkt {
		t.Fatalf("rotated grant DPoPJKT = %q, want %q", rg.DPoPJKT, jkt)
	}
	if ri, ok := s.(storage.RefreshReissuer); ok {
		rg, _, err := ri.ReissueRefreshToken(ctx, "rt-dpop-1", refreshToken("rt-dpop-3", "", now), 5*time.Second, now.Add(2*time.Second))
		wantErr(t, "reissue", err, nil)
		if rg.DPoPJKT != jkt {
			t.Fatalf("reissued grant DPoPJKT = %q, want %q", rg.DPoPJKT, jkt)
		}
	}
	plain := grant("grant-plain", "alice", "", now)
	wantErr(t, "create unbound grant", s.CreateGrant(ctx, plain, nil), nil)
	gotg, err = s.GetGrant(ctx, plain.ID)
	wantErr(t, "get unbound grant", err, nil)
	if gotg.DPoPJKT != "" {
		t.Fatalf("unbound grant DPoPJKT = %q", gotg.DPoPJKT)
	}
}

func ptr[T any](v T) *T { return &v }
