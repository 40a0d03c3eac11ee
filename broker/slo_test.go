package broker_test

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/crewjam/saml"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage"
)

// sloSession is one SSO session with two crewjam SPs and one OIDC client in it.
type sloSession struct {
	e         *env
	b         *browser
	wiki, doc *testSP
	wikiA     *saml.Assertion
	docA      *saml.Assertion
	// files takes LogoutRequests over SOAP only; it answers with filesStatus (or HTTP 500
	// for "down") and counts the valid requests naming its NameID and SessionIndex.
	files       *testSP
	filesA      *saml.Assertion
	filesStatus string
	filesCalls  atomic.Int32
	idToken     string
	authURL     string
}

func newSLOSession(t *testing.T) *sloSession {
	t.Helper()
	s := &sloSession{wiki: newTestSP(t, true), doc: newTestSP(t, true), files: newTestSP(t, true), filesStatus: saml.StatusSuccess}
	s.files.sp.LogoutBindings = []string{saml.SOAPBinding}
	s.files.soap = func(w http.ResponseWriter, r *http.Request) {
		lr, err := s.files.sp.ValidateSOAPLogoutRequest(r)
		if err != nil {
			t.Errorf("SOAP SP refused the LogoutRequest: %v", spErr(err))
			_ = saml.WriteSOAPFault(w, "refused")
			return
		}
		if lr.NameID != nil && s.filesA != nil && lr.NameID.Value == s.filesA.Subject.NameID.Value &&
			lr.SessionIndex != nil && lr.SessionIndex.Value == s.filesA.AuthnStatements[0].SessionIndex {
			s.filesCalls.Add(1)
		}
		if s.filesStatus == "down" {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		resp, err := s.files.sp.MakeSOAPLogoutResponse(lr.ID, saml.Status{StatusCode: saml.StatusCode{Value: s.filesStatus}})
		if err != nil {
			t.Error(err)
			return
		}
		_ = saml.WriteSOAPLogoutResponse(w, resp)
	}
	trusted := func(c *config.ServiceProvider) { c.Trusted = true }
	s.e = newSAMLEnv(t, spConfig("wiki", s.wiki, trusted), spConfig("docs", s.doc, trusted), spConfig("files", s.files, trusted))
	s.e.trust(s.wiki)
	s.e.trust(s.doc)
	s.e.trust(s.files)
	s.b = s.e.browser()
	u, reqID := s.wiki.redirectRequest(t, "", nil)
	action, vals := s.e.samlLogin(s.b, s.b.get(u), u, true)
	s.wikiA = s.wiki.consume(t, action, vals, reqID)
	u, reqID = s.doc.redirectRequest(t, "", nil)
	action, vals = s.e.samlLogin(s.b, s.b.get(u), u, true)
	s.docA = s.doc.consume(t, action, vals, reqID)
	u, reqID = s.files.redirectRequest(t, "", nil)
	action, vals = s.e.samlLogin(s.b, s.b.get(u), u, true)
	s.filesA = s.files.consume(t, action, vals, reqID)
	r := s.e.rp(trustedID, trustedSecret, otherRedirect)
	v := oauth2.GenerateVerifier()
	s.authURL = r.oauth.AuthCodeURL("s", oidc.Nonce("n"), oauth2.S256ChallengeOption(v))
	_, at := s.b.follow(s.e, s.b.get(s.authURL), s.authURL)
	tok, err := r.oauth.Exchange(r.ctx, callbackParams(t, at).Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	s.idToken, _ = tok.Extra("id_token").(string)
	return s
}

// spAnswers is an SP's SLO endpoint: the LogoutRequest at p.location must be valid for the
// SP and name the NameID and SessionIndex of its assertion; it returns the URL of the SP's
// LogoutResponse (status Success, or Responder when !ok).
func spAnswers(t *testing.T, ts *testSP, a *saml.Assertion, p page, ok bool) string {
	t.Helper()
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, ts.sp.SloURL.String()) {
		t.Fatalf("no LogoutRequest to %s: %d %q\n%s", ts.sp.SloURL.String(), p.status, p.location, p.body)
	}
	req, _ := http.NewRequest(http.MethodGet, p.location, nil)
	lr, err := ts.sp.ValidateLogoutRequest(req)
	if err != nil {
		t.Fatalf("SP refused the LogoutRequest: %v", spErr(err))
	}
	if lr.NameID.Value != a.Subject.NameID.Value || lr.SessionIndex == nil || lr.SessionIndex.Value != a.AuthnStatements[0].SessionIndex {
		t.Fatalf("LogoutRequest names %+v", lr)
	}
	relay := req.URL.Query().Get("RelayState")
	if ok {
		back, err := ts.sp.MakeRedirectLogoutResponse(lr.ID, relay)
		if err != nil {
			t.Fatal(err)
		}
		return back.String()
	}
	// A refusal (status Responder), HTTP-Redirect encoded; Gatehouse reads only its status.
	resp := saml.LogoutResponse{ID: "id-refused", InResponseTo: lr.ID, Version: "2.0", IssueInstant: time.Now().UTC(),
		Issuer: &saml.Issuer{Value: ts.sp.EntityID}, Status: saml.Status{StatusCode: saml.StatusCode{Value: saml.StatusResponder}}}
	doc := etree.NewDocument()
	doc.SetRoot(resp.Element())
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestCompression)
	if _, err := doc.WriteTo(fw); err != nil {
		t.Fatal(err)
	}
	_ = fw.Close()
	return slo(t, ts) + "?" + url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString(buf.Bytes())}, "RelayState": {relay}}.Encode()
}

