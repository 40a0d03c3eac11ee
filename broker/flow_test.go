package broker_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// rp is a strict relying party built from go-oidc and x/oauth2, as a third party would.
type rp struct {
	provider *oidc.Provider
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	ctx      context.Context
}

func (e *env) rp(clientID, secret, redirect string, scopes ...string) *rp {
	e.t.Helper()
	ctx := oidc.ClientContext(context.Background(), e.srv.Client())
	p, err := oidc.NewProvider(ctx, e.issuer)
	if err != nil {
		e.t.Fatalf("discovery: %v", err)
	}
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "profile", "email", "groups", oidc.ScopeOfflineAccess}
	}
	return &rp{
		provider: p, ctx: ctx,
		oauth:    oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: p.Endpoint(), RedirectURL: redirect, Scopes: scopes},
		verifier: p.Verifier(&oidc.Config{ClientID: clientID, Now: e.clock.Now}),
	}
}

// callbackParams parses the redirect back to the client.
func callbackParams(t testing.TB, to string) url.Values {
	t.Helper()
	u, err := url.Parse(to)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

func TestCodeFlowWithGoOIDC(t *testing.T) {
	e := newEnv(t)
	r := e.rp(confidentialID, confidentialSecret, redirectURI)
	b := e.browser()
	verifier := oauth2.GenerateVerifier()
	authURL := r.oauth.AuthCodeURL("st4te", oidc.Nonce("n0nce"), oauth2.S256ChallengeOption(verifier))
	to := e.login(b, authURL, alicePassword, true)
	q := callbackParams(t, to)
	if !strings.HasPrefix(to, redirectURI+"?") || q.Get("state") != "st4te" || q.Get("iss") != e.issuer || q.Get("code") == "" {
		t.Fatalf("bad callback %s", to)
	}
	tok, err := r.oauth.Exchange(r.ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(r.ctx, rawID)
	if err != nil {
		t.Fatalf("verify id token: %v", err)
	}
	if idt.Nonce != "n0nce" {
		t.Errorf("nonce = %q", idt.Nonce)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	var cl struct {
		Email         string   `json:"email"`
		EmailVerified bool     `json:"email_verified"`
		Name          string   `json:"name"`
		Username      string   `json:"preferred_username"`
		Groups        []string `json:"groups"`
		AuthTime      int64    `json:"auth_time"`
		SID           string   `json:"sid"`
		AMR           []string `json:"amr"`
		AZP           string   `json:"azp"`
	}
	if err := idt.Claims(&cl); err != nil {
		t.Fatal(err)
	}
	if cl.Email != "alice@example.com" || !cl.EmailVerified || cl.Name != "Alice Example" || cl.Username != "alice" ||
		len(cl.Groups) != 2 || cl.AuthTime == 0 || cl.SID == "" || len(cl.AMR) == 0 || cl.AZP != confidentialID {
		t.Errorf("claims = %+v", cl)
	}
	if idt.Subject == "" || idt.Subject == "alice" {
		t.Errorf("sub %q should be an internal ID", idt.Subject)
	}
	ui, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	if ui.Subject != idt.Subject || ui.Email != "alice@example.com" {
		t.Errorf("userinfo = %+v", ui)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token for offline_access")
	}

	// Refresh rotates the refresh token.
	old := tok.RefreshToken
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Minute)
	tok2, err := r.oauth.TokenSource(r.ctx, &expired).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if tok2.RefreshToken == "" || tok2.RefreshToken == old {
		t.Fatalf("refresh token not rotated")
	}
	if id2, err := r.verifier.Verify(r.ctx, tok2.Extra("id_token").(string)); err != nil || id2.Subject != idt.Subject {
		t.Fatalf("refreshed id token: %v", err)
	}
	// Reusing the rotated token revokes the family: the new refresh and access tokens die too.
	if code := tokenError(t, e, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {old}}, confidentialID, confidentialSecret); code != "invalid_grant" {
		t.Fatalf("reuse: error %q, want invalid_grant", code)
	}
	if code := tokenError(t, e, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok2.RefreshToken}}, confidentialID, confidentialSecret); code != "invalid_grant" {
		t.Fatalf("after family revocation: error %q, want invalid_grant", code)
	}
	if _, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok2)); err == nil {
		t.Fatal("userinfo accepted an access token of a revoked family")
	}

	// SSO: a second client signs in without a password (consent still asked: not trusted).
	r2 := e.rp(otherID, otherSecret, otherRedirect)
	v2 := oauth2.GenerateVerifier()
	p, at := b.follow(e, b.get(r2.oauth.AuthCodeURL("s2", oauth2.S256ChallengeOption(v2))), e.issuer)
	if strings.Contains(p.body, `name="password"`) {
		t.Fatalf("SSO session not used; got login page at %s", at)
	}
	to2 := e.login(b, r2.oauth.AuthCodeURL("s2", oauth2.S256ChallengeOption(v2)), "", true)
	tok3, err := r2.oauth.Exchange(r2.ctx, callbackParams(t, to2).Get("code"), oauth2.VerifierOption(v2))
	if err != nil {
		t.Fatal(err)
	}
	id3, err := r2.verifier.Verify(r2.ctx, tok3.Extra("id_token").(string))
	if err != nil || id3.Subject != idt.Subject {
		t.Fatalf("sso id token: %v %v", err, id3)
	}
	// Consent is remembered: the same client again goes straight back.
	v3 := oauth2.GenerateVerifier()
	p, at = b.follow(e, b.get(r2.oauth.AuthCodeURL("s3", oauth2.S256ChallengeOption(v3))), e.issuer)
	if !strings.HasPrefix(at, otherRedirect) {
		t.Fatalf("consent not remembered: %d %s", p.status, at)
	}

	// Revocation (RFC 7009) of a fresh login's refresh token kills its access token too.
	if err := revoke(e, tok3.RefreshToken, otherID, otherSecret); err != nil {
		t.Fatal(err)
	}
	if _, err := r2.provider.UserInfo(r2.ctx, oauth2.StaticTokenSource(tok3)); err == nil {
		t.Fatal("userinfo accepted a revoked access token")
	}

	// RP-initiated logout with id_token_hint ends the session and returns with state.
	lo := e.issuer + "/logout?" + url.Values{"id_token_hint": {rawID}, "post_logout_redirect_uri": {postLogoutURI}, "state": {"bye"}}.Encode()
	p = b.get(lo)
	if p.status != http.StatusSeeOther || p.location != postLogoutURI+"?state=bye" {
		t.Fatalf("logout: %d %q\n%s", p.status, p.location, p.body)
	}
	p, _ = b.follow(e, b.get(r2.oauth.AuthCodeURL("s4", oauth2.S256ChallengeOption(v3))), e.issuer)
	if !strings.Contains(p.body, `name="password"`) {
		t.Fatalf("session survived logout")
	}
}

