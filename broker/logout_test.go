package broker_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/broker"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage"
)

// exchangeCode redeems a code of the confidential client and returns the token response.
func (e *env) exchangeCode(t *testing.T, code, verifier string) map[string]any {
	t.Helper()
	errCode, body := tokenRequest(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier}}, confidentialID, confidentialSecret)
	if errCode != "" {
		t.Fatalf("code exchange: %s %v", errCode, body)
	}
	return body
}

// logoutConfirmed signs the browser out through the confirmation form of /logout.
func (e *env) logoutConfirmed(t *testing.T, b *browser) {
	t.Helper()
	p := b.get(e.issuer + "/logout")
	action, vals := form(t, p.body)
	vals.Set("decision", "logout")
	if p = b.post(e.issuer+action, vals); p.status != http.StatusOK || !strings.Contains(p.body, "Signed out") {
		t.Fatalf("logout: %d\n%s", p.status, p.body)
	}
}

// TestLogoutRevokesOnlineGrants: RP-initiated logout revokes the session's grants that were
// not issued with offline_access; offline grants outlive the session.
// Attack (issue 12.12): after logout, an access token of the session keeps working at /userinfo.
func TestLogoutRevokesOnlineGrants(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	code, verifier := e.codeFor(b, "openid profile")
	online := e.exchangeCode(t, code, verifier)
	code, verifier = e.codeFor(b, "openid offline_access")
	offline := e.exchangeCode(t, code, verifier)
	// A code issued before the logout and redeemed after it.
	lateCode, lateVerifier := e.codeFor(b, "openid profile email")
	for _, tok := range []map[string]any{online, offline} {
		if st := userinfoStatus(t, e, tok["access_token"].(string)); st != http.StatusOK {
			t.Fatalf("userinfo before logout: %d", st)
		}
	}
	lo := e.issuer + "/logout?" + url.Values{"id_token_hint": {online["id_token"].(string)}}.Encode()
	if p := b.get(lo); p.status != http.StatusOK || !strings.Contains(p.body, "Signed out") {
		t.Fatalf("logout: %d\n%s", p.status, p.body)
	}
	if st := userinfoStatus(t, e, online["access_token"].(string)); st != http.StatusUnauthorized {
		t.Errorf("online access token at userinfo after logout: %d, want 401", st)
	}
	if st := userinfoStatus(t, e, offline["access_token"].(string)); st != http.StatusOK {
		t.Errorf("offline access token at userinfo after logout: %d, want 200", st)
	}
	if errCode, _ := tokenRequest(t, e, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {offline["refresh_token"].(string)}},
		confidentialID, confidentialSecret); errCode != "" {
		t.Errorf("offline refresh after logout: %s", errCode)
	}
	if errCode, _ := tokenRequest(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {lateCode},
		"redirect_uri": {redirectURI}, "code_verifier": {lateVerifier}}, confidentialID, confidentialSecret); errCode != "invalid_grant" {
		t.Errorf("code of the ended session redeemed after logout: %q, want invalid_grant", errCode)
	}
}

