package samlidp

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// TestFromStored: a stored SP is built from its inline metadata, or from entity_id + acs_url
// with a PEM certificate; metadata that is not an SP's, describes another entity, or a bad
// certificate is refused naming the field.
func TestFromStored(t *testing.T) {
	sp := testSP(t, "https://wiki.example.com", true)
	md, err := xml.Marshal(sp.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	entity := sp.EntityID
	tests := []struct {
		name    string
		s       storage.ServiceProvider
		wantErr string
	}{
		{"metadata", storage.ServiceProvider{ID: "wiki", EntityID: entity, MetadataXML: string(md), SignAssertion: true}, ""},
		{"static", storage.ServiceProvider{ID: "s", EntityID: "urn:s", ACSURL: "https://s.example.com/acs", SignResponse: true}, ""},
		{"metadata of another entity", storage.ServiceProvider{ID: "wiki", EntityID: "urn:other", MetadataXML: string(md), SignAssertion: true}, "metadata"},
		{"IdP metadata", storage.ServiceProvider{ID: "x", EntityID: "urn:x", SignAssertion: true,
			MetadataXML: `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:x"/>`}, "no entityID or no SPSSODescriptor"},
		{"garbage", storage.ServiceProvider{ID: "x", EntityID: "urn:x", MetadataXML: "<<", SignAssertion: true}, "parse metadata"},
		{"bad cert", storage.ServiceProvider{ID: "s", EntityID: "urn:s", ACSURL: "https://s.example.com/acs", CertPEM: "x", SignResponse: true}, "cert_pem"},
		{"nothing signed", storage.ServiceProvider{ID: "wiki", EntityID: entity, MetadataXML: string(md)}, "sign_response or sign_assertion"},
		{"encrypt without a certificate", storage.ServiceProvider{ID: "s", EntityID: "urn:s", ACSURL: "https://s.example.com/acs", SignResponse: true, EncryptAssertion: true}, "encrypt_assertion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromStored(tt.s, time.Now)
			if tt.wantErr == "" {
				if err != nil || got.EntityID() != tt.s.EntityID {
					t.Fatalf("FromStored = %v, %v", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
			}
		})
	}
}

// FuzzStoredMetadata feeds arbitrary metadata (a metadata_url's answer is untrusted) through
// EntityIDOf and FromStored: no panic, and an SP built from it answers for exactly the entity
// ID it was stored under.
func FuzzStoredMetadata(f *testing.F) {
	sp := testSP(f, "https://wiki.example.com", true)
	md, err := xml.Marshal(sp.Metadata())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(md)
	f.Add([]byte(`<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">` + string(md) + `</EntitiesDescriptor>`))
	f.Add([]byte(`<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:x"><SPSSODescriptor/></EntityDescriptor>`))
	f.Add([]byte("<"))
	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := EntityIDOf(data)
		if err != nil {
			return
		}
		built, err := FromStored(storage.ServiceProvider{ID: "f", EntityID: id, MetadataXML: string(data), SignAssertion: true}, time.Now)
		if err == nil && built.EntityID() != id {
			t.Fatalf("built for %q, stored under %q", built.EntityID(), id)
		}
	})
}
