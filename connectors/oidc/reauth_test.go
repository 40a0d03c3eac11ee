package oidc_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/connectors/internal/fakeoauth"
	goauth2 "github.com/gatehouse-id/gatehouse/connectors/oauth2"
	"github.com/gatehouse-id/gatehouse/connectors/oidc"
)

// Attack (issue 12.3): a client demands re-authentication (prompt=login, max_age=0 or a
// short max_age), the upstream OpenID provider is not asked to re-authenticate (or ignores
// it, or says nothing about when it did) and its old session answers at once; Gatehouse then
// issued an ID token with a fresh auth_time. The upstream must be asked (prompt=login,
// max_age) and its ID token's auth_time must prove it, else the client gets login_required.
func TestReauthDemandNeedsUpstreamEvidence(t *testing.T) {
	fake := fakeoauth.New(t)
	var upstreamAuthAge atomic.Int64 // seconds before now; -1: no auth_time claim
	fake.IDClaims = func(user string) map[string]any {
		c := map[string]any{"sub": user, "email": user + "@example.com", "email_verified": true}
		if age := upstreamAuthAge.Load(); age >= 0 {
			c["auth_time"] = time.Now().Add(-time.Duration(age) * time.Second).Unix()
		}
		return c
	}
	srv := httptest.NewUnstartedServer(nil)
	g := startGatehouse(t, srv, "", []upstreamConn{{id: "corp", cfg: &oidc.Config{
		Issuer: fake.URL, ClientID: fake.ClientID, ClientSecret: fake.ClientSecret,
	}}}, []clients.Client{clients.New(clients.Client{ID: rpID, Name: "Test App", Trusted: true, RedirectURIs: []string{rpRedirect}}, rpSecret)}, false)
	ctx := gooidc.ClientContext(context.Background(), g.srv.Client())
	p, err := gooidc.NewProvider(ctx, g.issuer)
	if err != nil {
		t.Fatal(err)
	}
	rp := oauth2.Config{ClientID: rpID, ClientSecret: rpSecret, Endpoint: p.Endpoint(), RedirectURL: rpRedirect, Scopes: []string{"openid", "email"}}

	tests := []struct {
		name      string
		params    map[string]string
		age       int64  // upstream auth_time age in seconds, -1 for none
		wantUp    string // parameters the upstream must be sent, "k=v&k=v"
		wantError string // "" wants a code
	}{
		{"prompt=login, stale upstream session", map[string]string{"prompt": "login"}, 3600, "prompt=login&max_age=0", "login_required"},
		{"prompt=login, no auth_time", map[string]string{"prompt": "login"}, -1, "prompt=login", "login_required"},
		{"max_age=0, stale upstream session", map[string]string{"max_age": "0"}, 3600, "prompt=login&max_age=0", "login_required"},
		{"max_age=600, older upstream session", map[string]string{"max_age": "600"}, 3600, "max_age=600", "login_required"},
		{"prompt=login, upstream re-authenticated", map[string]string{"prompt": "login"}, 0, "prompt=login&max_age=0", ""},
		{"max_age=600, recent enough", map[string]string{"max_age": "600"}, 300, "max_age=600", ""},
		{"no demand, old upstream session", nil, 3600, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			upstreamAuthAge.Store(tt.age)
			opts := []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("connector_id", "corp")}
			for k, v := range tt.params {
				opts = append(opts, oauth2.SetAuthURLParam(k, v))
			}
			upURL, back := runUpstreamLogin(t, fake, rp.AuthCodeURL("rp-state", opts...))
			q := upURL.Query()
			if tt.wantUp != "" {
				want, _ := url.ParseQuery(tt.wantUp)
				for k := range want {
					if q.Get(k) != want.Get(k) {
						t.Errorf("upstream %s = %q, want %q (%s)", k, q.Get(k), want.Get(k), upURL)
					}
				}
			} else if q.Has("max_age") || strings.Contains(q.Get("prompt"), "login") {
				t.Errorf("no demand, yet the upstream was asked to re-authenticate: %s", upURL)
			}
			bq := back.Query()
			if tt.wantError != "" {
				if bq.Get("error") != tt.wantError || bq.Has("code") {
					t.Fatalf("back at the RP with %s, want error=%s", back, tt.wantError)
				}
				return
			}
			if bq.Get("code") == "" {
				t.Fatalf("back at the RP with %s, want a code", back)
			}
			tok, err := rp.Exchange(ctx, bq.Get("code"))
			if err != nil {
				t.Fatal(err)
			}
			idt, err := p.Verifier(&gooidc.Config{ClientID: rpID}).Verify(ctx, tok.Extra("id_token").(string))
			if err != nil {
				t.Fatal(err)
			}
			var c struct {
				AuthTime int64 `json:"auth_time"`
			}
			if err := idt.Claims(&c); err != nil {
				t.Fatal(err)
			}
			if want := time.Now().Unix() - tt.age; c.AuthTime < want-5 || c.AuthTime > want+5 {
				t.Errorf("auth_time = %d, want the upstream's %d", c.AuthTime, want)
			}
		})
	}
}

