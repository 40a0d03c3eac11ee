package discord_test

// Discord cannot be reached from the test machines: these tests run the connector against an
// httptest server (connectors/internal/fakeoauth) serving what Discord documents for OAuth2:
// /oauth2/authorize, /api/oauth2/token (client_secret_basic, rotating refresh tokens), and the
// API /api/users/@me (id, username, global_name, email, verified) and /api/users/@me/guilds,
// with 401 {"message": "401: Unauthorized", "code": 0} for a bad token. The full logins run
// through the broker (broker/brokertest).

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/discord"
	"github.com/gatehouse-id/gatehouse/connectors/internal/fakeoauth"
)

const guildA, guildB = "613425648685547541", "290926798626357250"

func fakeDiscord(t *testing.T) *fakeoauth.Server {
	s := fakeoauth.New(t)
	s.TokenPath = "/api/oauth2/token"
	s.RotateRefresh = true
	users := map[string]map[string]any{
		"nelly": {"id": "80351110224678912", "username": "nelly", "global_name": "Nelly", "email": "nelly@example.com", "verified": true},
		"unv":   {"id": "80351110224678913", "username": "unv", "global_name": nil, "email": "unv@example.com", "verified": false},
	}
	guilds := map[string][]map[string]any{
		"nelly": {{"id": guildA, "name": "Acme", "owner": false, "permissions": "0"}, {"id": guildB, "name": "Other"}},
		"unv":   {{"id": guildB, "name": "Other"}},
	}
	unauth := func(w http.ResponseWriter) {
		fakeoauth.JSON(w, 401, map[string]any{"message": "401: Unauthorized", "code": 0})
	}
	s.Handle("GET /api/users/@me", func(w http.ResponseWriter, r *http.Request) {
		if u := users[s.User(r)]; u != nil {
			fakeoauth.JSON(w, 200, u)
			return
		}
		unauth(w)
	})
	s.Handle("GET /api/users/@me/guilds", func(w http.ResponseWriter, r *http.Request) {
		if u := s.User(r); u != "" {
			fakeoauth.JSON(w, 200, guilds[u])
			return
		}
		unauth(w)
	})
	return s
}

func newConfig(s *fakeoauth.Server, guilds ...string) *discord.Config {
	cfg := &discord.Config{ClientID: s.ClientID, ClientSecret: s.ClientSecret, Guilds: guilds}
	cfg.SetBase(s.URL)
	return cfg
}

func TestBrokerLogin(t *testing.T) {
	tests := []struct {
		name         string
		user         string
		guilds       []string
		deny, down   bool
		wantVerified bool
		wantGroups   []string
		wantPage     string
	}{
		{name: "verified", user: "nelly", wantVerified: true, wantGroups: []string{guildA, guildB}},
		{name: "not verified", user: "unv", wantGroups: []string{guildB}},
		{name: "guild member admitted, only configured guilds reported", user: "nelly", guilds: []string{guildA}, wantVerified: true, wantGroups: []string{guildA}},
		{name: "not in the guild", user: "unv", guilds: []string{guildA}, wantPage: "not a member of the Discord server " + guildA},
		{name: "user refuses at Discord", deny: true, wantPage: "cancelled or refused at Discord"},
		{name: "Discord down", down: true, wantPage: "Discord is unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := fakeDiscord(t)
			gh := brokertest.New(t, brokertest.RedirectOptions(brokertest.TestConnector{ID: "discord", Name: "Discord", Config: newConfig(fake, tt.guilds...)}))
			b := gh.Browser()
			authURL, verifier := gh.AuthURL("openid email profile groups")
			p, at := gh.RedirectLogin(b, authURL, "discord", func(u string) *http.Request {
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
				if !strings.Contains(p.Body+at, tt.wantPage) && !strings.Contains(p.Body, strings.ReplaceAll(tt.wantPage, " ", "+")) {
					t.Fatalf("page %d at %s, want %q:\n%s", p.Status, at, tt.wantPage, p.Body)
				}
				if strings.Contains(at, "code=") && strings.HasPrefix(at, brokertest.ClientRedirect) {
					t.Fatalf("a code was issued: %s", at)
				}
				return
			}
			claims := gh.Exchange(b, brokertest.ClientID, brokertest.ClientSecret, brokertest.ClientRedirect, gh.CodeFrom(p, at), verifier)
			var groups []string
			for _, g := range claims["groups"].([]any) {
				groups = append(groups, g.(string))
			}
			if claims["email_verified"] != tt.wantVerified || !slices.Equal(groups, tt.wantGroups) {
				t.Fatalf("ID token claims %v, want email_verified %v groups %v", claims, tt.wantVerified, tt.wantGroups)
			}
		})
	}
}

// TestRefresh: an expired upstream token is refreshed (Discord rotates the refresh token)
// and the guild checked again; a user who left the guild loses access.
func TestRefresh(t *testing.T) {
	fake := fakeDiscord(t)
	now := time.Now()
	conn, err := newConfig(fake, guildA).Open(context.Background(), connectors.Info{ID: "discord", Name: "Discord"},
		connectors.Deps{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	c := conn.(*discord.Connector)
	const cb = "https://gatehouse.example/callback/discord"
	step, err := c.Begin(t.Context(), connectors.BeginRequest{CallbackURL: cb, State: "st"})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest(http.MethodGet, fake.Authorize(t, step.URL, "nelly"), nil)
	up, err := c.Finish(t.Context(), connectors.FinishRequest{CallbackURL: cb, State: "st", Stash: step.Stash}, r)
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Hour) // the access token expired: refreshed
	got, err := c.Refresh(t.Context(), connectors.Scopes{}, up)
	if err != nil || got.Subject != up.Subject || fake.Requests("/api/oauth2/token") != 2 {
		t.Fatalf("Refresh: %+v %v (token requests %d)", got, err, fake.Requests("/api/oauth2/token"))
	}
	fake.Revoke("nelly")
	if _, err := c.Refresh(t.Context(), connectors.Scopes{}, got); !errors.Is(err, connectors.ErrUpstreamRevoked) {
		t.Fatalf("Refresh after revocation: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		cfg discord.Config
		ok  bool
	}{
		{discord.Config{ClientID: "a", ClientSecret: "b", Guilds: []string{guildA}}, true},
		{discord.Config{ClientID: "a", ClientSecret: "b", Guilds: []string{"acme"}}, false},
		{discord.Config{}, false},
	} {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(%+v) = %v", tt.cfg, err)
		}
	}
}
