package broker_test

import (
	"crypto/ecdsa"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/broker/dpop/dpoptest"
	"github.com/gatehouse-id/gatehouse/config"
)

const (
	dpopSvcID      = "svc"
	dpopSvcSecret  = "svc-secret-0123456789"
	dpopBoundID    = "bound"
	dpopBoundSecrt = "bound-secret-0123456789"
)

// dpopEnv is the harness with a client_credentials client, one with
// dpop_bound_access_tokens, and nonces on when nonce is set.
func dpopEnv(t *testing.T, nonce bool) *env {
	t.Helper()
	return newEnvOpts(t, envOpts{config: func(cfg *config.Config) {
		cfg.Clients = append(cfg.Clients,
			config.Client{ID: dpopSvcID, Secret: dpopSvcSecret, GrantTypes: []string{"client_credentials"}},
			config.Client{ID: dpopBoundID, Secret: dpopBoundSecrt, GrantTypes: []string{"client_credentials"}, DPoPBoundAccessTokens: true})
		cfg.DPoP.Nonce = nonce
	}})
}

// dpopResp is an answer of the broker to a request with (or without) a DPoP proof.
type dpopResp struct {
	status int
	body   map[string]any
	header http.Header
}

func (r dpopResp) errCode() string { s, _ := r.body["error"].(string); return s }

// dpopPost posts a form to the token endpoint with Basic credentials (when secret is set)
// and the given DPoP header values.
func dpopPost(t *testing.T, e *env, form url.Values, id, secret string, proofs ...string) dpopResp {
	t.Helper()
	return dpopPostTo(t, e, "/token", form, id, secret, proofs...)
}

// dpopPostTo is dpopPost to another endpoint.
func dpopPostTo(t *testing.T, e *env, path string, form url.Values, id, secret string, proofs ...string) dpopResp {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(id, secret)
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	return dpopDo(t, e, req)
}

func dpopDo(t *testing.T, e *env, req *http.Request) dpopResp {
	t.Helper()
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&body) //nolint:errcheck // an empty body stays empty
	return dpopResp{resp.StatusCode, body, resp.Header}
}

// userinfoWith calls GET /userinfo with the Authorization scheme and token and the proofs.
func userinfoWith(t *testing.T, e *env, scheme, token string, proofs ...string) dpopResp {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.issuer+"/userinfo", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", scheme+" "+token)
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	return dpopDo(t, e, req)
}

var ccForm = url.Values{"grant_type": {"client_credentials"}}

// TestDPoPClientCredentials: a valid proof binds the token (cnf.jkt = the key's thumbprint,
// token_type DPoP), and introspection reports the binding; without a proof the token is a
// plain bearer token.
func TestDPoPClientCredentials(t *testing.T) {
	e := dpopEnv(t, false)
	k := dpoptest.NewKey()
	r := dpopPost(t, e, ccForm, dpopSvcID, dpopSvcSecret, k.Proof("POST", e.issuer+"/token", dpoptest.Options{}))
	if r.status != http.StatusOK || r.body["token_type"] != "DPoP" {
		t.Fatalf("token: %d %v", r.status, r.body)
	}
	at := r.body["access_token"].(string)
	if cnf, _ := jwtClaims(t, at)["cnf"].(map[string]any); cnf["jkt"] != k.JKT() {
		t.Fatalf("cnf = %v, want jkt %s", cnf, k.JKT())
	}
	in := dpopPostTo(t, e, "/introspect", url.Values{"token": {at}}, dpopSvcID, dpopSvcSecret)
	if in.body["active"] != true || in.body["token_type"] != "DPoP" || in.body["cnf"].(map[string]any)["jkt"] != k.JKT() {
		t.Fatalf("introspection: %v", in.body)
	}
	plain := dpopPost(t, e, ccForm, dpopSvcID, dpopSvcSecret)
	if plain.status != http.StatusOK || plain.body["token_type"] != "Bearer" || jwtClaims(t, plain.body["access_token"].(string))["cnf"] != nil {
		t.Fatalf("without a proof: %d %v", plain.status, plain.body)
	}
}

