package broker_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/config"
)

// machineClients configures a client_credentials client with a secret, one with inline
// jwks (private_key_jwt) and one whose keys are at jwksURI, plus a browser client.
func machineClients(jwks map[string]any, jwksURI string) func(*config.Config) {
	return func(c *config.Config) {
		c.Clients = append(c.Clients,
			config.Client{ID: "svc", Secret: "svc-secret", GrantTypes: []string{"client_credentials"},
				AllowedScopes: []string{"read", "write"}, AllowedAudiences: []string{"https://api.example", "https://other.example"},
				Resources: []string{"https://res.example/v1"}},
			config.Client{ID: "svc-default", Secret: "svc-default-secret", GrantTypes: []string{"client_credentials"}},
			config.Client{ID: "web", Secret: "web-secret", RedirectURIs: []string{"http://127.0.0.1:9/cb"}},
			config.Client{ID: "api", Secret: "api-secret", GrantTypes: []string{"client_credentials"}},
		)
		if jwks != nil {
			c.Clients = append(c.Clients, config.Client{ID: "jwt", JWKS: jwks, AllowedScopes: []string{"read"},
				GrantTypes: []string{"client_credentials", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"}})
		}
		if jwksURI != "" {
			c.Clients = append(c.Clients, config.Client{ID: "jwt-remote", JWKSURI: jwksURI, GrantTypes: []string{"client_credentials"}})
		}
	}
}

// postForm posts a form to the server with optional Basic credentials and decodes the JSON.
func apiPost(t *testing.T, s *brokertest.Server, path string, form url.Values, id, secret string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.Issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(id, secret)
	}
	resp, err := s.HTTP.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&body) //nolint:errcheck // an empty body stays empty
	return resp.StatusCode, body
}

// jwtClaims decodes a JWT's payload without verifying it (the tests verify by introspection).
func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatalf("parse %q: %v", tok, err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestClientCredentialsGrant(t *testing.T) {
	s := brokertest.New(t, brokertest.Options{Config: machineClients(nil, "")})
	cc := func(extra url.Values) url.Values {
		f := url.Values{"grant_type": {"client_credentials"}}
		for k, v := range extra {
			f[k] = v
		}
		return f
	}
	tests := []struct {
		name       string
		id, secret string
		form       url.Values
		status     int
		errCode    string
		scope      string
		aud        string
	}{
		{"default scopes and audience", "svc", "svc-secret", cc(nil), 200, "", "read write", "https://api.example"},
		{"narrower scope", "svc", "svc-secret", cc(url.Values{"scope": {"read"}}), 200, "", "read", "https://api.example"},
		{"another allowed audience", "svc", "svc-secret", cc(url.Values{"audience": {"https://other.example"}}), 200, "", "read write", "https://other.example"},
		{"no allowed audiences: the client", "svc-default", "svc-default-secret", cc(nil), 200, "", "", "svc-default"},
		{"scope not allowed", "svc", "svc-secret", cc(url.Values{"scope": {"read admin"}}), 400, "invalid_scope", "", ""},
		{"openid is not a client scope", "svc", "svc-secret", cc(url.Values{"scope": {"openid"}}), 400, "invalid_scope", "", ""},
		{"audience not allowed", "svc", "svc-secret", cc(url.Values{"audience": {"https://evil.example"}}), 400, "invalid_target", "", ""},
		{"resource indicator (RFC 8707)", "svc", "svc-secret", cc(url.Values{"resource": {"https://res.example/v1"}}), 200, "", "read write", "https://res.example/v1"},
		{"resource not allowed", "svc", "svc-secret", cc(url.Values{"resource": {"https://res.example/v2"}}), 400, "invalid_target", "", ""},
		{"resource not absolute", "svc", "svc-secret", cc(url.Values{"resource": {"res.example/v1"}}), 400, "invalid_target", "", ""},
		{"resource with a fragment", "svc", "svc-secret", cc(url.Values{"resource": {"https://res.example/v1#a"}}), 400, "invalid_target", "", ""},
		{"repeated scope still refused", "svc", "svc-secret", url.Values{"grant_type": {"client_credentials"}, "scope": {"read", "write"}}, 400, "invalid_request", "", ""},
		{"wrong secret", "svc", "svc-secreT", cc(nil), 401, "invalid_client", "", ""},
		{"client without the grant", "web", "web-secret", cc(nil), 400, "unauthorized_client", "", ""},
		{"client_credentials client at authorization_code", "svc", "svc-secret",
			url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {"http://127.0.0.1:9/cb"}}, 400, "unauthorized_client", "", ""},
		{"client_credentials client at refresh_token", "svc", "svc-secret",
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, 400, "unauthorized_client", "", ""},
		{"unknown grant", "svc", "svc-secret", url.Values{"grant_type": {"password"}}, 400, "unsupported_grant_type", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, body := apiPost(t, s, "/token", tc.form, tc.id, tc.secret)
			if st != tc.status || (tc.errCode != "" && body["error"] != tc.errCode) {
				t.Fatalf("got %d %v, want %d %s", st, body, tc.status, tc.errCode)
			}
			if tc.status != 200 {
				return
			}
			if body["refresh_token"] != nil || body["id_token"] != nil || body["token_type"] != "Bearer" {
				t.Fatalf("response %v: want a Bearer access token only", body)
			}
			if sc, _ := body["scope"].(string); sc != tc.scope {
				t.Errorf("scope %q, want %q", sc, tc.scope)
			}
			at := body["access_token"].(string)
			c := jwtClaims(t, at)
			if c["sub"] != tc.id || c["client_id"] != tc.id || c["aud"] != tc.aud || c["gid"] != nil || c["iss"] != s.Issuer {
				t.Errorf("claims %v: want sub = client_id = %s, aud %s, no gid", c, tc.id, tc.aud)
			}
			// The client introspects its own token.
			if st, in := apiPost(t, s, "/introspect", url.Values{"token": {at}}, tc.id, tc.secret); st != 200 || in["active"] != true || in["sub"] != tc.id || in["username"] != nil {
				t.Errorf("introspection by the client: %d %v", st, in)
			}
			// Another client that is not the audience learns nothing.
			if _, in := apiPost(t, s, "/introspect", url.Values{"token": {at}}, "web", "web-secret"); in["active"] != false {
				t.Errorf("introspection by a stranger: %v", in)
			}
			// The token names no user: userinfo refuses it.
			req, _ := http.NewRequest(http.MethodGet, s.Issuer+"/userinfo", nil)
			req.Header.Set("Authorization", "Bearer "+at)
			resp, err := s.HTTP.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("userinfo with a client token: %d, want 401", resp.StatusCode)
			}
		})
	}
}

