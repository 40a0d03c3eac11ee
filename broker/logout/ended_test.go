package logout

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

type fakeGrants struct {
	grants  []storage.Grant
	revoked []string
}

func (f *fakeGrants) ListGrants(_ context.Context, subject string) ([]storage.Grant, error) {
	var out []storage.Grant
	for _, g := range f.grants {
		if g.Identity.Subject == subject {
			out = append(out, g)
		}
	}
	return out, nil
}

func (f *fakeGrants) RevokeGrant(_ context.Context, id string, _ time.Time) error {
	f.revoked = append(f.revoked, id)
	return nil
}

type fakeSweeper struct{ flowHash, sessionID string }

func (f *fakeSweeper) DeleteAuthRequestsOf(_ context.Context, flowHash, sessionID string) (int64, error) {
	f.flowHash, f.sessionID = flowHash, sessionID
	return 1, nil
}

// TestEnderRevokesOnlineGrantsOfTheSession: the end of a session revokes its grants that were
// not issued with offline_access, and no grant of another session; pending auth requests of
// the session and the browser are swept.
func TestEnderRevokesOnlineGrantsOfTheSession(t *testing.T) {
	alice := storage.Identity{Subject: "alice"}
	g := &fakeGrants{grants: []storage.Grant{
		{ID: "online", Identity: alice, SessionID: "s1", Scopes: []string{"openid"}},
		{ID: "offline", Identity: alice, SessionID: "s1", Scopes: []string{"openid", "offline_access"}},
		{ID: "other-session", Identity: alice, SessionID: "s2", Scopes: []string{"openid"}},
	}}
	sw := &fakeSweeper{}
	e := &Ender{Grants: g, Sweeper: sw, Now: time.Now}
	if err := e.Ended(context.Background(), storage.Session{ID: "s1", Identity: alice}, "flow-hash"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(g.revoked, []string{"online"}) {
		t.Errorf("revoked %v, want [online]", g.revoked)
	}
	if sw.flowHash != "flow-hash" || sw.sessionID != "s1" {
		t.Errorf("swept %+v", sw)
	}
	// Without a sweeper the grants are still revoked.
	g.revoked = nil
	if err := (&Ender{Grants: g, Now: time.Now}).Ended(context.Background(), storage.Session{ID: "s1", Identity: alice}, ""); err != nil || len(g.revoked) != 1 {
		t.Errorf("without sweeper: %v %v", g.revoked, err)
	}
}
