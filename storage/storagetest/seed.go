package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// RunSeeder runs the conformance tests of the optional storage.Seeder: a seeded batch reads
// back through the ordinary methods, a batch with a taken key writes nothing, and GC
// deletes expired rows beyond any one batch size of the backend (gcRows of each kind)
// while leaving the live ones.
func RunSeeder(t *testing.T, open func(t *testing.T) storage.Storage, gcRows int) {
	seeder := func(t *testing.T) (storage.Storage, storage.Seeder) {
		s := open(t)
		sd, ok := s.(storage.Seeder)
		if !ok {
			t.Fatalf("%T does not implement storage.Seeder", s)
		}
		return s, sd
	}
	t.Run("ReadBack", func(t *testing.T) {
		s, sd := seeder(t)
		ctx := ctxFor(t)
		now := baseTime()
		b := storage.SeedBatch{
			Users:         []storage.LocalUser{localUser("u1", now), localUser("u2", now)},
			Sessions:      []storage.Session{session("s1", now)},
			Grants:        []storage.Grant{grant("g1", "u1", "s1", now)},
			RefreshTokens: []storage.RefreshToken{refreshToken("rt1", "g1", now)},
			Consents:      []storage.Consent{{Subject: "u1", ClientID: "client-a", Scopes: []string{"openid"}, CreatedAt: now, UpdatedAt: now}},
		}
		wantErr(t, "seed", sd.Seed(ctx, b), nil)
		u, err := s.GetLocalUser(ctx, "u2")
		wantErr(t, "get user", err, nil)
		mustEqual(t, "user", b.Users[1], u)
		sess, err := s.GetSession(ctx, "s1")
		wantErr(t, "get session", err, nil)
		mustEqual(t, "session", b.Sessions[0], sess)
		g, err := s.GetGrant(ctx, "g1")
		wantErr(t, "get grant", err, nil)
		mustEqual(t, "grant", b.Grants[0], g)
		rt, err := s.GetRefreshToken(ctx, "rt1")
		wantErr(t, "get refresh token", err, nil)
		mustEqual(t, "refresh token", b.RefreshTokens[0], rt)
		c, err := s.GetConsent(ctx, "u1", "client-a")
		wantErr(t, "get consent", err, nil)
		mustEqual(t, "consent", b.Consents[0], c)

		// A batch with a taken key is refused whole.
		dup := storage.SeedBatch{
			Users:  []storage.LocalUser{localUser("u3", now)},
			Grants: []storage.Grant{grant("g1", "u3", "", now)},
		}
		wantErr(t, "seed a taken grant ID", sd.Seed(ctx, dup), storage.ErrAlreadyExists)
		_, err = s.GetLocalUser(ctx, "u3")
		wantErr(t, "user of a refused batch", err, storage.ErrNotFound)
	})
	t.Run("GCBatches", func(t *testing.T) {
		s, sd := seeder(t)
		ctx := ctxFor(t)
		now := baseTime()
		past := now.Add(-48 * time.Hour)
		var b storage.SeedBatch
		for i := range gcRows {
			// Expired grants (two tokens each), idle-expired tokens of a live grant, and
			// expired sessions.
			g := grant(fmt.Sprintf("gx-%d", i), "u", "", past)
			g.AbsoluteExpiry = now.Add(-time.Hour)
			b.Grants = append(b.Grants, g)
			b.RefreshTokens = append(b.RefreshTokens, refreshToken(fmt.Sprintf("rx-%d-a", i), g.ID, past),
				refreshToken(fmt.Sprintf("rx-%d-b", i), g.ID, past))
			idle := refreshToken(fmt.Sprintf("ri-%d", i), "g-live", past)
			idle.IdleExpiry = now.Add(-time.Minute)
			b.RefreshTokens = append(b.RefreshTokens, idle)
			sess := session(fmt.Sprintf("sx-%d", i), past)
			if i%2 == 0 {
				sess.AbsoluteExpiry = now.Add(-time.Minute) // idle expiry passed too
			}
			b.Sessions = append(b.Sessions, sess)
		}
		b.Grants = append(b.Grants, grant("g-live", "u", "", now))
		b.RefreshTokens = append(b.RefreshTokens, refreshToken("r-live", "g-live", now))
		b.Sessions = append(b.Sessions, session("s-live", now))
		wantErr(t, "seed", sd.Seed(ctx, b), nil)

		res, err := s.GC(ctx, now)
		wantErr(t, "gc", err, nil)
		want := storage.GCResult{RefreshTokens: int64(3 * gcRows), Grants: int64(gcRows), Sessions: int64(gcRows)}
		if res != want {
			t.Errorf("GC = %+v, want %+v", res, want)
		}
		_, err = s.GetRefreshToken(ctx, "r-live")
		wantErr(t, "live token after GC", err, nil)
		_, err = s.GetSession(ctx, "s-live")
		wantErr(t, "live session after GC", err, nil)
		_, err = s.GetGrant(ctx, fmt.Sprintf("gx-%d", gcRows-1))
		wantErr(t, "expired grant after GC", err, storage.ErrNotFound)
		res, err = s.GC(ctx, now)
		wantErr(t, "second gc", err, nil)
		if res != (storage.GCResult{}) {
			t.Errorf("second GC = %+v, want nothing", res)
		}
	})
}

// RunConfigUserLister runs the conformance test of the optional storage.ConfigUserLister:
// it lists exactly the users whose FromConfig is set, by username.
func RunConfigUserLister(t *testing.T, open func(t *testing.T) storage.Storage) {
	s := open(t)
	cl, ok := s.(storage.ConfigUserLister)
	if !ok {
		t.Fatalf("%T does not implement storage.ConfigUserLister", s)
	}
	ctx := ctxFor(t)
	now := baseTime()
	for _, u := range []struct {
		name       string
		fromConfig bool
	}{{"zed", true}, {"bob", false}, {"amy", true}, {"cal", false}} {
		lu := localUser(u.name, now)
		lu.FromConfig = u.fromConfig
		wantErr(t, "create "+u.name, s.CreateLocalUser(ctx, lu), nil)
	}
	got, err := cl.ListConfigLocalUsers(ctx)
	wantErr(t, "list configured users", err, nil)
	var names []string
	for _, u := range got {
		names = append(names, u.Username)
	}
	mustEqual(t, "configured users", []string{"amy", "zed"}, names)
}