// TestSAMLSingleLogoutRevokesOnlineGrants: SAML single logout ends the OIDC grants of the
// session as RP-initiated logout does, with the SSO cookie and without it (SessionIndex).
// Attack (issue 12.12): after SAML SLO, an access token of the session keeps working at /userinfo.
func TestSAMLSingleLogoutRevokesOnlineGrants(t *testing.T) {
	for _, withCookie := range []bool{true, false} {
		t.Run(map[bool]string{true: "redirect with cookie", false: "post without cookie"}[withCookie], func(t *testing.T) {
			ts := newTestSP(t, true)
			e := newSAMLEnv(t, spConfig("wiki", ts, func(c *config.ServiceProvider) { c.Trusted = true }))
			e.trust(ts)
			b := e.browser()
			u, reqID := ts.redirectRequest(t, "", nil)
			action, vals := e.samlLogin(b, b.get(u), u, true)
			a := ts.consume(t, action, vals, reqID)
			r := e.rp(trustedID, trustedSecret, otherRedirect, "openid", "profile")
			v := oauth2.GenerateVerifier()
			authURL := r.oauth.AuthCodeURL("s", oauth2.S256ChallengeOption(v))
			_, at := b.follow(e, b.get(authURL), authURL)
			tok, err := r.oauth.Exchange(r.ctx, callbackParams(t, at).Get("code"), oauth2.VerifierOption(v))
			if err != nil {
				t.Fatal(err)
			}
			ended := e.Gatehouse.Server.Sessions.Ended()
			var p page
			if withCookie {
				lu, err := ts.sp.MakeRedirectLogoutRequest(a.Subject.NameID.Value, "bye", saml.WithSessionIndex(a.AuthnStatements[0].SessionIndex))
				if err != nil {
					t.Fatal(err)
				}
				p = afterFrontChannel(t, e, b, b.get(lu.String()))
			} else {
				lr, err := ts.sp.MakeLogoutRequest(e.issuer+"/saml/idp/slo", a.Subject.NameID.Value, saml.WithSessionIndex(a.AuthnStatements[0].SessionIndex))
				if err != nil {
					t.Fatal(err)
				}
				doc := etree.NewDocument()
				doc.SetRoot(lr.Element())
				raw, _ := doc.WriteToBytes()
				if !bytes.Contains(raw, []byte("Signature")) {
					t.Fatal("unsigned logout request")
				}
				nb := e.browser()
				p = afterFrontChannel(t, e, nb, nb.post(e.issuer+"/saml/idp/slo", url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(raw)}}))
			}
			if p.status != http.StatusFound || !strings.HasPrefix(p.location, ts.sp.SloURL.String()) {
				t.Fatalf("SLO: %d %q\n%s", p.status, p.location, p.body)
			}
			if st := userinfoStatus(t, e, tok.AccessToken); st != http.StatusUnauthorized {
				t.Errorf("access token at userinfo after SAML logout: %d, want 401", st)
			}
			// Caches of sessions (forward auth) learn of the end at once.
			if e.Gatehouse.Server.Sessions.Ended() == ended {
				t.Error("the session generation did not grow: forward-auth caches would keep the session")
			}
			// The OIDC client of the session is told through the back-channel queue (issue 18).
			ds, err := e.store.(storage.LogoutStore).ClaimLogouts(t.Context(), "test", e.clock.Now(), time.Minute, 10)
			if idTok, _ := tok.Extra("id_token").(string); err != nil || len(ds) != 1 || ds[0].ClientID != trustedID || ds[0].SessionID != sidOf(t, idTok) {
				t.Errorf("back-channel deliveries after SAML logout: %+v, %v; want one for %s in the ID token's session", ds, err, trustedID)
			}
		})
	}
}