// TestAuthorizeRefusesClientWithoutCodeGrant: a client whose grant_types lack
// authorization_code cannot start a login.
func TestAuthorizeRefusesClientWithoutCodeGrant(t *testing.T) {
	s := brokertest.New(t, brokertest.Options{Config: func(c *config.Config) {
		machineClients(nil, "")(c)
		c.Clients = append(c.Clients, config.Client{ID: "cli", Secret: "cli-secret", RedirectURIs: []string{"http://127.0.0.1:9/cb"},
			GrantTypes: []string{"client_credentials"}})
	}})
	b := s.Browser()
	for _, tc := range []struct{ client, want string }{{"cli", "unauthorized_client"}, {"web", ""}} {
		q := url.Values{"client_id": {tc.client}, "response_type": {"code"}, "scope": {"openid"}, "redirect_uri": {"http://127.0.0.1:9/cb"}, "state": {"s"}}
		p := b.Get(s.Issuer + "/authorize?" + q.Encode())
		loc := p.Location
		got := ""
		if u, err := url.Parse(loc); err == nil {
			got = u.Query().Get("error")
		}
		if got != tc.want {
			t.Errorf("%s: redirect %q (status %d), want error %q", tc.client, loc, p.Status, tc.want)
		}
	}
}

// clientKey is a private_key_jwt client's ES256 key.
type clientKey struct {
	priv *ecdsa.PrivateKey
	kid  string
}

