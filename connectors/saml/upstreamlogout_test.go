package saml_test

// Upstream logout with a SAML IdP (issue 18 item 4): a whole Gatehouse (brokertest) with the
// connector corp (logout: upstream) in front of a real crewjam/saml samlidp IdP in process.

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
	gsaml "github.com/gatehouse-id/gatehouse/connectors/saml"
	"github.com/gatehouse-id/gatehouse/session"
)

const rpPostLogout = "http://127.0.0.1:9999/bye"

// newLogoutEnv is a Gatehouse whose SAML connector has logout: upstream, signing its
// requests with a generated key, on an IdP issuing emailAddress NameIDs (samlidp keeps its
// sessions by them); the client may return to rpPostLogout.
func newLogoutEnv(t *testing.T) *brokerEnv {
	t.Helper()
	return newBrokerEnvConfig(t, idpOptions{nameIDFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", postOnly: true},
		func(c *gsaml.Config) {
			c.SPKey, c.SPCert, c.SignRequests, c.NameIDFormat = "testdata/sp.key", "testdata/sp.crt", true, "emailAddress"
		},
		func(c *config.Config) {
			c.Connectors[0].Logout = config.ConnectorLogoutUpstream
			c.Clients[0].PostLogoutRedirectURIs = []string{rpPostLogout}
		})
}

// signIn logs alice in through the IdP and returns the browser.
func (e *brokerEnv) signIn(t *testing.T) *browser {
	t.Helper()
	b := newBrowser(t)
	q := url.Values{"client_id": {rpID}, "redirect_uri": {rpRedirect}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"st"}, "nonce": {"n"}}
	_, challenge := brokertest.PKCE("verifier-0123456789-0123456789-0123456789-0123")
	q.Set("code_challenge", challenge)
	q.Set("code_challenge_method", "S256")
	e.loginThroughIdP(t, b, e.issuer+"/authorize?"+q.Encode())
	if !e.signedIn(t, b) {
		t.Fatal("no Gatehouse session after the login")
	}
	return b
}

// signedIn reports whether the browser's Gatehouse session is live.
func (e *brokerEnv) signedIn(t *testing.T, b *browser) bool {
	t.Helper()
	u, _ := url.Parse(e.issuer)
	for _, c := range b.c.Jar.Cookies(u) {
		if strings.Contains(c.Name, "sso") {
			if _, err := e.gh.Store.GetSession(context.Background(), session.HashID(c.Value)); err == nil {
				return true
			}
		}
	}
	return false
}

// idpSignedIn reports whether the browser still has a session at the IdP: a new login there
// asks for the password (false) or not (true).
func (e *brokerEnv) idpSignedIn(t *testing.T, b *browser) bool {
	t.Helper()
	sp := newSP(t, e.idp, spOptions{id: "probe"})
	step, err := sp.conn.Begin(context.Background(), connectors.BeginRequest{CallbackURL: sp.callback, State: "probe"})
	if err != nil {
		t.Fatal(err)
	}
	var p page
	if step.PostForm != nil {
		vals := url.Values{}
		for k, v := range step.PostForm {
			vals.Set(k, v)
		}
		p = b.post(step.URL, vals)
	} else {
		p = b.get(step.URL)
	}
	if p.status != http.StatusOK {
		t.Fatalf("IdP SSO probe: %d %s", p.status, p.body)
	}
	return !strings.Contains(p.body, `name="password"`)
}