// TestDPoPTokenProofRefused: every RFC 9449 4.3 rule at the token endpoint, each refused with
// 400 invalid_dpop_proof and no token.
func TestDPoPTokenProofRefused(t *testing.T) {
	e := dpopEnv(t, false)
	k := dpoptest.NewKey()
	tokenURL := e.issuer + "/token"
	hs := func() string {
		secret := []byte("0123456789abcdef0123456789abcdef")
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret},
			(&jose.SignerOptions{}).WithType("dpop+jwt").WithHeader("jwk", jose.JSONWebKey{Key: secret}))
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(map[string]any{"jti": "hs", "htm": "POST", "htu": tokenURL, "iat": time.Now().Unix()})
		jws, err := s.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := jws.CompactSerialize()
		return out
	}()
	replayed := k.Proof("POST", tokenURL, dpoptest.Options{})
	if r := dpopPost(t, e, ccForm, dpopSvcID, dpopSvcSecret, replayed); r.status != http.StatusOK {
		t.Fatalf("first use of the proof: %d %v", r.status, r.body)
	}
	tests := []struct {
		name   string
		proofs []string
	}{
		{"another htu", []string{k.Proof("POST", e.issuer+"/userinfo", dpoptest.Options{})}},
		{"another host", []string{k.Proof("POST", "http://evil.example/token", dpoptest.Options{})}},
		{"another htm", []string{k.Proof("GET", tokenURL, dpoptest.Options{})}},
		{"replayed jti", []string{replayed}},
		{"stale iat", []string{k.Proof("POST", tokenURL, dpoptest.Options{IssuedAt: time.Now().Add(-2 * time.Minute)})}},
		{"iat in the future", []string{k.Proof("POST", tokenURL, dpoptest.Options{IssuedAt: time.Now().Add(time.Minute)})}},
		{"symmetric alg", []string{hs}},
		{"private key in jwk", []string{k.Proof("POST", tokenURL, dpoptest.Options{JWK: &jose.JSONWebKey{Key: k.Private.(*ecdsa.PrivateKey)}})}},
		{"typ not dpop+jwt", []string{k.Proof("POST", tokenURL, dpoptest.Options{Typ: "JWT"})}},
		{"ath at the token endpoint", []string{k.Proof("POST", tokenURL, dpoptest.Options{AccessToken: "x"})}},
		{"two DPoP headers", []string{k.Proof("POST", tokenURL, dpoptest.Options{}), k.Proof("POST", tokenURL, dpoptest.Options{})}},
		{"not a JWT", []string{"garbage"}},
		{"oversized", []string{strings.Repeat("a", 9<<10)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := dpopPost(t, e, ccForm, dpopSvcID, dpopSvcSecret, tc.proofs...)
			if r.status != http.StatusBadRequest || r.errCode() != "invalid_dpop_proof" || r.body["access_token"] != nil {
				t.Fatalf("got %d %v, want 400 invalid_dpop_proof", r.status, r.body)
			}
		})
	}
	// The Host header does not make another htu acceptable: htu is checked against the URL
	// derived from the issuer.
	req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(ccForm.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(dpopSvcID, dpopSvcSecret)
	req.Host = "evil.example"
	req.Header.Set("DPoP", k.Proof("POST", "http://evil.example/token", dpoptest.Options{}))
	if r := dpopDo(t, e, req); r.errCode() != "invalid_dpop_proof" {
		t.Fatalf("htu matching a forged Host: %d %v", r.status, r.body)
	}
}

// TestDPoPBoundClient: a client with dpop_bound_access_tokens gets no token without a proof.
func TestDPoPBoundClient(t *testing.T) {
	e := dpopEnv(t, false)
	if r := dpopPost(t, e, ccForm, dpopBoundID, dpopBoundSecrt); r.status != http.StatusBadRequest || r.errCode() != "invalid_dpop_proof" {
		t.Fatalf("without a proof: %d %v", r.status, r.body)
	}
	k := dpoptest.NewKey()
	if r := dpopPost(t, e, ccForm, dpopBoundID, dpopBoundSecrt, k.Proof("POST", e.issuer+"/token", dpoptest.Options{})); r.status != http.StatusOK || r.body["token_type"] != "DPoP" {
		t.Fatalf("with a proof: %d %v", r.status, r.body)
	}
}

