package broker_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

// requestObject signs claims (over the defaults of a valid request object for the jar
// client: iss, aud, exp and the authorization parameters) with k; a nil value removes a
// claim.
func requestObject(t testing.TB, e *env, k clientKey, challenge string, over map[string]any) string {
	t.Helper()
	now := e.clock.Now()
	c := map[string]any{"iss": jarID, "aud": e.issuer, "exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(),
		"client_id": jarID, "redirect_uri": jarRedirect, "response_type": "code", "scope": "openid email",
		"state": "obj-state", "nonce": "obj-nonce", "code_challenge": challenge, "code_challenge_method": "S256"}
	for n, v := range over {
		if v == nil {
			delete(c, n)
		} else {
			c[n] = v
		}
	}
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.priv},
		(&jose.SignerOptions{}).WithHeader("kid", k.kid).WithType("oauth-authz-req+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := sig.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// unsigned is an unsecured JWT (alg none) with the claims.
func unsigned(t *testing.T, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc(payload) + "."
}

// TestRequestObjects: a signed request object (RFC 9101) at /authorize replaces the query's
// parameters and goes through login to a code; every rule on its signature and claims
// refuses it on an error page (never a redirect).
func TestRequestObjects(t *testing.T) {
	k := newClientKey(t, "k1")
	e := parEnv(t, k, false)
	_, challenge := pkce(oauth2.GenerateVerifier())

	t.Run("valid, query parameters ignored", func(t *testing.T) {
		q := url.Values{"client_id": {jarID}, "request": {requestObject(t, e, k, challenge, nil)},
			"state": {"query-state"}, "redirect_uri": {"https://evil.example/cb"}, "scope": {"openid"}}
		to := e.login(e.browser(), e.issuer+"/authorize?"+q.Encode(), alicePassword, true)
		cb := callbackParams(t, to)
		if !strings.HasPrefix(to, jarRedirect) || cb.Get("state") != "obj-state" || cb.Get("code") == "" {
			t.Fatalf("callback %q", to)
		}
	})

	now := e.clock.Now()
	other := newClientKey(t, "k1") // same kid, another key: the signature does not verify
	cases := []struct {
		name string
		req  func() string
		want string // in the error page
	}{
		{"wrong aud", func() string {
			return requestObject(t, e, k, challenge, map[string]any{"aud": "https://other.example"})
		}, "request object is not valid"},
		{"aud array without issuer", func() string {
			return requestObject(t, e, k, challenge, map[string]any{"aud": []string{"https://other.example"}})
		}, "request object is not valid"},
		{"wrong iss", func() string { return requestObject(t, e, k, challenge, map[string]any{"iss": otherID}) }, "request object is not valid"},
		{"missing iss", func() string { return requestObject(t, e, k, challenge, map[string]any{"iss": nil}) }, "request object is not valid"},
		{"client_id of another client", func() string {
			return requestObject(t, e, k, challenge, map[string]any{"client_id": otherID})
		}, "request object is not valid"},
		{"expired", func() string {
			return requestObject(t, e, k, challenge, map[string]any{"exp": now.Add(-time.Minute).Unix()})
		}, "request object is not valid"},
		{"missing exp", func() string { return requestObject(t, e, k, challenge, map[string]any{"exp": nil}) }, "request object is not valid"},
		{"exp too far ahead", func() string {
			return requestObject(t, e, k, challenge, map[string]any{"exp": now.Add(2 * time.Hour).Unix()})
		}, "request object is not valid"},
		{"nbf in the future", func() string {
			return requestObject(t, e, k, challenge, map[string]any{"nbf": now.Add(10 * time.Minute).Unix()})
		}, "request object is not valid"},
		{"signed by another key", func() string { return requestObject(t, e, other, challenge, nil) }, "request object is not valid"},
		{"signature tampered", func() string {
			parts := strings.Split(requestObject(t, e, k, challenge, nil), ".")
			body, _ := json.Marshal(map[string]any{"iss": jarID, "aud": e.issuer, "exp": now.Add(time.Minute).Unix(), "redirect_uri": "https://evil.example/cb"})
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(body) + "." + parts[2]
		}, "request object is not valid"},
		{"unsigned", func() string {
			return unsigned(t, map[string]any{"iss": jarID, "aud": e.issuer, "exp": now.Add(time.Minute).Unix(),
				"redirect_uri": jarRedirect, "response_type": "code", "scope": "openid", "code_challenge": challenge, "code_challenge_method": "S256"})
		}, "request object is not valid"},
		{"nested request_uri", func() string {
			return requestObject(t, e, k, challenge, map[string]any{"request_uri": "https://attacker.example/r"})
		}, "request object is not valid"},
		{"encrypted", func() string { return "a.b.c.d.e" }, "request object is not valid"},
		{"another kind of JWT (typ)", func() string {
			sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.priv}, (&jose.SignerOptions{}).WithHeader("kid", k.kid).WithType("dpop+jwt"))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := json.Marshal(map[string]any{"iss": jarID, "aud": e.issuer, "exp": now.Add(time.Minute).Unix(), "redirect_uri": jarRedirect,
				"response_type": "code", "scope": "openid", "code_challenge": challenge, "code_challenge_method": "S256"})
			jws, err := sig.Sign(body)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := jws.CompactSerialize()
			return out
		}, "request object is not valid"},
		{"not a JWT", func() string { return "garbage" }, "request object is not valid"},
		{"unregistered redirect_uri inside", func() string {
			return requestObject(t, e, k, challenge, map[string]any{"redirect_uri": "https://evil.example/cb"})
		}, "redirect_uri is not registered"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			authorizeRefused(t, e, url.Values{"client_id": {jarID}, "request": {tc.req()}}, tc.want)
		})
	}
	t.Run("malformed claims parameter inside", func(t *testing.T) {
		// A valid object whose claims parameter is not the OIDC Core 5.5 shape: refused
		// at the client's redirect URI like the same parameter in a query.
		p := e.browser().get(e.issuer + "/authorize?" + url.Values{"client_id": {jarID},
			"request": {requestObject(t, e, k, challenge, map[string]any{"claims": map[string]any{"id_token": "all"}})}}.Encode())
		if q := callbackParams(t, p.location); p.status != http.StatusSeeOther || q.Get("error") != "invalid_request" {
			t.Fatalf("got %d %q", p.status, p.location)
		}
	})
}

