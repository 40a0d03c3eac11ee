package google_test

// Google cannot be reached from the test machines: these tests run the connector against an
// httptest server (connectors/internal/fakeoauth) serving what Google documents for OpenID
// Connect: discovery, JWKS, the token endpoint and RS256 ID tokens carrying email,
// email_verified and, for Workspace accounts, hd.

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/google"
	"github.com/gatehouse-id/gatehouse/connectors/internal/fakeoauth"
	"github.com/gatehouse-id/gatehouse/connectors/oidc"
)

const callback = "https://gatehouse.example/callback/google"

func fakeGoogle(t *testing.T) *fakeoauth.Server {
	s := fakeoauth.New(t)
	users := map[string]map[string]any{
		"alice": {"sub": "1001", "email": "alice@acme.test", "email_verified": true, "hd": "acme.test", "name": "Alice"},
		"bob":   {"sub": "1002", "email": "bob@gmail.com", "email_verified": true, "name": "Bob"},
		"eve":   {"sub": "1003", "email": "eve@evil.test", "email_verified": true, "hd": "evil.test"},
		"unv":   {"sub": "1004", "email": "unv@acme.test", "email_verified": false, "hd": "acme.test"},
		// A personal account registered with a Workspace address (no hd).
		"mallory": {"sub": "1005", "email": "alice@acme.test", "email_verified": true, "name": "Mallory"},
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

func open(t *testing.T, s *fakeoauth.Server, domains ...string) *oidc.Connector {
	t.Helper()
	cfg := &google.Config{ClientID: s.ClientID, ClientSecret: s.ClientSecret, HostedDomains: domains}
	cfg.SetIssuer(s.URL)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := cfg.Open(context.Background(), connectors.Info{ID: "google", Type: "google", Name: "Google"}, connectors.Deps{CallbackURL: callback})
	if err != nil {
		t.Fatal(err)
	}
	return c.(*oidc.Connector)
}

func login(t *testing.T, s *fakeoauth.Server, c *oidc.Connector, user string, offline bool) (url.Values, connectors.Upstream, error) {
	t.Helper()
	ctx := context.Background()
	sc := connectors.Scopes{Offline: offline}
	step, err := c.Begin(ctx, connectors.BeginRequest{Scopes: sc, CallbackURL: callback, State: "st"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(step.URL)
	up, err := c.Finish(ctx, connectors.FinishRequest{Scopes: sc, CallbackURL: callback, State: "st", Stash: step.Stash}, httptest.NewRequest("GET", s.Authorize(t, step.URL, user), nil))
	return u.Query(), up, err
}

func TestHostedDomain(t *testing.T) {
	tests := []struct {
		name         string
		domains      []string
		user         string
		wantHD       string
		wantDenied   bool
		wantVerified bool
	}{
		{name: "workspace account of the domain", domains: []string{"acme.test"}, user: "alice", wantHD: "acme.test", wantVerified: true},
		{name: "personal account refused", domains: []string{"acme.test"}, user: "bob", wantHD: "acme.test", wantDenied: true},
		{name: "hd mismatch refused", domains: []string{"acme.test"}, user: "eve", wantHD: "acme.test", wantDenied: true},
		{name: "several domains send hd=*", domains: []string{"acme.test", "other.test"}, user: "alice", wantHD: "*", wantVerified: true},
		{name: "no restriction", user: "bob", wantVerified: true},
		{name: "unverified email passed through", domains: []string{"acme.test"}, user: "unv", wantHD: "acme.test", wantVerified: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fakeGoogle(t)
			q, up, err := login(t, s, open(t, s, tt.domains...), tt.user, false)
			if q.Get("hd") != tt.wantHD {
				t.Errorf("hd parameter %q, want %q", q.Get("hd"), tt.wantHD)
			}
			if tt.wantDenied {
				var denied *connectors.DeniedError
				if !errors.As(err, &denied) {
					t.Fatalf("err = %v, want DeniedError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if up.EmailVerified != tt.wantVerified || up.Email == "" {
				t.Errorf("email %q verified=%v", up.Email, up.EmailVerified)
			}
		})
	}
}

func TestOfflineRefresh(t *testing.T) {
	s := fakeGoogle(t)
	c := open(t, s, "acme.test")
	q, up, err := login(t, s, c, "alice", true)
	if err != nil {
		t.Fatal(err)
	}
	if q.Get("access_type") != "offline" || q.Get("prompt") != "consent" || q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" {
		t.Errorf("authorization parameters %v", q)
	}
	ctx := context.Background()
	got, err := c.Refresh(ctx, connectors.Scopes{Offline: true}, connectors.Upstream{Subject: up.Subject, Stash: up.Stash})
	if err != nil || got.Email != "alice@acme.test" {
		t.Fatalf("Refresh: %+v %v", got, err)
	}
	s.Revoke("alice")
	if _, err := c.Refresh(ctx, connectors.Scopes{Offline: true}, connectors.Upstream{Subject: up.Subject, Stash: up.Stash}); !errors.Is(err, connectors.ErrUpstreamRevoked) {
		t.Fatalf("Refresh after revocation: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  google.Config
		ok   bool
	}{
		{"ok", google.Config{ClientID: "a", ClientSecret: "b", HostedDomains: []string{"acme.test"}}, true},
		{"missing client", google.Config{}, false},
		{"wildcard domain", google.Config{ClientID: "a", ClientSecret: "b", HostedDomains: []string{"*"}}, false},
		{"scopes without openid", google.Config{ClientID: "a", ClientSecret: "b", Scopes: []string{"email"}}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v", err)
			}
		})
	}
}