func newClientKey(t *testing.T, kid string) clientKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return clientKey{priv: k, kid: kid}
}

func (k clientKey) publicJWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: &k.priv.PublicKey, KeyID: k.kid, Algorithm: "ES256", Use: "sig"}
}

// jwksMap is the key set as a config mapping.
func jwksMap(t *testing.T, keys ...clientKey) map[string]any {
	t.Helper()
	set := jose.JSONWebKeySet{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.publicJWK())
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// assertion signs a client assertion with claims over the defaults (iss = sub = client,
// aud = issuer, exp in a minute, a fresh jti); a nil value removes a claim.
func (k clientKey) assertion(t *testing.T, client, aud string, now time.Time, over map[string]any) string {
	t.Helper()
	c := map[string]any{"iss": client, "sub": client, "aud": aud, "exp": now.Add(time.Minute).Unix(),
		"iat": now.Unix(), "jti": rand.Text()}
	for n, v := range over {
		if v == nil {
			delete(c, n)
		} else {
			c[n] = v
		}
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.priv},
		(&jose.SignerOptions{}).WithHeader("kid", k.kid).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(c)
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

func assertionForm(a string, extra url.Values) url.Values {
	f := url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

// jwksServer serves a key set that the test can replace, and counts fetches.
type jwksServer struct {
	mu      sync.Mutex
	set     jose.JSONWebKeySet
	fetches atomic.Int32
}

func (j *jwksServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	j.fetches.Add(1)
	j.mu.Lock()
	defer j.mu.Unlock()
	_ = json.NewEncoder(w).Encode(j.set) //nolint:errcheck // test server
}

func (j *jwksServer) serve(keys ...clientKey) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.set = jose.JSONWebKeySet{}
	for _, k := range keys {
		j.set.Keys = append(j.set.Keys, k.publicJWK())
	}
}

func TestPrivateKeyJWT(t *testing.T) {
	key, other := newClientKey(t, "k1"), newClientKey(t, "k1")
	dir := t.TempDir()
	s := brokertest.New(t, brokertest.Options{Dir: dir, Config: machineClients(jwksMap(t, key), "")})
	tokenURL := s.Issuer + "/token"
	cc := url.Values{"grant_type": {"client_credentials"}}
	now := s.Clock.Now
	replayed := key.assertion(t, "jwt", s.Issuer, now(), nil)
	if st, body := apiPost(t, s, "/token", assertionForm(replayed, cc), "", ""); st != 200 {
		t.Fatalf("first use: %d %v", st, body)
	}
	tests := []struct {
		name      string
		assertion string
		extra     url.Values
		id, pass  string // Basic credentials sent as well
		status    int
		errCode   string
	}{
		{"aud = issuer", key.assertion(t, "jwt", s.Issuer, now(), nil), nil, "", "", 200, ""},
		{"aud = token endpoint", key.assertion(t, "jwt", tokenURL, now(), nil), nil, "", "", 200, ""},
		{"aud array naming the issuer", key.assertion(t, "jwt", "", now(), map[string]any{"aud": []string{"x", s.Issuer}}), nil, "", "", 200, ""},
		{"matching client_id", key.assertion(t, "jwt", s.Issuer, now(), nil), url.Values{"client_id": {"jwt"}}, "", "", 200, ""},
		{"replayed jti", replayed, nil, "", "", 401, "invalid_client"},
		{"wrong aud", key.assertion(t, "jwt", s.Issuer+"/userinfo", now(), nil), nil, "", "", 401, "invalid_client"},
		{"expired", key.assertion(t, "jwt", s.Issuer, now(), map[string]any{"exp": now().Add(-time.Minute).Unix()}), nil, "", "", 401, "invalid_client"},
		{"exp too far ahead", key.assertion(t, "jwt", s.Issuer, now(), map[string]any{"exp": now().Add(time.Hour).Unix()}), nil, "", "", 401, "invalid_client"},
		{"no exp", key.assertion(t, "jwt", s.Issuer, now(), map[string]any{"exp": nil}), nil, "", "", 401, "invalid_client"},
		{"no jti", key.assertion(t, "jwt", s.Issuer, now(), map[string]any{"jti": nil}), nil, "", "", 401, "invalid_client"},
		{"nbf in the future", key.assertion(t, "jwt", s.Issuer, now(), map[string]any{"nbf": now().Add(2 * time.Minute).Unix()}), nil, "", "", 401, "invalid_client"},
		{"iss differs from sub", key.assertion(t, "jwt", s.Issuer, now(), map[string]any{"iss": "svc"}), nil, "", "", 401, "invalid_client"},
		{"another client's name", key.assertion(t, "svc", s.Issuer, now(), nil), nil, "", "", 401, "invalid_client"},
		{"signed by another key with the same kid", other.assertion(t, "jwt", s.Issuer, now(), nil), nil, "", "", 401, "invalid_client"},
		{"client_id differs", key.assertion(t, "jwt", s.Issuer, now(), nil), url.Values{"client_id": {"svc"}}, "", "", 401, "invalid_client"},
		{"not a JWT", "abc.def", nil, "", "", 401, "invalid_client"},
		{"unsigned (alg none)", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJqd3QifQ.", nil, "", "", 401, "invalid_client"},
		{"wrong assertion type", key.assertion(t, "jwt", s.Issuer, now(), nil), url.Values{"client_assertion_type": {"urn:x"}}, "", "", 400, "invalid_request"},
		{"assertion and Basic", key.assertion(t, "jwt", s.Issuer, now(), nil), nil, "svc", "svc-secret", 400, "invalid_request"},
		{"scope beyond the client's", key.assertion(t, "jwt", s.Issuer, now(), nil), url.Values{"scope": {"write"}}, "", "", 400, "invalid_scope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			form := assertionForm(tc.assertion, cc)
			for k, v := range tc.extra {
				form[k] = v
			}
			st, body := apiPost(t, s, "/token", form, tc.id, tc.pass)
			if st != tc.status || (tc.errCode != "" && body["error"] != tc.errCode) {
				t.Fatalf("got %d %v, want %d %s", st, body, tc.status, tc.errCode)
			}
		})
	}
	t.Run("a keyed client cannot use a secret", func(t *testing.T) {
		if st, body := apiPost(t, s, "/token", cc, "jwt", ""); st != 401 || body["error"] != "invalid_client" {
			t.Fatalf("got %d %v", st, body)
		}
	})
	t.Run("introspection and revocation", func(t *testing.T) {
		_, tok := apiPost(t, s, "/token", assertionForm(key.assertion(t, "jwt", s.Issuer, now(), nil), cc), "", "")
		at, _ := tok["access_token"].(string)
		st, in := apiPost(t, s, "/introspect", assertionForm(key.assertion(t, "jwt", s.Issuer, now(), nil), url.Values{"token": {at}}), "", "")
		if st != 200 || in["active"] != true || in["client_id"] != "jwt" {
			t.Fatalf("introspection: %d %v", st, in)
		}
		if st, in := apiPost(t, s, "/introspect", assertionForm(replayed, url.Values{"token": {at}}), "", ""); st != 401 {
			t.Fatalf("introspection with a replayed assertion: %d %v", st, in)
		}
		if st, body := apiPost(t, s, "/revoke", assertionForm(key.assertion(t, "jwt", s.Issuer, now(), nil), url.Values{"token": {at}}), "", ""); st != 200 {
			t.Fatalf("revocation: %d %v", st, body)
		}
		if st, _ := apiPost(t, s, "/revoke", assertionForm(replayed, url.Values{"token": {at}}), "", ""); st != 401 {
			t.Fatalf("revocation with a replayed assertion: %d", st)
		}
	})
	t.Run("device authorization endpoint", func(t *testing.T) {
		a := key.assertion(t, "jwt", s.Issuer, now(), nil)
		if st, body := apiPost(t, s, "/device/code", assertionForm(a, url.Values{"scope": {"openid"}}), "", ""); st != 200 || body["device_code"] == nil {
			t.Fatalf("device code with private_key_jwt: %d %v", st, body)
		}
		if st, body := apiPost(t, s, "/device/code", assertionForm(a, url.Values{"scope": {"openid"}}), "", ""); st != 401 || body["error"] != "invalid_client" {
			t.Fatalf("device code with a replayed assertion: %d %v", st, body)
		}
	})
	t.Run("jti single-use across replicas", func(t *testing.T) {
		s2 := brokertest.New(t, brokertest.Options{Dir: dir, Config: machineClients(jwksMap(t, key), "")})
		a := key.assertion(t, "jwt", s.Issuer, now(), nil)
		// The replicas share the issuer name only in claims: aud must be the second's issuer.
		a2 := key.assertion(t, "jwt", s2.Issuer, now(), map[string]any{"jti": jwtClaims(t, a)["jti"]})
		if st, body := apiPost(t, s, "/token", assertionForm(a, cc), "", ""); st != 200 {
			t.Fatalf("replica 1: %d %v", st, body)
		}
		if st, body := apiPost(t, s2, "/token", assertionForm(a2, cc), "", ""); st != 401 {
			t.Fatalf("the same jti at replica 2: %d %v, want 401", st, body)
		}
	})
}

// TestPrivateKeyJWTRemoteKeys: keys from a jwks_uri (on loopback) are fetched once, cached,
// and fetched again when an assertion names an unknown kid (the client rotated its key), at
// most once per 30 s.
func TestPrivateKeyJWTRemoteKeys(t *testing.T) {
	k1, k2 := newClientKey(t, "k1"), newClientKey(t, "k2")
	js := &jwksServer{}
	js.serve(k1)
	ks := httptest.NewServer(js)
	t.Cleanup(ks.Close)
	s := brokertest.New(t, brokertest.Options{Config: machineClients(jwksMap(t, k1), ks.URL+"/jwks")})
	cc := url.Values{"grant_type": {"client_credentials"}}
	try := func(k clientKey) int {
		st, _ := apiPost(t, s, "/token", assertionForm(k.assertion(t, "jwt-remote", s.Issuer, s.Clock.Now(), nil), cc), "", "")
		return st
	}
	if st := try(k1); st != 200 {
		t.Fatalf("k1: %d", st)
	}
	if st := try(k1); st != 200 || js.fetches.Load() != 1 {
		t.Fatalf("k1 again: %d after %d fetches, want 200 from the cache", st, js.fetches.Load())
	}
	js.serve(k1, k2) // the client rotates
	if st := try(k2); st != 401 || js.fetches.Load() != 1 {
		t.Fatalf("k2 right after a fetch: %d after %d fetches, want 401 without refetching", st, js.fetches.Load())
	}
	s.Clock.Advance(31 * time.Second)
	if st := try(k2); st != 200 || js.fetches.Load() != 2 {
		t.Fatalf("k2 after 31 s: %d after %d fetches, want 200 after one refetch", st, js.fetches.Load())
	}
	if st := try(newClientKey(t, "k3")); st != 401 || js.fetches.Load() != 2 {
		t.Fatalf("unknown k3: %d after %d fetches", st, js.fetches.Load())
	}
}
