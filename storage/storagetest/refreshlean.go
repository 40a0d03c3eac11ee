package storagetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// RunRefreshHotPath runs the conformance tests of the optional storage.RefreshHotPath. A
// backend that implements it calls RunRefreshHotPath next to Run; the tests fail if it does
// not. The refresh-token tests and the rotation race of Run are run again through the
// capability (GetRefreshToken answered by GetRefreshTokenAndGrant, RotateRefreshToken by
// RotateRefreshTokenOnly), so it keeps every guarantee of the plain methods; and the grant
// read with a token is compared with GetGrant's.
func RunRefreshHotPath(t *testing.T, open func(t *testing.T) storage.Storage) {
	hot := func(t *testing.T) hotPathStore {
		s := open(t)
		h, ok := s.(storage.RefreshHotPath)
		if !ok {
			t.Fatalf("%T does not implement storage.RefreshHotPath", s)
		}
		return hotPathStore{Storage: s, hot: h}
	}
	t.Run("RefreshTokens", func(t *testing.T) { testRefreshTokens(t, hot(t)) })
	t.Run("RotateRace", func(t *testing.T) { raceRotate(t, []storage.Storage{hot(t)}, 16, 3) })
	t.Run("GrantWithToken", func(t *testing.T) {
		s := hot(t)
		ctx := ctxFor(t)
		now := baseTime()
		first := refreshToken("rt-hot", "g-hot", now)
		g := grant("g-hot", "alice", "sess-1", now)
		wantErr(t, "create grant", s.CreateGrant(ctx, g, &first), nil)
		rt, got, err := s.hot.GetRefreshTokenAndGrant(ctx, "rt-hot")
		wantErr(t, "get token and grant", err, nil)
		mustEqual(t, "token", first, rt)
		mustEqual(t, "grant read with its token", g, got)
		wantErr(t, "revoke", s.RevokeGrant(ctx, g.ID, now.Add(time.Second)), nil)
		_, got, err = s.hot.GetRefreshTokenAndGrant(ctx, "rt-hot")
		wantErr(t, "get token and revoked grant", err, nil)
		if !got.Revoked {
			t.Error("the grant read with its token is not revoked after RevokeGrant")
		}
		_, _, err = s.hot.GetRefreshTokenAndGrant(ctx, "missing")
		wantErr(t, "get missing", err, storage.ErrNotFound)
	})
}

// hotPathStore answers GetRefreshToken and RotateRefreshToken through the RefreshHotPath
// capability, so Run's refresh-token tests check it.
type hotPathStore struct {
	storage.Storage
	hot storage.RefreshHotPath
}

func (s hotPathStore) GetRefreshToken(ctx context.Context, hash string) (storage.RefreshToken, error) {
	rt, g, err := s.hot.GetRefreshTokenAndGrant(ctx, hash)
	if err == nil && g.ID != rt.GrantID {
		return rt, errors.New("GetRefreshTokenAndGrant returned another grant than the token's")
	}
	return rt, err
}

func (s hotPathStore) RotateRefreshToken(ctx context.Context, oldHash string, next storage.RefreshToken, now time.Time) (storage.Grant, storage.RefreshToken, error) {
	old, err := s.hot.RotateRefreshTokenOnly(ctx, oldHash, next, now)
	if err != nil {
		return storage.Grant{}, old, err
	}
	g, err := s.GetGrant(ctx, old.GrantID)
	return g, old, err
}
