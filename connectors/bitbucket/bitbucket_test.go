package bitbucket_test

// Bitbucket Cloud cannot be reached from the test machines: these tests run the connector
// against an httptest server (connectors/internal/fakeoauth) serving what Atlassian documents
// for the REST API 2.0: /site/oauth2/authorize and /site/oauth2/access_token (client
// credentials in the Basic header), /2.0/user (the account schema), /2.0/user/emails
// (paginated_email_addresses) and /2.0/user/workspaces (paginated_workspace_access), both
// paged with {"values", "next", "page", "pagelen", "size"}, and the error envelope
// {"type": "error", "error": {"message": ...}} with 401.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/claims/claimstest"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/bitbucket"
	"github.com/gatehouse-id/gatehouse/connectors/internal/fakeoauth"
	"github.com/gatehouse-id/gatehouse/storage"
)

const callback = "https://gatehouse.example/callback/bitbucket"

type bbUser struct {
	user       map[string]any
	emails     []map[string]any
	workspaces []string
}

type fakeBitbucket struct {
	*fakeoauth.Server
	mu    sync.Mutex
	users map[string]*bbUser
}

// page serves items Bitbucket's way: two per page, the next page's absolute URL in "next".
func page(w http.ResponseWriter, r *http.Request, items []map[string]any) {
	const size = 2
	n, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || n < 1 {
		n = 1
	}
	start := min((n-1)*size, len(items))
	end := min(start+size, len(items))
	body := map[string]any{"pagelen": size, "size": len(items), "page": n, "values": append([]map[string]any{}, items[start:end]...)}
	if end < len(items) {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(n+1))
		body["next"] = fmt.Sprintf("http://%s%s?%s", r.Host, r.URL.Path, q.Encode())
	}
	fakeoauth.JSON(w, 200, body)
}

func newFake(t *testing.T) *fakeBitbucket {
	s := fakeoauth.New(t)
	s.TokenPath = "/site/oauth2/access_token"
	f := &fakeBitbucket{Server: s, users: map[string]*bbUser{
		"ann": {
			user: map[string]any{"type": "user", "uuid": "{a7d0c1e2-0000-4000-8000-000000000001}", "account_id": "557058:0a1b2c3d",
				"username": "ann-smith", "nickname": "ann", "display_name": "Ann Smith", "account_status": "active", "has_2fa_enabled": true,
				"created_on": "2019-04-01T10:00:00.000000+00:00",
				"links":      map[string]any{"html": map[string]string{"href": "https://bitbucket.org/%7Ba7d0c1e2-0000-4000-8000-000000000001%7D/"}}},
			emails: []map[string]any{
				{"type": "email", "email": "ann@old.example", "is_primary": false, "is_confirmed": true},
				{"type": "email", "email": "ann@example.com", "is_primary": true, "is_confirmed": true},
			},
			workspaces: []string{"acme", "acme-labs", "hobby"},
		},
		"ben": {
			user:       map[string]any{"type": "user", "uuid": "{b0000000-0000-4000-8000-000000000002}", "nickname": "ben", "display_name": "Ben", "account_status": "active"},
			emails:     []map[string]any{{"type": "email", "email": "ben@example.com", "is_primary": true, "is_confirmed": false}},
			workspaces: []string{"hobby"},
		},
		"closed": {user: map[string]any{"type": "user", "uuid": "{c0000000-0000-4000-8000-000000000003}", "nickname": "closed", "account_status": "closed"}},
	}}
	api := func(h func(http.ResponseWriter, *http.Request, *bbUser)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			u := f.users[s.User(r)]
			f.mu.Unlock()
			if u == nil {
				fakeoauth.JSON(w, 401, map[string]any{"type": "error", "error": map[string]string{"message": "Access token expired."}})
				return
			}
			h(w, r, u)
		}
	}
	s.Handle("GET /2.0/user", api(func(w http.ResponseWriter, _ *http.Request, u *bbUser) { fakeoauth.JSON(w, 200, u.user) }))
	s.Handle("GET /2.0/user/emails", api(func(w http.ResponseWriter, r *http.Request, u *bbUser) { page(w, r, u.emails) }))
	s.Handle("GET /2.0/user/workspaces", api(func(w http.ResponseWriter, r *http.Request, u *bbUser) {
		var rows []map[string]any
		for i, slug := range u.workspaces {
			rows = append(rows, map[string]any{"type": "workspace_access", "administrator": i == 0,
				"workspace": map[string]any{"type": "workspace_base", "uuid": fmt.Sprintf("{00000000-0000-4000-8000-00000000010%d}", i), "slug": slug}})
		}
		page(w, r, rows)
	}))
	return f
}

func open(t *testing.T, f *fakeBitbucket, cfg bitbucket.Config) *bitbucket.Connector {
	t.Helper()
	cfg.ClientID, cfg.ClientSecret = f.ClientID, f.ClientSecret
	cfg.SetEndpoints(f.URL, f.URL)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := cfg.Open(context.Background(), connectors.Info{ID: "bitbucket", Type: "bitbucket", Name: "Bitbucket"}, connectors.Deps{CallbackURL: callback})
	if err != nil {
		t.Fatal(err)
	}
	return c.(*bitbucket.Connector)
}