// TestLogoutEndsPendingRequests: a pending auth request cannot be finished once its session
// ended, by logout or by the session's absolute expiry, and logout deletes the requests of
// the browser's flow.
func TestLogoutEndsPendingRequests(t *testing.T) {
	// consentForm drives a new login of the confidential client to its consent page.
	consentForm := func(t *testing.T, e *env, b *browser) (string, url.Values) {
		t.Helper()
		_, challenge := pkce(oauth2.GenerateVerifier())
		q := url.Values{"client_id": {confidentialID}, "redirect_uri": {redirectURI}, "response_type": {"code"}, "scope": {"openid offline_access"},
			"state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		u := e.issuer + "/authorize?" + q.Encode()
		p, at := b.follow(e, b.get(u), u)
		if strings.Contains(p.body, `name="password"`) {
			action, vals := form(t, p.body)
			vals.Set("username", "alice")
			vals.Set("password", alicePassword)
			p, _ = b.follow(e, b.post(e.issuer+action, vals), e.issuer+action)
		}
		if !strings.Contains(p.body, `value="allow"`) {
			t.Fatalf("no consent page at %s: %d\n%s", at, p.status, p.body)
		}
		action, vals := form(t, p.body)
		vals.Set("decision", "allow")
		return e.issuer + action, vals
	}
	refused := func(t *testing.T, e *env, p page, what string) {
		t.Helper()
		if p.status >= 300 && p.status < 400 {
			t.Fatalf("%s: the consent form yielded a redirect: %q", what, p.location)
		}
	}

	t.Run("consent form from the history after logout", func(t *testing.T) {
		// Attack (issue 25.4): after logout, a consent form from the browser history still
		// yields a code and tokens, including a refresh token.
		e := newEnv(t)
		b := e.browser()
		action, vals := consentForm(t, e, b)
		e.logoutConfirmed(t, b)
		if p := b.get(e.issuer + "/authorize?" + url.Values{"client_id": {confidentialID}, "redirect_uri": {redirectURI}, "response_type": {"code"},
			"scope": {"openid"}, "prompt": {"none"}}.Encode()); !strings.Contains(p.location, "error=login_required") {
			t.Fatalf("prompt=none after logout: %d %q", p.status, p.location)
		}
		refused(t, e, b.post(action, vals), "after logout")
		if _, err := e.store.GetAuthRequest(t.Context(), vals.Get("req")); err == nil {
			t.Errorf("the auth request of the ended session still exists")
		}
	})

	t.Run("pending login of the same browser after logout", func(t *testing.T) {
		// Attack (issue 25.4): a login form left open in another tab is still usable after
		// logout; logout deletes the flow's auth requests.
		e := newEnv(t)
		b := e.browser()
		e.codeFor(b, "openid") // signed in
		u := e.issuer + "/authorize?" + url.Values{"client_id": {confidentialID}, "redirect_uri": {redirectURI}, "response_type": {"code"},
			"scope": {"openid"}, "prompt": {"login"}}.Encode()
		p, _ := b.follow(e, b.get(u), u)
		action, vals := form(t, p.body)
		e.logoutConfirmed(t, b)
		if _, err := e.store.GetAuthRequest(t.Context(), vals.Get("req")); err == nil {
			t.Errorf("logout left the browser's pending auth request")
		}
		vals.Set("username", "alice")
		vals.Set("password", alicePassword)
		if p := b.post(e.issuer+action, vals); p.status != http.StatusBadRequest {
			t.Errorf("pending login after logout: %d %q", p.status, p.location)
		}
	})

	t.Run("consent after the session's absolute expiry", func(t *testing.T) {
		// Attack (issue 25.4): an auth request outlives its session's absolute expiry and
		// still yields a code.
		e := newEnvClaims(t, "RS256", nil, func(d *broker.Deps) { d.Sessions.Absolute = 20 * time.Minute })
		b := e.browser()
		action, vals := consentForm(t, e, b)
		e.clock.Advance(25 * time.Minute) // the auth request lives 30 minutes
		refused(t, e, b.post(action, vals), "after the session expired")
	})
}

// TestLoginRotatesFlowCookie: completing a login replaces the browser's flow cookie and the
// flow goes on under the new one (consent), while the old value no longer opens it.
// Attack (issue 25.3): a flow value planted before the login (sibling-subdomain cookie) stays
// the key to the victim's signed-in flow.
func TestLoginRotatesFlowCookie(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	flowOf := func() string {
		u, _ := url.Parse(e.issuer)
		for _, c := range b.c.Jar.Cookies(u) {
			if c.Name == "gh_flow" {
				return c.Value
			}
		}
		t.Fatal("no flow cookie")
		return ""
	}
	_, challenge := pkce(oauth2.GenerateVerifier())
	u := e.issuer + "/authorize?" + url.Values{"client_id": {confidentialID}, "redirect_uri": {redirectURI}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}.Encode()
	p, _ := b.follow(e, b.get(u), u)
	planted := flowOf()
	action, vals := form(t, p.body)
	vals.Set("username", "alice")
	vals.Set("password", alicePassword)
	p, at := b.follow(e, b.post(e.issuer+action, vals), e.issuer+action)
	if flowOf() == planted {
		t.Fatal("the flow cookie survived the login")
	}
	if !strings.Contains(p.body, `value="allow"`) {
		t.Fatalf("no consent page after login (flow not rebound?): %d at %s\n%s", p.status, at, p.body)
	}
	// The pre-login value no longer opens the flow.
	old := e.browser()
	su, _ := url.Parse(e.issuer)
	old.c.Jar.SetCookies(su, []*http.Cookie{{Name: "gh_flow", Value: planted, Path: "/"}})
	if p := old.get(at); p.status != http.StatusBadRequest {
		t.Errorf("consent page with the pre-login flow value: %d", p.status)
	}
}

// sidOf reads the sid of an ID token (unverified: it came from the token endpoint).
func sidOf(t *testing.T, idToken string) string {
	t.Helper()
	parts := strings.Split(idToken, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", idToken)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Sid string }
	if err := json.Unmarshal(b, &c); err != nil || c.Sid == "" {
		t.Fatalf("no sid in the ID token: %v", err)
	}
	return c.Sid
}