// tokenError posts to the token endpoint and returns the OAuth error code ("" on success).
func tokenError(t *testing.T, e *env, form url.Values, id, secret string) string {
	t.Helper()
	code, _ := tokenRequest(t, e, form, id, secret)
	return code
}

func tokenRequest(t *testing.T, e *env, form url.Values, id, secret string) (string, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.issuer+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("token response Cache-Control = %q", cc)
	}
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode == http.StatusOK {
		return "", body
	}
	code, _ := body["error"].(string)
	return code, body
}

func revoke(e *env, token, id, secret string) error {
	req, _ := http.NewRequest(http.MethodPost, e.issuer+"/revoke", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New("revoke: " + resp.Status)
	}
	return nil
}

// codeFor runs a login for the confidential client and returns a fresh code and its verifier.
func (e *env) codeFor(b *browser, scope string) (code, verifier string) {
	e.t.Helper()
	verifier, challenge := pkce(oauth2.GenerateVerifier())
	q := url.Values{"client_id": {confidentialID}, "redirect_uri": {redirectURI}, "response_type": {"code"}, "scope": {scope},
		"state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	to := e.login(b, e.issuer+"/authorize?"+q.Encode(), alicePassword, true)
	return callbackParams(e.t, to).Get("code"), verifier
}

func TestAuthorizeErrors(t *testing.T) {
	e := newEnv(t)
	_, challenge := pkce(oauth2.GenerateVerifier())
	base := func(mod func(url.Values)) string {
		q := url.Values{"client_id": {confidentialID}, "redirect_uri": {redirectURI}, "response_type": {"code"}, "scope": {"openid"}, "state": {"xyz"}}
		mod(q)
		return e.issuer + "/authorize?" + q.Encode()
	}
	tests := []struct {
		name     string
		mod      func(url.Values)
		page     bool   // error page, never a redirect
		wantCode string // redirected error code
	}{
		{"unknown client", func(q url.Values) { q.Set("client_id", "nope") }, true, ""},
		{"missing client", func(q url.Values) { q.Del("client_id") }, true, ""},
		{"wrong redirect_uri", func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:9999/evil") }, true, ""},
		{"redirect_uri prefix", func(q url.Values) { q.Set("redirect_uri", redirectURI+"/x") }, true, ""},
		{"redirect_uri with fragment", func(q url.Values) { q.Set("redirect_uri", redirectURI+"#f") }, true, ""},
		{"missing redirect_uri", func(q url.Values) { q.Del("redirect_uri") }, true, ""},
		{"bad response_type", func(q url.Values) { q.Set("response_type", "token") }, false, "unsupported_response_type"},
		{"missing response_type", func(q url.Values) { q.Del("response_type") }, false, "invalid_request"},
		{"unknown scope", func(q url.Values) { q.Set("scope", "openid admin") }, false, "invalid_scope"},
		{"plain pkce", func(q url.Values) { q.Set("code_challenge", challenge); q.Set("code_challenge_method", "plain") }, false, "invalid_request"},
		{"pkce without method", func(q url.Values) { q.Set("code_challenge", challenge) }, false, "invalid_request"},
		{"short challenge", func(q url.Values) { q.Set("code_challenge", "abc"); q.Set("code_challenge_method", "S256") }, false, "invalid_request"},
		{"public client without pkce", func(q url.Values) { q.Set("client_id", publicID); q.Set("redirect_uri", "http://127.0.0.1/cb") }, false, "invalid_request"},
		{"prompt none no session", func(q url.Values) { q.Set("prompt", "none") }, false, "login_required"},
		{"prompt none with login", func(q url.Values) { q.Set("prompt", "none login") }, false, "invalid_request"},
		{"bad max_age", func(q url.Values) { q.Set("max_age", "-1") }, false, "invalid_request"},
		{"request object of a client without keys", func(q url.Values) { q.Set("request", "eyJ") }, true, ""},
		{"request_uri not from PAR", func(q url.Values) { q.Set("request_uri", "https://rp.example/r") }, true, ""},
		{"malformed claims JSON", func(q url.Values) { q.Set("claims", `{"id_token":`) }, false, "invalid_request"},
		{"claims not an object", func(q url.Values) { q.Set("claims", `["email"]`) }, false, "invalid_request"},
		{"claims member not an object", func(q url.Values) { q.Set("claims", `{"userinfo":["email"]}`) }, false, "invalid_request"},
		{"claims essential not a boolean", func(q url.Values) { q.Set("claims", `{"id_token":{"email":{"essential":"yes"}}}`) }, false, "invalid_request"},
		{"claims values not an array", func(q url.Values) { q.Set("claims", `{"id_token":{"acr":{"values":"mfa"}}}`) }, false, "invalid_request"},
		{"claims too long", func(q url.Values) { q.Set("claims", `{"id_token":{"x":null`+strings.Repeat(" ", 5000)+`}}`) }, false, "invalid_request"},
		{"bad response_mode", func(q url.Values) { q.Set("response_mode", "fragment") }, false, "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			p := b.get(base(tc.mod))
			if tc.page {
				if p.status < 400 || p.location != "" {
					t.Fatalf("want an error page, got %d location %q", p.status, p.location)
				}
				if !strings.Contains(p.body, "<h1>") || p.header.Get("Content-Security-Policy") == "" {
					t.Fatalf("error page lacks content or CSP")
				}
				return
			}
			q0, _ := url.ParseQuery(strings.SplitN(base(tc.mod), "?", 2)[1])
			if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, q0.Get("redirect_uri")+"?") {
				t.Fatalf("want redirect to client, got %d %q\n%s", p.status, p.location, p.body)
			}
			q := callbackParams(t, p.location)
			if q.Get("error") != tc.wantCode || q.Get("state") != "xyz" || q.Get("iss") != e.issuer {
				t.Fatalf("redirect params = %v", q)
			}
		})
	}
}