// TestDPoPNonce: with dpop.nonce, a proof without the server's nonce gets 400
// use_dpop_nonce and a DPoP-Nonce header; the retry with it is accepted; a made-up nonce is
// refused.
func TestDPoPNonce(t *testing.T) {
	e := dpopEnv(t, true)
	k := dpoptest.NewKey()
	tokenURL := e.issuer + "/token"
	r := dpopPost(t, e, ccForm, dpopSvcID, dpopSvcSecret, k.Proof("POST", tokenURL, dpoptest.Options{}))
	nonce := r.header.Get("DPoP-Nonce")
	if r.status != http.StatusBadRequest || r.errCode() != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("without a nonce: %d %v nonce %q", r.status, r.body, nonce)
	}
	if r := dpopPost(t, e, ccForm, dpopSvcID, dpopSvcSecret, k.Proof("POST", tokenURL, dpoptest.Options{Nonce: "bm9uY2U"})); r.errCode() != "use_dpop_nonce" {
		t.Fatalf("made-up nonce: %d %v", r.status, r.body)
	}
	r = dpopPost(t, e, ccForm, dpopSvcID, dpopSvcSecret, k.Proof("POST", tokenURL, dpoptest.Options{Nonce: nonce}))
	if r.status != http.StatusOK || r.body["token_type"] != "DPoP" || r.header.Get("DPoP-Nonce") == "" {
		t.Fatalf("with the nonce: %d %v", r.status, r.body)
	}
}

// TestDPoPReplayRace: one proof presented by many clients at once is accepted once.
func TestDPoPReplayRace(t *testing.T) {
	e := dpopEnv(t, false)
	proof := dpoptest.NewKey().Proof("POST", e.issuer+"/token", dpoptest.Options{})
	var ok, refused atomic.Int32
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			switch r := dpopPost(t, e, ccForm, dpopSvcID, dpopSvcSecret, proof); {
			case r.status == http.StatusOK:
				ok.Add(1)
			case r.errCode() == "invalid_dpop_proof":
				refused.Add(1)
			default:
				t.Errorf("unexpected answer %d %v", r.status, r.body)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || refused.Load() != 11 {
		t.Fatalf("accepted %d, refused %d; want 1 and 11", ok.Load(), refused.Load())
	}
}

// publicCode signs alice in through the public client with PKCE (and extra authorization
// parameters) and returns the code and verifier.
func publicCode(e *env, extra url.Values) (string, string) {
	e.t.Helper()
	verifier, challenge := pkce(oauth2.GenerateVerifier())
	q := url.Values{"client_id": {publicID}, "redirect_uri": {"http://127.0.0.1/cb"}, "response_type": {"code"},
		"scope": {"openid profile offline_access"}, "state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	for k, v := range extra {
		q[k] = v
	}
	to := e.login(e.browser(), e.issuer+"/authorize?"+q.Encode(), alicePassword, true)
	return callbackParams(e.t, to).Get("code"), verifier
}

func publicCodeForm(code, verifier string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"http://127.0.0.1/cb"},
		"code_verifier": {verifier}, "client_id": {publicID}}
}

