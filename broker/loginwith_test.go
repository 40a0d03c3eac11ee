package broker_test

import (
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/config"
)

// TestLocalLoginWith: the local connector's login_with decides what the username field
// takes and how it is labelled; a user who signs in with their email gets the same sub as
// with their username; what login_with leaves out is a wrong password.
func TestLocalLoginWith(t *testing.T) {
	tests := []struct {
		name      string
		loginWith string // the local connector's config block
		label     string
		typed     []string // signed in one after the other on one server: one sub
		ok        bool
	}{
		{"default: username and email", "{cost: 4}", "Username or email", []string{"alice", "Alice@Example.com", "alice@example.com"}, true},
		{"username only: email refused", "{cost: 4, login_with: [username]}", "Username", []string{"alice@example.com"}, false},
		{"username only: username", "{cost: 4, login_with: [username]}", "Username", []string{"alice"}, true},
		{"email only: username refused", "{cost: 4, login_with: [email]}", "Email", []string{"alice"}, false},
		{"email only: email", "{cost: 4, login_with: [email]}", "Email", []string{"alice@example.com"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnvOpts(t, envOpts{config: func(c *config.Config) {
				block, err := config.Parse([]byte("connectors:\n  - {type: local, id: local, name: Local accounts, config: "+tt.loginWith+"}\n"), "t.yaml", nil)
				if err != nil {
					t.Fatal(err)
				}
				c.Connectors = block.Connectors
			}})
			r := e.rp(confidentialID, confidentialSecret, redirectURI, oidc.ScopeOpenID)
			subs := map[string]bool{}
			for _, typed := range tt.typed {
				signIn(t, e, r, typed, tt.label, tt.ok, subs)
			}
			if tt.ok && len(subs) != 1 {
				t.Errorf("alice got %d different subs signing in as %q: %v", len(subs), tt.typed, subs)
			}
		})
	}
}

// signIn runs one code flow in a new browser, typing typed in the username field, which
// must be labelled label; ok says whether the sign-in must succeed (its sub is added to subs).
func signIn(t *testing.T, e *env, r *rp, typed, label string, ok bool, subs map[string]bool) {
	t.Helper()
	b := e.browser()
	verifier := oauth2.GenerateVerifier()
	authURL := r.oauth.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier))
	p, _ := b.follow(e, b.get(authURL), e.issuer)
	if !strings.Contains(p.body, `<label for="username">`+label+`</label>`) {
		t.Fatalf("the username field is not labelled %q:\n%s", label, p.body)
	}
	action, vals := form(t, p.body)
	vals.Set("username", typed)
	vals.Set("password", alicePassword)
	next, to := b.follow(e, b.post(e.issuer+action, vals), e.issuer+action)
	if !ok {
		if !strings.Contains(next.body, `name="password"`) || strings.Contains(to, "code=") {
			t.Fatalf("signed in with %q although login_with leaves it out: %s", typed, to)
		}
		return
	}
	if strings.Contains(next.body, `value="allow"`) {
		action, vals = form(t, next.body)
		vals.Set("decision", "allow")
		_, to = b.follow(e, b.post(e.issuer+action, vals), e.issuer+action)
	}
	code := callbackParams(t, to).Get("code")
	if code == "" {
		t.Fatalf("no code after signing in with %q: %s\n%s", typed, to, next.body)
	}
	tok, err := r.oauth.Exchange(r.ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	idt, err := r.verifier.Verify(r.ctx, tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	subs[idt.Subject] = true
}
