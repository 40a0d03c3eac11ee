package gitlab_test

// GitLab cannot be reached from the test machines: these tests run the connector against an
// httptest server (connectors/internal/fakeoauth) serving what GitLab documents:
// /oauth/authorize and /oauth/token, /api/v4/user, /oauth/userinfo with the groups claim,
// and /api/v4/groups with Link-header pagination, and 401 {"message": "401 Unauthorized"}.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/gitlab"
	"github.com/gatehouse-id/gatehouse/connectors/internal/fakeoauth"
)

const callback = "https://gatehouse.example/callback/gitlab"

type glUser struct {
	user   map[string]any
	groups []string
}

type fakeGitLab struct {
	*fakeoauth.Server
	mu    sync.Mutex
	users map[string]*glUser
}

func newFake(t *testing.T) *fakeGitLab {
	s := fakeoauth.New(t)
	s.TokenPath = "/oauth/token"
	f := &fakeGitLab{Server: s, users: map[string]*glUser{
		"ann": {user: map[string]any{"id": 7, "username": "ann", "name": "Ann", "email": "ann@example.com", "state": "active", "confirmed_at": "2020-01-02T03:04:05Z"},
			groups: []string{"acme", "acme/platform", "acme/web", "hobby"}},
		"ben": {user: map[string]any{"id": 8, "username": "ben", "name": "Ben", "email": "ben@example.com", "state": "active", "confirmed_at": nil},
			groups: []string{"hobby"}},
		"blocked": {user: map[string]any{"id": 9, "username": "blocked", "state": "blocked"}},
	}}
	get := func(r *http.Request) *glUser {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.users[s.User(r)]
	}
	unauth := func(w http.ResponseWriter) { fakeoauth.JSON(w, 401, map[string]string{"message": "401 Unauthorized"}) }
	s.Handle("GET /api/v4/user", func(w http.ResponseWriter, r *http.Request) {
		if u := get(r); u != nil {
			fakeoauth.JSON(w, 200, u.user)
			return
		}
		unauth(w)
	})
	s.Handle("GET /oauth/userinfo", func(w http.ResponseWriter, r *http.Request) {
		if u := get(r); u != nil {
			fakeoauth.JSON(w, 200, map[string]any{"sub": u.user["id"], "nickname": u.user["username"], "groups": u.groups})
			return
		}
		unauth(w)
	})
	s.Handle("GET /api/v4/groups", func(w http.ResponseWriter, r *http.Request) {
		u := get(r)
		if u == nil {
			unauth(w)
			return
		}
		if r.URL.Query().Get("min_access_level") != "10" {
			http.Error(w, "want min_access_level", 400)
			return
		}
		gs := []map[string]any{}
		for i, g := range u.groups {
			gs = append(gs, map[string]any{"id": i + 1, "full_path": g, "path": g[strings.LastIndex(g, "/")+1:]})
		}
		fakeoauth.Page(w, r, gs, 2)
	})
	return f
}

func open(t *testing.T, f *fakeGitLab, cfg gitlab.Config) *gitlab.Connector {
	t.Helper()
	cfg.ClientID, cfg.ClientSecret, cfg.BaseURL = f.ClientID, f.ClientSecret, f.URL
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := cfg.Open(context.Background(), connectors.Info{ID: "gitlab", Type: "gitlab", Name: "GitLab"}, connectors.Deps{CallbackURL: callback})
	if err != nil {
		t.Fatal(err)
	}
	return c.(*gitlab.Connector)
}

