package storagetest

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// RunClients runs the conformance tests of the optional storage.ClientStore (runtime
// clients). A backend that implements it calls RunClients; the tests fail if it does not.
func RunClients(t *testing.T, open func(t *testing.T) storage.Storage) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Storage)
	}{
		{"CRUD", testClientCRUD},
		{"DeleteRevokesIssued", testClientDeleteRevokes},
		{"HashedAtRest", testClientHashedAtRest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

// RunClientsTwoHandles checks that a client written through one handle is read at once
// through another (two replicas on one database).
func RunClientsTwoHandles(t *testing.T, open2 func(t *testing.T) (a, b storage.Storage)) {
	a, b := open2(t)
	ca, cb := implements[storage.ClientStore](t, a), implements[storage.ClientStore](t, b)
	ctx := ctxFor(t)
	now := baseTime()
	wantErr(t, "create on a", ca.CreateClient(ctx, storedClient("shared", now)), nil)
	got, err := cb.GetClient(ctx, "shared")
	wantErr(t, "get on b", err, nil)
	mustEqual(t, "client on b", storedClient("shared", now), got)
	wantErr(t, "duplicate on b", cb.CreateClient(ctx, storedClient("shared", now)), storage.ErrAlreadyExists)
	wantErr(t, "delete on b", cb.DeleteClient(ctx, "shared", now), nil)
	_, err = ca.GetClient(ctx, "shared")
	wantErr(t, "get deleted on a", err, storage.ErrNotFound)
}

func storedClient(id string, now time.Time) storage.Client {
	return storage.Client{
		ID: id, Name: "App " + id, SecretHash: strings.Repeat("ab", 32),
		RedirectURIs:           []string{"https://app.example.com/cb", "http://127.0.0.1/cb"},
		PostLogoutRedirectURIs: []string{"https://app.example.com/"},
		AllowedConnectors:      []string{"local"}, AllowedOrigins: []string{"https://app.example.com"},
		GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"api:read"},
		Audiences: []string{"https://api.example.com"}, Trusted: true,
		CreatedAt: now, UpdatedAt: now,
	}
}

func testClientCRUD(t *testing.T, s storage.Storage) {
	cs := implements[storage.ClientStore](t, s)
	ctx := ctxFor(t)
	now := baseTime()
	_, err := cs.GetClient(ctx, "app")
	wantErr(t, "get missing", err, storage.ErrNotFound)
	list, err := cs.ListClients(ctx)
	wantErr(t, "list empty", err, nil)
	if len(list) != 0 {
		t.Fatalf("empty store lists %d clients", len(list))
	}
	pub := storage.Client{ID: "a-public", Public: true, RedirectURIs: []string{"com.example:/cb"}, CreatedAt: now, UpdatedAt: now}
	for _, c := range []storage.Client{storedClient("app", now), pub} {
		wantErr(t, "create "+c.ID, cs.CreateClient(ctx, c), nil)
	}
	wantErr(t, "create duplicate", cs.CreateClient(ctx, storedClient("app", now)), storage.ErrAlreadyExists)
	got, err := cs.GetClient(ctx, "app")
	wantErr(t, "get", err, nil)
	mustEqual(t, "client", storedClient("app", now), got)
	got, err = cs.GetClient(ctx, "a-public")
	wantErr(t, "get public", err, nil)
	mustEqual(t, "public client", pub, got)
	list, err = cs.ListClients(ctx)
	wantErr(t, "list", err, nil)
	if len(list) != 2 || list[0].ID != "a-public" || list[1].ID != "app" {
		t.Fatalf("list = %+v, want a-public, app", list)
	}

	upd := storedClient("app", now)
	upd.Name, upd.SecretHash, upd.RedirectURIs, upd.Trusted = "Renamed", strings.Repeat("cd", 32), []string{"https://new.example.com/cb"}, false
	upd.CreatedAt, upd.UpdatedAt = now.Add(time.Hour), now.Add(time.Minute) // CreatedAt is not updated
	wantErr(t, "update", cs.UpdateClient(ctx, upd), nil)
	got, err = cs.GetClient(ctx, "app")
	wantErr(t, "get updated", err, nil)
	upd.CreatedAt = now
	mustEqual(t, "updated client", upd, got)
	wantErr(t, "update missing", cs.UpdateClient(ctx, storedClient("nobody", now)), storage.ErrNotFound)

	wantErr(t, "delete", cs.DeleteClient(ctx, "app", now), nil)
	_, err = cs.GetClient(ctx, "app")
	wantErr(t, "get deleted", err, storage.ErrNotFound)
	wantErr(t, "delete again", cs.DeleteClient(ctx, "app", now), storage.ErrNotFound)
	wantErr(t, "recreate after delete", cs.CreateClient(ctx, storedClient("app", now)), nil)
}

// testClientDeleteRevokes checks that deleting a client revokes what it was issued and
// touches no other client's.
func testClientDeleteRevokes(t *testing.T, s storage.Storage) {
	cs := implements[storage.ClientStore](t, s)
	ctx := ctxFor(t)
	now := baseTime()
	wantErr(t, "create", cs.CreateClient(ctx, storedClient("client-a", now)), nil)
	issue := func(prefix, clientID string) {
		g := grant(prefix+"-grant", "sub-"+prefix, "", now)
		g.ClientID = clientID
		rt := refreshToken(prefix+"-rt", g.ID, now)
		wantErr(t, prefix+" grant", s.CreateGrant(ctx, g, &rt), nil)
		code := authCode(prefix+"-code", now)
		code.ClientID = clientID
		wantErr(t, prefix+" code", s.CreateAuthCode(ctx, code), nil)
		wantErr(t, prefix+" consent", s.PutConsent(ctx, storage.Consent{Subject: "sub-" + prefix, ClientID: clientID,
			Scopes: []string{"openid"}, CreatedAt: now, UpdatedAt: now}), nil)
	}
	issue("gone", "client-a")
	issue("kept", "client-b")
	revokedAt := now.Add(time.Minute)
	wantErr(t, "delete", cs.DeleteClient(ctx, "client-a", revokedAt), nil)

	g, err := s.GetGrant(ctx, "gone-grant")
	wantErr(t, "get revoked grant", err, nil)
	if !g.Revoked || !g.RevokedAt.Equal(revokedAt.Truncate(time.Millisecond)) {
		t.Errorf("grant of the deleted client: revoked %v at %v, want at %v", g.Revoked, g.RevokedAt, revokedAt)
	}
	_, err = s.GetRefreshToken(ctx, "gone-rt")
	wantErr(t, "refresh token of the deleted client", err, storage.ErrNotFound)
	_, err = s.ConsumeCode(ctx, "gone-code", now)
	wantErr(t, "code of the deleted client", err, storage.ErrNotFound)
	_, err = s.GetConsent(ctx, "sub-gone", "client-a")
	wantErr(t, "consent of the deleted client", err, storage.ErrNotFound)

	g, err = s.GetGrant(ctx, "kept-grant")
	wantErr(t, "get other grant", err, nil)
	if g.Revoked {
		t.Error("deleting client-a revoked client-b's grant")
	}
	_, err = s.GetRefreshToken(ctx, "kept-rt")
	wantErr(t, "other refresh token", err, nil)
	_, err = s.ConsumeCode(ctx, "kept-code", now)
	wantErr(t, "other code", err, nil)
	_, err = s.GetConsent(ctx, "sub-kept", "client-b")
	wantErr(t, "other consent", err, nil)
}

// testClientHashedAtRest checks that a client round-trips only the hash it was given: the
// store never sees a secret, so it can hold none.
func testClientHashedAtRest(t *testing.T, s storage.Storage) {
	cs := implements[storage.ClientStore](t, s)
	ctx := ctxFor(t)
	c := storedClient("hashed", baseTime())
	wantErr(t, "create", cs.CreateClient(ctx, c), nil)
	got, err := cs.GetClient(ctx, "hashed")
	wantErr(t, "get", err, nil)
	if got.SecretHash != c.SecretHash {
		t.Fatalf("secret hash = %q, want %q", got.SecretHash, c.SecretHash)
	}
}
