package apple_test

// Apple cannot be reached from the test machines: these tests run the connector against an
// httptest server (connectors/internal/fakeoauth) serving what Apple documents for Sign in with
// Apple on the web: the authorization request (response_type=code, response_mode=form_post,
// scope "name email", nonce), the form_post response (code, state and, on the first
// authorization only, the user JSON field), the token endpoint /auth/token that accepts only a
// client secret that is an ES256 JWT (kid, iss = team ID, aud https://appleid.apple.com, sub =
// Services ID, at most six months) signed by the team key, and RS256 ID tokens with sub, email,
// email_verified and is_private_email as the strings "true"/"false" Apple sends, verified
// against a JWKS. The full logins run through the broker (broker/brokertest).

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/apple"
	"github.com/gatehouse-id/gatehouse/connectors/internal/fakeoauth"
)

const (
	teamID     = "ABCDE12345"
	keyID      = "KEY1234567"
	servicesID = "com.example.login"
)

// fakeApple serves Apple's documented responses; it accepts only client secrets signed by pub.
func fakeApple(t *testing.T, pub *ecdsa.PublicKey) *fakeoauth.Server {
	s := fakeoauth.New(t)
	s.ClientID = servicesID
	s.TokenPath = "/auth/token"
	s.CheckSecret = func(secret string) bool { return checkSecret(pub, secret) == nil }
	users := map[string]map[string]any{
		"jane":  {"sub": "001234.abcdef.1234", "email": "jane@example.com", "email_verified": "true", "is_private_email": "false", "auth_time": time.Now().Unix()},
		"relay": {"sub": "001999.fedcba.9999", "email": "x7yz@privaterelay.appleid.com", "email_verified": "true", "is_private_email": "true"},
		"unv":   {"sub": "001555.aaaaaa.5555", "email": "unv@example.com", "email_verified": "false"},
	}
	s.IDClaims = func(user string) map[string]any {
		c := map[string]any{}
		for k, v := range users[user] {
			c[k] = v
		}
		return c
	}
	return s
}

// checkSecret verifies an Apple client secret as Apple documents it.
func checkSecret(pub *ecdsa.PublicKey, secret string) error {
	jws, err := jose.ParseSignedCompact(secret, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return err
	}
	if jws.Signatures[0].Header.KeyID != keyID {
		return errors.New("kid")
	}
	payload, err := jws.Verify(pub)
	if err != nil {
		return err
	}
	var c struct {
		Iss, Aud, Sub string
		Iat, Exp      int64
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return err
	}
	now := time.Now().Unix()
	if c.Iss != teamID || c.Aud != "https://appleid.apple.com" || c.Sub != servicesID || c.Iat > now+60 || c.Exp < now || c.Exp-c.Iat > 15777000 {
		return errors.New("claims")
	}
	return nil
}

// newKey returns a P-256 key and its .p8 file.
func newKey(t *testing.T) (*ecdsa.PrivateKey, string) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "AuthKey_"+keyID+".p8")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return k, p
}

func newConfig(s *fakeoauth.Server, keyFile string) *apple.Config {
	cfg := &apple.Config{ClientID: servicesID, TeamID: teamID, KeyID: keyID, PrivateKeyFile: keyFile}
	cfg.SetEndpoints(s.URL+"/auth/authorize", s.URL+"/auth/token", s.URL+"/jwks", s.URL)
	return cfg
}

