package account_test

import (
	"encoding/json"
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage"
)

const password = "correct horse battery"

// env is a Gatehouse with two local users (alice, bob) and two apps that ask for consent
// (app-a, app-b: confidential, offline_access allowed).
type env struct {
	*brokertest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	s := brokertest.New(t, brokertest.Options{Config: func(cfg *config.Config) {
		for _, u := range []string{"alice", "bob"} {
			cfg.Users = append(cfg.Users, config.User{Username: u, Email: u + "@example.com", EmailVerified: true, PasswordHash: string(hash)})
		}
		for _, id := range []string{"app-a", "app-b"} {
			cfg.Clients = append(cfg.Clients, config.Client{ID: id, Name: "App " + strings.ToUpper(id[4:]), Secret: id + "-secret-secret",
				RedirectURIs: []string{"http://127.0.0.1:1/cb/" + id}})
		}
	}})
	return &env{s}
}

// tokens is the token endpoint's answer.
type tokens struct {
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token"`
}

// authURL is an authorization request of the app for scope, and its PKCE verifier.
func (e *env) authURL(app, scope string) (string, string) {
	verifier, challenge := brokertest.PKCE("verifier-verifier-verifier-verifier-verifier-0123")
	return e.Issuer + "/authorize?" + url.Values{"client_id": {app}, "response_type": {"code"}, "scope": {scope},
		"redirect_uri": {"http://127.0.0.1:1/cb/" + app}, "state": {"st"}, "nonce": {"n"}, "code_challenge": {challenge},
		"code_challenge_method": {"S256"}}.Encode(), verifier
}

// signIn signs the browser in at the app (consenting) and returns its tokens.
func (e *env) signIn(b *brokertest.Browser, app, user string) tokens {
	e.T.Helper()
	auth, verifier := e.authURL(app, "openid email offline_access")
	to := e.Login(b, auth, user, password, true)
	u, err := url.Parse(to)
	if err != nil || u.Query().Get("code") == "" {
		e.T.Fatalf("sign-in at %s ended at %s", app, to)
	}
	var tok tokens
	if st := e.token(app, url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")},
		"redirect_uri": {"http://127.0.0.1:1/cb/" + app}, "code_verifier": {verifier}}, &tok); st != http.StatusOK || tok.RefreshToken == "" {
		e.T.Fatalf("code exchange at %s: %d, refresh token %q", app, st, tok.RefreshToken)
	}
	return tok
}

// token posts a token request of the app and returns the status (decoding a 200 into out).
func (e *env) token(app string, form url.Values, out *tokens) int {
	e.T.Helper()
	req, err := http.NewRequest(http.MethodPost, e.Issuer+"/token", strings.NewReader(form.Encode())) //nolint:noctx // test
	if err != nil {
		e.T.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(app, app+"-secret-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close() //nolint:errcheck // test
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			e.T.Fatal(err)
		}
	}
	return resp.StatusCode
}

// refresh reports the status of a refresh of the app's token (a success rotates it).
func (e *env) refresh(app string, tok *tokens) int {
	e.T.Helper()
	var next tokens
	st := e.token(app, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, &next)
	if st == http.StatusOK {
		*tok = next
	}
	return st
}

// account opens /account (with the query, "" or "?done=...") in the browser and fails
// unless it is the page.
func (e *env) account(b *brokertest.Browser, query ...string) string {
	e.T.Helper()
	p := b.Get(e.Issuer + "/account" + strings.Join(query, ""))
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "<h1>Your account</h1>") {
		e.T.Fatalf("account page: %d\n%s", p.Status, p.Body)
	}
	return p.Body
}

var formRe = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)"[^>]*>(.*?)</form>`)
var hiddenRe = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// form returns the action and hidden fields of the page's form whose hidden field name has
// the value (action=revoke-app, client=app-a, ...), and whether there is one.
func form(body, name, value string) (string, url.Values, bool) {
	for _, m := range formRe.FindAllStringSubmatch(body, -1) {
		vals := url.Values{}
		for _, h := range hiddenRe.FindAllStringSubmatch(m[2], -1) {
			vals.Set(h[1], html.UnescapeString(h[2]))
		}
		if vals.Get(name) == value {
			return html.UnescapeString(m[1]), vals, true
		}
	}
	return "", nil, false
}

