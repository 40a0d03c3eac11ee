package logout_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/storage"
)

// TestSignOutEverywhere (issue 18 item 5): alice is signed in on two browsers (bc-a on one,
// bc-b with a refresh token on the other). "Sign out everywhere" on /account needs the
// form's CSRF token; with it, both sessions end, the refresh family is revoked, both apps
// get a logout token, and bob's session is untouched.
func TestSignOutEverywhere(t *testing.T) {
	o := newOP(t, brokertest.Options{})
	b1, b2, bob := o.Browser(), o.Browser(), o.Browser()
	_, sid1 := claimsOf(t, o.login(b1, "bc-a", "alice"))
	tok := o.loginScope(b2, "bc-b", "alice", "openid offline_access")
	_, sid2 := claimsOf(t, tok.IDToken)
	_, bobSID := claimsOf(t, o.login(bob, "bc-a", "bob"))
	if tok.RefreshToken == "" || sid1 == sid2 {
		t.Fatalf("setup: refresh %q, sessions %s %s", tok.RefreshToken, sid1, sid2)
	}

	p := b1.Get(o.Issuer + "/account")
	if p.Status != http.StatusOK || !strings.Contains(p.Body, `value="signout-everywhere"`) {
		t.Fatalf("account page: %d\n%s", p.Status, p.Body)
	}
	everywhere := strings.Index(p.Body, `value="signout-everywhere"`)
	action, vals := brokertest.Form(t, p.Body[strings.LastIndex(p.Body[:everywhere], "<form"):])
	forged := url.Values{"action": {"signout-everywhere"}, "csrf": {"wrong"}}
	if p := b1.Post(o.Issuer+action, forged); p.Status != http.StatusForbidden {
		t.Fatalf("without the CSRF token: %d, want 403", p.Status)
	}
	if _, err := o.Store.GetSession(t.Context(), sid1); err != nil {
		t.Fatalf("a forged form ended the session: %v", err)
	}
	gen := o.Gatehouse.Server.Sessions.Ended()
	p = b1.Post(o.Issuer+action, vals)
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "signed out of Gatehouse everywhere (2 sessions ended)") {
		t.Fatalf("sign out everywhere: %d\n%s", p.Status, p.Body)
	}
	if o.Gatehouse.Server.Sessions.Ended() == gen {
		t.Error("sign out everywhere did not tell this process's session caches (forward auth)")
	}
	for _, sid := range []string{sid1, sid2} {
		if _, err := o.Store.GetSession(t.Context(), sid); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("session %s after sign out everywhere: %v, want gone", sid, err)
		}
	}
	if _, err := o.Store.GetSession(t.Context(), bobSID); err != nil {
		t.Errorf("bob's session: %v", err)
	}
	if st := o.tokenStatus("bc-b", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}); st != http.StatusBadRequest {
		t.Errorf("refresh after sign out everywhere: %d, want 400", st)
	}
	o.deliver()
	for c, sid := range map[string]string{"bc-a": sid1, "bc-b": sid2} {
		got, errs := o.rcv[c].got()
		if len(errs) > 0 || len(got) != 1 || got[0].Sid != sid {
			t.Errorf("%s got %+v (errors %v), want one token for %s", c, got, errs, sid)
		}
	}
	if p := b2.Get(o.Issuer + "/account"); p.Status != http.StatusSeeOther || !strings.Contains(p.Location, "/login") {
		t.Errorf("other browser's account page: %d to %q, want a redirect to the login (signed out)", p.Status, p.Location)
	}
}