// formPost turns the fake's redirect into Apple's form_post: a cross-site POST of code, state
// (and user) to the redirect URI.
func formPost(t *testing.T, callback string, extra url.Values) *http.Request {
	t.Helper()
	u, err := url.Parse(callback)
	if err != nil {
		t.Fatal(err)
	}
	form := u.Query()
	for k, v := range extra {
		form[k] = v
	}
	u.RawQuery = ""
	r, _ := http.NewRequest(http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Origin", "https://appleid.apple.com")
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	return r
}

func TestBrokerLogin(t *testing.T) {
	const janeUser = `{"name":{"firstName":"Jane","lastName":"Appleseed"},"email":"jane@example.com"}`
	tests := []struct {
		name         string
		user         string
		userField    string
		wrongKey     bool
		cancel, down bool
		get          bool
		wantName     string
		wantVerified bool
		wantPage     string
	}{
		{name: "first authorization with name", user: "jane", userField: janeUser, wantName: "Jane Appleseed", wantVerified: true},
		{name: "private relay is verified", user: "relay", wantVerified: true},
		{name: "email_verified false", user: "unv"},
		{name: "user cancels at Apple", cancel: true, wantPage: "cancelled at Apple"},
		{name: "oversized user field refused", user: "jane", userField: `{"name":{"firstName":"` + strings.Repeat("J", 5000) + `"}}`, wantPage: "did not complete the sign-in"},
		{name: "client secret signed by another key", user: "jane", wrongKey: true, wantPage: "did not complete the sign-in"},
		{name: "callback as GET, not form_post", user: "jane", get: true, wantPage: "did not complete the sign-in"},
		{name: "Apple down", user: "jane", down: true, wantPage: "Apple is unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, keyFile := newKey(t)
			if tt.wrongKey {
				_, keyFile = newKey(t)
			}
			fake := fakeApple(t, &key.PublicKey)
			gh := brokertest.New(t, brokertest.RedirectOptions(brokertest.TestConnector{ID: "apple", Name: "Apple", Config: newConfig(fake, keyFile)}))
			b := gh.Browser()
			authURL, verifier := gh.AuthURL("openid email profile")
			p, at := gh.RedirectLogin(b, authURL, "apple", func(u string) *http.Request {
				q, _ := url.ParseQuery(u[strings.IndexByte(u, '?')+1:])
				if q.Get("response_mode") != "form_post" || q.Get("scope") != "name email" || q.Get("nonce") == "" {
					t.Fatalf("authorization request %s", u)
				}
				cb := fake.Authorize(t, u, tt.user)
				if tt.down {
					fake.Close()
				}
				extra := url.Values{}
				if tt.userField != "" {
					extra.Set("user", tt.userField)
				}
				if tt.cancel {
					cbu, _ := url.Parse(cb)
					cbu.RawQuery = url.Values{"state": {cbu.Query().Get("state")}, "error": {"user_cancelled_authorize"}}.Encode()
					cb = cbu.String()
				}
				if tt.get {
					r, _ := http.NewRequest(http.MethodGet, cb, nil)
					return r
				}
				return formPost(t, cb, extra)
			})
			if tt.wantPage != "" {
				if !strings.Contains(p.Body+at, tt.wantPage) || strings.HasPrefix(at, brokertest.ClientRedirect) && strings.Contains(at, "code=") {
					t.Fatalf("page %d at %s, want %q:\n%s", p.Status, at, tt.wantPage, p.Body)
				}
				return
			}
			claims := gh.Exchange(b, brokertest.ClientID, brokertest.ClientSecret, brokertest.ClientRedirect, gh.CodeFrom(p, at), verifier)
			if claims["email_verified"] != tt.wantVerified || tt.wantName != "" && claims["name"] != tt.wantName {
				t.Fatalf("ID token claims %v, want email_verified %v name %q", claims, tt.wantVerified, tt.wantName)
			}
		})
	}
}

// TestFormPostWithoutValidState: Apple's callback is a cross-site POST that anyone can send.
// Without the state of a login in progress in this browser it gets the expired page and the
// upstream code is never redeemed.
func TestFormPostWithoutValidState(t *testing.T) {
	key, keyFile := newKey(t)
	fake := fakeApple(t, &key.PublicKey)
	gh := brokertest.New(t, brokertest.RedirectOptions(brokertest.TestConnector{ID: "apple", Name: "Apple", Config: newConfig(fake, keyFile)}))
	b := gh.Browser()
	authURL, _ := gh.AuthURL("openid email")
	cb := fake.Authorize(t, gh.StartRedirect(b, authURL, "apple"), "jane")
	real, _ := url.Parse(cb)
	tests := []struct {
		name    string
		browser *brokertest.Browser
		state   string
	}{
		{"no state", b, ""},
		{"unknown state", b, "AAAAAAAAAAAAAAAAAAAAAA"},
		{"oversized state", b, strings.Repeat("A", 100)},
		{"the right state from another browser (no flow cookie)", gh.Browser(), real.Query().Get("state")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := *real
			q := u.Query()
			q.Set("state", tt.state)
			u.RawQuery = q.Encode()
			p := tt.browser.Do(formPost(t, u.String(), nil))
			if p.Status == http.StatusOK || strings.Contains(p.Location, "code=") || !strings.Contains(strings.ToLower(p.Body), "expired") {
				t.Fatalf("got %d %s:\n%s", p.Status, p.Location, p.Body)
			}
		})
	}
	if n := fake.Requests("/auth/token"); n != 0 {
		t.Fatalf("the token endpoint was called %d times", n)
	}
}

