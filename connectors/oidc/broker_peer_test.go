//go:build peers

package oidc_test

// Full-broker tests: an in-process Gatehouse broker (built like broker/harness_test.go) with the
// oidc connector in front of the real npm oidc-provider upstream, and a go-oidc relying party
// downstream: RP -> Gatehouse -> oidc-provider -> Gatehouse -> RP.

import (
	"context"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/connectors/oidc"
)

// newGatehouse starts a broker on the registered brokerPort whose connectors are oidc
// connectors, one per id -> upstream issuer.
func newGatehouse(t *testing.T, upstreams map[string]string) *gatehouse {
	t.Helper()
	srv := brokerServer(t)
	ids := make([]string, 0, len(upstreams))
	for id := range upstreams {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var ups []upstreamConn
	for _, id := range ids {
		ups = append(ups, upstreamConn{id: id, cfg: &oidc.Config{
			Issuer: upstreams[id], ClientID: "gatehouse", ClientSecret: upstreamSecret,
			Scopes: []string{"openid", "email", "profile", "groups", "offline_access"}, GetUserInfo: true,
		}})
	}
	return startGatehouse(t, srv, "", ups, []clients.Client{clients.New(clients.Client{ID: rpID, Name: "Test App", RedirectURIs: []string{rpRedirect}}, rpSecret)}, false)
}

// brokerServer returns an unstarted server listening on the registered brokerPort.
func brokerServer(t *testing.T) *httptest.Server {
	t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the previous test's listener may still be closing
		if ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", brokerPort)); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen on the registered broker port: %v", err)
	}
	srv := httptest.NewUnstartedServer(nil)
	srv.Listener.Close()
	srv.Listener = ln
	return srv
}

// relyingParty is a go-oidc + x/oauth2 RP of the broker.
type relyingParty struct {
	ctx      context.Context
	oauth    oauth2.Config
	verifier *gooidc.IDTokenVerifier
}

func (g *gatehouse) rp(t *testing.T) *relyingParty {
	t.Helper()
	ctx := gooidc.ClientContext(context.Background(), g.srv.Client())
	p, err := gooidc.NewProvider(ctx, g.issuer)
	if err != nil {
		t.Fatalf("broker discovery: %v", err)
	}
	return &relyingParty{ctx: ctx, verifier: p.Verifier(&gooidc.Config{ClientID: rpID}), oauth: oauth2.Config{
		ClientID: rpID, ClientSecret: rpSecret, Endpoint: p.Endpoint(), RedirectURL: rpRedirect,
		Scopes: []string{gooidc.ScopeOpenID, "profile", "email", "groups", gooidc.ScopeOfflineAccess},
	}}
}

// login drives a browser from the RP's authorization request through the broker and the
// upstream (signing in as user; "" cancels there) and back. It returns the final response:
// the redirect to the RP, or a page the broker stopped at.
func (g *gatehouse) login(t *testing.T, a *agent, upstreamIssuer, authURL, user string) response {
	t.Helper()
	r := a.do(http.MethodGet, authURL, nil)
	for range 20 {
		switch {
		case r.status >= 300 && r.status < 400 && strings.HasPrefix(r.location, rpRedirect):
			return r
		case r.status >= 300 && r.status < 400 && strings.HasPrefix(r.location, g.issuer+"/"):
			r = a.do(http.MethodGet, r.location, nil)
		case r.status >= 300 && r.status < 400 && strings.HasPrefix(r.location, upstreamIssuer+"/"):
			back := a.upstreamLogin(upstreamIssuer, r.location, user)
			r = a.do(http.MethodGet, back, nil)
		case r.status == http.StatusOK && strings.Contains(r.body, `value="allow"`):
			m := formRe.FindStringSubmatch(r.body)
			vals := url.Values{"decision": {"allow"}}
			for _, h := range hiddenRe.FindAllStringSubmatch(m[2], -1) {
				vals.Set(h[1], html.UnescapeString(h[2]))
			}
			r = a.do(http.MethodPost, g.issuer+html.UnescapeString(m[1]), vals)
		default:
			return r
		}
	}
	t.Fatal("login did not finish in 20 steps")
	return response{}
}

