package broker_test

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/beevik/etree"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/broker/samlidp"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/mfa"
)

// testSP is a crewjam service provider (a strict third-party SP) with its metadata served by
// an httptest server, so Gatehouse fetches it lazily from metadata_url.
type testSP struct {
	sp  *saml.ServiceProvider
	srv *httptest.Server
	// soap, when set, serves POSTs (the SOAP single logout service).
	soap http.HandlerFunc
}

func newTestSP(t *testing.T, sign bool) *testSP {
	t.Helper()
	key, cert, err := samlidp.LoadKeyFiles("samlidp/testdata/sp.pem", "samlidp/testdata/sp.pem")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testSP{}
	ts.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ts.soap != nil && r.Method == http.MethodPost {
			ts.soap(w, r)
			return
		}
		b, _ := xml.Marshal(ts.sp.Metadata())
		_, _ = w.Write(b)
	}))
	t.Cleanup(ts.srv.Close)
	md, _ := url.Parse(ts.srv.URL + "/metadata")
	acs, _ := url.Parse(ts.srv.URL + "/acs")
	slo, _ := url.Parse(ts.srv.URL + "/slo")
	ts.sp = &saml.ServiceProvider{
		EntityID: md.String(), Key: key, Certificate: cert, MetadataURL: *md, AcsURL: *acs, SloURL: *slo,
		AuthnNameIDFormat: saml.PersistentNameIDFormat, AllowIDPInitiated: true,
		LogoutBindings: []string{saml.HTTPRedirectBinding},
	}
	if sign {
		ts.sp.SignatureMethod = dsig.RSASHA256SignatureMethod
		ts.sp.LogoutSignatureMethod = dsig.RSASHA256SignatureMethod
	}
	return ts
}

// newSAMLEnv is newEnv with the SAML IdP and the given service providers.
// samlEnvFrontChannel is the trusted client's front-channel logout URI in newSAMLEnv.
const samlEnvFrontChannel = "http://127.0.0.1:9/fcl"

func newSAMLEnv(t *testing.T, sps ...config.ServiceProvider) *env {
	t.Helper()
	return newSAMLEnvMFA(t, nil, sps...)
}

// newSAMLEnvMFA is newSAMLEnv with the MFA step on when clientPolicies is not nil (the local
// connector's policy off; clientPolicies by client ID, e.g. "saml:wiki").
func newSAMLEnvMFA(t *testing.T, clientPolicies map[string]mfa.Policy, sps ...config.ServiceProvider) *env {
	t.Helper()
	s := brokertest.New(t, brokertest.Options{Config: func(cfg *config.Config) {
		cfg.Users = []config.User{
			{Username: "alice", Email: "alice@example.com", EmailVerified: true, Name: "Alice Example", Groups: []string{"admins", "staff"}, PasswordHash: aliceHash},
			// mallory claims alice's address, unverified.
			{Username: "mallory", Email: "alice@example.com", EmailVerified: false, Name: "Mallory", PasswordHash: aliceHash},
		}
		cfg.Clients = []config.Client{
			{ID: confidentialID, Secret: confidentialSecret, Name: "Web App", RedirectURIs: []string{redirectURI}, PostLogoutRedirectURIs: []string{postLogoutURI}},
			// Its back-channel logout URI is never reached (no delivery runs in these tests):
			// TestSAMLSingleLogoutRevokesOnlineGrants looks at the queue.
			{ID: trustedID, Secret: trustedSecret, Name: "Trusted App", Trusted: true, RedirectURIs: []string{otherRedirect}, PostLogoutRedirectURIs: []string{postLogoutURI},
				BackchannelLogoutURI: "http://127.0.0.1:1/bcl", FrontchannelLogoutURI: samlEnvFrontChannel},
		}
		cfg.SAMLIdP = config.SAMLIdP{Key: "samlidp/testdata/idp.pem", Cert: "samlidp/testdata/idp.pem"}
		cfg.ServiceProviders = append(cfg.ServiceProviders, sps...)
		if clientPolicies == nil {
			return
		}
		cfg.MFA = config.MFA{IssuerName: "Example Corp", SecretsKey: "test-secrets-key-0123456789abcdef"}
		for id, p := range clientPolicies {
			for i := range cfg.ServiceProviders {
				if samlidp.ClientID(cfg.ServiceProviders[i].ID) == id {
					cfg.ServiceProviders[i].MFA = string(p)
				}
			}
			for i := range cfg.Clients {
				if cfg.Clients[i].ID == id {
					cfg.Clients[i].MFA = string(p)
				}
			}
		}
	}})
	return envOf(t, s)
}

