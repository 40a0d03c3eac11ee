package grants

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
)

// rotatingConnector is an upstream whose refresh rotated its token and then failed (the
// upstream API read after the token refresh answered 502).
type rotatingConnector struct{ stash []byte }

func (rotatingConnector) Info() connectors.Info { return connectors.Info{ID: "up", Type: "gitea"} }
func (rotatingConnector) Close() error          { return nil }
func (c rotatingConnector) Refresh(context.Context, connectors.Scopes, connectors.Upstream) (connectors.Upstream, error) {
	return connectors.Upstream{}, &connectors.UpstreamError{Temporary: true, Err: errors.New("502 from /api/v1/user"), Stash: c.stash}
}

// TestFailedUpstreamRefreshKeepsRotatedStash: the client gets temporarily_unavailable and its
// refresh token is not rotated, but the upstream's new token (its old one is dead) is stored
// in the grant, so the next refresh after the outage works.
func TestFailedUpstreamRefreshKeepsRotatedStash(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) //nolint:errcheck // a test database in a temp dir
	now := time.Now().UTC().Truncate(time.Second)
	g := storage.Grant{ID: "g1", ClientID: "app", Scopes: []string{"openid", "offline_access"},
		Identity: storage.Identity{Subject: "u1"}, Auth: storage.Authentication{ConnectorID: "up", ConnectorData: []byte(`{"rt":"old"}`)},
		CreatedAt: now, AbsoluteExpiry: now.Add(time.Hour)}
	if err := st.CreateGrant(ctx, g, nil); err != nil {
		t.Fatal(err)
	}
	h := &Handler{Grants: st, Logger: slog.New(slog.DiscardHandler), Now: time.Now,
		Connectors: connset.New([]connset.Slot{{Info: connectors.Info{ID: "up"}, Conn: rotatingConnector{stash: []byte(`{"rt":"new"}`)}}})}
	if _, _, _, err := h.refreshUpstream(ctx, g, g.Scopes, now); err == nil {
		t.Fatal("refresh succeeded; want temporarily_unavailable")
	}
	got, err := st.GetGrant(ctx, "g1")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Auth.ConnectorData) != `{"rt":"new"}` || got.Identity.Subject != "u1" {
		t.Fatalf("grant after the failed refresh: data %s, identity %+v; want the rotated stash kept", got.Auth.ConnectorData, got.Identity)
	}
}
