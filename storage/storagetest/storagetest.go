// Package storagetest is the conformance suite every storage backend passes: CRUD and the
// error sentinels, round-trips of every field, time zones, the single-use and rotation
// semantics documented in package storage, garbage collection, concurrency, and two
// handles on one database acting as replicas.
//
// A backend's test calls Run (and, if it supports several handles on one database,
// RunTwoHandles):
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Storage { return openEmpty(t) })
//	}
//
// Identity.Extra values must survive as JSON does: the suite uses strings, float64, bool,
// []any and map[string]any only.
package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// timeout bounds every subtest, so a deadlock fails the test instead of hanging it.
const timeout = 10 * time.Second

// Run runs the conformance suite. open must return a new, empty Storage on every call
// and register its Close with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) storage.Storage) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Storage)
	}{
		{"AuthRequests", testAuthRequests},
		{"AuthRequestProtocols", testAuthRequestProtocols},
		{"AuthCodes", testAuthCodes},
		{"Grants", testGrants},
		{"RefreshTokens", testRefreshTokens},
		{"Sessions", testSessions},
		{"Consents", testConsents},
		{"SigningKeys", testSigningKeys},
		{"LocalUsers", testLocalUsers},
		{"UserLinks", testUserLinks},
		{"GC", testGC},
		{"Timezones", testTimezones},
		{"Concurrency", testConcurrency},
		{"Ping", testPing},
		{"MFA", testMFA},
		{"DPoPBindings", testDPoPBindings},
		{"AuthRequestUILocales", testAuthRequestUILocales},
		{"Resources", testResources},
		{"RequestedClaims", testRequestedClaims},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

// ctxFor returns t.Context() bounded by the suite timeout.
func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// zone is where the suite writes its times; backends return them in UTC.
var zone = time.FixedZone("UTC+05:30", 5*3600+30*60)

// baseTime is a current time with sub-millisecond digits, in zone.
func baseTime() time.Time {
	return time.Now().Truncate(time.Second).Add(123456789 * time.Nanosecond).In(zone)
}

// wantErr fails t unless errors.Is(err, target) (target nil means err must be nil).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	switch {
	case target == nil && err != nil:
		t.Fatalf("%s: unexpected error: %v", what, err)
	case target != nil && !errors.Is(err, target):
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

func identity(sub string) storage.Identity {
	return storage.Identity{
		Subject:           sub,
		Email:             sub + "@example.com",
		EmailVerified:     true,
		Name:              "User " + sub,
		PreferredUsername: sub,
		Groups:            []string{"admins", "dev ops", "ünïcode"},
		Extra: map[string]any{
			"str":    "value",
			"num":    42.5,
			"bool":   true,
			"list":   []any{"a", 1.0, false},
			"nested": map[string]any{"k": "v", "n": []any{"x"}},
		},
	}
}

func authentication(now time.Time) storage.Authentication {
	return storage.Authentication{
		ConnectorID:     "ldap",
		AuthTime:        now.Add(-time.Minute),
		AMR:             []string{"pwd", "otp"},
		ACR:             "urn:acr:mfa",
		UpstreamSubject: "upstream|42",
		ConnectorData:   []byte{0, 1, 2, 0xff, '"'},
	}
}

func authRequest(id string, now time.Time) storage.AuthRequest {
	return storage.AuthRequest{
		ID:                  id,
		FlowHash:            "flow-" + id,
		Protocol:            storage.ProtocolOIDC,
		ClientID:            "client-a",
		RedirectURI:         "https://app.example.com/cb?x=1&y=2",
		ResponseType:        "code",
		ResponseMode:        "query",
		Scopes:              []string{"openid", "email", "offline_access"},
		State:               "state-" + id,
		Nonce:               "nonce-" + id,
		CodeChallenge:       "challenge",
		CodeChallengeMethod: "S256",
		Prompt:              []string{"login", "consent"},
		MaxAge:              -1,
		LoginHint:           "alice@example.com",
		ConnectorID:         "ldap",
		ACRValues:           []string{"urn:acr:mfa"},
		ConnectorState:      []byte(`{"nonce":"n","verifier":"v"}`),
		CreatedAt:           now,
		Expiry:              now.Add(10 * time.Minute),
	}
}

func authCode(hash string, now time.Time) storage.AuthCode {
	return storage.AuthCode{
		Hash:                hash,
		ClientID:            "client-a",
		RedirectURI:         "https://app.example.com/cb",
		Scopes:              []string{"openid", "profile"},
		Nonce:               "nonce",
		CodeChallenge:       "challenge",
		CodeChallengeMethod: "S256",
		Identity:            identity("alice"),
		Auth:                authentication(now),
		SessionID:           "session-1",
		GrantID:             "grant-of-" + hash,
		CreatedAt:           now,
		Expiry:              now.Add(time.Minute),
	}
}

func grant(id, sub, sessionID string, now time.Time) storage.Grant {
	return storage.Grant{
		ID:             id,
		ClientID:       "client-a",
		Scopes:         []string{"openid", "offline_access"},
		Nonce:          "nonce-" + id,
		Identity:       identity(sub),
		Auth:           authentication(now),
		SessionID:      sessionID,
		CreatedAt:      now,
		AbsoluteExpiry: now.Add(30 * 24 * time.Hour),
	}
}

func refreshToken(hash, grantID string, now time.Time) storage.RefreshToken {
	return storage.RefreshToken{
		Hash:       hash,
		GrantID:    grantID,
		CreatedAt:  now,
		IdleExpiry: now.Add(24 * time.Hour),
	}
}

func session(id string, now time.Time) storage.Session {
	return storage.Session{
		ID:             id,
		Identity:       identity("alice"),
		Auth:           authentication(now),
		CreatedAt:      now,
		LastUsed:       now,
		IdleExpiry:     now.Add(time.Hour),
		AbsoluteExpiry: now.Add(12 * time.Hour),
	}
}

func signingKey(id string, now time.Time) storage.SigningKey {
	return storage.SigningKey{
		ID:         id,
		Algorithm:  "RS256",
		PrivateJWK: []byte(`{"kty":"RSA","kid":"` + id + `","d":"secret"}`),
		PublicJWK:  []byte(`{"kty":"RSA","kid":"` + id + `"}`),
		CreatedAt:  now,
		ActiveFrom: now.Add(time.Hour),
	}
}

func localUser(name string, now time.Time) storage.LocalUser {
	return storage.LocalUser{
		Username:      name,
		Email:         name + "@example.com",
		EmailVerified: true,
		Name:          "Local " + name,
		Groups:        []string{"staff"},
		PasswordHash:  "$2a$10$abcdefghijklmnopqrstuv",
		CreatedAt:     now,
		UpdatedAt:     now,
	}
}

// run starts n goroutines at once and waits for them.
func run(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

func testAuthRequests(t *testing.T, s storage.Storage) {
	ctx := ctxFor(t)
	now := baseTime()
	r := authRequest("ar-1", now)

	wantErr(t, "create", s.CreateAuthRequest(ctx, r), nil)
	wantErr(t, "create duplicate", s.CreateAuthRequest(ctx, authRequest("ar-1", now)), storage.ErrAlreadyExists)
	_, err := s.GetAuthRequest(ctx, "missing")
	wantErr(t, "get missing", err, storage.ErrNotFound)

	stored := r
	stored.Scopes = slices.Clone(r.Scopes)
	r.Scopes[0] = "mutated after create" // the backend must not alias the caller's slices
	got, err := s.GetAuthRequest(ctx, "ar-1")
	wantErr(t, "get", err, nil)
	mustEqual(t, "auth request", stored, got)

	// Update: every field round-trips, including the authenticated identity.
	updated := stored
	err = s.UpdateAuthRequest(ctx, "ar-1", func(cur storage.AuthRequest) (storage.AuthRequest, error) {
		mustEqual(t, "update input", stored, cur)
		cur.LoggedIn = true
		cur.Identity = identity("alice")
		cur.Auth = authentication(now)
		cur.SessionID = "session-hash"
		cur.ConnectorState = nil
		cur.Scopes = append(cur.Scopes, "groups")
		updated = cur
		return cur, nil
	})
	wantErr(t, "update", err, nil)
	got, err = s.GetAuthRequest(ctx, "ar-1")
	wantErr(t, "get updated", err, nil)
	mustEqual(t, "updated auth request", updated, got)

	// fn's error aborts the update and is returned.
	errBoom := errors.New("boom")
	err = s.UpdateAuthRequest(ctx, "ar-1", func(cur storage.AuthRequest) (storage.AuthRequest, error) {
		cur.State = "should not be stored"
		return cur, errBoom
	})
	wantErr(t, "update with failing fn", err, errBoom)
	got, err = s.GetAuthRequest(ctx, "ar-1")
	wantErr(t, "get after failed update", err, nil)
	mustEqual(t, "auth request after failed update", updated, got)

	called := false
	err = s.UpdateAuthRequest(ctx, "missing", func(cur storage.AuthRequest) (storage.AuthRequest, error) {
		called = true
		return cur, nil
	})
	wantErr(t, "update missing", err, storage.ErrNotFound)
	if called {
		t.Error("update missing: fn was called")
	}

	// Atomic: concurrent read-modify-writes lose nothing.
	const n = 8
	var failures sync.Map
	run(n, func(i int) {
		err := s.UpdateAuthRequest(ctx, "ar-1", func(cur storage.AuthRequest) (storage.AuthRequest, error) {
			cur.ACRValues = append(cur.ACRValues, fmt.Sprintf("acr-%d", i))
			return cur, nil
		})
		if err != nil {
			failures.Store(i, err)
		}
	})
	failures.Range(func(k, v any) bool { t.Errorf("concurrent update %v: %v", k, v); return true })
	got, err = s.GetAuthRequest(ctx, "ar-1")
	wantErr(t, "get after concurrent updates", err, nil)
	if len(got.ACRValues) != 1+n {
		t.Errorf("after %d concurrent updates ACRValues = %v: updates were lost", n, got.ACRValues)
	}

	wantErr(t, "delete", s.DeleteAuthRequest(ctx, "ar-1"), nil)
	_, err = s.GetAuthRequest(ctx, "ar-1")
	wantErr(t, "get deleted", err, storage.ErrNotFound)
	wantErr(t, "delete missing", s.DeleteAuthRequest(ctx, "ar-1"), storage.ErrNotFound)
}

func testAuthCodes(t *testing.T, s storage.Storage) {
	ctx := ctxFor(t)
	now := baseTime()
	c := authCode("code-1", now)

	wantErr(t, "create", s.CreateAuthCode(ctx, c), nil)
	wantErr(t, "create duplicate", s.CreateAuthCode(ctx, authCode("code-1", now)), storage.ErrAlreadyExists)

	got, err := s.ConsumeCode(ctx, "code-1", now.Add(time.Second))
	wantErr(t, "consume", err, nil)
	want := c
	want.Consumed = true
	mustEqual(t, "consumed code", want, got)

	got, err = s.ConsumeCode(ctx, "code-1", now.Add(2*time.Second))
	wantErr(t, "consume twice", err, storage.ErrReused)
	mustEqual(t, "code returned with ErrReused", want, got)

	_, err = s.ConsumeCode(ctx, "missing", now)
	wantErr(t, "consume missing", err, storage.ErrNotFound)

	// Expired at now: not found, whether or not it was consumed.
	wantErr(t, "create short-lived", s.CreateAuthCode(ctx, authCode("code-2", now)), nil)
	_, err = s.ConsumeCode(ctx, "code-2", now.Add(2*time.Minute))
	wantErr(t, "consume expired", err, storage.ErrNotFound)
	_, err = s.ConsumeCode(ctx, "code-2", now)
	wantErr(t, "consume before expiry after a failed expired attempt", err, nil)
	_, err = s.ConsumeCode(ctx, "code-1", now.Add(2*time.Minute))
	wantErr(t, "consume consumed and expired", err, storage.ErrNotFound)
}

func testGrants(t *testing.T, s storage.Storage) {
	ctx := ctxFor(t)
	now := baseTime()
	g := grant("g-1", "alice", "sess-1", now)
	first := refreshToken("rt-1", "", now)

	wantErr(t, "create", s.CreateGrant(ctx, g, &first), nil)
	wantErr(t, "create duplicate", s.CreateGrant(ctx, grant("g-1", "bob", "", now), nil), storage.ErrAlreadyExists)
	got, err := s.GetGrant(ctx, "g-1")
	wantErr(t, "get", err, nil)
	mustEqual(t, "grant", g, got)
	rt, err := s.GetRefreshToken(ctx, "rt-1")
	wantErr(t, "get first refresh token", err, nil)
	first.GrantID = "g-1"
	mustEqual(t, "first refresh token", first, rt)
	_, err = s.GetGrant(ctx, "missing")
	wantErr(t, "get missing", err, storage.ErrNotFound)

	// CreateGrant is atomic: a colliding first token leaves no grant behind.
	dup := refreshToken("rt-1", "", now)
	err = s.CreateGrant(ctx, grant("g-dup", "alice", "", now), &dup)
	wantErr(t, "create grant with a taken token hash", err, storage.ErrAlreadyExists)
	_, err = s.GetGrant(ctx, "g-dup")
	wantErr(t, "grant of a failed create", err, storage.ErrNotFound)

	// ListGrants: live grants of the subject only.
	for _, gg := range []storage.Grant{
		grant("g-2", "alice", "sess-1", now.Add(time.Second)),
		grant("g-3", "alice", "sess-2", now.Add(2*time.Second)),
		grant("g-4", "bob", "sess-1", now),
	} {
		wantErr(t, "create "+gg.ID, s.CreateGrant(ctx, gg, nil), nil)
	}
	wantErr(t, "revoke g-2", s.RevokeGrant(ctx, "g-2", now.Add(time.Minute)), nil)
	listIDs := func(sub string) []string {
		t.Helper()
		gs, err := s.ListGrants(ctx, sub)
		wantErr(t, "list grants of "+sub, err, nil)
		var ids []string
		for _, g := range gs {
			if g.Identity.Subject != sub {
				t.Errorf("ListGrants(%q) returned a grant of %q", sub, g.Identity.Subject)
			}
			ids = append(ids, g.ID)
		}
		sort.Strings(ids)
		return ids
	}
	if ids := listIDs("alice"); !slices.Equal(ids, []string{"g-1", "g-3"}) {
		t.Errorf("ListGrants(alice) = %v, want [g-1 g-3]", ids)
	}
	if ids := listIDs("nobody"); len(ids) != 0 {
		t.Errorf("ListGrants(nobody) = %v, want none", ids)
	}

	// RevokeGrant: sets Revoked/RevokedAt; idempotent; missing is not an error.
	got, err = s.GetGrant(ctx, "g-2")
	wantErr(t, "get revoked", err, nil)
	if !got.Revoked || !timeEqual(now.Add(time.Minute), got.RevokedAt) {
		t.Errorf("revoked grant: Revoked=%v RevokedAt=%v, want true %v", got.Revoked, got.RevokedAt, now.Add(time.Minute).UTC())
	}
	wantErr(t, "revoke again", s.RevokeGrant(ctx, "g-2", now.Add(2*time.Minute)), nil)
	wantErr(t, "revoke missing", s.RevokeGrant(ctx, "missing", now), nil)
	got, err = s.GetGrant(ctx, "g-2")
	wantErr(t, "get revoked twice", err, nil)
	if !got.Revoked {
		t.Error("grant revoked twice is not revoked")
	}

	// RevokeSessionGrants: every grant of sess-1 (any subject), nothing else.
	wantErr(t, "revoke session grants", s.RevokeSessionGrants(ctx, "sess-1", now.Add(time.Hour)), nil)
	for id, revoked := range map[string]bool{"g-1": true, "g-2": true, "g-3": false, "g-4": true} {
		got, err := s.GetGrant(ctx, id)
		wantErr(t, "get "+id, err, nil)
		if got.Revoked != revoked {
			t.Errorf("after RevokeSessionGrants(sess-1): %s revoked = %v, want %v", id, got.Revoked, revoked)
		}
	}
	if ids := listIDs("alice"); !slices.Equal(ids, []string{"g-3"}) {
		t.Errorf("ListGrants(alice) after session revocation = %v, want [g-3]", ids)
	}
}

func testRefreshTokens(t *testing.T, s storage.Storage) {
	ctx := ctxFor(t)
	now := baseTime()
	g := grant("g-1", "alice", "sess-1", now)
	first := refreshToken("rt-1", "g-1", now)
	wantErr(t, "create grant", s.CreateGrant(ctx, g, &first), nil)
	_, err := s.GetRefreshToken(ctx, "missing")
	wantErr(t, "get missing", err, storage.ErrNotFound)

	// Success: the old token is marked used at now, next is stored in the same grant.
	at := now.Add(time.Minute)
	next := refreshToken("rt-2", "", at)
	gotGrant, old, err := s.RotateRefreshToken(ctx, "rt-1", next, at)
	wantErr(t, "rotate", err, nil)
	mustEqual(t, "grant returned by rotate", g, gotGrant)
	wantOld := first
	wantOld.UsedAt = at
	mustEqual(t, "old token returned by rotate", wantOld, old)
	stored, err := s.GetRefreshToken(ctx, "rt-1")
	wantErr(t, "get used token", err, nil)
	mustEqual(t, "used token", wantOld, stored)
	stored, err = s.GetRefreshToken(ctx, "rt-2")
	wantErr(t, "get next token", err, nil)
	next.GrantID = "g-1"
	mustEqual(t, "next token", next, stored)

	// Reuse: ErrReused with the old token; nothing stored.
	_, old, err = s.RotateRefreshToken(ctx, "rt-1", refreshToken("rt-x", "", at), at.Add(time.Second))
	wantErr(t, "rotate used token", err, storage.ErrReused)
	if old.Hash != "rt-1" || !timeEqual(at, old.UsedAt) {
		t.Errorf("rotate used token returned %+v, want rt-1 used at %v", old, at.UTC())
	}
	_, err = s.GetRefreshToken(ctx, "rt-x")
	wantErr(t, "next of a reused rotation", err, storage.ErrNotFound)

	_, _, err = s.RotateRefreshToken(ctx, "missing", refreshToken("rt-y", "", at), at)
	wantErr(t, "rotate missing", err, storage.ErrNotFound)
	_, err = s.GetRefreshToken(ctx, "rt-y")
	wantErr(t, "next of a missing rotation", err, storage.ErrNotFound)

	// Colliding next hash: ErrAlreadyExists and the old token stays usable.
	_, _, err = s.RotateRefreshToken(ctx, "rt-2", refreshToken("rt-1", "", at), at)
	wantErr(t, "rotate onto a taken hash", err, storage.ErrAlreadyExists)
	stored, err = s.GetRefreshToken(ctx, "rt-2")
	wantErr(t, "get rt-2", err, nil)
	if !stored.UsedAt.IsZero() {
		t.Error("a failed rotation marked the old token used")
	}

	tests := []struct {
		name  string
		grant storage.Grant
		token storage.RefreshToken
		setup func(t *testing.T, g storage.Grant)
	}{
		{
			name:  "idle expired",
			grant: grant("g-idle", "alice", "", now),
			token: storage.RefreshToken{Hash: "rt-idle", CreatedAt: now, IdleExpiry: at.Add(-time.Second)},
		},
		{
			name:  "grant revoked",
			grant: grant("g-revoked", "alice", "", now),
			token: refreshToken("rt-revoked", "", now),
			setup: func(t *testing.T, g storage.Grant) {
				wantErr(t, "revoke", s.RevokeGrant(ctx, g.ID, now), nil)
			},
		},
		{
			name: "grant past absolute expiry",
			grant: func() storage.Grant {
				g := grant("g-abs", "alice", "", now)
				g.AbsoluteExpiry = at.Add(-time.Second)
				return g
			}(),
			token: refreshToken("rt-abs", "", now),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.token
			wantErr(t, "create grant", s.CreateGrant(ctx, tt.grant, &tok), nil)
			if tt.setup != nil {
				tt.setup(t, tt.grant)
			}
			nextHash := tt.token.Hash + "-next"
			_, _, err := s.RotateRefreshToken(ctx, tt.token.Hash, refreshToken(nextHash, "", at), at)
			wantErr(t, "rotate", err, storage.ErrNotFound)
			_, err = s.GetRefreshToken(ctx, nextHash)
			wantErr(t, "next token", err, storage.ErrNotFound)
			old, err := s.GetRefreshToken(ctx, tt.token.Hash)
			wantErr(t, "old token", err, nil)
			if !old.UsedAt.IsZero() {
				t.Error("a rejected rotation marked the token used")
			}
		})
	}
}

func testSessions(t *testing.T, s storage.Storage) {
	ctx := ctxFor(t)
	now := baseTime()
	sess := session("s-1", now)
	sess.Auth.Device = "Firefox · Linux" // the account page's name of the browser, kept with the auth

	wantErr(t, "create", s.CreateSession(ctx, sess), nil)
	wantErr(t, "create duplicate", s.CreateSession(ctx, session("s-1", now)), storage.ErrAlreadyExists)
	got, err := s.GetSession(ctx, "s-1")
	wantErr(t, "get", err, nil)
	mustEqual(t, "session", sess, got)
	_, err = s.GetSession(ctx, "missing")
	wantErr(t, "get missing", err, storage.ErrNotFound)

	tests := []struct {
		name                 string
		lastUsed, idle, want time.Time
	}{
		{"within absolute expiry", now.Add(time.Minute), now.Add(61 * time.Minute), now.Add(61 * time.Minute)},
		{"capped at absolute expiry", now.Add(11 * time.Hour), now.Add(13 * time.Hour), sess.AbsoluteExpiry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, "touch", s.TouchSession(ctx, "s-1", tt.lastUsed, tt.idle), nil)
			got, err := s.GetSession(ctx, "s-1")
			wantErr(t, "get", err, nil)
			want := sess
			want.LastUsed, want.IdleExpiry = tt.lastUsed, tt.want
			mustEqual(t, "touched session", want, got)
		})
	}
	wantErr(t, "touch missing", s.TouchSession(ctx, "missing", now, now), storage.ErrNotFound)

	wantErr(t, "delete", s.DeleteSession(ctx, "s-1"), nil)
	_, err = s.GetSession(ctx, "s-1")
	wantErr(t, "get deleted", err, storage.ErrNotFound)
	wantErr(t, "delete missing", s.DeleteSession(ctx, "s-1"), storage.ErrNotFound)
}

