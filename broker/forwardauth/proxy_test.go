package forwardauth_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-id/gatehouse/broker"
	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/session"
)

const password = "correct horse battery"

// corp is a Gatehouse at login.corp.localhost protecting grafana.corp.localhost and wiki.corp.localhost
// behind a simulated proxy, with an echo upstream, and a browser whose every host name
// resolves to the right loopback listener.
type corp struct {
	t       testing.TB
	gh      *brokertest.Server
	issuer  string
	proxy   *httptest.Server
	appPort string
	// upstream is the echo app's host:port.
	upstream string
	hosts    map[string]string // host:port -> listener address
}

// echo is the upstream app: it answers with the request headers it received, as JSON.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"path": r.URL.RequestURI(), "headers": r.Header})
})

// proxyMode is how the simulated proxy asks Gatehouse, following each proxy's documented
// protocol (Traefik ForwardAuth, Envoy ext_authz HTTP service).
type proxyMode int

const (
	// traefik: GET {issuer}/forward-auth with the client's headers and X-Forwarded-Method,
	// -Proto, -Host, -Uri; on 2xx the authResponseHeaders replace the client's (deleted
	// first, whether or not the answer has them); any other answer goes to the client as is.
	traefik proxyMode = iota
	// envoy: the original method to {issuer}/forward-auth/envoy + original path, with the
	// original Host, Cookie and X-Forwarded-Proto (allowed_headers) and no body; on 2xx the
	// allowed_upstream_headers are set on the upstream request; the route's
	// request_headers_to_remove strips the identity headers from the client first.
	envoy
	// external: a real proxy (peers tests) listens on the app port; newCorp frees it.
	external
)

var identityHeaders = []string{"X-Auth-Request-User", "X-Auth-Request-Email", "X-Auth-Request-Groups",
	"X-Auth-Request-Preferred-Username", "X-Gatehouse-Assertion", "X-Webauth-User"}

func newCorp(t testing.TB, mode proxyMode, adjust func(*config.Config)) *corp {
	t.Helper()
	return newCorpDeps(t, mode, adjust, nil)
}

// newCorpDeps is newCorp with a change to the broker's dependencies (after the config).
func newCorpDeps(t testing.TB, mode proxyMode, adjust func(*config.Config), deps func(*broker.Deps)) *corp {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	c := &corp{t: t, hosts: map[string]string{}}
	upstream := httptest.NewServer(echo)
	t.Cleanup(upstream.Close)
	c.upstream = upstream.Listener.Addr().String()
	ghSrv := httptest.NewUnstartedServer(nil)
	_, ghPort, _ := net.SplitHostPort(ghSrv.Listener.Addr().String())
	c.issuer = "http://login.corp.localhost:" + ghPort
	c.proxy = httptest.NewUnstartedServer(nil)
	_, c.appPort, _ = net.SplitHostPort(c.proxy.Listener.Addr().String())
	c.hosts["login.corp.localhost:"+ghPort] = ghSrv.Listener.Addr().String()
	for _, h := range []string{"grafana", "wiki", "vault", "other"} {
		c.hosts[h+".corp.localhost:"+c.appPort] = c.proxy.Listener.Addr().String()
	}
	c.gh = brokertest.New(t, brokertest.Options{Server: ghSrv, Issuer: c.issuer, Config: func(cfg *config.Config) {
		cfg.Web.TrustedProxies = []string{"127.0.0.1/32"}
		cfg.ForwardAuth = config.ForwardAuth{CookieDomain: ".corp.localhost"}
		cfg.Users = []config.User{
			{Username: "alice", Email: "alice@corp.localhost", EmailVerified: true, Groups: []string{"ops", "admins"}, PasswordHash: string(hash)},
			{Username: "bob", Email: "bob@corp.localhost", EmailVerified: true, Groups: []string{"ops"}, PasswordHash: string(hash)},
			{Username: "eve", Email: "eve@corp.localhost", EmailVerified: true, Groups: []string{"guests"}, PasswordHash: string(hash)},
		}
		cfg.ProtectedApps = []config.ProtectedApp{
			{ID: "grafana", Name: "Grafana", Hosts: []string{"grafana.corp.localhost:" + c.appPort}, Require: config.Requirement{Groups: []string{"ops"}},
				Paths:  []config.PathRule{{Prefix: "/admin", Require: config.Requirement{Groups: []string{"admins"}}}},
				Bypass: []string{"/api/health"}, Assertion: true},
			{ID: "wiki", Hosts: []string{"wiki.corp.localhost:" + c.appPort}, Headers: config.AppHeaders{User: "X-WEBAUTH-USER"}},
		}
		if adjust != nil {
			adjust(cfg)
		}
	}, Deps: deps})
	if mode == external {
		c.proxy.Listener.Close() //nolint:errcheck // the real proxy binds the port next
		return c
	}
	c.proxy.Config.Handler = c.proxyHandler(mode, upstream.URL)
	c.proxy.Start()
	t.Cleanup(c.proxy.Close)
	return c
}