// spConfig registers a test SP by its metadata URL.
func spConfig(id string, ts *testSP, mutate func(*config.ServiceProvider)) config.ServiceProvider {
	c := config.ServiceProvider{ID: id, Name: "SP " + id, MetadataURL: ts.sp.MetadataURL.String(), EntityID: ts.sp.EntityID,
		Attributes: map[string]string{"mail": "email", "displayName": "name", "memberOf": "groups", "uid": "sub"}}
	if mutate != nil {
		mutate(&c)
	}
	return c
}

// trust gives the SP Gatehouse's metadata, as an admin importing it would.
func (e *env) trust(ts *testSP) {
	e.t.Helper()
	resp, err := http.Get(e.issuer + "/saml/idp/metadata")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/samlmetadata+xml" {
		e.t.Fatalf("metadata content type %q", ct)
	}
	var md saml.EntityDescriptor
	body, _ := io.ReadAll(resp.Body)
	if err := xml.Unmarshal(body, &md); err != nil {
		e.t.Fatal(err)
	}
	ts.sp.IDPMetadata = &md
}

// redirectRequest makes an HTTP-Redirect AuthnRequest URL and returns it with the request ID.
func (ts *testSP) redirectRequest(t *testing.T, relay string, mutate func(*saml.AuthnRequest)) (string, string) {
	t.Helper()
	ar, err := ts.sp.MakeAuthenticationRequest(ts.sp.GetSSOBindingLocation(saml.HTTPRedirectBinding), saml.HTTPRedirectBinding, saml.HTTPPostBinding)
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(ar)
	}
	u, err := ar.Redirect(relay, ts.sp)
	if err != nil {
		t.Fatal(err)
	}
	return u.String(), ar.ID
}

// postRequest makes an HTTP-POST AuthnRequest form (enveloped signature when the SP signs).
func (ts *testSP) postRequest(t *testing.T, relay string) (string, url.Values, string) {
	t.Helper()
	loc := ts.sp.GetSSOBindingLocation(saml.HTTPPostBinding)
	ar, err := ts.sp.MakeAuthenticationRequest(loc, saml.HTTPPostBinding, saml.HTTPPostBinding)
	if err != nil {
		t.Fatal(err)
	}
	el := ar.Element()
	if ar.Signature != nil {
		el.AddChild(ar.Signature)
	}
	doc := etree.NewDocument()
	doc.SetRoot(el)
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return loc, url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(b)}, "RelayState": {relay}}, ar.ID
}

// samlLogin drives a browser from the SP's request to the form posted to the ACS, logging
// in and consenting when asked, and returns the ACS form.
func (e *env) samlLogin(b *browser, p page, at string, consent bool) (string, url.Values) {
	e.t.Helper()
	return e.samlLoginAs(b, p, at, "alice", consent)
}

// samlLoginAs is samlLogin as the local user (password alicePassword).
func (e *env) samlLoginAs(b *browser, p page, at, user string, consent bool) (string, url.Values) {
	e.t.Helper()
	p, at = b.follow(e, p, at)
	if strings.Contains(p.body, `name="password"`) {
		action, vals := form(e.t, p.body)
		vals.Set("username", user)
		vals.Set("password", alicePassword)
		p, at = b.follow(e, b.post(e.issuer+action, vals), e.issuer+action)
	}
	if strings.Contains(p.body, `value="allow"`) {
		action, vals := form(e.t, p.body)
		if consent {
			vals.Set("decision", "allow")
		} else {
			vals.Set("decision", "deny")
		}
		p, _ = b.follow(e, b.post(e.issuer+action, vals), e.issuer+action)
	}
	if !strings.Contains(p.body, `name="SAMLResponse"`) {
		e.t.Fatalf("expected the form to the ACS, got %d at %s:\n%s", p.status, at, p.body)
	}
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'nonce-") {
		e.t.Errorf("form post CSP %q", csp)
	}
	if !strings.Contains(p.body, `<button type="submit">`) {
		e.t.Error("the form has no button for browsers without JavaScript")
	}
	return form(e.t, p.body)
}