func TestNativeRedirectURIs(t *testing.T) {
	e := newEnv(t)
	_, challenge := pkce(oauth2.GenerateVerifier())
	for _, tc := range []struct {
		uri string
		ok  bool
	}{
		{"http://127.0.0.1:51234/cb", true}, // RFC 8252 7.3: any loopback port
		{"http://127.0.0.1/cb", true},
		{"com.example.app:/callback", true}, // RFC 8252 7.1
		{"http://127.0.0.1:51234/other", false},
		{"http://localhost:51234/cb", false},
		{"com.example.app:/callback2", false},
	} {
		q := url.Values{"client_id": {publicID}, "redirect_uri": {tc.uri}, "response_type": {"code"}, "scope": {"openid"},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		p := e.browser().get(e.issuer + "/authorize?" + q.Encode())
		ok := p.status == http.StatusSeeOther && strings.Contains(p.location, "/login")
		if ok != tc.ok {
			t.Errorf("%s: accepted=%v (status %d location %q)", tc.uri, ok, p.status, p.location)
		}
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	e := newEnv(t)
	b := e.browser()

	// Wrong client secret.
	code, verifier := e.codeFor(b, "openid")
	redeem := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	if got := tokenError(t, e, redeem, confidentialID, "wrong"); got != "invalid_client" {
		t.Errorf("wrong secret: %q", got)
	}
	// Missing verifier, wrong verifier, wrong redirect_uri: each burns the code (single use).
	for name, mod := range map[string]func(url.Values){
		"missing verifier": func(v url.Values) { v.Del("code_verifier") },
		"wrong verifier":   func(v url.Values) { v.Set("code_verifier", oauth2.GenerateVerifier()) },
		"wrong redirect":   func(v url.Values) { v.Set("redirect_uri", otherRedirect) },
	} {
		code, verifier := e.codeFor(b, "openid")
		v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
		mod(v)
		if got := tokenError(t, e, v, confidentialID, confidentialSecret); got != "invalid_grant" {
			t.Errorf("%s: %q, want invalid_grant", name, got)
		}
	}
	// Another client cannot redeem the code.
	code, verifier = e.codeFor(b, "openid")
	v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	if got := tokenError(t, e, v, otherID, otherSecret); got != "invalid_grant" {
		t.Errorf("other client: %q", got)
	}
	// Reused code: refused, and the tokens it issued are revoked.
	code, verifier = e.codeFor(b, "openid offline_access")
	v = url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	errCode, first := tokenRequest(t, e, v, confidentialID, confidentialSecret)
	if errCode != "" {
		t.Fatalf("first redemption: %s", errCode)
	}
	if got := tokenError(t, e, v, confidentialID, confidentialSecret); got != "invalid_grant" {
		t.Errorf("replayed code: %q", got)
	}
	if st := userinfoStatus(t, e, first["access_token"].(string)); st != http.StatusUnauthorized {
		t.Errorf("access token of a replayed code still works: %d", st)
	}
	if got := tokenError(t, e, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first["refresh_token"].(string)}}, confidentialID, confidentialSecret); got != "invalid_grant" {
		t.Errorf("refresh token of a replayed code still works: %q", got)
	}
	// Expired code.
	code, verifier = e.codeFor(b, "openid")
	e.clock.Advance(2 * time.Minute)
	v = url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	if got := tokenError(t, e, v, confidentialID, confidentialSecret); got != "invalid_grant" {
		t.Errorf("expired code: %q", got)
	}
	// Unsupported grant type, missing grant type, JSON body.
	if got := tokenError(t, e, url.Values{"grant_type": {"password"}}, confidentialID, confidentialSecret); got != "unsupported_grant_type" {
		t.Errorf("password grant: %q", got)
	}
	if got := tokenError(t, e, url.Values{}, confidentialID, confidentialSecret); got != "invalid_request" {
		t.Errorf("no grant_type: %q", got)
	}
}

