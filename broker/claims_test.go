package broker_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/claims"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage"
)

// claimsConfig is a claims configuration for the harness's clients and local connector:
// a mapped custom claim released by a custom scope, a client that requires a group alice
// lacks, and a pairwise client.
func claimsConfig() *config.Config {
	return &config.Config{
		PairwiseSalt: "pairwise-salt-0123456789",
		Connectors: []config.ConnectorBlock{{Type: "local", ID: "local", Claims: config.ConnectorClaims{
			Map: map[string]string{
				"department": "'staff' in groups ? 'Research' : 'Other'",
				"initials":   "name.split(' ').map(w, w.substring(0, 1)).join('')",
			},
			Groups: config.GroupRules{Prefix: "local:"},
		}}},
		Clients: []config.Client{
			{ID: confidentialID, RedirectURIs: []string{redirectURI},
				Claims: config.ClientClaims{Extra: map[string]string{"role": "'local:admins' in groups ? 'admin' : 'viewer'"}, Hardcoded: map[string]any{"tenant": "acme"}}},
			{ID: otherID, RedirectURIs: []string{otherRedirect}, Name: "Other App", Require: config.Requirement{Groups: []string{"local:finance"}}},
			{ID: trustedID, RedirectURIs: []string{otherRedirect}, SubjectType: "pairwise"},
		},
		Scopes: []config.Scope{{Name: "department", Description: "Your department and initials", Claims: []string{"department", "initials"}}},
	}
}

func newClaimsEnv(t *testing.T) *env {
	t.Helper()
	return newEnvClaims(t, "RS256", func(t testing.TB, store storage.Storage, now func() time.Time) *claims.Normalizer {
		n, err := claims.New(claimsConfig(), claims.Options{Links: store, Now: now})
		if err != nil {
			t.Fatalf("claims.New: %v", err)
		}
		return n
	})
}

// codeFlow logs alice in through r and returns the verified ID token and the token.
func codeFlow(t *testing.T, e *env, b *browser, r *rp, consent bool) (*oidc.IDToken, *oauth2.Token) {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	to := e.login(b, r.oauth.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), alicePassword, consent)
	code := callbackParams(t, to).Get("code")
	if code == "" {
		t.Fatalf("no code in %s", to)
	}
	tok, err := r.oauth.Exchange(r.ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	idt, err := r.verifier.Verify(r.ctx, tok.Extra("id_token").(string))
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return idt, tok
}

func TestCustomScopeReleasesMappedClaim(t *testing.T) {
	e := newClaimsEnv(t)
	var meta struct {
		Scopes []string `json:"scopes_supported"`
		Claims []string `json:"claims_supported"`
	}
	resp, err := http.Get(e.issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if !slices.Contains(meta.Scopes, "department") || !slices.Contains(meta.Claims, "initials") || !slices.Contains(meta.Claims, "role") {
		t.Errorf("discovery: scopes %q, claims %q", meta.Scopes, meta.Claims)
	}

	// With the custom scope: the consent page names it, the ID token and userinfo carry the claims.
	r := e.rp(confidentialID, confidentialSecret, redirectURI, oidc.ScopeOpenID, "groups", "department")
	b := e.browser()
	p, _ := b.follow(e, b.get(r.oauth.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))), e.issuer)
	action, vals := form(t, p.body)
	vals.Set("username", "alice")
	vals.Set("password", alicePassword)
	consent, _ := b.follow(e, b.post(e.issuer+action, vals), e.issuer+action)
	if !strings.Contains(consent.body, "Your department and initials") {
		t.Errorf("consent page does not describe the custom scope:\n%s", consent.body)
	}

	idt, tok := codeFlow(t, e, b, r, true)
	var cl map[string]any
	if err := idt.Claims(&cl); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"department": "Research", "initials": "AE", "role": "admin", "tenant": "acme"}
	for k, v := range want {
		if cl[k] != v {
			t.Errorf("ID token %s = %v, want %v (claims %v)", k, cl[k], v, cl)
		}
	}
	if g, _ := cl["groups"].([]any); len(g) != 2 || g[0] != "local:admins" {
		t.Errorf("groups = %v, want the prefixed groups", cl["groups"])
	}
	if _, ok := cl["email"]; ok {
		t.Errorf("email released without the email scope")
	}
	ui, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatal(err)
	}
	var uc map[string]any
	if err := ui.Claims(&uc); err != nil {
		t.Fatal(err)
	}
	if uc["department"] != "Research" || uc["initials"] != "AE" || uc["sub"] != idt.Subject {
		t.Errorf("userinfo = %v", uc)
	}

	// Without the custom scope: no custom claims.
	r2 := e.rp(confidentialID, confidentialSecret, redirectURI, oidc.ScopeOpenID, "profile")
	idt2, _ := codeFlow(t, e, b, r2, true)
	var cl2 map[string]any
	_ = idt2.Claims(&cl2)
	if _, ok := cl2["department"]; ok || idt2.Subject != idt.Subject {
		t.Errorf("without the scope: %v", cl2)
	}
}

