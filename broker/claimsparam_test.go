package broker_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/mfa"
)

// userinfoClaims fetches the userinfo response for the access token.
func userinfoClaims(t *testing.T, e *env, token string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m := map[string]any{}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&m) != nil {
		t.Fatalf("userinfo: %d", resp.StatusCode)
	}
	return m
}

// TestClaimsParameterNeverWidens: claims asked for with the claims parameter (OIDC Core
// 5.5), essential or not, are released only when the scopes and the client's claims policy
// release them; a claim the policy does not release is simply absent from the ID token and
// userinfo, and the request still succeeds.
func TestClaimsParameterNeverWidens(t *testing.T) {
	e := newEnv(t)
	claimsParam := `{"id_token":{"email":{"essential":true},"groups":null,"secret_level":{"essential":true}},` +
		`"userinfo":{"email":null,"name":{"essential":true},"groups":null}}`
	cases := []struct {
		scope       string
		want, avoid []string // in both the ID token and userinfo
	}{
		{"openid", nil, []string{"email", "groups", "name", "secret_level"}},
		{"openid email", []string{"email"}, []string{"groups", "name", "secret_level"}},
		{"openid email profile groups", []string{"email", "groups", "name"}, []string{"secret_level"}},
	}
	for _, tc := range cases {
		t.Run(tc.scope, func(t *testing.T) {
			verifier, challenge := pkce(oauth2.GenerateVerifier())
			q := authParams(confidentialID, redirectURI, challenge)
			q.Set("scope", tc.scope)
			q.Set("claims", claimsParam)
			to := e.login(e.browser(), e.issuer+"/authorize?"+q.Encode(), alicePassword, true)
			code := callbackParams(t, to).Get("code")
			errCode, tok := tokenRequest(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {code},
				"redirect_uri": {redirectURI}, "code_verifier": {verifier}}, confidentialID, confidentialSecret)
			if errCode != "" {
				t.Fatalf("token: %s %v", errCode, tok)
			}
			idt := jwtClaims(t, tok["id_token"].(string))
			ui := userinfoClaims(t, e, tok["access_token"].(string))
			for where, m := range map[string]map[string]any{"id token": idt, "userinfo": ui} {
				for _, c := range tc.want {
					if m[c] == nil {
						t.Errorf("%s lacks %s: %v", where, c, m)
					}
				}
				for _, c := range tc.avoid {
					if _, has := m[c]; has {
						t.Errorf("%s has %s, which the policy does not release for scope %q: %v", where, c, tc.scope, m)
					}
				}
			}
		})
	}
}

// TestClaimsParameterACRStepUp: an essential acr with values in the claims parameter asks
// for the second factor as acr_values does: a password-only session is stepped up and the
// ID token's acr is the one asked for.
func TestClaimsParameterACRStepUp(t *testing.T) {
	e := newMFAEnv(t, mfa.Off)
	web := e.rp(confidentialID, confidentialSecret, redirectURI)
	b := e.browser()
	verifier := oauth2.GenerateVerifier()
	p, at := e.passwordStep(b, e.authURL(web, verifier))
	first := e.exchange(web, e.consentAndCode(b, p, at).Get("code"), verifier)
	wantAuth(t, "password only", first, mfa.ACRPassword, "pwd")

	u := mfa.User{ID: first.Sub, Name: "alice"}
	setup, err := e.svc.BeginTOTP(u)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.FinishTOTP(context.Background(), u, setup.State, "Phone", totpCode(t, setup.Secret, e.clock.Now())); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(30 * time.Second)

	verifier = oauth2.GenerateVerifier()
	authURL := e.authURL(web, verifier, oauth2.SetAuthURLParam("claims", `{"id_token":{"acr":{"essential":true,"values":["`+mfa.ACRMFA+`"]}}}`))
	p, at = b.follow(e.env, b.get(authURL), authURL)
	if !strings.Contains(at, "/mfa?req=") {
		t.Fatalf("claims acr step-up: got %d at %s", p.status, at)
	}
	p = e.submitMFA(b, p, "totp", map[string]string{"code": totpCode(t, setup.Secret, e.clock.Now())})
	q := e.consentAndCode(b, p, e.issuer+"/mfa")
	wantAuth(t, "claims acr step-up", e.exchange(web, q.Get("code"), verifier), mfa.ACRMFA, "otp", "mfa")
}