// consume is the SP's ACS: it validates the Response strictly.
func (ts *testSP) consume(t *testing.T, action string, vals url.Values, requestIDs ...string) *saml.Assertion {
	t.Helper()
	if action != ts.sp.AcsURL.String() {
		t.Fatalf("form posts to %q, want the ACS %q", action, ts.sp.AcsURL.String())
	}
	raw, err := base64.StdEncoding.DecodeString(vals.Get("SAMLResponse"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := ts.sp.ParseXMLResponse(raw, requestIDs, ts.sp.AcsURL)
	if err != nil {
		t.Fatalf("SP refused the response: %v\n%s", spErr(err), raw)
	}
	return a
}

func spErr(err error) error {
	var ire *saml.InvalidResponseError
	if errors.As(err, &ire) {
		return ire.PrivateErr
	}
	return err
}

func attrValues(a *saml.Assertion, name string) []string {
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

func TestSAMLLoginRedirectBinding(t *testing.T) {
	ts := newTestSP(t, true)
	e := newSAMLEnv(t, spConfig("wiki", ts, nil))
	e.trust(ts)
	b := e.browser()
	u, reqID := ts.redirectRequest(t, "relay-1", nil)
	action, vals := e.samlLogin(b, b.get(u), u, true)
	if vals.Get("RelayState") != "relay-1" {
		t.Errorf("RelayState = %q", vals.Get("RelayState"))
	}
	a := ts.consume(t, action, vals, reqID)
	if a.Subject.NameID.Format != string(saml.PersistentNameIDFormat) || a.Subject.NameID.Value == "" {
		t.Errorf("NameID %+v", a.Subject.NameID)
	}
	if got := attrValues(a, "mail"); len(got) != 1 || got[0] != "alice@example.com" {
		t.Errorf("mail = %q", got)
	}
	if got := attrValues(a, "memberOf"); strings.Join(got, ",") != "admins,staff" {
		t.Errorf("memberOf = %q", got)
	}
	if got := attrValues(a, "displayName"); len(got) != 1 || got[0] != "Alice Example" {
		t.Errorf("displayName = %q", got)
	}
	if got := a.AuthnStatements[0].AuthnContext.AuthnContextClassRef.Value; got != samlidp.ClassPasswordProtectedTransport {
		t.Errorf("AuthnContext = %q", got)
	}
	if a.AuthnStatements[0].SessionIndex == "" {
		t.Error("no SessionIndex")
	}
	// The same user again: same persistent NameID, no password (SSO), consent remembered.
	u2, req2 := ts.redirectRequest(t, "", nil)
	p, _ := b.follow(e, b.get(u2), u2)
	if !strings.Contains(p.body, "SAMLResponse") {
		t.Fatalf("SSO did not answer at once: %d\n%s", p.status, p.body)
	}
	action, vals = form(t, p.body)
	a2 := ts.consume(t, action, vals, req2)
	if a2.Subject.NameID.Value != a.Subject.NameID.Value {
		t.Error("persistent NameID changed")
	}
	// ForceAuthn asks for the password again.
	u3, _ := ts.redirectRequest(t, "", func(r *saml.AuthnRequest) { yes := true; r.ForceAuthn = &yes })
	p, _ = b.follow(e, b.get(u3), u3)
	if !strings.Contains(p.body, `name="password"`) {
		t.Fatalf("ForceAuthn did not ask for the password: %d\n%s", p.status, p.body)
	}
}

func TestSAMLPostBindingEncrypted(t *testing.T) {
	ts := newTestSP(t, true)
	encKey, encCert, err := samlidp.LoadKeyFiles("samlidp/testdata/enc.pem", "samlidp/testdata/enc.pem")
	if err != nil {
		t.Fatal(err)
	}
	ts.sp.EncryptionKey, ts.sp.EncryptionCertificate = encKey, encCert
	ts.sp.AuthnNameIDFormat = saml.EmailAddressNameIDFormat
	e := newSAMLEnv(t, spConfig("wiki", ts, func(c *config.ServiceProvider) {
		c.Trusted, c.EncryptAssertion, c.NameIDFormat = true, true, "emailAddress"
	}))
	e.trust(ts)
	b := e.browser()
	loc, fields, reqID := ts.postRequest(t, "rs")
	p := b.post(loc, fields)
	if p.status != http.StatusSeeOther || !strings.Contains(p.location, "/saml/idp/sso?pending=") {
		t.Fatalf("POST binding: %d %q\n%s", p.status, p.location, p.body)
	}
	action, vals := e.samlLogin(b, p, loc, false)
	raw, _ := base64.StdEncoding.DecodeString(vals.Get("SAMLResponse"))
	if !bytes.Contains(raw, []byte("EncryptedAssertion")) || bytes.Contains(raw, []byte("alice@example.com")) {
		t.Fatalf("assertion not encrypted:\n%s", raw)
	}
	a := ts.consume(t, action, vals, reqID)
	if a.Subject.NameID.Value != "alice@example.com" {
		t.Errorf("emailAddress NameID = %q", a.Subject.NameID.Value)
	}
	// The parked request is single-use.
	if p2 := b.get(e.issuer + p.location); p2.status != http.StatusBadRequest {
		t.Errorf("pending request replayed: %d", p2.status)
	}
}

func TestSAMLSSOAcrossProtocols(t *testing.T) {
	t.Run("oidc then saml", func(t *testing.T) {
		ts := newTestSP(t, false)
		e := newSAMLEnv(t, spConfig("wiki", ts, func(c *config.ServiceProvider) { c.Trusted = true }))
		e.trust(ts)
		b := e.browser()
		r := e.rp(trustedID, trustedSecret, otherRedirect)
		v := oauth2.GenerateVerifier()
		to := e.login(b, r.oauth.AuthCodeURL("s", oidc.Nonce("n"), oauth2.S256ChallengeOption(v)), alicePassword, true)
		if !strings.HasPrefix(to, otherRedirect) {
			t.Fatalf("oidc login: %s", to)
		}
		u, reqID := ts.redirectRequest(t, "", nil)
		p, _ := b.follow(e, b.get(u), u)
		if strings.Contains(p.body, `name="password"`) || !strings.Contains(p.body, "SAMLResponse") {
			t.Fatalf("SAML SP did not get in on the OIDC session: %d\n%s", p.status, p.body)
		}
		action, vals := form(t, p.body)
		ts.consume(t, action, vals, reqID)
	})
	t.Run("saml then oidc, then SLO ends both", func(t *testing.T) {
		ts := newTestSP(t, true)
		e := newSAMLEnv(t, spConfig("wiki", ts, func(c *config.ServiceProvider) { c.Trusted = true }))
		e.trust(ts)
		b := e.browser()
		u, reqID := ts.redirectRequest(t, "", nil)
		action, vals := e.samlLogin(b, b.get(u), u, true)
		a := ts.consume(t, action, vals, reqID)
		r := e.rp(trustedID, trustedSecret, otherRedirect)
		v := oauth2.GenerateVerifier()
		authURL := r.oauth.AuthCodeURL("s", oidc.Nonce("n"), oauth2.S256ChallengeOption(v))
		p, at := b.follow(e, b.get(authURL), authURL)
		if !strings.HasPrefix(at, otherRedirect) || callbackParams(t, at).Get("code") == "" {
			t.Fatalf("OIDC client did not get in on the SAML session: %d %s\n%s", p.status, at, p.body)
		}
		// SP-initiated single logout (HTTP-Redirect, signed).
		lu, err := ts.sp.MakeRedirectLogoutRequest(a.Subject.NameID.Value, "bye", saml.WithSessionIndex(a.AuthnStatements[0].SessionIndex))
		if err != nil {
			t.Fatal(err)
		}
		// The OIDC client's front-channel page first, then the SP's LogoutResponse (issue 18).
		p = afterFrontChannel(t, e, b, b.get(lu.String()))
		if p.status != http.StatusFound || !strings.HasPrefix(p.location, ts.sp.SloURL.String()) {
			t.Fatalf("SLO: %d %q\n%s", p.status, p.location, p.body)
		}
		lr, _ := http.NewRequest(http.MethodGet, p.location, nil)
		if err := ts.sp.ValidateLogoutResponseRequest(lr); err != nil { //nolint:staticcheck // the check crewjam SPs in the field still run
			t.Fatalf("SP refused the LogoutResponse: %v", err)
		}
		p, _ = b.follow(e, b.get(authURL), authURL)
		if !strings.Contains(p.body, `name="password"`) {
			t.Fatalf("the OIDC session survived SAML logout: %d\n%s", p.status, p.body)
		}
	})
}

func TestSAMLOIDCLogoutReachesSP(t *testing.T) {
	ts := newTestSP(t, true)
	e := newSAMLEnv(t, spConfig("wiki", ts, func(c *config.ServiceProvider) { c.Trusted = true }))
	e.trust(ts)
	b := e.browser()
	u, reqID := ts.redirectRequest(t, "", nil)
	action, vals := e.samlLogin(b, b.get(u), u, true)
	a := ts.consume(t, action, vals, reqID)
	// An OIDC client logs the user in, then out (RP-initiated logout with id_token_hint).
	r := e.rp(trustedID, trustedSecret, otherRedirect)
	v := oauth2.GenerateVerifier()
	_, at := b.follow(e, b.get(r.oauth.AuthCodeURL("s", oidc.Nonce("n"), oauth2.S256ChallengeOption(v))), e.issuer)
	tok, err := r.oauth.Exchange(r.ctx, callbackParams(t, at).Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	lo := e.issuer + "/logout?" + url.Values{"id_token_hint": {rawID}, "post_logout_redirect_uri": {postLogoutURI}, "state": {"bye"}}.Encode()
	p := b.get(lo)
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, ts.sp.SloURL.String()) {
		t.Fatalf("OIDC logout did not go to the SP's SLO: %d %q", p.status, p.location)
	}
	req, _ := http.NewRequest(http.MethodGet, p.location, nil)
	lr, err := ts.sp.ValidateLogoutRequest(req)
	if err != nil {
		t.Fatalf("SP refused the LogoutRequest: %v", spErr(err))
	}
	if lr.NameID.Value != a.Subject.NameID.Value || lr.SessionIndex == nil || lr.SessionIndex.Value != a.AuthnStatements[0].SessionIndex {
		t.Fatalf("LogoutRequest names %+v", lr)
	}
	back, err := ts.sp.MakeRedirectLogoutResponse(lr.ID, req.URL.Query().Get("RelayState"))
	if err != nil {
		t.Fatal(err)
	}
	// The SAML fan-out ends at the OIDC front-channel page (issue 18), which goes on to the
	// post-logout redirect URI after its bounded wait; the page is shown once.
	p = b.get(back.String())
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/logout/done?s=") {
		t.Fatalf("after the SP answered: %d %q\n%s", p.status, p.location, p.body)
	}
	done := e.issuer + p.location
	p = b.get(done)
	if p.status != http.StatusOK || !strings.Contains(p.body, `<iframe class="logout-frame" src="`+samlEnvFrontChannel+`"`) ||
		!strings.Contains(p.body, `content="3;url=`+postLogoutURI+`?state=bye"`) || !strings.HasSuffix(p.header.Get("Content-Security-Policy"), "frame-src http://127.0.0.1:9") {
		t.Fatalf("front-channel page after the SAML fan-out: %d %v\n%s", p.status, p.header, p.body)
	}
	if p = b.get(done); strings.Contains(p.body, "<iframe") || !strings.Contains(p.body, "not known") {
		t.Errorf("front-channel page shown twice: %d\n%s", p.status, p.body)
	}
}

func TestSAMLRefusals(t *testing.T) {
	ts := newTestSP(t, true)
	stranger := newTestSP(t, false)
	e := newSAMLEnv(t, spConfig("wiki", ts, nil))
	e.trust(ts)
	stranger.sp.IDPMetadata = ts.sp.IDPMetadata
	b := e.browser()
	pageOnly := func(name string, p page, want string) {
		t.Helper()
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, want) || strings.Contains(p.body, "SAMLResponse") {
			t.Errorf("%s: %d\n%s", name, p.status, p.body)
		}
	}
	u, _ := stranger.redirectRequest(t, "", nil)
	pageOnly("unknown SP", b.get(u), "not registered")
	u, _ = ts.redirectRequest(t, "", func(r *saml.AuthnRequest) { r.AssertionConsumerServiceURL = "https://evil.example.com/acs" })
	pageOnly("unregistered ACS", b.get(u), "not registered for the application")
	u, _ = ts.redirectRequest(t, "", nil)
	pageOnly("bad signature", b.get(strings.Replace(u, "Signature=", "Signature=AAAA", 1)), "signature")
	// The SAML pseudo-client cannot be used at /authorize or /token.
	az := e.issuer + "/authorize?" + url.Values{"client_id": {"saml:wiki"}, "response_type": {"code"}, "scope": {"openid"},
		"redirect_uri": {ts.sp.AcsURL.String()}, "state": {"x"}}.Encode()
	p := b.get(az)
	if p.status != http.StatusBadRequest || p.location != "" {
		t.Errorf("/authorize with a SAML client: %d %q", p.status, p.location)
	}
	if code := tokenError(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {"x"}}, "saml:wiki", ""); code != "invalid_client" {
		t.Errorf("/token with a SAML client: %q", code)
	}
	// IsPassive without a session: a NoPassive Response to the SP, not a page.
	u, reqID := ts.redirectRequest(t, "", func(r *saml.AuthnRequest) { yes := true; r.IsPassive = &yes })
	p, _ = b.follow(e, b.get(u), u)
	action, vals := form(t, p.body)
	raw, _ := base64.StdEncoding.DecodeString(vals.Get("SAMLResponse"))
	if action != ts.sp.AcsURL.String() || !bytes.Contains(raw, []byte(samlidp.StatusNoPassive)) || !bytes.Contains(raw, []byte(reqID)) {
		t.Errorf("passive: %s\n%s", action, raw)
	}
}