func testConsents(t *testing.T, s storage.Storage) {
	ctx := ctxFor(t)
	now := baseTime()
	_, err := s.GetConsent(ctx, "alice", "client-a")
	wantErr(t, "get missing", err, storage.ErrNotFound)

	c1 := storage.Consent{Subject: "alice", ClientID: "client-a", Scopes: []string{"openid", "email"}, Claims: []string{"name", "department"}, CreatedAt: now, UpdatedAt: now}
	c2 := storage.Consent{Subject: "alice", ClientID: "client-b", Scopes: []string{"openid"}, CreatedAt: now, UpdatedAt: now}
	wantErr(t, "put", s.PutConsent(ctx, c1), nil)
	wantErr(t, "put other client", s.PutConsent(ctx, c2), nil)
	got, err := s.GetConsent(ctx, "alice", "client-a")
	wantErr(t, "get", err, nil)
	mustEqual(t, "consent", c1, got)

	c1b := c1
	c1b.Scopes = []string{"openid", "groups"}
	c1b.UpdatedAt = now.Add(time.Hour)
	wantErr(t, "put replacing", s.PutConsent(ctx, c1b), nil)
	got, err = s.GetConsent(ctx, "alice", "client-a")
	wantErr(t, "get replaced", err, nil)
	mustEqual(t, "replaced consent", c1b, got)
	got, err = s.GetConsent(ctx, "alice", "client-b")
	wantErr(t, "get other client", err, nil)
	mustEqual(t, "other client's consent", c2, got)
	_, err = s.GetConsent(ctx, "bob", "client-a")
	wantErr(t, "get other subject", err, storage.ErrNotFound)

	wantErr(t, "delete", s.DeleteConsent(ctx, "alice", "client-a"), nil)
	_, err = s.GetConsent(ctx, "alice", "client-a")
	wantErr(t, "get deleted", err, storage.ErrNotFound)
	wantErr(t, "delete missing", s.DeleteConsent(ctx, "alice", "client-a"), storage.ErrNotFound)
	_, err = s.GetConsent(ctx, "alice", "client-b")
	wantErr(t, "other client survives delete", err, nil)
}

