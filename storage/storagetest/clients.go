package storagetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
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
		{"FullMetadata", testClientFullMetadata},
		{"UpdateVersion", testClientUpdateVersion},
		{"UpdateRace", testClientUpdateRace},
		{"InitialAccessTokens", testInitialAccessTokens},
		{"InitialAccessTokenRace", testInitialAccessTokenRace},
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
	upd := got
	upd.Name = "changed on b"
	wantErr(t, "update on b", cb.UpdateClient(ctx, upd), nil)
	wantErr(t, "stale update on a", ca.UpdateClient(ctx, got), storage.ErrConflict)
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
		Version: 1, CreatedAt: now, UpdatedAt: now,
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
	pub := storage.Client{ID: "a-public", Public: true, RedirectURIs: []string{"com.example:/cb"}, Version: 1, CreatedAt: now, UpdatedAt: now}
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
	upd.CreatedAt, upd.Version = now, 2
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

// testClientFullMetadata checks that every metadata field of a client round-trips.
func testClientFullMetadata(t *testing.T, s storage.Storage) {
	cs := implements[storage.ClientStore](t, s)
	ctx := ctxFor(t)
	now := baseTime()
	c := storedClient("full", now)
	c.SecretHash = ""
	c.TokenEndpointAuthMethod = "private_key_jwt"
	c.JWKS = `{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`
	c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired = "https://app.example.com/bcl", true
	c.FrontchannelLogoutURI, c.FrontchannelLogoutSessionRequired = "https://app.example.com/fcl", true
	c.RequirePushedAuthorizationRequests, c.AllowUnsignedRequestObjects, c.DPoPBoundAccessTokens = true, true, true
	c.Resources = []string{"https://api.example.com/"}
	c.RegistrationTokenHash = strings.Repeat("ef", 32)
	wantErr(t, "create", cs.CreateClient(ctx, c), nil)
	got, err := cs.GetClient(ctx, "full")
	wantErr(t, "get", err, nil)
	mustEqual(t, "client", c, got)
	c2 := storedClient("uri", now)
	c2.JWKSURI = "https://app.example.com/jwks.json"
	wantErr(t, "create with jwks_uri", cs.CreateClient(ctx, c2), nil)
	got, err = cs.GetClient(ctx, "uri")
	wantErr(t, "get with jwks_uri", err, nil)
	mustEqual(t, "client with jwks_uri", c2, got)
}

// testClientUpdateVersion checks optimistic concurrency: a created client is at version 1
// whatever the caller said, an update needs the stored version and increments it.
func testClientUpdateVersion(t *testing.T, s storage.Storage) {
	cs := implements[storage.ClientStore](t, s)
	ctx := ctxFor(t)
	now := baseTime()
	c := storedClient("versioned", now)
	c.Version = 7 // ignored
	wantErr(t, "create", cs.CreateClient(ctx, c), nil)
	got, err := cs.GetClient(ctx, "versioned")
	wantErr(t, "get", err, nil)
	if got.Version != 1 {
		t.Fatalf("created version = %d, want 1", got.Version)
	}
	tests := []struct {
		name    string
		version int64
		want    error
		after   int64
	}{
		{"older", 0, storage.ErrConflict, 1},
		{"newer", 2, storage.ErrConflict, 1},
		{"current", 1, nil, 2},
		{"replayed", 1, storage.ErrConflict, 2},
		{"next", 2, nil, 3},
	}
	for _, tt := range tests {
		u := got
		u.Version, u.Name = tt.version, "name at "+tt.name
		wantErr(t, "update "+tt.name, cs.UpdateClient(ctx, u), tt.want)
		after, err := cs.GetClient(ctx, "versioned")
		wantErr(t, "get after "+tt.name, err, nil)
		if after.Version != tt.after {
			t.Errorf("%s: version after = %d, want %d", tt.name, after.Version, tt.after)
		}
		if (tt.want == nil) != (after.Name == u.Name) {
			t.Errorf("%s: name after = %q (update err %v)", tt.name, after.Name, tt.want)
		}
	}
	missing := storedClient("nobody", now)
	wantErr(t, "update missing", cs.UpdateClient(ctx, missing), storage.ErrNotFound)
}

