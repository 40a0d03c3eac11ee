package samlidp

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse-id/gatehouse/config"
)

const testBase = "https://login.example.com"

// keys are fixed test key pairs (RSA generation is slow under the fuzzer's instrumentation).
var keys = sync.OnceValue(func() [3]keyPair {
	var out [3]keyPair
	for i, name := range []string{"idp", "sp", "enc"} {
		pemBytes, err := os.ReadFile(filepath.Join("testdata", name+".pem"))
		if err != nil {
			panic(err)
		}
		k, c, err := parseKeyPair(pemBytes)
		if err != nil {
			panic(err)
		}
		out[i] = keyPair{k, c}
	}
	return out
})

type keyPair struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

// testSP is a crewjam service provider (a strict third-party SP) registered with the IdP.
func testSP(t testing.TB, entity string, sign bool) *saml.ServiceProvider {
	t.Helper()
	kp := keys()[1]
	mu, _ := url.Parse(entity)
	acs, _ := url.Parse(entity + "/acs")
	slo, _ := url.Parse(entity + "/slo")
	sp := &saml.ServiceProvider{
		EntityID: entity, Key: kp.key, Certificate: kp.cert, MetadataURL: *mu, AcsURL: *acs, SloURL: *slo,
		AuthnNameIDFormat: saml.PersistentNameIDFormat, AllowIDPInitiated: true,
	}
	if sign {
		sp.SignatureMethod = dsig.RSASHA256SignatureMethod
	}
	return sp
}