// post submits the form of the page whose field name has the value, with the fields set.
func (e *env) post(b *brokertest.Browser, body, name, value string, set url.Values) brokertest.Page {
	e.T.Helper()
	action, vals, ok := form(body, name, value)
	if !ok {
		e.T.Fatalf("no form with %s=%s on the page:\n%s", name, value, body)
	}
	for k, v := range set {
		vals[k] = v
	}
	return b.Post(e.Issuer+action, vals)
}

// events returns the stored audit events of a type for a user.
func (e *env) events(user, typ string) []storage.AuditEvent {
	e.T.Helper()
	all, err := e.Store.(storage.AuditStore).ListAuditEvents(e.T.Context(), storage.AuditFilter{User: user})
	if err != nil {
		e.T.Fatal(err)
	}
	var out []storage.AuditEvent
	for _, ev := range all {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

var thisDeviceRe = regexp.MustCompile(`<li data-session="([^"]+)"><strong>This device</strong>`)

// userAgent sends every request of a browser with a User-Agent header.
type userAgent struct{ ua string }

func (u userAgent) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", u.ua)
	return http.DefaultTransport.RoundTrip(r)
}

// thisSession is the ID of the session the page marks as this device.
func thisSession(t *testing.T, body string) string {
	t.Helper()
	m := thisDeviceRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no session marked as this device:\n%s", body)
	}
	return m[1]
}

// TestAccountSignInAndBack (issue 16): /account is there without MFA; a visitor who is not
// signed in goes to the login and, signed in, back to /account (no consent page: the page is
// Gatehouse's own), which then names the user.
func TestAccountSignInAndBack(t *testing.T) {
	e := newEnv(t)
	b := e.Browser()
	p := b.Get(e.Issuer + "/account")
	if p.Status != http.StatusSeeOther || !strings.Contains(p.Location, "/login") {
		t.Fatalf("not signed in: %d to %q, want the login", p.Status, p.Location)
	}
	p, at := signInPage(t, e, b, e.Issuer+"/account", "alice", password)
	if at != e.Issuer+"/account" || p.Status != http.StatusOK {
		t.Fatalf("after the sign-in: %d at %s, want /account", p.Status, at)
	}
	body := e.account(b)
	for _, want := range []string{"alice@example.com", `id="apps"`, `id="sessions"`, `id="password"`, "No app has asked"} {
		if !strings.Contains(body, want) {
			t.Errorf("account page lacks %q:\n%s", want, body)
		}
	}
	if p := b.Post(e.Issuer+"/account", url.Values{"action": {"nothing"}}); p.Status != http.StatusForbidden {
		t.Errorf("a form without its CSRF token: %d, want 403", p.Status)
	}
	if p := e.Browser().Post(e.Issuer+"/account", url.Values{"action": {"revoke-app"}}); p.Status != http.StatusUnauthorized {
		t.Errorf("a POST without a session: %d, want 401 (no sign-in started by a POST)", p.Status)
	}
}

