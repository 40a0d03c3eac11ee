package gitea_test

// Gitea and Forgejo instances cannot be reached from the test machines: these tests run the
// connector against an httptest server (connectors/internal/fakeoauth) serving what Gitea
// documents (swagger at /api/swagger, identical in Forgejo): /login/oauth/authorize and
// /login/oauth/access_token, /api/v1/user, /api/v1/user/emails, /api/v1/user/orgs and
// /api/v1/user/teams with Link-header pagination, and 401 {"message": "token is required"}.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/claims/claimstest"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/gitea"
	"github.com/gatehouse-id/gatehouse/connectors/internal/fakeoauth"
	"github.com/gatehouse-id/gatehouse/storage"
)

const callback = "https://gatehouse.example/callback/gitea"

type gtUser struct {
	user   map[string]any
	emails []map[string]any
	orgs   []string
	teams  map[string][]string // org -> team names
}

type fakeGitea struct {
	*fakeoauth.Server
	mu    sync.Mutex
	users map[string]*gtUser
	// apiDown makes /api/v1/user answer 502, as an instance behind a failing proxy does.
	apiDown bool
}

func newFake(t *testing.T) *fakeGitea {
	s := fakeoauth.New(t)
	s.TokenPath = "/login/oauth/access_token"
	f := &fakeGitea{Server: s, users: map[string]*gtUser{
		"ann": {
			user: map[string]any{"id": 7, "login": "ann", "login_name": "", "full_name": "Ann Smith", "email": "ann@example.com",
				"avatar_url": "https://gitea.example/avatars/7", "html_url": "https://gitea.example/ann", "language": "en-US",
				"is_admin": false, "active": true, "prohibit_login": false, "restricted": false, "visibility": "public"},
			emails: []map[string]any{{"email": "ann@example.com", "verified": true, "primary": true, "user_id": 7, "username": "ann"},
				{"email": "ann@old.example", "verified": false, "primary": false, "user_id": 7, "username": "ann"}},
			orgs:  []string{"acme", "hobby", "zeta"},
			teams: map[string][]string{"acme": {"Owners", "platform"}, "hobby": {"web"}},
		},
		"ben": {
			user:   map[string]any{"id": 8, "login": "ben", "full_name": "Ben", "email": "ben@example.com", "active": true},
			emails: []map[string]any{{"email": "ben@example.com", "verified": false, "primary": true}},
			orgs:   []string{"hobby"},
		},
		"inactive":   {user: map[string]any{"id": 9, "login": "inactive", "email": "i@example.com", "active": false}},
		"prohibited": {user: map[string]any{"id": 10, "login": "prohibited", "email": "p@example.com", "active": true, "prohibit_login": true}},
	}}
	get := func(r *http.Request) *gtUser {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.users[s.User(r)]
	}
	api := func(h func(http.ResponseWriter, *http.Request, *gtUser)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			u := get(r)
			if u == nil {
				fakeoauth.JSON(w, 401, map[string]string{"message": "token is required", "url": "https://gitea.example/api/swagger"})
				return
			}
			h(w, r, u)
		}
	}
	orgJSON := func(i int, name string) map[string]any {
		return map[string]any{"id": 100 + i, "name": name, "username": name, "full_name": strings.ToUpper(name), "visibility": "public"}
	}
	s.Handle("GET /api/v1/user", api(func(w http.ResponseWriter, _ *http.Request, u *gtUser) {
		f.mu.Lock()
		down := f.apiDown
		f.mu.Unlock()
		if down {
			fakeoauth.JSON(w, 502, map[string]string{"message": "bad gateway"})
			return
		}
		fakeoauth.JSON(w, 200, u.user)
	}))
	s.Handle("GET /api/v1/user/emails", api(func(w http.ResponseWriter, _ *http.Request, u *gtUser) {
		fakeoauth.JSON(w, 200, append([]map[string]any{}, u.emails...))
	}))
	s.Handle("GET /api/v1/user/orgs", api(func(w http.ResponseWriter, r *http.Request, u *gtUser) {
		os := []map[string]any{}
		for i, o := range u.orgs {
			os = append(os, orgJSON(i, o))
		}
		fakeoauth.Page(w, r, os, 2)
	}))
	s.Handle("GET /api/v1/user/teams", api(func(w http.ResponseWriter, r *http.Request, u *gtUser) {
		ts := []map[string]any{}
		for i, o := range u.orgs {
			for j, t := range u.teams[o] {
				ts = append(ts, map[string]any{"id": 1000 + 10*i + j, "name": t, "permission": "write", "includes_all_repositories": false,
					"can_create_org_repo": false, "organization": orgJSON(i, o)})
			}
		}
		fakeoauth.Page(w, r, ts, 2)
	}))
	return f
}