// testClientUpdateRace runs many updates from the same version at once: exactly one wins,
// the others get ErrConflict, and the stored client is the winner's.
func testClientUpdateRace(t *testing.T, s storage.Storage) {
	cs := implements[storage.ClientStore](t, s)
	ctx := ctxFor(t)
	now := baseTime()
	wantErr(t, "create", cs.CreateClient(ctx, storedClient("raced", now)), nil)
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			u := storedClient("raced", now)
			u.Name = fmt.Sprintf("writer %d", i)
			errs[i] = cs.UpdateClient(ctx, u)
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both updated version 1", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, storage.ErrConflict):
			t.Fatalf("writer %d: %v, want ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer won")
	}
	got, err := cs.GetClient(ctx, "raced")
	wantErr(t, "get", err, nil)
	if got.Version != 2 || got.Name != fmt.Sprintf("writer %d", winner) {
		t.Fatalf("stored %q at version %d, want writer %d at 2", got.Name, got.Version, winner)
	}
}

func initialAccessToken(id string, uses int, now time.Time) storage.InitialAccessToken {
	return storage.InitialAccessToken{
		ID: id, TokenHash: fmt.Sprintf("%064x", len(id)*1000+uses) + id, MaxUses: uses, CreatedBy: "ops-cli",
		CreatedAt: now, ExpiresAt: now.Add(time.Hour),
	}
}

// testInitialAccessTokens checks create, get, use until spent or expired, list and delete.
func testInitialAccessTokens(t *testing.T, s storage.Storage) {
	rs := implements[storage.RegistrationStore](t, s)
	ctx := ctxFor(t)
	now := baseTime()
	two := initialAccessToken("iat-two", 2, now)
	wantErr(t, "create", rs.CreateInitialAccessToken(ctx, two), nil)
	wantErr(t, "create duplicate", rs.CreateInitialAccessToken(ctx, two), storage.ErrAlreadyExists)
	got, err := rs.GetInitialAccessToken(ctx, two.TokenHash)
	wantErr(t, "get", err, nil)
	mustEqual(t, "token", two, got)
	_, err = rs.GetInitialAccessToken(ctx, "unknown")
	wantErr(t, "get unknown", err, storage.ErrNotFound)
	steps := []struct {
		name string
		hash string
		at   time.Time
		want error
		uses int
	}{
		{"unknown", "unknown", now, storage.ErrNotFound, 0},
		{"first", two.TokenHash, now, nil, 1},
		{"at expiry", two.TokenHash, two.ExpiresAt, storage.ErrReused, 1},
		{"second", two.TokenHash, now.Add(time.Minute), nil, 2},
		{"spent", two.TokenHash, now.Add(time.Minute), storage.ErrReused, 2},
	}
	for _, st := range steps {
		used, err := rs.UseInitialAccessToken(ctx, st.hash, st.at)
		wantErr(t, "use "+st.name, err, st.want)
		if err == nil && used.Uses != st.uses {
			t.Errorf("use %s: uses = %d, want %d", st.name, used.Uses, st.uses)
		}
	}
	other := initialAccessToken("iat-a", 1, now)
	wantErr(t, "create other", rs.CreateInitialAccessToken(ctx, other), nil)
	list, err := rs.ListInitialAccessTokens(ctx)
	wantErr(t, "list", err, nil)
	if len(list) != 2 || list[0].ID != "iat-a" || list[1].ID != "iat-two" || list[1].Uses != 2 {
		t.Fatalf("list = %+v", list)
	}
	wantErr(t, "delete", rs.DeleteInitialAccessToken(ctx, "iat-a"), nil)
	wantErr(t, "delete again", rs.DeleteInitialAccessToken(ctx, "iat-a"), storage.ErrNotFound)
	_, err = rs.UseInitialAccessToken(ctx, other.TokenHash, now)
	wantErr(t, "use deleted", err, storage.ErrNotFound)
}

// testInitialAccessTokenRace uses a token with 3 uses from 16 goroutines: exactly 3 win.
func testInitialAccessTokenRace(t *testing.T, s storage.Storage) {
	rs := implements[storage.RegistrationStore](t, s)
	ctx := ctxFor(t)
	now := baseTime()
	tok := initialAccessToken("iat-race", 3, now)
	wantErr(t, "create", rs.CreateInitialAccessToken(ctx, tok), nil)
	const n = 16
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		won  int
		errs []error
	)
	for range n {
		wg.Go(func() {
			_, err := rs.UseInitialAccessToken(ctx, tok.TokenHash, now)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				won++
			} else if !errors.Is(err, storage.ErrReused) {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 || won != 3 {
		t.Fatalf("%d uses won (want 3), unexpected errors %v", won, errs)
	}
}
