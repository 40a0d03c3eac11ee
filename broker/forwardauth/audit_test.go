package forwardauth_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/storage"
)

// refusals lists the forward_auth.refused events in the store.
func (c *corp) refusals() []storage.AuditEvent {
	c.t.Helper()
	all, err := c.gh.Store.(storage.AuditStore).ListAuditEvents(c.t.Context(), storage.AuditFilter{})
	if err != nil {
		c.t.Fatal(err)
	}
	var out []storage.AuditEvent
	for _, e := range all {
		if e.Type == audit.ForwardAuthRefused {
			out = append(out, e)
		}
	}
	return out
}

// TestForwardAuthAuditRefusals: every refusal is in the audit trail with what it refused and
// why (a 403 of the app's or a path's require, a host no app is on, a return URL that is
// not an app's); the same refusal within a minute is recorded once, also when the request
// varies its path or return URL (no flooding the trail); an allowed request or a bypass
// records nothing.
func TestForwardAuthAuditRefusals(t *testing.T) {
	c := newCorp(t, traefik, nil)
	host := "grafana.corp.localhost:" + c.appPort
	bob, eve := c.browser(), c.browser()
	if _, at := c.login(bob, c.app("grafana", "/"), "bob"); at != c.app("grafana", "/") {
		t.Fatalf("bob's login ended at %s", at)
	}
	if r, _ := c.login(eve, c.app("grafana", "/d/x"), "eve"); r.status != http.StatusForbidden {
		t.Fatalf("eve: %d, want 403", r.status)
	}
	c.do(bob, http.MethodGet, c.app("grafana", "/d/ok"), nil, nil)                                                   // allowed: no event
	c.do(c.browser(), http.MethodGet, c.app("grafana", "/api/health"), nil, nil)                                     // bypass: no event
	c.do(bob, http.MethodGet, c.app("grafana", "/admin/users?x=1"), nil, nil)                                        // path rule
	c.do(bob, http.MethodGet, c.app("grafana", "/admin/users?x=2"), nil, nil)                                        // the same, again
	c.do(c.browser(), http.MethodGet, c.app("other", "/secret"), nil, nil)                                           // unknown host
	c.do(bob, http.MethodGet, c.issuer+"/forward-auth/start?rd="+url.QueryEscape("http://evil.example/x"), nil, nil) // open redirect
	// Varying what the request controls writes no more events within the minute.
	for i := range 5 {
		c.do(bob, http.MethodGet, c.app("grafana", "/admin/p"+strconv.Itoa(i)), nil, nil)
		c.do(c.browser(), http.MethodGet, c.app("other", "/p"+strconv.Itoa(i)), nil, nil)
		c.do(c.browser(), http.MethodGet, c.issuer+"/forward-auth/start?rd="+url.QueryEscape("http://evil"+strconv.Itoa(i)+".example/"), nil, nil)
	}

	type want struct {
		outcome, user, client string
		detail                map[string]string
	}
	subOf := func(b *http.Client) string {
		_, h := echoed(t, c.do(b, http.MethodGet, c.app("wiki", "/"), nil, nil))
		return h.Get("X-Webauth-User")
	}
	bobSub := subOf(bob)
	wants := []want{
		{audit.OutcomeDenied, "", "app:grafana", map[string]string{"app": "grafana", "host": host, "path": "/d/x", "reason": "not in a group"}},
		{audit.OutcomeDenied, bobSub, "app:grafana", map[string]string{"app": "grafana", "host": host, "path": "/admin/users", "reason": "admins"}},
		{audit.OutcomeUnknownHost, "", "", map[string]string{"host": "other.corp.localhost:" + c.appPort, "path": "/secret"}},
		{audit.OutcomeBadReturnURL, "", "", map[string]string{"return_host": "evil.example", "reason": "not a configured"}},
	}
	got := c.refusals()
	if len(got) != len(wants) {
		t.Fatalf("%d refusal events, want %d (the repeat within a minute once): %+v", len(got), len(wants), got)
	}
	for _, w := range wants {
		found := false
		for _, e := range got {
			if e.Outcome != w.outcome || (w.user != "" && e.User != w.user) || e.ClientID != w.client {
				continue
			}
			ok := true
			for k, v := range w.detail {
				if k == "reason" && !strings.Contains(e.Detail[k], v) || k != "reason" && e.Detail[k] != v {
					ok = false
				}
			}
			if ok && (w.outcome != audit.OutcomeDenied || e.User != "") {
				found = true
			}
		}
		if !found {
			t.Errorf("no event %+v in %+v", w, got)
		}
	}
	// After the window the same refusal is recorded again.
	c.gh.Clock.Advance(61 * time.Second)
	c.do(bob, http.MethodGet, c.app("grafana", "/admin/users"), nil, nil)
	if n := len(c.refusals()); n != len(wants)+1 {
		t.Errorf("after a minute: %d refusal events, want %d", n, len(wants)+1)
	}
}
