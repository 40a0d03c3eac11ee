//go:build peers

package ldap

// SAML through LDAP: the in-process broker (as in broker_peers_test.go) with Gatehouse's SAML
// IdP (as in broker/saml_test.go) and this connector in front of the test slapd; a strict
// crewjam service provider logs alice in and validates the Response.

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"html"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
)

// samlKeyPair makes an RSA key and a self-signed certificate for an IdP or SP.
func samlKeyPair(t testing.TB, cn string) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

// samlSP is a strict crewjam service provider that signs its requests; its metadata is
// served by its own httptest server, which Gatehouse fetches from metadata_url.
type samlSP struct {
	sp  *saml.ServiceProvider
	srv *httptest.Server
}

func newSAMLSP(t testing.TB) *samlSP {
	t.Helper()
	key, cert := samlKeyPair(t, "ldap test SP")
	s := &samlSP{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := xml.Marshal(s.sp.Metadata())
		_, _ = w.Write(b)
	}))
	t.Cleanup(s.srv.Close)
	md, _ := url.Parse(s.srv.URL + "/metadata")
	acs, _ := url.Parse(s.srv.URL + "/acs")
	s.sp = &saml.ServiceProvider{
		EntityID: md.String(), Key: key, Certificate: cert, MetadataURL: *md, AcsURL: *acs,
		AuthnNameIDFormat: saml.PersistentNameIDFormat, SignatureMethod: dsig.RSASHA256SignatureMethod,
	}
	return s
}

// newSAMLBroker is newBrokerTB with Gatehouse's SAML IdP and the SP registered in
// service_providers.
func newSAMLBroker(t testing.TB, sp config.ServiceProvider, conns ...connectors.Connector) *httptest.Server {
	t.Helper()
	// No saml_idp key: Gatehouse generates one at first start and keeps it in storage.
	return newBrokerConfig(t, func(cfg *config.Config) { cfg.ServiceProviders = []config.ServiceProvider{sp} }, conns...)
}

// trust gives the SP Gatehouse's IdP metadata, as an administrator importing it would.
func (s *samlSP) trust(t testing.TB, issuer string) {
	t.Helper()
	resp, err := http.Get(issuer + "/saml/idp/metadata")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("IdP metadata: %d\n%s", resp.StatusCode, body)
	}
	var md saml.EntityDescriptor
	if err := xml.Unmarshal(body, &md); err != nil {
		t.Fatal(err)
	}
	s.sp.IDPMetadata = &md
}

// authnRequest makes a signed HTTP-Redirect AuthnRequest URL and returns it with the request ID.
func (s *samlSP) authnRequest(t testing.TB, relay string) (string, string) {
	t.Helper()
	ar, err := s.sp.MakeAuthenticationRequest(s.sp.GetSSOBindingLocation(saml.HTTPRedirectBinding), saml.HTTPRedirectBinding, saml.HTTPPostBinding)
	if err != nil {
		t.Fatal(err)
	}
	u, err := ar.Redirect(relay, s.sp)
	if err != nil {
		t.Fatal(err)
	}
	return u.String(), ar.ID
}

// acsForm returns the page's auto-submitting form when it posts a SAMLResponse.
func acsForm(p page) (string, url.Values, bool) {
	m := formRe.FindStringSubmatch(p.body)
	if m == nil || !strings.Contains(m[2], `name="SAMLResponse"`) {
		return "", nil, false
	}
	vals := url.Values{}
	for _, h := range hiddenRe.FindAllStringSubmatch(m[2], -1) {
		vals.Set(h[1], html.UnescapeString(h[2]))
	}
	return html.UnescapeString(m[1]), vals, true
}

