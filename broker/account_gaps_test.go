package broker_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"

	"github.com/gatehouse-id/gatehouse/connectors/local"
)

// ReplacePasswordHash passes a password change on to the user source (the switches say
// only what LookupUser reports), so the local connector can change passwords here.
func (u switchedUsers) ReplacePasswordHash(ctx context.Context, username, oldHash, newHash string) error {
	rh, ok := u.UserSource.(local.PasswordRehasher)
	if !ok {
		return errors.ErrUnsupported
	}
	return rh.ReplacePasswordHash(ctx, username, oldHash, newHash)
}

// TestAccountPasswordlessNoPasswordForm: a local account without a password (passkeys only)
// sees a line saying so instead of the password form, which could never succeed, and a
// password change POSTed anyway is refused (409) before any password is checked; an account
// with a password keeps the form, and its POST reaches the check of the current password.
func TestAccountPasswordlessNoPasswordForm(t *testing.T) {
	tests := []struct {
		name       string
		noPassword bool
		wantForm   bool
		wantStatus int
		wantBody   string
	}{
		{"account with a password", false, true, http.StatusUnauthorized, "current password"},
		{"passkey-only account", true, false, http.StatusConflict, "your account has no password to change"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newPasskeyEnv(t)
			b := e.browser()
			e.signInWithPassword(b, e.rp(confidentialID, confidentialSecret, redirectURI))
			e.noPassword.Store(tt.noPassword)
			p := b.get(e.issuer + "/account")
			if p.status != http.StatusOK {
				t.Fatalf("account page: %d\n%s", p.status, p.body)
			}
			hasForm := strings.Contains(p.body, `value="change-password"`)
			hasLine := strings.Contains(p.body, "Your account has no password: you sign in with a passkey.")
			if hasForm != tt.wantForm || hasLine == tt.wantForm {
				t.Fatalf("password form shown %v, no-password line shown %v; want form %v\n%s", hasForm, hasLine, tt.wantForm, p.body)
			}
			var action string
			var vals url.Values
			for _, m := range anyFormRe.FindAllStringSubmatch(p.body, -1) {
				if action, vals = form(t, m[0]); vals.Get("csrf") != "" {
					break
				}
			}
			if vals.Get("csrf") == "" {
				t.Fatalf("no form with a CSRF token on the account page\n%s", p.body)
			}
			vals.Set("action", "change-password")
			vals.Set("current", "wrong-password-1")
			vals.Set("new", "a-new-password-2")
			vals.Set("confirm", "a-new-password-2")
			p = b.post(e.issuer+action, vals)
			if p.status != tt.wantStatus || !strings.Contains(strings.ToLower(p.body), tt.wantBody) {
				t.Fatalf("password change: %d, want %d with %q\n%s", p.status, tt.wantStatus, tt.wantBody, p.body)
			}
		})
	}
}

// logoutUpstream is a redirect connector (testUpstream) whose upstream ends its session
// through the browser, as OIDC RP-Initiated Logout does: LogoutStep sends the browser to the
// upstream's end_session_endpoint with post_logout_redirect_uri and state.
type logoutUpstream struct {
	testUpstream
	endSession string
}

func (u *logoutUpstream) LogoutStep(_ context.Context, req connectors.LogoutRequest) (connectors.Step, error) {
	q := url.Values{"post_logout_redirect_uri": {req.ReturnURL}, "state": {req.State}}
	return connectors.Step{URL: u.endSession + "?" + q.Encode()}, nil
}

func (u *logoutUpstream) FinishLogout(context.Context, []byte, *http.Request) error { return nil }

var _ connectors.UpstreamLogoutConnector = (*logoutUpstream)(nil)

// newAccountUpstreamEnv is a broker with the local connector and "upstream", a redirect
// connector with logout: upstream whose end_session_endpoint is an httptest server (it
// counts its calls in ended and sends the browser back with the state, as an OpenID
// provider does). The oidc connector's own upstream double (connectors/internal/fakeoauth)
// cannot be imported from broker.
func newAccountUpstreamEnv(t *testing.T) (*env, string, *atomic.Int32) {
	t.Helper()
	ended := new(atomic.Int32)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /session/end", func(w http.ResponseWriter, r *http.Request) {
		ended.Add(1)
		back, err := url.Parse(r.URL.Query().Get("post_logout_redirect_uri"))
		if err != nil {
			http.Error(w, "bad post_logout_redirect_uri", http.StatusBadRequest)
			return
		}
		q := back.Query()
		q.Set("state", r.URL.Query().Get("state"))
		back.RawQuery = q.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	})
	up := httptest.NewServer(mux)
	t.Cleanup(up.Close)
	conn := &logoutUpstream{testUpstream: testUpstream{info: connectors.Info{ID: "upstream", Type: "test", Name: "Upstream"}},
		endSession: up.URL + "/session/end"}
	e := newEnvOpts(t, envOpts{
		registry: connectors.Registry{"test": brokertest.Opened(conn, nil)},
		config: func(c *config.Config) {
			c.Connectors = append(c.Connectors, brokertest.Connector(t, "{type: test, id: upstream, name: Upstream}"))
		},
		connectors: func(cs []connset.Slot) []connset.Slot {
			for i := range cs {
				if cs[i].Info.ID == "upstream" {
					cs[i].UpstreamLogout = true // config allows logout: upstream on oidc and saml connectors only
				}
			}
			return cs
		},
	})
	return e, up.URL, ended
}