func writeMetadata(t testing.TB, sp *saml.ServiceProvider) string {
	t.Helper()
	b, err := xml.Marshal(sp.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "sp.xml")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// newTestIdP builds an IdP with the SPs (by metadata file) and gives each SP the IdP's metadata.
func newTestIdP(t testing.TB, sps ...*saml.ServiceProvider) *IdP {
	t.Helper()
	kp := keys()[0]
	var cfgs []config.ServiceProvider
	for i, sp := range sps {
		c := config.ServiceProvider{ID: "sp" + string(rune('a'+i)), MetadataFile: writeMetadata(t, sp), NameIDFormat: "persistent"}
		cfgs = append(cfgs, c)
	}
	p, err := New(Options{BaseURL: testBase, Key: kp.key, Cert: kp.cert, ServiceProviders: cfgs, PersistentSalt: "salt"})
	if err != nil {
		t.Fatal(err)
	}
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
	return p
}

func TestParseAuthnRequest(t *testing.T) {
	signed := testSP(t, "https://signed.example.com", true)
	plain := testSP(t, "https://plain.example.com", false)
	stranger := testSP(t, "https://stranger.example.com", true)
	p := newTestIdP(t, signed, plain)
	stranger.IDPMetadata = signed.IDPMetadata

	redirect := func(sp *saml.ServiceProvider, relay string) *http.Request {
		u, err := sp.MakeRedirectAuthenticationRequest(relay)
		if err != nil {
			t.Fatal(err)
		}
		return httptest.NewRequest(http.MethodGet, u.String(), nil)
	}
	post := func(sp *saml.ServiceProvider, mutate func(*saml.AuthnRequest)) *http.Request {
		ar, err := sp.MakeAuthenticationRequest(p.ssoURL, saml.HTTPPostBinding, saml.HTTPPostBinding)
		if err != nil {
			t.Fatal(err)
		}
		if mutate != nil {
			mutate(ar)
		}
		doc := ar.Element()
		if ar.Signature != nil {
			doc.AddChild(ar.Signature)
		}
		var buf bytes.Buffer
		d := xmlDoc(doc)
		if _, err := d.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		form := url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(buf.Bytes())}, "RelayState": {"rs"}}
		r := httptest.NewRequest(http.MethodPost, p.ssoURL, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}
	tamperedSig := func() *http.Request {
		r := redirect(signed, "x")
		q := r.URL.Query()
		sig, _ := base64.StdEncoding.DecodeString(q.Get("Signature"))
		sig[10] ^= 1
		r.URL.RawQuery = strings.Replace(r.URL.RawQuery, url.QueryEscape(q.Get("Signature")), url.QueryEscape(base64.StdEncoding.EncodeToString(sig)), 1)
		return r
	}
	strippedSig := func() *http.Request {
		r := redirect(signed, "")
		q := r.URL.Query()
		q.Del("Signature")
		q.Del("SigAlg")
		r.URL.RawQuery = q.Encode()
		return r
	}
	tests := []struct {
		name    string
		req     *http.Request
		wantSP  string
		wantErr error
		relay   string
		signed  bool
	}{
		{"redirect signed", redirect(signed, "relay-1"), "spa", nil, "relay-1", true},
		{"redirect unsigned", redirect(plain, ""), "spb", nil, "", false},
		{"post signed", post(signed, nil), "spa", nil, "rs", true},
		{"post unsigned", post(plain, nil), "spb", nil, "rs", false},
		{"redirect bad signature", tamperedSig(), "", saml.ErrInvalidSignature, "", false},
		{"signing sp without signature", strippedSig(), "", saml.ErrInvalidSignature, "", false},
		{"unknown sp", redirect(stranger, ""), "", saml.ErrUnknownServiceProvider, "", false},
		{"unregistered acs", post(plain, func(a *saml.AuthnRequest) { a.AssertionConsumerServiceURL = "https://evil.example.com/acs" }),
			"", saml.ErrUnknownAssertionConsumerService, "", false},
		{"wrong destination", post(plain, func(a *saml.AuthnRequest) { a.Destination = "https://other.example.com/sso" }),
			"", saml.ErrDestinationMismatch, "", false},
		{"expired", post(plain, func(a *saml.AuthnRequest) { a.IssueInstant = time.Now().Add(-time.Hour) }), "", saml.ErrExpired, "", false},
		{"garbage", httptest.NewRequest(http.MethodGet, p.ssoURL+"?SAMLRequest=%%%", nil), "", saml.ErrMalformedMessage, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ar, err := p.ParseAuthnRequest(tt.req)
			if tt.wantErr != nil {
				var re *RequestError
				if !errors.As(err, &re) || !errors.Is(err, tt.wantErr) || re.Reason == "" {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ar.SP.ID != tt.wantSP || ar.ID == "" || ar.RelayState != tt.relay || ar.Signed != tt.signed || !strings.HasSuffix(ar.ACSURL, "/acs") {
				t.Fatalf("got %+v", ar)
			}
		})
	}
}

func TestResponseValidatedBySP(t *testing.T) {
	f := false
	for _, tc := range []struct {
		name                 string
		signResp, signAssert bool
		encrypt              bool
		format               string
	}{
		{"both signed", true, true, false, "persistent"},
		{"response signed only", true, false, false, "emailAddress"},
		{"assertion signed only, encrypted", false, true, true, "transient"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := testSP(t, "https://app.example.com", false)
			sp.EncryptionKey, sp.EncryptionCertificate = keys()[2].key, keys()[2].cert
			sp.AuthnNameIDFormat = saml.UnspecifiedNameIDFormat // the configured format
			kp := keys()[0]
			c := config.ServiceProvider{ID: "app", MetadataFile: writeMetadata(t, sp), NameIDFormat: tc.format, EncryptAssertion: tc.encrypt}
			if !tc.signResp {
				c.SignResponse = &f
			}
			if !tc.signAssert {
				c.SignAssertion = &f
			}
			p, err := New(Options{BaseURL: testBase, Key: kp.key, Cert: kp.cert, ServiceProviders: []config.ServiceProvider{c}})
			if err != nil {
				t.Fatal(err)
			}
			md, _ := p.MetadataXML()
			var ed saml.EntityDescriptor
			if err := xml.Unmarshal(md, &ed); err != nil {
				t.Fatal(err)
			}
			sp.IDPMetadata = &ed
			u, _ := sp.MakeRedirectAuthenticationRequest("rs")
			ar, err := p.ParseAuthnRequest(httptest.NewRequest(http.MethodGet, u.String(), nil))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := p.BuildResponse(context.Background(), ar, Subject{
				UserID: "u1", Email: "alice@example.com", EmailVerified: true, AuthTime: time.Now().Add(-time.Minute),
				AuthnContext: AuthnContextClass("urn:gatehouse:acr:mfa", nil), SessionIndex: SessionIndex("s1"),
				Attributes: []Attribute{{Name: "mail", Values: []string{"alice@example.com"}}, {Name: "memberOf", Values: []string{"a", "b"}}},
			})
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := base64.StdEncoding.DecodeString(resp.SAMLResponse)
			if tc.encrypt != bytes.Contains(raw, []byte("EncryptedAssertion")) {
				t.Fatalf("encryption: %s", raw)
			}
			acs, _ := url.Parse(resp.URL)
			a, err := sp.ParseXMLResponse(raw, []string{ar.ID}, *acs)
			if err != nil {
				t.Fatalf("SP refused the response: %v", describe(err))
			}
			if a.Subject.NameID.Value != resp.NameID || a.AuthnStatements[0].SessionIndex != SessionIndex("s1") ||
				a.AuthnStatements[0].AuthnContext.AuthnContextClassRef.Value != ClassMFA {
				t.Fatalf("assertion %+v", a)
			}
			if tc.format == "emailAddress" && resp.NameID != "alice@example.com" {
				t.Fatalf("email NameID = %q", resp.NameID)
			}
			if tc.format == "persistent" && resp.NameID != p.PersistentNameID(sp.EntityID, "u1") {
				t.Fatalf("persistent NameID = %q", resp.NameID)
			}
			var groups []string
			for _, at := range a.AttributeStatements[0].Attributes {
				if at.Name == "memberOf" {
					for _, v := range at.Values {
						groups = append(groups, v.Value)
					}
				}
			}
			if strings.Join(groups, ",") != "a,b" {
				t.Fatalf("memberOf = %q", groups)
			}
			// Tampering with the signed XML in flight is refused.
			bad := bytes.Replace(raw, []byte("alice@example.com"), []byte("mallory@example.com"), 1)
			if !tc.encrypt {
				if _, err := sp.ParseXMLResponse(bad, []string{ar.ID}, *acs); err == nil {
					t.Fatal("tampered response accepted")
				}
			}
			// Another request ID is refused (InResponseTo).
			if _, err := sp.ParseXMLResponse(raw, []string{"other"}, *acs); err == nil {
				t.Fatal("InResponseTo not checked")
			}
		})
	}
}

