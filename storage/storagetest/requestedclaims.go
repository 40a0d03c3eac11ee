package storagetest

import (
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// testRequestedClaims: what a claims request parameter asked for (OIDC Core 5.5) round-trips
// through an auth request (created and updated), a code, a grant and every call that returns
// a grant (get, list, rotation, reissue); records written without one read back nil.
func testRequestedClaims(t *testing.T, s storage.Storage) {
	ctx := ctxFor(t)
	now := baseTime()
	asked := &storage.RequestedClaims{IDToken: []string{"email", "department"}, UserInfo: []string{"name"}, Subject: []string{"alice"}}
	granted := &storage.RequestedClaims{IDToken: []string{"email"}, UserInfo: []string{"name"}}

	r := authRequest("ar-claims", now)
	r.RequestedClaims = asked
	wantErr(t, "create auth request", s.CreateAuthRequest(ctx, r), nil)
	got, err := s.GetAuthRequest(ctx, r.ID)
	wantErr(t, "get auth request", err, nil)
	mustEqual(t, "auth request claims", asked, got.RequestedClaims)
	err = s.UpdateAuthRequest(ctx, r.ID, func(cur storage.AuthRequest) (storage.AuthRequest, error) {
		mustEqual(t, "claims seen by update", asked, cur.RequestedClaims)
		cur.RequestedClaims = granted
		return cur, nil
	})
	wantErr(t, "update auth request", err, nil)
	got, err = s.GetAuthRequest(ctx, r.ID)
	wantErr(t, "get updated auth request", err, nil)
	mustEqual(t, "updated auth request claims", granted, got.RequestedClaims)
	plainReq := authRequest("ar-noclaims", now)
	wantErr(t, "create plain auth request", s.CreateAuthRequest(ctx, plainReq), nil)
	got, err = s.GetAuthRequest(ctx, plainReq.ID)
	wantErr(t, "get plain auth request", err, nil)
	if got.RequestedClaims != nil {
		t.Fatalf("auth request without claims reads back %+v", got.RequestedClaims)
	}

	for i, want := range []*storage.RequestedClaims{granted, nil} {
		c := authCode("code-claims-"+string(rune('a'+i)), now)
		c.RequestedClaims = want
		wantErr(t, "create code", s.CreateAuthCode(ctx, c), nil)
		gotc, err := s.ConsumeCode(ctx, c.Hash, now)
		wantErr(t, "consume code", err, nil)
		mustEqual(t, "code claims", want, gotc.RequestedClaims)
	}

	g := grant("grant-claims", "alice", "", now)
	g.RequestedClaims = granted
	wantErr(t, "create grant", s.CreateGrant(ctx, g, ptr(refreshToken("rt-claims-1", "", now))), nil)
	gotg, err := s.GetGrant(ctx, g.ID)
	wantErr(t, "get grant", err, nil)
	mustEqual(t, "grant claims", granted, gotg.RequestedClaims)
	list, err := s.ListGrants(ctx, "alice")
	wantErr(t, "list grants", err, nil)
	for _, lg := range list {
		if lg.ID == g.ID {
			mustEqual(t, "listed grant claims", granted, lg.RequestedClaims)
		}
	}
	rg, _, err := s.RotateRefreshToken(ctx, "rt-claims-1", refreshToken("rt-claims-2", "", now), now.Add(time.Second))
	wantErr(t, "rotate", err, nil)
	mustEqual(t, "rotated grant claims", granted, rg.RequestedClaims)
	if ri, ok := s.(storage.RefreshReissuer); ok {
		rg, _, err := ri.ReissueRefreshToken(ctx, "rt-claims-1", refreshToken("rt-claims-3", "", now), 5*time.Second, now.Add(2*time.Second))
		wantErr(t, "reissue", err, nil)
		mustEqual(t, "reissued grant claims", granted, rg.RequestedClaims)
	}
	plain := grant("grant-noclaims", "alice", "", now)
	wantErr(t, "create grant without claims", s.CreateGrant(ctx, plain, nil), nil)
	gotg, err = s.GetGrant(ctx, plain.ID)
	wantErr(t, "get grant without claims", err, nil)
	if gotg.RequestedClaims != nil {
		t.Fatalf("grant without claims reads back %+v", gotg.RequestedClaims)
	}
}