// client is an HTTP client that asks Gatehouse from 127.0.0.1 (the trusted proxy).
func (c *corp) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if to, ok := c.hosts[addr]; ok {
		addr = to
	}
	return (&net.Dialer{}).DialContext(ctx, network, addr)
}

func (c *corp) proxyHandler(mode proxyMode, upstream string) http.Handler {
	toGH := &http.Client{Transport: &http.Transport{DialContext: c.dial}, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	up, _ := url.Parse(upstream)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req *http.Request
		var err error
		if mode == traefik {
			req, err = http.NewRequest(http.MethodGet, c.issuer+"/forward-auth", nil)
			if err == nil {
				req.Header = r.Header.Clone()
				req.Header.Set("X-Forwarded-Method", r.Method)
				req.Header.Set("X-Forwarded-Proto", "http")
				req.Header.Set("X-Forwarded-Host", r.Host)
				req.Header.Set("X-Forwarded-Uri", r.URL.RequestURI())
			}
		} else {
			for _, h := range identityHeaders {
				r.Header.Del(h) // request_headers_to_remove
			}
			req, err = http.NewRequest(r.Method, c.issuer+"/forward-auth/envoy"+r.URL.RequestURI(), nil)
			if err == nil {
				req.Host = r.Host
				req.Header.Set("Cookie", r.Header.Get("Cookie"))
				req.Header.Set("X-Forwarded-Proto", "http")
			}
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		resp, err := toGH.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			for k, v := range resp.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(resp.StatusCode)
			_, _ = io.Copy(w, resp.Body)
			return
		}
		for _, h := range identityHeaders {
			if mode == traefik {
				r.Header.Del(h)
			}
			if v := resp.Header.Values(h); len(v) > 0 {
				r.Header[http.CanonicalHeaderKey(h)] = v
			}
		}
		out := r.Clone(r.Context())
		out.URL.Scheme, out.URL.Host, out.RequestURI = up.Scheme, up.Host, ""
		upResp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer upResp.Body.Close()
		w.WriteHeader(upResp.StatusCode)
		_, _ = io.Copy(w, upResp.Body)
	})
}

// browser is a cookie-keeping client that resolves the corp hosts and follows no redirects.
func (c *corp) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Transport: &http.Transport{DialContext: c.dial}, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (c *corp) app(host, path string) string {
	return "http://" + host + ".corp.localhost:" + c.appPort + path
}

type resp struct {
	status   int
	location string
	body     string
	header   http.Header
}

func (c *corp) do(b *http.Client, method, u string, form url.Values, hdr map[string]string) resp {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	r, err := b.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer r.Body.Close()
	data, _ := io.ReadAll(r.Body)
	loc := r.Header.Get("Location")
	if loc != "" {
		if l, err := r.Request.URL.Parse(loc); err == nil {
			loc = l.String()
		}
	}
	return resp{status: r.StatusCode, location: loc, body: string(data), header: r.Header}
}

// follow follows redirects (at most 12) and returns the last response and its URL.
func (c *corp) follow(b *http.Client, r resp, at string) (resp, string) {
	c.t.Helper()
	for i := 0; i < 12 && r.status >= 300 && r.status < 400; i++ {
		at = r.location
		r = c.do(b, http.MethodGet, at, nil, nil)
	}
	return r, at
}

// login opens u through the proxy, signs in as user on the password form, and returns the
// page the browser ends on and its URL.
func (c *corp) login(b *http.Client, u, user string) (resp, string) {
	c.t.Helper()
	r, at := c.follow(b, c.do(b, http.MethodGet, u, nil, nil), u)
	if !strings.Contains(r.body, `name="password"`) {
		c.t.Fatalf("expected the login page at %s, got %d:\n%s", at, r.status, r.body)
	}
	action, vals := brokertest.Form(c.t, r.body)
	vals.Set("username", user)
	vals.Set("password", password)
	return c.follow(b, c.do(b, http.MethodPost, c.issuer+action, vals, nil), c.issuer+action)
}