func describe(err error) string {
	var ire *saml.InvalidResponseError
	if errors.As(err, &ire) {
		return ire.PrivateErr.Error()
	}
	return err.Error()
}

func TestErrorResponseAndIdPInitiated(t *testing.T) {
	sp := testSP(t, "https://app.example.com", false)
	p := newTestIdP(t, sp)
	ar, err := p.IdPInitiated(context.Background(), "spa", "home")
	if err != nil || ar.ACSURL != "https://app.example.com/acs" || ar.ID != "" {
		t.Fatalf("%+v %v", ar, err)
	}
	if _, err := p.IdPInitiated(context.Background(), "nope", ""); err == nil {
		t.Fatal("unknown SP accepted")
	}
	resp, err := p.BuildResponse(context.Background(), ar, Subject{UserID: "u", AuthnContext: ClassPasswordProtectedTransport})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(resp.SAMLResponse)
	acs, _ := url.Parse(resp.URL)
	if _, err := sp.ParseXMLResponse(raw, nil, *acs); err != nil {
		t.Fatalf("IdP-initiated response refused: %v", describe(err))
	}
	ar.ID = "req-1"
	er, err := p.BuildErrorResponse(context.Background(), ar, StatusNoPassive, "")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = base64.StdEncoding.DecodeString(er.SAMLResponse)
	if !bytes.Contains(raw, []byte(StatusNoPassive)) || !bytes.Contains(raw, []byte(`InResponseTo="req-1"`)) {
		t.Fatalf("error response %s", raw)
	}
	ar.ACSURL = "https://evil.example.com/acs"
	if _, err := p.BuildResponse(context.Background(), ar, Subject{UserID: "u"}); err == nil {
		t.Fatal("response to an unregistered ACS")
	}
	if _, err := p.BuildErrorResponse(context.Background(), ar, StatusNoPassive, ""); err == nil {
		t.Fatal("error response to an unregistered ACS")
	}
}

