package broker_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/broker/dpop/dpoptest"
	"github.com/gatehouse-id/gatehouse/config"
)

const (
	parRequiredID     = "par-only"
	parRequiredSecret = "par-only-secret-0123456789"
	jarID             = "jar"
	jarRedirect       = "http://127.0.0.1:9997/cb"
	unsignedID        = "jar-unsigned"
	unsignedSecret    = "jar-unsigned-secret-0123456789"
)

// parEnv is the harness with a client that must push its requests, a private_key_jwt
// client (key k) that signs request objects, and a client allowed unsigned ones.
func parEnv(t testing.TB, k clientKey, global bool) *env {
	t.Helper()
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k.publicJWK()}})
	if err != nil {
		t.Fatal(err)
	}
	jwks := map[string]any{}
	if err := json.Unmarshal(set, &jwks); err != nil {
		t.Fatal(err)
	}
	return newEnvOpts(t, envOpts{config: func(c *config.Config) {
		c.OAuth2.RequirePushedAuthorizationRequests = global
		c.Clients = append(c.Clients,
			config.Client{ID: parRequiredID, Secret: parRequiredSecret, RedirectURIs: []string{redirectURI}, RequirePushedAuthorizationRequests: true},
			config.Client{ID: jarID, JWKS: jwks, RedirectURIs: []string{jarRedirect}},
			config.Client{ID: unsignedID, Secret: unsignedSecret, RedirectURIs: []string{jarRedirect}, AllowUnsignedRequestObjects: true},
		)
	}})
}

// authParams are the parameters of a code-flow request for the client.
func authParams(clientID, redirect, challenge string) url.Values {
	return url.Values{"client_id": {clientID}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {"openid email"}, "state": {"st-1"}, "nonce": {"n-1"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
}

// push posts to /par with Basic credentials (none when secret is empty) and returns the
// status and the JSON answer.
func push(t *testing.T, e *env, form url.Values, id, secret string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.issuer+"/par", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusCreated && resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("PAR response Cache-Control = %q", resp.Header.Get("Cache-Control"))
	}
	body := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&body) //nolint:errcheck // an empty body stays empty
	return resp.StatusCode, body
}

// pushOK pushes and returns the request_uri, failing the test on any other answer.
func pushOK(t *testing.T, e *env, form url.Values, id, secret string) string {
	t.Helper()
	status, body := push(t, e, form, id, secret)
	uri, _ := body["request_uri"].(string)
	if status != http.StatusCreated || !strings.HasPrefix(uri, "urn:ietf:params:oauth:request_uri:") || body["expires_in"] != float64(60) {
		t.Fatalf("push: %d %v", status, body)
	}
	return uri
}

// authorizeRefused requests /authorize with q in a fresh browser and wants the error page
// (never a redirect to the client) naming want.
func authorizeRefused(t *testing.T, e *env, q url.Values, want string) {
	t.Helper()
	p := e.browser().get(e.issuer + "/authorize?" + q.Encode())
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, want) {
		t.Fatalf("authorize %v: status %d location %q, want a 400 page with %q; body:\n%.600s", q, p.status, p.location, want, p.body)
	}
}

// TestPushedAuthorizationRequest: a pushed request (RFC 9126) goes through login and consent
// to a code that redeems, the request_uri is single use, and the other ways a request_uri
// fails: another client's, expired, unknown, not ours (never fetched).
func TestPushedAuthorizationRequest(t *testing.T) {
	e := parEnv(t, newClientKey(t, "k1"), false)
	verifier, challenge := pkce(oauth2.GenerateVerifier())
	uri := pushOK(t, e, authParams(confidentialID, redirectURI, challenge), confidentialID, confidentialSecret)

	q := url.Values{"client_id": {confidentialID}, "request_uri": {uri}}
	to := e.login(e.browser(), e.issuer+"/authorize?"+q.Encode(), alicePassword, true)
	cb := callbackParams(t, to)
	if !strings.HasPrefix(to, redirectURI) || cb.Get("state") != "st-1" || cb.Get("code") == "" {
		t.Fatalf("callback %q", to)
	}
	errCode, tok := tokenRequest(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier}}, confidentialID, confidentialSecret)
	if errCode != "" || tok["id_token"] == nil {
		t.Fatalf("token: %s %v", errCode, tok)
	}
	if n := jwtClaims(t, tok["id_token"].(string))["nonce"]; n != "n-1" {
		t.Errorf("nonce %v, want the pushed one", n)
	}

	t.Run("reused", func(t *testing.T) { authorizeRefused(t, e, q, "already used") })

	t.Run("another client's", func(t *testing.T) {
		uri := pushOK(t, e, authParams(confidentialID, redirectURI, challenge), confidentialID, confidentialSecret)
		authorizeRefused(t, e, url.Values{"client_id": {otherID}, "request_uri": {uri}}, "issued to another client")
		// The other client's attempt did not use it up.
		p := e.browser().get(e.issuer + "/authorize?" + url.Values{"client_id": {confidentialID}, "request_uri": {uri}}.Encode())
		if p.status != http.StatusFound && p.status != http.StatusSeeOther {
			t.Fatalf("owner after another client's attempt: %d %.300s", p.status, p.body)
		}
	})
	t.Run("expired", func(t *testing.T) {
		uri := pushOK(t, e, authParams(confidentialID, redirectURI, challenge), confidentialID, confidentialSecret)
		e.clock.Advance(61 * time.Second)
		authorizeRefused(t, e, url.Values{"client_id": {confidentialID}, "request_uri": {uri}}, "expired")
	})
	for name, q := range map[string]url.Values{
		"unknown urn":          {"client_id": {confidentialID}, "request_uri": {"urn:ietf:params:oauth:request_uri:nope"}},
		"remote uri":           {"client_id": {confidentialID}, "request_uri": {"https://attacker.example/req.jwt"}},
		"without client_id":    {"request_uri": {uri}},
		"with request as well": {"client_id": {confidentialID}, "request_uri": {uri}, "request": {"x.y.z"}},
	} {
		t.Run(name, func(t *testing.T) { authorizeRefused(t, e, q, "") })
	}
}