// TestAccountRevokeApp (issue 16, issue 22's "change your mind later"): alice allowed two
// apps; the page lists both with what they see in the consent page's words. Revoking one
// needs the CSRF token, refuses a client alice has no consent for (bob's app stays), then
// revokes that app's refresh family (the next refresh fails at the token endpoint) while the
// other app's keeps working, records an audit event, and the next sign-in asks again.
func TestAccountRevokeApp(t *testing.T) {
	e := newEnv(t)
	b, bob := e.Browser(), e.Browser()
	tokA, tokB := e.signIn(b, "app-a", "alice"), e.signIn(b, "app-b", "alice")
	bobTok := e.signIn(bob, "app-a", "bob")
	body := e.account(b)
	for _, want := range []string{"App A", "App B", "Your email address", "Keep access while you are away"} {
		if !strings.Contains(body, want) {
			t.Errorf("apps section lacks %q", want)
		}
	}

	refusals := []struct {
		name   string
		set    url.Values
		status int
	}{
		{"CSRF token missing", url.Values{"csrf": {""}}, http.StatusForbidden},
		{"CSRF token of another form", url.Values{"csrf": {"AAAA"}}, http.StatusForbidden},
		{"a client alice never allowed", url.Values{"client": {"app-unknown"}}, http.StatusNotFound},
	}
	for _, tc := range refusals {
		if p := e.post(b, body, "client", "app-a", tc.set); p.Status != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, p.Status, tc.status)
		}
	}
	if st := e.refresh("app-a", &tokA); st != http.StatusOK {
		t.Fatalf("refresh after the refused revocations: %d", st)
	}

	p := e.post(b, body, "client", "app-a", nil)
	if p.Status != http.StatusSeeOther || !strings.HasSuffix(p.Location, "/account?done=revoked") {
		t.Fatalf("revoke: %d to %q", p.Status, p.Location)
	}
	if st := e.refresh("app-a", &tokA); st != http.StatusBadRequest {
		t.Errorf("app-a's refresh after the revocation: %d, want 400", st)
	}
	if st := e.refresh("app-b", &tokB); st != http.StatusOK {
		t.Errorf("app-b's refresh: %d, want 200 (not revoked)", st)
	}
	if st := e.refresh("app-a", &bobTok); st != http.StatusOK {
		t.Errorf("bob's app-a refresh: %d, want 200 (another user's consent)", st)
	}
	body = e.account(b, "?done=revoked")
	if _, _, ok := form(body, "client", "app-a"); ok || !strings.Contains(body, "Access revoked") {
		t.Errorf("after the revocation the page still lists app-a or says nothing:\n%s", body)
	}
	if _, _, ok := form(body, "client", "app-b"); !ok {
		t.Error("app-b is gone from the page")
	}
	sess, _ := sessionsOf(t, e, "alice")
	ev := e.events(sess[0].Identity.Subject, audit.ConsentRevoked)
	if len(ev) != 1 || ev[0].ClientID != "app-a" || ev[0].Detail["grants"] != "1" {
		t.Errorf("audit events: %+v, want one consent.revoked of app-a with 1 grant", ev)
	}
	// The next sign-in to app-a asks for consent again (Login fails without a consent page).
	auth, _ := e.authURL("app-a", "openid email offline_access")
	e.Login(b, auth, "alice", password, true)
}

// sessionsOf returns the live sessions of a local user and that user's internal ID.
func sessionsOf(t *testing.T, e *env, username string) ([]storage.Session, string) {
	t.Helper()
	link, err := e.Store.GetUserLink(t.Context(), "local", username)
	if err != nil {
		t.Fatal(err)
	}
	list, err := e.Store.(storage.UserSessionStore).ListUserSessions(t.Context(), link.UserID)
	if err != nil {
		t.Fatal(err)
	}
	return list, link.UserID
}