// TestDPoPCodeFlow: dpop_jkt binds the code to a key (another key cannot redeem it); the
// public client's tokens are bound to its key; userinfo takes the bound token only with the
// DPoP scheme and a proof for this request; the refresh token is refreshed only with a proof
// of the same key.
func TestDPoPCodeFlow(t *testing.T) {
	e := dpopEnv(t, false)
	k, other := dpoptest.NewKey(), dpoptest.NewKey()
	tokenURL, uiURL := e.issuer+"/token", e.issuer+"/userinfo"

	code, verifier := publicCode(e, url.Values{"dpop_jkt": {k.JKT()}})
	if r := dpopPost(t, e, publicCodeForm(code, verifier), "", "", other.Proof("POST", tokenURL, dpoptest.Options{})); r.errCode() != "invalid_grant" {
		t.Fatalf("code bound by dpop_jkt redeemed with another key: %d %v", r.status, r.body)
	}
	code, verifier = publicCode(e, url.Values{"dpop_jkt": {k.JKT()}})
	if r := dpopPost(t, e, publicCodeForm(code, verifier), "", ""); r.errCode() != "invalid_grant" {
		t.Fatalf("code bound by dpop_jkt redeemed without a proof: %d %v", r.status, r.body)
	}
	code, verifier = publicCode(e, url.Values{"dpop_jkt": {k.JKT()}})
	r := dpopPost(t, e, publicCodeForm(code, verifier), "", "", k.Proof("POST", tokenURL, dpoptest.Options{}))
	if r.status != http.StatusOK || r.body["token_type"] != "DPoP" || r.body["refresh_token"] == nil {
		t.Fatalf("code redeemed with its key: %d %v", r.status, r.body)
	}
	at, rt := r.body["access_token"].(string), r.body["refresh_token"].(string)

	t.Run("userinfo", func(t *testing.T) {
		ok := userinfoWith(t, e, "DPoP", at, k.Proof("GET", uiURL, dpoptest.Options{AccessToken: at}))
		if ok.status != http.StatusOK || ok.body["sub"] == nil {
			t.Fatalf("userinfo with a proof: %d %v", ok.status, ok.body)
		}
		replay := k.Proof("GET", uiURL, dpoptest.Options{AccessToken: at})
		if r := userinfoWith(t, e, "DPoP", at, replay); r.status != http.StatusOK {
			t.Fatalf("first use: %d %v", r.status, r.body)
		}
		tests := []struct {
			name, scheme, wantErr string
			proofs                []string
		}{
			{"bound token as Bearer", "Bearer", "invalid_token", nil},
			{"bound token as Bearer with a proof", "Bearer", "invalid_token", []string{k.Proof("GET", uiURL, dpoptest.Options{AccessToken: at})}},
			{"DPoP scheme without a proof", "DPoP", "invalid_dpop_proof", nil},
			{"proof for another URL", "DPoP", "invalid_dpop_proof", []string{k.Proof("GET", tokenURL, dpoptest.Options{AccessToken: at})}},
			{"proof for another method", "DPoP", "invalid_dpop_proof", []string{k.Proof("POST", uiURL, dpoptest.Options{AccessToken: at})}},
			{"wrong ath", "DPoP", "invalid_dpop_proof", []string{k.Proof("GET", uiURL, dpoptest.Options{AccessToken: at + "x"})}},
			{"no ath", "DPoP", "invalid_dpop_proof", []string{k.Proof("GET", uiURL, dpoptest.Options{})}},
			{"replayed proof", "DPoP", "invalid_dpop_proof", []string{replay}},
			{"proof of another key", "DPoP", "invalid_dpop_proof", []string{other.Proof("GET", uiURL, dpoptest.Options{AccessToken: at})}},
			{"stale proof", "DPoP", "invalid_dpop_proof", []string{k.Proof("GET", uiURL, dpoptest.Options{AccessToken: at, IssuedAt: time.Now().Add(-5 * time.Minute)})}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := userinfoWith(t, e, tc.scheme, at, tc.proofs...)
				wa := r.header.Get("WWW-Authenticate")
				if r.status != http.StatusUnauthorized || !strings.HasPrefix(wa, "DPoP ") || !strings.Contains(wa, `error="`+tc.wantErr+`"`) {
					t.Fatalf("got %d %q %v, want 401 with a DPoP challenge error=%q", r.status, wa, r.body, tc.wantErr)
				}
				if r.body["sub"] != nil {
					t.Fatal("claims released")
				}
			})
		}
	})

	t.Run("refresh", func(t *testing.T) {
		refreshForm := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {publicID}}
		if r := dpopPost(t, e, refreshForm, "", ""); r.errCode() != "invalid_grant" {
			t.Fatalf("refresh without a proof: %d %v", r.status, r.body)
		}
		if r := dpopPost(t, e, refreshForm, "", "", other.Proof("POST", tokenURL, dpoptest.Options{})); r.errCode() != "invalid_grant" {
			t.Fatalf("refresh with another key: %d %v", r.status, r.body)
		}
		// Neither attempt used up the token.
		r := dpopPost(t, e, refreshForm, "", "", k.Proof("POST", tokenURL, dpoptest.Options{}))
		if r.status != http.StatusOK || r.body["token_type"] != "DPoP" {
			t.Fatalf("refresh with the key: %d %v", r.status, r.body)
		}
		if cnf, _ := jwtClaims(t, r.body["access_token"].(string))["cnf"].(map[string]any); cnf["jkt"] != k.JKT() {
			t.Fatalf("refreshed token cnf = %v", cnf)
		}
	})
}

