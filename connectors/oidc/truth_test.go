package oidc_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/internal/fakeoauth"
	"github.com/gatehouse-id/gatehouse/connectors/oidc"
)

// TestEmailVerifiedAsUpstreamSays runs logins against the fake provider whose users say
// different things about their email, and checks that Upstream.EmailVerified is what the
// upstream said, and that allowed_domains reads the Google-only hd claim only from Google.
func TestEmailVerifiedAsUpstreamSays(t *testing.T) {
	s := fakeoauth.New(t)
	users := map[string]map[string]any{
		"said-false":  {"email": "f@example.com", "email_verified": false},
		"said-string": {"email": "s@example.com", "email_verified": "true"},
		"silent":      {"email": "q@example.com"},
		"hd-only":     {"email": "mallory@personal.test", "email_verified": true, "hd": "corp.test"},
		"split":       {"email_verified": true},
	}
	s.IDClaims = func(user string) map[string]any {
		c := map[string]any{"sub": user}
		for k, v := range users[user] {
			c[k] = v
		}
		return c
	}
	// userinfo of "split" has the email the ID token lacks, and says it is not verified.
	s.Handle("GET /userinfo", func(w http.ResponseWriter, r *http.Request) {
		u := s.User(r)
		out := map[string]any{"sub": u}
		if u == "split" {
			out["email"], out["email_verified"] = "victim@corp.test", false
		}
		fakeoauth.JSON(w, 200, out)
	})
	tests := []struct {
		name         string
		user         string
		mutate       func(*oidc.Config)
		wantVerified bool
		wantDenied   bool
	}{
		// Attack (issue 12.2): with insecure_skip_email_verified, an upstream that says
		// email_verified: false was reported as verified.
		{name: "explicit false beats insecure_skip_email_verified", user: "said-false", mutate: func(c *oidc.Config) { c.InsecureSkipEmailVerified = true }},
		{name: "explicit false", user: "said-false"},
		{name: "string true", user: "said-string", wantVerified: true},
		{name: "absent", user: "silent"},
		{name: "absent with insecure_skip_email_verified", user: "silent", mutate: func(c *oidc.Config) { c.InsecureSkipEmailVerified = true }, wantVerified: true},
		// Attack (issue 12.2): a non-Google upstream lets its users set an "hd" claim; with
		// allowed_domains: [corp.test] a user whose email is elsewhere passed on hd alone.
		{name: "hd from a non-Google issuer is ignored", user: "hd-only", mutate: func(c *oidc.Config) { c.AllowedDomains = []string{"corp.test"} }, wantVerified: true, wantDenied: true},
		// Attack (issue 12.2): the ID token's email_verified: true (about no email) vouched
		// for the unverified email userinfo supplied.
		{name: "email_verified pairs with its own email", user: "split", mutate: func(c *oidc.Config) { c.GetUserInfo = true }},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := openFake(t, s, nil, tt.mutate)
			step, err := c.Begin(ctx, connectors.BeginRequest{CallbackURL: fakeCallback, State: "s"})
			if err != nil {
				t.Fatal(err)
			}
			up, err := c.Finish(ctx, connectors.FinishRequest{CallbackURL: fakeCallback, State: "s", Stash: step.Stash}, httptest.NewRequest("GET", s.Authorize(t, step.URL, tt.user), nil))
			var denied *connectors.DeniedError
			if tt.wantDenied {
				if !errors.As(err, &denied) {
					t.Fatalf("err = %v, want DeniedError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if up.EmailVerified != tt.wantVerified {
				t.Errorf("email %q verified = %v, want %v", up.Email, up.EmailVerified, tt.wantVerified)
			}
		})
	}
}

// TestHostedDomainFromGoogleOnly checks that the hd claim counts for allowed_domains when the
// issuer is Google's.
func TestHostedDomainFromGoogleOnly(t *testing.T) {
	for _, tt := range []struct {
		issuer string
		want   bool
	}{
		{"https://accounts.google.com", true},
		{"https://sso.example.com", false},
	} {
		cfg := oidc.Config{Issuer: tt.issuer, ClientID: "c", AllowedDomains: []string{"corp.test"}}
		if got := cfg.Options().HostedDomainClaim; got != tt.want {
			t.Errorf("issuer %s: HostedDomainClaim = %v, want %v", tt.issuer, got, tt.want)
		}
	}
}
