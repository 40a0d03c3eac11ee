//go:build peers

package oidc_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/oidc"
)

func peerConfig() *oidc.Config {
	return &oidc.Config{
		Issuer: upstream.issuer, ClientID: "gatehouse", ClientSecret: upstreamSecret,
		Scopes:      []string{"openid", "email", "profile", "groups", "offline_access"},
		GetUserInfo: true,
	}
}

func openPeer(t *testing.T, cfg *oidc.Config) *oidc.Connector {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := cfg.Open(context.Background(), connectors.Info{ID: "direct", Type: "oidc", Name: "Upstream SSO"}, connectors.Deps{CallbackURL: directCallback})
	if err != nil {
		t.Fatal(err)
	}
	return c.(*oidc.Connector)
}

// directLogin runs Begin, the upstream login as user, and Finish.
func directLogin(t *testing.T, c *oidc.Connector, user string, offline bool) (connectors.Upstream, error) {
	t.Helper()
	ctx := context.Background()
	sc := connectors.Scopes{Offline: offline, Groups: true}
	step, err := c.Begin(ctx, connectors.BeginRequest{Scopes: sc, CallbackURL: directCallback, State: "state-" + user})
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	u, _ := url.Parse(step.URL)
	if u.Query().Get("code_challenge_method") != "S256" || u.Query().Get("nonce") == "" || u.Query().Get("state") != "state-"+user {
		t.Fatalf("authorization URL lacks PKCE, nonce or state: %s", step.URL)
	}
	to := newAgent(t).upstreamLogin(upstream.issuer, step.URL, user)
	cb, _ := url.Parse(to)
	if cb.Query().Get("iss") != upstream.issuer {
		t.Errorf("callback iss = %q, want %q (RFC 9207)", cb.Query().Get("iss"), upstream.issuer)
	}
	r := httptest.NewRequest("GET", to, nil)
	return c.Finish(ctx, connectors.FinishRequest{Scopes: sc, CallbackURL: directCallback, State: "state-" + user, Stash: step.Stash}, r)
}

func TestPeerLoginClaimsFromUserinfo(t *testing.T) {
	tests := []struct {
		name         string
		user         string
		getUserinfo  bool
		skipVerified bool
		wantEmail    string
		wantVerified bool
		wantGroups   []string
	}{
		{name: "alice verified with groups", user: "alice", getUserinfo: true, wantEmail: "alice@example.com", wantVerified: true, wantGroups: []string{"admins", "staff"}},
		{name: "bob email_verified false", user: "bob", getUserinfo: true, wantEmail: "bob@example.com", wantVerified: false, wantGroups: []string{"staff"}},
		// The upstream says email_verified: false; insecure_skip_email_verified only fills in
		// when it says nothing (issue 12.2).
		{name: "bob with insecure_skip_email_verified", user: "bob", getUserinfo: true, skipVerified: true, wantEmail: "bob@example.com", wantVerified: false, wantGroups: []string{"staff"}},
		{name: "ID token alone carries only sub", user: "alice", getUserinfo: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := peerConfig()
			cfg.GetUserInfo = tt.getUserinfo
			cfg.InsecureSkipEmailVerified = tt.skipVerified
			up, err := directLogin(t, openPeer(t, cfg), tt.user, false)
			if err != nil {
				t.Fatalf("Finish: %v", err)
			}
			if up.Subject != tt.user || up.Email != tt.wantEmail || up.EmailVerified != tt.wantVerified || !slices.Equal(up.Groups, tt.wantGroups) {
				t.Errorf("got sub=%q email=%q verified=%v groups=%v", up.Subject, up.Email, up.EmailVerified, up.Groups)
			}
			if !slices.Contains(up.AMR, "pwd") || up.ACR != "urn:gatehouse:test:pwd" || up.AuthTime.IsZero() {
				t.Errorf("upstream amr=%v acr=%q auth_time=%v not passed through", up.AMR, up.ACR, up.AuthTime)
			}
		})
	}
}