// TestDPoPConfidentialRefresh: a confidential client's refresh token is bound to its
// authentication, not a key (RFC 9449 5): it may refresh with a new key, and the new access
// token is bound to that key.
func TestDPoPConfidentialRefresh(t *testing.T) {
	e := dpopEnv(t, false)
	code, verifier := e.codeFor(e.browser(), "openid offline_access")
	k1, k2 := dpoptest.NewKey(), dpoptest.NewKey()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	r := dpopPost(t, e, form, confidentialID, confidentialSecret, k1.Proof("POST", e.issuer+"/token", dpoptest.Options{}))
	if r.status != http.StatusOK || r.body["token_type"] != "DPoP" {
		t.Fatalf("code: %d %v", r.status, r.body)
	}
	r = dpopPost(t, e, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.body["refresh_token"].(string)}},
		confidentialID, confidentialSecret, k2.Proof("POST", e.issuer+"/token", dpoptest.Options{}))
	if r.status != http.StatusOK {
		t.Fatalf("refresh with a new key: %d %v", r.status, r.body)
	}
	if cnf, _ := jwtClaims(t, r.body["access_token"].(string))["cnf"].(map[string]any); cnf["jkt"] != k2.JKT() {
		t.Fatalf("refreshed token cnf = %v, want the new key", cnf)
	}
}