func login(t *testing.T, f *fakeBitbucket, c *bitbucket.Connector, user string, s connectors.Scopes) (connectors.Upstream, error) {
	t.Helper()
	ctx := context.Background()
	step, err := c.Begin(ctx, connectors.BeginRequest{Scopes: s, CallbackURL: callback, State: "st"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(step.URL, f.URL+"/site/oauth2/authorize?") {
		t.Fatalf("authorization URL %s", step.URL)
	}
	return c.Finish(ctx, connectors.FinishRequest{Scopes: s, CallbackURL: callback, State: "st", Stash: step.Stash}, httptest.NewRequest("GET", f.Authorize(t, step.URL, user), nil))
}

// TestLogin drives the code flow and checks what the connector makes of the documented
// answers: workspaces as groups (every page), the workspace restriction, the confirmed-primary
// email rule and closed accounts.
func TestLogin(t *testing.T) {
	tests := []struct {
		name         string
		cfg          bitbucket.Config
		user         string
		groupsScope  bool
		wantGroups   []string
		wantEmail    string
		wantVerified bool
		wantDenied   bool
	}{
		{name: "workspaces as groups, paged", user: "ann", groupsScope: true, wantGroups: []string{"acme", "acme-labs", "hobby"},
			wantEmail: "ann@example.com", wantVerified: true},
		{name: "no groups without the groups scope", user: "ann", wantEmail: "ann@example.com", wantVerified: true},
		{name: "required workspace filters", cfg: bitbucket.Config{Workspaces: []string{"hobby", "other"}}, user: "ann", wantGroups: []string{"hobby"},
			wantEmail: "ann@example.com", wantVerified: true},
		{name: "slugs match exactly", cfg: bitbucket.Config{Workspaces: []string{"acme-lab"}}, user: "ann", wantDenied: true},
		{name: "not in required workspace", cfg: bitbucket.Config{Workspaces: []string{"acme"}}, user: "ben", wantDenied: true},
		// An unconfirmed primary email is not reported at all: anyone can add any address.
		{name: "unconfirmed primary email", user: "ben"},
		{name: "closed account", user: "closed", wantDenied: true},
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
			if !slices.Equal(up.Groups, tt.wantGroups) || up.Email != tt.wantEmail || up.EmailVerified != tt.wantVerified {
				t.Errorf("groups=%q email=%q verified=%v", up.Groups, up.Email, up.EmailVerified)
			}
			if !strings.HasPrefix(up.Subject, "{") {
				t.Errorf("subject %q, want the account uuid", up.Subject)
			}
			if tt.wantGroups != nil && f.Requests("/2.0/user/workspaces") != 2 {
				t.Errorf("/2.0/user/workspaces: %d requests, want 2 pages", f.Requests("/2.0/user/workspaces"))
			}
		})
	}
}

// TestRefresh: Bitbucket access tokens expire after two hours; a refresh uses the refresh
// token then re-reads the API, so leaving the workspace or revoking the app revokes the
// downstream grant.
func TestRefresh(t *testing.T) {
	f := newFake(t)
	f.AccessTTL = time.Second
	c := open(t, f, bitbucket.Config{Workspaces: []string{"acme"}})
	up, err := login(t, f, c, "ann", connectors.Scopes{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	prev := connectors.Upstream{Subject: up.Subject, Stash: up.Stash}
	if _, err := c.Refresh(ctx, connectors.Scopes{Offline: true}, prev); err != nil {
		t.Fatal(err)
	}
	if n := f.Requests("/site/oauth2/access_token"); n != 2 {
		t.Errorf("token endpoint: %d requests, want the code and one refresh", n)
	}
	f.mu.Lock()
	f.users["ann"].workspaces = []string{"hobby"}
	f.mu.Unlock()
	if _, err := c.Refresh(ctx, connectors.Scopes{Offline: true}, prev); !errors.Is(err, connectors.ErrUpstreamRevoked) {
		t.Fatalf("Refresh after leaving the workspace: %v", err)
	}
	f.Revoke("ann")
	if _, err := c.Refresh(ctx, connectors.Scopes{Offline: true}, prev); !errors.Is(err, connectors.ErrUpstreamRevoked) {
		t.Fatalf("Refresh with a revoked token: %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  bitbucket.Config
		want string
	}{
		{"ok", bitbucket.Config{ClientID: "a", ClientSecret: "b", Workspaces: []string{"acme"}}, ""},
		{"missing", bitbucket.Config{}, "client_secret"},
		{"bad workspace", bitbucket.Config{ClientID: "a", ClientSecret: "b", Workspaces: []string{"acme/repo"}}, "workspaces[0]"},
		{"empty workspace", bitbucket.Config{ClientID: "a", ClientSecret: "b", Workspaces: []string{""}}, "workspaces[0]"},
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

// TestDefaultClaims records the upstream identity made from the documented API answers in
// testdata/bitbucket-upstream.json (the input for `gatehouse claims explain`; claims/testdata
// has a copy) and runs the default claims pipeline over it.
func TestDefaultClaims(t *testing.T) {
	f := newFake(t)
	up, err := login(t, f, open(t, f, bitbucket.Config{}), "ann", connectors.Scopes{Groups: true})
	if err != nil {
		t.Fatal(err)
	}
	up.Stash = nil // a token of this run; never recorded
	claimstest.RecordUpstream(t, filepath.Join("testdata", "bitbucket-upstream.json"), up)
	claimstest.CheckDefaultClaims(t, "bitbucket", up, storage.Identity{
		Email: "ann@example.com", EmailVerified: true, Name: "Ann Smith", PreferredUsername: "ann-smith",
		Groups: []string{"acme", "acme-labs", "hobby"},
	})
}