// sortedKeys returns keys sorted by ID.
func sortedKeys(ks []storage.SigningKey) []storage.SigningKey {
	ks = slices.Clone(ks)
	slices.SortFunc(ks, func(a, b storage.SigningKey) int { return cmpString(a.ID, b.ID) })
	return ks
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func testSigningKeys(t *testing.T, s storage.Storage) {
	ctx := ctxFor(t)
	now := baseTime()
	list := func() []storage.SigningKey {
		t.Helper()
		ks, err := s.ListSigningKeys(ctx)
		wantErr(t, "list", err, nil)
		return sortedKeys(ks)
	}
	if ks := list(); len(ks) != 0 {
		t.Fatalf("new store has signing keys: %v", ks)
	}

	k1, k2 := signingKey("k1", now), signingKey("k2", now.Add(time.Second))
	err := s.UpdateSigningKeys(ctx, func(cur []storage.SigningKey) ([]storage.SigningKey, bool, error) {
		if len(cur) != 0 {
			t.Errorf("fn got %d keys, want 0", len(cur))
		}
		return []storage.SigningKey{k1, k2}, true, nil
	})
	wantErr(t, "update", err, nil)
	mustEqual(t, "keys", []storage.SigningKey{k1, k2}, list())

	// changed == false writes nothing, whatever fn returned.
	err = s.UpdateSigningKeys(ctx, func(cur []storage.SigningKey) ([]storage.SigningKey, bool, error) {
		mustEqual(t, "fn input", []storage.SigningKey{k1, k2}, sortedKeys(cur))
		return []storage.SigningKey{signingKey("ignored", now)}, false, nil
	})
	wantErr(t, "update unchanged", err, nil)
	mustEqual(t, "keys after unchanged update", []storage.SigningKey{k1, k2}, list())

	errBoom := errors.New("boom")
	err = s.UpdateSigningKeys(ctx, func(cur []storage.SigningKey) ([]storage.SigningKey, bool, error) {
		return nil, true, errBoom
	})
	wantErr(t, "update with failing fn", err, errBoom)
	mustEqual(t, "keys after failed update", []storage.SigningKey{k1, k2}, list())

	// The whole set is replaced: k1 goes, k2 changes, k3 arrives.
	k2b := k2
	k2b.RetiredAt, k2b.ExpiresAt = now.Add(2*time.Hour), now.Add(26*time.Hour)
	k3 := signingKey("k3", now.Add(2*time.Second))
	k3.Algorithm = "EdDSA"
	err = s.UpdateSigningKeys(ctx, func(cur []storage.SigningKey) ([]storage.SigningKey, bool, error) {
		return []storage.SigningKey{k3, k2b}, true, nil
	})
	wantErr(t, "update replacing", err, nil)
	mustEqual(t, "replaced keys", []storage.SigningKey{k2b, k3}, list())

	err = s.UpdateSigningKeys(ctx, func(cur []storage.SigningKey) ([]storage.SigningKey, bool, error) {
		return nil, true, nil
	})
	wantErr(t, "update to empty", err, nil)
	if ks := list(); len(ks) != 0 {
		t.Errorf("keys after emptying: %v", ks)
	}
}

func testLocalUsers(t *testing.T, s storage.Storage) {
	ctx := ctxFor(t)
	now := baseTime()
	alice, bob := localUser("alice", now), localUser("bob", now)

	wantErr(t, "create", s.CreateLocalUser(ctx, bob), nil)
	wantErr(t, "create", s.CreateLocalUser(ctx, alice), nil)
	wantErr(t, "create duplicate", s.CreateLocalUser(ctx, localUser("alice", now)), storage.ErrAlreadyExists)
	got, err := s.GetLocalUser(ctx, "alice")
	wantErr(t, "get", err, nil)
	mustEqual(t, "local user", alice, got)
	_, err = s.GetLocalUser(ctx, "missing")
	wantErr(t, "get missing", err, storage.ErrNotFound)

	alice.Groups = []string{"staff", "admins"}
	alice.EmailVerified = false
	alice.PasswordHash = "$2a$10$changed"
	alice.UpdatedAt = now.Add(time.Hour)
	wantErr(t, "upsert existing", s.UpsertLocalUser(ctx, alice), nil)
	carol := localUser("carol", now)
	carol.Groups = nil
	wantErr(t, "upsert new", s.UpsertLocalUser(ctx, carol), nil)

	users, err := s.ListLocalUsers(ctx)
	wantErr(t, "list", err, nil)
	slices.SortFunc(users, func(a, b storage.LocalUser) int { return cmpString(a.Username, b.Username) })
	mustEqual(t, "local users", []storage.LocalUser{alice, bob, carol}, users)

	wantErr(t, "delete", s.DeleteLocalUser(ctx, "bob"), nil)
	_, err = s.GetLocalUser(ctx, "bob")
	wantErr(t, "get deleted", err, storage.ErrNotFound)
	wantErr(t, "delete missing", s.DeleteLocalUser(ctx, "bob"), storage.ErrNotFound)
}

func testUserLinks(t *testing.T, s storage.Storage) {
	ctx := ctxFor(t)
	now := baseTime()
	_, err := s.GetUserLink(ctx, "ldap", "uid=alice")
	wantErr(t, "get missing", err, storage.ErrNotFound)

	tests := []struct {
		connector, upstream, newID string
		wantID                     string
		wantCreated                bool
	}{
		{"ldap", "uid=alice", "user-1", "user-1", true},
		{"ldap", "uid=alice", "user-2", "user-1", false},
		{"github", "uid=alice", "user-3", "user-3", true},
		{"ldap", "uid=bob", "user-4", "user-4", true},
	}
	for _, tt := range tests {
		id, created, err := s.LinkUser(ctx, tt.connector, tt.upstream, tt.newID, now)
		wantErr(t, "link", err, nil)
		if id != tt.wantID || created != tt.wantCreated {
			t.Errorf("LinkUser(%s, %s, %s) = %s, %v; want %s, %v", tt.connector, tt.upstream, tt.newID, id, created, tt.wantID, tt.wantCreated)
		}
	}
	got, err := s.GetUserLink(ctx, "ldap", "uid=alice")
	wantErr(t, "get", err, nil)
	mustEqual(t, "user link", storage.UserLink{ConnectorID: "ldap", UpstreamSubject: "uid=alice", UserID: "user-1", CreatedAt: now}, got)
}

func testGC(t *testing.T, s storage.Storage) {
	ctx := ctxFor(t)
	now := baseTime()
	past, future := now.Add(-time.Minute), now.Add(time.Hour)

	// Auth requests: 2 expired, 1 live.
	for id, exp := range map[string]time.Time{"ar-old-1": past, "ar-old-2": past, "ar-live": future} {
		r := authRequest(id, now.Add(-time.Hour))
		r.Expiry = exp
		wantErr(t, "create auth request", s.CreateAuthRequest(ctx, r), nil)
	}
	// Codes: 1 expired, 1 live.
	for hash, exp := range map[string]time.Time{"code-old": past, "code-live": future} {
		c := authCode(hash, now.Add(-time.Hour))
		c.Expiry = exp
		wantErr(t, "create code", s.CreateAuthCode(ctx, c), nil)
	}
	// Grants and refresh tokens: g-live-1 holds an idle-expired token, g-live-2 a live one,
	// g-old is past its absolute expiry and holds an idle-expired token, g-revoked is
	// revoked but not yet past its absolute expiry (it stays, so reuse stays detectable).
	for _, tc := range []struct {
		grantID, token string
		absolute, idle time.Time
	}{
		{"g-live-1", "rt-live-old", future, past},
		{"g-live-2", "rt-live", future, future},
		{"g-old", "rt-old", past, past},
		{"g-revoked", "rt-revoked", future, future},
	} {
		g := grant(tc.grantID, "alice", "", now.Add(-time.Hour))
		g.AbsoluteExpiry = tc.absolute
		rt := refreshToken(tc.token, tc.grantID, now.Add(-time.Hour))
		rt.IdleExpiry = tc.idle
		wantErr(t, "create grant "+tc.grantID, s.CreateGrant(ctx, g, &rt), nil)
	}
	wantErr(t, "revoke", s.RevokeGrant(ctx, "g-revoked", now.Add(-time.Minute)), nil)
	// Sessions: idle-expired, absolute-expired, live.
	sIdle, sAbs, sLive := session("s-idle", now.Add(-2*time.Hour)), session("s-abs", now.Add(-13*time.Hour)), session("s-live", now)
	sIdle.IdleExpiry = past
	sAbs.IdleExpiry, sAbs.AbsoluteExpiry = future, past // only the absolute expiry has passed
	for _, ss := range []storage.Session{sIdle, sAbs, sLive} {
		wantErr(t, "create session", s.CreateSession(ctx, ss), nil)
	}
	// Signing keys: expired (retired), retired but still published, active.
	kOld, kRetired, kActive := signingKey("k-old", now.Add(-48*time.Hour)), signingKey("k-retired", now.Add(-24*time.Hour)), signingKey("k-active", now)
	kOld.RetiredAt, kOld.ExpiresAt = now.Add(-25*time.Hour), past
	kRetired.RetiredAt, kRetired.ExpiresAt = now.Add(-time.Hour), future
	wantErr(t, "store keys", s.UpdateSigningKeys(ctx, func([]storage.SigningKey) ([]storage.SigningKey, bool, error) {
		return []storage.SigningKey{kOld, kRetired, kActive}, true, nil
	}), nil)

	res, err := s.GC(ctx, now)
	wantErr(t, "gc", err, nil)
	want := storage.GCResult{AuthRequests: 2, AuthCodes: 1, RefreshTokens: 2, Grants: 1, Sessions: 2, SigningKeys: 1}
	if res != want {
		t.Errorf("GC = %+v, want %+v", res, want)
	}

	gone := map[string]error{}
	_, gone["ar-old-1"] = s.GetAuthRequest(ctx, "ar-old-1")
	_, gone["ar-old-2"] = s.GetAuthRequest(ctx, "ar-old-2")
	_, gone["code-old"] = s.ConsumeCode(ctx, "code-old", past.Add(-time.Second))
	_, gone["rt-live-old"] = s.GetRefreshToken(ctx, "rt-live-old")
	_, gone["rt-old"] = s.GetRefreshToken(ctx, "rt-old")
	_, gone["g-old"] = s.GetGrant(ctx, "g-old")
	_, gone["s-idle"] = s.GetSession(ctx, "s-idle")
	_, gone["s-abs"] = s.GetSession(ctx, "s-abs")
	for what, err := range gone {
		wantErr(t, "expired "+what+" after GC", err, storage.ErrNotFound)
	}
	kept := map[string]error{}
	_, kept["ar-live"] = s.GetAuthRequest(ctx, "ar-live")
	_, kept["code-live"] = s.ConsumeCode(ctx, "code-live", now)
	_, kept["rt-live"] = s.GetRefreshToken(ctx, "rt-live")
	_, kept["g-live-1"] = s.GetGrant(ctx, "g-live-1")
	_, kept["rt-revoked"] = s.GetRefreshToken(ctx, "rt-revoked")
	_, kept["g-revoked"] = s.GetGrant(ctx, "g-revoked")
	_, kept["s-live"] = s.GetSession(ctx, "s-live")
	for what, err := range kept {
		wantErr(t, "live "+what+" after GC", err, nil)
	}
	ks, err := s.ListSigningKeys(ctx)
	wantErr(t, "list keys", err, nil)
	mustEqual(t, "keys after GC", []storage.SigningKey{kActive, kRetired}, sortedKeys(ks))

	res, err = s.GC(ctx, now)
	wantErr(t, "second gc", err, nil)
	if res != (storage.GCResult{}) {
		t.Errorf("second GC = %+v, want nothing removed", res)
	}
}

func testTimezones(t *testing.T, s storage.Storage) {
	ctx := ctxFor(t)
	zones := []*time.Location{
		time.UTC,
		time.FixedZone("UTC-08", -8*3600),
		time.FixedZone("UTC+14", 14*3600),
		time.FixedZone("UTC+05:45", 5*3600+45*60),
	}
	base := time.Date(2031, 3, 30, 1, 30, 0, 999_999_999, time.UTC) // sub-ms digits everywhere
	for i, loc := range zones {
		t.Run(loc.String(), func(t *testing.T) {
			now := base.Add(time.Duration(i) * time.Hour).In(loc)
			id := fmt.Sprintf("tz-%d", i)

			sess := session(id, now)
			wantErr(t, "create session", s.CreateSession(ctx, sess), nil)
			gotSess, err := s.GetSession(ctx, id)
			wantErr(t, "get session", err, nil)
			mustEqual(t, "session", sess, gotSess)

			g := grant(id, "alice", "", now)
			g.Revoked, g.RevokedAt = true, now.Add(time.Second)
			rt := refreshToken(id, id, now)
			rt.UsedAt = now.Add(time.Millisecond)
			wantErr(t, "create grant", s.CreateGrant(ctx, g, &rt), nil)
			gotGrant, err := s.GetGrant(ctx, id)
			wantErr(t, "get grant", err, nil)
			mustEqual(t, "grant", g, gotGrant)
			gotRT, err := s.GetRefreshToken(ctx, id)
			wantErr(t, "get refresh token", err, nil)
			mustEqual(t, "refresh token", rt, gotRT)

			// Expiry compares instants, whatever zone now is given in.
			c := authCode(id, now)
			c.Expiry = now.Add(time.Minute)
			wantErr(t, "create code", s.CreateAuthCode(ctx, c), nil)
			_, err = s.ConsumeCode(ctx, id, c.Expiry.Add(time.Second).In(time.FixedZone("far", -11*3600)))
			wantErr(t, "consume after expiry in another zone", err, storage.ErrNotFound)
			gotCode, err := s.ConsumeCode(ctx, id, c.Expiry.Add(-time.Second).In(time.FixedZone("far", 12*3600)))
			wantErr(t, "consume before expiry in another zone", err, nil)
			c.Consumed = true
			mustEqual(t, "code", c, gotCode)
		})
	}
}

func testConcurrency(t *testing.T, s storage.Storage) {
	t.Run("ConsumeCode", func(t *testing.T) {
		raceConsumeCode(t, []storage.Storage{s}, 16, 3)
	})
	t.Run("RotateRefreshToken", func(t *testing.T) {
		raceRotate(t, []storage.Storage{s}, 16, 3)
	})
	t.Run("LinkUser", func(t *testing.T) {
		raceLinkUser(t, []storage.Storage{s}, 8, 3)
	})
	t.Run("UpdateSigningKeys", func(t *testing.T) {
		raceUpdateKeys(t, []storage.Storage{s}, 8)
	})
}

// raceConsumeCode: n goroutines (spread over the handles) consume one code; exactly one
// wins and the others get ErrReused.
func raceConsumeCode(t *testing.T, handles []storage.Storage, n, rounds int) {
	for r := range rounds {
		raceConsumeCodeOnce(t, handles, n, fmt.Sprintf("race-code-%d", r))
	}
}

func raceConsumeCodeOnce(t *testing.T, handles []storage.Storage, n int, hash string) {
	ctx := ctxFor(t)
	now := baseTime()
	wantErr(t, "create code", handles[0].CreateAuthCode(ctx, authCode(hash, now)), nil)
	errs := make([]error, n)
	codes := make([]storage.AuthCode, n)
	run(n, func(i int) {
		codes[i], errs[i] = handles[i%len(handles)].ConsumeCode(ctx, hash, now)
	})
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, storage.ErrReused):
		default:
			t.Errorf("ConsumeCode #%d: %v, want nil or ErrReused", i, err)
		}
		if err == nil || errors.Is(err, storage.ErrReused) {
			if codes[i].Hash != hash || !codes[i].Consumed {
				t.Errorf("ConsumeCode #%d returned %+v", i, codes[i])
			}
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d concurrent ConsumeCode calls succeeded, want exactly 1", wins, n)
	}
}