// TestPushedAuthorizationRequestErrors: the endpoint authenticates the client as the token
// endpoint does and validates the parameters as /authorize does, answering JSON errors
// (RFC 9126 2.3).
func TestPushedAuthorizationRequestErrors(t *testing.T) {
	k := newClientKey(t, "k1")
	e := parEnv(t, k, false)
	_, challenge := pkce(oauth2.GenerateVerifier())
	good := func(mod func(url.Values)) url.Values {
		f := authParams(confidentialID, redirectURI, challenge)
		if mod != nil {
			mod(f)
		}
		return f
	}
	cases := []struct {
		name       string
		form       url.Values
		id, secret string
		status     int
		code       string
	}{
		{"no client authentication", good(nil), "", "", 401, "invalid_client"},
		{"wrong secret", good(nil), confidentialID, "wrong", 401, "invalid_client"},
		{"client_id of another client", good(func(f url.Values) { f.Set("client_id", otherID) }), confidentialID, confidentialSecret, 400, "invalid_request"},
		{"request_uri pushed", good(func(f url.Values) { f.Set("request_uri", "urn:ietf:params:oauth:request_uri:x") }), confidentialID, confidentialSecret, 400, "invalid_request"},
		{"unregistered redirect_uri", good(func(f url.Values) { f.Set("redirect_uri", "https://evil.example/cb") }), confidentialID, confidentialSecret, 400, "invalid_request"},
		{"missing response_type", good(func(f url.Values) { f.Del("response_type") }), confidentialID, confidentialSecret, 400, "invalid_request"},
		{"unknown scope", good(func(f url.Values) { f.Set("scope", "openid nope") }), confidentialID, confidentialSecret, 400, "invalid_scope"},
		{"plain PKCE", good(func(f url.Values) { f.Set("code_challenge_method", "plain") }), confidentialID, confidentialSecret, 400, "invalid_request"},
		{"bad request object", good(func(f url.Values) { f.Set("request", "a.b.c") }), confidentialID, confidentialSecret, 400, "invalid_request_object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := push(t, e, tc.form, tc.id, tc.secret)
			if status != tc.status || body["error"] != tc.code {
				t.Fatalf("got %d %v, want %d %s", status, body, tc.status, tc.code)
			}
		})
	}
	t.Run("oversized body", func(t *testing.T) {
		// The body limit answers the API route with a JSON error, not a page.
		status, body := push(t, e, good(func(f url.Values) { f.Set("state", strings.Repeat("s", 70<<10)) }), confidentialID, confidentialSecret)
		if status != http.StatusRequestEntityTooLarge || body["error"] != "invalid_request" {
			t.Fatalf("got %d %v", status, body)
		}
	})
	t.Run("private_key_jwt", func(t *testing.T) {
		f := assertionForm(k.assertion(t, jarID, e.issuer, e.clock.Now(), nil), authParams(jarID, jarRedirect, challenge))
		pushOK(t, e, f, "", "")
		// The same assertion again is a replayed jti.
		if status, body := push(t, e, f, "", ""); status != 401 || body["error"] != "invalid_client" {
			t.Fatalf("replayed assertion: %d %v", status, body)
		}
	})
}

