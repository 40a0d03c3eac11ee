//go:build peers

package oidc_test

// Upstream logout against the real npm oidc-provider (features.backchannelLogout and
// rpInitiatedLogout on; Gatehouse registered there with backchannel_logout_uri
// /connectors/sso/backchannel-logout and post_logout_redirect_uri /logout/upstream, see
// peer_main_test.go): a Gatehouse logout ends the upstream session too, and a logout at the
// upstream ends the Gatehouse session and tells Gatehouse's own OIDC client.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/local"
	"github.com/gatehouse-id/gatehouse/connectors/oidc"
)

const rpPostLogout = "http://127.0.0.1:9999/bye"

// ulPeer is a Gatehouse with connector sso (logout: upstream) on oidc-provider and client
// rpID with a back-channel logout receiver.
type ulPeer struct {
	*gatehouse
	gh       *brokertest.Server
	mu       sync.Mutex
	received []string
}

func newULPeer(t *testing.T) *ulPeer {
	t.Helper()
	p := &ulPeer{}
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err == nil {
			p.mu.Lock()
			p.received = append(p.received, r.PostForm.Get("logout_token"))
			p.mu.Unlock()
		}
	}))
	t.Cleanup(rp.Close)
	srv := brokerServer(t)
	cfg := func() connectors.Config {
		return &oidc.Config{Issuer: upstream.issuer, ClientID: "gatehouse", ClientSecret: upstreamSecret,
			Scopes: []string{"openid", "email", "profile"}, GetUserInfo: true}
	}
	p.gh = brokertest.New(t, brokertest.Options{
		Server:   srv,
		Registry: func(local.UserSource) connectors.Registry { return connectors.Registry{"oidc": cfg} },
		Config: func(c *config.Config) {
			c.Connectors = []config.ConnectorBlock{{Type: "oidc", ID: "sso", Name: "Upstream SSO", Logout: config.ConnectorLogoutUpstream}}
			c.Clients = append(c.Clients, config.Client{ID: rpID, Name: "Test App", Secret: rpSecret, RedirectURIs: []string{rpRedirect},
				PostLogoutRedirectURIs: []string{rpPostLogout}, BackchannelLogoutURI: rp.URL + "/bcl", BackchannelLogoutSessionRequired: true})
		},
	})
	p.gatehouse = &gatehouse{issuer: p.gh.Issuer, srv: p.gh.HTTP, store: p.gh.Store}
	return p
}

// signInAgent signs alice in through Gatehouse and the upstream with agent a, and returns the
// RP's raw ID token and its claims.
func (p *ulPeer) signInAgent(t *testing.T, a *agent) (string, *gooidc.IDToken) {
	t.Helper()
	rp := p.rp(t)
	verifier := oauth2.GenerateVerifier()
	authURL := rp.oauth.AuthCodeURL("rp-state", gooidc.Nonce("rp-nonce"), oauth2.S256ChallengeOption(verifier))
	r := p.login(t, a, upstream.issuer, authURL, "alice")
	if !strings.HasPrefix(r.location, rpRedirect) {
		t.Fatalf("login stopped at %d:\n%s", r.status, r.body)
	}
	cb, _ := url.Parse(r.location)
	tok, err := rp.oauth.Exchange(rp.ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := rp.verifier.Verify(rp.ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	return raw, idt
}

// upstreamSignedIn reports whether the agent still has a session at the upstream: an
// authorization request there goes straight back to the callback (true), or asks for the
// password again (false).
func upstreamSignedIn(t *testing.T, a *agent) bool {
	t.Helper()
	q := url.Values{"client_id": {"gatehouse"}, "redirect_uri": {directCallback}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"probe"}, "nonce": {"probe"}}
	r := a.do(http.MethodGet, upstream.issuer+"/auth?"+q.Encode(), nil)
	for range 8 {
		switch {
		case r.status >= 300 && r.status < 400 && strings.HasPrefix(r.location, directCallback):
			return true
		case r.status >= 300 && r.status < 400:
			r = a.do(http.MethodGet, r.location, nil)
		case r.status == http.StatusOK && strings.Contains(r.body, `name="login"`):
			return false
		case r.status == http.StatusOK && strings.Contains(r.body, `name="consent"`):
			return true // signed in; only consent to give
		default:
			t.Fatalf("upstream authorization probe: %d\n%s", r.status, r.body)
		}
	}
	t.Fatal("upstream authorization probe did not settle")
	return false
}

var (
	logoutActionRe = regexp.MustCompile(`<form[^>]*method="post" action="([^"]+)"`)
	xsrfRe         = regexp.MustCompile(`name="xsrf" value="([^"]+)"`)
)

// confirmUpstreamLogout posts oidc-provider's sign-out form (logout=yes) and returns the
// response (a redirect to the post-logout redirect URI, or its success page).
func confirmUpstreamLogout(t *testing.T, a *agent, r response) response {
	t.Helper()
	m, x := logoutActionRe.FindStringSubmatch(r.body), xsrfRe.FindStringSubmatch(r.body)
	if r.status != http.StatusOK || m == nil || x == nil {
		t.Fatalf("expected oidc-provider's sign-out form, got %d:\n%s", r.status, r.body)
	}
	action := html.UnescapeString(m[1])
	if !strings.HasPrefix(action, "http") {
		action = upstream.issuer + action
	}
	return a.do(http.MethodPost, action, url.Values{"xsrf": {html.UnescapeString(x[1])}, "logout": {"yes"}})
}

// TestPeerUpstreamLogoutFromGatehouse: a logout at Gatehouse (RP-initiated, with the client's
// id_token_hint) ends the Gatehouse session, sends the browser to oidc-provider's
// end_session_endpoint, which ends its session and comes back through /logout/upstream to
// the client's post-logout redirect URI; a new authorization at the upstream then asks for
// the password again.
func TestPeerUpstreamLogoutFromGatehouse(t *testing.T) {
	p := newULPeer(t)
	a := newAgent(t)
	raw, _ := p.signInAgent(t, a)
	if !upstreamSignedIn(t, a) {
		t.Fatal("no upstream session after the login: the test could not tell a logout")
	}
	q := url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {rpPostLogout}, "state": {"bye-1"}}
	r := a.do(http.MethodGet, p.issuer+"/logout?"+q.Encode(), nil)
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, upstream.issuer+"/") {
		t.Fatalf("Gatehouse logout: %d to %q, want a redirect to the upstream\n%s", r.status, r.location, r.body)
	}
	r = a.do(http.MethodGet, r.location, nil)
	r = confirmUpstreamLogout(t, a, r)
	if !strings.HasPrefix(r.location, p.issuer+"/logout/upstream?") {
		t.Fatalf("upstream logout went to %q (%d), want Gatehouse's /logout/upstream\n%s", r.location, r.status, r.body)
	}
	r = a.do(http.MethodGet, r.location, nil)
	if r.location != rpPostLogout+"?state=bye-1" {
		t.Fatalf("after the upstream: %d to %q, want the client's post-logout URI\n%s", r.status, r.location, r.body)
	}
	if upstreamSignedIn(t, a) {
		t.Fatal("the upstream session survived the Gatehouse logout")
	}
	if p.signedIn(t, a) {
		t.Fatal("the Gatehouse session survived")
	}
}

