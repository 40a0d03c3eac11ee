package assembly

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	csaml "github.com/crewjam/saml"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
)

// TestReplayCacheSharedByReplicas: the replay records serve wires into the SAML connector and
// the SAML IdP live in storage.
// Attack (issue 12 item 7): a SAML assertion (or a signed AuthnRequest) accepted by one replica
// is replayed to another replica, whose in-process cache has not seen it, and is accepted.
func TestReplayCacheSharedByReplicas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	var replicas [2]*replayCache
	var idps [2]samlReplayCache
	for i := range replicas {
		st, err := sqlite.Open(t.Context(), path, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		if replicas[i], err = newReplayCache(st, "replay:connector:okta:"); err != nil {
			t.Fatal(err)
		}
		rc, err := newReplayCache(st, "replay:saml-idp:")
		if err != nil {
			t.Fatal(err)
		}
		idps[i] = samlReplayCache{rc}
	}
	ctx := t.Context()
	exp := time.Now().Add(time.Minute)
	long := "_" + strings.Repeat("x", 100_000) // an upstream chooses the ID: its length must not matter
	for _, id := range []string{"_assertion-1", long} {
		if err := replicas[0].Consume(ctx, id, exp); err != nil {
			t.Fatalf("first use at replica 0: %v", err)
		}
		if err := replicas[1].Consume(ctx, id, exp); !errors.Is(err, connectors.ErrReplayed) {
			t.Fatalf("replay at replica 1 = %v, want ErrReplayed", err)
		}
	}
	// The IdP's record is its own (a request ID equal to an assertion ID is no replay)...
	if err := idps[1].Consume("_assertion-1", exp); err != nil {
		t.Fatalf("IdP record shares the connector's keys: %v", err)
	}
	// ...and shared by its replicas, in crewjam's terms.
	if err := idps[0].Consume("_assertion-1", exp); !errors.Is(err, csaml.ErrAssertionReplayed) {
		t.Fatalf("signed request replayed at the other IdP replica = %v, want ErrAssertionReplayed", err)
	}
}
