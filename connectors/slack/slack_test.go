package slack_test

// Slack cannot be reached from the test machines: these tests run the connector against an
// httptest server (connectors/internal/fakeoauth) serving what Slack documents for its
// OpenID Connect ("Sign in with Slack"): discovery, JWKS, the token endpoint and RS256 ID
// tokens carrying sub, https://slack.com/user_id, https://slack.com/team_id, email,
// email_verified, name and picture. The full logins run through the broker (broker/brokertest, the
// constructor serve uses).

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/connectors/internal/fakeoauth"
	"github.com/gatehouse-id/gatehouse/connectors/slack"
)

func fakeSlack(t *testing.T) *fakeoauth.Server {
	s := fakeoauth.New(t)
	users := map[string]map[string]any{
		"ada": {"sub": "U0R7JM", "https://slack.com/user_id": "U0R7JM", "https://slack.com/team_id": "T0R7GR", "name": "Ada Lovelace",
			"email": "ada@example.com", "email_verified": true, "https://slack.com/team_name": "Acme"},
		"unv":     {"sub": "U0UNV1", "https://slack.com/user_id": "U0UNV1", "https://slack.com/team_id": "T0R7GR", "email": "unv@example.com", "email_verified": false},
		"noclaim": {"sub": "U0NCL1", "https://slack.com/user_id": "U0NCL1", "https://slack.com/team_id": "T0R7GR", "email": "nc@example.com"},
		"other":   {"sub": "U0OTH1", "https://slack.com/user_id": "U0OTH1", "https://slack.com/team_id": "T0OTHER", "email": "o@example.com", "email_verified": true},
	}
	s.IDClaims = func(user string) map[string]any {
		c := map[string]any{}
		for k, v := range users[user] {
			c[k] = v
		}
		return c
	}
	return s
}

func TestBrokerLogin(t *testing.T) {
	tests := []struct {
		name         string
		user, team   string
		deny, down   bool
		wantVerified bool
		wantPage     string
	}{
		{name: "verified email", user: "ada", wantVerified: true},
		{name: "member of the configured workspace", user: "ada", team: "T0R7GR", wantVerified: true},
		{name: "another workspace refused", user: "other", team: "T0R7GR", wantPage: "only members of the Slack workspace T0R7GR"},
		{name: "email_verified false", user: "unv"},
		{name: "no email_verified claim is unverified", user: "noclaim"},
		{name: "user refuses at Slack", deny: true, wantPage: "cancelled or refused at Slack"},
		{name: "Slack down", down: true, wantPage: "Slack is unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := fakeSlack(t)
			cfg := &slack.Config{ClientID: fake.ClientID, ClientSecret: fake.ClientSecret, Team: tt.team}
			cfg.SetIssuer(fake.URL)
			gh := brokertest.New(t, brokertest.RedirectOptions(brokertest.TestConnector{ID: "slack", Name: "Slack", Config: cfg}))
			if tt.down {
				fake.Close()
			}
			b := gh.Browser()
			authURL, verifier := gh.AuthURL("openid email profile groups")
			if tt.down {
				checkDown(t, gh, b, authURL)
				return
			}
			p, at := gh.RedirectLogin(b, authURL, "slack", func(u string) *http.Request {
				cb := fake.Authorize(t, u, tt.user)
				if tt.deny {
					cb = fake.Deny(t, u)
				}
				r, _ := http.NewRequest(http.MethodGet, cb, nil)
				return r
			})
			if tt.wantPage != "" {
				if !strings.Contains(p.Body, tt.wantPage) || strings.HasPrefix(at, brokertest.ClientRedirect) {
					t.Fatalf("page %d at %s, want %q:\n%s", p.Status, at, tt.wantPage, p.Body)
				}
				return
			}
			claims := gh.Exchange(b, brokertest.ClientID, brokertest.ClientSecret, brokertest.ClientRedirect, gh.CodeFrom(p, at), verifier)
			if g, _ := claims["groups"].([]any); tt.team != "" && (len(g) != 1 || g[0] != "team:"+tt.team) {
				t.Errorf("groups %v, want team:%s", claims["groups"], tt.team)
			}
			if claims["email"] != fakeEmail(tt.user) || claims["email_verified"] != tt.wantVerified {
				t.Fatalf("ID token claims %v, want email_verified %v", claims, tt.wantVerified)
			}
		})
	}
}

func fakeEmail(user string) string {
	return map[string]string{"ada": "ada@example.com", "unv": "unv@example.com", "noclaim": "nc@example.com"}[user]
}

// checkDown: picking a provider that cannot be reached shows a page naming it, and the
// chooser still offers the other connectors.
func checkDown(t *testing.T, gh *brokertest.Server, b *brokertest.Browser, authURL string) {
	t.Helper()
	p, _ := b.Follow(b.Get(authURL), authURL)
	links := brokertest.ChooserLinks(p.Body)
	var pick string
	for _, l := range links {
		if strings.Contains(l, "/login/slack?") {
			pick = l
		}
	}
	if pick == "" {
		t.Fatalf("no Slack on the chooser:\n%s", p.Body)
	}
	p, _ = b.Follow(b.Get(gh.Issuer+pick), gh.Issuer+pick)
	if p.Status != http.StatusServiceUnavailable || !strings.Contains(p.Body, "Slack is unavailable") {
		t.Fatalf("down provider: %d\n%s", p.Status, p.Body)
	}
	p, _ = b.Follow(b.Get(authURL), authURL)
	if !strings.Contains(p.Body, "/login/local?") {
		t.Fatalf("the chooser no longer offers the local connector:\n%s", p.Body)
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		cfg slack.Config
		ok  bool
	}{
		{slack.Config{ClientID: "a", ClientSecret: "b"}, true},
		{slack.Config{ClientID: "a"}, false},
		{slack.Config{}, false},
		{slack.Config{ClientID: "a", ClientSecret: "b", Team: "T0123ABCD"}, true},
		{slack.Config{ClientID: "a", ClientSecret: "b", Team: "acme"}, false},
	} {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(%+v) = %v", tt.cfg, err)
		}
	}
}
