package broker_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/local"
	"github.com/gatehouse-id/gatehouse/connectors/oidc"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
)

// linkIdP is an httptest OpenID provider for the linking tests: the authorization code flow
// as OIDC Core 3.1 documents it (discovery, JWKS, /authorize answering at once for the user
// the test names, /token with an RS256 ID token carrying the request's nonce). A real
// provider (the npm oidc-provider peer) is exercised by the e2e test under -tags peers;
// this one lets the tests pick who signs in upstream and make the upstream refuse.
type linkIdP struct {
	*httptest.Server
	key *rsa.PrivateKey
	// user is the upstream account the next /authorize signs in; deny makes it answer
	// error=access_denied instead.
	user atomic.Value
	deny atomic.Bool
	mu   sync.Mutex
	code map[string][2]string // code -> user, nonce
	// tokens counts code redemptions.
	tokens atomic.Int32
}

func newLinkIdP(t *testing.T) *linkIdP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	u := &linkIdP{key: key, code: map[string][2]string{}}
	u.user.Store("nobody")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": u.URL, "authorization_endpoint": u.URL + "/authorize",
			"token_endpoint": u.URL + "/token", "jwks_uri": u.URL + "/jwks", "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "l1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		back, _ := url.Parse(q.Get("redirect_uri"))
		v := url.Values{"state": {q.Get("state")}}
		if u.deny.Load() {
			v.Set("error", "access_denied")
		} else {
			code := rand.Text()
			u.mu.Lock()
			u.code[code] = [2]string{u.user.Load().(string), q.Get("nonce")}
			u.mu.Unlock()
			v.Set("code", code)
		}
		back.RawQuery = v.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		g, ok := u.code[r.PostFormValue("code")]
		delete(u.code, r.PostFormValue("code"))
		u.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
			return
		}
		u.tokens.Add(1)
		now := time.Now()
		claims := map[string]any{"iss": u.URL, "sub": g[0], "aud": "gh", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
			"nonce": g[1], "auth_time": now.Unix(), "email": g[0] + "@corp.example", "email_verified": true, "preferred_username": g[0]}
		s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "l1"}}, nil)
		b, _ := json.Marshal(claims)
		jws, _ := s.Sign(b)
		idt, _ := jws.CompactSerialize()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": rand.Text(), "token_type": "Bearer", "expires_in": 300, "id_token": idt})
	})
	u.Server = httptest.NewServer(mux)
	t.Cleanup(u.Close)
	return u
}