// TestSAMLUpstreamLogoutFromGatehouse: a Gatehouse logout of a user of a SAML connector with
// logout: upstream sends the browser to the IdP's single logout service with a signed
// LogoutRequest (NameID and SessionIndex of the login); the IdP ends its session and answers
// at the connector's SLO URL, whose LogoutResponse (checked: signed, answering that request)
// takes the browser on to the client's post-logout redirect URI. The same answer again is
// refused.
func TestSAMLUpstreamLogoutFromGatehouse(t *testing.T) {
	e := newLogoutEnv(t)
	b := e.signIn(t)
	if !e.idpSignedIn(t, b) {
		t.Fatal("no IdP session after the login: the test could not tell a logout")
	}
	start := e.issuer + "/logout?" + url.Values{"client_id": {rpID}, "post_logout_redirect_uri": {rpPostLogout}, "state": {"bye-1"}}.Encode()
	p := b.get(start)
	action, vals := parseForm(t, p.body)
	vals.Set("decision", "logout")
	p, at := e.follow(t, b, b.post(e.issuer+action, vals), e.issuer+action)
	if e.signedIn(t, b) {
		t.Fatal("the Gatehouse session is still live")
	}
	if !strings.HasPrefix(at, e.idp.srv.URL+"/slo?") || !strings.Contains(at, "SAMLRequest=") || !strings.Contains(at, "Signature=") {
		t.Fatalf("logout went to %s (%d), want a signed LogoutRequest to the IdP\n%s", at, p.status, p.body)
	}
	p = b.get(at)
	back := p.location
	if p.status/100 != 3 || !strings.HasPrefix(back, e.issuer+"/saml/sp/corp/slo?") || !strings.Contains(back, "SAMLResponse=") {
		t.Fatalf("IdP SLO: %d to %q, want its LogoutResponse at the connector's SLO URL\n%s", p.status, back, p.body)
	}
	p, at = e.follow(t, b, b.get(back), back)
	if at != rpPostLogout+"?state=bye-1" {
		t.Fatalf("after the IdP: %d at %s, want the client's post-logout URI\n%s", p.status, at, p.body)
	}
	if again := b.get(back); again.status != http.StatusBadRequest {
		t.Fatalf("the LogoutResponse again: %d, want 400\n%s", again.status, again.body)
	}
	if e.idpSignedIn(t, b) {
		t.Fatal("the IdP session survived the Gatehouse logout")
	}
}

// TestSAMLUpstreamLogoutFromIdP: a logout started at the IdP sends Gatehouse a signed
// LogoutRequest at the connector's SLO URL; Gatehouse ends the session of that NameID and
// SessionIndex and answers with a LogoutResponse to the IdP. A forged (unsigned) request and
// a replayed one end nothing.
func TestSAMLUpstreamLogoutFromIdP(t *testing.T) {
	e := newLogoutEnv(t)
	b := e.signIn(t)
	p := b.get(e.idp.srv.URL + "/logout")
	if p.status/100 != 3 || !strings.HasPrefix(p.location, e.issuer+"/saml/sp/corp/slo?") || !strings.Contains(p.location, "SAMLRequest=") {
		t.Fatalf("IdP logout: %d to %q, want a LogoutRequest to the connector's SLO URL\n%s", p.status, p.location, p.body)
	}
	request := p.location
	u, _ := url.Parse(request)
	forged := u.Query()
	forged.Del("Signature")
	forged.Del("SigAlg")
	if f := b.get(e.issuer + "/saml/sp/corp/slo?" + forged.Encode()); f.status != http.StatusBadRequest || !e.signedIn(t, b) {
		t.Fatalf("unsigned LogoutRequest: %d (session live %v)\n%s", f.status, e.signedIn(t, b), f.body)
	}
	p = b.get(request)
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, e.idp.srv.URL+"/slo?") || !strings.Contains(p.location, "SAMLResponse=") {
		t.Fatalf("Gatehouse SLO: %d to %q, want a LogoutResponse to the IdP\n%s", p.status, p.location, p.body)
	}
	if e.signedIn(t, b) {
		t.Fatal("the Gatehouse session survived the IdP's logout")
	}
	if done := b.get(p.location); done.status >= 400 {
		t.Fatalf("the IdP refused Gatehouse's LogoutResponse: %d\n%s", done.status, done.body)
	}
	if again := b.get(request); again.status != http.StatusBadRequest {
		t.Fatalf("replayed LogoutRequest: %d, want 400\n%s", again.status, again.body)
	}
}