func TestSAMLRequireAndInit(t *testing.T) {
	ts := newTestSP(t, false)
	other := newTestSP(t, false)
	e := newSAMLEnv(t,
		spConfig("wiki", ts, func(c *config.ServiceProvider) { c.Trusted = true }),
		spConfig("finance", other, func(c *config.ServiceProvider) { c.Require.Groups = []string{"finance"} }))
	e.trust(ts)
	e.trust(other)
	b := e.browser()
	// IdP-initiated login starts a login, then posts an unsolicited Response.
	p := b.get(e.issuer + "/saml/idp/init/wiki?RelayState=home")
	action, vals := e.samlLogin(b, p, e.issuer+"/saml/idp/init/wiki", true)
	if vals.Get("RelayState") != "home" {
		t.Errorf("RelayState %q", vals.Get("RelayState"))
	}
	ts.consume(t, action, vals)
	if p := b.get(e.issuer + "/saml/idp/init/nope"); p.status != http.StatusBadRequest {
		t.Errorf("init of an unknown SP: %d", p.status)
	}
	// The finance SP requires a group alice is not in: a page, and a RequestDenied answer.
	u, _ := other.redirectRequest(t, "", nil)
	p, _ = b.follow(e, b.get(u), u)
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "Access denied") || !strings.Contains(p.body, "finance") {
		t.Fatalf("require: %d\n%s", p.status, p.body)
	}
	action, vals = form(t, p.body)
	raw, _ := base64.StdEncoding.DecodeString(vals.Get("SAMLResponse"))
	if action != other.sp.AcsURL.String() || !bytes.Contains(raw, []byte(samlidp.StatusRequestDenied)) {
		t.Errorf("denied response: %s\n%s", action, raw)
	}
}