// play is the brokertest.Upstream of the IdP: it sends the browser's request to /authorize
// and returns the redirect back to the broker's callback.
func (u *linkIdP) play(t *testing.T) brokertest.Upstream {
	return func(upstreamURL string) *http.Request {
		t.Helper()
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(upstreamURL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		req, err := http.NewRequest(http.MethodGet, resp.Header.Get("Location"), nil)
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
}

// linkEnv is a Gatehouse with the local connector (users alice, bob, carol, dave, eve: each
// password is the username twice) and the OIDC connector corp, and the client app.
type linkEnv struct {
	t   *testing.T
	s   *brokertest.Server
	idp *linkIdP
}

func newLinkEnv(t *testing.T) *linkEnv {
	t.Helper()
	idp := newLinkIdP(t)
	s := brokertest.New(t, brokertest.Options{
		Registry: func(local.UserSource) connectors.Registry {
			return connectors.Registry{"oidc": func() connectors.Config { return &oidc.Config{} }}
		},
		Config: func(cfg *config.Config) {
			cfg.Connectors = append(cfg.Connectors,
				brokertest.Connector(t, "{type: oidc, id: corp, name: Corp, config: {issuer: '"+idp.URL+"', client_id: gh, client_secret: x}}"))
			for _, name := range []string{"alice", "bob", "carol", "dave", "eve"} {
				h, err := bcrypt.GenerateFromPassword([]byte(name+name), bcrypt.MinCost)
				if err != nil {
					t.Fatal(err)
				}
				cfg.Users = append(cfg.Users, config.User{Username: name, Email: name + "@example.com", EmailVerified: true, PasswordHash: string(h)})
			}
			cfg.Clients = append(cfg.Clients, config.Client{ID: brokertest.ClientID, Secret: brokertest.ClientSecret,
				RedirectURIs: []string{brokertest.ClientRedirect}})
		},
	})
	return &linkEnv{t: t, s: s, idp: idp}
}

// localSub signs b in with the local connector as user and returns the sub the token
// endpoint gives the client.
func (e *linkEnv) localSub(b *brokertest.Browser, user string) string {
	e.t.Helper()
	authURL, verifier := e.s.AuthURL("openid")
	authURL += "&connector_id=local&prompt=login"
	at := e.s.Login(b, authURL, user, user+user, true)
	u, _ := url.Parse(at)
	return e.sub(b, u.Query().Get("code"), verifier)
}

// corpSub signs b in through corp as the upstream account upstreamUser and returns the sub.
func (e *linkEnv) corpSub(b *brokertest.Browser, upstreamUser string) string {
	e.t.Helper()
	e.idp.user.Store(upstreamUser)
	authURL, verifier := e.s.AuthURL("openid")
	p, at := e.s.RedirectLogin(b, authURL+"&prompt=login", "corp", e.idp.play(e.t))
	return e.sub(b, e.s.CodeFrom(p, at), verifier)
}

func (e *linkEnv) sub(b *brokertest.Browser, code, verifier string) string {
	e.t.Helper()
	claims := e.s.Exchange(b, brokertest.ClientID, brokertest.ClientSecret, brokertest.ClientRedirect, code, verifier)
	sub, _ := claims["sub"].(string)
	if sub == "" {
		e.t.Fatalf("no sub in %v", claims)
	}
	return sub
}

var (
	sectionCSRFRe = regexp.MustCompile(`action="[^"]*/account/logins/(?:link|unlink)">\s*<input type="hidden" name="csrf" value="([^"]*)">`)
	loginIDRe     = regexp.MustCompile(`data-login="([0-9a-f]+)"`)
)

// account returns the account page and the section's CSRF token ("" when it offers no form).
func (e *linkEnv) account(b *brokertest.Browser) (brokertest.Page, string) {
	e.t.Helper()
	p := b.Get(e.s.Issuer + "/account")
	if p.Status != http.StatusOK {
		e.t.Fatalf("account page: %d\n%s", p.Status, p.Body)
	}
	m := sectionCSRFRe.FindStringSubmatch(p.Body)
	if m == nil {
		return p, ""
	}
	return p, m[1]
}

// startLink posts the Link form for connectorID and returns the broker's answer, followed
// within the issuer (a redirect upstream, or a page).
func (e *linkEnv) startLink(b *brokertest.Browser, csrf, connectorID string) (brokertest.Page, string) {
	e.t.Helper()
	u := e.s.Issuer + "/account/logins/link"
	return b.Follow(b.Post(u, url.Values{"csrf": {csrf}, "connector": {connectorID}}), u)
}

// link runs the whole link of corp as upstreamUser from b's account page and returns the
// page it ends on and that page's URL.
func (e *linkEnv) link(b *brokertest.Browser, upstreamUser string) (brokertest.Page, string) {
	e.t.Helper()
	_, csrf := e.account(b)
	p, at := e.startLink(b, csrf, "corp")
	if !strings.HasPrefix(at, e.idp.URL) {
		e.t.Fatalf("link did not go upstream: %d at %s\n%s", p.Status, at, p.Body)
	}
	e.idp.user.Store(upstreamUser)
	req := e.idp.play(e.t)(at)
	return b.Follow(b.Do(req), req.URL.String())
}

// linksOf lists a user's links as connector IDs.
func (e *linkEnv) linksOf(sub string) []string {
	e.t.Helper()
	ls, err := e.s.Store.(storage.LinkManager).ListUserLinks(context.Background(), sub)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, l := range ls {
		out = append(out, l.ConnectorID+"/"+l.UpstreamSubject)
	}
	return out
}

// events returns the account.link / account.unlink events of sub as "type outcome connector".
func (e *linkEnv) events(sub string) []string {
	e.t.Helper()
	evs, err := e.s.Store.(storage.AuditStore).ListAuditEvents(context.Background(), storage.AuditFilter{User: sub})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		if ev.Type == audit.AccountLink || ev.Type == audit.AccountUnlink {
			out = append(out, ev.Type+" "+ev.Outcome+" "+ev.ConnectorID)
		}
	}
	return out
}

// TestLinkLoginSameSub: a user signed in with a local password links an OIDC login from the
// account page; afterwards both logins resolve to the same sub at the token endpoint, and the
// account page lists both (the session's own marked) with the link audited.
func TestLinkLoginSameSub(t *testing.T) {
	e := newLinkEnv(t)
	b := e.s.Browser()
	alice := e.localSub(b, "alice")
	p, csrf := e.account(b)
	if csrf == "" || !strings.Contains(p.Body, `data-link-connector="corp"`) || strings.Contains(p.Body, `data-link-connector="local"`) {
		t.Fatalf("account page offers no Link button for corp (or offers local, already linked):\n%s", p.Body)
	}
	if strings.Contains(p.Body, "/account/logins/unlink") {
		t.Fatalf("the only login offers Remove:\n%s", p.Body)
	}
	p, at := e.link(b, "alice-corp")
	if p.Status != http.StatusOK || !strings.Contains(at, "/account?logins=linked") || !strings.Contains(p.Body, "The new sign-in method is linked") {
		t.Fatalf("link ended at %d %s:\n%s", p.Status, at, p.Body)
	}
	if got := loginIDRe.FindAllString(p.Body, -1); len(got) != 2 || !strings.Contains(p.Body, "used for this session") {
		t.Fatalf("account page lists %d logins, want 2 with the session's marked:\n%s", len(got), p.Body)
	}
	if got := e.corpSub(e.s.Browser(), "alice-corp"); got != alice {
		t.Fatalf("sign-in through corp alone: sub %s, want alice's %s", got, alice)
	}
	if got := e.localSub(e.s.Browser(), "alice"); got != alice {
		t.Fatalf("local sign-in after linking: sub %s, want %s", got, alice)
	}
	if got := strings.Join(e.events(alice), ","); got != "account.link success corp" {
		t.Errorf("audit = %q; want one account.link success corp", got)
	}
}

// TestLinkRefusals: what must not link, and must change nothing.
func TestLinkRefusals(t *testing.T) {
	e := newLinkEnv(t)
	ab := e.s.Browser()
	alice := e.localSub(ab, "alice")
	if p, at := e.link(ab, "alice-corp"); !strings.Contains(at, "logins=linked") {
		t.Fatalf("link: %d %s\n%s", p.Status, at, p.Body)
	}
	alicePage, _ := e.account(ab)
	aliceIDs := loginIDRe.FindAllStringSubmatch(alicePage.Body, -1)

	tests := []struct {
		name   string
		user   string
		run    func(t *testing.T, b *brokertest.Browser, csrf string) brokertest.Page
		status int
		text   string
		links  int // the acting user's links afterwards
	}{
		{"already linked to another user", "bob", func(t *testing.T, b *brokertest.Browser, _ string) brokertest.Page {
			p, _ := e.link(b, "alice-corp")
			return p
		}, http.StatusConflict, "already linked to another user", 1},
		{"link without CSRF token", "bob", func(t *testing.T, b *brokertest.Browser, _ string) brokertest.Page {
			p, _ := e.startLink(b, "", "corp")
			return p
		}, http.StatusForbidden, "could not be verified", 1},
		{"link with another session's CSRF token", "bob", func(t *testing.T, b *brokertest.Browser, _ string) brokertest.Page {
			_, other := e.account(ab)
			p, _ := e.startLink(b, other, "corp")
			return p
		}, http.StatusForbidden, "could not be verified", 1},
		{"unlink another user's link ID", "bob", func(t *testing.T, b *brokertest.Browser, csrf string) brokertest.Page {
			return b.Post(e.s.Issuer+"/account/logins/unlink", url.Values{"csrf": {csrf}, "link": {aliceIDs[1][1]}})
		}, http.StatusNotFound, "not linked to your account", 1},
		{"unlink the last login", "bob", func(t *testing.T, b *brokertest.Browser, csrf string) brokertest.Page {
			p, _ := e.account(b)
			id := loginIDRe.FindStringSubmatch(p.Body)[1]
			return b.Post(e.s.Issuer+"/account/logins/unlink", url.Values{"csrf": {csrf}, "link": {id}})
		}, http.StatusConflict, "last way to sign in", 1},
		{"unknown connector", "carol", func(t *testing.T, b *brokertest.Browser, csrf string) brokertest.Page {
			p, _ := e.startLink(b, csrf, "nope")
			return p
		}, http.StatusNotFound, "does not exist", 1},
		{"upstream refuses the sign-in", "carol", func(t *testing.T, b *brokertest.Browser, csrf string) brokertest.Page {
			e.idp.deny.Store(true)
			defer e.idp.deny.Store(false)
			p, _ := e.link(b, "carol-corp")
			return p
		}, http.StatusForbidden, "cancelled or refused at Corp. Nothing was linked", 1},
		{"session ended during the flow", "dave", func(t *testing.T, b *brokertest.Browser, csrf string) brokertest.Page {
			_, at := e.startLink(b, csrf, "corp")
			endSessions(t, e.s, b)
			e.idp.user.Store("dave-corp")
			req := e.idp.play(t)(at)
			p, _ := b.Follow(b.Do(req), req.URL.String())
			return p
		}, http.StatusConflict, "session ended or changed", 1},
		{"another user signed in during the flow", "carol", func(t *testing.T, b *brokertest.Browser, csrf string) brokertest.Page {
			_, at := e.startLink(b, csrf, "corp")
			e.localSub(b, "alice") // a new session (and flow cookie) in this browser
			e.idp.user.Store("carol-corp")
			req := e.idp.play(t)(at)
			p, _ := b.Follow(b.Do(req), req.URL.String())
			return p
		}, http.StatusBadRequest, "expired", 1},
		{"another user's SSO cookie in the flow's browser", "carol", func(t *testing.T, b *brokertest.Browser, csrf string) brokertest.Page {
			// The browser of the link flow (its flow cookie, carol's session still live)
			// now carries alice's SSO cookie: the flow is this browser's, the session someone else's.
			_, at := e.startLink(b, csrf, "corp")
			u, _ := url.Parse(e.s.Issuer)
			for _, c := range ab.Client.Jar.Cookies(u) {
				if c.Name == "gh_sso" {
					b.Client.Jar.SetCookies(u, []*http.Cookie{{Name: c.Name, Value: c.Value, Path: "/"}})
				}
			}
			e.idp.user.Store("carol-corp")
			req := e.idp.play(t)(at)
			p, _ := b.Follow(b.Do(req), req.URL.String())
			return p
		}, http.StatusConflict, "session ended or changed", 1},
		{"replayed link callback", "eve", func(t *testing.T, b *brokertest.Browser, csrf string) brokertest.Page {
			_, at := e.startLink(b, csrf, "corp")
			e.idp.user.Store("eve-corp")
			req := e.idp.play(t)(at)
			if p, at := b.Follow(b.Do(req), req.URL.String()); !strings.Contains(at, "logins=linked") {
				t.Fatalf("first delivery: %d %s\n%s", p.Status, at, p.Body)
			}
			again, _ := http.NewRequest(http.MethodGet, req.URL.String(), nil)
			return b.Do(again)
		}, http.StatusBadRequest, "expired", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := e.s.Browser()
			sub := e.localSub(b, tt.user)
			_, csrf := e.account(b)
			before := e.events(alice)
			p := tt.run(t, b, csrf)
			if p.Status != tt.status || !strings.Contains(p.Body, tt.text) {
				t.Fatalf("got %d, want %d with %q:\n%s", p.Status, tt.status, tt.text, p.Body)
			}
			if got := e.linksOf(sub); len(got) != tt.links {
				t.Errorf("%s has links %v; want %d", tt.user, got, tt.links)
			}
			if got := e.linksOf(alice); len(got) != 2 {
				t.Errorf("alice's links changed: %v", got)
			}
			if after := e.events(alice); len(after) != len(before) {
				t.Errorf("alice's audit trail grew: %v", after)
			}
		})
	}
	if got := e.corpSub(e.s.Browser(), "alice-corp"); got != alice {
		t.Errorf("after the refusals, corp's alice-corp signs in as %s, want alice %s", got, alice)
	}
	if got := e.idp.tokens.Load(); got == 0 {
		t.Error("the upstream was never asked for a token")
	}
}

