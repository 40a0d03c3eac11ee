package storagetest

import (
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// testResources: the resource indicators (RFC 8707) of an auth request, its code and its
// grant are stored and read back exactly, in order, through every read path (get, update,
// consume, rotate, list); none reads as none.
func testResources(t *testing.T, s storage.Storage) {
	ctx := ctxFor(t)
	now := baseTime()
	res := []string{"https://api.example/v1", "urn:example:res", "https://b.example/"}

	ar := authRequest("ar-res", now)
	ar.Resources = res
	if err := s.CreateAuthRequest(ctx, ar); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAuthRequest(ctx, ar.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantStrings(t, "auth request resources", res, got.Resources)
	if err := s.UpdateAuthRequest(ctx, ar.ID, func(r storage.AuthRequest) (storage.AuthRequest, error) {
		r.Resources = r.Resources[:1]
		return r, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, err = s.GetAuthRequest(ctx, ar.ID); err != nil {
		t.Fatal(err)
	}
	wantStrings(t, "updated auth request resources", res[:1], got.Resources)
	plain := authRequest("ar-plain", now)
	if err := s.CreateAuthRequest(ctx, plain); err != nil {
		t.Fatal(err)
	}
	if got, err = s.GetAuthRequest(ctx, plain.ID); err != nil || len(got.Resources) != 0 {
		t.Fatalf("auth request without resources: %v, %v", got.Resources, err)
	}

	ac := authCode("code-res", now)
	ac.Resources = res
	if err := s.CreateAuthCode(ctx, ac); err != nil {
		t.Fatal(err)
	}
	c, err := s.ConsumeCode(ctx, ac.Hash, now)
	if err != nil {
		t.Fatal(err)
	}
	wantStrings(t, "code resources", res, c.Resources)

	g := grant("grant-res", "alice-res", "sess-res", now)
	g.Resources = res
	if err := s.CreateGrant(ctx, g, &storage.RefreshToken{Hash: "rt-res-1", CreatedAt: now, IdleExpiry: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	gg, err := s.GetGrant(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantStrings(t, "grant resources", res, gg.Resources)
	rg, _, err := s.RotateRefreshToken(ctx, "rt-res-1", storage.RefreshToken{Hash: "rt-res-2", CreatedAt: now, IdleExpiry: now.Add(time.Hour)}, now)
	if err != nil {
		t.Fatal(err)
	}
	wantStrings(t, "rotated grant resources", res, rg.Resources)
	list, err := s.ListGrants(ctx, "alice-res")
	if err != nil || len(list) != 1 {
		t.Fatalf("ListGrants: %v, %v", list, err)
	}
	wantStrings(t, "listed grant resources", res, list[0].Resources)
	if ri, ok := s.(storage.RefreshReissuer); ok {
		rg, _, err := ri.ReissueRefreshToken(ctx, "rt-res-1", storage.RefreshToken{Hash: "rt-res-3", CreatedAt: now, IdleExpiry: now.Add(time.Hour)}, time.Minute, now.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		wantStrings(t, "reissued grant resources", res, rg.Resources)
	}
	g2 := grant("grant-plain", "bob-res", "sess-res", now)
	if err := s.CreateGrant(ctx, g2, nil); err != nil {
		t.Fatal(err)
	}
	if gg, err = s.GetGrant(ctx, g2.ID); err != nil || len(gg.Resources) != 0 {
		t.Fatalf("grant without resources: %v, %v", gg.Resources, err)
	}
}

// wantStrings fails unless got is want, element by element.
func wantStrings(t *testing.T, what string, want, got []string) {
	t.Helper()
	if !slices.Equal(want, got) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}
