package broker_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage"
)

// newRequestableEnv is the harness with the confidential client allowed to ask for email and
// name individually (clients[].claims.requestable); groups it may not, and the other
// clients have no requestable claims at all.
func newRequestableEnv(t *testing.T) *env {
	t.Helper()
	return newEnvOpts(t, envOpts{config: func(cfg *config.Config) {
		for i := range cfg.Clients {
			if id := cfg.Clients[i].ID; id == confidentialID || id == trustedID {
				cfg.Clients[i].Claims.Requestable = []string{"email", "name"}
			}
		}
	}})
}

// claimsAuthURL is an authorization URL of client with scope and the claims parameter.
func claimsAuthURL(e *env, client, redirect, scope, claimsParam string) (authURL, verifier string) {
	verifier, challenge := pkce(oauth2.GenerateVerifier())
	q := authParams(client, redirect, challenge)
	q.Set("scope", scope)
	if claimsParam != "" {
		q.Set("claims", claimsParam)
	}
	return e.issuer + "/authorize?" + q.Encode(), verifier
}

// toConsent follows an authorization URL through alice's password login; it returns the
// consent page (or the page or redirect the flow stopped at) and where it is.
func (e *env) toConsent(b *browser, authURL string) (page, string) {
	e.t.Helper()
	p, at := b.follow(e, b.get(authURL), authURL)
	return e.passwordIfAsked(b, p, at)
}

// passwordIfAsked submits alice's password when p is the login form.
func (e *env) passwordIfAsked(b *browser, p page, at string) (page, string) {
	e.t.Helper()
	if strings.Contains(p.body, `name="password"`) {
		action, vals := form(e.t, p.body)
		vals.Set("username", "alice")
		vals.Set("password", alicePassword)
		p, at = b.follow(e, b.post(e.issuer+action, vals), e.issuer+action)
	}
	return p, at
}

// allow submits the consent page and returns the redirect to the client.
func (e *env) allow(b *browser, p page) string {
	e.t.Helper()
	action, vals := form(e.t, p.body)
	vals.Set("decision", "allow")
	p, at := b.follow(e, b.post(e.issuer+action, vals), e.issuer+action)
	if p.status < 300 || p.status >= 400 {
		e.t.Fatalf("consent: %d %s", p.status, p.body)
	}
	return at
}

// redeem exchanges the code in the redirect for tokens.
func redeem(t *testing.T, e *env, to, client, secret, verifier string) map[string]any {
	t.Helper()
	return redeemAt(t, e, to, redirectURI, client, secret, verifier)
}

// redeemAt is redeem for a client whose redirect URI is redirect.
func redeemAt(t *testing.T, e *env, to, redirect, client, secret, verifier string) map[string]any {
	t.Helper()
	code := callbackParams(t, to).Get("code")
	if code == "" {
		t.Fatalf("no code in %s", to)
	}
	errCode, tok := tokenRequest(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {redirect}, "code_verifier": {verifier}}, client, secret)
	if errCode != "" {
		t.Fatalf("token: %s %v", errCode, tok)
	}
	return tok
}

// checkReleased fails unless m has every claim of want and none of avoid.
func checkReleased(t *testing.T, where string, m map[string]any, want, avoid []string) {
	t.Helper()
	for _, c := range want {
		if m[c] == nil {
			t.Errorf("%s lacks %s: %v", where, c, m)
		}
	}
	for _, c := range avoid {
		if _, has := m[c]; has {
			t.Errorf("%s has %s: %v", where, c, m)
		}
	}
}

