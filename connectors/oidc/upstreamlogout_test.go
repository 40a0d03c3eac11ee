package oidc_test

// Upstream logout (issue 18 item 4) through a whole Gatehouse (brokertest, the constructor
// serve uses) with an httptest OIDC provider speaking discovery, JWKS, the code flow and an
// end_session_endpoint (fakeoauth): the upstream's back-channel logout tokens end the
// Gatehouse sessions they name (Back-Channel Logout 1.0 2.6-2.8), and a Gatehouse logout goes
// on to the upstream's end_session_endpoint (RP-Initiated Logout 1.0) and back.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/internal/fakeoauth"
	"github.com/gatehouse-id/gatehouse/connectors/local"
	"github.com/gatehouse-id/gatehouse/connectors/oidc"
	"github.com/gatehouse-id/gatehouse/session"
)

const (
	ulClient     = "app"
	ulSecret     = "app-secret-0123456789abcdef"
	ulRedirect   = "http://127.0.0.1:9999/cb"
	ulPostLogout = "http://127.0.0.1:9999/bye"
)

// ulEnv is a Gatehouse with upstream connector "up" (logout: upstream) on a fake provider,
// connector "plain" (no upstream logout) on the same provider, and client ulClient with a
// back-channel logout receiver.
type ulEnv struct {
	t        *testing.T
	up       *fakeoauth.Server
	gh       *brokertest.Server
	sidN     atomic.Int32
	mu       sync.Mutex
	received []string // logout tokens the client's back-channel receiver got
	ended    []url.Values
}

func newULEnv(t *testing.T, endSession bool) *ulEnv {
	e := &ulEnv{t: t}
	e.up, _ = newFakeIdP(t)
	e.up.IDClaims = func(user string) map[string]any {
		return map[string]any{"sub": user, "sid": fmt.Sprintf("up-sid-%d", e.sidN.Add(1)), "email": user + "@example.com", "email_verified": true}
	}
	if endSession {
		e.up.EndSessionPath = "/session/end"
		e.up.Handle("GET /session/end", func(w http.ResponseWriter, r *http.Request) {
			e.mu.Lock()
			e.ended = append(e.ended, r.URL.Query())
			e.mu.Unlock()
			back, _ := url.Parse(r.URL.Query().Get("post_logout_redirect_uri"))
			q := back.Query()
			q.Set("state", r.URL.Query().Get("state"))
			back.RawQuery = q.Encode()
			http.Redirect(w, r, back.String(), http.StatusFound)
		})
	}
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		e.mu.Lock()
		e.received = append(e.received, r.PostForm.Get("logout_token"))
		e.mu.Unlock()
	}))
	t.Cleanup(rp.Close)
	cfgOf := func() connectors.Config {
		return &oidc.Config{Issuer: e.up.URL, ClientID: e.up.ClientID, ClientSecret: e.up.ClientSecret}
	}
	e.gh = brokertest.New(t, brokertest.Options{
		Registry: func(local.UserSource) connectors.Registry { return connectors.Registry{"oidc": cfgOf} },
		Config: func(cfg *config.Config) {
			cfg.Connectors = append(cfg.Connectors,
				config.ConnectorBlock{Type: "oidc", ID: "up", Name: "Upstream SSO", Logout: config.ConnectorLogoutUpstream},
				config.ConnectorBlock{Type: "oidc", ID: "plain", Name: "Plain SSO"})
			cfg.Clients = append(cfg.Clients, config.Client{ID: ulClient, Secret: ulSecret, RedirectURIs: []string{ulRedirect},
				PostLogoutRedirectURIs: []string{ulPostLogout}, BackchannelLogoutURI: rp.URL + "/bcl"})
		},
	})
	return e
}

