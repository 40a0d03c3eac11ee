package samlidp

import (
	"context"
	"encoding/xml"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crewjam/saml"

	"github.com/gatehouse-id/gatehouse/config"
)

// serveMetadata serves an SP's metadata and returns its URL.
func serveMetadata(t *testing.T, sp *saml.ServiceProvider) string {
	t.Helper()
	b, err := xml.Marshal(sp.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(b) }))
	t.Cleanup(srv.Close)
	return srv.URL + "/md"
}

// Attack (issue 12.9): an SP configured by metadata_url publishes metadata claiming another
// SP's entityID. Before the fix, a metadata_url SP needed no entity_id and SPs were found by
// fetching every unknown one until an entityID matched: the attacker's metadata (its key, its
// ACS) answered for the victim, so a request "from" the victim signed with the attacker's key
// got the victim's assertion (Audience and persistent NameID of the victim) at the attacker's
// ACS, and the victim's own signed requests were refused.
func TestEntityIDConfusionRefused(t *testing.T) {
	const victimEntity = "https://victim.example.com/saml"
	victim := testSP(t, victimEntity, true)
	victim.AcsURL.Host, victim.AcsURL.Path = "victim.example.com", "/acs"
	// The attacker's SP claims the victim's entity ID, with its own key and ACS.
	attacker := testSP(t, victimEntity, true)
	attacker.AcsURL.Host, attacker.AcsURL.Path = "attacker.example.com", "/acs"
	attacker.Key, attacker.Certificate = keys()[2].key, keys()[2].cert
	victimURL, attackerURL := serveMetadata(t, victim), serveMetadata(t, attacker)
	kp := keys()[0]
	open := func(sps ...config.ServiceProvider) (*IdP, error) {
		return New(Options{BaseURL: testBase, Key: kp.key, Cert: kp.cert, ServiceProviders: sps})
	}

	t.Run("config refused", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			sps  []config.ServiceProvider
			want string
		}{
			{"metadata_url without entity_id", []config.ServiceProvider{
				{ID: "evil", MetadataURL: attackerURL},
				{ID: "victim", MetadataURL: victimURL, EntityID: victimEntity},
			}, "entity_id"},
			{"two SPs with one entity ID", []config.ServiceProvider{
				{ID: "evil", MetadataURL: attackerURL, EntityID: victimEntity},
				{ID: "victim", MetadataFile: writeMetadata(t, victim)},
			}, "duplicate entity ID"},
			{"static and metadata_url with one entity ID", []config.ServiceProvider{
				{ID: "victim", EntityID: victimEntity, ACSURL: "https://victim.example.com/acs"},
				{ID: "evil", MetadataURL: attackerURL, EntityID: victimEntity},
			}, "duplicate entity ID"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := open(tc.sps...); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("New = %v, want an error naming %q", err, tc.want)
				}
			})
		}
	})

	t.Run("fetched metadata for another entity refused", func(t *testing.T) {
		p, err := open(
			config.ServiceProvider{ID: "evil", MetadataURL: attackerURL, EntityID: "https://attacker.example.com/saml"},
			config.ServiceProvider{ID: "victim", MetadataURL: victimURL, EntityID: victimEntity},
		)
		if err != nil {
			t.Fatal(err)
		}
		idpMD(t, p, victim, attacker)
		// The attacker's forged request for the victim: signed with the attacker's key.
		u, err := attacker.MakeRedirectAuthenticationRequest("")
		if err != nil {
			t.Fatal(err)
		}
		if ar, err := p.ParseAuthnRequest(httptest.NewRequest(http.MethodGet, u.String(), nil)); err == nil {
			t.Fatalf("forged request accepted for SP %s, ACS %s", ar.SP.ID, ar.ACSURL)
		}
		// The genuine victim is served.
		u, err = victim.MakeRedirectAuthenticationRequest("")
		if err != nil {
			t.Fatal(err)
		}
		ar, err := p.ParseAuthnRequest(httptest.NewRequest(http.MethodGet, u.String(), nil))
		if err != nil || ar.SP.ID != "victim" || ar.ACSURL != "https://victim.example.com/acs" {
			t.Fatalf("victim's request: %+v, %v", ar, err)
		}
		// The attacker's SP itself is unusable: its metadata names another entity.
		if _, err := p.ServiceProvider("evil").Metadata(context.Background()); !errors.Is(err, ErrMetadataUnavailable) {
			t.Fatalf("attacker metadata: %v", err)
		}
		if _, _, err := p.spFor(context.Background(), "https://attacker.example.com/saml"); err == nil {
			t.Fatal("attacker's SP found by an entity ID its metadata does not have")
		}
	})
}

// idpMD gives the SPs the IdP's metadata.
func idpMD(t *testing.T, p *IdP, sps ...*saml.ServiceProvider) {
	t.Helper()
	md, err := p.MetadataXML()
	if err != nil {
		t.Fatal(err)
	}
	var ed saml.EntityDescriptor
	if err := xml.Unmarshal(md, &ed); err != nil {
		t.Fatal(err)
	}
	for _, sp := range sps {
		sp.IDPMetadata = &ed
	}
}

// Attack (issue 12.1): a user whose email is not verified (mallory, claiming
// alice@example.com) must not be named by it: an emailAddress NameID needs a verified email.
func TestEmailNameIDNeedsVerifiedEmail(t *testing.T) {
	sp := testSP(t, "https://app.example.com", false)
	kp := keys()[0]
	p, err := New(Options{BaseURL: testBase, Key: kp.key, Cert: kp.cert, ServiceProviders: []config.ServiceProvider{
		{ID: "app", MetadataFile: writeMetadata(t, sp), NameIDFormat: NameIDEmail}}})
	if err != nil {
		t.Fatal(err)
	}
	ar, err := p.IdPInitiated(context.Background(), "app", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		verified bool
		wantErr  error
	}{
		{"unverified", false, ErrNoEmail},
		{"verified", true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := p.BuildResponse(context.Background(), ar, Subject{UserID: "mallory", Email: "alice@example.com", EmailVerified: tc.verified})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && resp.NameID != "alice@example.com" {
				t.Fatalf("NameID = %q", resp.NameID)
			}
		})
	}
}

// Attack (issue 12.9): an aggregate (EntitiesDescriptor) at a metadata_url whose first entity
// is another SP's: the configured entity is picked exactly, never the first one.
func TestAggregateMetadataPicksConfiguredEntity(t *testing.T) {
	victim := testSP(t, "https://victim.example.com/saml", true)
	other := testSP(t, "https://other.example.com/saml", true)
	other.Key, other.Certificate = keys()[2].key, keys()[2].cert
	agg := saml.EntitiesDescriptor{EntityDescriptors: []saml.EntityDescriptor{*other.Metadata(), *victim.Metadata()}}
	b, err := xml.Marshal(agg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(b) }))
	defer srv.Close()
	kp := keys()[0]
	p, err := New(Options{BaseURL: testBase, Key: kp.key, Cert: kp.cert, ServiceProviders: []config.ServiceProvider{
		{ID: "victim", MetadataURL: srv.URL, EntityID: victim.EntityID}}})
	if err != nil {
		t.Fatal(err)
	}
	sp, md, err := p.spFor(context.Background(), victim.EntityID)
	if err != nil || sp.ID != "victim" || md.EntityID != victim.EntityID {
		t.Fatalf("lookup: %v, %v", md, err)
	}
	if _, _, err := p.spFor(context.Background(), other.EntityID); !errors.Is(err, ErrUnknownSP) {
		t.Fatalf("the aggregate's other entity: %v", err)
	}
}