func TestClientRequireDenies(t *testing.T) {
	e := newClaimsEnv(t)
	b := e.browser()
	r := e.rp(otherID, otherSecret, otherRedirect, oidc.ScopeOpenID)
	authURL := r.oauth.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	p, _ := b.follow(e, b.get(authURL), e.issuer)
	action, vals := form(t, p.body)
	vals.Set("username", "alice")
	vals.Set("password", alicePassword)
	p, at := b.follow(e, b.post(e.issuer+action, vals), e.issuer+action)
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "not in a group that is allowed to use Other App (local:finance)") {
		t.Fatalf("after login: %d at %s:\n%s", p.status, at, p.body)
	}
	// The session exists (alice did sign in); the client still refuses her, and with
	// prompt=none it learns access_denied.
	none := r.oauth.AuthCodeURL("st2", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "none"))
	p, to := b.follow(e, b.get(none), e.issuer)
	q := callbackParams(t, to)
	if !strings.HasPrefix(to, otherRedirect) || q.Get("error") != "access_denied" || !strings.Contains(q.Get("error_description"), "local:finance") || q.Get("code") != "" {
		t.Fatalf("prompt=none: %d %s", p.status, to)
	}
	// Other clients still work with the same session.
	r2 := e.rp(confidentialID, confidentialSecret, redirectURI, oidc.ScopeOpenID)
	if idt, _ := codeFlow(t, e, b, r2, true); idt.Subject == "" {
		t.Fatal("no subject")
	}
}

func TestPairwiseSubjectEverywhere(t *testing.T) {
	e := newClaimsEnv(t)
	b := e.browser()
	pub, _ := codeFlow(t, e, b, e.rp(confidentialID, confidentialSecret, redirectURI, oidc.ScopeOpenID), true)
	r := e.rp(trustedID, trustedSecret, otherRedirect, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
	idt, tok := codeFlow(t, e, b, r, true)
	if idt.Subject == pub.Subject || len(idt.Subject) != 43 {
		t.Fatalf("pairwise sub %q (public %q)", idt.Subject, pub.Subject)
	}
	ui, err := r.provider.UserInfo(r.ctx, oauth2.StaticTokenSource(tok))
	if err != nil || ui.Subject != idt.Subject {
		t.Fatalf("userinfo sub %v, %v", ui, err)
	}
	for _, token := range []string{tok.AccessToken, tok.RefreshToken} {
		req, _ := http.NewRequest(http.MethodPost, e.issuer+"/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(trustedID, trustedSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var in struct {
			Active bool   `json:"active"`
			Sub    string `json:"sub"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&in)
		resp.Body.Close()
		if !in.Active || in.Sub != idt.Subject {
			t.Errorf("introspection = %+v, want sub %s", in, idt.Subject)
		}
	}
	// Stable across logins and refreshes.
	again, _ := codeFlow(t, e, b, r, true)
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Minute)
	tok2, err := r.oauth.TokenSource(r.ctx, &expired).Token()
	if err != nil {
		t.Fatal(err)
	}
	refreshed, err := r.verifier.Verify(r.ctx, tok2.Extra("id_token").(string))
	if err != nil || again.Subject != idt.Subject || refreshed.Subject != idt.Subject {
		t.Errorf("pairwise sub not stable: %s, %s, %v", again.Subject, refreshed.Subject, err)
	}
	// An id_token_hint with the pairwise sub matches the signed-in user (no new login).
	hint := r.oauth.AuthCodeURL("h", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()),
		oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("id_token_hint", tok.Extra("id_token").(string)))
	_, to := b.follow(e, b.get(hint), e.issuer)
	if callbackParams(t, to).Get("code") == "" {
		t.Errorf("id_token_hint with a pairwise sub: %s", to)
	}
	// RP-initiated logout with the pairwise hint signs the user out without asking.
	p := b.get(e.issuer + "/logout?" + url.Values{"id_token_hint": {tok.Extra("id_token").(string)}}.Encode())
	if p.status != http.StatusOK || !strings.Contains(p.body, "Signed out") {
		t.Errorf("logout with a pairwise id_token_hint: %d\n%s", p.status, p.body)
	}
}

// TestRefreshRechecksRequirements: a refresh re-runs the pipeline; a user who no longer
// meets the connector's or the client's requirements loses the grant.
func TestRefreshRechecksRequirements(t *testing.T) {
	for _, tt := range []struct {
		name   string
		adjust func(*config.Config)
	}{
		{"connector require", func(c *config.Config) { c.Connectors[0].Claims.Require.Groups = []string{"staff"} }},
		{"client require", func(c *config.Config) { c.Clients[0].Require.Groups = []string{"local:staff"} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnvClaims(t, "RS256", func(t testing.TB, store storage.Storage, now func() time.Time) *claims.Normalizer {
				cfg := claimsConfig()
				tt.adjust(cfg)
				n, err := claims.New(cfg, claims.Options{Links: store, Now: now})
				if err != nil {
					t.Fatalf("claims.New: %v", err)
				}
				return n
			})
			r := e.rp(confidentialID, confidentialSecret, redirectURI, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
			_, tok := codeFlow(t, e, e.browser(), r, true)
			rt := tok.RefreshToken
			refresh := func() string {
				code, body := tokenRequest(t, e, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, confidentialID, confidentialSecret)
				if next, _ := body["refresh_token"].(string); next != "" {
					rt = next
				}
				return code
			}
			if code := refresh(); code != "" {
				t.Fatalf("refresh while qualified: %q", code)
			}
			ctx := t.Context()
			u, err := e.store.GetLocalUser(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			u.Groups = []string{"admins"} // no longer staff
			if err := e.store.UpsertLocalUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			if code := refresh(); code != "invalid_grant" {
				t.Fatalf("refresh after losing the group: %q, want invalid_grant", code)
			}
		})
	}
}