// endSessions deletes the browser's SSO session from storage (as a sign-out elsewhere does).
func endSessions(t *testing.T, s *brokertest.Server, b *brokertest.Browser) {
	t.Helper()
	u, _ := url.Parse(s.Issuer)
	n := 0
	for _, c := range b.Client.Jar.Cookies(u) {
		err := s.Store.DeleteSession(context.Background(), session.HashID(c.Value))
		if err == nil {
			n++
		} else if !errors.Is(err, storage.ErrNotFound) {
			t.Fatal(err)
		}
	}
	if n == 0 {
		t.Fatal("no session to end")
	}
}

// TestUnlinkLogin: a login is removed while another remains, even the current session's
// (the session stays signed in); the removed upstream account no longer resolves to the
// user, and each unlink is audited.
func TestUnlinkLogin(t *testing.T) {
	e := newLinkEnv(t)
	b := e.s.Browser()
	alice := e.localSub(b, "alice")
	e.link(b, "alice-corp")
	// Sign in through corp in another browser: its session's login is corp.
	cb := e.s.Browser()
	if got := e.corpSub(cb, "alice-corp"); got != alice {
		t.Fatalf("corp sub %s, want %s", got, alice)
	}
	p, csrf := e.account(cb)
	corpID := ""
	for _, m := range regexp.MustCompile(`data-login="([0-9a-f]+)">.*?<strong>([^<]+)</strong>`).FindAllStringSubmatch(p.Body, -1) {
		if m[2] == "Corp" {
			corpID = m[1]
		}
	}
	if corpID == "" || !strings.Contains(p.Body, "used for this session") {
		t.Fatalf("no Corp login marked as the session's:\n%s", p.Body)
	}
	p = cb.Post(e.s.Issuer+"/account/logins/unlink", url.Values{"csrf": {csrf}, "link": {corpID}})
	if p.Status != http.StatusSeeOther || !strings.Contains(p.Location, "logins=unlinked") {
		t.Fatalf("unlink: %d %s\n%s", p.Status, p.Location, p.Body)
	}
	if got := e.linksOf(alice); len(got) != 1 || got[0] != "local/alice" {
		t.Fatalf("links after unlink = %v", got)
	}
	// The session that signed in with the removed login is kept (its account page still
	// answers, now with one login).
	if p := cb.Get(e.s.Issuer + p.Location); p.Status != http.StatusOK || !strings.Contains(p.Body, "The sign-in method was removed") ||
		len(loginIDRe.FindAllString(p.Body, -1)) != 1 {
		t.Fatalf("account page after unlink: %d\n%s", p.Status, p.Body)
	}
	// Now the last login stays.
	p, csrf = e.account(b)
	id := loginIDRe.FindStringSubmatch(p.Body)[1]
	if p := b.Post(e.s.Issuer+"/account/logins/unlink", url.Values{"csrf": {csrf}, "link": {id}}); p.Status != http.StatusConflict {
		t.Fatalf("unlinking the last login: %d\n%s", p.Status, p.Body)
	}
	if got := e.corpSub(e.s.Browser(), "alice-corp"); got == alice {
		t.Fatal("the unlinked upstream account still signs in as alice")
	}
	want := "account.link success corp,account.unlink success corp,account.unlink last_login local"
	if got := strings.Join(e.events(alice), ","); got != want {
		t.Errorf("audit = %q; want %q", got, want)
	}
}