// TestRequirePushedAuthorizationRequests: a client that must push gets invalid_request at
// its redirect URI for a plain request and logs in with a pushed one; with
// oauth2.require_pushed_authorization_requests every client must push, and discovery says so.
func TestRequirePushedAuthorizationRequests(t *testing.T) {
	_, challenge := pkce(oauth2.GenerateVerifier())
	plainRefused := func(t *testing.T, e *env, id string) {
		t.Helper()
		p := e.browser().get(e.issuer + "/authorize?" + authParams(id, redirectURI, challenge).Encode())
		q := callbackParams(t, p.location)
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, redirectURI) || q.Get("error") != "invalid_request" || q.Get("state") != "st-1" {
			t.Fatalf("plain request of %s: %d %q", id, p.status, p.location)
		}
	}
	pushedStarts := func(t *testing.T, e *env, id, secret string) {
		t.Helper()
		uri := pushOK(t, e, authParams(id, redirectURI, challenge), id, secret)
		p := e.browser().get(e.issuer + "/authorize?" + url.Values{"client_id": {id}, "request_uri": {uri}}.Encode())
		if p.status != http.StatusFound && p.status != http.StatusSeeOther || strings.HasPrefix(p.location, redirectURI) {
			t.Fatalf("pushed request of %s: %d %q", id, p.status, p.location)
		}
	}
	t.Run("per client", func(t *testing.T) {
		e := parEnv(t, newClientKey(t, "k1"), false)
		plainRefused(t, e, parRequiredID)
		pushedStarts(t, e, parRequiredID, parRequiredSecret)
		// Other clients may still send plain requests.
		if p := e.browser().get(e.issuer + "/authorize?" + authParams(confidentialID, redirectURI, challenge).Encode()); strings.HasPrefix(p.location, redirectURI) {
			t.Fatalf("plain request of an ordinary client refused: %q", p.location)
		}
		if m := discoveryDoc(t, e); m["require_pushed_authorization_requests"] != false || m["pushed_authorization_request_endpoint"] != e.issuer+"/par" {
			t.Fatalf("discovery: %v", m)
		}
	})
	t.Run("global", func(t *testing.T) {
		e := parEnv(t, newClientKey(t, "k1"), true)
		plainRefused(t, e, confidentialID)
		pushedStarts(t, e, confidentialID, confidentialSecret)
		if m := discoveryDoc(t, e); m["require_pushed_authorization_requests"] != true {
			t.Fatalf("discovery: %v", m)
		}
	})
}

// discoveryDoc fetches the provider metadata.
func discoveryDoc(t *testing.T, e *env) map[string]any {
	t.Helper()
	resp, err := e.srv.Client().Get(e.issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m := map[string]any{}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestPushedDPoP: a DPoP proof sent with the push binds the code to the proof's key (RFC
// 9449 10.1): only that key redeems it. A dpop_jkt pushed beside a proof of another key, and
// a proof for another endpoint, refuse the push.
func TestPushedDPoP(t *testing.T) {
	e := parEnv(t, newClientKey(t, "k1"), false)
	k, other := dpoptest.NewKey(), dpoptest.NewKey()
	parURL, tokenURL := e.issuer+"/par", e.issuer+"/token"
	verifier, challenge := pkce(oauth2.GenerateVerifier())
	form := authParams(confidentialID, redirectURI, challenge)

	if r := dpopPostTo(t, e, "/par", form, confidentialID, confidentialSecret, k.Proof("POST", tokenURL, dpoptest.Options{})); r.errCode() != "invalid_dpop_proof" {
		t.Fatalf("proof for /token at /par: %d %v", r.status, r.body)
	}
	mismatch := url.Values{"dpop_jkt": {other.JKT()}}
	for key, v := range form {
		mismatch[key] = v
	}
	if r := dpopPostTo(t, e, "/par", mismatch, confidentialID, confidentialSecret, k.Proof("POST", parURL, dpoptest.Options{})); r.errCode() != "invalid_dpop_proof" {
		t.Fatalf("dpop_jkt of another key beside the proof: %d %v", r.status, r.body)
	}

	redeem := func(proofs ...string) dpopResp {
		r := dpopPostTo(t, e, "/par", form, confidentialID, confidentialSecret, k.Proof("POST", parURL, dpoptest.Options{}))
		uri, _ := r.body["request_uri"].(string)
		if r.status != http.StatusCreated || uri == "" {
			t.Fatalf("push with a proof: %d %v", r.status, r.body)
		}
		q := url.Values{"client_id": {confidentialID}, "request_uri": {uri}}
		cb := callbackParams(t, e.login(e.browser(), e.issuer+"/authorize?"+q.Encode(), alicePassword, true))
		return dpopPost(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")},
			"redirect_uri": {redirectURI}, "code_verifier": {verifier}}, confidentialID, confidentialSecret, proofs...)
	}
	if r := redeem(other.Proof("POST", tokenURL, dpoptest.Options{})); r.errCode() != "invalid_grant" {
		t.Fatalf("code pushed with key k redeemed with another key: %d %v", r.status, r.body)
	}
	if r := redeem(); r.errCode() != "invalid_grant" {
		t.Fatalf("code pushed with key k redeemed without a proof: %d %v", r.status, r.body)
	}
	if r := redeem(k.Proof("POST", tokenURL, dpoptest.Options{})); r.status != http.StatusOK || r.body["token_type"] != "DPoP" {
		t.Fatalf("code pushed with key k redeemed with k: %d %v", r.status, r.body)
	}
}
