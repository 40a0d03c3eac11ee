package facebook_test

// Facebook cannot be reached from the test machines: these tests run the connector against an
// httptest server (connectors/internal/fakeoauth) serving what Facebook documents for "Manually
// Build a Login Flow": the login dialog, /{version}/oauth/access_token, and the Graph API
// /me?fields=id,name,email (email absent when the account has no confirmed address), with
// appsecret_proof required and a 400 {"error": {"type": "OAuthException", "code": 190}} for an
// invalid token. The full logins run through the broker (broker/brokertest).

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/facebook"
	"github.com/gatehouse-id/gatehouse/connectors/internal/fakeoauth"
)

func fakeFacebook(t *testing.T) *fakeoauth.Server {
	s := fakeoauth.New(t)
	s.TokenPath = "/v19.0/oauth/access_token"
	users := map[string]map[string]any{
		"zuck":    {"id": "10101", "name": "Mark Example", "email": "mark@example.com"},
		"noemail": {"id": "10202", "name": "Phone Only"},
	}
	s.Handle("GET /v19.0/me", func(w http.ResponseWriter, r *http.Request) {
		u := users[s.User(r)]
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch {
		case u == nil:
			fakeoauth.JSON(w, 400, map[string]any{"error": map[string]any{"message": "Error validating access token", "type": "OAuthException", "code": 190}})
		case r.URL.Query().Get("appsecret_proof") != facebook.AppSecretProof(s.ClientSecret, tok):
			fakeoauth.JSON(w, 400, map[string]any{"error": map[string]any{"message": "Invalid appsecret_proof", "type": "GraphMethodException", "code": 100}})
		case r.URL.Query().Get("fields") != "id,name,email":
			fakeoauth.JSON(w, 400, map[string]any{"error": map[string]any{"message": "fields", "code": 100}})
		default:
			fakeoauth.JSON(w, 200, u)
		}
	})
	return s
}

func newConfig(s *fakeoauth.Server, trust bool) *facebook.Config {
	cfg := &facebook.Config{ClientID: s.ClientID, ClientSecret: s.ClientSecret, TrustEmail: trust}
	cfg.SetBase(s.URL, s.URL)
	return cfg
}

func TestBrokerLogin(t *testing.T) {
	tests := []struct {
		name         string
		user         string
		trust        bool
		deny, down   bool
		wantEmail    string
		wantVerified bool
		wantPage     string
	}{
		{name: "email not verified by default", user: "zuck", wantEmail: "mark@example.com"},
		{name: "trust_email", user: "zuck", trust: true, wantEmail: "mark@example.com", wantVerified: true},
		{name: "no email", user: "noemail", trust: true},
		{name: "user refuses at Facebook", deny: true, wantPage: "cancelled or refused at Facebook"},
		{name: "Graph API refuses the token", user: "ghost", wantPage: "Facebook did not complete the sign-in"},
		{name: "Facebook down", down: true, wantPage: "Facebook is unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := fakeFacebook(t)
			gh := brokertest.New(t, brokertest.RedirectOptions(brokertest.TestConnector{ID: "facebook", Name: "Facebook", Config: newConfig(fake, tt.trust)}))
			b := gh.Browser()
			authURL, verifier := gh.AuthURL("openid email profile")
			p, at := gh.RedirectLogin(b, authURL, "facebook", func(u string) *http.Request {
				cb := fake.Authorize(t, u, tt.user)
				if tt.deny {
					cb = fake.Deny(t, u)
				}
				if tt.down {
					fake.Close()
				}
				r, _ := http.NewRequest(http.MethodGet, cb, nil)
				return r
			})
			if tt.wantPage != "" {
				if !strings.Contains(p.Body, tt.wantPage) || strings.HasPrefix(at, brokertest.ClientRedirect) {
					t.Fatalf("page %d at %s, want %q:\n%s", p.Status, at, tt.wantPage, p.Body)
				}
				if tt.down {
					p, _ = b.Follow(b.Get(authURL), authURL)
					if !strings.Contains(p.Body, "/login/local?") {
						t.Fatalf("the chooser no longer offers the local connector:\n%s", p.Body)
					}
				}
				return
			}
			claims := gh.Exchange(b, brokertest.ClientID, brokertest.ClientSecret, brokertest.ClientRedirect, gh.CodeFrom(p, at), verifier)
			if email, _ := claims["email"].(string); email != tt.wantEmail || (email != "" && claims["email_verified"] != tt.wantVerified) {
				t.Fatalf("ID token claims %v, want email %q verified %v", claims, tt.wantEmail, tt.wantVerified)
			}
		})
	}
}

// TestRefresh: a downstream refresh re-reads /me; a token Facebook no longer accepts (400
// OAuthException) revokes the downstream grant.
func TestRefresh(t *testing.T) {
	fake := fakeFacebook(t)
	conn, err := newConfig(fake, false).Open(context.Background(), connectors.Info{ID: "facebook", Name: "Facebook"}, connectors.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	c := conn.(*facebook.Connector)
	const cb = "https://gatehouse.example/callback/facebook"
	step, err := c.Begin(t.Context(), connectors.BeginRequest{CallbackURL: cb, State: "st"})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest(http.MethodGet, fake.Authorize(t, step.URL, "zuck"), nil)
	up, err := c.Finish(t.Context(), connectors.FinishRequest{CallbackURL: cb, State: "st", Stash: step.Stash}, r)
	if err != nil || up.Subject != "10101" {
		t.Fatalf("Finish: %+v %v", up, err)
	}
	if got, err := c.Refresh(t.Context(), connectors.Scopes{}, up); err != nil || got.Subject != "10101" {
		t.Fatalf("Refresh: %+v %v", got, err)
	}
	fake.Revoke("zuck")
	if _, err := c.Refresh(t.Context(), connectors.Scopes{}, up); !errors.Is(err, connectors.ErrUpstreamRevoked) {
		t.Fatalf("Refresh after revocation: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		cfg facebook.Config
		ok  bool
	}{
		{facebook.Config{ClientID: "a", ClientSecret: "b"}, true},
		{facebook.Config{ClientID: "a", ClientSecret: "b", APIVersion: "v20.0"}, true},
		{facebook.Config{ClientID: "a", ClientSecret: "b", APIVersion: "20"}, false},
		{facebook.Config{}, false},
	} {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(%+v) = %v", tt.cfg, err)
		}
	}
}

// TestReauthCannotBeProven: Facebook says nothing about when the user authenticated.
func TestReauthCannotBeProven(t *testing.T) {
	fake := fakeFacebook(t)
	conn, err := newConfig(fake, false).Open(context.Background(), connectors.Info{ID: "facebook", Name: "Facebook"}, connectors.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	fakeoauth.CheckReauthRefused(t, conn.(*facebook.Connector), "https://gatehouse.example/callback/facebook")
}