// slo is Gatehouse's single logout service as the SP knows it.
func slo(t *testing.T, ts *testSP) string {
	t.Helper()
	return ts.sp.GetSLOBindingLocation(saml.HTTPRedirectBinding)
}

// allEnded checks that the session is gone for the OIDC client (a new login asks for the
// password) and that its back-channel logout token is queued.
func (s *sloSession) allEnded(t *testing.T) {
	t.Helper()
	ds, err := s.e.store.(storage.LogoutStore).ClaimLogouts(t.Context(), "test", s.e.clock.Now(), time.Minute, 10)
	if err != nil || len(ds) != 1 || ds[0].ClientID != trustedID || ds[0].SessionID != sidOf(t, s.idToken) {
		t.Errorf("back-channel deliveries: %+v, %v; want one for %s in the ID token's session", ds, err, trustedID)
	}
	if n := s.filesCalls.Load(); n != 1 {
		t.Errorf("the SOAP SP got %d valid LogoutRequests for its session, want 1", n)
	}
	if p, _ := s.b.follow(s.e, s.b.get(s.authURL), s.authURL); !strings.Contains(p.body, `name="password"`) {
		t.Errorf("the SSO session survived the logout: %d\n%s", p.status, p.body)
	}
}

// spLogout starts single logout at the SP (HTTP-Redirect, signed) with RelayState "bye".
func (s *sloSession) spLogout(t *testing.T, ts *testSP, a *saml.Assertion) page {
	t.Helper()
	lu, err := ts.sp.MakeRedirectLogoutRequest(a.Subject.NameID.Value, "bye", saml.WithSessionIndex(a.AuthnStatements[0].SessionIndex))
	if err != nil {
		t.Fatal(err)
	}
	return s.b.get(lu.String())
}

