package storagetest

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
)

// RunEmailLinks runs the conformance tests of the optional storage.EmailLinkStore. A backend
// that implements it calls RunEmailLinks from its tests next to Run; for a backend that does
// not, the tests fail (so a backend cannot silently lose the capability it claims).
func RunEmailLinks(t *testing.T, open func(t *testing.T) storage.Storage) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Storage, e storage.EmailLinkStore)
	}{
		{"CreateAndGet", testEmailLinkCreate},
		{"FindByEmail", testEmailLinkFind},
		{"SetEmail", testEmailLinkSet},
		{"CreateRace", testEmailLinkRace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			e, ok := s.(storage.EmailLinkStore)
			if !ok {
				t.Fatalf("%T does not implement storage.EmailLinkStore", s)
			}
			tt.fn(t, s, e)
		})
	}
}

func testEmailLinkCreate(t *testing.T, s storage.Storage, e storage.EmailLinkStore) {
	ctx := ctxFor(t)
	now := baseTime()
	l := storage.UserLink{ConnectorID: "ldap", UpstreamSubject: "uid=ann", UserID: "user-1", Email: "ann@example.com", CreatedAt: now}
	wantErr(t, "create", e.CreateUserLink(ctx, l), nil)
	got, err := s.GetUserLink(ctx, "ldap", "uid=ann")
	wantErr(t, "get", err, nil)
	mustEqual(t, "link", l, got)

	dup := l
	dup.UserID = "user-2"
	wantErr(t, "create duplicate", e.CreateUserLink(ctx, dup), storage.ErrAlreadyExists)
	// LinkUser sees the link made by CreateUserLink.
	id, created, err := s.LinkUser(ctx, "ldap", "uid=ann", "user-3", now)
	wantErr(t, "link existing", err, nil)
	if id != "user-1" || created {
		t.Errorf("LinkUser over CreateUserLink = %s, %v; want user-1, false", id, created)
	}
	// And CreateUserLink sees links made by LinkUser.
	if _, _, err := s.LinkUser(ctx, "github", "42", "user-4", now); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "create over LinkUser", e.CreateUserLink(ctx, storage.UserLink{ConnectorID: "github", UpstreamSubject: "42", UserID: "user-5", CreatedAt: now}), storage.ErrAlreadyExists)
	got, err = s.GetUserLink(ctx, "github", "42")
	wantErr(t, "get LinkUser link", err, nil)
	if got.UserID != "user-4" || got.Email != "" {
		t.Errorf("LinkUser link = %+v; want user-4 without email", got)
	}
}

func testEmailLinkFind(t *testing.T, s storage.Storage, e storage.EmailLinkStore) {
	ctx := ctxFor(t)
	now := baseTime()
	_, err := e.FindUserByVerifiedEmail(ctx, "nobody@example.com")
	wantErr(t, "find in empty store", err, storage.ErrNotFound)
	for _, l := range []storage.UserLink{
		{ConnectorID: "ldap", UpstreamSubject: "ann", UserID: "u-ann", Email: "ann@example.com"},
		{ConnectorID: "github", UpstreamSubject: "1", UserID: "u-ann", Email: "ann@example.com"},
		{ConnectorID: "ldap", UpstreamSubject: "bob", UserID: "u-bob", Email: "shared@example.com"},
		{ConnectorID: "google", UpstreamSubject: "9", UserID: "u-bob2", Email: "shared@example.com"},
		{ConnectorID: "ldap", UpstreamSubject: "noemail", UserID: "u-none"},
	} {
		l.CreatedAt = now
		wantErr(t, "create "+l.UpstreamSubject, e.CreateUserLink(ctx, l), nil)
	}
	if _, _, err := s.LinkUser(ctx, "local", "carol", "u-carol", now); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		email, want string
		err         error
	}{
		{"ann@example.com", "u-ann", nil},
		{"ANN@Example.COM", "u-ann", nil},
		{"shared@example.com", "", storage.ErrConflict},
		{"", "", storage.ErrNotFound},
		{"carol@example.com", "", storage.ErrNotFound},
		{"nn@example.com", "", storage.ErrNotFound},
		{"ann@example.co", "", storage.ErrNotFound},
	}
	for _, tt := range tests {
		got, err := e.FindUserByVerifiedEmail(ctx, tt.email)
		wantErr(t, "find "+tt.email, err, tt.err)
		if got != tt.want {
			t.Errorf("FindUserByVerifiedEmail(%q) = %q, want %q", tt.email, got, tt.want)
		}
	}
}

func testEmailLinkSet(t *testing.T, s storage.Storage, e storage.EmailLinkStore) {
	ctx := ctxFor(t)
	now := baseTime()
	wantErr(t, "create", e.CreateUserLink(ctx, storage.UserLink{ConnectorID: "ldap", UpstreamSubject: "ann", UserID: "u-ann", Email: "old@example.com", CreatedAt: now}), nil)
	wantErr(t, "set", e.SetUserLinkEmail(ctx, "ldap", "ann", "new@example.com"), nil)
	_, err := e.FindUserByVerifiedEmail(ctx, "old@example.com")
	wantErr(t, "find old", err, storage.ErrNotFound)
	id, err := e.FindUserByVerifiedEmail(ctx, "new@example.com")
	wantErr(t, "find new", err, nil)
	if id != "u-ann" {
		t.Errorf("find new = %q", id)
	}
	wantErr(t, "set same", e.SetUserLinkEmail(ctx, "ldap", "ann", "new@example.com"), nil)
	wantErr(t, "clear", e.SetUserLinkEmail(ctx, "ldap", "ann", ""), nil)
	_, err = e.FindUserByVerifiedEmail(ctx, "new@example.com")
	wantErr(t, "find cleared", err, storage.ErrNotFound)
	got, err := s.GetUserLink(ctx, "ldap", "ann")
	wantErr(t, "get", err, nil)
	if got.Email != "" || got.UserID != "u-ann" {
		t.Errorf("cleared link = %+v", got)
	}
	wantErr(t, "set missing", e.SetUserLinkEmail(ctx, "ldap", "nobody", "x@example.com"), nil)
	_, err = s.GetUserLink(ctx, "ldap", "nobody")
	wantErr(t, "set missing creates nothing", err, storage.ErrNotFound)
}

func testEmailLinkRace(t *testing.T, s storage.Storage, e storage.EmailLinkStore) {
	ctx := ctxFor(t)
	now := baseTime()
	const n = 16
	var ok, exists atomic.Int32
	run(n, func(i int) {
		err := e.CreateUserLink(ctx, storage.UserLink{ConnectorID: "ldap", UpstreamSubject: "race", UserID: "u-" + string(rune('a'+i)), Email: "race@example.com", CreatedAt: now})
		switch {
		case err == nil:
			ok.Add(1)
		case errors.Is(err, storage.ErrAlreadyExists):
			exists.Add(1)
		default:
			t.Errorf("create: %v", err)
		}
	})
	if ok.Load() != 1 || exists.Load() != n-1 {
		t.Errorf("%d creates succeeded and %d saw ErrAlreadyExists; want 1 and %d", ok.Load(), exists.Load(), n-1)
	}
}
