package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// TestGrantDecodeCache: grants read through the decoded-grant cache share nothing with it
// (a caller changing what it got changes no later read), a changed row is decoded again at
// once, sealed connector data is cached sealed and opened on every read, and the cache is
// bounded.
func TestGrantDecodeCache(t *testing.T) {
	for _, sealed := range []bool{false, true} {
		t.Run(fmt.Sprintf("sealed=%v", sealed), func(t *testing.T) {
			ctx := context.Background()
			var s *Store
			if sealed {
				s = openSealed(t, filepath.Join(t.TempDir(), "gatehouse.db"), storagetest.TestKeyring(t, "k1"))
			} else {
				s = openTemp(t)
			}
			now := time.UnixMilli(1_700_000_000_000).UTC()
			g := storage.Grant{ID: "g-cache", ClientID: "c", Scopes: []string{"openid"}, CreatedAt: now,
				Identity: storage.Identity{Subject: "alice", Groups: []string{"admins"},
					Extra: map[string]any{"nested": map[string]any{"list": []any{"x"}}}},
				Auth: storage.Authentication{ConnectorID: "local", AuthTime: now, AMR: []string{"pwd"}, ConnectorData: []byte("upstream-secret")}}
			if err := s.CreateGrant(ctx, g, nil); err != nil {
				t.Fatal(err)
			}
			for i := range 2 { // a miss, then a hit
				got, err := s.GetGrant(ctx, g.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Identity.Groups[0] != "admins" || got.Auth.AMR[0] != "pwd" || string(got.Auth.ConnectorData) != "upstream-secret" ||
					got.Identity.Extra["nested"].(map[string]any)["list"].([]any)[0] != "x" {
					t.Fatalf("read %d: %+v %+v (a caller's change leaked into the cache?)", i, got.Identity, got.Auth)
				}
				got.Identity.Groups[0] = "changed"
				got.Auth.AMR[0] = "changed"
				got.Auth.ConnectorData[0] = 'X'
				got.Identity.Extra["nested"].(map[string]any)["list"].([]any)[0] = "changed"
			}
			e := s.decoded.m[g.ID]
			if sealed == bytes.Equal(e.auth.ConnectorData, []byte("upstream-secret")) {
				t.Errorf("cached connector data %q, sealed %v: want it cached as stored", e.auth.ConnectorData, sealed)
			}

			id := g.Identity
			id.Groups = []string{"users"}
			if err := s.UpdateGrantIdentity(ctx, g.ID, id, g.Auth); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetGrant(ctx, g.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Identity.Groups) != 1 || got.Identity.Groups[0] != "users" {
				t.Fatalf("groups after an update: %v, want [users]", got.Identity.Groups)
			}
			if err := s.RevokeGrant(ctx, g.ID, now); err != nil {
				t.Fatal(err)
			}
			if got, err := s.GetGrant(ctx, g.ID); err != nil || !got.Revoked {
				t.Fatalf("after revocation: revoked %v, err %v", got.Revoked, err)
			}
		})
	}
	t.Run("bounded", func(t *testing.T) {
		var c decodedGrants
		for i := range maxDecodedGrants + 10 {
			var id storage.Identity
			var a storage.Authentication
			if err := c.decode(nil, fmt.Sprint("g", i), []byte(`{"sub":"u"}`), []byte(`{"connector_id":"x"}`), &id, &a); err != nil {
				t.Fatal(err)
			}
			if id.Subject != "u" || a.ConnectorID != "x" {
				t.Fatalf("decoded %+v %+v", id, a)
			}
		}
		if len(c.m) > maxDecodedGrants {
			t.Fatalf("%d cached grants, want at most %d", len(c.m), maxDecodedGrants)
		}
	})
}