// finalResponse checks the LogoutResponse the requesting SP gets last.
func finalResponse(t *testing.T, ts *testSP, p page, partial bool) {
	t.Helper()
	if p.status != http.StatusFound || !strings.HasPrefix(p.location, ts.sp.SloURL.String()) {
		t.Fatalf("the requesting SP did not get its LogoutResponse: %d %q\n%s", p.status, p.location, p.body)
	}
	req, _ := http.NewRequest(http.MethodGet, p.location, nil)
	if err := ts.sp.ValidateLogoutResponseRequest(req); err != nil { //nolint:staticcheck // the check crewjam SPs in the field still run
		t.Fatalf("SP refused the LogoutResponse: %v", spErr(err))
	}
	if req.URL.Query().Get("RelayState") != "bye" {
		t.Errorf("RelayState %q, want the SP's own", req.URL.Query().Get("RelayState"))
	}
	raw, _ := base64.StdEncoding.DecodeString(req.URL.Query().Get("SAMLResponse"))
	xmlResp := new(bytes.Buffer)
	_, _ = xmlResp.ReadFrom(flate.NewReader(bytes.NewReader(raw)))
	if got := strings.Contains(xmlResp.String(), saml.StatusPartialLogout); got != partial {
		t.Errorf("PartialLogout in the final response: %v, want %v\n%s", got, partial, xmlResp)
	}
}

// TestSAMLSingleLogoutAcrossSession: logout started at either SAML SP or at the OIDC client
// ends the session for all three: the other SPs get LogoutRequests through the browser, one
// after the other, the OIDC client a back-channel logout token, and the app that started it
// gets its LogoutResponse or post-logout redirect last (issue 18 item 3). An SP with a SOAP
// single logout service is told over the back channel instead; when it refuses or is down,
// the requesting SP learns of it (PartialLogout).
func TestSAMLSingleLogoutAcrossSession(t *testing.T) {
	tests := []struct {
		name      string
		initiator string // wiki, docs or oidc
		refuse    bool   // the other SP answers with a failure
		soap      string // the SOAP SP's answer: a status, or "down"
	}{
		{name: "at the first SP", initiator: "wiki"},
		{name: "at the second SP", initiator: "docs"},
		{name: "at the OIDC client", initiator: "oidc"},
		{name: "another SP refuses: partial logout", initiator: "wiki", refuse: true},
		{name: "the SOAP SP refuses: partial logout", initiator: "docs", soap: saml.StatusResponder},
		{name: "the SOAP SP is down: partial logout", initiator: "wiki", soap: "down"},
		{name: "the SOAP SP is down: the OIDC logout goes on", initiator: "oidc", soap: "down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSLOSession(t)
			if tt.soap != "" {
				s.filesStatus = tt.soap
			}
			switch tt.initiator {
			case "oidc":
				lo := s.e.issuer + "/logout?" + url.Values{"id_token_hint": {s.idToken}, "post_logout_redirect_uri": {postLogoutURI}, "state": {"bye"}}.Encode()
				p := s.b.get(lo)
				p = s.b.get(spAnswers(t, s.wiki, s.wikiA, p, true))
				p = s.b.get(spAnswers(t, s.doc, s.docA, p, true))
				if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/logout/done?s=") {
					t.Fatalf("after the SPs answered: %d %q\n%s", p.status, p.location, p.body)
				}
				if p = s.b.get(s.e.issuer + p.location); !strings.Contains(p.body, `content="3;url=`+postLogoutURI+`?state=bye"`) {
					t.Fatalf("the OIDC client's post-logout redirect is not last: %d\n%s", p.status, p.body)
				}
			default:
				from, fromA, other, otherA := s.wiki, s.wikiA, s.doc, s.docA
				if tt.initiator == "docs" {
					from, fromA, other, otherA = s.doc, s.docA, s.wiki, s.wikiA
				}
				p := s.spLogout(t, from, fromA)
				back := spAnswers(t, other, otherA, p, !tt.refuse)
				p = afterFrontChannel(t, s.e, s.b, s.b.get(back))
				finalResponse(t, from, p, tt.refuse || tt.soap != "")
				// The other SP's LogoutResponse replayed: the logout is over, nothing runs again.
				if p = s.b.get(back); p.status != http.StatusOK || p.location != "" || !strings.Contains(p.body, "signed out") {
					t.Errorf("replayed LogoutResponse: %d %q\n%s", p.status, p.location, p.body)
				}
			}
			s.allEnded(t)
		})
	}
}