// TestAccountSignOutSession (issue 16): alice is signed in on two browsers; each sees both
// sessions, its own as "This device". Signing the other out needs the CSRF token, refuses
// bob's session (it stays), ends the other session as a logout does (it is gone and the
// process's session caches are told) and leaves this one; signing this one out signs out here.
func TestAccountSignOutSession(t *testing.T) {
	e := newEnv(t)
	b1, b2, bob := e.Browser(), e.Browser(), e.Browser()
	b2.Client.Transport = userAgent{"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}
	e.signIn(b1, "app-a", "alice")
	online := e.signIn(b2, "app-b", "alice")
	e.signIn(bob, "app-a", "bob")
	list, _ := sessionsOf(t, e, "alice")
	bobList, _ := sessionsOf(t, e, "bob")
	if len(list) != 2 || len(bobList) != 1 {
		t.Fatalf("sessions: alice %d, bob %d", len(list), len(bobList))
	}
	body := e.account(b1)
	if strings.Count(body, `name="session"`) != 2 || strings.Count(body, "This device") != 1 ||
		strings.Count(body, `<span class="device">Firefox · Linux</span>`) != 1 || strings.Contains(body, "Gecko") {
		t.Fatalf("sessions section (two sessions, this device marked, the other named by its browser):\n%s", body)
	}
	other := list[0].ID // b2's: not this device
	if other == thisSession(t, body) {
		other = list[1].ID
	}

	if p := e.post(b1, body, "session", other, url.Values{"csrf": {""}}); p.Status != http.StatusForbidden {
		t.Errorf("without the CSRF token: %d, want 403", p.Status)
	}
	if p := e.post(b1, body, "session", other, url.Values{"session": {bobList[0].ID}}); p.Status != http.StatusNotFound {
		t.Errorf("bob's session: %d, want 404", p.Status)
	}
	if _, err := e.Store.GetSession(t.Context(), bobList[0].ID); err != nil {
		t.Fatalf("bob's session after alice's attempt: %v", err)
	}
	gen := e.Gatehouse.Server.Sessions.Ended()
	p := e.post(b1, body, "session", other, nil)
	if p.Status != http.StatusSeeOther || !strings.HasSuffix(p.Location, "done=ended") {
		t.Fatalf("sign out the other session: %d to %q", p.Status, p.Location)
	}
	if _, err := e.Store.GetSession(t.Context(), other); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the other session: %v, want gone", err)
	}
	if e.Gatehouse.Server.Sessions.Ended() == gen {
		t.Error("the session caches (forward auth) were not told")
	}
	if p := b2.Get(e.Issuer + "/account"); p.Status != http.StatusSeeOther {
		t.Errorf("the signed-out browser's account page: %d, want the login", p.Status)
	}
	// Ended revoked the session's grants that were not offline; app-b's offline grant stays.
	if st := e.refresh("app-b", &online); st != http.StatusOK {
		t.Errorf("an offline grant after its session ended: %d, want 200", st)
	}

	body = e.account(b1)
	if strings.Count(body, `name="session"`) != 1 {
		t.Fatalf("after signing the other out:\n%s", body)
	}
	p = e.post(b1, body, "session", thisSession(t, body), nil)
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "Signed out") {
		t.Fatalf("sign out this session: %d\n%s", p.Status, p.Body)
	}
	if left, _ := sessionsOf(t, e, "alice"); len(left) != 0 {
		t.Errorf("alice still has %d sessions", len(left))
	}
	if p := b1.Get(e.Issuer + "/account"); p.Status != http.StatusSeeOther {
		t.Errorf("account page after signing out here: %d, want the login", p.Status)
	}
}