func open(t *testing.T, f *fakeGitea, cfg gitea.Config) *gitea.Connector {
	t.Helper()
	cfg.ClientID, cfg.ClientSecret, cfg.BaseURL = f.ClientID, f.ClientSecret, f.URL
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := cfg.Open(context.Background(), connectors.Info{ID: "gitea", Type: "gitea", Name: "Gitea"}, connectors.Deps{CallbackURL: callback})
	if err != nil {
		t.Fatal(err)
	}
	return c.(*gitea.Connector)
}

func login(t *testing.T, f *fakeGitea, c *gitea.Connector, user string, s connectors.Scopes) (connectors.Upstream, error) {
	t.Helper()
	ctx := context.Background()
	step, err := c.Begin(ctx, connectors.BeginRequest{Scopes: s, CallbackURL: callback, State: "st"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(step.URL, f.URL+"/login/oauth/authorize?") || !strings.Contains(step.URL, "code_challenge=") {
		t.Fatalf("authorization URL %s", step.URL)
	}
	return c.Finish(ctx, connectors.FinishRequest{Scopes: s, CallbackURL: callback, State: "st", Stash: step.Stash}, httptest.NewRequest("GET", f.Authorize(t, step.URL, user), nil))
}

// TestLogin drives the code flow and checks what the connector makes of the API's answers:
// orgs and teams as groups (paged), the org/team restriction, the email trust rule and
// accounts the instance disabled.
func TestLogin(t *testing.T) {
	tests := []struct {
		name         string
		cfg          gitea.Config
		user         string
		groupsScope  bool
		wantGroups   []string
		wantVerified bool
		wantDenied   bool
	}{
		{name: "orgs and teams as groups, paged", user: "ann", groupsScope: true,
			wantGroups: []string{"acme", "acme:Owners", "acme:platform", "hobby", "hobby:web", "zeta"}},
		{name: "no groups without the groups scope", user: "ann"},
		{name: "required org filters", cfg: gitea.Config{Orgs: []gitea.Org{{Name: "hobby"}, {Name: "other"}}}, user: "ann", wantGroups: []string{"hobby", "hobby:web"}},
		{name: "required team", cfg: gitea.Config{Orgs: []gitea.Org{{Name: "ACME", Teams: []string{"platform"}}}}, user: "ann", wantGroups: []string{"ACME", "ACME:platform"}},
		{name: "not in required team", cfg: gitea.Config{Orgs: []gitea.Org{{Name: "hobby", Teams: []string{"ops"}}}}, user: "ann", wantDenied: true},
		{name: "not in required org", cfg: gitea.Config{Orgs: []gitea.Org{{Name: "acme"}}}, user: "ben", wantDenied: true},
		// An instance's admins decide what a verified email is: without trust_email the
		// connector must not vouch for it.
		{name: "verified email untrusted without trust_email", user: "ann"},
		{name: "verified email with trust_email", cfg: gitea.Config{TrustEmail: true}, user: "ann", wantVerified: true},
		{name: "unverified email with trust_email", cfg: gitea.Config{TrustEmail: true}, user: "ben"},
		{name: "inactive account", user: "inactive", wantDenied: true},
		{name: "login prohibited", user: "prohibited", wantDenied: true},
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
			if len(tt.wantGroups) > 0 && f.Requests("/api/v1/user/orgs") < 2 {
				t.Errorf("/api/v1/user/orgs: %d requests, want every page", f.Requests("/api/v1/user/orgs"))
			}
		})
	}
}