// TestSAMLPostSLOWithoutCookie: a LogoutRequest POSTed cross-site carries no SSO cookie; the
// session is found by its SessionIndex and ended.
func TestSAMLPostSLOWithoutCookie(t *testing.T) {
	ts := newTestSP(t, true)
	e := newSAMLEnv(t, spConfig("wiki", ts, func(c *config.ServiceProvider) { c.Trusted = true }))
	e.trust(ts)
	b := e.browser()
	u, reqID := ts.redirectRequest(t, "", nil)
	action, vals := e.samlLogin(b, b.get(u), u, true)
	a := ts.consume(t, action, vals, reqID)
	lr, err := ts.sp.MakeLogoutRequest(e.issuer+"/saml/idp/slo", a.Subject.NameID.Value, saml.WithSessionIndex(a.AuthnStatements[0].SessionIndex))
	if err != nil {
		t.Fatal(err)
	}
	el := lr.Element()
	doc := etree.NewDocument()
	doc.SetRoot(el)
	raw, _ := doc.WriteToBytes()
	if !bytes.Contains(raw, []byte("Signature")) {
		t.Fatalf("unsigned logout request:\n%s", raw)
	}
	cookieless := e.browser()
	p := cookieless.post(e.issuer+"/saml/idp/slo", url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(raw)}})
	if p.status != http.StatusFound || !strings.HasPrefix(p.location, ts.sp.SloURL.String()) {
		t.Fatalf("SLO: %d %q\n%s", p.status, p.location, p.body)
	}
	u2, _ := ts.redirectRequest(t, "", nil)
	p, _ = b.follow(e, b.get(u2), u2)
	if !strings.Contains(p.body, `name="password"`) {
		t.Fatalf("the session survived a POST LogoutRequest: %d\n%s", p.status, p.body)
	}
	// A replayed LogoutRequest is refused.
	p = cookieless.post(e.issuer+"/saml/idp/slo", url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(raw)}})
	if p.status != http.StatusBadRequest {
		t.Errorf("replayed LogoutRequest: %d", p.status)
	}
}