// runUpstreamLogin drives a fresh browser from authURL to the upstream, approves there as
// alice, and returns the upstream authorization URL and where Gatehouse finally sent the
// browser back to the RP.
func runUpstreamLogin(t *testing.T, fake *fakeoauth.Server, authURL string) (up, back *url.URL) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	at := authURL
	for range 10 {
		resp, err := browser.Get(at)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 300 || resp.StatusCode >= 400 {
			t.Fatalf("GET %s: status %d, want a redirect", at, resp.StatusCode)
		}
		base, _ := url.Parse(at)
		next, _ := base.Parse(resp.Header.Get("Location"))
		switch {
		case strings.HasPrefix(next.String(), rpRedirect):
			return up, next
		case strings.HasPrefix(next.String(), fake.URL+"/authorize"):
			up = next
			at = fake.Authorize(t, next.String(), "alice")
		default:
			at = next.String()
		}
	}
	t.Fatal("the login did not come back to the RP")
	return nil, nil
}

// Attack (issue 12.3), for upstreams that cannot prove a re-authentication at all: a plain
// OAuth 2.0 connector (oauth2, github, gitlab) behind a client asking prompt=login or
// max_age. The client gets login_required at once, without a trip to the upstream; without
// such a demand the same connector logs in as before.
func TestReauthDemandThroughPlainOAuth2IsLoginRequired(t *testing.T) {
	fake := fakeoauth.New(t)
	fake.Handle("GET /api/me", func(w http.ResponseWriter, r *http.Request) {
		fakeoauth.JSON(w, 200, map[string]any{"id": fake.User(r), "email": fake.User(r) + "@example.com"})
	})
	srv := httptest.NewUnstartedServer(nil)
	startGatehouse(t, srv, "", []upstreamConn{{id: "legacy", cfg: &goauth2.Config{
		AuthorizationURL: fake.URL + "/authorize", TokenURL: fake.URL + "/token", UserinfoURL: fake.URL + "/api/me",
		ClientID: fake.ClientID, ClientSecret: fake.ClientSecret, Claims: goauth2.Claims{UserID: "id", Email: "email"},
	}}}, []clients.Client{clients.New(clients.Client{ID: rpID, Name: "Test App", Trusted: true, RedirectURIs: []string{rpRedirect}}, rpSecret)}, false)
	rp := oauth2.Config{ClientID: rpID, ClientSecret: rpSecret, Endpoint: oauth2.Endpoint{AuthURL: srv.URL + "/authorize", TokenURL: srv.URL + "/token"},
		RedirectURL: rpRedirect, Scopes: []string{"openid", "email"}}
	for _, tc := range []struct {
		params    map[string]string
		wantError string
	}{
		{map[string]string{"prompt": "login"}, "login_required"},
		{map[string]string{"max_age": "0"}, "login_required"},
		{map[string]string{"max_age": "3600"}, "login_required"},
		{nil, ""},
	} {
		opts := []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("connector_id", "legacy")}
		for k, v := range tc.params {
			opts = append(opts, oauth2.SetAuthURLParam(k, v))
		}
		up, back := runUpstreamLogin(t, fake, rp.AuthCodeURL("rp-state", opts...))
		q := back.Query()
		if tc.wantError != "" {
			if up != nil || q.Get("error") != tc.wantError || q.Has("code") {
				t.Errorf("%v: upstream visited: %v; back at the RP with %s, want error=%s", tc.params, up != nil, back, tc.wantError)
			}
			continue
		}
		if q.Get("code") == "" {
			t.Errorf("no demand: back at the RP with %s, want a code", back)
		}
	}
}