// signIn logs user in through the broker and returns the RP's verified tokens.
func (g *gatehouse) signIn(t *testing.T, rp *relyingParty, connectorID, upstreamIssuer, user string) (*oauth2.Token, *gooidc.IDToken) {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	authURL := rp.oauth.AuthCodeURL("rp-state", gooidc.Nonce("rp-nonce"), oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("connector_id", connectorID))
	r := g.login(t, newAgent(t), upstreamIssuer, authURL, user)
	if !strings.HasPrefix(r.location, rpRedirect) {
		t.Fatalf("login stopped at %d:\n%s", r.status, r.body)
	}
	cb, _ := url.Parse(r.location)
	if cb.Query().Get("state") != "rp-state" || cb.Query().Get("code") == "" {
		t.Fatalf("bad redirect to the RP: %s", r.location)
	}
	tok, err := rp.oauth.Exchange(rp.ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	idt, err := rp.verifier.Verify(rp.ctx, tok.Extra("id_token").(string))
	if err != nil || idt.Nonce != "rp-nonce" {
		t.Fatalf("ID token: %v (nonce %q)", err, idt.Nonce)
	}
	return tok, idt
}

type downstreamClaims struct {
	Email         string   `json:"email"`
	EmailVerified bool     `json:"email_verified"`
	Groups        []string `json:"groups"`
	Name          string   `json:"name"`
	AMR           []string `json:"amr"`
}

func TestBrokerLoginAndRefreshThroughUpstream(t *testing.T) {
	g := newGatehouse(t, map[string]string{"sso": upstream.issuer})
	rp := g.rp(t)
	tok, idt := g.signIn(t, rp, "sso", upstream.issuer, "alice")
	var c downstreamClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if c.Email != "alice@example.com" || !c.EmailVerified || !slices.Equal(c.Groups, []string{"admins", "staff"}) || c.Name != "Alice Upstream" {
		t.Errorf("downstream claims %+v", c)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no downstream refresh token")
	}
	// Refresh goes through the upstream (its refresh token is in the grant's stash).
	for i := range 2 {
		expired := *tok
		expired.Expiry = time.Now().Add(-time.Minute)
		next, err := rp.oauth.TokenSource(rp.ctx, &expired).Token()
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		idt2, err := rp.verifier.Verify(rp.ctx, next.Extra("id_token").(string))
		if err != nil || idt2.Subject != idt.Subject {
			t.Fatalf("refresh %d ID token: %v", i, err)
		}
		var c2 downstreamClaims
		_ = idt2.Claims(&c2)
		if c2.Email != "alice@example.com" || !slices.Equal(c2.Groups, []string{"admins", "staff"}) {
			t.Errorf("refreshed claims %+v", c2)
		}
		tok = next
	}
}

func TestBrokerEmailNotVerifiedUpstream(t *testing.T) {
	g := newGatehouse(t, map[string]string{"sso": upstream.issuer})
	_, idt := g.signIn(t, g.rp(t), "sso", upstream.issuer, "bob")
	var c downstreamClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if c.Email != "bob@example.com" || c.EmailVerified {
		t.Errorf("email %q verified=%v, want bob@example.com unverified", c.Email, c.EmailVerified)
	}
}

func TestBrokerUpstreamUserRemovedRefreshFails(t *testing.T) {
	g := newGatehouse(t, map[string]string{"sso": upstream.issuer})
	rp := g.rp(t)
	tok, _ := g.signIn(t, rp, "sso", upstream.issuer, "erin")
	upstream.remove(t, "erin")
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Minute)
	_, err := rp.oauth.TokenSource(rp.ctx, &expired).Token()
	if err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("refresh after upstream removal: %v, want invalid_grant", err)
	}
}

func TestBrokerUpstreamCancelled(t *testing.T) {
	g := newGatehouse(t, map[string]string{"sso": upstream.issuer})
	rp := g.rp(t)
	authURL := rp.oauth.AuthCodeURL("rp-state", gooidc.Nonce("n"), oauth2.SetAuthURLParam("connector_id", "sso"))
	r := g.login(t, newAgent(t), upstream.issuer, authURL, "")
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "cancelled or refused") {
		t.Fatalf("got %d, want the access-denied page:\n%s", r.status, r.body)
	}
}

func TestBrokerUpstreamDownAtStart(t *testing.T) {
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	lateIssuer := fmt.Sprintf("http://127.0.0.1:%d", port)
	g := newGatehouse(t, map[string]string{"late": lateIssuer})
	rp := g.rp(t)
	authURL := rp.oauth.AuthCodeURL("rp-state", gooidc.Nonce("n"), oauth2.SetAuthURLParam("connector_id", "late"))
	r := g.login(t, newAgent(t), lateIssuer, authURL, "alice")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "unavailable") {
		t.Fatalf("upstream down: got %d, want the unavailable page:\n%s", r.status, r.body)
	}
	late, err := startPeer(port, brokerRedirects(brokerPort))
	if err != nil {
		t.Fatal(err)
	}
	defer late.stop()
	// Discovery is retried after a short backoff; bounded wait for recovery.
	deadline := time.Now().Add(15 * time.Second)
	for {
		r = g.login(t, newAgent(t), lateIssuer, authURL, "alice")
		if strings.HasPrefix(r.location, rpRedirect) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("upstream back up, login still fails: %d\n%s", r.status, r.body)
		}
		time.Sleep(300 * time.Millisecond)
	}
	_, idt := g.signIn(t, rp, "late", lateIssuer, "alice")
	var c downstreamClaims
	if err := idt.Claims(&c); err != nil || c.Email != "alice@example.com" {
		t.Fatalf("claims after recovery: %+v %v", c, err)
	}
}