// consume is the SP's ACS: the browser's POST, validated strictly by ParseResponse.
func (s *samlSP) consume(action string, vals url.Values, requestIDs ...string) (*saml.Assertion, error) {
	req := httptest.NewRequest(http.MethodPost, action, strings.NewReader(vals.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := req.ParseForm(); err != nil {
		return nil, err
	}
	a, err := s.sp.ParseResponse(req, requestIDs)
	var ire *saml.InvalidResponseError
	if errors.As(err, &ire) {
		return nil, ire.PrivateErr
	}
	return a, err
}

func samlAttr(a *saml.Assertion, name string) []string {
	var out []string
	for _, st := range a.AttributeStatements {
		for _, at := range st.Attributes {
			if at.Name == name {
				for _, v := range at.Values {
					out = append(out, v.Value)
				}
			}
		}
	}
	return out
}

// TestSAMLLoginThroughLDAP logs alice in to a strict SAML SP through the LDAP connector:
// the Response's signature, audience and InResponseTo are accepted by the SP, and its
// attributes carry her directory email and groups, nested ones included. A wrong password
// never produces a Response.
func TestSAMLLoginThroughLDAP(t *testing.T) {
	s := needPeers(t).slapd
	cfg := slapdConfig(s)
	cfg.TrustEmail = true // the test directory's mail is admin-managed; unverified mail is never asserted
	corp, _ := open(t, cfg)
	sp := newSAMLSP(t)
	srv := newSAMLBroker(t, config.ServiceProvider{ID: "wiki", Name: "Team Wiki", MetadataURL: sp.sp.MetadataURL.String(),
		EntityID: sp.sp.EntityID, Attributes: map[string]string{"mail": "email", "displayName": "name", "memberOf": "groups", "uid": "preferred_username"}}, corp)
	issuer := srv.URL
	sp.trust(t, issuer)

	// login starts at the SP and posts the credentials on the LDAP connector's form.
	login := func(t *testing.T, user, pw string) (page, string) {
		t.Helper()
		b := newBrowser(t, issuer)
		u, reqID := sp.authnRequest(t, "relay-ldap")
		if !strings.HasPrefix(u, issuer+"/saml/idp/sso?") {
			t.Fatalf("SP sends the browser to %s, want %s/saml/idp/sso", u, issuer)
		}
		p := b.do(http.MethodGet, u, nil)
		if !strings.Contains(p.body, `name="password"`) {
			t.Fatalf("no LDAP login form at %s: %d\n%s", p.url, p.status, p.body)
		}
		p = b.submit(p, url.Values{"username": {user}, "password": {pw}})
		if p.status == http.StatusOK && strings.Contains(p.body, `value="allow"`) {
			p = b.submit(p, url.Values{"decision": {"allow"}})
		}
		return p, reqID
	}

	t.Run("alice", func(t *testing.T) {
		p, reqID := login(t, "alice", alicePW)
		action, vals, ok := acsForm(p)
		if !ok {
			t.Fatalf("no form to the ACS: %d at %s\n%s", p.status, p.url, p.body)
		}
		if action != sp.sp.AcsURL.String() {
			t.Fatalf("form posts to %q, want the ACS %q", action, sp.sp.AcsURL.String())
		}
		if vals.Get("RelayState") != "relay-ldap" {
			t.Errorf("RelayState = %q", vals.Get("RelayState"))
		}
		a, err := sp.consume(action, vals, reqID)
		if err != nil {
			raw, _ := base64.StdEncoding.DecodeString(vals.Get("SAMLResponse"))
			t.Fatalf("SP refused the response: %v\n%s", err, raw)
		}
		// A Response for another request (InResponseTo) is refused by the same SP.
		if _, err := sp.consume(action, vals, "id-of-another-request"); err == nil {
			t.Error("SP accepted the Response for another AuthnRequest")
		}
		if a.Subject == nil || a.Subject.NameID == nil || a.Subject.NameID.Value == "" ||
			a.Subject.NameID.Format != string(saml.PersistentNameIDFormat) {
			t.Errorf("NameID = %+v", a.Subject)
		}
		if a.Conditions == nil || len(a.Conditions.AudienceRestrictions) == 0 ||
			a.Conditions.AudienceRestrictions[0].Audience.Value != sp.sp.EntityID {
			t.Errorf("audience restriction = %+v, want %s", a.Conditions, sp.sp.EntityID)
		}
		tests := []struct {
			attr string
			want []string
		}{
			{"mail", []string{"alice@example.org"}},
			{"displayName", []string{"Alice Liddell"}},
			{"uid", []string{"alice"}},
		}
		for _, tc := range tests {
			if got := samlAttr(a, tc.attr); !slices.Equal(got, tc.want) {
				t.Errorf("%s = %q, want %q", tc.attr, got, tc.want)
			}
		}
		// developers is direct; engineering and staff come through nesting.
		groups := samlAttr(a, "memberOf")
		for _, g := range []string{"developers", "engineering", "staff"} {
			if !slices.Contains(groups, g) {
				t.Errorf("memberOf = %q, missing %q", groups, g)
			}
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		p, _ := login(t, "alice", "not-"+alicePW)
		if p.status != http.StatusUnauthorized {
			t.Errorf("wrong password: page %d, want 401", p.status)
		}
		if _, _, ok := acsForm(p); ok || strings.Contains(p.body, "SAMLResponse") {
			t.Fatalf("a wrong password produced a SAML response:\n%s", p.body)
		}
	})
}
