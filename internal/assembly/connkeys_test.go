package assembly

import (
	"encoding/xml"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	csaml "github.com/crewjam/saml"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/saml"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
)

// TestConnectorKeysSharedByReplicas (issue 20.5): the key store serve gives each connector
// keeps its values in storage (two SQLite handles on one file stand for two replicas):
// put-if-absent lets the first replica win and the other read its value; a value expires;
// another connector's store, and the SAML IdP's key blob, are out of reach.
func TestConnectorKeysSharedByReplicas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	var stores [2]storage.Storage
	for i := range stores {
		st, err := sqlite.Open(t.Context(), path, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		stores[i] = st
	}
	ctx := t.Context()
	a0, a1, other := newConnectorKeys(stores[0], "okta"), newConnectorKeys(stores[1], "okta"), newConnectorKeys(stores[1], "adfs")
	if _, err := a0.Get(ctx, "k"); !errors.Is(err, connectors.ErrKeyNotFound) {
		t.Fatalf("Get of a missing key = %v, want ErrKeyNotFound", err)
	}
	first, err := a0.PutIfAbsent(ctx, "k", []byte("first"), time.Time{})
	if err != nil || string(first) != "first" {
		t.Fatalf("PutIfAbsent = %q, %v", first, err)
	}
	if got, err := a1.PutIfAbsent(ctx, "k", []byte("second"), time.Time{}); err != nil || string(got) != "first" {
		t.Fatalf("second replica's PutIfAbsent = %q, %v; want the first value", got, err)
	}
	if got, err := a1.Get(ctx, "k"); err != nil || string(got) != "first" {
		t.Fatalf("second replica's Get = %q, %v", got, err)
	}
	if _, err := other.Get(ctx, "k"); !errors.Is(err, connectors.ErrKeyNotFound) {
		t.Fatalf("another connector reads okta's key: %v", err)
	}
	if _, err := a0.PutIfAbsent(ctx, "old", []byte("x"), time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := a1.Get(ctx, "old"); !errors.Is(err, connectors.ErrKeyNotFound) {
		t.Fatalf("expired key still read: %v", err)
	}
	if err := stores[0].(storage.BlobStore).PutBlob(ctx, storage.Blob{Key: "saml-idp/key", Value: []byte("idp")}); err != nil {
		t.Fatal(err)
	}
	if _, err := a0.Get(ctx, "../../saml-idp/key"); !errors.Is(err, connectors.ErrKeyNotFound) {
		t.Fatalf("a connector reaches the IdP key: %v", err)
	}
}

// TestSAMLGeneratedKeyAcrossReplicas (issue 20.5): two SAML connectors opened the way serve
// opens them, on two handles of one database, publish the same generated SP certificate.
func TestSAMLGeneratedKeyAcrossReplicas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	info := connectors.Info{ID: "okta", Type: "saml", Name: "Okta"}
	var mds [2][]byte
	var conns [2]*saml.Connector
	for i := range conns {
		st, err := sqlite.Open(t.Context(), path, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		cfg := &saml.Config{IDPMetadataURL: "https://idp.invalid/metadata", SignRequests: true}
		c, err := cfg.Open(t.Context(), info, connectors.Deps{
			CallbackURL: "https://id.example.com/callback/okta", Now: time.Now, Keys: newConnectorKeys(st, info.ID),
		})
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c.(*saml.Connector)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(conns))
	for i, c := range conns {
		wg.Go(func() { mds[i], errs[i] = c.Metadata(t.Context()) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	cert := func(md []byte) string {
		var ed csaml.EntityDescriptor
		if err := xml.Unmarshal(md, &ed); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, kd := range ed.SPSSODescriptors[0].KeyDescriptors {
			for _, c := range kd.KeyInfo.X509Data.X509Certificates {
				out = append(out, kd.Use+":"+c.Data)
			}
		}
		return strings.Join(out, ",")
	}
	if c0, c1 := cert(mds[0]), cert(mds[1]); c0 == "" || c0 != c1 {
		t.Fatalf("replicas publish different SP certificates:\n%s\n%s", c0, c1)
	}
}
