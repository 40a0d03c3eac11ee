//go:build peers && pkcs11

package pkcs11_test

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/crewjam/saml"
	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/broker/samlidp"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/testpeer"
	"github.com/gatehouse-id/gatehouse/tokens"
)

// TestSAMLIdPSignsInToken: with signing.backend pkcs11 and no saml_idp.key, the SAML IdP's
// RSA key is generated in the token (not extractable), its certificate (signed through the
// token) is in the metadata, and a strict crewjam/saml SP accepts the signed Response of an
// IdP-initiated login; a second replica finds the same key in the token.
func TestSAMLIdPSignsInToken(t *testing.T) {
	h := testpeer.NewSoftHSM(t, "gh-saml")
	key, cert, err := samlidp.LoadKeyFiles("../../broker/samlidp/testdata/sp.pem", "../../broker/samlidp/testdata/sp.pem")
	if err != nil {
		t.Fatal(err)
	}
	sp := &saml.ServiceProvider{Key: key, Certificate: cert, AllowIDPInitiated: true, AuthnNameIDFormat: saml.PersistentNameIDFormat}
	mdSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := xml.Marshal(sp.Metadata()) //nolint:errcheck // a test SP's own metadata
		w.Write(b)                         //nolint:errcheck // the test fails on the other side
	}))
	defer mdSrv.Close()
	md, _ := url.Parse(mdSrv.URL + "/metadata") //nolint:errcheck // a constant suffix
	acs, _ := url.Parse(mdSrv.URL + "/acs")     //nolint:errcheck // a constant suffix
	sp.EntityID, sp.MetadataURL, sp.AcsURL = md.String(), *md, *acs

	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	build := func() *brokertest.Server {
		return brokertest.New(t, brokertest.Options{Dir: dir, Logger: logger(t), Config: func(cfg *config.Config) {
			cfg.Signing = signingConfig(h, tokens.AlgES256) // tokens in ES256, the SAML key is RSA
			cfg.Users = []config.User{{Username: "alice", Email: "alice@example.com", EmailVerified: true, PasswordHash: string(hash)}}
			cfg.ServiceProviders = []config.ServiceProvider{{ID: "wiki", Name: "Wiki", MetadataURL: md.String(), EntityID: sp.EntityID,
				Trusted: true, Attributes: map[string]string{"mail": "email"}}}
		}})
	}
	s := build()
	idpMD := idpMetadata(t, s)
	sp.IDPMetadata = idpMD

	// The certificate's key is the one generated in the token.
	var samlID string
	for _, id := range tokenKeyIDs(t, h) {
		if strings.HasPrefix(id, "saml-idp-") {
			samlID = id
		}
	}
	if samlID == "" {
		t.Fatalf("no SAML IdP key in the token: %v", tokenKeyIDs(t, h))
	}
	b := openBackend(t, signingConfig(h, tokens.AlgES256))
	inToken, err := b.FindKey(samlID)
	if err != nil || inToken == nil {
		t.Fatalf("FindKey(%s) = %v, %v", samlID, inToken, err)
	}
	idpCert := idpSigningCert(t, idpMD)
	if pub, ok := inToken.Public().(*rsa.PublicKey); !ok || !pub.Equal(idpCert.PublicKey) {
		t.Fatal("the metadata's certificate is not the token's key")
	}

	assertion := idpInitiatedLogin(t, s, sp)
	if assertion.Subject == nil || assertion.Subject.NameID == nil || assertion.Subject.NameID.Value == "" {
		t.Errorf("assertion without NameID: %+v", assertion.Subject)
	}

	// A second replica finds the same key in the token (no second key is made).
	s2 := build()
	if got := idpSigningCert(t, idpMetadata(t, s2)); !got.Equal(idpCert) {
		t.Error("the second replica publishes another certificate")
	}
	n := 0
	for _, id := range tokenKeyIDs(t, h) {
		if strings.HasPrefix(id, "saml-idp-") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d SAML IdP keys in the token, want 1", n)
	}
	sp.IDPMetadata = idpMetadata(t, s2) // its own issuer (another listener), the same key
	idpInitiatedLogin(t, s2, sp)
}

func idpMetadata(t *testing.T, s *brokertest.Server) *saml.EntityDescriptor {
	t.Helper()
	resp, err := http.Get(s.Issuer + "/saml/idp/metadata")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var md saml.EntityDescriptor
	if err := xml.Unmarshal(body, &md); err != nil {
		t.Fatal(err)
	}
	return &md
}

// idpSigningCert is the signing certificate in IdP metadata.
func idpSigningCert(t *testing.T, md *saml.EntityDescriptor) *x509.Certificate {
	t.Helper()
	for _, d := range md.IDPSSODescriptors {
		for _, kd := range d.KeyDescriptors {
			if kd.Use != "" && kd.Use != "signing" || len(kd.KeyInfo.X509Data.X509Certificates) == 0 {
				continue
			}
			der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(kd.KeyInfo.X509Data.X509Certificates[0].Data), ""))
			if err != nil {
				t.Fatal(err)
			}
			c, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
	t.Fatal("no signing certificate in the IdP metadata")
	return nil
}

// idpInitiatedLogin signs alice in at /saml/idp/init/wiki and has sp validate the Response
// posted to its ACS (signatures, audience, destination, times).
func idpInitiatedLogin(t *testing.T, s *brokertest.Server, sp *saml.ServiceProvider) *saml.Assertion {
	t.Helper()
	b := s.Browser()
	start := s.Issuer + "/saml/idp/init/wiki"
	p, at := b.Follow(b.Get(start), start)
	if !strings.Contains(p.Body, `name="password"`) {
		t.Fatalf("no password form at %s: %d\n%s", at, p.Status, p.Body)
	}
	action, vals := brokertest.Form(t, p.Body)
	vals.Set("username", "alice")
	vals.Set("password", password)
	p, at = b.Follow(b.Post(s.Issuer+action, vals), s.Issuer+action)
	if !strings.Contains(p.Body, `name="SAMLResponse"`) {
		t.Fatalf("no SAML Response form at %s: %d\n%s", at, p.Status, p.Body)
	}
	action, vals = brokertest.Form(t, p.Body)
	if action != sp.AcsURL.String() {
		t.Errorf("Response posted to %s, want %s", action, sp.AcsURL.String())
	}
	raw, err := base64.StdEncoding.DecodeString(vals.Get("SAMLResponse"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "SignatureValue") {
		t.Error("the Response is not signed")
	}
	assertion, err := sp.ParseXMLResponse(raw, nil, sp.AcsURL)
	if err != nil {
		var ie *saml.InvalidResponseError
		if errors.As(err, &ie) {
			err = ie.PrivateErr
		}
		t.Fatalf("the SP refused the Response: %v", err)
	}
	return assertion
}
