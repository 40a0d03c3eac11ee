// Package claimstest holds test helpers shared by the connectors' real-peer tests: recording the
// upstream identity a peer returned (testdata/<kind>-upstream.json) and checking what the
// default claims pipeline makes of it.
package claimstest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/claims"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
)

// RecordUpstream writes up as JSON to path when the file is missing or its stable part
// (everything but the subject, times and stash, which change with every provisioning of the
// peer) differs from up.
func RecordUpstream(t *testing.T, path string, up connectors.Upstream) {
	t.Helper()
	if old, err := os.ReadFile(path); err == nil {
		var rec connectors.Upstream
		if err := json.Unmarshal(old, &rec); err == nil && reflect.DeepEqual(stableUpstream(rec), stableUpstream(up)) {
			return
		}
	}
	b, err := json.MarshalIndent(up, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded the upstream identity in %s (copy it to claims/testdata)", path)
}

// volatileAttr reports raw claims that change with every login or peer start (times, nonces,
// the issuer's port).
func volatileAttr(k string) bool {
	switch k {
	case "iat", "exp", "nbf", "auth_time", "iss", "nonce", "at_hash", "c_hash", "sid", "jti":
		return true
	}
	return false
}

// stableUpstream is up without what changes between runs against the same fixtures.
func stableUpstream(up connectors.Upstream) connectors.Upstream {
	attrs := map[string][]string{}
	for k, v := range up.Attrs {
		if !slices.Contains(v, up.Subject) && !volatileAttr(k) {
			attrs[k] = v
		}
	}
	up.Attrs, up.Subject, up.SessionID, up.AuthTime, up.Stash = attrs, "", "", time.Time{}, nil
	return up
}

// CheckDefaultClaims runs the default claims pipeline of a connector of type kind (no claims
// rules) over up, with SQLite account links, and compares the canonical identity with want.
func CheckDefaultClaims(t *testing.T, kind string, up connectors.Upstream, want storage.Identity) {
	t.Helper()
	ctx := context.Background()
	cfg := &config.Config{Connectors: []config.ConnectorBlock{{Type: kind, ID: "peer", Name: "Peer"}}}
	cfg.ApplyDefaults()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	n, err := claims.New(cfg, claims.Options{Links: store})
	if err != nil {
		t.Fatalf("claims.New: %v", err)
	}
	id, err := n.Normalize(ctx, "peer", up)
	if err != nil {
		t.Fatalf("Normalize: %v", err)
	}
	if id.Subject == "" || id.Subject == up.Subject {
		t.Errorf("sub = %q, want an internal user ID, not the upstream subject %q", id.Subject, up.Subject)
	}
	again, err := n.Normalize(ctx, "peer", up)
	if err != nil {
		t.Fatalf("second Normalize: %v", err)
	}
	if again.Subject != id.Subject {
		t.Errorf("second login: sub = %q, want the linked %q", again.Subject, id.Subject)
	}
	got := id
	got.Subject = ""
	if !reflect.DeepEqual(got, want) {
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		t.Errorf("identity:\n got %s\nwant %s", gb, wb)
	}
}
