package registration_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage"
)

const (
	redirect      = "https://app.example.com/cb"
	vendor        = "https://vendor.example.com"
	alicePassword = "alice-password"
)

// env is a Gatehouse with registration on, a software statement signer and the user alice.
type env struct {
	gh     *brokertest.Server
	signer *ecdsa.PrivateKey
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func jwksOf(t *testing.T, k *ecdsa.PrivateKey, kid string) map[string]any {
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func newEnv(t *testing.T, enabled bool) *env {
	t.Helper()
	e := &env{signer: newKey(t)}
	hash, err := bcrypt.GenerateFromPassword([]byte(alicePassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	e.gh = brokertest.New(t, brokertest.Options{Config: func(cfg *config.Config) {
		cfg.Users = append(cfg.Users, config.User{Username: "alice", Email: "alice@example.com", EmailVerified: true, PasswordHash: string(hash)})
		cfg.Registration = config.Registration{
			Enabled: enabled, AllowedRedirectHosts: []string{"app.example.com"},
			AllowedRedirectURIs: []string{"http://127.0.0.1:9999/cb"},
			GrantTypes:          []string{"authorization_code", "refresh_token", "client_credentials"},
			MaxClientsPerToken:  5,
			SoftwareStatement:   config.SoftwareStatement{JWKS: jwksOf(t, e.signer, "vendor-1"), Issuers: []string{vendor}},
		}
	}})
	return e
}

// iat stores an initial access token with uses and lifetime ttl and returns it.
func (e *env) iat(t *testing.T, uses int, ttl time.Duration) string {
	t.Helper()
	tok := rand.Text()
	now := e.gh.Clock.Now()
	err := e.gh.Store.(storage.RegistrationStore).CreateInitialAccessToken(context.Background(), storage.InitialAccessToken{
		ID: rand.Text(), TokenHash: clients.HashSecret(tok), MaxUses: uses, CreatedBy: "test", CreatedAt: now, ExpiresAt: now.Add(ttl)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// answer is a response's status, JSON body and WWW-Authenticate header.
type answer struct {
	status int
	body   map[string]any
	auth   string
}

// call sends a request with a bearer token and a JSON body (when body is not nil).
func (e *env) call(t *testing.T, method, u, token string, body any, contentType string) answer {
	t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := e.gh.HTTP.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() //nolint:errcheck // test
	a := answer{status: resp.StatusCode, auth: resp.Header.Get("WWW-Authenticate"), body: map[string]any{}}
	_ = json.NewDecoder(resp.Body).Decode(&a.body) //nolint:errcheck // 204 and bare 401 have no body
	return a
}

func (e *env) register(t *testing.T, token string, body any) answer {
	t.Helper()
	return e.call(t, http.MethodPost, e.gh.Issuer+"/register", token, body, "application/json")
}

// statement signs a software statement with key (kid) over claims.
func statement(t *testing.T, key *ecdsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
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

// TestRegistrationErrors sends every kind of bad registration: each is answered with the
// RFC 7591 3.2.2 (or RFC 6750) error naming what is wrong, and none uses the token up.
func TestRegistrationErrors(t *testing.T) {
	e := newEnv(t, true)
	tok := e.iat(t, 1, time.Hour)
	expired := e.iat(t, 1, time.Minute)
	e.gh.Clock.Advance(2 * time.Minute)
	now := e.gh.Clock.Now()
	other := newKey(t)
	ok := map[string]any{"redirect_uris": []string{redirect}}
	with := func(k string, v any) map[string]any {
		m := map[string]any{"redirect_uris": []string{redirect}}
		m[k] = v
		return m
	}
	vendorClaims := map[string]any{"iss": vendor, "software_id": "app-1", "exp": now.Add(time.Hour).Unix()}
	tests := []struct {
		name   string
		token  string
		ctype  string
		body   any
		status int
		code   string
		desc   string
	}{
		{"no token", "", "application/json", ok, 401, "", ""},
		{"unknown token", "nope", "application/json", ok, 401, "invalid_token", ""},
		{"expired token", expired, "application/json", ok, 401, "invalid_token", "used up or expired"},
		{"not JSON content", tok, "application/x-www-form-urlencoded", "redirect_uris=x", 400, "invalid_request", ""},
		{"not an object", tok, "application/json", `["x"]`, 400, "invalid_client_metadata", ""},
		{"two objects", tok, "application/json", `{}{}`, 400, "invalid_client_metadata", ""},
		{"redirect_uris not a list", tok, "application/json", with("redirect_uris", redirect), 400, "invalid_client_metadata", "redirect_uris"},
		{"no redirect URI", tok, "application/json", map[string]any{}, 400, "invalid_redirect_uri", "redirect_uris"},
		{"redirect on another host", tok, "application/json", with("redirect_uris", []string{"https://evil.example.com/cb"}), 400, "invalid_redirect_uri", "redirect_uris"},
		{"redirect on a suffix without a dot", tok, "application/json", with("redirect_uris", []string{"https://evilapp.example.com/cb"}), 400, "invalid_redirect_uri", "redirect_uris"},
		{"redirect over http", tok, "application/json", with("redirect_uris", []string{"http://app.example.com/cb"}), 400, "invalid_redirect_uri", "redirect_uris"},
		{"redirect with a fragment", tok, "application/json", with("redirect_uris", []string{"https://app.example.com/cb#x"}), 400, "invalid_redirect_uri", "redirect_uris"},
		{"bad post-logout redirect", tok, "application/json", with("post_logout_redirect_uris", []string{"/out"}), 400, "invalid_redirect_uri", "post_logout_redirect_uris[0]"},
		{"grant type not allowed", tok, "application/json", with("grant_types", []string{"urn:ietf:params:oauth:grant-type:device_code"}), 400, "invalid_client_metadata", "grant_types"},
		{"implicit response type", tok, "application/json", with("response_types", []string{"token"}), 400, "invalid_client_metadata", "response_types"},
		{"code without its grant", tok, "application/json", map[string]any{"redirect_uris": []string{redirect}, "response_types": []string{"code"}, "grant_types": []string{"client_credentials"}}, 400, "invalid_client_metadata", "grant_types"},
		{"unknown auth method", tok, "application/json", with("token_endpoint_auth_method", "tls_client_auth"), 400, "invalid_client_metadata", "token_endpoint_auth_method"},
		{"private_key_jwt without keys", tok, "application/json", with("token_endpoint_auth_method", "private_key_jwt"), 400, "invalid_client_metadata", "token_endpoint_auth_method"},
		{"jwks not an object", tok, "application/json", with("jwks", "keys"), 400, "invalid_client_metadata", "jwks"},
		{"admin scope", tok, "application/json", with("scope", "openid "+config.AdminScope), 400, "invalid_client_metadata", "scope"},
		{"oversized name", tok, "application/json", with("client_name", strings.Repeat("n", 201)), 400, "invalid_client_metadata", "client_name"},
		{"statement not a JWT", tok, "application/json", with("software_statement", "not-a-jwt"), 400, "invalid_software_statement", ""},
		{"statement not a string", tok, "application/json", with("software_statement", 7), 400, "invalid_software_statement", ""},
		{"statement by another key", tok, "application/json", with("software_statement", statement(t, other, "vendor-1", vendorClaims)), 400, "unapproved_software_statement", ""},
		{"statement from another issuer", tok, "application/json", with("software_statement", statement(t, e.signer, "vendor-1", map[string]any{"iss": "https://other.example.com"})), 400, "unapproved_software_statement", ""},
		{"expired statement", tok, "application/json", with("software_statement", statement(t, e.signer, "vendor-1", map[string]any{"iss": vendor, "exp": now.Add(-time.Second).Unix()})), 400, "invalid_software_statement", "expired"},
		{"statement overriding to a bad redirect", tok, "application/json", with("software_statement", statement(t, e.signer, "vendor-1", map[string]any{"iss": vendor, "redirect_uris": []string{"https://evil.example.com/cb"}})), 400, "invalid_redirect_uri", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := e.call(t, http.MethodPost, e.gh.Issuer+"/register", tt.token, tt.body, tt.ctype)
			if a.status != tt.status || (a.body["error"] != nil && a.body["error"] != tt.code) || (tt.code != "" && a.body["error"] != tt.code) {
				t.Fatalf("status %d body %v, want %d %s", a.status, a.body, tt.status, tt.code)
			}
			if desc, _ := a.body["error_description"].(string); !strings.Contains(desc, tt.desc) {
				t.Fatalf("error_description %q does not name %q", desc, tt.desc)
			}
			if tt.status == 401 && !strings.HasPrefix(a.auth, "Bearer") {
				t.Fatalf("401 without a Bearer challenge: %q", a.auth)
			}
		})
	}
	// None of the refusals used the one-use token: it registers now, then it is spent.
	if a := e.register(t, tok, ok); a.status != http.StatusCreated {
		t.Fatalf("registration after the refusals: %d %v", a.status, a.body)
	}
	if a := e.register(t, tok, ok); a.status != http.StatusUnauthorized || a.body["error"] != "invalid_token" {
		t.Fatalf("second use of a one-use token: %d %v", a.status, a.body)
	}
}

// TestRegisterStatementOverrides registers with a software statement: its claims win over
// the request's (RFC 7591 2.3).
func TestRegisterStatementOverrides(t *testing.T) {
	e := newEnv(t, true)
	tok := e.iat(t, 1, time.Hour)
	ss := statement(t, e.signer, "vendor-1", map[string]any{"iss": vendor, "client_name": "Vendor App",
		"redirect_uris": []string{"https://app.example.com/vendor"}, "exp": e.gh.Clock.Now().Add(time.Hour).Unix()})
	a := e.register(t, tok, map[string]any{"redirect_uris": []string{redirect}, "client_name": "Mine", "software_statement": ss})
	if a.status != http.StatusCreated {
		t.Fatalf("register: %d %v", a.status, a.body)
	}
	uris, _ := a.body["redirect_uris"].([]any)
	if a.body["client_name"] != "Vendor App" || len(uris) != 1 || uris[0] != "https://app.example.com/vendor" {
		t.Fatalf("the statement did not override: %v", a.body)
	}
}

// TestRegistrationOff checks that the endpoint and its discovery member exist only when on.
func TestRegistrationOff(t *testing.T) {
	for _, on := range []bool{false, true} {
		e := newEnv(t, on)
		d := e.call(t, http.MethodGet, e.gh.Issuer+"/.well-known/openid-configuration", "", nil, "")
		if got, want := d.body["registration_endpoint"], e.gh.Issuer+"/register"; (got == want) != on {
			t.Fatalf("enabled %v: registration_endpoint = %v", on, got)
		}
		if !on {
			if a := e.register(t, "x", map[string]any{}); a.status != http.StatusNotFound {
				t.Fatalf("registration off: POST /register = %d", a.status)
			}
		}
	}
}

// codeFlow logs alice in to the registered client and redeems the code with its secret;
// it returns the token response.
func (e *env) codeFlow(t *testing.T, id, secret, redirectURI string) map[string]any {
	t.Helper()
	verifier, challenge := brokertest.PKCE("verifier-0123456789-0123456789-0123456789-0123")
	q := url.Values{"client_id": {id}, "redirect_uri": {redirectURI}, "response_type": {"code"}, "scope": {"openid offline_access"},
		"state": {"st"}, "nonce": {"n"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "prompt": {"consent"}}
	final := e.gh.Login(e.gh.Browser(), e.gh.Issuer+"/authorize?"+q.Encode(), "alice", alicePassword, true)
	u, err := url.Parse(final)
	if err != nil || u.Query().Get("code") == "" {
		t.Fatalf("no code in %q", final)
	}
	return e.token(t, id, secret, url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier}}, http.StatusOK)
}

func (e *env) token(t *testing.T, id, secret string, form url.Values, want int) map[string]any {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.gh.Issuer+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := e.gh.HTTP.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() //nolint:errcheck // test
	body := map[string]any{}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != want {
		t.Fatalf("token: %d %v (%v), want %d", resp.StatusCode, body, err, want)
	}
	return body
}

// TestRegisterAndManage registers a client, runs a code flow with it, then reads, updates
// (the registration access token rotates) and deletes it through RFC 7592 (its refresh
// token stops working); wrong tokens are refused with 401 throughout.
func TestRegisterAndManage(t *testing.T) {
	e := newEnv(t, true)
	tok := e.iat(t, 2, time.Hour)
	a := e.register(t, tok, map[string]any{"redirect_uris": []string{redirect}, "client_name": "Reg App",
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"}})
	if a.status != http.StatusCreated {
		t.Fatalf("register: %d %v", a.status, a.body)
	}
	id, _ := a.body["client_id"].(string)
	secret, _ := a.body["client_secret"].(string)
	regTok, _ := a.body["registration_access_token"].(string)
	regURI, _ := a.body["registration_client_uri"].(string)
	if id == "" || secret == "" || regTok == "" || regURI != e.gh.Issuer+"/register/"+id ||
		a.body["client_secret_expires_at"] != float64(0) || a.body["client_id_issued_at"] != float64(e.gh.Clock.Now().Unix()) ||
		a.body["token_endpoint_auth_method"] != "client_secret_basic" {
		t.Fatalf("registration answer: %v", a.body)
	}
	stored, err := e.gh.Store.(storage.ClientStore).GetClient(context.Background(), id)
	if err != nil || stored.SecretHash != clients.HashSecret(secret) || stored.RegistrationTokenHash != clients.HashSecret(regTok) {
		t.Fatalf("stored: %+v %v (secrets must be kept as their hashes)", stored, err)
	}
	refresh, _ := e.codeFlow(t, id, secret, redirect)["refresh_token"].(string)
	if refresh == "" {
		t.Fatal("no refresh token")
	}

	other := e.register(t, tok, map[string]any{"redirect_uris": []string{redirect}})
	otherID, _ := other.body["client_id"].(string)
	reads := []struct {
		name, uri, token string
		status           int
	}{
		{"no token", regURI, "", 401},
		{"wrong token", regURI, "wrong", 401},
		{"the initial access token", regURI, tok, 401},
		{"another client's token", e.gh.Issuer + "/register/" + otherID, regTok, 401},
		{"unknown client", e.gh.Issuer + "/register/nobody", regTok, 401},
		{"its own token", regURI, regTok, 200},
	}
	for _, tt := range reads {
		if got := e.call(t, http.MethodGet, tt.uri, tt.token, nil, ""); got.status != tt.status || (tt.status == 200 && got.body["client_id"] != id) {
			t.Fatalf("GET %s: %d %v, want %d", tt.name, got.status, got.body, tt.status)
		}
	}

	full := map[string]any{"client_id": id, "redirect_uris": []string{redirect, "https://app.example.com/cb2"},
		"grant_types": []string{"authorization_code", "refresh_token"}, "client_name": "Reg App 2"}
	updates := []struct {
		name   string
		body   map[string]any
		status int
		code   string
	}{
		{"without client_id", map[string]any{"redirect_uris": []string{redirect}}, 400, "invalid_request"},
		{"another client_id", map[string]any{"client_id": otherID, "redirect_uris": []string{redirect}}, 400, "invalid_request"},
		{"a wrong client_secret", map[string]any{"client_id": id, "client_secret": "wrong", "redirect_uris": []string{redirect}}, 400, "invalid_request"},
		{"a redirect the policy refuses", map[string]any{"client_id": id, "redirect_uris": []string{"https://evil.example.com/cb"}}, 400, "invalid_redirect_uri"},
		{"a grant the policy refuses", map[string]any{"client_id": id, "redirect_uris": []string{redirect}, "grant_types": []string{"password"}}, 400, "invalid_client_metadata"},
	}
	for _, tt := range updates {
		if got := e.call(t, http.MethodPut, regURI, regTok, tt.body, "application/json"); got.status != tt.status || got.body["error"] != tt.code {
			t.Fatalf("PUT %s: %d %v, want %d %s", tt.name, got.status, got.body, tt.status, tt.code)
		}
	}
	u := e.call(t, http.MethodPut, regURI, regTok, full, "application/json")
	newTok, _ := u.body["registration_access_token"].(string)
	if u.status != 200 || u.body["client_name"] != "Reg App 2" || newTok == "" || newTok == regTok || u.body["client_secret"] != nil {
		t.Fatalf("PUT: %d %v", u.status, u.body)
	}
	if got := e.call(t, http.MethodGet, regURI, regTok, nil, ""); got.status != 401 {
		t.Fatalf("the rotated registration token still reads: %d", got.status)
	}
	// The secret is kept across the update: the refresh token still works with it.
	refresh, _ = e.token(t, id, secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, http.StatusOK)["refresh_token"].(string)

	if got := e.call(t, http.MethodDelete, regURI, regTok, nil, ""); got.status != 401 {
		t.Fatalf("DELETE with the old token: %d", got.status)
	}
	if got := e.call(t, http.MethodDelete, regURI, newTok, nil, ""); got.status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %v", got.status, got.body)
	}
	e.token(t, id, secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, http.StatusUnauthorized)
	if got := e.call(t, http.MethodGet, regURI, newTok, nil, ""); got.status != 401 {
		t.Fatalf("GET after delete: %d", got.status)
	}
}