// TestRefreshAndSecretRotation: the client secret is cached, then generated again once half
// its lifetime has passed; a downstream refresh validates Apple's refresh token (and keeps the
// name Apple sent only once); a revoked one revokes the grant.
func TestRefreshAndSecretRotation(t *testing.T) {
	key, keyFile := newKey(t)
	fake := fakeApple(t, &key.PublicKey)
	var secrets []string
	fake.CheckSecret = func(s string) bool {
		secrets = append(secrets, s)
		jws, err := jose.ParseSignedCompact(s, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			return false
		}
		_, err = jws.Verify(&key.PublicKey)
		return err == nil
	}
	now := time.Now()
	cfg := newConfig(fake, keyFile)
	cfg.ClientSecretLifetime = time.Hour
	conn, err := cfg.Open(context.Background(), connectors.Info{ID: "apple", Name: "Apple"}, connectors.Deps{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	c := conn.(*apple.Connector)
	const cb = "https://gatehouse.example/callback/apple"
	step, err := c.Begin(t.Context(), connectors.BeginRequest{CallbackURL: cb, State: "st"})
	if err != nil {
		t.Fatal(err)
	}
	r := formPost(t, fake.Authorize(t, step.URL, "jane"), url.Values{"user": {`{"name":{"firstName":"Jane","lastName":"Appleseed"}}`}})
	up, err := c.Finish(t.Context(), connectors.FinishRequest{CallbackURL: cb, State: "st", Stash: step.Stash}, r)
	if err != nil || up.Name != "Jane Appleseed" || !up.EmailVerified || up.EmailNotLinkable {
		t.Fatalf("Finish: %+v %v", up, err)
	}
	now = now.Add(29 * time.Minute)
	got, err := c.Refresh(t.Context(), connectors.Scopes{}, up)
	if err != nil || got.Subject != up.Subject || got.Name != "Jane Appleseed" {
		t.Fatalf("Refresh: %+v %v", got, err)
	}
	now = now.Add(2 * time.Minute) // past half the lifetime: a new secret
	if _, err := c.Refresh(t.Context(), connectors.Scopes{}, got); err != nil {
		t.Fatal(err)
	}
	if len(secrets) != 3 || secrets[0] != secrets[1] || secrets[1] == secrets[2] {
		t.Fatalf("secrets used: %d, cached %v, rotated %v", len(secrets), len(secrets) > 1 && secrets[0] == secrets[1], len(secrets) > 2 && secrets[1] != secrets[2])
	}
	fake.Revoke("jane")
	if _, err := c.Refresh(t.Context(), connectors.Scopes{}, got); !errors.Is(err, connectors.ErrUpstreamRevoked) {
		t.Fatalf("Refresh after revocation: %v", err)
	}
}

// TestPrivateRelayNotLinkable: the private-relay address is verified but marked not linkable.
func TestPrivateRelayNotLinkable(t *testing.T) {
	key, keyFile := newKey(t)
	fake := fakeApple(t, &key.PublicKey)
	conn, err := newConfig(fake, keyFile).Open(context.Background(), connectors.Info{ID: "apple", Name: "Apple"}, connectors.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	c := conn.(*apple.Connector)
	for _, tt := range []struct {
		user                  string
		verified, notLinkable bool
	}{{"relay", true, true}, {"jane", true, false}, {"unv", false, false}} {
		const cb = "https://gatehouse.example/callback/apple"
		step, err := c.Begin(t.Context(), connectors.BeginRequest{CallbackURL: cb, State: "st"})
		if err != nil {
			t.Fatal(err)
		}
		up, err := c.Finish(t.Context(), connectors.FinishRequest{CallbackURL: cb, State: "st", Stash: step.Stash}, formPost(t, fake.Authorize(t, step.URL, tt.user), nil))
		if err != nil || up.EmailVerified != tt.verified || up.EmailNotLinkable != tt.notLinkable {
			t.Errorf("%s: %+v %v", tt.user, up, err)
		}
	}
}