func login(t *testing.T, f *fakeGitLab, c *gitlab.Connector, user string, s connectors.Scopes) (connectors.Upstream, error) {
	t.Helper()
	ctx := context.Background()
	step, err := c.Begin(ctx, connectors.BeginRequest{Scopes: s, CallbackURL: callback, State: "st"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(step.URL, f.URL+"/oauth/authorize?") {
		t.Fatalf("authorization URL %s", step.URL)
	}
	return c.Finish(ctx, connectors.FinishRequest{Scopes: s, CallbackURL: callback, State: "st", Stash: step.Stash}, httptest.NewRequest("GET", f.Authorize(t, step.URL, user), nil))
}

func TestLogin(t *testing.T) {
	tests := []struct {
		name         string
		cfg          gitlab.Config
		user         string
		groupsScope  bool
		wantGroups   []string
		wantVerified bool
		wantDenied   bool
	}{
		{name: "oidc groups claim", user: "ann", groupsScope: true, wantGroups: []string{"acme", "acme/platform", "acme/web", "hobby"}},
		{name: "api groups paged", cfg: gitlab.Config{GroupsSource: "api"}, user: "ann", groupsScope: true, wantGroups: []string{"acme", "acme/platform", "acme/web", "hobby"}},
		{name: "required group filters", cfg: gitlab.Config{Groups: []string{"acme/platform", "other"}}, user: "ann", wantGroups: []string{"acme/platform"}},
		// Attack (issue 25.2): on a self-managed instance confirmed_at means what its admins
		// made it mean (confirmation can be off, admins can confirm any address): it counted
		// as verified without the operator saying to trust it.
		{name: "self-managed confirmed_at is not trusted by default", user: "ann"},
		{name: "self-managed confirmed_at with trust_email", cfg: gitlab.Config{TrustEmail: true}, user: "ann", wantVerified: true},
		{name: "trust_email does not verify an unconfirmed email", cfg: gitlab.Config{TrustEmail: true}, user: "ben"},
		{name: "not in required group", cfg: gitlab.Config{Groups: []string{"acme/platform"}, GroupsSource: "api"}, user: "ben", wantDenied: true},
		{name: "unconfirmed email", user: "ben", wantVerified: false},
		{name: "blocked account", user: "blocked", wantDenied: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			up, err := login(t, f, open(t, f, tt.cfg), tt.user, connectors.Scopes{Groups: tt.groupsScope})
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
			if !slices.Equal(up.Groups, tt.wantGroups) || up.EmailVerified != tt.wantVerified || up.Username != tt.user {
				t.Errorf("groups=%q verified=%v username=%q", up.Groups, up.EmailVerified, up.Username)
			}
			if tt.cfg.GroupsSource == "api" && f.Requests("/api/v4/groups") != 2 {
				t.Errorf("/api/v4/groups: %d requests, want 2 pages", f.Requests("/api/v4/groups"))
			}
		})
	}
}

func TestRefresh(t *testing.T) {
	f := newFake(t)
	c := open(t, f, gitlab.Config{Groups: []string{"acme"}})
	up, err := login(t, f, c, "ann", connectors.Scopes{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	prev := connectors.Upstream{Subject: up.Subject, Stash: up.Stash}
	if _, err := c.Refresh(ctx, connectors.Scopes{Offline: true}, prev); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.users["ann"].groups = []string{"hobby"}
	f.mu.Unlock()
	if _, err := c.Refresh(ctx, connectors.Scopes{Offline: true}, prev); !errors.Is(err, connectors.ErrUpstreamRevoked) {
		t.Fatalf("Refresh after leaving the group: %v", err)
	}
	f.Revoke("ann")
	if _, err := c.Refresh(ctx, connectors.Scopes{Offline: true}, prev); !errors.Is(err, connectors.ErrUpstreamRevoked) {
		t.Fatalf("Refresh with a revoked token: %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  gitlab.Config
		want string
	}{
		{"ok", gitlab.Config{ClientID: "a", ClientSecret: "b"}, ""},
		{"missing", gitlab.Config{}, "client_id"},
		{"source", gitlab.Config{ClientID: "a", ClientSecret: "b", GroupsSource: "ldap"}, "groups_source"},
		{"base", gitlab.Config{ClientID: "a", ClientSecret: "b", BaseURL: "gitlab.example.com"}, "base_url"},
		// Attack (issue 25.9, the oauth2 rule applied to its siblings): an http:// base_url on
		// a non-loopback host sends codes and tokens in clear.
		{"plain http base url", gitlab.Config{ClientID: "a", ClientSecret: "b", BaseURL: "http://gitlab.example.com"}, "base_url"},
		{"http on loopback", gitlab.Config{ClientID: "a", ClientSecret: "b", BaseURL: "http://localhost:8080"}, ""},
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

// TestVerifiesEmail checks which configurations can prove an email verified: gitlab.com, or a
// self-managed instance with trust_email (issue 25.2).
func TestVerifiesEmail(t *testing.T) {
	for _, tt := range []struct {
		cfg  gitlab.Config
		want bool
	}{
		{gitlab.Config{}, true},
		{gitlab.Config{BaseURL: "https://gitlab.com/"}, true},
		{gitlab.Config{BaseURL: "https://gitlab.example.com"}, false},
		{gitlab.Config{BaseURL: "https://gitlab.example.com", TrustEmail: true}, true},
	} {
		if got, key := tt.cfg.VerifiesEmail(); got != tt.want || (!got && key != "trust_email") {
			t.Errorf("%+v: VerifiesEmail() = %v, %q; want %v", tt.cfg, got, key, tt.want)
		}
	}
}