// echoed decodes the upstream's echo.
func echoed(t testing.TB, r resp) (string, http.Header) {
	t.Helper()
	var e struct {
		Path    string
		Headers http.Header
	}
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &e) != nil {
		t.Fatalf("expected the upstream's echo, got %d:\n%s", r.status, r.body)
	}
	return e.Path, e.Headers
}

// TestForwardAuthProxies drives a browser through a proxy speaking Traefik's ForwardAuth and
// one speaking Envoy's ext_authz HTTP protocol, both simulated here from their documentation
// (no Traefik or Envoy binary is installed): login and return to the original URL, identity
// headers replacing forged ones, the assertion, group and path rules, the bypass, logout.
func TestForwardAuthProxies(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode proxyMode
	}{{"traefik", traefik}, {"envoy", envoy}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCorp(t, tc.mode, nil)
			b := c.browser()
			orig := c.app("grafana", "/d/abc?orgId=1&x=%2F")
			r := c.do(b, http.MethodGet, orig, nil, map[string]string{"X-Auth-Request-User": "admin"})
			if r.status != http.StatusFound || !strings.HasPrefix(r.location, c.issuer+"/forward-auth/start?rd=") {
				t.Fatalf("not signed in: got %d to %q, want a redirect to the login start", r.status, r.location)
			}
			r, at := c.login(b, orig, "bob")
			if at != orig {
				t.Fatalf("after login the browser is at %s, want the original URL %s", at, orig)
			}
			path, h := echoed(t, c.do(b, http.MethodGet, orig, nil, map[string]string{"X-Auth-Request-User": "admin", "X-Gatehouse-Assertion": "forged"}))
			if path != "/d/abc?orgId=1&x=%2F" {
				t.Errorf("upstream got path %q", path)
			}
			if got := h.Values("X-Auth-Request-User"); len(got) != 1 || got[0] == "admin" || got[0] == "" {
				t.Errorf("X-Auth-Request-User = %q, want only Gatehouse's subject", got)
			}
			if h.Get("X-Auth-Request-Email") != "bob@corp.localhost" || h.Get("X-Auth-Request-Groups") != "ops" ||
				h.Get("X-Auth-Request-Preferred-Username") != "bob" {
				t.Errorf("identity headers: %v", h)
			}
			checkAssertion(t, c, h.Get("X-Gatehouse-Assertion"), h.Get("X-Auth-Request-User"))
			if tc.mode == envoy { // a POST is checked with its method and no body
				_, h := echoed(t, c.do(b, http.MethodPost, c.app("grafana", "/api/ds"), url.Values{"a": {"b"}}, nil))
				if h.Get("X-Auth-Request-Email") != "bob@corp.localhost" {
					t.Errorf("POST through envoy: %v", h)
				}
			}
			// Path rule: bob is in ops, not admins.
			r = c.do(b, http.MethodGet, c.app("grafana", "/admin/users"), nil, nil)
			if r.status != http.StatusForbidden || !strings.Contains(r.body, "Access denied") || !strings.Contains(r.body, "admins") {
				t.Errorf("/admin for bob: %d\n%s", r.status, r.body)
			}
			for _, p := range []string{"/admin", "/x/../admin/", "/%61dmin/users", "/admin%2Fusers"} {
				if r := c.do(b, http.MethodGet, c.app("grafana", p), nil, nil); r.status != http.StatusForbidden {
					t.Errorf("%s for bob: %d, want 403", p, r.status)
				}
			}
			if _, h := echoed(t, c.do(b, http.MethodGet, c.app("grafana", "/administrator"), nil, nil)); h.Get("X-Auth-Request-User") == "" {
				t.Error("/administrator is not under /admin")
			}
			// Bypass: answered without identity; forged headers still removed.
			_, h = echoed(t, c.do(c.browser(), http.MethodGet, c.app("grafana", "/api/health"), nil, map[string]string{"X-Auth-Request-User": "admin"}))
			if h.Get("X-Auth-Request-User") != "" {
				t.Errorf("bypass passed X-Auth-Request-User %q", h.Get("X-Auth-Request-User"))
			}
			// One SSO session: the wiki (no requirement, renamed header) needs no second login.
			_, h = echoed(t, c.do(b, http.MethodGet, c.app("wiki", "/"), nil, nil))
			if h.Get("X-Webauth-User") == "" || h.Get("X-Auth-Request-User") != "" {
				t.Errorf("wiki headers: %v", h)
			}
			// Logout ends the forward-auth cookie.
			lo := c.do(b, http.MethodGet, c.issuer+"/logout", nil, nil)
			action, vals := brokertest.Form(t, lo.body)
			vals.Set("decision", "logout")
			if r := c.do(b, http.MethodPost, c.issuer+action, vals, nil); r.status >= 400 {
				t.Fatalf("logout: %d\n%s", r.status, r.body)
			}
			if r := c.do(b, http.MethodGet, orig, nil, nil); r.status != http.StatusFound {
				t.Errorf("after logout: %d, want a redirect to the login", r.status)
			}
		})
	}
}

