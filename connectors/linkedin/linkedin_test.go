package linkedin_test

// LinkedIn cannot be reached from the test machines: these tests run the connector against an
// httptest server (connectors/internal/fakeoauth) serving what LinkedIn documents for its
// OpenID Connect product ("Sign In with LinkedIn using OpenID Connect"): discovery, JWKS, the
// token endpoint and RS256 ID tokens carrying sub, name, given_name, family_name, picture,
// email and email_verified. The full logins run through the broker (broker/brokertest, the
// constructor serve uses).

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/connectors/internal/fakeoauth"
	"github.com/gatehouse-id/gatehouse/connectors/linkedin"
)

func fakeLinkedIn(t *testing.T) *fakeoauth.Server {
	s := fakeoauth.New(t)
	users := map[string]map[string]any{
		"ada": {"sub": "782bbtaQ", "name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace",
			"picture": "https://media.licdn.com/dms/image/x", "locale": "en-US", "email": "ada@example.com", "email_verified": true},
		"unv":     {"sub": "99zzUNV", "name": "Un Verified", "email": "unv@example.com", "email_verified": false},
		"noclaim": {"sub": "77noCLM", "name": "No Claim", "email": "nc@example.com"},
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
		user         string
		deny, down   bool
		wantVerified bool
		wantPage     string
	}{
		{name: "verified email", user: "ada", wantVerified: true},
		{name: "email_verified false", user: "unv"},
		{name: "no email_verified claim is unverified", user: "noclaim"},
		{name: "user refuses at LinkedIn", deny: true, wantPage: "cancelled or refused at LinkedIn"},
		{name: "LinkedIn down", down: true, wantPage: "LinkedIn is unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := fakeLinkedIn(t)
			cfg := &linkedin.Config{ClientID: fake.ClientID, ClientSecret: fake.ClientSecret}
			cfg.SetIssuer(fake.URL)
			gh := brokertest.New(t, brokertest.RedirectOptions(brokertest.TestConnector{ID: "linkedin", Name: "LinkedIn", Config: cfg}))
			if tt.down {
				fake.Close()
			}
			b := gh.Browser()
			authURL, verifier := gh.AuthURL("openid email profile")
			if tt.down {
				checkDown(t, gh, b, authURL)
				return
			}
			p, at := gh.RedirectLogin(b, authURL, "linkedin", func(u string) *http.Request {
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
		if strings.Contains(l, "/login/linkedin?") {
			pick = l
		}
	}
	if pick == "" {
		t.Fatalf("no LinkedIn on the chooser:\n%s", p.Body)
	}
	p, _ = b.Follow(b.Get(gh.Issuer+pick), gh.Issuer+pick)
	if p.Status != http.StatusServiceUnavailable || !strings.Contains(p.Body, "LinkedIn is unavailable") {
		t.Fatalf("down provider: %d\n%s", p.Status, p.Body)
	}
	p, _ = b.Follow(b.Get(authURL), authURL)
	if !strings.Contains(p.Body, "/login/local?") {
		t.Fatalf("the chooser no longer offers the local connector:\n%s", p.Body)
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		cfg linkedin.Config
		ok  bool
	}{
		{linkedin.Config{ClientID: "a", ClientSecret: "b"}, true},
		{linkedin.Config{ClientID: "a"}, false},
		{linkedin.Config{}, false},
	} {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(%+v) = %v", tt.cfg, err)
		}
	}
}