// signOutThisSession posts the account page's "Sign out" of the browser's own session.
func signOutThisSession(t *testing.T, e *env, b *browser) page {
	t.Helper()
	p := b.get(e.issuer + "/account")
	for _, m := range anyFormRe.FindAllStringSubmatch(p.body, -1) {
		if action, vals := form(t, m[0]); vals.Get("action") == "signout-session" {
			return b.post(e.issuer+action, vals)
		}
	}
	t.Fatalf("no sign-out form for a session on the account page: %d\n%s", p.status, p.body)
	return page{}
}

// TestAccountSignOutThisSessionAsLogout: "Sign out" of the browser's own session on /account
// takes the path of /logout once the session ended: the session's OIDC client with a
// frontchannel_logout_uri gets its iframe on the signed-out page, and a session of a
// connector with logout: upstream sends the browser to the upstream's end_session_endpoint,
// which comes back to the signed-out page (once).
func TestAccountSignOutThisSessionAsLogout(t *testing.T) {
	tests := []struct {
		name string
		// signIn signs the browser in and returns the env and the upstream's URL ("" for none).
		signIn    func(t *testing.T, b func(*env) *browser) (*env, *browser, string, *atomic.Int32)
		wantFrame bool
	}{
		{"OIDC front-channel client", func(t *testing.T, nb func(*env) *browser) (*env, *browser, string, *atomic.Int32) {
			e := newSAMLEnv(t) // the trusted client has a frontchannel_logout_uri
			b := nb(e)
			if at := e.login(b, e.authURLFor(nil), alicePassword, false); !strings.Contains(at, "code=") {
				t.Fatalf("login: %s", at)
			}
			return e, b, "", nil
		}, true},
		{"connector with logout: upstream", func(t *testing.T, nb func(*env) *browser) (*env, *browser, string, *atomic.Int32) {
			e, upURL, ended := newAccountUpstreamEnv(t)
			b := nb(e)
			p := b.get(e.authURLFor(url.Values{"connector_id": {"upstream"}}))
			for p.status == http.StatusSeeOther && !strings.HasPrefix(p.location, "https://upstream.test/") {
				p = b.get(e.issuer + strings.TrimPrefix(p.location, e.issuer))
			}
			u, err := url.Parse(p.location)
			if err != nil || u.Host != "upstream.test" {
				t.Fatalf("login through upstream: %d %q\n%s", p.status, p.location, p.body)
			}
			cb := e.issuer + "/callback/upstream?" + url.Values{"user": {"ann"}, "state": {u.Query().Get("state")}}.Encode()
			if _, at := b.follow(e, b.get(cb), cb); !strings.Contains(at, "code=") {
				t.Fatalf("callback: ended at %s", at)
			}
			return e, b, upURL, ended
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, b, upURL, ended := tt.signIn(t, func(e *env) *browser { return e.browser() })
			p := signOutThisSession(t, e, b)
			if upURL != "" {
				if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, upURL+"/session/end?") {
					t.Fatalf("sign out went to %d %q, want the upstream's end_session_endpoint\n%s", p.status, p.location, p.body)
				}
				back := redirectOf(t, p.location)
				if !strings.HasPrefix(back, e.issuer+"/logout/upstream?") || ended.Load() != 1 {
					t.Fatalf("the upstream sent the browser to %q (called %d times)", back, ended.Load())
				}
				p = b.get(back)
				if again := b.get(back); again.status != http.StatusBadRequest {
					t.Errorf("the upstream logout's state used twice: %d", again.status)
				}
			}
			if p.status != http.StatusOK || !strings.Contains(p.body, "signed out") {
				t.Fatalf("signed-out page: %d %q\n%s", p.status, p.location, p.body)
			}
			if frame := strings.Contains(p.body, `<iframe class="logout-frame" src="`+samlEnvFrontChannel+`"`); frame != tt.wantFrame {
				t.Fatalf("front-channel iframe shown %v, want %v\n%s", frame, tt.wantFrame, p.body)
			}
			if p := b.get(e.issuer + "/account"); p.status == http.StatusOK && strings.Contains(p.body, "signout-session") {
				t.Fatal("the session is still signed in after its sign-out")
			}
		})
	}
}

// redirectOf GETs u (an upstream page) without following and returns where it redirects.
func redirectOf(t *testing.T, u string) string {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() //nolint:errcheck // a read-only test request
	if resp.StatusCode/100 != 3 {
		t.Fatalf("GET %s: %d, want a redirect", u, resp.StatusCode)
	}
	return resp.Header.Get("Location")
}

// TestAccountSignOutThisSessionReachesSP: "Sign out" of the browser's own session on
// /account runs the SAML front-channel fan-out of /logout: the browser goes to the service
// provider's single logout service with a LogoutRequest for the session's assertion.
func TestAccountSignOutThisSessionReachesSP(t *testing.T) {
	ts := newTestSP(t, true)
	e := newSAMLEnv(t, spConfig("wiki", ts, func(c *config.ServiceProvider) { c.Trusted = true }))
	e.trust(ts)
	b := e.browser()
	u, reqID := ts.redirectRequest(t, "", nil)
	action, vals := e.samlLogin(b, b.get(u), u, true)
	a := ts.consume(t, action, vals, reqID)
	p := signOutThisSession(t, e, b)
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, ts.sp.SloURL.String()) {
		t.Fatalf("sign out went to %d %q, want the SP's single logout service\n%s", p.status, p.location, p.body)
	}
	req, _ := http.NewRequest(http.MethodGet, p.location, nil)
	lr, err := ts.sp.ValidateLogoutRequest(req)
	if err != nil {
		t.Fatalf("SP refused the LogoutRequest: %v", spErr(err))
	}
	if lr.NameID.Value != a.Subject.NameID.Value {
		t.Fatalf("LogoutRequest names %+v", lr.NameID)
	}
}
