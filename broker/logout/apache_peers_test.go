//go:build peers

package logout_test

import (
	"context"
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

	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/config"
)

const (
	apacheBin     = "/usr/sbin/apache2"
	apacheModules = "/usr/lib/apache2/modules"
)

// apacheRP is a private Apache httpd with mod_auth_openidc on loopback, configured with
// Gatehouse as its OpenID Provider and /protected behind it.
type apacheRP struct {
	base, conf string
	dir        string
}

// freePort returns a loopback port nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close() //nolint:errcheck // only the port number is wanted
	return l.Addr().(*net.TCPAddr).Port
}

// startApache writes the RP's configuration in a temp dir and starts Apache on port; it is
// stopped when the test ends. A missing Apache or module fails the test.
func startApache(t *testing.T, port int, issuer, clientID, secret string) *apacheRP {
	t.Helper()
	for _, f := range []string{apacheBin, filepath.Join(apacheModules, "mod_auth_openidc.so")} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("peer missing: %v (run scripts/install-peers.sh: apache2 libapache2-mod-auth-openidc)", err)
		}
	}
	dir := t.TempDir()
	rp := &apacheRP{base: fmt.Sprintf("http://127.0.0.1:%d", port), dir: dir, conf: filepath.Join(dir, "httpd.conf")}
	// Apache's children run as www-data: the document root must be readable by them.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil { //nolint:gosec // a test's own directory, readable by Apache's children
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "htdocs", "protected"), 0o755); err != nil { //nolint:gosec // see above
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "htdocs", "protected", "page.html"), []byte("protected page\n"), 0o644); err != nil { //nolint:gosec // see above
		t.Fatal(err)
	}
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
LoadModule auth_openidc_module %[3]s/mod_auth_openidc.so
ErrorLog %[1]s/error.log
LogLevel warn auth_openidc:info
DocumentRoot %[1]s/htdocs
OIDCProviderMetadataURL %[4]s/.well-known/openid-configuration
OIDCClientID %[5]s
OIDCClientSecret %[6]s
OIDCRedirectURI %[7]s/protected/redirect_uri
OIDCCryptoPassphrase gatehouse-test-passphrase
OIDCScope "openid"
OIDCSessionType server-cache
<Location /protected>
  AuthType openid-connect
  Require valid-user
