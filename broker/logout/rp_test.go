package logout_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/tokens"
)

const password = "correct horse battery"

// receiver is a relying party's back-channel logout endpoint (httptest) that checks EVERY
// rule of OpenID Connect Back-Channel Logout 1.0 2.6 on each logout token it gets: a POST
// form with logout_token; the signature against the OP's JWKS (fetched from jwks_uri); typ
// logout+jwt; iss; aud is its client ID; iat not in the future, exp in the future and short;
// jti never seen before; events holding the back-channel logout event with an object
// value; sub and/or sid; no nonce. A token that breaks a rule is answered 400 and recorded
// as an error; a valid one 200 (or Fail's status when set).
type receiver struct {
	t        *testing.T
	srv      *httptest.Server
	clientID string
	issuer   string
	now      func() time.Time
	// Fail, when not 0, is the status answered to valid tokens (a failing client).
	Fail atomic.Int32

	mu       sync.Mutex
	jtis     map[string]bool
	accepted []logoutClaims
	errs     []string
	posts    int
}

// logoutClaims are the claims a receiver accepted.
type logoutClaims struct {
	Iss    string                     `json:"iss"`
	Sub    string                     `json:"sub"`
	Aud    any                        `json:"aud"`
	Iat    int64                      `json:"iat"`
	Exp    int64                      `json:"exp"`
	Jti    string                     `json:"jti"`
	Sid    string                     `json:"sid"`
	Events map[string]json.RawMessage `json:"events"`
	Nonce  *string                    `json:"nonce"`
}

