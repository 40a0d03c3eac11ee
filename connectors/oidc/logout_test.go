package oidc_test

import (
	"context"
	"crypto"
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// TestLogoutStep: an upstream logout goes to the end_session_endpoint of the upstream's
// discovery with the login's raw ID token as id_token_hint (kept in the stash), client_id,
// post_logout_redirect_uri and state (RP-Initiated Logout 1.0 section 2); an upstream
// without one, or unreachable, says so (httptest provider speaking OIDC discovery).
func TestLogoutStep(t *testing.T) {
	ctx := context.Background()
	const back = "https://gatehouse.example/logout/upstream"
	tests := []struct {
		name       string
		endSession string
		down       bool
		noStash    bool
		wantErr    func(error) bool
	}{
		{name: "with end_session_endpoint", endSession: "/session/end?tenant=t1"},
		{name: "without a stash: no hint", endSession: "/session/end", noStash: true},
		{name: "no end_session_endpoint", wantErr: func(err error) bool { return errors.Is(err, connectors.ErrNoUpstreamLogout) }},
		{name: "upstream down", endSession: "/session/end", down: true, wantErr: func(err error) bool {
			var ue *connectors.UpstreamError
			return errors.As(err, &ue)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, fl := newFakeIdP(t)
			s.EndSessionPath = tt.endSession
			c := openFake(t, s, nil, nil)
			step, err := c.Begin(ctx, connectors.BeginRequest{CallbackURL: fakeCallback, State: "s"})
			if err != nil {
				t.Fatal(err)
			}
			cb := s.Authorize(t, step.URL, "ann")
			up, err := c.Finish(ctx, connectors.FinishRequest{CallbackURL: fakeCallback, State: "s", Stash: step.Stash}, httptest.NewRequest("GET", cb, nil))
			if err != nil {
				t.Fatal(err)
			}
			if tt.noStash {
				up.Stash = nil
			}
			if tt.down {
				c = openFake(t, s, nil, nil) // a fresh connector: discovery not cached
				fl.down.Store(true)
			}
			ls, err := c.LogoutStep(ctx, connectors.LogoutRequest{Upstream: up, ReturnURL: back, State: "st-1"})
			if tt.wantErr != nil {
				if err == nil || !tt.wantErr(err) {
					t.Fatalf("LogoutStep = %+v, %v", ls, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(ls.URL)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			if !strings.HasPrefix(ls.URL, s.URL+"/session/end?") || (tt.endSession != "/session/end" && q.Get("tenant") != "t1") ||
				q.Get("client_id") != s.ClientID || q.Get("post_logout_redirect_uri") != back || q.Get("state") != "st-1" {
				t.Fatalf("logout URL %s", ls.URL)
			}
			hint := q.Get("id_token_hint")
			if tt.noStash {
				if hint != "" {
					t.Fatalf("id_token_hint %q without a stash", hint)
				}
				return
			}
			// The hint is the upstream's own ID token of this login.
			v := gooidc.NewVerifier(s.URL, &gooidc.StaticKeySet{PublicKeys: []crypto.PublicKey{}}, &gooidc.Config{ClientID: s.ClientID, InsecureSkipSignatureCheck: true})
			idt, err := v.Verify(ctx, hint)
			if err != nil || idt.Subject != "ann" {
				t.Fatalf("id_token_hint %q: %v, %+v", hint, err, idt)
			}
		})
	}
}