// checkAssertion verifies the assertion against the JWKS: aud grafana, sub the user header.
func checkAssertion(t testing.TB, c *corp, tok, sub string) {
	t.Helper()
	if tok == "" || tok == "forged" {
		t.Fatalf("assertion %q", tok)
	}
	body, _ := c.gh.Keys.JWKS()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(jws.Signatures[0].Header.KeyID)
	if len(keys) != 1 {
		t.Fatalf("assertion kid %q not in the JWKS", jws.Signatures[0].Header.KeyID)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("assertion does not verify with the JWKS: %v", err)
	}
	var cl map[string]any
	if err := json.Unmarshal(payload, &cl); err != nil {
		t.Fatal(err)
	}
	if cl["aud"] != "grafana" || cl["sub"] != sub || cl["iss"] != c.issuer || cl["email"] != "bob@corp.localhost" {
		t.Errorf("assertion claims %v", cl)
	}
}

// TestForwardAuthRefusals: what must never be answered with a redirect or an identity.
func TestForwardAuthRefusals(t *testing.T) {
	c := newCorp(t, traefik, nil)
	b := c.browser()
	if d := c.do(b, http.MethodGet, c.issuer+"/.well-known/openid-configuration", nil, nil); !strings.Contains(d.body,
		`"gatehouse_forward_auth_endpoint": "`+c.issuer+`/forward-auth"`) {
		t.Errorf("discovery does not advertise the forward-auth endpoint:\n%s", d.body)
	}
	start := c.issuer + "/forward-auth/start?rd="
	for _, rd := range []string{
		"http://evil.example/", "//evil.example/", "http://grafana.corp.localhost:" + c.appPort + "@evil.example/",
		"http://evil.example/?http://grafana.corp.localhost:" + c.appPort + "/", "javascript:alert(1)", "/relative",
		"http://grafana.corp.localhost:" + c.appPort + "\\@evil.example/", "http://grafana.corp.localhost.evil.example:" + c.appPort + "/",
		"http://other.corp.localhost:" + c.appPort + "/", "",
	} {
		r := c.do(b, http.MethodGet, start+url.QueryEscape(rd), nil, nil)
		if r.status != http.StatusBadRequest || r.location != "" {
			t.Errorf("rd=%q: %d to %q, want 400 and no redirect", rd, r.status, r.location)
		}
	}
	// An unconfigured host behind the proxy: 403, never a login.
	if r := c.do(b, http.MethodGet, c.app("other", "/"), nil, nil); r.status != http.StatusForbidden || r.location != "" {
		t.Errorf("unconfigured host: %d to %q", r.status, r.location)
	}
	// A signed-in user outside the app's groups gets 403 with the reason after login.
	r, _ := c.login(b, c.app("grafana", "/"), "eve")
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "not in a group") {
		t.Errorf("eve: %d\n%s", r.status, r.body)
	}
	// Asked directly (nginx style): 401 without a session, and the original URL must come
	// from the proxy's headers.
	direct := func(path string, hdr map[string]string) int {
		return c.do(&http.Client{Transport: &http.Transport{DialContext: c.dial}}, http.MethodGet, c.issuer+path, nil, hdr).status
	}
	orig := map[string]string{"X-Forwarded-Host": "grafana.corp.localhost:" + c.appPort, "X-Forwarded-Uri": "/", "X-Forwarded-Proto": "http"}
	for _, tt := range []struct {
		name string
		path string
		hdr  map[string]string
		want int
	}{
		{"nginx, no session", "/forward-auth/nginx", orig, http.StatusUnauthorized},
		{"X-Original-URL", "/forward-auth/nginx", map[string]string{"X-Original-URL": "http://grafana.corp.localhost:" + c.appPort + "/x"}, http.StatusUnauthorized},
		{"no original URL", "/forward-auth/nginx", nil, http.StatusBadRequest},
		{"relative uri", "/forward-auth", map[string]string{"X-Forwarded-Host": "grafana.corp.localhost:" + c.appPort, "X-Forwarded-Uri": "x"}, http.StatusBadRequest},
		{"bad proto", "/forward-auth", map[string]string{"X-Forwarded-Host": "grafana.corp.localhost:" + c.appPort, "X-Forwarded-Uri": "/", "X-Forwarded-Proto": "gopher"}, http.StatusBadRequest},
		{"unknown host", "/forward-auth/nginx", map[string]string{"X-Forwarded-Host": "evil.example", "X-Forwarded-Uri": "/"}, http.StatusForbidden},
	} {
		if got := direct(tt.path, tt.hdr); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestForwardAuthUntrustedPeer: a peer outside web.trusted_proxies is not answered, so its
// X-Forwarded-Host cannot name an app.
func TestForwardAuthUntrustedPeer(t *testing.T) {
	c := newCorp(t, traefik, func(cfg *config.Config) { cfg.Web.TrustedProxies = []string{"192.0.2.0/24"} })
	r := c.do(&http.Client{Transport: &http.Transport{DialContext: c.dial}}, http.MethodGet, c.issuer+"/forward-auth", nil,
		map[string]string{"X-Forwarded-Host": "grafana.corp.localhost:" + c.appPort, "X-Forwarded-Uri": "/"})
	if r.status != http.StatusForbidden || r.location != "" {
		t.Fatalf("untrusted peer: %d to %q, want 403", r.status, r.location)
	}
}

// TestForwardAuthMFA: an app with mfa: required sends a password-only session to the normal
// MFA step, through a proxy speaking Traefik's ForwardAuth and one speaking Envoy's ext_authz
// (simulated from their documentation: no binary here); the app is reached only after the
// TOTP enrolment, and a session without the factor is never let through.
func TestForwardAuthMFA(t *testing.T) {
	secretRe := regexp.MustCompile(`<code data-secret>([A-Z2-7]+)</code>`)
	for _, tc := range []struct {
		name string
		mode proxyMode
	}{{"traefik", traefik}, {"envoy", envoy}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCorp(t, tc.mode, func(cfg *config.Config) {
				cfg.ProtectedApps[0].MFA = "required"
				cfg.MFA.SecretsKey = strings.Repeat("k", 32)
			})
			b := c.browser()
			// Sign in through the wiki (no MFA), then open grafana: the session lacks the factor.
			if _, at := c.login(b, c.app("wiki", "/"), "bob"); at != c.app("wiki", "/") {
				t.Fatalf("wiki login ended at %s", at)
			}
			orig := c.app("grafana", "/d/x")
			r := c.do(b, http.MethodGet, orig, nil, nil)
			if r.status != http.StatusFound || !strings.Contains(r.location, "/forward-auth/start") {
				t.Fatalf("grafana without MFA: %d to %q, want the login start", r.status, r.location)
			}
			r, at := c.follow(b, r, orig)
			m := secretRe.FindStringSubmatch(r.body)
			if !strings.Contains(at, "/mfa?req=") || !strings.Contains(r.body, "Set up two-step verification") || m == nil {
				t.Fatalf("expected the TOTP enrolment, got %d at %s:\n%s", r.status, at, r.body)
			}
			action, vals := brokertest.Form(t, r.body)
			code, err := totp.GenerateCodeCustom(m[1], c.gh.Clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
			if err != nil {
				t.Fatal(err)
			}
			vals.Set("code", code)
			if r = c.do(b, http.MethodPost, c.issuer+action, vals, nil); r.status != http.StatusOK || !strings.Contains(r.body, "continue") {
				t.Fatalf("after the code: %d\n%s", r.status, r.body)
			}
			action, vals = brokertest.Form(t, r.body)
			r, at = c.follow(b, c.do(b, http.MethodPost, c.issuer+action, vals, nil), c.issuer+action)
			if at != orig {
				t.Fatalf("after the enrolment the browser is at %s, want %s", at, orig)
			}
			if _, h := echoed(t, r); h.Get("X-Auth-Request-Preferred-Username") != "bob" {
				t.Errorf("identity after MFA: %v", h)
			}
		})
	}
}

