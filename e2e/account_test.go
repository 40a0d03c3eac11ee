//go:build peers

package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// accountApps is a relying party with two confidential clients ("Wiki" and "Chat") that the
// account test signs in to from Chromium: /start/<app> sends the browser to /authorize (PKCE,
// offline_access), /cb/<app> redeems the code at the token endpoint and keeps the tokens.
type accountApps struct {
	issuer, secret string
	srv            *httptest.Server
	mu             sync.Mutex
	verifiers      map[string]string // state -> PKCE verifier
	refresh        map[string]string // app -> its refresh token
}

func newAccountApps(t *testing.T, issuer string) *accountApps {
	a := &accountApps{issuer: issuer, secret: "secret-" + randomString(t, 16), verifiers: map[string]string{}, refresh: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /start/{app}", a.start)
	mux.HandleFunc("GET /cb/{app}", a.callback)
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	return a
}

func (a *accountApps) redirectURI(app string) string { return a.srv.URL + "/cb/" + app }

func (a *accountApps) start(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	state, verifier := rand.Text(), rand.Text()+rand.Text()
	a.mu.Lock()
	a.verifiers[state] = verifier
	a.mu.Unlock()
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"client_id": {app}, "redirect_uri": {a.redirectURI(app)}, "response_type": {"code"},
		"scope": {"openid email offline_access"}, "state": {state}, "nonce": {rand.Text()},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	http.Redirect(w, r, a.issuer+"/authorize?"+q.Encode(), http.StatusFound)
}

func (a *accountApps) callback(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	a.mu.Lock()
	verifier := a.verifiers[r.URL.Query().Get("state")]
	a.mu.Unlock()
	tok, status := a.token(app, url.Values{"grant_type": {"authorization_code"}, "code": {r.URL.Query().Get("code")},
		"redirect_uri": {a.redirectURI(app)}, "code_verifier": {verifier}})
	if status != http.StatusOK || tok.RefreshToken == "" {
		http.Error(w, fmt.Sprintf("token endpoint: %d", status), http.StatusBadGateway)
		return
	}
	a.mu.Lock()
	a.refresh[app] = tok.RefreshToken
	a.mu.Unlock()
	fmt.Fprintf(w, "<!doctype html><title>%[1]s</title><h1>Signed in to %[1]s</h1>", app)
}

type appTokens struct {
	RefreshToken string `json:"refresh_token"`
}

// token posts a token request of the app (client_secret_basic).
func (a *accountApps) token(app string, form url.Values) (appTokens, int) {
	req, err := http.NewRequest(http.MethodPost, a.issuer+"/token", strings.NewReader(form.Encode())) //nolint:noctx // test
	if err != nil {
		return appTokens{}, 0
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(app, a.secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return appTokens{}, 0
	}
	defer resp.Body.Close() //nolint:errcheck // test
	var tok appTokens
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
			return tok, 0
		}
	}
	return tok, resp.StatusCode
}

// refreshStatus refreshes the app's refresh token and returns the token endpoint's status.
func (a *accountApps) refreshStatus(app string) int {
	a.mu.Lock()
	rt := a.refresh[app]
	a.mu.Unlock()
	tok, status := a.token(app, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	if status == http.StatusOK {
		a.mu.Lock()
		a.refresh[app] = tok.RefreshToken
		a.mu.Unlock()
	}
	return status
}

// TestAccountInChromium (issue 16's /account, issue 22's "change your mind later"), in
// headless Chromium (e2e/node/account.mjs): alice signs in to two apps and allows both; her
// account page lists both under apps; she revokes Wiki; she signs in on a second browser
// profile, sees two sessions on the first and signs the second out (its page then asks her to
// sign in); she changes her password, the old one is refused and the new one signs in. The
// page is checked and photographed in English and Arabic (right to left). Then, at the token
// endpoint: Wiki's refresh token is refused, Chat's still works.
func TestAccountInChromium(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	issuer := fmt.Sprintf("http://127.0.0.1:%d", port)
	apps := newAccountApps(t, issuer)
	password, newPassword := "pw-"+randomString(t, 12), "new-pw-"+randomString(t, 12)
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	q := func(s string) string { return fmt.Sprintf("%q", s) }
	lines := []string{
		"issuer: " + q(issuer),
		"web:",
		"  http: " + q(fmt.Sprintf("127.0.0.1:%d", port)),
		"storage:",
		"  type: sqlite",
		"  config:",
		"    file: " + q(filepath.Join(dir, "gh.db")),
		"connectors:",
		"  - {type: local, id: local, name: Company accounts, config: {cost: 4}}",
		"users:",
		"  - {username: alice, email: alice@example.com, email_verified: true, name: Alice Example, password_hash: " + q(string(hash)) + "}",
		"clients:",
	}
	for _, app := range []string{"Wiki", "Chat"} {
		lines = append(lines, "  - {id: "+q(app)+", name: "+q(app)+", secret: "+q(apps.secret)+", redirect_uris: ["+q(apps.redirectURI(app))+"]}")
	}
	in := instance{Issuer: issuer, Dir: dir, Config: filepath.Join(dir, "gatehouse.yaml")}
	if err := os.WriteFile(in.Config, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	serve(t, in)

	shots := filepath.Join(t.TempDir(), "screenshots")
	out := runNode(t, "account.mjs", map[string]string{
		"E2E_ISSUER": issuer, "E2E_USERNAME": "alice", "E2E_PASSWORD": password, "E2E_NEW_PASSWORD": newPassword,
		"E2E_APPS": apps.srv.URL, "E2E_CHROMIUM": peers.chromium, "SCREENSHOT_DIR": shots,
	})
	if !strings.Contains(out, "PASS") {
		t.Fatal("account.mjs exited 0 without reporting PASS")
	}
	if st := apps.refreshStatus("Wiki"); st != http.StatusBadRequest {
		t.Errorf("Wiki's refresh token after its access was revoked: %d, want 400", st)
	}
	if st := apps.refreshStatus("Chat"); st != http.StatusOK {
		t.Errorf("Chat's refresh token (not revoked, issued in the session that changed the password): %d, want 200", st)
	}
	pngs, err := filepath.Glob(filepath.Join(shots, "*account-*.png"))
	if err != nil || len(pngs) < 2 {
		t.Fatalf("screenshots %v (%v), want the account page in en and ar", pngs, err)
	}
	if dir := os.Getenv("GATEHOUSE_SCREENSHOTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, p := range pngs {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Base(p)[strings.Index(filepath.Base(p), "account-"):]
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