func newReceiver(t *testing.T, clientID string) *receiver {
	rc := &receiver{t: t, clientID: clientID, jtis: map[string]bool{}, now: time.Now}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

// URL is the back-channel logout URI.
func (rc *receiver) URL() string { return rc.srv.URL + "/bcl" }

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	rc.posts++
	rc.mu.Unlock()
	c, err := rc.check(r)
	if err != nil {
		rc.mu.Lock()
		rc.errs = append(rc.errs, err.Error())
		rc.mu.Unlock()
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	if st := rc.Fail.Load(); st != 0 {
		w.WriteHeader(int(st))
		return
	}
	rc.mu.Lock()
	rc.accepted = append(rc.accepted, c)
	rc.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// check applies every rule of Back-Channel Logout 1.0 2.6 to the request's logout token.
func (rc *receiver) check(r *http.Request) (logoutClaims, error) {
	var c logoutClaims
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		return c, fmt.Errorf("%s with %q, want a form POST", r.Method, r.Header.Get("Content-Type"))
	}
	if err := r.ParseForm(); err != nil {
		return c, err
	}
	raw := r.PostForm.Get("logout_token")
	if raw == "" {
		return c, fmt.Errorf("no logout_token")
	}
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		return c, fmt.Errorf("parse: %v", err)
	}
	if typ := jws.Signatures[0].Protected.ExtraHeaders[jose.HeaderType]; typ != "logout+jwt" {
		return c, fmt.Errorf("typ %v, want logout+jwt", typ)
	}
	keys, err := rc.jwks()
	if err != nil {
		return c, err
	}
	kid := jws.Signatures[0].Protected.KeyID
	ks := keys.Key(kid)
	if len(ks) != 1 {
		return c, fmt.Errorf("kid %q not in the JWKS", kid)
	}
	payload, err := jws.Verify(ks[0])
	if err != nil {
		return c, fmt.Errorf("signature: %v", err)
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return c, err
	}
	now := rc.now().Unix()
	switch {
	case c.Iss != rc.issuer:
		return c, fmt.Errorf("iss %q, want %q", c.Iss, rc.issuer)
	case c.Aud != rc.clientID && !slices.Contains(asStrings(c.Aud), rc.clientID):
		return c, fmt.Errorf("aud %v, want %q", c.Aud, rc.clientID)
	case c.Iat == 0 || c.Iat > now+5:
		return c, fmt.Errorf("iat %d (now %d)", c.Iat, now)
	case c.Exp <= now || c.Exp-c.Iat > 600:
		return c, fmt.Errorf("exp %d: expired or not short (iat %d, now %d)", c.Exp, c.Iat, now)
	case c.Jti == "":
		return c, fmt.Errorf("no jti")
	case c.Sub == "" && c.Sid == "":
		return c, fmt.Errorf("neither sub nor sid")
	case c.Nonce != nil:
		return c, fmt.Errorf("a nonce is present")
	}
	ev, ok := c.Events[tokens.BackChannelLogoutEvent]
	if !ok || len(c.Events) != 1 {
		return c, fmt.Errorf("events %v", c.Events)
	}
	var obj map[string]any
	if json.Unmarshal(ev, &obj) != nil || obj == nil {
		return c, fmt.Errorf("event value %s is not a JSON object", ev)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.jtis[c.Jti] {
		return c, fmt.Errorf("jti %q replayed", c.Jti)
	}
	rc.jtis[c.Jti] = true
	return c, nil
}

func asStrings(v any) []string {
	var out []string
	if a, ok := v.([]any); ok {
		for _, s := range a {
			if s, ok := s.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// jwks fetches the OP's keys from its discovery document's jwks_uri.
func (rc *receiver) jwks() (jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := getJSON(rc.issuer+"/.well-known/openid-configuration", &doc); err != nil {
		return set, err
	}
	return set, getJSON(doc.JWKSURI, &set)
}

func getJSON(u string, v any) error {
	resp, err := http.Get(u) //nolint:noctx // test helper against a local server
	if err != nil {
		return err
	}
	defer resp.Body.Close() //nolint:errcheck // test
	return json.NewDecoder(resp.Body).Decode(v)
}

// got returns the accepted tokens and the rule violations seen so far.
func (rc *receiver) got() ([]logoutClaims, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.accepted), slices.Clone(rc.errs)
}

// op is a Gatehouse with alice and these clients (secret = ID + "-secret-secret"):
// bc-a and bc-b have back-channel logout receivers, plain has none, front has a
// front-channel logout URI with session_required.
type op struct {
	*brokertest.Server
	rcv map[string]*receiver
}

const frontURI = "http://127.0.0.1:9/fcl?app=front"

func newOP(t *testing.T, opts brokertest.Options) *op {
	t.Helper()
	return newOPWith(t, opts, map[string]*receiver{"bc-a": newReceiver(t, "bc-a"), "bc-b": newReceiver(t, "bc-b")})
}

// newOPWith is newOP with the given receivers (a second replica shares the first's).
func newOPWith(t *testing.T, opts brokertest.Options, rcv map[string]*receiver) *op {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	o := &op{rcv: rcv}
	adjust := opts.Config
	opts.Config = func(cfg *config.Config) {
		cfg.Users = append(cfg.Users, config.User{Username: "alice", Email: "alice@example.com", EmailVerified: true, PasswordHash: string(hash)},
			config.User{Username: "bob", Email: "bob@example.com", EmailVerified: true, PasswordHash: string(hash)})
		for _, id := range []string{"bc-a", "bc-b", "plain", "front"} {
			c := config.Client{ID: id, Secret: id + "-secret-secret", Trusted: true, RedirectURIs: []string{"http://127.0.0.1:1/cb/" + id},
				PostLogoutRedirectURIs: []string{"http://127.0.0.1:1/bye/" + id}}
			if r := o.rcv[id]; r != nil {
				c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired = r.URL(), true
			}
			if id == "front" {
				c.FrontchannelLogoutURI, c.FrontchannelLogoutSessionRequired = frontURI, true
			}
			cfg.Clients = append(cfg.Clients, c)
		}
		if adjust != nil {
			adjust(cfg)
		}
	}
	o.Server = brokertest.New(t, opts)
	for _, r := range o.rcv {
		r.issuer, r.now = o.Issuer, o.Clock.Now
	}
	return o
}

// login signs the browser in at a client (SSO after the first) and returns its ID token.
func (o *op) login(b *brokertest.Browser, clientID, user string) string {
	o.T.Helper()
	return o.loginScope(b, clientID, user, "openid").IDToken
}

// tokenResponse is the token endpoint's answer.
type tokenResponse struct {
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token"`
}

// loginScope signs the browser in at a client with the scope and returns the tokens.
func (o *op) loginScope(b *brokertest.Browser, clientID, user, scope string) tokenResponse {
	o.T.Helper()
	verifier, challenge := brokertest.PKCE("verifier-verifier-verifier-verifier-verifier-0123")
	redirect := "http://127.0.0.1:1/cb/" + clientID
	auth := o.Issuer + "/authorize?" + url.Values{"client_id": {clientID}, "response_type": {"code"}, "scope": {scope},
		"redirect_uri": {redirect}, "state": {"st"}, "nonce": {"n"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}.Encode()
	to := o.Login(b, auth, user, password, true)
	u, err := url.Parse(to)
	if err != nil || u.Query().Get("code") == "" {
		o.T.Fatalf("login at %s ended at %s", clientID, to)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")}, "redirect_uri": {redirect}, "code_verifier": {verifier}}
	return o.exchangeTokens(clientID, form)
}

// exchange redeems a code of a client and returns its ID token.
func (o *op) exchange(clientID string, form url.Values) string {
	o.T.Helper()
	return o.exchangeTokens(clientID, form).IDToken
}

// exchangeTokens posts a token request of a client and returns the tokens.
func (o *op) exchangeTokens(clientID string, form url.Values) tokenResponse {
	o.T.Helper()
	req, _ := http.NewRequest(http.MethodPost, o.Issuer+"/token", strings.NewReader(form.Encode())) //nolint:noctx // test
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, clientID+"-secret-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		o.T.Fatal(err)
	}
	defer resp.Body.Close() //nolint:errcheck // test
	var tok tokenResponse
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &tok); err != nil || tok.IDToken == "" {
		o.T.Fatalf("token response %d: %s", resp.StatusCode, body)
	}
	return tok
}

// tokenStatus posts a token request of a client and returns the status.
func (o *op) tokenStatus(clientID string, form url.Values) int {
	o.T.Helper()
	req, _ := http.NewRequest(http.MethodPost, o.Issuer+"/token", strings.NewReader(form.Encode())) //nolint:noctx // test
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, clientID+"-secret-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		o.T.Fatal(err)
	}
	resp.Body.Close() //nolint:errcheck,gosec // test
	return resp.StatusCode
}

// claimsOf reads an ID token's claims without verifying it (it came from the token endpoint).
func claimsOf(t *testing.T, tok string) (sub, sid string) {
	t.Helper()
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Sub, Sid string }
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c); err != nil {
		t.Fatal(err)
	}
	if c.Sid == "" {
		t.Fatal("ID token without sid")
	}
	return c.Sub, c.Sid
}

// deliver runs delivery rounds until one claims nothing.
func (o *op) deliver() int {
	o.T.Helper()
	total := 0
	for range 100 {
		n, err := o.Gatehouse.Server.DeliverLogouts(o.T.Context())
		if err != nil {
			o.T.Fatal(err)
		}
		if n == 0 {
			return total
		}
		total += n
	}
	o.T.Fatal("deliveries never ran out")
	return total
}