// raceRotate: n goroutines rotate one token with distinct next tokens; exactly one wins,
// the others get ErrReused, and only the winner's next token is stored.
func raceRotate(t *testing.T, handles []storage.Storage, n, rounds int) {
	for r := range rounds {
		raceRotateOnce(t, handles, n, fmt.Sprintf("race-%d", r))
	}
}

func raceRotateOnce(t *testing.T, handles []storage.Storage, n int, prefix string) {
	ctx := ctxFor(t)
	now := baseTime()
	first := refreshToken(prefix+"-rt", prefix+"-g", now)
	wantErr(t, "create grant", handles[0].CreateGrant(ctx, grant(prefix+"-g", "alice", "", now), &first), nil)
	errs := make([]error, n)
	run(n, func(i int) {
		_, _, errs[i] = handles[i%len(handles)].RotateRefreshToken(ctx, prefix+"-rt", refreshToken(fmt.Sprintf("%s-next-%d", prefix, i), "", now), now.Add(time.Second))
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("rotations #%d and #%d both succeeded", winner, i)
			}
			winner = i
		case errors.Is(err, storage.ErrReused):
		default:
			t.Errorf("RotateRefreshToken #%d: %v, want nil or ErrReused", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("none of %d concurrent rotations succeeded", n)
	}
	for i := range n {
		_, err := handles[len(handles)-1].GetRefreshToken(ctx, fmt.Sprintf("%s-next-%d", prefix, i))
		if i == winner {
			wantErr(t, "winner's next token", err, nil)
		} else {
			wantErr(t, fmt.Sprintf("loser #%d's next token", i), err, storage.ErrNotFound)
		}
	}
}

// raceLinkUser: n goroutines link one upstream account with distinct new IDs; all get
// the same ID and exactly one reports created.
func raceLinkUser(t *testing.T, handles []storage.Storage, n, rounds int) {
	for r := range rounds {
		raceLinkUserOnce(t, handles, n, fmt.Sprintf("race-sub-%d", r))
	}
}

func raceLinkUserOnce(t *testing.T, handles []storage.Storage, n int, upstream string) {
	ctx := ctxFor(t)
	now := baseTime()
	ids := make([]string, n)
	created := make([]bool, n)
	errs := make([]error, n)
	run(n, func(i int) {
		ids[i], created[i], errs[i] = handles[i%len(handles)].LinkUser(ctx, "oidc", upstream, fmt.Sprintf("user-%d", i), now)
	})
	creators := 0
	for i := range n {
		wantErr(t, fmt.Sprintf("LinkUser #%d", i), errs[i], nil)
		if ids[i] != ids[0] {
			t.Errorf("LinkUser #%d = %q, #0 = %q: want one ID", i, ids[i], ids[0])
		}
		if created[i] {
			creators++
		}
	}
	if creators != 1 {
		t.Errorf("%d LinkUser calls reported created, want 1", creators)
	}
}

// raceUpdateKeys: n goroutines each add a key through UpdateSigningKeys (read-modify-write,
// with fn slow enough for the calls to overlap); none is lost, so the update is exclusive.
func raceUpdateKeys(t *testing.T, handles []storage.Storage, n int) {
	ctx := ctxFor(t)
	now := baseTime()
	errs := make([]error, n)
	run(n, func(i int) {
		errs[i] = handles[i%len(handles)].UpdateSigningKeys(ctx, func(cur []storage.SigningKey) ([]storage.SigningKey, bool, error) {
			time.Sleep(2 * time.Millisecond)
			return append(slices.Clone(cur), signingKey(fmt.Sprintf("race-k%d", i), now)), true, nil
		})
	})
	for i, err := range errs {
		wantErr(t, fmt.Sprintf("UpdateSigningKeys #%d", i), err, nil)
	}
	ks, err := handles[0].ListSigningKeys(ctx)
	wantErr(t, "list", err, nil)
	if len(ks) != n {
		t.Errorf("after %d concurrent key additions there are %d keys: updates were lost", n, len(ks))
	}
}

func testPing(t *testing.T, s storage.Storage) {
	wantErr(t, "ping", s.Ping(ctxFor(t)), nil)
}

// RunTwoHandles checks that two handles on one database act as replicas of one server:
// what one writes the other reads, and the atomic operations stay atomic across them.
// open2 must return two handles on a new, empty database and register their Close with
// t.Cleanup.
func RunTwoHandles(t *testing.T, open2 func(t *testing.T) (a, b storage.Storage)) {
	t.Run("ReadOtherHandlesWrites", func(t *testing.T) {
		a, b := open2(t)
		ctx := ctxFor(t)
		now := baseTime()
		r := authRequest("ar-1", now)
		wantErr(t, "create on a", a.CreateAuthRequest(ctx, r), nil)
		got, err := b.GetAuthRequest(ctx, "ar-1")
		wantErr(t, "get on b", err, nil)
		mustEqual(t, "auth request read on b", r, got)
		wantErr(t, "update on b", b.UpdateAuthRequest(ctx, "ar-1", func(cur storage.AuthRequest) (storage.AuthRequest, error) {
			cur.LoggedIn = true
			return cur, nil
		}), nil)
		got, err = a.GetAuthRequest(ctx, "ar-1")
		wantErr(t, "get on a", err, nil)
		if !got.LoggedIn {
			t.Error("a does not see b's update")
		}
		wantErr(t, "create duplicate on b", b.CreateAuthRequest(ctx, r), storage.ErrAlreadyExists)

		sess := session("s-1", now)
		wantErr(t, "create session on b", b.CreateSession(ctx, sess), nil)
		gotSess, err := a.GetSession(ctx, "s-1")
		wantErr(t, "get session on a", err, nil)
		mustEqual(t, "session read on a", sess, gotSess)
		wantErr(t, "delete session on a", a.DeleteSession(ctx, "s-1"), nil)
		_, err = b.GetSession(ctx, "s-1")
		wantErr(t, "get deleted session on b", err, storage.ErrNotFound)

		wantErr(t, "create code on a", a.CreateAuthCode(ctx, authCode("code-1", now)), nil)
		_, err = b.ConsumeCode(ctx, "code-1", now)
		wantErr(t, "consume on b", err, nil)
		_, err = a.ConsumeCode(ctx, "code-1", now)
		wantErr(t, "consume again on a", err, storage.ErrReused)

		first := refreshToken("rt-1", "g-1", now)
		wantErr(t, "create grant on b", b.CreateGrant(ctx, grant("g-1", "alice", "", now), &first), nil)
		_, _, err = a.RotateRefreshToken(ctx, "rt-1", refreshToken("rt-2", "", now), now)
		wantErr(t, "rotate on a", err, nil)
		_, _, err = b.RotateRefreshToken(ctx, "rt-1", refreshToken("rt-3", "", now), now)
		wantErr(t, "rotate again on b", err, storage.ErrReused)
		wantErr(t, "revoke on b", b.RevokeGrant(ctx, "g-1", now), nil)
		_, _, err = a.RotateRefreshToken(ctx, "rt-2", refreshToken("rt-4", "", now), now)
		wantErr(t, "rotate on a after revocation on b", err, storage.ErrNotFound)
	})
	t.Run("ConsumeCodeRace", func(t *testing.T) {
		a, b := open2(t)
		raceConsumeCode(t, []storage.Storage{a, b}, 16, 10)
	})
	t.Run("RotateRace", func(t *testing.T) {
		a, b := open2(t)
		raceRotate(t, []storage.Storage{a, b}, 16, 10)
	})
	t.Run("LinkUserRace", func(t *testing.T) {
		a, b := open2(t)
		raceLinkUser(t, []storage.Storage{a, b}, 8, 10)
	})
	t.Run("SigningKeysLease", func(t *testing.T) {
		a, b := open2(t)
		raceUpdateKeys(t, []storage.Storage{a, b}, 8)
	})
}

// implements returns s as the optional interface T, failing t when the backend does not
// implement it (a backend calls a suite only for interfaces it claims).
func implements[T any](t *testing.T, s storage.Storage) T {
	t.Helper()
	v, ok := s.(T)
	if !ok {
		t.Fatalf("%T does not implement %s", s, strings.TrimPrefix(fmt.Sprintf("%T", (*T)(nil)), "*"))
	}
	return v
}
