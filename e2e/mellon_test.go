//go:build peers

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
)

const (
	apacheBin     = "/usr/sbin/apache2"
	apacheModules = "/usr/lib/apache2/modules"
	mellonMeta    = "/usr/sbin/mellon_create_metadata"
)

// mellonGatehouse is a running Gatehouse (SQLite) with the admin API, an admin client, the
// OIDC client oidc-app (trusted; its back-channel logout URI is sink) and the local user alice.
type mellonGatehouse struct {
	adminGatehouse
	dir string
}

func startMellonGatehouse(t *testing.T, sinkURL string) mellonGatehouse {
	t.Helper()
	dir := t.TempDir()
	g := adminGatehouse{
		opsSecret: "ops-" + randomString(t, 16),
		user:      user{Username: "alice", Password: "pw-" + randomString(t, 12), Email: "alice@example.com"},
		redirect:  "http://127.0.0.1:1/cb",
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(g.user.Password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	web, adm := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	g.issuer, g.admin = "http://"+web, "http://"+adm
	q := func(s string) string { return fmt.Sprintf("%q", s) }
	cfg := strings.Join([]string{
		"issuer: " + q(g.issuer),
		"web: {http: " + q(web) + "}",
		"admin: {http: " + q(adm) + ", clients: [ops-cli]}",
		"logging: {level: debug}",
		"storage: {type: sqlite, config: {file: " + q(filepath.Join(dir, "gh.db")) + "}}",
		"clients:",
		"  - {id: ops-cli, secret: " + q(g.opsSecret) + ", grant_types: [client_credentials], allowed_scopes: [gatehouse:admin]}",
		"  - id: oidc-app",
		"    secret: oidc-app-secret-0123456789",
		"    trusted: true",
		"    redirect_uris: [" + q(g.redirect) + "]",
		"    backchannel_logout_uri: " + q(sinkURL+"/bcl"),
		"connectors: [{type: local, id: local, name: Local}]",
		"users:",
		"  - {username: alice, email: alice@example.com, email_verified: true, password_hash: " + q(string(hash)) + "}",
		"",
	}, "\n")
	file := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	startProcess(t, dir, g.admin, "serve", "--config", file)
	return mellonGatehouse{adminGatehouse: g, dir: dir}
}

// mellonSP is a private Apache httpd with mod_auth_mellon on loopback: /protected/ needs a
// Mellon session; its metadata (made by Debian's mellon_create_metadata) is in metadata.
type mellonSP struct {
	base, conf, dir, metadata string
}

// startMellon makes the SP's key, certificate and metadata with mellon_create_metadata,
// writes Gatehouse's IdP metadata (fetched from the issuer) for it, and starts Apache. A
// missing Apache or module fails the test.
func startMellon(t *testing.T, issuer string) *mellonSP {
	t.Helper()
	for _, f := range []string{apacheBin, filepath.Join(apacheModules, "mod_auth_mellon.so"), mellonMeta} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("peer missing: %v (run scripts/install-peers.sh: apache2 libapache2-mod-auth-mellon)", err)
		}
	}
	port := freePort(t)
	dir := t.TempDir()
	sp := &mellonSP{base: fmt.Sprintf("http://127.0.0.1:%d", port), dir: dir, conf: filepath.Join(dir, "httpd.conf")}
	// Apache's children (www-data) read the document root and Mellon's files.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil { //nolint:gosec // a test's own directory
			t.Fatal(err)
		}
	}
	cmd := exec.Command(mellonMeta, sp.base+"/mellon/metadata", sp.base+"/mellon")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mellon_create_metadata: %v\n%s", err, out)
	}
	xmls, err := filepath.Glob(filepath.Join(dir, "*.xml"))
	if err != nil || len(xmls) != 1 {
		t.Fatalf("mellon_create_metadata wrote %v (%v), want one metadata file", xmls, err)
	}
	prefix := strings.TrimSuffix(xmls[0], ".xml")
	sp.metadata = prefix + ".xml"
	for _, f := range []string{prefix + ".key", prefix + ".cert", prefix + ".xml"} {
		if err := os.Chmod(f, 0o644); err != nil { //nolint:gosec // a throwaway test key, read by www-data
			t.Fatalf("mellon_create_metadata output: %v", err)
		}
	}
	idp := fetch(t, issuer+"/saml/idp/metadata")
	writePublic(t, filepath.Join(dir, "idp.xml"), idp)
	writePublic(t, filepath.Join(dir, "htdocs", "protected", "page.html"), "mellon protected page\n")
	writePublic(t, filepath.Join(dir, "htdocs", "bye.html"), "signed out of mellon\n")
	conf := fmt.Sprintf(`ServerRoot %[1]q
PidFile %[1]s/httpd.pid
DefaultRuntimeDir %[1]s
Mutex file:%[1]s default
Listen 127.0.0.1:%[2]d
ServerName 127.0.0.1
User www-data
Group www-data
LoadModule mpm_event_module %[3]s/mod_mpm_event.so
LoadModule authz_core_module %[3]s/mod_authz_core.so
LoadModule authn_core_module %[3]s/mod_authn_core.so
LoadModule authz_user_module %[3]s/mod_authz_user.so
LoadModule auth_mellon_module %[3]s/mod_auth_mellon.so
ErrorLog %[1]s/error.log
LogLevel warn auth_mellon:debug
DocumentRoot %[1]s/htdocs
<Location />
  MellonEndpointPath /mellon
  MellonSPPrivateKeyFile %[4]s.key
  MellonSPCertFile %[4]s.cert
  MellonSPMetadataFile %[4]s.xml
  MellonIdPMetadataFile %[1]s/idp.xml
  MellonSecureCookie Off
</Location>
<Location /protected>
  AuthType Mellon
  MellonEnable auth
  Require valid-user
</Location>
`, dir, port, apacheModules, prefix)
	if err := os.WriteFile(sp.conf, []byte(conf), 0o644); err != nil { //nolint:gosec // read by Apache
		t.Fatal(err)
	}
	if out, err := exec.Command(apacheBin, "-t", "-f", sp.conf).CombinedOutput(); err != nil {
		t.Fatalf("apache2 -t: %v\n%s", err, out)
	}
	if out, err := exec.Command(apacheBin, "-f", sp.conf, "-k", "start").CombinedOutput(); err != nil {
		t.Fatalf("apache2 -k start: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(apacheBin, "-f", sp.conf, "-k", "stop").CombinedOutput(); err != nil {
			t.Logf("apache2 -k stop: %v\n%s", err, out)
		}
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "error.log")); err == nil {
				t.Logf("apache error.log (tail):\n%s", tailText(string(b), 8000))
			}
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			c.Close() //nolint:errcheck,gosec // a probe
			return sp
		}
		if time.Now().After(deadline) {
			t.Fatalf("apache did not listen on %d: %v", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func writePublic(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil { //nolint:gosec // read by Apache's children
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil { //nolint:gosec // read by Apache's children
		t.Fatal(err)
	}
}

func fetch(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u) //nolint:gosec,noctx // a test's own loopback server
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() //nolint:errcheck // test
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", u, resp.StatusCode, err)
	}
	return string(b)
}

func tailText(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// samlBrowser is one browser (one cookie jar) for Mellon and Gatehouse; it follows
// redirects but stops at the OIDC client's unreachable callback host.
type samlBrowser struct {
	t *testing.T
	c *http.Client
	// visited are the URLs redirects led to, in order.
	visited []string
}

func newSAMLBrowser(t *testing.T) *samlBrowser {
	jar, _ := cookiejar.New(nil)
	b := &samlBrowser{t: t}
	b.c = &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		b.visited = append(b.visited, req.URL.String())
		if req.URL.Host == "127.0.0.1:1" || len(via) > 15 {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

// wantVisited fails unless a redirect since mark led to a URL starting with prefix.
func (b *samlBrowser) wantVisited(mark int, prefix, what string) {
	b.t.Helper()
	for _, u := range b.visited[mark:] {
		if strings.HasPrefix(u, prefix) {
			return
		}
	}
	b.t.Fatalf("%s: no redirect to %s in %v", what, prefix, b.visited[mark:])
}

func (b *samlBrowser) do(method, u string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(context.Background(), method, u, body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close() //nolint:errcheck // read below
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, string(data)
}

// mellonLogin opens Mellon's protected page and signs in at Gatehouse when asked (password
// only when there is no SSO session); the SAMLResponse form is posted to Mellon's ACS as the
// browser's script would, and the protected page must follow.
func (b *samlBrowser) mellonLogin(g mellonGatehouse, sp *mellonSP, wantPassword bool) {
	b.t.Helper()
	resp, body := b.do(http.MethodGet, sp.base+"/protected/page.html", nil)
	if strings.Contains(body, `name="password"`) != wantPassword {
		b.t.Fatalf("protected page: password asked %v, want %v (%d at %s)\n%s", !wantPassword, wantPassword, resp.StatusCode, resp.Request.URL, tailText(body, 2000))
	}
	if wantPassword {
		action, vals := brokertest.Form(b.t, body)
		vals.Set("username", g.user.Username)
		vals.Set("password", g.user.Password)
		resp, body = b.do(http.MethodPost, g.issuer+action, vals)
	}
	if !strings.Contains(body, `name="SAMLResponse"`) {
		b.t.Fatalf("no SAMLResponse form: %d at %s\n%s", resp.StatusCode, resp.Request.URL, tailText(body, 2000))
	}
	action, vals := brokertest.Form(b.t, body)
	if action != sp.base+"/mellon/postResponse" {
		b.t.Fatalf("the SAMLResponse goes to %q, not Mellon's ACS", action)
	}
	resp, body = b.do(http.MethodPost, action, vals)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "mellon protected page") {
		b.t.Fatalf("Mellon refused the Response: %d at %s\n%s", resp.StatusCode, resp.Request.URL, tailText(body, 2000))
	}
}

// oidcLogin signs in at oidc-app in the same browser (SSO: no password) and returns its ID
// token's raw form and sid.
func (b *samlBrowser) oidcLogin(g mellonGatehouse) (string, string) {
	b.t.Helper()
	verifier, challenge := brokertest.PKCE("verifier-verifier-verifier-verifier-verifier-mellon")
	resp, body := b.do(http.MethodGet, g.issuer+"/authorize?"+url.Values{"client_id": {"oidc-app"}, "response_type": {"code"}, "scope": {"openid"},
		"redirect_uri": {g.redirect}, "state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}.Encode(), nil)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc == nil || loc.Query().Get("code") == "" {
		b.t.Fatalf("SSO at oidc-app: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), tailText(body, 1000))
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {g.redirect}, "code_verifier": {verifier}}
	req, err := http.NewRequest(http.MethodPost, g.issuer+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("oidc-app", "oidc-app-secret-0123456789")
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if status := doJSON(b.t, req, &tok); status != http.StatusOK || tok.IDToken == "" {
		b.t.Fatalf("token: %d", status)
	}
	parts := strings.Split(tok.IDToken, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		b.t.Fatal(err)
	}
	var claims struct{ Sid string }
	if err := json.Unmarshal(raw, &claims); err != nil || claims.Sid == "" {
		b.t.Fatalf("ID token without sid: %s", raw)
	}
	return tok.IDToken, claims.Sid
}

// wantMellonSignedOut checks that Mellon's protected page sends the browser to Gatehouse to
// sign in again (its session is gone) and that Gatehouse asks for the password (so is its).
func (b *samlBrowser) wantMellonSignedOut(g mellonGatehouse, sp *mellonSP) {
	b.t.Helper()
	resp, body := b.do(http.MethodGet, sp.base+"/protected/page.html", nil)
	if strings.Contains(body, "mellon protected page") || !strings.HasPrefix(resp.Request.URL.String(), g.issuer+"/") || !strings.Contains(body, `name="password"`) {
		b.t.Fatalf("after logout Mellon still serves or Gatehouse still has a session: %d at %s\n%s", resp.StatusCode, resp.Request.URL, tailText(body, 1500))
	}
}

// waitDelivered waits until the sink accepted a logout token for sid.
func waitDelivered(t *testing.T, sink *logoutSink, sid string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, _, bad, by := sink.counts()
		if bad > 0 {
			t.Fatalf("the OIDC client got %d logout tokens it refused", bad)
		}
		if by[sid] > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no back-channel logout token for sid %s within 20s (got %v)", sid, by)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestMellonServiceProvider (issues 16 and 18): Apache mod_auth_mellon, a real SAML SP,
// registered through `gatehouse sp create` against the running binary (no restart), signs
// users in; with an OIDC client in the same SSO session, a logout at Mellon ends the
// Gatehouse session and the OIDC client gets its back-channel logout token; a logout at the
// OIDC client reaches Mellon (its protected page sends the browser back to the IdP). Once
// deleted through the CLI, Mellon's requests are refused.
func TestMellonServiceProvider(t *testing.T) {
	sink := newLogoutSink(t)
	close(sink.open)
	g := startMellonGatehouse(t, sink.srv.URL)
	sp := startMellon(t, g.issuer)
	out := g.mustCLI(t, g.issuer, "sp", "create", "--id", "mellon", "--name", "Mellon", "--metadata", sp.metadata,
		"--name-id-format", "transient", "--trusted", "--attribute", "mail=email", "--json")
	var created struct {
		ServiceProvider struct{ EntityID, Source string } `json:"serviceProvider"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.ServiceProvider.EntityID != sp.base+"/mellon/metadata" ||
		created.ServiceProvider.Source != "api" {
		t.Fatalf("sp create did not read the entity ID from Mellon's metadata (%v):\n%s", err, out)
	}
	if list := g.mustCLI(t, g.issuer, "sp", "list"); !strings.Contains(list, "mellon") || !strings.Contains(list, "api") {
		t.Fatalf("sp list:\n%s", list)
	}

	// 1. Sign in through Mellon, then at the OIDC client (SSO); log out at Mellon.
	b := newSAMLBrowser(t)
	b.mellonLogin(g, sp, true)
	_, sid := b.oidcLogin(g)
	mark := len(b.visited)
	resp, body := b.do(http.MethodGet, sp.base+"/mellon/logout?"+url.Values{"ReturnTo": {sp.base + "/bye.html"}}.Encode(), nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "signed out of mellon") {
		t.Fatalf("logout at Mellon: %d at %s\n%s", resp.StatusCode, resp.Request.URL, tailText(body, 2000))
	}
	b.wantVisited(mark, g.issuer+"/saml/idp/slo?SAMLRequest=", "Mellon's LogoutRequest to Gatehouse")
	b.wantVisited(mark, sp.base+"/mellon/logout?SAMLResponse=", "Gatehouse's LogoutResponse to Mellon")
	waitDelivered(t, sink, sid)
	b.wantMellonSignedOut(g, sp)

	// 2. Sign in again at both; log out at the OIDC client: it reaches Mellon.
	b = newSAMLBrowser(t)
	b.mellonLogin(g, sp, true)
	idToken, _ := b.oidcLogin(g)
	mark = len(b.visited)
	resp, body = b.do(http.MethodGet, g.issuer+"/logout?"+url.Values{"id_token_hint": {idToken}}.Encode(), nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "signed out") {
		t.Fatalf("logout at the OIDC client: %d at %s\n%s", resp.StatusCode, resp.Request.URL, tailText(body, 2000))
	}
	b.wantVisited(mark, sp.base+"/mellon/logout?SAMLRequest=", "Gatehouse's LogoutRequest to Mellon")
	b.wantVisited(mark, g.issuer+"/saml/idp/slo?SAMLResponse=", "Mellon's LogoutResponse to Gatehouse")
	b.wantMellonSignedOut(g, sp)

	// 3. Deleted through the CLI: refused at once.
	g.mustCLI(t, g.issuer, "sp", "delete", "mellon")
	resp, body = newSAMLBrowser(t).do(http.MethodGet, sp.base+"/protected/page.html", nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "not registered") {
		t.Fatalf("a deleted SP's request: %d at %s\n%s", resp.StatusCode, resp.Request.URL, tailText(body, 1500))
	}
}