// login signs ann in through connector id and returns the browser (holding the session
// cookie) and the Gatehouse session ID.
func (e *ulEnv) login(id, user string) (*brokertest.Browser, string) {
	e.t.Helper()
	b := e.gh.Browser()
	_, challenge := brokertest.PKCE("verifier-0123456789-0123456789-0123456789-0123")
	q := url.Values{"client_id": {ulClient}, "redirect_uri": {ulRedirect}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"st"}, "nonce": {"n"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	p, at := e.gh.RedirectLogin(b, e.gh.Issuer+"/authorize?"+q.Encode(), id, func(u string) *http.Request {
		req, err := http.NewRequest(http.MethodGet, e.up.Authorize(e.t, u, user), nil)
		if err != nil {
			e.t.Fatal(err)
		}
		return req
	})
	if !strings.HasPrefix(at, ulRedirect) || !strings.Contains(at, "code=") {
		e.t.Fatalf("login through %s: %d at %s\n%s", id, p.Status, at, p.Body)
	}
	// The code makes the client a participant of the session (back-channel logout).
	u, _ := url.Parse(at)
	e.gh.Exchange(b, ulClient, ulSecret, ulRedirect, u.Query().Get("code"), "verifier-0123456789-0123456789-0123456789-0123")
	return b, e.sessionOf(b)
}

// sessionOf returns the live Gatehouse session ID of the browser ("" for none), as the
// Gatehouse sees it: the storage key of its SSO cookie.
func (e *ulEnv) sessionOf(b *brokertest.Browser) string {
	e.t.Helper()
	u, _ := url.Parse(e.gh.Issuer)
	for _, c := range b.Client.Jar.Cookies(u) {
		if strings.Contains(c.Name, "sso") {
			id := session.HashID(c.Value)
			if _, err := e.gh.Store.GetSession(context.Background(), id); err == nil {
				return id
			}
		}
	}
	return ""
}

// logoutToken returns an upstream back-channel logout token (valid unless mut changes it).
func (e *ulEnv) logoutToken(signer *fakeoauth.Server, mut func(map[string]any)) string {
	now := time.Now()
	m := map[string]any{"iss": e.up.URL, "sub": "ann", "aud": e.up.ClientID, "iat": now.Unix(),
		"exp": now.Add(2 * time.Minute).Unix(), "jti": fmt.Sprintf("jti-%d", time.Now().UnixNano()),
		"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}}
	if mut != nil {
		mut(m)
	}
	return signer.SignTyped(m, "logout+jwt")
}

// post sends form to the connector's back-channel logout endpoint.
func (e *ulEnv) post(connector string, form url.Values) (int, string, http.Header) {
	e.t.Helper()
	resp, err := http.Post(e.gh.Issuer+"/connectors/"+connector+"/backchannel-logout", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

// TestUpstreamBackChannelLogout: the upstream's back-channel logout token ends the Gatehouse
// sessions of the upstream session (sid) or user (sub alone) it names, and the session's OIDC
// client gets its own back-channel logout token; every token Back-Channel Logout 1.0 2.6
// refuses is answered 400 and ends nothing (2.8), a replayed jti too; a token naming no live
// session is answered 200. Never cached.
func TestUpstreamBackChannelLogout(t *testing.T) {
	other := fakeoauth.New(t) // another provider's key
	tests := []struct {
		name      string
		connector string
		form      func(e *ulEnv, sid string) url.Values
		want      int
		wantEnded bool
	}{
		{"sid and sub", "up", func(e *ulEnv, sid string) url.Values {
			return url.Values{"logout_token": {e.logoutToken(e.up, func(m map[string]any) { m["sid"] = sid })}}
		}, 200, true},
		{"sid alone", "up", func(e *ulEnv, sid string) url.Values {
			return url.Values{"logout_token": {e.logoutToken(e.up, func(m map[string]any) { m["sid"] = sid; delete(m, "sub") })}}
		}, 200, true},
		{"sub alone: every session of the user", "up", func(e *ulEnv, _ string) url.Values {
			return url.Values{"logout_token": {e.logoutToken(e.up, nil)}}
		}, 200, true},
		{"unknown sid: nothing to end", "up", func(e *ulEnv, _ string) url.Values {
			return url.Values{"logout_token": {e.logoutToken(e.up, func(m map[string]any) { m["sid"] = "gone" })}}
		}, 200, false},
		{"another user's sub with the sid", "up", func(e *ulEnv, sid string) url.Values {
			return url.Values{"logout_token": {e.logoutToken(e.up, func(m map[string]any) { m["sid"] = sid; m["sub"] = "bob" })}}
		}, 200, false},
		{"bad signature", "up", func(e *ulEnv, sid string) url.Values {
			return url.Values{"logout_token": {e.logoutToken(other, func(m map[string]any) { m["sid"] = sid })}}
		}, 400, false},
		{"wrong aud", "up", func(e *ulEnv, sid string) url.Values {
			return url.Values{"logout_token": {e.logoutToken(e.up, func(m map[string]any) { m["sid"] = sid; m["aud"] = "other-client" })}}
		}, 400, false},
		{"nonce present", "up", func(e *ulEnv, sid string) url.Values {
			return url.Values{"logout_token": {e.logoutToken(e.up, func(m map[string]any) { m["sid"] = sid; m["nonce"] = "n" })}}
		}, 400, false},
		{"no events", "up", func(e *ulEnv, sid string) url.Values {
			return url.Values{"logout_token": {e.logoutToken(e.up, func(m map[string]any) { m["sid"] = sid; delete(m, "events") })}}
		}, 400, false},
		{"expired", "up", func(e *ulEnv, sid string) url.Values {
			return url.Values{"logout_token": {e.logoutToken(e.up, func(m map[string]any) { m["sid"] = sid; m["exp"] = time.Now().Add(-time.Hour).Unix() })}}
		}, 400, false},
		{"an ID token", "up", func(e *ulEnv, sid string) url.Values {
			return url.Values{"logout_token": {e.up.Sign(map[string]any{"iss": e.up.URL, "sub": "ann", "sid": sid, "aud": e.up.ClientID,
				"iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix(), "nonce": "n"})}}
		}, 400, false},
		{"no logout_token", "up", func(*ulEnv, string) url.Values { return url.Values{} }, 400, false},
		{"two logout_tokens", "up", func(e *ulEnv, sid string) url.Values {
			tok := e.logoutToken(e.up, func(m map[string]any) { m["sid"] = sid })
			return url.Values{"logout_token": {tok, tok}}
		}, 400, false},
		{"connector without logout: upstream", "plain", func(e *ulEnv, sid string) url.Values {
			return url.Values{"logout_token": {e.logoutToken(e.up, func(m map[string]any) { m["sid"] = sid })}}
		}, 404, false},
		{"unknown connector", "nope", func(e *ulEnv, sid string) url.Values {
			return url.Values{"logout_token": {e.logoutToken(e.up, func(m map[string]any) { m["sid"] = sid })}}
		}, 404, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newULEnv(t, true)
			b, sessID := e.login("up", "ann")
			sess, err := e.gh.Store.GetSession(context.Background(), sessID)
			if err != nil || sess.Auth.UpstreamSessionID == "" {
				t.Fatalf("session %+v, %v: want the upstream sid recorded", sess.Auth, err)
			}
			status, body, hdr := e.post(tt.connector, tt.form(e, sess.Auth.UpstreamSessionID))
			if status != tt.want || hdr.Get("Cache-Control") != "no-store" {
				t.Fatalf("status %d (Cache-Control %q) %s, want %d", status, hdr.Get("Cache-Control"), body, tt.want)
			}
			if status == 400 && !strings.Contains(body, `"error":"invalid_request"`) {
				t.Errorf("400 body %s: want an error JSON", body)
			}
			if ended := e.sessionOf(b) == ""; ended != tt.wantEnded {
				t.Fatalf("session ended = %v, want %v", ended, tt.wantEnded)
			}
			if _, err := e.gh.Gatehouse.Server.DeliverLogouts(context.Background()); err != nil {
				t.Fatal(err)
			}
			e.mu.Lock()
			got := len(e.received)
			e.mu.Unlock()
			if want := map[bool]int{true: 1, false: 0}[tt.wantEnded]; got != want {
				t.Fatalf("the client got %d back-channel logout tokens, want %d", got, want)
			}
		})
	}
}

// TestUpstreamBackChannelLogoutReplay: a logout token's jti is single-use: the same token
// again is refused (400) even after the session it ended is gone, and ends nothing more.
func TestUpstreamBackChannelLogoutReplay(t *testing.T) {
	e := newULEnv(t, true)
	b1, _ := e.login("up", "ann")
	tok := e.logoutToken(e.up, nil) // sub alone: every session of ann
	if status, body, _ := e.post("up", url.Values{"logout_token": {tok}}); status != 200 {
		t.Fatalf("first: %d %s", status, body)
	}
	if e.sessionOf(b1) != "" {
		t.Fatal("session not ended")
	}
	b2, _ := e.login("up", "ann")
	if status, body, _ := e.post("up", url.Values{"logout_token": {tok}}); status != 400 || !strings.Contains(body, "already used") {
		t.Fatalf("replay: %d %s, want 400", status, body)
	}
	if e.sessionOf(b2) == "" {
		t.Fatal("a replayed token ended the new session")
	}
}

// TestUpstreamRPInitiatedLogout: a Gatehouse logout of a user of a connector with logout:
// upstream ends the Gatehouse session, then sends the browser to the upstream's
// end_session_endpoint with the upstream ID token as id_token_hint, Gatehouse's
// /logout/upstream as post_logout_redirect_uri and a state; coming back with that state
// (once) goes on to the client's post_logout_redirect_uri. Without an end_session_endpoint
// the local logout completes and the page says the upstream session may still be open.
func TestUpstreamRPInitiatedLogout(t *testing.T) {
	tests := []struct {
		name       string
		endSession bool
		connector  string
		wantUp     bool
	}{
		{"upstream logout", true, "up", true},
		{"upstream without end_session_endpoint", false, "up", false},
		{"connector without logout: upstream", true, "plain", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newULEnv(t, tt.endSession)
			b, _ := e.login(tt.connector, "ann")
			start := e.gh.Issuer + "/logout?" + url.Values{"client_id": {ulClient}, "post_logout_redirect_uri": {ulPostLogout}, "state": {"bye-1"}}.Encode()
			p := b.Get(start)
			action, vals := brokertest.Form(t, p.Body) // the confirmation (no id_token_hint)
			vals.Set("decision", "logout")
			p, at := b.Follow(b.Post(e.gh.Issuer+action, vals), e.gh.Issuer+action)
			if e.sessionOf(b) != "" {
				t.Fatal("the Gatehouse session is still live")
			}
			switch {
			case tt.wantUp:
				if !strings.HasPrefix(at, e.up.URL+"/session/end?") {
					t.Fatalf("logout went to %s (%d), want the upstream's end_session_endpoint\n%s", at, p.Status, p.Body)
				}
				u, _ := url.Parse(at)
				q := u.Query()
				if q.Get("post_logout_redirect_uri") != e.gh.Issuer+"/logout/upstream" || q.Get("client_id") != e.up.ClientID ||
					q.Get("state") == "" || len(strings.Split(q.Get("id_token_hint"), ".")) != 3 {
					t.Fatalf("end_session request %v", q)
				}
				back := redirectOf(t, at) // the upstream ends its session and sends the browser back
				p, at = b.Follow(b.Get(back), back)
				if at != ulPostLogout+"?state=bye-1" {
					t.Fatalf("after the upstream: %d at %s, want the client's post-logout URI\n%s", p.Status, at, p.Body)
				}
				if again := b.Get(back); again.Status != http.StatusBadRequest || !strings.Contains(again.Body, "already used") {
					t.Fatalf("state used twice: %d\n%s", again.Status, again.Body)
				}
				if forged := b.Get(e.gh.Issuer + "/logout/upstream?state=forged"); forged.Status != http.StatusBadRequest {
					t.Fatalf("forged state: %d", forged.Status)
				}
			case tt.endSession: // no upstream logout configured: straight to the client
				if at != ulPostLogout+"?state=bye-1" {
					t.Fatalf("logout went to %s (%d), want the client's post-logout URI", at, p.Status)
				}
			default:
				if p.Status != http.StatusOK || !strings.Contains(p.Body, "may still be open") || !strings.Contains(p.Body, ulPostLogout) {
					t.Fatalf("logout page %d at %s, want the notice and a way on\n%s", p.Status, at, p.Body)
				}
			}
			e.mu.Lock()
			n := len(e.ended)
			e.mu.Unlock()
			if (n == 1) != tt.wantUp {
				t.Fatalf("the upstream's end_session_endpoint was called %d times", n)
			}
		})
	}
}

// redirectOf GETs u (an upstream page) and returns where it redirects.
func redirectOf(t *testing.T, u string) string {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 3 {
		t.Fatalf("GET %s: %d, want a redirect", u, resp.StatusCode)
	}
	return resp.Header.Get("Location")
}

// TestUpstreamLogoutAfterSignOutEverywhere: "Sign out everywhere" on /account ends the
// Gatehouse sessions and then this browser's session at the upstream (connector with
// logout: upstream), coming back to the signed-out page.
func TestUpstreamLogoutAfterSignOutEverywhere(t *testing.T) {
	e := newULEnv(t, true)
	b, _ := e.login("up", "ann")
	p := b.Get(e.gh.Issuer + "/account")
	i := strings.Index(p.Body, "End every session of your account") // the lead of the Sign out everywhere form
	if p.Status != http.StatusOK || i < 0 {
		t.Fatalf("account page: %d\n%s", p.Status, p.Body)
	}
	action, vals := brokertest.Form(t, p.Body[i:])
	p, at := b.Follow(b.Post(e.gh.Issuer+action, vals), e.gh.Issuer+action)
	if e.sessionOf(b) != "" {
		t.Fatal("the Gatehouse session is still live")
	}
	if !strings.HasPrefix(at, e.up.URL+"/session/end?") {
		t.Fatalf("sign out everywhere went to %s (%d), want the upstream's end_session_endpoint\n%s", at, p.Status, p.Body)
	}
	back := redirectOf(t, at)
	p, _ = b.Follow(b.Get(back), back)
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "signed out of Gatehouse and of Upstream SSO") {
		t.Fatalf("after the upstream: %d\n%s", p.Status, p.Body)
	}
}

// TestUpstreamLogoutNoticeTranslated: the signed-out page's notice that the upstream session
// may still be open (built with the connector's name) is shown in the user's language, the
// name inside the translated sentence, with no English left.
func TestUpstreamLogoutNoticeTranslated(t *testing.T) {
	tests := []struct {
		lang, want, dir string
	}{
		{"en", "Upstream SSO offers no way to end your session there from here: it may still be open.", "ltr"},
		{"de", "Upstream SSO bietet keine Möglichkeit, Ihre Sitzung dort von hier aus zu beenden", "ltr"},
		{"ar", "لا يتيح Upstream SSO أي طريقة لإنهاء جلستك هناك من هنا", "rtl"},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			e := newULEnv(t, false) // no end_session_endpoint: the upstream offers no logout
			b, _ := e.login("up", "ann")
			iss, _ := url.Parse(e.gh.Issuer)
			if p := b.Get(e.gh.Issuer + "/language?" + url.Values{"set": {tt.lang}, "back": {iss.Path + "/logout"}}.Encode()); p.Status >= 400 {
				t.Fatalf("language switch: %d\n%s", p.Status, p.Body)
			}
			start := e.gh.Issuer + "/logout?" + url.Values{"client_id": {ulClient}, "post_logout_redirect_uri": {ulPostLogout}, "state": {"bye-1"}}.Encode()
			action, vals := brokertest.Form(t, b.Get(start).Body)
			vals.Set("decision", "logout")
			p, at := b.Follow(b.Post(e.gh.Issuer+action, vals), e.gh.Issuer+action)
			if p.Status != http.StatusOK || !strings.Contains(p.Body, tt.want) {
				t.Fatalf("signed-out page %d at %s, want %q\n%s", p.Status, at, tt.want, p.Body)
			}
			if !strings.Contains(p.Body, `lang="`+tt.lang+`" dir="`+tt.dir+`"`) {
				t.Fatalf("page not in %s (%s)\n%s", tt.lang, tt.dir, p.Body)
			}
			if tt.lang != "en" && strings.Contains(p.Body, "may still be open") {
				t.Fatalf("English notice on the %s page\n%s", tt.lang, p.Body)
			}
		})
	}
}