func TestPeerAllowedDomains(t *testing.T) {
	tests := []struct {
		user    string
		allowed bool
	}{
		{"alice", true},
		{"carol", false}, // other domain
		{"bob", false},   // right domain, unverified email
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			cfg := peerConfig()
			cfg.AllowedDomains = []string{"example.com"}
			_, err := directLogin(t, openPeer(t, cfg), tt.user, false)
			var denied *connectors.DeniedError
			if tt.allowed && err != nil || !tt.allowed && !errors.As(err, &denied) {
				t.Fatalf("err = %v, want allowed=%v", err, tt.allowed)
			}
		})
	}
}

func TestPeerAccessDenied(t *testing.T) {
	c := openPeer(t, peerConfig())
	_, err := directLogin(t, c, "", false)
	var denied *connectors.DeniedError
	if !errors.As(err, &denied) || denied.Reason == "" {
		t.Fatalf("err = %v, want DeniedError with a reason", err)
	}
	t.Logf("reason: %s", denied.Reason)
}

func TestPeerCallbackChecks(t *testing.T) {
	c := openPeer(t, peerConfig())
	ctx := context.Background()
	step, err := c.Begin(ctx, connectors.BeginRequest{CallbackURL: directCallback, State: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	to := newAgent(t).upstreamLogin(upstream.issuer, step.URL, "alice")
	good, _ := url.Parse(to)
	tests := []struct {
		name   string
		mutate func(q url.Values)
	}{
		{"state mismatch", func(q url.Values) { q.Set("state", "other") }},
		{"iss mismatch", func(q url.Values) { q.Set("iss", "http://127.0.0.1:1") }},
		{"iss missing though advertised", func(q url.Values) { q.Del("iss") }},
		{"no code", func(q url.Values) { q.Del("code") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := *good
			q := u.Query()
			tt.mutate(q)
			u.RawQuery = q.Encode()
			if _, err := c.Finish(ctx, connectors.FinishRequest{CallbackURL: directCallback, State: "s1", Stash: step.Stash}, httptest.NewRequest("GET", u.String(), nil)); err == nil {
				t.Fatal("Finish accepted a bad callback")
			}
		})
	}
	t.Run("wrong PKCE verifier and nonce in stash", func(t *testing.T) {
		other, err := c.Begin(ctx, connectors.BeginRequest{CallbackURL: directCallback, State: "s1"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Finish(ctx, connectors.FinishRequest{CallbackURL: directCallback, State: "s1", Stash: other.Stash}, httptest.NewRequest("GET", good.String(), nil)); err == nil {
			t.Fatal("Finish accepted a code with another login's verifier")
		}
	})
}

func TestPeerRefresh(t *testing.T) {
	c := openPeer(t, peerConfig())
	ctx := context.Background()
	up, err := directLogin(t, c, "alice", true)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Refresh(ctx, connectors.Scopes{Offline: true}, connectors.Upstream{Subject: up.Subject, Stash: up.Stash})
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if got.Subject != "alice" || got.Email != "alice@example.com" || !slices.Equal(got.Groups, []string{"admins", "staff"}) || !got.EmailVerified {
		t.Errorf("refreshed identity %+v", got)
	}
	// A second refresh with the stash of the first still works (no upstream rotation).
	if _, err := c.Refresh(ctx, connectors.Scopes{Offline: true}, connectors.Upstream{Subject: got.Subject, Stash: got.Stash}); err != nil {
		t.Fatalf("second Refresh: %v", err)
	}
}

func TestPeerRefreshUserRemoved(t *testing.T) {
	c := openPeer(t, peerConfig())
	up, err := directLogin(t, c, "dave", true)
	if err != nil {
		t.Fatal(err)
	}
	upstream.remove(t, "dave")
	_, err = c.Refresh(context.Background(), connectors.Scopes{Offline: true}, connectors.Upstream{Subject: up.Subject, Stash: up.Stash})
	if !errors.Is(err, connectors.ErrUpstreamRevoked) {
		t.Fatalf("Refresh after removal: %v, want ErrUpstreamRevoked", err)
	}
}
