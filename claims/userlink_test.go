package claims

import (
	"context"
	"errors"
	"testing"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// TestLinkUpstream: an account linked on purpose goes to the user asked for, never to another
// (no silent merge), and passes the connector's requirements like a login.
func TestLinkUpstream(t *testing.T) {
	ctx := context.Background()
	cfg := &config.Config{Connectors: []config.ConnectorBlock{
		{Type: "oidc", ID: "corp", Name: "Corp", Claims: config.ConnectorClaims{Require: config.Requirement{Groups: []string{"staff"}}}},
		{Type: "github", ID: "github", Name: "GitHub"},
		{Type: "apple", ID: "apple", Name: "Apple"},
	}}
	for _, store := range []struct {
		name  string
		links storage.LinkStore
	}{{"link store", newMemLinks()}, {"email link store", newDryLinks()}} {
		t.Run(store.name, func(t *testing.T) {
			n, err := New(cfg, Options{Links: store.links})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := store.links.LinkUser(ctx, "github", "bob-gh", "u-bob", t0); err != nil {
				t.Fatal(err)
			}
			tests := []struct {
				name, conn string
				up         connectors.Upstream
				user       string
				wantErr    error
				denied     bool
				wantOwner  string
			}{
				{"new account", "github", connectors.Upstream{Subject: "ann-gh", Username: "ann", Email: "Ann@Example.com", EmailVerified: true}, "u-ann", nil, false, "u-ann"},
				{"same again", "github", connectors.Upstream{Subject: "ann-gh"}, "u-ann", ErrAlreadyLinked, false, "u-ann"},
				{"another user's account", "github", connectors.Upstream{Subject: "bob-gh"}, "u-ann", ErrLinkedToAnotherUser, false, "u-bob"},
				{"requirement unmet", "corp", connectors.Upstream{Subject: "ann-corp", Groups: []string{"guests"}}, "u-ann", nil, true, ""},
				{"requirement met", "corp", connectors.Upstream{Subject: "ann-corp2", Groups: []string{"staff"}}, "u-ann", nil, false, "u-ann"},
				{"private relay", "apple", connectors.Upstream{Subject: "ann-apple", Email: "x@privaterelay.appleid.com", EmailVerified: true, EmailNotLinkable: true}, "u-ann", nil, false, "u-ann"},
				{"no subject", "github", connectors.Upstream{}, "u-ann", nil, false, ""},
			}
			for _, tt := range tests {
				id, err := n.LinkUpstream(ctx, tt.conn, tt.up, tt.user)
				var denied *connectors.DeniedError
				switch {
				case tt.denied:
					if !errors.As(err, &denied) {
						t.Errorf("%s: err = %v; want a DeniedError", tt.name, err)
					}
				case tt.wantErr != nil:
					if !errors.Is(err, tt.wantErr) {
						t.Errorf("%s: err = %v; want %v", tt.name, err, tt.wantErr)
					}
				case tt.wantOwner == "":
					if err == nil {
						t.Errorf("%s: linked without a subject", tt.name)
					}
					continue
				case err != nil || id.Subject != tt.user:
					t.Errorf("%s: = %q, %v; want %q", tt.name, id.Subject, err, tt.user)
				}
				l, err := store.links.GetUserLink(ctx, tt.conn, tt.up.Subject)
				switch {
				case tt.wantOwner == "" && !errors.Is(err, storage.ErrNotFound):
					t.Errorf("%s: link %+v, %v; want none", tt.name, l, err)
				case tt.wantOwner != "" && l.UserID != tt.wantOwner:
					t.Errorf("%s: link owner %q; want %q", tt.name, l.UserID, tt.wantOwner)
				}
			}
			if el, ok := store.links.(storage.EmailLinkStore); ok {
				if id, err := el.FindUserByVerifiedEmail(ctx, "ann@example.com"); err != nil || id != "u-ann" {
					t.Errorf("verified email of a linked account = %q, %v; want u-ann", id, err)
				}
				if _, err := el.FindUserByVerifiedEmail(ctx, "x@privaterelay.appleid.com"); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("a private-relay address was recorded for email linking: %v", err)
				}
			}
		})
	}
}