// TestRefresh: a refresh re-reads the API, so leaving the required org or revoking the
// token revokes the downstream grant; an expired access token is refreshed first.
func TestRefresh(t *testing.T) {
	f := newFake(t)
	f.AccessTTL = time.Second // already expired when refreshed: the refresh token is used
	c := open(t, f, gitea.Config{Orgs: []gitea.Org{{Name: "acme"}}})
	up, err := login(t, f, c, "ann", connectors.Scopes{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	prev := connectors.Upstream{Subject: up.Subject, Stash: up.Stash}
	if _, err := c.Refresh(ctx, connectors.Scopes{Offline: true}, prev); err != nil {
		t.Fatal(err)
	}
	if f.Requests("/login/oauth/access_token") != 2 {
		t.Errorf("token endpoint: %d requests, want the code and one refresh", f.Requests("/login/oauth/access_token"))
	}
	f.mu.Lock()
	f.users["ann"].orgs = []string{"hobby"}
	f.mu.Unlock()
	if _, err := c.Refresh(ctx, connectors.Scopes{Offline: true}, prev); !errors.Is(err, connectors.ErrUpstreamRevoked) {
		t.Fatalf("Refresh after leaving the org: %v", err)
	}
	f.Revoke("ann")
	if _, err := c.Refresh(ctx, connectors.Scopes{Offline: true}, prev); !errors.Is(err, connectors.ErrUpstreamRevoked) {
		t.Fatalf("Refresh with a revoked token: %v", err)
	}
}

// TestRefreshKeepsRotatedToken: Gitea's refresh tokens are single-use. When the token refresh
// succeeds but the user read after it fails, the old refresh token is already dead: the
// failure must carry the new one (UpstreamError.Stash) for the broker to store, or the grant
// could never be refreshed again once the upstream is back.
func TestRefreshKeepsRotatedToken(t *testing.T) {
	f := newFake(t)
	f.AccessTTL = time.Second // expired when refreshed: the refresh token is used
	f.RotateRefresh = true
	c := open(t, f, gitea.Config{})
	up, err := login(t, f, c, "ann", connectors.Scopes{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	prev := connectors.Upstream{Subject: up.Subject, Stash: up.Stash}
	f.mu.Lock()
	f.apiDown = true
	f.mu.Unlock()
	_, err = c.Refresh(ctx, connectors.Scopes{Offline: true}, prev)
	var ue *connectors.UpstreamError
	if !errors.As(err, &ue) || ue.Stash == nil || errors.Is(err, connectors.ErrUpstreamRevoked) {
		t.Fatalf("refresh with the API down: %v; want an UpstreamError carrying the rotated stash", err)
	}
	f.mu.Lock()
	f.apiDown = false
	f.mu.Unlock()
	if _, err := c.Refresh(ctx, connectors.Scopes{Offline: true}, prev); err == nil {
		t.Fatal("the old stash still refreshed: the fake does not rotate, so this test proves nothing")
	}
	if _, err := c.Refresh(ctx, connectors.Scopes{Offline: true}, connectors.Upstream{Subject: up.Subject, Stash: ue.Stash}); err != nil {
		t.Fatalf("refresh with the kept stash after the outage: %v", err)
	}
}

func TestValidate(t *testing.T) {
	ok := func(c gitea.Config) gitea.Config {
		c.ClientID, c.ClientSecret = "a", "b"
		return c
	}
	tests := []struct {
		name string
		cfg  gitea.Config
		want string
	}{
		{"ok", ok(gitea.Config{BaseURL: "https://gitea.example.com"}), ""},
		{"forgejo under a path", ok(gitea.Config{BaseURL: "https://example.com/forgejo/"}), ""},
		{"missing", gitea.Config{}, "client_id"},
		{"no base url", ok(gitea.Config{}), "base_url: required"},
		{"not a URL", ok(gitea.Config{BaseURL: "gitea.example.com"}), "base_url"},
		// An http:// base_url on a non-loopback host sends codes and tokens in clear.
		{"plain http", ok(gitea.Config{BaseURL: "http://gitea.example.com"}), "https"},
		{"http on loopback", ok(gitea.Config{BaseURL: "http://127.0.0.1:3000"}), ""},
		{"org without name", ok(gitea.Config{BaseURL: "https://g.example", Orgs: []gitea.Org{{Teams: []string{"x"}}}}), "orgs[0].name"},
		{"empty team", ok(gitea.Config{BaseURL: "https://g.example", Orgs: []gitea.Org{{Name: "o", Teams: []string{""}}}}), "orgs[0].teams[0]"},
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

// TestVerifiesEmail: no Gitea instance vouches for emails unless told to trust it, so
// link_verified_email and email_domains requirements are refused at config time without it.
func TestVerifiesEmail(t *testing.T) {
	if ok, key := (&gitea.Config{BaseURL: "https://gitea.com"}).VerifiesEmail(); ok || key != "trust_email" {
		t.Errorf("without trust_email: %v %q", ok, key)
	}
	if ok, _ := (&gitea.Config{TrustEmail: true}).VerifiesEmail(); !ok {
		t.Error("trust_email: not verified")
	}
}

// TestDefaultClaims records the upstream identity made from the documented API answers in
// testdata/gitea-upstream.json (the input for `gatehouse claims explain`; claims/testdata has
// a copy) and runs the default claims pipeline over it.
func TestDefaultClaims(t *testing.T) {
	f := newFake(t)
	up, err := login(t, f, open(t, f, gitea.Config{TrustEmail: true}), "ann", connectors.Scopes{Groups: true})
	if err != nil {
		t.Fatal(err)
	}
	up.Stash = nil // a token of this run; never recorded
	claimstest.RecordUpstream(t, filepath.Join("testdata", "gitea-upstream.json"), up)
	claimstest.CheckDefaultClaims(t, "gitea", up, storage.Identity{
		Email: "ann@example.com", EmailVerified: true, Name: "Ann Smith", PreferredUsername: "ann",
		Groups: []string{"acme", "acme:Owners", "acme:platform", "hobby", "hobby:web", "zeta"},
	})
}
