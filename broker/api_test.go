package broker_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func introspect(t *testing.T, e *env, token, id, secret string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.issuer+"/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(id, secret)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func TestIntrospection(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	code, verifier := e.codeFor(b, "openid offline_access")
	_, tok := tokenRequest(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}, confidentialID, confidentialSecret)
	at, rt := tok["access_token"].(string), tok["refresh_token"].(string)

	st, body := introspect(t, e, at, confidentialID, confidentialSecret)
	if st != http.StatusOK || body["active"] != true || body["client_id"] != confidentialID || body["scope"] != "openid offline_access" || body["sub"] == "" {
		t.Fatalf("access token: %d %v", st, body)
	}
	if _, body = introspect(t, e, rt, confidentialID, confidentialSecret); body["active"] != true || body["token_type"] != "refresh_token" {
		t.Fatalf("refresh token: %v", body)
	}
	// Another client learns nothing about tokens that are not its own.
	if _, body = introspect(t, e, at, otherID, otherSecret); body["active"] != false || len(body) != 1 {
		t.Fatalf("other client sees: %v", body)
	}
	if _, body = introspect(t, e, "garbage", confidentialID, confidentialSecret); body["active"] != false {
		t.Fatalf("garbage: %v", body)
	}
	// Unauthenticated and public callers are refused.
	if st, _ = introspect(t, e, at, "", ""); st != http.StatusUnauthorized {
		t.Fatalf("no client auth: %d", st)
	}
	if st, _ = introspect(t, e, at, confidentialID, "wrong"); st != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %d", st)
	}
	// After revocation both are inactive.
	if err := revoke(e, at, confidentialID, confidentialSecret); err != nil {
		t.Fatal(err)
	}
	for _, tk := range []string{at, rt} {
		if _, body = introspect(t, e, tk, confidentialID, confidentialSecret); body["active"] != false {
			t.Fatalf("revoked token still active: %v", body)
		}
	}
	// Revoking an unknown token is not an error (RFC 7009 2.2).
	if err := revoke(e, "unknown", confidentialID, confidentialSecret); err != nil {
		t.Fatal(err)
	}
}

func TestCORSAndAuthorizePost(t *testing.T) {
	e := newEnv(t)
	// Without configured origins, no CORS headers.
	req, _ := http.NewRequest(http.MethodGet, e.issuer+"/keys", nil)
	req.Header.Set("Origin", "https://spa.example")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("CORS for an unconfigured origin")
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/jwk-set+json" {
		t.Errorf("JWKS content type %q", ct)
	}
	// A relying party may POST the authorization request from its own origin.
	_, challenge := pkce("0123456789012345678901234567890123456789012")
	form := url.Values{"client_id": {confidentialID}, "redirect_uri": {redirectURI}, "response_type": {"code"}, "scope": {"openid"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	preq, _ := http.NewRequest(http.MethodPost, e.issuer+"/authorize", strings.NewReader(form.Encode()))
	preq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	preq.Header.Set("Origin", "http://127.0.0.1:9999")
	preq.Header.Set("Sec-Fetch-Site", "cross-site")
	p := e.browser().do(preq)
	if p.status != http.StatusSeeOther || !strings.Contains(p.location, "/login/local") {
		t.Fatalf("POST /authorize: %d %q", p.status, p.location)
	}
}
