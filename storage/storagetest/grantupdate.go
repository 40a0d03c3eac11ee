package storagetest

import (
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
)

// RunGrantUpdates runs the conformance tests of the optional storage.GrantUpdater. A backend
// that implements it calls RunGrantUpdates next to Run; the tests fail if it does not.
func RunGrantUpdates(t *testing.T, open func(t *testing.T) storage.Storage) {
	s := open(t)
	u, ok := s.(storage.GrantUpdater)
	if !ok {
		t.Fatalf("%T does not implement storage.GrantUpdater", s)
	}
	ctx := ctxFor(t)
	now := baseTime()
	g := grant("g-upd", "sub-1", "sess-1", now)
	wantErr(t, "create grant", s.CreateGrant(ctx, g, nil), nil)

	id := g.Identity
	id.Groups = []string{"new-group"}
	auth := g.Auth
	auth.ConnectorData = []byte("rotated upstream refresh token")
	wantErr(t, "update", u.UpdateGrantIdentity(ctx, g.ID, id, auth), nil)
	got, err := s.GetGrant(ctx, g.ID)
	wantErr(t, "get", err, nil)
	if len(got.Identity.Groups) != 1 || got.Identity.Groups[0] != "new-group" || string(got.Auth.ConnectorData) != "rotated upstream refresh token" {
		t.Fatalf("grant after update: identity %+v auth data %q", got.Identity, got.Auth.ConnectorData)
	}
	if got.ClientID != g.ClientID || got.AbsoluteExpiry.UnixMilli() != g.AbsoluteExpiry.UnixMilli() {
		t.Fatalf("update changed other fields: %+v", got)
	}
	wantErr(t, "update missing", u.UpdateGrantIdentity(ctx, "nope", id, auth), storage.ErrNotFound)
}
