package github_test

// GitHub cannot be reached from the test machines: these tests run the connector against an
// httptest server (connectors/internal/fakeoauth) that serves the responses GitHub documents
// for the OAuth web flow (/login/oauth/authorize, /login/oauth/access_token) and the REST API
// under /api/v3 as GitHub Enterprise Server does (/user, /user/emails, /user/orgs,
// /user/teams), with Link-header pagination and 401 {"message": "Bad credentials"} bodies.

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
	"github.com/gatehouse-id/gatehouse/connectors/github"
	"github.com/gatehouse-id/gatehouse/connectors/internal/fakeoauth"
)

const callback = "https://gatehouse.example/callback/github"

type ghTeam struct {
	Name         string            `json:"name"`
	Slug         string            `json:"slug"`
	Organization map[string]string `json:"organization"`
}

type ghUser struct {
	user   map[string]any
	emails []map[string]any
	orgs   []string
	teams  []ghTeam
}

func team(org, name, slug string) ghTeam {
	return ghTeam{Name: name, Slug: slug, Organization: map[string]string{"login": org}}
}

// fakeGitHub serves the documented REST API shapes for a few users.
type fakeGitHub struct {
	*fakeoauth.Server
	mu    sync.Mutex
	users map[string]*ghUser
}

func newFake(t *testing.T) *fakeGitHub {
	s := fakeoauth.New(t)
	s.TokenPath = "/login/oauth/access_token"
	f := &fakeGitHub{Server: s, users: map[string]*ghUser{
		"octo": {
			user: map[string]any{"id": 1001, "login": "octo", "name": "Octo Cat", "email": nil, "html_url": "https://github.example/octo"},
			emails: []map[string]any{
				{"email": "octo@users.noreply.github.com", "primary": false, "verified": true, "visibility": nil},
				{"email": "octo@example.com", "primary": true, "verified": true, "visibility": "public"},
			},
			orgs:  []string{"other", "acme"},
			teams: []ghTeam{team("other", "X", "x"), team("acme", "Web", "web"), team("acme", "Platform Team", "platform"), team("other", "Y", "y"), team("acme", "Ops", "ops")},
		},
		"outsider": {
			user:   map[string]any{"id": 1002, "login": "outsider", "name": "Out Sider"},
			emails: []map[string]any{{"email": "out@example.com", "primary": true, "verified": true}},
			orgs:   []string{"other"},
		},
		"unverified": {
			user:   map[string]any{"id": 1003, "login": "unverified"},
			emails: []map[string]any{{"email": "unv@example.com", "primary": true, "verified": false}},
			orgs:   []string{"acme"},
			teams:  []ghTeam{team("acme", "Web", "web")},
		},
	}}
	get := func(r *http.Request) *ghUser {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.users[s.User(r)]
	}
	unauth := func(w http.ResponseWriter) {
		fakeoauth.JSON(w, 401, map[string]string{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
	}
	s.Handle("GET /api/v3/user", func(w http.ResponseWriter, r *http.Request) {
		if u := get(r); u != nil {
			fakeoauth.JSON(w, 200, u.user)
			return
		}
		unauth(w)
	})
	s.Handle("GET /api/v3/user/emails", func(w http.ResponseWriter, r *http.Request) {
		if u := get(r); u != nil {
			fakeoauth.Page(w, r, u.emails, 1)
			return
		}
		unauth(w)
	})
	s.Handle("GET /api/v3/user/orgs", func(w http.ResponseWriter, r *http.Request) {
		u := get(r)
		if u == nil {
			unauth(w)
			return
		}
		orgs := []map[string]any{}
		for _, o := range u.orgs {
			orgs = append(orgs, map[string]any{"login": o, "id": len(o)})
		}
		fakeoauth.Page(w, r, orgs, 1)
	})
	s.Handle("GET /api/v3/user/teams", func(w http.ResponseWriter, r *http.Request) {
		if u := get(r); u != nil {
			fakeoauth.Page(w, r, append([]ghTeam{}, u.teams...), 2)
			return
		}
		unauth(w)
	})
	return f
}

func open(t *testing.T, f *fakeGitHub, cfg github.Config) *github.Connector {
	t.Helper()
	cfg.ClientID, cfg.ClientSecret, cfg.BaseURL = f.ClientID, f.ClientSecret, f.URL
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := cfg.Open(context.Background(), connectors.Info{ID: "github", Type: "github", Name: "GitHub"}, connectors.Deps{CallbackURL: callback})
	if err != nil {
		t.Fatal(err)
	}
	return c.(*github.Connector)
}

func login(t *testing.T, f *fakeGitHub, c *github.Connector, user string, s connectors.Scopes) (connectors.Upstream, error) {
	t.Helper()
	ctx := context.Background()
	step, err := c.Begin(ctx, connectors.BeginRequest{Scopes: s, CallbackURL: callback, State: "st"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(step.URL, f.URL+"/login/oauth/authorize?") {
		t.Fatalf("authorization URL %s", step.URL)
	}
	cb := f.Authorize(t, step.URL, user)
	return c.Finish(ctx, connectors.FinishRequest{Scopes: s, CallbackURL: callback, State: "st", Stash: step.Stash}, httptest.NewRequest("GET", cb, nil))
}

func TestLoginOrgsAndTeams(t *testing.T) {
	acmePlatform := []github.Org{{Name: "acme", Teams: []string{"platform"}}}
	tests := []struct {
		name         string
		cfg          github.Config
		user         string
		groupsScope  bool
		wantGroups   []string
		wantDenied   string
		wantEmail    string
		wantVerified bool
	}{
		{name: "team member, slugs", cfg: github.Config{Orgs: acmePlatform}, user: "octo",
			wantGroups: []string{"acme", "acme:platform"}, wantEmail: "octo@example.com", wantVerified: true},
		{name: "team by display name, names", cfg: github.Config{Orgs: []github.Org{{Name: "acme", Teams: []string{"Platform Team"}}}, TeamNameField: "name"}, user: "octo",
			wantGroups: []string{"acme", "acme:Platform Team"}, wantEmail: "octo@example.com", wantVerified: true},
		{name: "whole org, both", cfg: github.Config{Orgs: []github.Org{{Name: "acme"}}, TeamNameField: "both"}, user: "octo",
			wantGroups: []string{"acme", "acme:web", "acme:Web", "acme:platform", "acme:Platform Team", "acme:ops", "acme:Ops"}, wantEmail: "octo@example.com", wantVerified: true},
		{name: "no orgs configured, groups asked", cfg: github.Config{}, user: "octo", groupsScope: true,
			wantGroups: []string{"other", "acme", "other:x", "acme:web", "acme:platform", "other:y", "acme:ops"}, wantEmail: "octo@example.com", wantVerified: true},
		{name: "no orgs configured, no groups asked", cfg: github.Config{}, user: "octo", wantEmail: "octo@example.com", wantVerified: true},
		{name: "not in the org", cfg: github.Config{Orgs: acmePlatform}, user: "outsider", wantDenied: "acme"},
		{name: "in the org, not in the team", cfg: github.Config{Orgs: acmePlatform}, user: "unverified", wantDenied: "platform"},
		// Attack (issue 12.2): an unverified primary address (anyone can add any address to
		// a GitHub account) was reported as the user's email; only a verified primary is.
		{name: "unverified primary email", cfg: github.Config{Orgs: []github.Org{{Name: "acme"}}}, user: "unverified",
			wantGroups: []string{"acme", "acme:web"}, wantEmail: "", wantVerified: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			up, err := login(t, f, open(t, f, tt.cfg), tt.user, connectors.Scopes{Groups: tt.groupsScope})
			if tt.wantDenied != "" {
				var denied *connectors.DeniedError
				if !errors.As(err, &denied) || !strings.Contains(denied.Reason, tt.wantDenied) {
					t.Fatalf("err = %v, want DeniedError naming %q", err, tt.wantDenied)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(up.Groups, tt.wantGroups) || up.Email != tt.wantEmail || up.EmailVerified != tt.wantVerified {
				t.Errorf("groups=%q email=%q verified=%v", up.Groups, up.Email, up.EmailVerified)
			}
			if up.Username != tt.user || up.Subject == "" {
				t.Errorf("subject=%q username=%q", up.Subject, up.Username)
			}
		})
	}
}

func TestPagination(t *testing.T) {
	f := newFake(t)
	if _, err := login(t, f, open(t, f, github.Config{Orgs: []github.Org{{Name: "acme"}}}), "octo", connectors.Scopes{}); err != nil {
		t.Fatal(err)
	}
	// 5 teams at 2 per page, 2 orgs and 2 emails at 1 per page.
	for path, want := range map[string]int{"/api/v3/user/teams": 3, "/api/v3/user/orgs": 2, "/api/v3/user/emails": 2} {
		if got := f.Requests(path); got != want {
			t.Errorf("%s: %d requests, want %d", path, got, want)
		}
	}
}

func TestRefreshRechecksMembership(t *testing.T) {
	f := newFake(t)
	c := open(t, f, github.Config{Orgs: []github.Org{{Name: "acme"}}})
	up, err := login(t, f, c, "octo", connectors.Scopes{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Refresh(ctx, connectors.Scopes{Offline: true}, connectors.Upstream{Subject: up.Subject, Stash: up.Stash}); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	f.mu.Lock()
	f.users["octo"].orgs = []string{"other"}
	f.users["octo"].teams = nil
	f.mu.Unlock()
	if _, err := c.Refresh(ctx, connectors.Scopes{Offline: true}, connectors.Upstream{Subject: up.Subject, Stash: up.Stash}); !errors.Is(err, connectors.ErrUpstreamRevoked) {
		t.Fatalf("Refresh after leaving the org: %v", err)
	}
	f.Revoke("octo")
	if _, err := c.Refresh(ctx, connectors.Scopes{Offline: true}, connectors.Upstream{Subject: up.Subject, Stash: up.Stash}); !errors.Is(err, connectors.ErrUpstreamRevoked) {
		t.Fatalf("Refresh with a revoked token: %v", err)
	}
}

func TestAccessDeniedAtGitHub(t *testing.T) {
	f := newFake(t)
	c := open(t, f, github.Config{})
	ctx := context.Background()
	step, _ := c.Begin(ctx, connectors.BeginRequest{CallbackURL: callback, State: "st"})
	_, err := c.Finish(ctx, connectors.FinishRequest{CallbackURL: callback, State: "st", Stash: step.Stash}, httptest.NewRequest("GET", f.Deny(t, step.URL), nil))
	var denied *connectors.DeniedError
	if !errors.As(err, &denied) {
		t.Fatalf("err = %v", err)
	}
}

func TestGitHubDotComEndpoints(t *testing.T) {
	cfg := github.Config{ClientID: "id", ClientSecret: "secret"}
	c, err := cfg.Open(context.Background(), connectors.Info{ID: "github"}, connectors.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	step, err := c.(*github.Connector).Begin(context.Background(), connectors.BeginRequest{CallbackURL: callback, State: "s", Scopes: connectors.Scopes{Groups: true}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(step.URL, "https://github.com/login/oauth/authorize?") || !strings.Contains(step.URL, "read%3Aorg") {
		t.Errorf("URL %s", step.URL)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  github.Config
		want string
	}{
		{"ok", github.Config{ClientID: "a", ClientSecret: "b"}, ""},
		{"missing client", github.Config{}, "client_id"},
		{"base url with path", github.Config{ClientID: "a", ClientSecret: "b", BaseURL: "https://gh.example/api/v3"}, "base_url"},
		{"team field", github.Config{ClientID: "a", ClientSecret: "b", TeamNameField: "id"}, "team_name_field"},
		{"org without name", github.Config{ClientID: "a", ClientSecret: "b", Orgs: []github.Org{{Teams: []string{"x"}}}}, "orgs[0].name"},
		// Attack (issue 25.9, the oauth2 rule applied to its siblings): an http:// GitHub
		// Enterprise base_url on a non-loopback host sends codes and tokens in clear.
		{"plain http base url", github.Config{ClientID: "a", ClientSecret: "b", BaseURL: "http://github.example.com"}, "base_url"},
		{"http on loopback", github.Config{ClientID: "a", ClientSecret: "b", BaseURL: "http://127.0.0.1:8080"}, ""},
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
