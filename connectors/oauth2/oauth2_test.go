package oauth2_test

// A plain OAuth 2.0 provider is simulated with an httptest server (connectors/internal/
// fakeoauth): code flow with PKCE and a userinfo JSON endpoint with nested fields.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/internal/fakeoauth"
	"github.com/gatehouse-id/gatehouse/connectors/oauth2"
)

const callback = "https://gatehouse.example/callback/legacy"

func setup(t *testing.T) (*fakeoauth.Server, *oauth2.Connector) {
	t.Helper()
	s := fakeoauth.New(t)
	s.Handle("GET /api/me", func(w http.ResponseWriter, r *http.Request) {
		switch s.User(r) {
		case "":
			fakeoauth.JSON(w, 401, map[string]string{"message": "Bad credentials"})
		case "42":
			fakeoauth.JSON(w, 200, map[string]any{"id": 42, "login": "octo", "profile": map[string]any{"email": "octo@example.com", "verified": true, "name": "Octo Cat"}, "roles": []string{"dev", "ops"}})
		case "43":
			fakeoauth.JSON(w, 200, map[string]any{"id": 43, "login": "nover", "profile": map[string]any{"email": "nover@example.com", "verified": "false"}})
		case "44":
			fakeoauth.JSON(w, 200, map[string]any{"login": "noid"})
		}
	})
	cfg := &oauth2.Config{
		AuthorizationURL: s.URL + "/authorize", TokenURL: s.URL + "/token", UserinfoURL: s.URL + "/api/me",
		ClientID: s.ClientID, ClientSecret: s.ClientSecret, Scopes: []string{"read"},
		Claims: oauth2.Claims{UserID: "id", Email: "profile.email", EmailVerified: "profile.verified", Username: "login", Name: "profile.name", Groups: "roles"},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := cfg.Open(context.Background(), connectors.Info{ID: "legacy", Type: "oauth2", Name: "Legacy"}, connectors.Deps{CallbackURL: callback})
	if err != nil {
		t.Fatal(err)
	}
	return s, c.(*oauth2.Connector)
}

func login(t *testing.T, s *fakeoauth.Server, c *oauth2.Connector, user string) (connectors.Upstream, error) {
	t.Helper()
	ctx := context.Background()
	step, err := c.Begin(ctx, connectors.BeginRequest{CallbackURL: callback, State: "st"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(step.URL, "code_challenge_method=S256") || !strings.Contains(step.URL, "state=st") {
		t.Fatalf("authorization URL %s", step.URL)
	}
	cb := s.Authorize(t, step.URL, user)
	return c.Finish(ctx, connectors.FinishRequest{CallbackURL: callback, State: "st", Stash: step.Stash}, httptest.NewRequest("GET", cb, nil))
}

func TestLoginClaimPaths(t *testing.T) {
	tests := []struct {
		user                         string
		wantSub, wantEmail, wantName string
		wantVerified                 bool
		wantGroups                   []string
		wantErr                      bool
	}{
		{user: "42", wantSub: "42", wantEmail: "octo@example.com", wantName: "Octo Cat", wantVerified: true, wantGroups: []string{"dev", "ops"}},
		{user: "43", wantSub: "43", wantEmail: "nover@example.com", wantVerified: false},
		{user: "44", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			s, c := setup(t)
			up, err := login(t, s, c, tt.user)
			if tt.wantErr {
				if err == nil {
					t.Fatal("login without a user ID succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if up.Subject != tt.wantSub || up.Email != tt.wantEmail || up.EmailVerified != tt.wantVerified || up.Name != tt.wantName || !slices.Equal(up.Groups, tt.wantGroups) {
				t.Errorf("got %+v", up)
			}
		})
	}
}

func TestDeniedAndBadState(t *testing.T) {
	s, c := setup(t)
	ctx := context.Background()
	step, _ := c.Begin(ctx, connectors.BeginRequest{CallbackURL: callback, State: "st"})
	_, err := c.Finish(ctx, connectors.FinishRequest{CallbackURL: callback, State: "st", Stash: step.Stash}, httptest.NewRequest("GET", s.Deny(t, step.URL), nil))
	var denied *connectors.DeniedError
	if !errors.As(err, &denied) {
		t.Fatalf("access_denied: %v", err)
	}
	cb := s.Authorize(t, step.URL, "42")
	if _, err := c.Finish(ctx, connectors.FinishRequest{CallbackURL: callback, State: "other", Stash: step.Stash}, httptest.NewRequest("GET", cb, nil)); err == nil {
		t.Fatal("state mismatch accepted")
	}
}

func TestRefresh(t *testing.T) {
	s, c := setup(t)
	up, err := login(t, s, c, "42")
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Refresh(context.Background(), connectors.Scopes{Offline: true}, connectors.Upstream{Subject: up.Subject, Stash: up.Stash})
	if err != nil || got.Email != "octo@example.com" {
		t.Fatalf("Refresh: %+v %v", got, err)
	}
	s.Revoke("42")
	if _, err := c.Refresh(context.Background(), connectors.Scopes{Offline: true}, connectors.Upstream{Subject: up.Subject, Stash: up.Stash}); !errors.Is(err, connectors.ErrUpstreamRevoked) {
		t.Fatalf("Refresh after revocation: %v", err)
	}
}

func TestUpstreamDown(t *testing.T) {
	s, c := setup(t)
	ctx := context.Background()
	step, _ := c.Begin(ctx, connectors.BeginRequest{CallbackURL: callback, State: "st"})
	cb := s.Authorize(t, step.URL, "42")
	s.Close()
	_, err := c.Finish(ctx, connectors.FinishRequest{CallbackURL: callback, State: "st", Stash: step.Stash}, httptest.NewRequest("GET", cb, nil))
	var ue *connectors.UpstreamError
	if !errors.As(err, &ue) {
		t.Fatalf("token endpoint down: %v, want UpstreamError", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  oauth2.Config
		want string
	}{
		{"empty", oauth2.Config{}, "authorization_url: required"},
		{"bad url", oauth2.Config{AuthorizationURL: "ftp://x", TokenURL: "https://t", UserinfoURL: "https://u", ClientID: "c"}, "authorization_url"},
		{"bad auth style", oauth2.Config{AuthorizationURL: "https://a", TokenURL: "https://t", UserinfoURL: "https://u", ClientID: "c", AuthStyle: "x"}, "auth_style"},
		{"ok", oauth2.Config{AuthorizationURL: "https://a", TokenURL: "https://t", UserinfoURL: "https://u", ClientID: "c"}, ""},
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

// TestValidateRefusesPlainHTTP: the endpoints follow the issuer rule of the oidc connector:
// https, plain http only on loopback.
// Attack (issue 25.9): an oauth2 connector configured with http:// token and userinfo URLs on
// a non-loopback host sends the authorization code, the client secret and the access token in
// clear, and takes the user's identity from an answer anyone on the path can forge.
func TestValidateRefusesPlainHTTP(t *testing.T) {
	ok := oauth2.Config{AuthorizationURL: "https://idp.example/authorize", TokenURL: "https://idp.example/token", UserinfoURL: "https://idp.example/me", ClientID: "c"}
	tests := []struct {
		name string
		edit func(c *oauth2.Config)
		want string
	}{
		{"http token url", func(c *oauth2.Config) { c.TokenURL = "http://idp.example/token" }, "token_url"},
		{"http userinfo url", func(c *oauth2.Config) { c.UserinfoURL = "http://idp.example/me" }, "userinfo_url"},
		{"http authorization url", func(c *oauth2.Config) { c.AuthorizationURL = "http://idp.example/authorize" }, "authorization_url"},
		{"http on a private address", func(c *oauth2.Config) { c.TokenURL = "http://10.0.0.5/token" }, "token_url"},
		{"http on loopback", func(c *oauth2.Config) {
			c.TokenURL, c.UserinfoURL = "http://127.0.0.1:8080/token", "http://localhost:8080/me"
		}, ""},
		{"https", func(*oauth2.Config) {}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.edit(&cfg)
			err := cfg.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}
