package saml

import (
	"context"
	"encoding/xml"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	csaml "github.com/crewjam/saml"

	"github.com/gatehouse-id/gatehouse/connectors"
)

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestValidate(t *testing.T) {
	idpCert := mustRead(t, "idp.crt")
	spKey := mustRead(t, "sp.key")
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error; none means valid
	}{
		{name: "metadata URL", cfg: Config{IDPMetadataURL: "https://idp.example.com/metadata"}},
		{name: "metadata URL on loopback http", cfg: Config{IDPMetadataURL: "http://127.0.0.1:8080/metadata"}},
		{name: "metadata file", cfg: Config{IDPMetadataFile: "/etc/idp.xml", IDPMetadataEntityID: "urn:idp"}},
		{name: "static", cfg: Config{IDPSSOURL: "https://idp.example.com/sso", IDPEntityID: "urn:idp", IDPCerts: []string{idpCert}, IDPSSOBinding: "post"}},
		{name: "static with cert file", cfg: Config{IDPSSOURL: "https://idp.example.com/sso", IDPEntityID: "urn:idp", IDPCerts: []string{"/etc/idp.crt"}}},
		{name: "signed requests", cfg: Config{IDPMetadataURL: "https://idp/m", SignRequests: true, SPKey: spKey, SPCert: "/etc/sp.crt"}},
		{name: "full", cfg: Config{IDPMetadataURL: "https://idp/m", NameIDFormat: "emailAddress", AllowedClockSkew: 180 * time.Second,
			MetadataRefresh: time.Hour, Attributes: AttributeMap{Email: "mail", Groups: "memberOf"}, AllowIDPInitiated: true}},
		{name: "transient with subject attribute", cfg: Config{IDPMetadataURL: "https://idp/m", NameIDFormat: "transient", Attributes: AttributeMap{Subject: "uid"}}},
		{name: "URN name ID format", cfg: Config{IDPMetadataURL: "https://idp/m", NameIDFormat: "urn:oasis:names:tc:SAML:2.0:nameid-format:kerberos"}},

		{name: "no IdP", cfg: Config{}, want: []string{"no IdP"}},
		{name: "two IdP sources", cfg: Config{IDPMetadataURL: "https://idp/m", IDPMetadataFile: "/x"}, want: []string{"alternatives"}},
		{name: "static incomplete", cfg: Config{IDPSSOURL: "https://idp/sso"}, want: []string{"all three"}},
		{name: "plain http metadata", cfg: Config{IDPMetadataURL: "http://idp.example.com/metadata"}, want: []string{"must be https"}},
		{name: "relative metadata URL", cfg: Config{IDPMetadataURL: "/metadata"}, want: []string{"absolute"}},
		{name: "bad inline cert", cfg: Config{IDPSSOURL: "https://idp/sso", IDPEntityID: "e", IDPCerts: []string{"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}},
			want: []string{"idp_certs[0]"}},
		{name: "bad binding", cfg: Config{IDPSSOURL: "https://idp/sso", IDPEntityID: "e", IDPCerts: []string{"/c"}, IDPSSOBinding: "soap"}, want: []string{"idp_sso_binding"}},
		// Issue 20.5: sign_requests without sp_key/sp_cert means a generated, stored and
		// rotated key (it was refused before); sp_key_rotation and sp_key_grace apply to it only.
		{name: "sign with generated key", cfg: Config{IDPMetadataURL: "https://idp/m", SignRequests: true}},
		{name: "generated key rotation", cfg: Config{IDPMetadataURL: "https://idp/m", SignRequests: true, SPKeyRotation: 90 * 24 * time.Hour, SPKeyGrace: 7 * 24 * time.Hour}},
		{name: "generated key short rotation, default grace", cfg: Config{IDPMetadataURL: "https://idp/m", SignRequests: true, SPKeyRotation: time.Hour}},
		{name: "rotation too short", cfg: Config{IDPMetadataURL: "https://idp/m", SignRequests: true, SPKeyRotation: time.Minute}, want: []string{"sp_key_rotation"}},
		{name: "rotation negative", cfg: Config{IDPMetadataURL: "https://idp/m", SignRequests: true, SPKeyRotation: -time.Hour}, want: []string{"sp_key_rotation"}},
		{name: "grace not shorter than rotation", cfg: Config{IDPMetadataURL: "https://idp/m", SignRequests: true, SPKeyRotation: 48 * time.Hour, SPKeyGrace: 48 * time.Hour},
			want: []string{"sp_key_grace"}},
		{name: "grace not shorter than default rotation", cfg: Config{IDPMetadataURL: "https://idp/m", SignRequests: true, SPKeyGrace: 400 * 24 * time.Hour},
			want: []string{"sp_key_grace"}},
		{name: "grace negative", cfg: Config{IDPMetadataURL: "https://idp/m", SignRequests: true, SPKeyGrace: -time.Hour}, want: []string{"sp_key_grace: negative"}},
		{name: "rotation with configured key", cfg: Config{IDPMetadataURL: "https://idp/m", SignRequests: true, SPKey: spKey, SPCert: "/c", SPKeyRotation: 48 * time.Hour},
			want: []string{"sp_key_rotation: only used with a generated SP key"}},
		{name: "grace without signing", cfg: Config{IDPMetadataURL: "https://idp/m", SPKeyGrace: time.Hour}, want: []string{"sp_key_grace: only used"}},
		{name: "sign with key but no cert", cfg: Config{IDPMetadataURL: "https://idp/m", SignRequests: true, SPKey: spKey}, want: []string{"set both"}},
		{name: "key without cert", cfg: Config{IDPMetadataURL: "https://idp/m", SPKey: "/k"}, want: []string{"set both"}},
		{name: "bad inline key", cfg: Config{IDPMetadataURL: "https://idp/m", SPKey: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", SPCert: "/c"},
			want: []string{"sp_key"}},
		{name: "bad name ID format", cfg: Config{IDPMetadataURL: "https://idp/m", NameIDFormat: "email"}, want: []string{"name_id_format"}},
		{name: "transient without subject", cfg: Config{IDPMetadataURL: "https://idp/m", NameIDFormat: "transient"}, want: []string{"attributes.subject"}},
		{name: "skew too large", cfg: Config{IDPMetadataURL: "https://idp/m", AllowedClockSkew: 5 * time.Minute}, want: []string{"allowed_clock_skew"}},
		{name: "refresh too short", cfg: Config{IDPMetadataURL: "https://idp/m", MetadataRefresh: time.Second}, want: []string{"metadata_refresh"}},
		{name: "several problems", cfg: Config{IDPMetadataURL: "ftp://x/m", NameIDFormat: "x", ReplayCacheSize: -1},
			want: []string{"idp_metadata_url", "name_id_format", "replay_cache_size"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted %+v", tc.cfg)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestOpen(t *testing.T) {
	deps := connectors.Deps{CallbackURL: "https://id.example.com/gh/callback/corp"}
	info := connectors.Info{ID: "corp", Type: "saml", Name: "Corp"}
	tests := []struct {
		name    string
		cfg     Config
		deps    connectors.Deps
		wantErr string
		check   func(t *testing.T, c *Connector)
	}{
		{name: "defaults", cfg: Config{IDPMetadataURL: "https://idp.invalid/metadata"}, deps: deps, check: func(t *testing.T, c *Connector) {
			if c.EntityID() != "https://id.example.com/gh/saml/sp/corp/metadata" || c.ACSURL() != deps.CallbackURL {
				t.Errorf("entity %q acs %q", c.EntityID(), c.ACSURL())
			}
			if c.skew != DefaultClockSkew || c.format != csaml.PersistentNameIDFormat || c.base.Key != nil {
				t.Errorf("skew %s format %s", c.skew, c.format)
			}
		}},
		{name: "key files and signing", deps: deps, cfg: Config{IDPMetadataURL: "https://idp.invalid/metadata", EntityID: "urn:gatehouse",
			SignRequests: true, SPKey: "testdata/sp.key", SPCert: "testdata/sp.crt", SPPreviousKeys: []string{"testdata/evil.key"}},
			check: func(t *testing.T, c *Connector) {
				if c.EntityID() != "urn:gatehouse" || c.base.Key == nil || c.base.SignatureMethod == "" || len(c.base.DecryptionKeys) != 1 {
					t.Errorf("SP = %+v", c.base)
				}
			}},
		{name: "key and cert mismatch", deps: deps, cfg: Config{IDPMetadataURL: "https://idp.invalid/m", SPKey: "testdata/sp.key", SPCert: "testdata/idp.crt"},
			wantErr: "does not match"},
		{name: "missing key file", deps: deps, cfg: Config{IDPMetadataURL: "https://idp.invalid/m", SPKey: "testdata/none.key", SPCert: "testdata/sp.crt"},
			wantErr: "sp_key"},
		{name: "dedicated ACS URL", cfg: Config{IDPMetadataURL: "https://idp.invalid/m"},
			deps: connectors.Deps{CallbackURL: "https://id.example.com/saml/sp/corp/acs"}, check: func(t *testing.T, c *Connector) {
				if c.ACSURL() != "https://id.example.com/saml/sp/corp/acs" || c.EntityID() != "https://id.example.com/saml/sp/corp/metadata" {
					t.Errorf("acs %q entity %q", c.ACSURL(), c.EntityID())
				}
			}},
		{name: "no callback", cfg: Config{IDPMetadataURL: "https://idp.invalid/m"}, wantErr: "no callback URL"},
		{name: "callback of another connector", cfg: Config{IDPMetadataURL: "https://idp.invalid/m"},
			deps: connectors.Deps{CallbackURL: "https://id.example.com/callback/other"}, wantErr: "does not end in"},
		{name: "invalid config", cfg: Config{}, deps: deps, wantErr: "no IdP"},
		// A generated SP key needs somewhere shared to live: without Deps.Keys the connector
		// refuses to open rather than signing with a per-process key the IdP never saw.
		{name: "generated key without a key store", deps: deps, cfg: Config{IDPMetadataURL: "https://idp.invalid/m", SignRequests: true},
			wantErr: "cannot keep a generated SP key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.cfg.Open(context.Background(), info, tc.deps)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Open error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if tc.check != nil {
				tc.check(t, c.(*Connector))
			}
		})
	}
}

const aggregate = `<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">
 <EntityDescriptor entityID="urn:sp"><SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></EntityDescriptor>
 <EntitiesDescriptor>
  <EntityDescriptor entityID="urn:idp1"><IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
   <SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp1/sso"/></IDPSSODescriptor></EntityDescriptor>
  <EntityDescriptor entityID="urn:idp2"><IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
   <SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp2/sso"/></IDPSSODescriptor></EntityDescriptor>
 </EntitiesDescriptor>
</EntitiesDescriptor>`

func TestParseIDPMetadata(t *testing.T) {
	single := `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:idp"><IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></EntityDescriptor>`
	tests := []struct {
		name, doc, entity string
		want, wantErr     string
	}{
		{name: "single", doc: single, want: "urn:idp"},
		{name: "aggregate by entity ID", doc: aggregate, entity: "urn:idp2", want: "urn:idp2"},
		{name: "aggregate ambiguous", doc: aggregate, wantErr: "idp_metadata_entity_id"},
		{name: "aggregate unknown entity", doc: aggregate, entity: "urn:nope", wantErr: "no IdP entity"},
		{name: "SP only", doc: `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:sp"/>`, wantErr: "no entity with an IDPSSODescriptor"},
		{name: "not metadata", doc: `<html/>`, wantErr: "root element"},
		{name: "garbage", doc: `not xml`, wantErr: "parse"},
		{name: "empty", doc: ``, wantErr: "parse"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ed, err := parseIDPMetadata([]byte(tc.doc), tc.entity, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ed.EntityID != tc.want {
				t.Errorf("entity = %q", ed.EntityID)
			}
		})
	}
	// Signed metadata required: an unsigned document is refused.
	certs, err := parseCerts([]byte(mustRead(t, "idp.crt")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseIDPMetadata([]byte(single), "", certs); err == nil {
		t.Error("unsigned metadata accepted with idp_metadata_certs")
	}
}

func TestIDPSourceRefreshAndRetry(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	loads := 0
	fail := true
	src := &idpSource{
		refresh: time.Hour, retry: 5 * time.Second, now: clock, logger: discardLogger(),
		load: func(context.Context) ([]byte, error) {
			loads++
			if fail {
				return nil, errors.New("down")
			}
			return []byte(`<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:idp"><IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></EntityDescriptor>`), nil
		},
		parse: func(b []byte) (*csaml.EntityDescriptor, error) { return parseIDPMetadata(b, "", nil) },
	}
	ctx := context.Background()
	if _, _, err := src.get(ctx); err == nil {
		t.Fatal("get succeeded while down")
	}
	if _, _, err := src.get(ctx); err == nil || loads != 1 {
		t.Fatalf("retried within the retry interval: loads=%d err=%v", loads, err)
	}
	advance(6 * time.Second)
	fail = false
	ed, gen, err := src.get(ctx)
	if err != nil || ed.EntityID != "urn:idp" || loads != 2 || gen != 1 {
		t.Fatalf("after recovery: %v %v loads=%d gen=%d", ed, err, loads, gen)
	}
	if _, _, _ = src.get(ctx); loads != 2 {
		t.Fatalf("fresh metadata loaded again: loads=%d", loads)
	}
	advance(2 * time.Hour)
	fail = true
	ed2, gen2, err := src.get(ctx)
	if err != nil || ed2 != ed || gen2 != gen || loads != 3 {
		t.Fatalf("failed refresh did not keep the old metadata: %v loads=%d", err, loads)
	}
	advance(10 * time.Second)
	fail = false
	if _, gen3, err := src.get(ctx); err != nil || gen3 != 2 || loads != 4 {
		t.Fatalf("refresh after failure: gen=%d loads=%d err=%v", gen3, loads, err)
	}
}

func TestReplayCache(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := newReplayCache(2, func() time.Time { return now })
	if err := c.Consume("a", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := c.Consume("a", now.Add(time.Minute)); !errors.Is(err, csaml.ErrAssertionReplayed) {
		t.Fatalf("replay: %v", err)
	}
	if err := c.Consume("b", now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := c.Consume("c", now.Add(time.Minute)); !errors.Is(err, errReplayCacheFull) {
		t.Fatalf("full cache: %v", err)
	}
	now = now.Add(90 * time.Second) // a expired
	if err := c.Consume("c", now.Add(time.Minute)); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if err := c.Consume("b", now.Add(time.Minute)); !errors.Is(err, csaml.ErrAssertionReplayed) {
		t.Fatalf("b forgotten early: %v", err)
	}
	// An expired entry is no longer a replay (it is refused as expired by crewjam).
	c2 := newReplayCache(10, func() time.Time { return now })
	_ = c2.Consume("x", now.Add(-time.Second))
	if err := c2.Consume("x", now.Add(time.Minute)); err != nil {
		t.Fatalf("expired entry blocks: %v", err)
	}
}

func TestStaticDescriptor(t *testing.T) {
	cfg := Config{IDPSSOURL: "https://idp/sso", IDPEntityID: "urn:idp", IDPCerts: []string{mustRead(t, "idp.crt"), "testdata/evil.crt"}, IDPSSOBinding: "post"}
	ed, err := cfg.staticDescriptor()
	if err != nil {
		t.Fatal(err)
	}
	b, err := xml.Marshal(ed)
	if err != nil {
		t.Fatal(err)
	}
	back, err := parseIDPMetadata(b, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	d := back.IDPSSODescriptors[0]
	if back.EntityID != "urn:idp" || len(d.KeyDescriptors) != 2 || d.SingleSignOnServices[0].Binding != csaml.HTTPPostBinding {
		t.Errorf("descriptor = %+v", back)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
