package storagetest

import (
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// RunUserSessions runs the conformance tests of the optional storage.UserSessionStore. A
// backend that implements it calls RunUserSessions; the tests fail if it does not.
func RunUserSessions(t *testing.T, open func(t *testing.T) storage.Storage) {
	t.Run("ListAndRevoke", func(t *testing.T) { testUserSessions(t, open(t)) })
}

func testUserSessions(t *testing.T, s storage.Storage) {
	us := implements[storage.UserSessionStore](t, s)
	ctx := ctxFor(t)
	now := baseTime()
	for i, sub := range []string{"u-1", "u-1", "u-2"} {
		sess := session(sub+"-sess-"+string(rune('a'+i)), now.Add(time.Duration(i)*time.Second))
		sess.Identity = identity(sub)
		wantErr(t, "session", s.CreateSession(ctx, sess), nil)
		g := grant(sub+"-grant-"+string(rune('a'+i)), sub, sess.ID, now)
		rt := refreshToken(g.ID+"-rt", g.ID, now)
		wantErr(t, "grant", s.CreateGrant(ctx, g, &rt), nil)
	}
	offline := grant("u-1-offline", "u-1", "", now) // no session: a refresh family of its own
	wantErr(t, "offline grant", s.CreateGrant(ctx, offline, nil), nil)
	for _, c := range []string{"client-b", "client-a"} {
		wantErr(t, "consent", s.PutConsent(ctx, storage.Consent{Subject: "u-1", ClientID: c, Scopes: []string{"openid"}, CreatedAt: now, UpdatedAt: now}), nil)
	}

	sessions, err := us.ListUserSessions(ctx, "u-1")
	wantErr(t, "list sessions", err, nil)
	if len(sessions) != 2 || sessions[0].ID != "u-1-sess-a" || sessions[1].ID != "u-1-sess-b" || sessions[0].Identity.Subject != "u-1" {
		t.Fatalf("sessions of u-1 = %+v", sessions)
	}
	consents, err := us.ListUserConsents(ctx, "u-1")
	wantErr(t, "list consents", err, nil)
	if len(consents) != 2 || consents[0].ClientID != "client-a" || consents[1].ClientID != "client-b" {
		t.Fatalf("consents of u-1 = %+v", consents)
	}
	none, err := us.ListUserSessions(ctx, "nobody")
	wantErr(t, "list none", err, nil)
	if len(none) != 0 {
		t.Fatalf("sessions of nobody = %+v", none)
	}

	nSess, nGrants, err := us.RevokeUserSessions(ctx, "u-1", now)
	wantErr(t, "revoke", err, nil)
	if nSess != 2 || nGrants != 3 {
		t.Fatalf("revoked %d sessions and %d grants, want 2 and 3", nSess, nGrants)
	}
	left, err := us.ListUserSessions(ctx, "u-1")
	wantErr(t, "list after revoke", err, nil)
	if len(left) != 0 {
		t.Fatalf("sessions left: %+v", left)
	}
	for _, id := range []string{"u-1-grant-a", "u-1-grant-b", "u-1-offline"} {
		g, err := s.GetGrant(ctx, id)
		wantErr(t, id, err, nil)
		if !g.Revoked {
			t.Errorf("grant %s not revoked", id)
		}
	}
	g, err := s.GetGrant(ctx, "u-2-grant-c")
	wantErr(t, "other user's grant", err, nil)
	if g.Revoked {
		t.Error("another user's grant was revoked")
	}
	_, err = s.GetSession(ctx, "u-2-sess-c")
	wantErr(t, "other user's session", err, nil)
}
