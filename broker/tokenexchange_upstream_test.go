package broker_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/local"
	"github.com/gatehouse-id/gatehouse/connectors/oidc"
)

// upstreamIdP is an httptest OpenID provider speaking what go-oidc needs to verify its ID
// tokens (OIDC Discovery 1.0 and a JWKS); corp-oidc's real counterpart cannot be reached from
// here. It signs with RS256.
type upstreamIdP struct {
	*httptest.Server
	key *rsa.PrivateKey
}

func newUpstreamIdP(t *testing.T) *upstreamIdP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	u := &upstreamIdP{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": u.URL, "authorization_endpoint": u.URL + "/authorize",
			"token_endpoint": u.URL + "/token", "jwks_uri": u.URL + "/jwks", "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "u1", Algorithm: "RS256", Use: "sig"}}})
	})
	u.Server = httptest.NewServer(mux)
	t.Cleanup(u.Close)
	return u
}

// idToken signs an ID token for the client with the claims changed by mut.
func (u *upstreamIdP) idToken(t *testing.T, aud string, mut func(map[string]any)) string {
	t.Helper()
	now := time.Now()
	c := map[string]any{"iss": u.URL, "sub": "corp-42", "aud": aud, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"email": "bob@corp.example", "email_verified": true, "preferred_username": "bob"}
	if mut != nil {
		mut(c)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: u.key, KeyID: "u1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(c)
	jws, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTokenExchangeUpstreamIDToken: an ID token from an upstream OIDC provider, issued to
// the corp-oidc connector's client_id, is exchanged for a Gatehouse access token whose sub is
// the linked Gatehouse user; tokens for another audience, from another key, expired, or from
// an upstream the policy does not name are refused.
func TestTokenExchangeUpstreamIDToken(t *testing.T) {
	up := newUpstreamIdP(t)
	rogue := newUpstreamIdP(t)
	s := brokertest.New(t, brokertest.Options{
		Registry: func(local.UserSource) connectors.Registry {
			return connectors.Registry{"oidc": func() connectors.Config { return &oidc.Config{} }}
		},
		Config: func(cfg *config.Config) {
			cfg.Connectors = append(cfg.Connectors,
				brokertest.Connector(t, "{type: oidc, id: corp-oidc, name: Corp, config: {issuer: '"+up.URL+"', client_id: gh-at-corp, client_secret: x}}"),
				brokertest.Connector(t, "{type: oidc, id: partner, name: Partner, config: {issuer: '"+rogue.URL+"', client_id: gh-at-partner, client_secret: x}}"))
			cfg.Clients = append(cfg.Clients, config.Client{ID: "cli", Secret: "cli-secret", GrantTypes: []string{grantExchange},
				TokenExchange: &config.TokenExchange{Audiences: []string{"api-b"}, SubjectTokenTypes: []string{"id_token"},
					Impersonation: true, UpstreamConnectors: []string{"corp-oidc"}}})
		},
	})
	e := envOf(t, s)
	first := ""
	tests := []struct {
		name    string
		token   string
		errCode string
	}{
		{"upstream ID token", up.idToken(t, "gh-at-corp", nil), ""},
		{"the same user again", up.idToken(t, "gh-at-corp", nil), ""},
		{"ID token for another audience", up.idToken(t, "someone-else", nil), "invalid_request"},
		{"expired", up.idToken(t, "gh-at-corp", func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }), "invalid_request"},
		{"signed by another key", rogue.idToken(t, "gh-at-corp", func(c map[string]any) { c["iss"] = up.URL }), "invalid_request"},
		{"upstream not in the policy", rogue.idToken(t, "gh-at-partner", nil), "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := tokenRequest(t, e, exchangeForm(tc.token, typeID, "audience", "api-b"), "cli", "cli-secret")
			if code != tc.errCode {
				t.Fatalf("error %q (%v), want %q", code, body, tc.errCode)
			}
			if code != "" {
				return
			}
			c := jwtClaims(t, body["access_token"].(string))
			if c["aud"] != "api-b" || c["client_id"] != "cli" || c["sub"] == "corp-42" || c["sub"] == "" || c["iss"] != s.Issuer {
				t.Fatalf("claims %v: want a Gatehouse token for api-b whose sub is the linked user", c)
			}
			if first == "" {
				first = c["sub"].(string)
			} else if c["sub"] != first {
				t.Errorf("sub %v, want the same linked user %s", c["sub"], first)
			}
			if exp := int64(c["exp"].(float64)); exp > time.Now().Add(6*time.Minute).Unix() {
				t.Errorf("exchanged token outlives its subject token: exp %d", exp)
			}
		})
	}
}