func userinfoStatus(t *testing.T, e *env, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized && !strings.Contains(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without a Bearer challenge")
	}
	return resp.StatusCode
}

func TestUserinfoRejectsBadTokens(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	code, verifier := e.codeFor(b, "openid email")
	_, tok := tokenRequest(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}, confidentialID, confidentialSecret)
	at := tok["access_token"].(string)
	if st := userinfoStatus(t, e, at); st != http.StatusOK {
		t.Fatalf("valid token: %d", st)
	}
	parts := strings.Split(at, ".")
	tampered := parts[0] + "." + parts[1] + "x." + parts[2]
	for name, tokStr := range map[string]string{
		"tampered payload": tampered,
		"no signature":     parts[0] + "." + parts[1] + ".",
		"id token":         tok["id_token"].(string),
		"garbage":          "not-a-jwt",
	} {
		if st := userinfoStatus(t, e, tokStr); st != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, st)
		}
	}
	e.clock.Advance(2 * time.Hour)
	if st := userinfoStatus(t, e, at); st != http.StatusUnauthorized {
		t.Errorf("expired token: %d, want 401", st)
	}
}

func TestFormsRequireCSRF(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	_, challenge := pkce(oauth2.GenerateVerifier())
	q := url.Values{"client_id": {confidentialID}, "redirect_uri": {redirectURI}, "response_type": {"code"}, "scope": {"openid"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	p, _ := b.follow(e, b.get(e.issuer+"/authorize?"+q.Encode()), e.issuer)
	action, vals := form(t, p.body)
	vals.Set("username", "alice")
	vals.Set("password", alicePassword)
	for name, mod := range map[string]func(url.Values){
		"missing": func(v url.Values) { v.Del("csrf") },
		"wrong":   func(v url.Values) { v.Set("csrf", "AAAA") },
	} {
		v := url.Values{}
		for k, x := range vals {
			v[k] = x
		}
		mod(v)
		if p := b.post(e.issuer+action, v); p.status != http.StatusForbidden {
			t.Errorf("%s csrf: status %d", name, p.status)
		}
	}
	// Another browser (no flow cookie) cannot continue this flow even with the token.
	if p := e.browser().post(e.issuer+action, vals); p.status == http.StatusSeeOther {
		t.Errorf("flow continued in another browser")
	}
	// Cross-origin form posts are refused outright.
	req, _ := http.NewRequest(http.MethodPost, e.issuer+action, strings.NewReader(vals.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if p := b.do(req); p.status != http.StatusForbidden {
		t.Errorf("cross-origin post: %d", p.status)
	}
	// Wrong password shows the form again; right one proceeds.
	v := url.Values{}
	for k, x := range vals {
		v[k] = x
	}
	v.Set("password", "wrong")
	if p := b.post(e.issuer+action, v); p.status != http.StatusUnauthorized || !strings.Contains(p.body, "wrong") {
		t.Errorf("wrong password: %d", p.status)
	}
	if p := b.post(e.issuer+action, vals); p.status != http.StatusSeeOther {
		t.Errorf("right password: %d", p.status)
	}
}

func TestConsentDenyAndTrusted(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	_, challenge := pkce(oauth2.GenerateVerifier())
	q := url.Values{"client_id": {confidentialID}, "redirect_uri": {redirectURI}, "response_type": {"code"}, "scope": {"openid"}, "state": {"d"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	to := e.login(b, e.issuer+"/authorize?"+q.Encode(), alicePassword, false)
	if p := callbackParams(t, to); p.Get("error") != "access_denied" || p.Get("state") != "d" {
		t.Fatalf("deny: %s", to)
	}
	// A trusted client skips consent.
	q.Set("client_id", trustedID)
	q.Set("redirect_uri", otherRedirect)
	p, at := b.follow(e, b.get(e.issuer+"/authorize?"+q.Encode()), e.issuer)
	if !strings.HasPrefix(at, otherRedirect) || callbackParams(t, at).Get("code") == "" {
		t.Fatalf("trusted client: %d %s", p.status, at)
	}
	// prompt=consent forces the page even for a remembered consent; prompt=none then says consent_required.
	q.Set("client_id", otherID)
	q.Set("prompt", "none")
	p, at = b.follow(e, b.get(e.issuer+"/authorize?"+q.Encode()), e.issuer)
	if callbackParams(t, at).Get("error") != "consent_required" {
		t.Fatalf("prompt=none without consent: %s", at)
	}
	// form_post delivers the response as an auto-submitting form.
	q.Set("client_id", trustedID)
	q.Set("response_mode", "form_post")
	q.Del("prompt")
	p = b.get(e.issuer + "/authorize?" + q.Encode())
	if p.status != http.StatusOK || !strings.Contains(p.body, `action="`+otherRedirect+`"`) || !strings.Contains(p.body, `name="code"`) || !strings.Contains(p.body, `name="iss"`) {
		t.Fatalf("form_post: %d\n%s", p.status, p.body)
	}
}

func TestPromptLoginAndMaxAge(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	e.codeFor(b, "openid")
	_, challenge := pkce(oauth2.GenerateVerifier())
	q := url.Values{"client_id": {confidentialID}, "redirect_uri": {redirectURI}, "response_type": {"code"}, "scope": {"openid"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	// With a session and consent, no prompt: straight back.
	if _, at := b.follow(e, b.get(e.issuer+"/authorize?"+q.Encode()), e.issuer); !strings.HasPrefix(at, redirectURI) {
		t.Fatalf("SSO: %s", at)
	}
	for _, mod := range []func(url.Values){
		func(v url.Values) { v.Set("prompt", "login") },
		func(v url.Values) { e.clock.Advance(10 * time.Second); v.Set("max_age", "5") },
	} {
		v := url.Values{}
		for k, x := range q {
			v[k] = x
		}
		mod(v)
		p, _ := b.follow(e, b.get(e.issuer+"/authorize?"+v.Encode()), e.issuer)
		if !strings.Contains(p.body, `name="password"`) {
			t.Errorf("%v: re-authentication not required", v)
		}
	}
}

func TestConcurrentRedemption(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	code, verifier := e.codeFor(b, "openid offline_access")
	v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	var wg sync.WaitGroup
	results := make([]string, 8)
	refresh := make([]string, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, body := tokenRequest(t, e, v, confidentialID, confidentialSecret)
			results[i] = c
			if rt, ok := body["refresh_token"].(string); ok {
				refresh[i] = rt
			}
		}()
	}
	wg.Wait()
	wins := 0
	var rt string
	for i, r := range results {
		if r == "" {
			wins++
			rt = refresh[i]
		}
	}
	if wins != 1 {
		t.Fatalf("%d redemptions of one code succeeded: %v", wins, results)
	}
	_ = rt
	// Two concurrent rotations of a fresh refresh token: exactly one wins.
	code, verifier = e.codeFor(b, "openid offline_access")
	v = url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	_, body := tokenRequest(t, e, v, confidentialID, confidentialSecret)
	rv := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)}}
	for i := range results {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = tokenError(t, e, rv, confidentialID, confidentialSecret) }()
	}
	wg.Wait()
	wins = 0
	for _, r := range results {
		if r == "" {
			wins++
		}
	}
	if wins != 1 {
		t.Fatalf("%d rotations of one refresh token succeeded: %v", wins, results)
	}
}