// TestSAMLSingleLogoutPostBindingAnsweredLast: an SP whose single logout service takes only
// HTTP-POST starts the logout; the other SP is told first, then the requester gets its
// signed LogoutResponse in the auto-submitting form, under the form's CSP.
func TestSAMLSingleLogoutPostBindingAnsweredLast(t *testing.T) {
	wiki, forms := newTestSP(t, true), newTestSP(t, true)
	forms.sp.LogoutBindings = []string{saml.HTTPPostBinding}
	trusted := func(c *config.ServiceProvider) { c.Trusted = true }
	e := newSAMLEnv(t, spConfig("wiki", wiki, trusted), spConfig("forms", forms, trusted))
	e.trust(wiki)
	e.trust(forms)
	b := e.browser()
	u, reqID := wiki.redirectRequest(t, "", nil)
	action, vals := e.samlLogin(b, b.get(u), u, true)
	wikiA := wiki.consume(t, action, vals, reqID)
	u, reqID = forms.redirectRequest(t, "", nil)
	action, vals = e.samlLogin(b, b.get(u), u, true)
	formsA := forms.consume(t, action, vals, reqID)
	lu, err := forms.sp.MakeRedirectLogoutRequest(formsA.Subject.NameID.Value, "bye", saml.WithSessionIndex(formsA.AuthnStatements[0].SessionIndex))
	if err != nil {
		t.Fatal(err)
	}
	p := b.get(spAnswers(t, wiki, wikiA, b.get(lu.String()), true))
	// crewjam's XHTML form: read its action and hidden fields.
	field := func(re string) string {
		m := regexp.MustCompile(re).FindStringSubmatch(p.body)
		if m == nil {
			return ""
		}
		return html.UnescapeString(m[1])
	}
	action = field(`<form method="post" action="([^"]*)"`)
	vals = url.Values{"SAMLResponse": {field(`name="SAMLResponse" value="([^"]*)"`)}, "RelayState": {field(`name="RelayState" value="([^"]*)"`)}}
	if p.status != http.StatusOK || action != forms.sp.SloURL.String() || vals.Get("RelayState") != "bye" {
		t.Fatalf("the POST-bound requester did not get its form last: %d %q %v\n%s", p.status, action, vals, p.body)
	}
	if csp := p.header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'; script-src 'sha256-") {
		t.Errorf("form CSP %q", csp)
	}
	if err := forms.sp.ValidateLogoutResponseForm(vals.Get("SAMLResponse")); err != nil { //nolint:staticcheck // the check crewjam SPs in the field still run
		t.Fatalf("SP refused the LogoutResponse: %v", spErr(err))
	}
}

// afterFrontChannel follows a logout started at a SAML SP through the OIDC front-channel
// page (the trusted client's iframe), which goes on to the SP's LogoutResponse after its
// bounded wait: it returns that last step as the redirect it stands for.
func afterFrontChannel(t *testing.T, e *env, b *browser, p page) page {
	t.Helper()
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/logout/done?s=") {
		t.Fatalf("no OIDC front-channel page before the SP's LogoutResponse: %d %q\n%s", p.status, p.location, p.body)
	}
	done := b.get(e.issuer + p.location)
	m := regexp.MustCompile(`content="3;url=([^"]*)"`).FindStringSubmatch(done.body)
	if done.status != http.StatusOK || m == nil || !strings.Contains(done.body, `<iframe class="logout-frame" src="`+samlEnvFrontChannel+`"`) ||
		!strings.HasSuffix(done.header.Get("Content-Security-Policy"), "frame-src http://127.0.0.1:9") {
		t.Fatalf("front-channel page: %d %v\n%s", done.status, done.header, done.body)
	}
	return page{status: http.StatusFound, location: html.UnescapeString(m[1])}
}
