package oidc_test

// Unit tests against an in-process fake provider (connectors/internal/fakeoauth); the tests
// against a real OpenID provider (npm oidc-provider) are in the peers-tagged files.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/internal/fakeoauth"
	"github.com/gatehouse-id/gatehouse/connectors/oidc"
)

const fakeCallback = "https://gatehouse.example/callback/sso"

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// flaky wraps the fake provider's handler with an on/off switch and a discovery counter.
type flaky struct {
	down      atomic.Bool
	discovery atomic.Int32
	next      http.Handler
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/openid-configuration") {
		f.discovery.Add(1)
	}
	if f.down.Load() {
		http.Error(w, "upstream down", http.StatusBadGateway)
		return
	}
	f.next.ServeHTTP(w, r)
}

func newFakeIdP(t testing.TB) (*fakeoauth.Server, *flaky) {
	s := fakeoauth.New(t)
	s.IDClaims = func(user string) map[string]any {
		return map[string]any{"sub": user, "email": user + "@example.com", "email_verified": true, "groups": []string{"g1"}, "hd": "example.com", "amr": []string{"mfa"}}
	}
	fl := &flaky{next: s.Config.Handler}
	s.Config.Handler = fl
	return s, fl
}

func openFake(t testing.TB, s *fakeoauth.Server, clk *fakeClock, mutate func(*oidc.Config)) *oidc.Connector {
	t.Helper()
	cfg := &oidc.Config{Issuer: s.URL, ClientID: s.ClientID, ClientSecret: s.ClientSecret}
	if mutate != nil {
		mutate(cfg)
	}
	deps := connectors.Deps{CallbackURL: fakeCallback}
	if clk != nil {
		deps.Now = clk.Now
	}
	c, err := cfg.Open(context.Background(), connectors.Info{ID: "sso", Type: "oidc", Name: "SSO"}, deps)
	if err != nil {
		t.Fatal(err)
	}
	return c.(*oidc.Connector)
}

func TestLazyDiscoveryWithRetry(t *testing.T) {
	s, fl := newFakeIdP(t)
	fl.down.Store(true)
	clk := &fakeClock{t: time.Now()}
	c := openFake(t, s, clk, nil)
	if n := fl.discovery.Load(); n != 0 {
		t.Fatalf("Open fetched discovery %d times; it must do no I/O", n)
	}
	ctx := context.Background()
	begin := func() error {
		_, err := c.Begin(ctx, connectors.BeginRequest{CallbackURL: fakeCallback, State: "s"})
		return err
	}
	var ue *connectors.UpstreamError
	if err := begin(); !errors.As(err, &ue) || !ue.Temporary {
		t.Fatalf("Begin with upstream down: %v, want temporary UpstreamError", err)
	}
	if err := begin(); !errors.As(err, &ue) || fl.discovery.Load() != 1 {
		t.Fatalf("second Begin inside the backoff: %v after %d fetches, want a fast failure", err, fl.discovery.Load())
	}
	fl.down.Store(false)
	clk.Add(2 * time.Second)
	if err := begin(); err != nil {
		t.Fatalf("Begin after recovery: %v", err)
	}
	if err := c.Check(ctx); err != nil {
		t.Fatal(err)
	}
	fl.down.Store(true)
	if err := begin(); err != nil || fl.discovery.Load() != 2 {
		t.Fatalf("cached discovery not used: %v, %d fetches", err, fl.discovery.Load())
	}
}