// TestClaimsParameterReleasesWhereAsked (OIDC Core 5.5): a claim the client may ask for
// individually (requestable) and the user consented to is released without its scope,
// only where it was asked for (id_token: the ID token; userinfo: the UserInfo response),
// and so again after a refresh; a claim the policy does not allow is absent, essential or
// not, and is not on the consent page; a client without requestable claims gets nothing
// more than its scopes; a trusted client gets its requestable claims without consent.
func TestClaimsParameterReleasesWhereAsked(t *testing.T) {
	e := newRequestableEnv(t)
	tests := []struct {
		name, client, secret, redirect, scope, claims string
		consentLists, consentOmits                    []string
		idToken, idAvoid, userinfo, uiAvoid           []string
	}{
		{"email in the ID token, name at userinfo", confidentialID, confidentialSecret, redirectURI, "openid offline_access",
			`{"id_token":{"email":null},"userinfo":{"name":{"essential":true}}}`,
			[]string{"Your email address", "Your name"}, []string{"The groups you belong to"},
			[]string{"email"}, []string{"name", "email_verified"}, []string{"name"}, []string{"email", "email_verified"}},
		{"both places", confidentialID, confidentialSecret, redirectURI, "openid offline_access",
			`{"id_token":{"email":null,"name":null},"userinfo":{"email":null,"name":null}}`,
			[]string{"Your email address", "Your name"}, nil,
			[]string{"email", "name"}, []string{"groups"}, []string{"email", "name"}, []string{"groups"}},
		{"the policy forbids groups, essential or not", confidentialID, confidentialSecret, redirectURI, "openid offline_access",
			`{"id_token":{"groups":{"essential":true},"preferred_username":null},"userinfo":{"groups":null}}`,
			nil, []string{"The groups you belong to", "Your username"},
			nil, []string{"groups", "preferred_username"}, nil, []string{"groups", "preferred_username"}},
		{"scope claims stay everywhere", confidentialID, confidentialSecret, redirectURI, "openid email offline_access",
			`{"userinfo":{"email":null,"name":null}}`,
			[]string{"Your email address", "Your name"}, nil,
			[]string{"email", "email_verified"}, []string{"name"}, []string{"email", "email_verified", "name"}, nil},
		{"no requestable claims: nothing more", otherID, otherSecret, otherRedirect, "openid offline_access",
			`{"id_token":{"email":{"essential":true},"name":null},"userinfo":{"email":null}}`,
			nil, []string{"Your email address", "Your name"},
			nil, []string{"email", "name"}, nil, []string{"email", "name"}},
		{"trusted: no consent page", trustedID, trustedSecret, otherRedirect, "openid offline_access",
			`{"id_token":{"email":null,"groups":null}}`, nil, nil,
			[]string{"email"}, []string{"groups", "name"}, nil, []string{"email", "groups"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			authURL, verifier := claimsAuthURL(e, tc.client, tc.redirect, tc.scope, tc.claims)
			authURL += "&prompt=consent" // each case asks again (the first stored alice's consent)
			b := e.browser()
			p, at := e.toConsent(b, authURL)
			if tc.client != trustedID {
				if !strings.Contains(p.body, `value="allow"`) {
					t.Fatalf("no consent page: %d at %s", p.status, at)
				}
				for _, s := range tc.consentLists {
					if !strings.Contains(p.body, "<li>"+s+"</li>") {
						t.Errorf("the consent page does not list %q:\n%s", s, p.body)
					}
				}
				for _, s := range tc.consentOmits {
					if strings.Contains(p.body, s) {
						t.Errorf("the consent page lists %q:\n%s", s, p.body)
					}
				}
				at = e.allow(b, p)
			}
			tok := redeemAt(t, e, at, tc.redirect, tc.client, tc.secret, verifier)
			for round := range 2 { // the code's tokens, then refreshed ones
				where := []string{"issued", "refreshed"}[round]
				checkReleased(t, where+" ID token", jwtClaims(t, tok["id_token"].(string)), tc.idToken, tc.idAvoid)
				checkReleased(t, where+" userinfo", userinfoClaims(t, e, tok["access_token"].(string)), tc.userinfo, tc.uiAvoid)
				errCode, next := tokenRequest(t, e, url.Values{"grant_type": {"refresh_token"},
					"refresh_token": {tok["refresh_token"].(string)}}, tc.client, tc.secret)
				if errCode != "" {
					t.Fatalf("refresh: %s %v", errCode, next)
				}
				tok = next
			}
		})
	}
}