// TestLinkPasswordLogin: the other direction, through a password connector: a user who
// signed in with the OIDC connector links a local account by typing its password on the
// ordinary login form (a wrong password links nothing); then the local login gives the same
// sub.
func TestLinkPasswordLogin(t *testing.T) {
	e := newLinkEnv(t)
	b := e.s.Browser()
	dave := e.corpSub(b, "dave-corp")
	_, csrf := e.account(b)
	p, at := e.startLink(b, csrf, "local")
	if p.Status != http.StatusOK || !strings.Contains(p.Body, `name="password"`) {
		t.Fatalf("link local: %d at %s, want the password form:\n%s", p.Status, at, p.Body)
	}
	for _, tt := range []struct {
		password string
		want     string
	}{{"wrong", "The username or password is wrong"}, {"davedave", "The new sign-in method is linked"}} {
		action, vals := brokertest.Form(t, p.Body)
		vals.Set("username", "dave")
		vals.Set("password", tt.password)
		p, at = b.Follow(b.Post(e.s.Issuer+action, vals), e.s.Issuer+action)
		if !strings.Contains(p.Body, tt.want) {
			t.Fatalf("password %q: %d at %s, want %q:\n%s", tt.password, p.Status, at, tt.want, p.Body)
		}
		if tt.password == "wrong" && len(e.linksOf(dave)) != 1 {
			t.Fatalf("a wrong password linked: %v", e.linksOf(dave))
		}
	}
	if got := e.localSub(e.s.Browser(), "dave"); got != dave {
		t.Fatalf("local sign-in after linking: sub %s, want dave's %s", got, dave)
	}
}
