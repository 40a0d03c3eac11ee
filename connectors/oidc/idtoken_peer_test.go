//go:build peers

package oidc_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// TestPeerVerifyIDToken: an ID token npm oidc-provider issued to the connector's client (a
// client that logged in at the upstream itself, as a CLI would) verifies against the
// upstream's JWKS and names the user (token exchange's upstream subject tokens); the same
// token altered does not.
func TestPeerVerifyIDToken(t *testing.T) {
	ctx := context.Background()
	p, err := gooidc.NewProvider(ctx, upstream.issuer)
	if err != nil {
		t.Fatal(err)
	}
	oc := &oauth2.Config{ClientID: "gatehouse", ClientSecret: upstreamSecret, Endpoint: p.Endpoint(),
		RedirectURL: directCallback, Scopes: []string{"openid", "email"}}
	verifier := oauth2.GenerateVerifier()
	authURL := oc.AuthCodeURL("st-idt", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "n-idt"))
	cb, err := url.Parse(newAgent(t).upstreamLogin(upstream.issuer, authURL, "alice"))
	if err != nil || cb.Query().Get("code") == "" {
		t.Fatalf("upstream login: %v %v", cb, err)
	}
	tok, err := oc.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("no id_token from the upstream")
	}
	c := openPeer(t, peerConfig())
	up, err := c.VerifyIDToken(ctx, raw)
	if err != nil || up.Subject != "alice" {
		t.Fatalf("VerifyIDToken: %+v, %v", up, err)
	}
	parts := strings.Split(raw, ".")
	tampered := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	if _, err := c.VerifyIDToken(ctx, tampered); err == nil {
		t.Fatal("a tampered upstream ID token verified")
	}
	other := peerConfig()
	other.ClientID = "someone-else"
	if _, err := openPeer(t, other).VerifyIDToken(ctx, raw); err == nil {
		t.Fatal("an ID token for another client verified")
	}
}
