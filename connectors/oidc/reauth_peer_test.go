//go:build peers

package oidc_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// Attack (issue 12.3), against a real OpenID provider (npm oidc-provider): the browser
// already has an upstream session, and the client demands re-authentication. Without
// prompt=login upstream, the provider answers from its session and the old auth_time does
// not satisfy the demand; with it, the provider shows its login form again and its ID
// token's auth_time proves the fresh sign-in. A max_age the upstream session satisfies
// passes without a new login.
func TestPeerReauthProvenByAuthTime(t *testing.T) {
	c := openPeer(t, peerConfig())
	a := newAgent(t)
	ctx := context.Background()
	login := func(ra connectors.Reauth) (connectors.Upstream, url.Values, error) {
		t.Helper()
		step, err := c.Begin(ctx, connectors.BeginRequest{CallbackURL: directCallback, State: "st", Reauth: ra})
		if err != nil {
			t.Fatalf("Begin: %v", err)
		}
		u, _ := url.Parse(step.URL)
		to := a.upstreamLogin(upstream.issuer, step.URL, "alice")
		up, err := c.Finish(ctx, connectors.FinishRequest{CallbackURL: directCallback, State: "st", Stash: step.Stash, Reauth: ra}, httptest.NewRequest("GET", to, nil))
		return up, u.Query(), err
	}
	first, _, err := login(connectors.Reauth{})
	if err != nil {
		t.Fatalf("first login: %v", err)
	}
	time.Sleep(1100 * time.Millisecond) // auth_time has one-second resolution
	notBefore := time.Now().Truncate(time.Second)
	if !first.AuthTime.Before(notBefore) {
		t.Fatalf("first auth_time %v not before %v", first.AuthTime, notBefore)
	}
	fresh, q, err := login(connectors.Reauth{Force: true, NotBefore: notBefore})
	if err != nil {
		t.Fatalf("prompt=login: %v (sent prompt=%q max_age=%q)", err, q.Get("prompt"), q.Get("max_age"))
	}
	if fresh.AuthTime.Before(notBefore) {
		t.Fatalf("prompt=login: auth_time %v, before %v", fresh.AuthTime, notBefore)
	}
	recent, q, err := login(connectors.Reauth{MaxAge: time.Hour, NotBefore: time.Now().Add(-time.Hour)})
	if err != nil || q.Get("max_age") != "3600" {
		t.Fatalf("max_age=3600: %v (sent max_age=%q)", err, q.Get("max_age"))
	}
	if !recent.AuthTime.Equal(fresh.AuthTime) {
		t.Errorf("max_age=3600 within the upstream session: auth_time %v, want the session's %v", recent.AuthTime, fresh.AuthTime)
	}
}