// TestUnsignedRequestObjects: alg none is accepted only from a client configured with
// allow_unsigned_request_objects, and its claims are checked like a signed object's.
func TestUnsignedRequestObjects(t *testing.T) {
	e := parEnv(t, newClientKey(t, "k1"), false)
	_, challenge := pkce(oauth2.GenerateVerifier())
	now := e.clock.Now()
	claims := func(aud string) map[string]any {
		return map[string]any{"iss": unsignedID, "aud": aud, "exp": now.Add(time.Minute).Unix(),
			"redirect_uri": jarRedirect, "response_type": "code", "scope": "openid", "state": "u", "code_challenge": challenge, "code_challenge_method": "S256"}
	}
	p := e.browser().get(e.issuer + "/authorize?" + url.Values{"client_id": {unsignedID}, "request": {unsigned(t, claims(e.issuer))}}.Encode())
	if p.status != http.StatusFound && p.status != http.StatusSeeOther || strings.HasPrefix(p.location, jarRedirect) {
		t.Fatalf("allowed unsigned object: %d %q %.300s", p.status, p.location, p.body)
	}
	authorizeRefused(t, e, url.Values{"client_id": {unsignedID}, "request": {unsigned(t, claims("https://other.example"))}}, "request object is not valid")
}

// TestPushedRequestObject: a request object pushed to /par (private_key_jwt client
// authentication and a signed object) is what /authorize uses.
func TestPushedRequestObject(t *testing.T) {
	k := newClientKey(t, "k1")
	e := parEnv(t, k, false)
	_, challenge := pkce(oauth2.GenerateVerifier())
	f := assertionForm(k.assertion(t, jarID, e.issuer, e.clock.Now(), nil), url.Values{
		"client_id": {jarID}, "request": {requestObject(t, e, k, challenge, nil)}})
	uri := pushOK(t, e, f, "", "")
	to := e.login(e.browser(), e.issuer+"/authorize?"+url.Values{"client_id": {jarID}, "request_uri": {uri}}.Encode(), alicePassword, true)
	if cb := callbackParams(t, to); !strings.HasPrefix(to, jarRedirect) || cb.Get("state") != "obj-state" || cb.Get("code") == "" {
		t.Fatalf("callback %q", to)
	}
	// A bad object is refused at the endpoint, as JSON.
	f = assertionForm(k.assertion(t, jarID, e.issuer, e.clock.Now(), nil), url.Values{
		"client_id": {jarID}, "request": {requestObject(t, e, k, challenge, map[string]any{"aud": "https://other.example"})}})
	if status, body := push(t, e, f, "", ""); status != 400 || body["error"] != "invalid_request_object" {
		t.Fatalf("bad pushed object: %d %v", status, body)
	}
}

// TestDiscoveryAdvertisesPARAndRequestObjects checks the metadata of items 6 and 7.
func TestDiscoveryAdvertisesPARAndRequestObjects(t *testing.T) {
	e := parEnv(t, newClientKey(t, "k1"), false)
	m := discoveryDoc(t, e)
	algs, _ := m["request_object_signing_alg_values_supported"].([]any)
	if m["request_parameter_supported"] != true || m["request_uri_parameter_supported"] != false || len(algs) == 0 {
		t.Fatalf("discovery: %v", m)
	}
	for _, a := range algs {
		if a == "none" {
			t.Fatal("alg none advertised")
		}
	}
}