</Location>
`, dir, port, apacheModules, issuer, clientID, secret, rp.base)
	if err := os.WriteFile(rp.conf, []byte(conf), 0o644); err != nil { //nolint:gosec // see above
		t.Fatal(err)
	}
	if out, err := exec.Command(apacheBin, "-t", "-f", rp.conf).CombinedOutput(); err != nil {
		t.Fatalf("apache2 -t: %v\n%s", err, out)
	}
	if out, err := exec.Command(apacheBin, "-f", rp.conf, "-k", "start").CombinedOutput(); err != nil {
		t.Fatalf("apache2 -k start: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(apacheBin, "-f", rp.conf, "-k", "stop").CombinedOutput(); err != nil {
			t.Logf("apache2 -k stop: %v\n%s", err, out)
		}
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "error.log")); err == nil {
				t.Logf("apache error.log (tail):\n%s", tail(string(b), 6000))
			}
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			c.Close() //nolint:errcheck,gosec // a probe
			return rp
		}
		if time.Now().After(deadline) {
			t.Fatalf("apache did not listen on %d: %v", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// navigator is a browser as mod_auth_openidc expects one (a top-level navigation: it answers
// 401 instead of redirecting anything else), with one cookie jar for Apache and Gatehouse;
// it stops at redirects to the clients' unreachable callback host.
type navigator struct {
	t *testing.T
	c *http.Client
}

func newNavigator(t *testing.T) *navigator {
	jar, _ := cookiejar.New(nil)
	return &navigator{t: t, c: &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Host == "127.0.0.1:1" || len(via) > 15 {
			return http.ErrUseLastResponse
		}
		return nil
	}}}
}

func (n *navigator) do(method, u string, form url.Values) (*http.Response, string) {
	n.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(context.Background(), method, u, body)
	if err != nil {
		n.t.Fatal(err)
	}
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	req.Header.Set("Sec-Fetch-Dest", "document")
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := n.c.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close() //nolint:errcheck // read below
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, string(b)
}

// TestApacheModAuthOpenIDCBackChannelLogout: a real RP, Apache mod_auth_openidc with
// Gatehouse as its OP and its redirect URI (?logout=backchannel) registered as the client's
// backchannel_logout_uri. The user signs in through it (Gatehouse's login form), then at
// another client in the same SSO session, and signs out at that other client; the logout
// token delivered by the queue ends the mod_auth_openidc session: its protected URL sends
// the browser to Gatehouse's login again.
func TestApacheModAuthOpenIDCBackChannelLogout(t *testing.T) {
	aport := freePort(t)
	rpBase := fmt.Sprintf("http://127.0.0.1:%d", aport)
	const secret = "apache-secret-secret"
	o := newOP(t, brokertest.Options{Config: func(cfg *config.Config) {
		cfg.Clients = append(cfg.Clients, config.Client{ID: "apache", Name: "Apache", Secret: secret, Trusted: true,
			RedirectURIs:         []string{rpBase + "/protected/redirect_uri"},
			BackchannelLogoutURI: rpBase + "/protected/redirect_uri?logout=backchannel", BackchannelLogoutSessionRequired: true})
	}})
	startApache(t, aport, o.Issuer, "apache", secret)
	nav := newNavigator(t)

	// Sign in through mod_auth_openidc.
	resp, body := nav.do(http.MethodGet, rpBase+"/protected/page.html", nil)
	if !strings.HasPrefix(resp.Request.URL.String(), o.Issuer+"/login") || !strings.Contains(body, `name="password"`) {
		t.Fatalf("protected page without a session: %d at %s\n%s", resp.StatusCode, resp.Request.URL, tail(body, 2000))
	}
	action, vals := brokertest.Form(t, body)
	vals.Set("username", "alice")
	vals.Set("password", password)
	resp, body = nav.do(http.MethodPost, o.Issuer+action, vals)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "protected page") {
		t.Fatalf("after login: %d at %s\n%s", resp.StatusCode, resp.Request.URL, tail(body, 2000))
	}
	if resp, body = nav.do(http.MethodGet, rpBase+"/protected/page.html", nil); resp.StatusCode != http.StatusOK || resp.Request.URL.String() != rpBase+"/protected/page.html" || !strings.Contains(body, "protected page") {
		t.Fatalf("signed in at the RP: %d %s", resp.StatusCode, resp.Request.URL)
	}

	// The same browser signs in at another client (SSO) and signs out there.
	verifier, challenge := brokertest.PKCE("verifier-verifier-verifier-verifier-verifier-apache")
	resp, _ = nav.do(http.MethodGet, o.Issuer+"/authorize?"+url.Values{"client_id": {"plain"}, "response_type": {"code"}, "scope": {"openid"},
		"redirect_uri": {"http://127.0.0.1:1/cb/plain"}, "state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}.Encode(), nil)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("SSO at the other client: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {"http://127.0.0.1:1/cb/plain"}, "code_verifier": {verifier}}
	idToken := o.exchange("plain", form)
	_, sid := claimsOf(t, idToken)
	ps, err := logoutStore(t, o).Participants(t.Context(), sid, o.Clock.Now())
	if err != nil || len(ps) != 2 {
		t.Fatalf("participants = %+v, %v; want apache and plain", ps, err)
	}
	if resp, body = nav.do(http.MethodGet, o.Issuer+"/logout?"+url.Values{"id_token_hint": {idToken}}.Encode(), nil); resp.StatusCode != http.StatusOK ||
		!strings.Contains(body, "You are signed out") {
		t.Fatalf("logout at the other client: %d\n%s", resp.StatusCode, body)
	}
	if n := o.deliver(); n != 1 {
		t.Fatalf("delivered %d, want 1 (apache)", n)
	}
	if d := counter(t, o, "apache", "delivered"); d != 1 {
		t.Fatalf("mod_auth_openidc did not accept the logout token (delivered=%v, retry=%v)", d, counter(t, o, "apache", "retry"))
	}

	// The RP's session is gone: its protected URL goes to Gatehouse's login again.
	resp, body = nav.do(http.MethodGet, rpBase+"/protected/page.html", nil)
	if strings.Contains(body, "protected page") || !strings.HasPrefix(resp.Request.URL.String(), o.Issuer+"/login") {
		t.Fatalf("after back-channel logout the RP still serves: %d at %s\n%s", resp.StatusCode, resp.Request.URL, tail(body, 1000))
	}
}