// TestAccountChangePassword (issue 16): the form needs its CSRF token; a wrong current
// password, two different new ones and a policy refusal change nothing (the wrong password
// is audited); a success ends alice's other session and revokes its tokens, keeps this one,
// and the new password signs in while the old one does not.
func TestAccountChangePassword(t *testing.T) {
	e := newEnv(t)
	b1, b2 := e.Browser(), e.Browser()
	e.signIn(b1, "app-a", "alice")
	otherTok := e.signIn(b2, "app-b", "alice")
	_, sub := sessionsOf(t, e, "alice")
	body := e.account(b1)
	const next = "a brand new password"
	fields := func(current, n, confirm string) url.Values {
		return url.Values{"current": {current}, "new": {n}, "confirm": {confirm}}
	}
	refusals := []struct {
		name   string
		set    url.Values
		status int
		text   string
	}{
		{"CSRF token missing", url.Values{"csrf": {""}, "current": {password}, "new": {next}, "confirm": {next}}, http.StatusForbidden, "security token"},
		{"wrong current password", fields("wrong password!", next, next), http.StatusUnauthorized, "current password is wrong"},
		{"new passwords differ", fields(password, next, next+"x"), http.StatusBadRequest, "two new passwords differ"},
		{"too short", fields(password, "short", "short"), http.StatusBadRequest, "too short"},
		{"unchanged", fields(password, password, password), http.StatusBadRequest, "same as the current"},
	}
	for _, tc := range refusals {
		p := e.post(b1, body, "action", "change-password", tc.set)
		if p.Status != tc.status || !strings.Contains(p.Body, tc.text) {
			t.Errorf("%s: %d, want %d with %q\n%s", tc.name, p.Status, tc.status, tc.text, p.Body)
		}
	}
	if ev := e.events(sub, audit.PasswordChanged); len(ev) != 1 || ev[0].Outcome != audit.OutcomeBadCredentials {
		t.Errorf("audit after the refusals: %+v, want one bad_credentials", ev)
	}
	if st := e.refresh("app-b", &otherTok); st != http.StatusOK {
		t.Fatalf("refresh before the change: %d", st)
	}

	p := e.post(b1, body, "action", "change-password", fields(password, next, next))
	if p.Status != http.StatusSeeOther || !strings.HasSuffix(p.Location, "done=password") {
		t.Fatalf("change password: %d to %q\n%s", p.Status, p.Location, p.Body)
	}
	if body := e.account(b1, "?done=password"); !strings.Contains(body, "other sessions were signed out") {
		t.Error("the page does not say the other sessions ended")
	}
	if p := b2.Get(e.Issuer + "/account"); p.Status != http.StatusSeeOther {
		t.Errorf("the other browser after the change: %d, want signed out", p.Status)
	}
	if st := e.refresh("app-b", &otherTok); st != http.StatusBadRequest {
		t.Errorf("the other session's refresh token after the change: %d, want 400", st)
	}
	if ev := e.events(sub, audit.PasswordChanged); len(ev) != 2 || ev[1].Outcome != audit.OutcomeSuccess || ev[1].Detail["sessions_ended"] != "1" {
		t.Errorf("audit: %+v, want a success with sessions_ended 1", ev)
	}
	fresh := e.Browser()
	auth, _ := e.authURL("app-a", "openid")
	if p, _ := signInPage(t, e, fresh, auth, "alice", password); p.Status != http.StatusUnauthorized {
		t.Errorf("sign-in with the old password: %d, want 401", p.Status)
	}
	e.Login(e.Browser(), auth, "alice", next, true)
}

// signInPage submits the password form of an authorization request and returns the answer.
func signInPage(t *testing.T, e *env, b *brokertest.Browser, authURL, user, pass string) (brokertest.Page, string) {
	t.Helper()
	p, _ := b.Follow(b.Get(authURL), authURL)
	action, vals := brokertest.Form(t, p.Body)
	vals.Set("username", user)
	vals.Set("password", pass)
	return b.Follow(b.Post(e.Issuer+action, vals), e.Issuer+action)
}

// TestAccountPasswordRateLimit: wrong current passwords draw on the login's budget of the
// account: once it is spent the form answers 429 and the right password does not pass either.
func TestAccountPasswordRateLimit(t *testing.T) {
	e := newEnv(t)
	b := e.Browser()
	e.signIn(b, "app-a", "alice")
	body := e.account(b)
	wrong := url.Values{"current": {"wrong password!"}, "new": {"new password 1"}, "confirm": {"new password 1"}}
	for i := 0; i < 10; i++ {
		if p := e.post(b, body, "action", "change-password", wrong); p.Status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, p.Status)
		}
	}
	right := url.Values{"current": {password}, "new": {"new password 1"}, "confirm": {"new password 1"}}
	p := e.post(b, body, "action", "change-password", right)
	if p.Status != http.StatusTooManyRequests || p.Header.Get("Retry-After") == "" {
		t.Fatalf("after 10 wrong passwords: %d (Retry-After %q), want 429", p.Status, p.Header.Get("Retry-After"))
	}
	auth, _ := e.authURL("app-a", "openid")
	if p, _ := signInPage(t, e, e.Browser(), auth, "alice", password); p.Status != http.StatusTooManyRequests {
		t.Errorf("the login after the account page spent the budget: %d, want 429 (one budget)", p.Status)
	}
}
