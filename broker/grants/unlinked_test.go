package grants

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/claims"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
)

// upstreamAccount refreshes as the upstream account up-1.
type upstreamAccount struct{}

func (upstreamAccount) Info() connectors.Info { return connectors.Info{ID: "up", Type: "oidc"} }
func (upstreamAccount) Close() error          { return nil }
func (upstreamAccount) Refresh(context.Context, connectors.Scopes, connectors.Upstream) (connectors.Upstream, error) {
	return connectors.Upstream{Subject: "up-1", Username: "ann"}, nil
}

// TestRefreshOfUnlinkedLogin: a grant whose upstream account no longer resolves to the
// grant's user (the user unlinked that login on the account page) is revoked at its next
// refresh with invalid_grant, never refreshed into another user's tokens; a grant whose
// account still resolves to its user refreshes.
func TestRefreshOfUnlinkedLogin(t *testing.T) {
	tests := []struct {
		name     string
		linkedTo string // "" : the link was removed
		wantErr  bool
	}{
		{"still linked", "u1", false},
		{"unlinked", "", true},
		{"linked to another user since", "u2", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() }) //nolint:errcheck // a test database in a temp dir
			now := time.Now().UTC().Truncate(time.Second)
			if tt.linkedTo != "" {
				if _, _, err := st.LinkUser(ctx, "up", "up-1", tt.linkedTo, now); err != nil {
					t.Fatal(err)
				}
			}
			g := storage.Grant{ID: "g1", ClientID: "app", Scopes: []string{"openid", "offline_access"},
				Identity: storage.Identity{Subject: "u1"}, Auth: storage.Authentication{ConnectorID: "up", UpstreamSubject: "up-1"},
				CreatedAt: now, AbsoluteExpiry: now.Add(time.Hour)}
			if err := st.CreateGrant(ctx, g, nil); err != nil {
				t.Fatal(err)
			}
			h := &Handler{Grants: st, Claims: &claims.Normalizer{Links: st}, Logger: slog.New(slog.DiscardHandler), Now: time.Now,
				Connectors: connset.New([]connset.Slot{{Info: connectors.Info{ID: "up"}, Conn: upstreamAccount{}}})}
			id, _, _, err := h.refreshUpstream(ctx, g, g.Scopes, now)
			var oe *oauth2err.Error
			switch {
			case !tt.wantErr && (err != nil || id.Subject != "u1"):
				t.Fatalf("refresh = %q, %v; want u1", id.Subject, err)
			case tt.wantErr && (!errors.As(err, &oe) || oe.Code != oauth2err.InvalidGrant):
				t.Fatalf("refresh = %q, %v; want invalid_grant", id.Subject, err)
			}
			got, err := st.GetGrant(ctx, "g1")
			if err != nil {
				t.Fatal(err)
			}
			if revoked := !got.RevokedAt.IsZero(); revoked != tt.wantErr {
				t.Errorf("grant revoked = %v; want %v", revoked, tt.wantErr)
			}
		})
	}
}