// TestClaimsParameterConsent: a stored consent covers individually requested claims only
// if it named them. A consent to the scopes alone does not cover email asked for
// individually; once given, the same request passes without the page; asking for name
// as well shows the page again, listing it; prompt=none then gets consent_required.
func TestClaimsParameterConsent(t *testing.T) {
	e := newRequestableEnv(t)
	b := e.browser()
	steps := []struct {
		name, claims, prompt string
		page                 bool   // the consent page is shown
		lists                string // and lists this
		err                  string // the flow ends with this error instead
	}{
		{"scopes only", "", "", true, "", ""},
		{"email individually: not covered by the scope consent", `{"id_token":{"email":null}}`, "", true, "Your email address", ""},
		{"email again: covered", `{"id_token":{"email":null}}`, "", false, "", ""},
		{"email at userinfo: covered (consent is per claim, not per place)", `{"userinfo":{"email":null}}`, "", false, "", ""},
		{"name too, prompt=none: consent_required", `{"id_token":{"email":null,"name":null}}`, "none", false, "", "consent_required"},
		{"name too: the page again", `{"id_token":{"email":null,"name":null}}`, "", true, "Your name", ""},
		{"name: covered now", `{"userinfo":{"name":null}}`, "none", false, "", ""},
	}
	for _, st := range steps {
		authURL, verifier := claimsAuthURL(e, confidentialID, redirectURI, "openid", st.claims)
		if st.prompt != "" {
			authURL += "&prompt=" + st.prompt
		}
		p, at := e.toConsent(b, authURL)
		shown := strings.Contains(p.body, `value="allow"`)
		if shown != st.page {
			t.Fatalf("%s: consent page shown = %v, want %v (%d at %s)", st.name, shown, st.page, p.status, at)
		}
		if st.lists != "" && !strings.Contains(p.body, "<li>"+st.lists+"</li>") {
			t.Errorf("%s: the consent page does not list %q", st.name, st.lists)
		}
		if shown {
			at = e.allow(b, p)
		}
		if st.err != "" {
			if got := callbackParams(t, at).Get("error"); got != st.err {
				t.Fatalf("%s: error %q, want %q (%s)", st.name, got, st.err, at)
			}
			continue
		}
		redeem(t, e, at, confidentialID, confidentialSecret, verifier)
	}
	// The audit trail says which claims each consent was for.
	events, err := e.store.(storage.AuditStore).ListAuditEvents(t.Context(), storage.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var consented []string
	for _, ev := range events {
		if ev.Type == audit.ConsentGiven {
			consented = append(consented, ev.Detail["claims"])
		}
	}
	if want := []string{"", "email", "email name"}; !slices.Equal(consented, want) {
		t.Errorf("consent events name the claims %q, want %q", consented, want)
	}
}

// TestClaimsParameterSubject (OIDC Core 5.5.1, 3.1.2.6): a claims parameter demanding a
// sub (value or values) ends with tokens only for that user. alice's own sub passes; with
// another sub, alice's SSO session is not reused: prompt=none gets login_required, and an
// interactive request asks for a login again and then gets access_denied, never a code.
func TestClaimsParameterSubject(t *testing.T) {
	e := newRequestableEnv(t)
	b := e.browser()
	authURL, verifier := claimsAuthURL(e, confidentialID, redirectURI, "openid", "")
	sub, _ := jwtClaims(t, redeem(t, e, e.login(b, authURL, alicePassword, true), confidentialID, confidentialSecret, verifier)["id_token"].(string))["sub"].(string)
	if sub == "" {
		t.Fatal("no sub")
	}
	tests := []struct {
		name, claims, prompt string
		fresh                bool   // a browser without alice's session
		login                bool   // a login page is shown
		err                  string // the error at the client; "" a code for alice
	}{
		{"alice's sub, SSO session", `{"id_token":{"sub":{"value":"` + sub + `"}}}`, "", false, false, ""},
		{"alice's sub among values, prompt=none", `{"id_token":{"sub":{"values":["someone","` + sub + `"]}}}`, "none", false, false, ""},
		{"alice's sub at userinfo", `{"userinfo":{"sub":{"value":"` + sub + `"}}}`, "", false, false, ""},
		{"another sub, prompt=none", `{"id_token":{"sub":{"value":"someone-else"}}}`, "none", false, false, "login_required"},
		{"another sub, session not reused, then denied", `{"id_token":{"sub":{"value":"someone-else","essential":true}}}`, "", false, true, "access_denied"},
		{"another sub, fresh login, denied", `{"id_token":{"sub":{"values":["x","y"]}}}`, "", true, true, "access_denied"},
		{"an empty sub value", `{"id_token":{"sub":{"value":""}}}`, "", false, false, "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			br := b
			if tc.fresh {
				br = e.browser()
			}
			authURL, verifier := claimsAuthURL(e, confidentialID, redirectURI, "openid", tc.claims)
			if tc.prompt != "" {
				authURL += "&prompt=" + tc.prompt
			}
			p, at := br.follow(e, br.get(authURL), authURL)
			if asked := strings.Contains(p.body, `name="password"`); asked != tc.login {
				t.Errorf("login page shown = %v, want %v", asked, tc.login)
			}
			p, at = e.passwordIfAsked(br, p, at)
			if strings.Contains(p.body, `value="allow"`) {
				at = e.allow(br, p)
			}
			q := callbackParams(t, at)
			if q.Get("error") != tc.err {
				t.Fatalf("error %q, want %q (%s)", q.Get("error"), tc.err, at)
			}
			if tc.err != "" {
				if q.Get("code") != "" {
					t.Fatalf("a code with the error: %s", at)
				}
				return
			}
			if got := jwtClaims(t, redeem(t, e, at, confidentialID, confidentialSecret, verifier)["id_token"].(string))["sub"]; got != sub {
				t.Fatalf("sub %v, want %s", got, sub)
			}
		})
	}
}
