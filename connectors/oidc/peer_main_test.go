//go:build peers

package oidc_test

// These tests run against a REAL upstream OpenID provider: npm oidc-provider (OpenID
// Certified), started by TestMain from testdata/peer/provider.mjs on 127.0.0.1. Install it with
// `bash scripts/install-peers.sh` (npm ci in connectors/oidc/testdata/peer).

import (
	"context"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/testpeer"
)

const (
	upstreamSecret = "gatehouse-upstream-secret-0123456789"
	// directCallback is the redirect URI of connector-level tests: nothing listens there, the
	// test reads the redirect's Location instead of following it.
	directCallback = "http://127.0.0.1:9/callback/direct"
)

// peer is a running oidc-provider.
type peer struct {
	issuer string
	proc   *testpeer.OIDCProvider
}

// Set once by TestMain before any test runs; read-only afterwards.
var (
	upstream   *peer
	brokerPort int // the port every full-broker test listens on (registered upstream)
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	port, err := freePort()
	if err != nil {
		fmt.Fprintln(os.Stderr, "oidc peer tests:", err)
		return 1
	}
	brokerPort = port
	p, err := startPeer(0, brokerRedirects(port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "oidc peer tests:", err)
		return 1
	}
	upstream = p
	defer p.stop()
	return m.Run()
}

// brokerRedirects lists the redirect URIs registered for the static client.
func brokerRedirects(port int) []string {
	base := fmt.Sprintf("http://127.0.0.1:%d/callback/", port)
	return []string{directCallback, base + "sso", base + "late", base + "corp"}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startPeer starts provider.mjs on port (0: any) and waits (bounded) for its ready line.
func startPeer(port int, redirects []string) (*peer, error) {
	o := testpeer.OIDCProviderOptions{Dir: filepath.Join("testdata", "peer"), Port: port,
		RedirectURIs: redirects, ClientSecret: upstreamSecret, Stderr: os.Stderr}
	if brokerPort != 0 { // the broker's upstream logout (upstream_logout_peer_test.go), connector sso
		base := fmt.Sprintf("http://127.0.0.1:%d", brokerPort)
		o.PostLogoutRedirectURIs = []string{base + "/logout/upstream"}
		o.BackchannelLogoutURI = base + "/connectors/sso/backchannel-logout"
	}
	p, err := testpeer.StartOIDCProvider(o)
	if err != nil {
		return nil, err
	}
	return &peer{issuer: p.Issuer, proc: p}, nil
}

func (p *peer) stop() { p.proc.Stop() }

// remove deletes a test account upstream.
func (p *peer) remove(t *testing.T, sub string) {
	t.Helper()
	resp, err := http.Post(p.issuer+"/__test/remove?sub="+url.QueryEscape(sub), "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("remove %s: HTTP %d", sub, resp.StatusCode)
	}
}

// agent is a cookie-keeping HTTP client that follows no redirect by itself.
type agent struct {
	t *testing.T
	c *http.Client
}

func newAgent(t *testing.T) *agent {
	jar, _ := cookiejar.New(nil)
	return &agent{t: t, c: &http.Client{Jar: jar, Timeout: 15 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type response struct {
	status   int
	location string // absolute
	body     string
}

func (a *agent) do(method, u string, form url.Values) response {
	a.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(context.Background(), method, u, body)
	if err != nil {
		a.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := a.c.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, body: string(b)}
	if loc := resp.Header.Get("Location"); loc != "" {
		base, _ := url.Parse(u)
		next, err := base.Parse(loc)
		if err != nil {
			a.t.Fatal(err)
		}
		r.location = next.String()
	}
	return r
}

var (
	formRe   = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)"[^>]*>(.*?)</form>`)
	hiddenRe = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// upstreamLogin drives oidc-provider from an authorization URL: it signs in as user (or
// cancels when user is ""), consents, and returns the first redirect that leaves the
// provider (to the callback).
func (a *agent) upstreamLogin(issuer, authURL, user string) string {
	a.t.Helper()
	r := a.do(http.MethodGet, authURL, nil)
	for range 12 {
		switch {
		case r.status >= 300 && r.status < 400:
			if !strings.HasPrefix(r.location, issuer+"/") {
				return r.location
			}
			r = a.do(http.MethodGet, r.location, nil)
		case r.status == http.StatusOK && strings.Contains(r.body, `name="login"`):
			forms := formRe.FindAllStringSubmatch(r.body, -1)
			if user == "" {
				r = a.do(http.MethodPost, issuer+html.UnescapeString(forms[1][1]), url.Values{})
				continue
			}
			r = a.do(http.MethodPost, issuer+html.UnescapeString(forms[0][1]), url.Values{"login": {user}, "password": {"password"}})
		case r.status == http.StatusOK && strings.Contains(r.body, `name="consent"`):
			forms := formRe.FindAllStringSubmatch(r.body, -1)
			r = a.do(http.MethodPost, issuer+html.UnescapeString(forms[0][1]), url.Values{"consent": {"yes"}})
		default:
			a.t.Fatalf("unexpected upstream page %d:\n%s", r.status, r.body)
		}
	}
	a.t.Fatal("upstream login did not finish in 12 steps")
	return ""
}