// TestDPoPDiscovery: the metadata lists the proof algorithms, asymmetric only.
func TestDPoPDiscovery(t *testing.T) {
	e := dpopEnv(t, false)
	resp, err := e.srv.Client().Get(e.issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	algs, _ := doc["dpop_signing_alg_values_supported"].([]any)
	if len(algs) == 0 {
		t.Fatalf("dpop_signing_alg_values_supported = %v", doc["dpop_signing_alg_values_supported"])
	}
	for _, a := range algs {
		if s := a.(string); s == "none" || strings.HasPrefix(s, "HS") {
			t.Errorf("advertises %s", s)
		}
	}
}

// TestDPoPNonceCORS: a browser client on an allowed origin can read the DPoP-Nonce of a
// token response (and send the DPoP header after a preflight).
func TestDPoPNonceCORS(t *testing.T) {
	const origin = "https://spa.example"
	e := newEnvOpts(t, envOpts{config: func(cfg *config.Config) {
		cfg.Clients = append(cfg.Clients, config.Client{ID: dpopSvcID, Secret: dpopSvcSecret, GrantTypes: []string{"client_credentials"}})
		cfg.Web.AllowedOrigins = []string{origin}
		cfg.DPoP.Nonce = true
	}})
	pre, _ := http.NewRequest(http.MethodOptions, e.issuer+"/token", nil)
	pre.Header.Set("Origin", origin)
	pre.Header.Set("Access-Control-Request-Method", "POST")
	pre.Header.Set("Access-Control-Request-Headers", "dpop")
	if r := dpopDo(t, e, pre); !strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "DPoP") {
		t.Fatalf("preflight allows %q", r.header.Get("Access-Control-Allow-Headers"))
	}
	req, _ := http.NewRequest(http.MethodPost, e.issuer+"/token", strings.NewReader(ccForm.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	req.SetBasicAuth(dpopSvcID, dpopSvcSecret)
	req.Header.Set("DPoP", dpoptest.NewKey().Proof("POST", e.issuer+"/token", dpoptest.Options{}))
	r := dpopDo(t, e, req)
	if r.errCode() != "use_dpop_nonce" || r.header.Get("DPoP-Nonce") == "" || !strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "DPoP-Nonce") {
		t.Fatalf("got %d %v, exposed %q", r.status, r.body, r.header.Get("Access-Control-Expose-Headers"))
	}
}

// TestDPoPDeviceGrant: the poll that gets the tokens of an approved device code binds them
// to its proof's key, and the public device client's refresh token needs that key.
func TestDPoPDeviceGrant(t *testing.T) {
	s := deviceServer(t)
	e := envOf(t, s)
	code, uc, complete := deviceStart(t, s, "tv", "openid offline_access")
	if p := deviceApprove(t, s, complete, uc, "allow"); p.Status != http.StatusOK {
		t.Fatalf("approval: %d", p.Status)
	}
	s.Clock.Advance(6 * time.Second)
	k := dpoptest.NewKey()
	poll := url.Values{"grant_type": {deviceGrant}, "device_code": {code}, "client_id": {"tv"}}
	r := dpopPost(t, e, poll, "", "", k.Proof("POST", e.issuer+"/token", dpoptest.Options{}))
	if r.status != http.StatusOK || r.body["token_type"] != "DPoP" {
		t.Fatalf("poll: %d %v", r.status, r.body)
	}
	if cnf, _ := jwtClaims(t, r.body["access_token"].(string))["cnf"].(map[string]any); cnf["jkt"] != k.JKT() {
		t.Fatalf("cnf = %v", cnf)
	}
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.body["refresh_token"].(string)}, "client_id": {"tv"}}
	if r := dpopPost(t, e, refresh, "", ""); r.errCode() != "invalid_grant" {
		t.Fatalf("refresh without the key: %d %v", r.status, r.body)
	}
	if r := dpopPost(t, e, refresh, "", "", k.Proof("POST", e.issuer+"/token", dpoptest.Options{})); r.status != http.StatusOK || r.body["token_type"] != "DPoP" {
		t.Fatalf("refresh with the key: %d %v", r.status, r.body)
	}
}

// TestDPoPAcrossReplicas: two replicas on one database behave as one server: a nonce one
// issued is accepted by the other, and a proof one accepted is a replay at the other.
func TestDPoPAcrossReplicas(t *testing.T) {
	dir := t.TempDir()
	const issuer = "http://127.0.0.1:1" // both replicas' issuer; the proofs name it
	replica := func() *brokertest.Server {
		return brokertest.New(t, brokertest.Options{Dir: dir, Issuer: issuer, Config: func(c *config.Config) {
			c.Clients = append(c.Clients, config.Client{ID: dpopSvcID, Secret: dpopSvcSecret, GrantTypes: []string{"client_credentials"}})
			c.DPoP.Nonce = true
		}})
	}
	a, b := replica(), replica()
	post := func(s *brokertest.Server, proof string) dpopResp {
		req, _ := http.NewRequest(http.MethodPost, s.HTTP.URL+"/token", strings.NewReader(ccForm.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(dpopSvcID, dpopSvcSecret)
		req.Header.Set("DPoP", proof)
		return dpopDo(t, envOf(t, s), req)
	}
	k := dpoptest.NewKey()
	r := post(a, k.Proof("POST", issuer+"/token", dpoptest.Options{}))
	nonce := r.header.Get("DPoP-Nonce")
	if r.errCode() != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("replica a without a nonce: %d %v", r.status, r.body)
	}
	proof := k.Proof("POST", issuer+"/token", dpoptest.Options{Nonce: nonce})
	if r := post(b, proof); r.status != http.StatusOK || r.body["token_type"] != "DPoP" {
		t.Fatalf("replica b with replica a's nonce: %d %v", r.status, r.body)
	}
	if r := post(a, proof); r.errCode() != "invalid_dpop_proof" {
		t.Fatalf("the proof replayed at replica a: %d %v", r.status, r.body)
	}
}