func TestFinishWithFake(t *testing.T) {
	s, _ := newFakeIdP(t)
	ctx := context.Background()
	tests := []struct {
		name       string
		mutate     func(*oidc.Config)
		swapStash  bool
		wantErr    string
		wantDenied bool
	}{
		{name: "ok"},
		{name: "nonce of another login", mutate: func(c *oidc.Config) { f := false; c.PKCE = &f }, swapStash: true, wantErr: "nonce"},
		{name: "allowed by hd", mutate: func(c *oidc.Config) { c.AllowedDomains = []string{"example.com"} }},
		{name: "refused domain", mutate: func(c *oidc.Config) { c.AllowedDomains = []string{"corp.test"} }, wantDenied: true},
		{name: "missing user id claim", mutate: func(c *oidc.Config) { c.UserIDClaim = "employee_id" }, wantErr: "employee_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := openFake(t, s, nil, tt.mutate)
			step, err := c.Begin(ctx, connectors.BeginRequest{CallbackURL: fakeCallback, State: "s"})
			if err != nil {
				t.Fatal(err)
			}
			cb := s.Authorize(t, step.URL, "ann")
			stash := step.Stash
			if tt.swapStash {
				other, _ := c.Begin(ctx, connectors.BeginRequest{CallbackURL: fakeCallback, State: "s"})
				stash = other.Stash
			}
			up, err := c.Finish(ctx, connectors.FinishRequest{CallbackURL: fakeCallback, State: "s", Stash: stash}, httptest.NewRequest("GET", cb, nil))
			var denied *connectors.DeniedError
			switch {
			case tt.wantDenied:
				if !errors.As(err, &denied) {
					t.Fatalf("err = %v, want DeniedError", err)
				}
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			default:
				if up.Subject != "ann" || up.Email != "ann@example.com" || !up.EmailVerified || len(up.Groups) != 1 || up.AMR[0] != "mfa" {
					t.Errorf("identity %+v", up)
				}
			}
		})
	}
}

func TestRefreshRevokedAndUpstreamDown(t *testing.T) {
	s, _ := newFakeIdP(t)
	c := openFake(t, s, nil, nil)
	ctx := context.Background()
	step, _ := c.Begin(ctx, connectors.BeginRequest{CallbackURL: fakeCallback, State: "s"})
	up, err := c.Finish(ctx, connectors.FinishRequest{CallbackURL: fakeCallback, State: "s", Stash: step.Stash}, httptest.NewRequest("GET", s.Authorize(t, step.URL, "ann"), nil))
	if err != nil {
		t.Fatal(err)
	}
	// The fake always issues a refresh token; revoke it: refresh must fail as revoked.
	s.Revoke("ann")
	if _, err := c.Refresh(ctx, connectors.Scopes{Offline: true}, connectors.Upstream{Subject: up.Subject, Stash: up.Stash}); !errors.Is(err, connectors.ErrUpstreamRevoked) {
		t.Fatalf("Refresh with revoked upstream token: %v", err)
	}
	s.Close()
	if _, err := c.Refresh(ctx, connectors.Scopes{Offline: true}, connectors.Upstream{Subject: up.Subject, Stash: up.Stash}); !isUpstream(err) {
		t.Fatalf("Refresh with the upstream down: %v, want UpstreamError", err)
	}
}

func isUpstream(err error) bool {
	var ue *connectors.UpstreamError
	return errors.As(err, &ue)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  oidc.Config
		want string
	}{
		{"ok", oidc.Config{Issuer: "https://sso.example.com", ClientID: "c"}, ""},
		{"loopback http", oidc.Config{Issuer: "http://127.0.0.1:5556/dex", ClientID: "c"}, ""},
		{"http elsewhere", oidc.Config{Issuer: "http://sso.example.com", ClientID: "c"}, "https"},
		{"no issuer", oidc.Config{ClientID: "c"}, "issuer: required"},
		{"query", oidc.Config{Issuer: "https://sso.example.com/?x=1", ClientID: "c"}, "query"},
		{"no client", oidc.Config{Issuer: "https://sso.example.com"}, "client_id"},
		{"scopes without openid", oidc.Config{Issuer: "https://sso.example.com", ClientID: "c", Scopes: []string{"email"}}, "openid"},
		{"bad domain", oidc.Config{Issuer: "https://sso.example.com", ClientID: "c", AllowedDomains: []string{"a@b"}}, "allowed_domains[0]"},
		{"bad prompt", oidc.Config{Issuer: "https://sso.example.com", ClientID: "c", Prompt: "always"}, "prompt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}
