package storagetest

import (
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// RunUserRemoval runs the conformance tests of LocalUser.FromConfig and of the optional
// storage.UserRemover. A backend that implements it calls RunUserRemoval from its tests; for
// a backend that does not, the tests fail.
func RunUserRemoval(t *testing.T, open func(t *testing.T) storage.Storage) {
	t.Run("FromConfig", func(t *testing.T) { testFromConfig(t, open(t)) })
	t.Run("DeleteUserData", func(t *testing.T) { testDeleteUserData(t, open(t)) })
}

func testFromConfig(t *testing.T, s storage.Storage) {
	ctx := ctxFor(t)
	now := baseTime()
	cfgUser := localUser("carol", now)
	cfgUser.FromConfig = true
	wantErr(t, "upsert config user", s.UpsertLocalUser(ctx, cfgUser), nil)
	wantErr(t, "create other user", s.CreateLocalUser(ctx, localUser("dave", now)), nil)
	users, err := s.ListLocalUsers(ctx)
	wantErr(t, "list", err, nil)
	got := map[string]bool{}
	for _, u := range users {
		got[u.Username] = u.FromConfig
	}
	if !got["carol"] || got["dave"] || len(got) != 2 {
		t.Fatalf("FromConfig by user = %v, want carol true, dave false", got)
	}
	// Upserting a user provisioned otherwise as a config user takes it over, and back.
	dave := localUser("dave", now)
	dave.FromConfig = true
	wantErr(t, "upsert dave from config", s.UpsertLocalUser(ctx, dave), nil)
	u, err := s.GetLocalUser(ctx, "dave")
	wantErr(t, "get dave", err, nil)
	if !u.FromConfig {
		t.Fatal("upsert did not store FromConfig")
	}
	dave.FromConfig = false
	wantErr(t, "upsert dave not from config", s.UpsertLocalUser(ctx, dave), nil)
	u, err = s.GetLocalUser(ctx, "dave")
	wantErr(t, "get dave", err, nil)
	if u.FromConfig {
		t.Fatal("upsert did not clear FromConfig")
	}
}

// userData stores one of everything for the internal user sub (and its session/grant IDs
// prefixed with sub).
func userData(t *testing.T, s storage.Storage, sub string, now time.Time) {
	t.Helper()
	ctx := ctxFor(t)
	sess := session(sub+"-sess", now)
	sess.Identity = identity(sub)
	wantErr(t, "session", s.CreateSession(ctx, sess), nil)
	ar := authRequest(sub+"-ar", now)
	ar.LoggedIn, ar.Identity = true, identity(sub)
	wantErr(t, "auth request", s.CreateAuthRequest(ctx, ar), nil)
	code := authCode(sub+"-code", now)
	code.Identity = identity(sub)
	wantErr(t, "code", s.CreateAuthCode(ctx, code), nil)
	rt := refreshToken(sub+"-rt", sub+"-grant", now)
	wantErr(t, "grant", s.CreateGrant(ctx, grant(sub+"-grant", sub, sub+"-sess", now), &rt), nil)
	wantErr(t, "consent", s.PutConsent(ctx, storage.Consent{Subject: sub, ClientID: "client-a", Scopes: []string{"openid"}, CreatedAt: now, UpdatedAt: now}), nil)
	_, _, err := s.LinkUser(ctx, "local", sub+"-name", sub, now)
	wantErr(t, "link", err, nil)
	if m, ok := s.(storage.MFAStore); ok {
		_, err := m.PutMFAEnrolment(ctx, enrolment(sub, now))
		wantErr(t, "mfa enrolment", err, nil)
		wantErr(t, "mfa factor", m.CreateMFAFactor(ctx, totpFactor(sub+"-f", sub, now)), nil)
	}
}

// wantUserData fails t unless all of sub's records exist (present) or none does.
func wantUserData(t *testing.T, s storage.Storage, sub string, now time.Time, present bool) {
	t.Helper()
	ctx := ctxFor(t)
	want := error(nil)
	if !present {
		want = storage.ErrNotFound
	}
	_, err := s.GetSession(ctx, sub+"-sess")
	wantErr(t, sub+" session", err, want)
	_, err = s.GetAuthRequest(ctx, sub+"-ar")
	wantErr(t, sub+" auth request", err, want)
	_, err = s.ConsumeCode(ctx, sub+"-code", now)
	wantErr(t, sub+" code", err, want)
	_, err = s.GetGrant(ctx, sub+"-grant")
	wantErr(t, sub+" grant", err, want)
	_, err = s.GetRefreshToken(ctx, sub+"-rt")
	wantErr(t, sub+" refresh token", err, want)
	_, err = s.GetConsent(ctx, sub, "client-a")
	wantErr(t, sub+" consent", err, want)
	_, err = s.GetUserLink(ctx, "local", sub+"-name")
	wantErr(t, sub+" link", err, want)
	if m, ok := s.(storage.MFAStore); ok {
		_, err := m.GetMFAEnrolment(ctx, sub)
		wantErr(t, sub+" mfa enrolment", err, want)
		fs, err := m.ListMFAFactors(ctx, sub)
		wantErr(t, sub+" mfa factors", err, nil)
		if (len(fs) > 0) != present {
			t.Errorf("%s: %d MFA factors, want present=%v", sub, len(fs), present)
		}
	}
}

func testDeleteUserData(t *testing.T, s storage.Storage) {
	r := implements[storage.UserRemover](t, s)
	ctx := ctxFor(t)
	now := baseTime()
	userData(t, s, "u-gone", now)
	userData(t, s, "u-kept", now)
	wantErr(t, "delete", r.DeleteUserData(ctx, "u-gone"), nil)
	wantUserData(t, s, "u-gone", now, false)
	wantUserData(t, s, "u-kept", now, true)
	wantErr(t, "delete again", r.DeleteUserData(ctx, "u-gone"), nil)
	wantErr(t, "delete unknown", r.DeleteUserData(ctx, "nobody"), nil)
	// The ID is free again: a new link gets a new user, never the deleted one.
	uid, created, err := s.LinkUser(ctx, "local", "u-gone-name", "u-new", now)
	wantErr(t, "relink", err, nil)
	if !created || uid != "u-new" {
		t.Fatalf("LinkUser after deletion = %s, %v", uid, created)
	}
}