// TestForwardAuthSessionLifetime: a user working in a protected app keeps the SSO session
// alive (the check extends its idle expiry); a logout on the replica that answers the checks
// ends access at once whatever forward_auth.session_recheck is (the cached sessions are
// dropped); a session ended by another replica (deleted in the shared storage, not in this
// process) ends access at once with 0s, and within the recheck interval otherwise (default 1s).
func TestForwardAuthSessionLifetime(t *testing.T) {
	for _, tc := range []struct {
		name    string
		recheck time.Duration
		set     bool // set the interval; else the default
	}{{"read every time", 0, true}, {"default 1s", config.DefaultSessionRecheck, false}, {"recheck 30s", 30 * time.Second, true}} {
		t.Run(tc.name, func(t *testing.T) {
			var deps func(*broker.Deps)
			if tc.set {
				deps = func(d *broker.Deps) { d.ForwardAuth.SessionRecheck = tc.recheck }
			}
			c := newCorpDeps(t, traefik, func(cfg *config.Config) { cfg.Expiry.Sessions.Idle = config.Duration(time.Hour) }, deps)
			if got := c.gh.Gatehouse.Server.ForwardAuth.SessionRecheck; got != tc.recheck {
				t.Fatalf("session_recheck %s, want %s", got, tc.recheck)
			}
			b := c.browser()
			orig := c.app("wiki", "/")
			if _, at := c.login(b, orig, "bob"); at != orig {
				t.Fatalf("login ended at %s", at)
			}
			for range 3 { // 150 minutes of use, past the 1h idle expiry
				c.gh.Clock.Advance(50 * time.Minute)
				if r := c.do(b, http.MethodGet, orig, nil, nil); r.status != http.StatusOK {
					t.Fatalf("after 50 more minutes of use: %d, want 200 (the check extends the idle expiry)", r.status)
				}
			}
			lo := c.do(b, http.MethodGet, c.issuer+"/logout", nil, nil)
			action, vals := brokertest.Form(t, lo.body)
			vals.Set("decision", "logout")
			if r := c.do(b, http.MethodPost, c.issuer+action, vals, nil); r.status >= 400 {
				t.Fatalf("logout: %d\n%s", r.status, r.body)
			}
			if r := c.do(b, http.MethodGet, orig, nil, nil); r.status != http.StatusFound {
				t.Fatalf("right after a logout on this replica: %d, want a redirect to the login", r.status)
			}

			// Another replica ends the session: it is deleted from the shared storage.
			if _, at := c.login(b, orig, "bob"); at != orig {
				t.Fatalf("second login ended at %s", at)
			}
			if r := c.do(b, http.MethodGet, orig, nil, nil); r.status != http.StatusOK {
				t.Fatalf("signed in again: %d", r.status)
			}
			if err := c.gh.Store.DeleteSession(context.Background(), c.ssoSession(b)); err != nil {
				t.Fatal(err)
			}
			want := http.StatusFound
			if tc.recheck > 0 {
				want = http.StatusOK // the cached session, read less than the interval ago
			}
			if r := c.do(b, http.MethodGet, orig, nil, nil); r.status != want {
				t.Fatalf("right after another replica's logout: %d, want %d", r.status, want)
			}
			c.gh.Clock.Advance(tc.recheck)
			if r := c.do(b, http.MethodGet, orig, nil, nil); r.status != http.StatusFound {
				t.Fatalf("a recheck interval after another replica's logout: %d, want a redirect to the login", r.status)
			}
		})
	}
}

// ssoSession is the storage ID of the browser's SSO session.
func (c *corp) ssoSession(b *http.Client) string {
	c.t.Helper()
	u, _ := url.Parse(c.issuer)
	for _, k := range b.Jar.Cookies(u) {
		if k.Name == "gh_sso" {
			return session.HashID(k.Value)
		}
	}
	c.t.Fatal("no gh_sso cookie")
	return ""
}
