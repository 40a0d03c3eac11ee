package broker_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
)

// testUpstream is a redirect connector for tests: Begin sends the browser to an upstream URL
// carrying the state, and Finish signs in whoever the callback's user parameter names (the
// attacker controls his own upstream account).
type testUpstream struct{ info connectors.Info }

func (u *testUpstream) Info() connectors.Info { return u.info }
func (u *testUpstream) Close() error          { return nil }

func (u *testUpstream) Begin(_ context.Context, req connectors.BeginRequest) (connectors.Step, error) {
	return connectors.Step{URL: "https://upstream.test/auth?state=" + url.QueryEscape(req.State), Stash: []byte("stash-" + u.info.ID)}, nil
}

func (u *testUpstream) Finish(_ context.Context, req connectors.FinishRequest, r *http.Request) (connectors.Upstream, error) {
	if string(req.Stash) != "stash-"+u.info.ID {
		return connectors.Upstream{}, errors.New("stash of another connector")
	}
	user := r.URL.Query().Get("user")
	return connectors.Upstream{Subject: user, Attrs: map[string][]string{"preferred_username": {user}}}, nil
}

var _ connectors.RedirectConnector = (*testUpstream)(nil)

// newMultiEnv is a broker with three connectors: local and corp (both password stores over
// the same users) and upstream (a redirect connector).
func newMultiEnv(t *testing.T) *env {
	t.Helper()
	up := &testUpstream{info: connectors.Info{ID: "upstream", Type: "test", Name: "Upstream"}}
	return newEnvOpts(t, envOpts{
		registry: connectors.Registry{"test": brokertest.Opened(up, nil)},
		config: func(c *config.Config) {
			c.Connectors = append(c.Connectors,
				brokertest.Connector(t, "{type: local, id: corp, name: Corp, config: {cost: 4}}"),
				brokertest.Connector(t, "{type: test, id: upstream, name: Upstream}"))
		},
	})
}

// authURLFor is an authorization request of the trusted client (no consent step) with
// extra parameters.
func (e *env) authURLFor(extra url.Values) string {
	_, challenge := pkce(strings.Repeat("v", 43))
	q := url.Values{"client_id": {trustedID}, "redirect_uri": {otherRedirect}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"st"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	for k, v := range extra {
		q[k] = v
	}
	return e.issuer + "/authorize?" + q.Encode()
}

// passwordPost submits alice's password to /login/{connector} for the auth request reqID.
func (e *env) passwordPost(b *browser, p page, connector string) page {
	e.t.Helper()
	_, vals := form(e.t, p.body)
	vals.Set("username", "alice")
	vals.Set("password", alicePassword)
	return b.post(e.issuer+"/login/"+connector, vals)
}

// reqOf returns the auth request ID in a login URL.
func reqOf(t *testing.T, at string) string {
	t.Helper()
	u, err := url.Parse(at)
	if err != nil || u.Query().Get("req") == "" {
		t.Fatalf("no auth request in %q", at)
	}
	return u.Query().Get("req")
}

// TestConnectorIDBinds: a request that names a connector accepts no other, at every entry.
func TestConnectorIDBinds(t *testing.T) {
	e := newMultiEnv(t)
	gotCode := func(p page) bool {
		return p.status == http.StatusSeeOther && strings.HasPrefix(p.location, otherRedirect) && strings.Contains(p.location, "code=")
	}
	tests := []struct {
		name   string
		attack func(t *testing.T, b *browser, corpPage page, req string) page
	}{{
		// Attack (issue 12.4): a request naming connector_id=corp is completed through /login/local.
		name: "password POST to another connector",
		attack: func(t *testing.T, b *browser, corpPage page, req string) page {
			return e.passwordPost(b, corpPage, "local")
		},
	}, {
		// Attack (issue 12.4): the other connector's login form is served for the bound request.
		name: "password GET of another connector",
		attack: func(t *testing.T, b *browser, corpPage page, req string) page {
			p := b.get(e.issuer + "/login/local?req=" + url.QueryEscape(req))
			if strings.Contains(p.body, `name="password"`) {
				t.Errorf("the local login form is served for a request bound to corp")
			}
			return e.passwordPost(b, corpPage, "local")
		},
	}, {
		// Attack (issue 12.4): a redirect connector is begun for the bound request and its
		// callback completes the login as the attacker's upstream account.
		name: "redirect connector and its callback",
		attack: func(t *testing.T, b *browser, corpPage page, req string) page {
			p := b.get(e.issuer + "/login/upstream?req=" + url.QueryEscape(req))
			if strings.HasPrefix(p.location, "https://upstream.test/") {
				t.Errorf("a login through upstream was begun for a request bound to corp")
			}
			p, _ = b.follow(e, b.get(e.issuer+"/callback/upstream?user=mallory&state="+url.QueryEscape(req)), e.issuer+"/callback/upstream")
			return p
		},
	}, {
		// The chooser offers no choice for a bound request: it goes to the named connector.
		name: "chooser",
		attack: func(t *testing.T, b *browser, corpPage page, req string) page {
			p := b.get(e.issuer + "/login?req=" + url.QueryEscape(req))
			if p.status != http.StatusSeeOther || !strings.Contains(p.location, "/login/corp?") {
				t.Errorf("chooser for a bound request: %d %q, want a redirect to /login/corp", p.status, p.location)
			}
			return p
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			u := e.authURLFor(url.Values{"connector_id": {"corp"}})
			p, at := b.follow(e, b.get(u), u)
			if !strings.Contains(at, "/login/corp?") || !strings.Contains(p.body, `name="password"`) {
				t.Fatalf("connector_id=corp: landed on %s (%d)", at, p.status)
			}
			if got := tc.attack(t, b, p, reqOf(t, at)); gotCode(got) {
				t.Fatalf("the request bound to corp was completed elsewhere: %s", got.location)
			}
			// The bound connector still works.
			if got := e.passwordPost(b, p, "corp"); !gotCode(got) {
				t.Fatalf("login through the named connector: %d %q\n%s", got.status, got.location, got.body)
			}
		})
	}

	t.Run("SSO session of another connector", func(t *testing.T) {
		b := e.browser()
		u := e.authURLFor(url.Values{"connector_id": {"local"}})
		p, _ := b.follow(e, b.get(u), u)
		if got := e.passwordPost(b, p, "local"); !gotCode(got) {
			t.Fatalf("login through local: %d %q", got.status, got.location)
		}
		u = e.authURLFor(url.Values{"connector_id": {"corp"}})
		if p := b.get(u); gotCode(p) {
			t.Fatalf("a local SSO session answered a request bound to corp: %s", p.location)
		}
	})

	t.Run("unbound request may switch connector", func(t *testing.T) {
		b := e.browser()
		u := e.authURLFor(nil)
		_, at := b.follow(e, b.get(u), u)
		req := reqOf(t, at)
		if p := b.get(e.issuer + "/login/upstream?req=" + url.QueryEscape(req)); !strings.HasPrefix(p.location, "https://upstream.test/") {
			t.Fatalf("begin upstream: %d %q", p.status, p.location)
		}
		// The user comes back and picks another connector instead.
		p := b.get(e.issuer + "/login/local?req=" + url.QueryEscape(req))
		if got := e.passwordPost(b, p, "local"); !gotCode(got) {
			t.Fatalf("switching to local after starting upstream: %d %q\n%s", got.status, got.location, got.body)
		}
	})
}