// TestPeerUpstreamLogoutFromUpstream: a logout at oidc-provider POSTs its back-channel
// logout token to Gatehouse, which ends the Gatehouse session of that upstream session and
// sends its own client a logout token for the Gatehouse session (sid of the client's ID
// token).
func TestPeerUpstreamLogoutFromUpstream(t *testing.T) {
	p := newULPeer(t)
	a := newAgent(t)
	_, idt := p.signInAgent(t, a)
	var cl struct {
		SID string `json:"sid"`
	}
	if err := idt.Claims(&cl); err != nil || cl.SID == "" {
		t.Fatalf("the client's ID token has no sid: %v", err)
	}
	if !p.signedIn(t, a) {
		t.Fatal("no Gatehouse session after the login")
	}
	r := a.do(http.MethodGet, upstream.issuer+"/session/end", nil)
	r = confirmUpstreamLogout(t, a, r)
	if r.status >= 400 {
		t.Fatalf("upstream logout: %d\n%s", r.status, r.body)
	}
	if p.signedIn(t, a) {
		t.Fatal("the Gatehouse session survived the upstream's logout")
	}
	if _, err := p.gh.Gatehouse.Server.DeliverLogouts(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	got := append([]string(nil), p.received...)
	p.mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("the client got %d back-channel logout tokens, want 1", len(got))
	}
	parts := strings.Split(got[0], ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[len(parts)-2])
	if err != nil || len(parts) != 3 {
		t.Fatalf("logout token %q: %v", got[0], err)
	}
	var lt struct {
		SID    string         `json:"sid"`
		Events map[string]any `json:"events"`
	}
	if err := json.Unmarshal(payload, &lt); err != nil || lt.SID != cl.SID || lt.Events["http://schemas.openid.net/event/backchannel-logout"] == nil {
		t.Fatalf("logout token %s: %v; want sid %q and the event", payload, err, cl.SID)
	}
}

// signedIn reports whether the agent's Gatehouse session is live: an authorization request
// with prompt=none gets a code (true) or login_required (false).
func (p *ulPeer) signedIn(t *testing.T, a *agent) bool {
	t.Helper()
	rp := p.rp(t)
	r := a.do(http.MethodGet, rp.oauth.AuthCodeURL("probe", gooidc.Nonce("n"), oauth2.S256ChallengeOption(oauth2.GenerateVerifier()),
		oauth2.SetAuthURLParam("prompt", "none")), nil)
	u, err := url.Parse(r.location)
	if err != nil || !strings.HasPrefix(r.location, rpRedirect) {
		t.Fatalf("prompt=none: %d to %q\n%s", r.status, r.location, r.body)
	}
	switch {
	case u.Query().Get("code") != "":
		return true
	case u.Query().Get("error") == "login_required":
		return false
	}
	t.Fatalf("prompt=none answered %s", r.location)
	return false
}