func TestMetadataURLLazyAndCached(t *testing.T) {
	sp := testSP(t, "https://app.example.com", false)
	mdBytes, _ := xml.Marshal(sp.Metadata())
	var mu sync.Mutex
	hits, fail := 0, false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		hits++
		if fail {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(mdBytes)
	}))
	defer srv.Close()
	now := time.Now()
	var clockMu sync.Mutex
	clk := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	kp := keys()[0]
	p, err := New(Options{BaseURL: testBase, Key: kp.key, Cert: kp.cert, Now: clk, HTTP: srv.Client(),
		ServiceProviders: []config.ServiceProvider{{ID: "app", MetadataURL: srv.URL + "/md", EntityID: "https://app.example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	if hits != 0 {
		t.Fatal("metadata fetched at New")
	}
	ctx := context.Background()
	for range 3 {
		if _, _, err := p.spFor(ctx, "https://app.example.com"); err != nil {
			t.Fatal(err)
		}
	}
	if hits != 1 {
		t.Fatalf("hits = %d, want 1 (cached)", hits)
	}
	mu.Lock()
	fail = true
	mu.Unlock()
	clockMu.Lock()
	now = now.Add(2 * time.Hour)
	clockMu.Unlock()
	if _, _, err := p.spFor(ctx, "https://app.example.com"); err != nil {
		t.Fatalf("a failed refresh must keep the last good copy: %v", err)
	}
	if _, _, err := p.spFor(ctx, "https://unknown.example.com"); !errors.Is(err, ErrUnknownSP) {
		t.Fatalf("unknown entity: %v", err)
	}
}

func TestAuthnContextClass(t *testing.T) {
	for _, tt := range []struct {
		acr  string
		amr  []string
		want string
	}{
		{"", []string{"pwd"}, ClassPasswordProtectedTransport},
		{"urn:gatehouse:acr:pwd", nil, ClassPasswordProtectedTransport},
		{"urn:gatehouse:acr:mfa", []string{"pwd", "otp", "mfa"}, ClassMFA},
		{"", []string{"mfa"}, ClassMFA},
		{"urn:oasis:names:tc:SAML:2.0:ac:classes:X509", nil, "urn:oasis:names:tc:SAML:2.0:ac:classes:X509"},
	} {
		if got := AuthnContextClass(tt.acr, tt.amr); got != tt.want {
			t.Errorf("AuthnContextClass(%q, %q) = %q, want %q", tt.acr, tt.amr, got, tt.want)
		}
	}
}

func TestKeyGeneratedOnce(t *testing.T) {
	blobs := &memBlobs{m: map[string][]byte{}}
	k1, c1, err := LoadOrGenerateKey(context.Background(), blobs, testBase, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	k2, c2, err := LoadOrGenerateKey(context.Background(), blobs, testBase, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equal(k2) || !c1.Equal(c2) {
		t.Fatal("a second start generated another key")
	}
	if _, _, err := LoadOrGenerateKey(context.Background(), nil, testBase, time.Now()); err == nil {
		t.Fatal("no store: want an error naming saml_idp.key")
	}
}
