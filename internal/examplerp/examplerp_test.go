package examplerp

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
)

const (
	testClientID     = "example-app"
	testClientSecret = "s3cret"
	testBaseURL      = "http://rp.test/example"
)

// grant is what the fake provider remembers about an authorization code.
type grant struct {
	challenge string
	nonce     string
}

// fakeOP is a minimal OpenID provider: discovery, JWKS, token endpoint and userinfo.
type fakeOP struct {
	t      *testing.T
	srv    *httptest.Server
	key    *rsa.PrivateKey
	down   atomic.Bool // discovery answers 503 while set
	mu     sync.Mutex
	nonce  string // when set, minted ID tokens carry this nonce instead of the grant's
	codes  map[string]grant
	tokens atomic.Int32 // token requests seen
}

func newFakeOP(t *testing.T) *fakeOP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	op := &fakeOP{t: t, key: key, codes: map[string]grant{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", op.discovery)
	mux.HandleFunc("GET /keys", op.jwks)
	mux.HandleFunc("POST /token", op.token)
	mux.HandleFunc("GET /userinfo", op.userinfo)
	op.srv = httptest.NewServer(mux)
	t.Cleanup(op.srv.Close)
	return op
}

func (op *fakeOP) setNonce(n string) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.nonce = n
}

func (op *fakeOP) issuer() string { return op.srv.URL }

func (op *fakeOP) discovery(w http.ResponseWriter, r *http.Request) {
	if op.down.Load() {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	iss := op.issuer()
	writeJSON(w, map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                iss + "/authorize",
		"token_endpoint":                        iss + "/token",
		"jwks_uri":                              iss + "/keys",
		"userinfo_endpoint":                     iss + "/userinfo",
		"end_session_endpoint":                  iss + "/logout",
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code"},
		"code_challenge_methods_supported":      []string{"S256"},
	})
}

func (op *fakeOP) jwks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &op.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
}

// authorize records a code for the parameters of an authorization request, as if the user
// had logged in and consented.
func (op *fakeOP) authorize(authURL *url.URL) string {
	q := authURL.Query()
	code := "code-" + q.Get("state")[:8]
	op.mu.Lock()
	op.codes[code] = grant{challenge: q.Get("code_challenge"), nonce: q.Get("nonce")}
	op.mu.Unlock()
	return code
}

func (op *fakeOP) token(w http.ResponseWriter, r *http.Request) {
	op.tokens.Add(1)
	id, secret, ok := r.BasicAuth()
	if !ok || id != testClientID || secret != testClientSecret {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	if r.PostFormValue("grant_type") != "authorization_code" || r.PostFormValue("redirect_uri") != testBaseURL+"/callback" {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	op.mu.Lock()
	g, ok := op.codes[r.PostFormValue("code")]
	delete(op.codes, r.PostFormValue("code"))
	op.mu.Unlock()
	if !ok || oauth2.S256ChallengeFromVerifier(r.PostFormValue("code_verifier")) != g.challenge {
		oauthError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	access := "at-" + base64.RawURLEncoding.EncodeToString([]byte(g.nonce))[:10]
	sum := sha256.Sum256([]byte(access))
	nonce := g.nonce
	op.mu.Lock()
	if op.nonce != "" {
		nonce = op.nonce
	}
	op.mu.Unlock()
	now := time.Now()
	idToken := op.sign(map[string]any{
		"iss":            op.issuer(),
		"sub":            "user-123",
		"aud":            testClientID,
		"iat":            now.Unix(),
		"exp":            now.Add(time.Hour).Unix(),
		"nonce":          nonce,
		"at_hash":        base64.RawURLEncoding.EncodeToString(sum[:16]),
		"email":          "alice@example.com",
		"email_verified": true,
		"groups":         []string{"admins", "dev"},
	})
	writeJSON(w, map[string]any{
		"access_token":  access,
		"token_type":    "Bearer",
		"expires_in":    3600,
		"refresh_token": "rt-1",
		"id_token":      idToken,
		"scope":         "openid profile email groups offline_access",
	})
}

func (op *fakeOP) userinfo(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer at-") {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	writeJSON(w, map[string]any{"sub": "user-123", "email": "alice@example.com", "name": "Alice Userinfo"})
}

func (op *fakeOP) sign(claims map[string]any) string {
	op.t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: op.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		op.t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		op.t.Fatal(err)
	}
	return s
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func oauthError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}

func newRP(t *testing.T, op *fakeOP) *RP {
	t.Helper()
	rp, err := New(Options{
		Issuer:       op.issuer(),
		ClientID:     testClientID,
		ClientSecret: testClientSecret,
		BaseURL:      testBaseURL + "/",
		HTTPClient:   op.srv.Client(),
		Logger:       slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return rp
}

// do sends a request to the RP with the given cookies.
func do(rp *RP, method, target string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	rp.ServeHTTP(w, r)
	return w
}

func flowCookieFrom(t *testing.T, w *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.Name == flowCookie {
			return c
		}
	}
	t.Fatalf("no %s cookie in response", flowCookie)
	return nil
}

// startLogin runs /login and returns the parsed authorization URL and the flow cookie.
func startLogin(t *testing.T, rp *RP) (*url.URL, *http.Cookie) {
	t.Helper()
	w := do(rp, http.MethodPost, "/login")
	if w.Code != http.StatusSeeOther {
		t.Fatalf("/login status = %d, body:\n%s", w.Code, w.Body)
	}
	u, err := url.Parse(w.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u, flowCookieFrom(t, w)
}

func TestFullFlow(t *testing.T) {
	op := newFakeOP(t)
	op.down.Store(true) // not listening yet: New must not care
	rp := newRP(t, op)

	// Start page.
	w := do(rp, http.MethodGet, "/")
	if w.Code != http.StatusOK {
		t.Fatalf("GET / status = %d", w.Code)
	}
	body := w.Body.String()
	for _, want := range []string{"Log in", `action="/example/login"`, `href="/example/style.css"`} {
		if !strings.Contains(body, want) {
			t.Errorf("start page lacks %q", want)
		}
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP = %q", csp)
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "style=") || strings.Contains(body, "<style") {
		t.Error("start page has inline script or style")
	}

	// Discovery fails while the provider is down, and is retried on the next request.
	w = do(rp, http.MethodPost, "/login")
	if w.Code != http.StatusBadGateway || !strings.Contains(w.Body.String(), "Provider not reachable") {
		t.Fatalf("/login with provider down: status %d, body:\n%s", w.Code, w.Body)
	}
	op.down.Store(false)

	authURL, cookie := startLogin(t, rp)
	if got, want := authURL.Scheme+"://"+authURL.Host+authURL.Path, op.issuer()+"/authorize"; got != want {
		t.Errorf("redirect to %s, want %s", got, want)
	}
	q := authURL.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		t.Errorf("PKCE params: method %q challenge %q", q.Get("code_challenge_method"), q.Get("code_challenge"))
	}
	if len(q.Get("state")) < 16 || len(q.Get("nonce")) < 16 || q.Get("state") == q.Get("nonce") {
		t.Errorf("state %q nonce %q", q.Get("state"), q.Get("nonce"))
	}
	if q.Get("response_type") != "code" || q.Get("client_id") != testClientID || q.Get("redirect_uri") != testBaseURL+"/callback" {
		t.Errorf("auth params: %v", q)
	}
	gotScopes := strings.Fields(q.Get("scope"))
	for _, s := range []string{"openid", "profile", "email", "groups", "offline_access"} {
		if !slices.Contains(gotScopes, s) {
			t.Errorf("scope %q missing from %q", s, q.Get("scope"))
		}
	}
	if !cookie.HttpOnly || cookie.Path != "/example/" || cookie.MaxAge <= 0 || cookie.SameSite != http.SameSiteLaxMode {
		t.Errorf("flow cookie = %+v", cookie)
	}
	if strings.Contains(cookie.Value, q.Get("state")) {
		t.Error("flow cookie shows the state in the clear")
	}

	// The provider logs the user in and redirects back.
	code := op.authorize(authURL)
	cb := "/callback?" + url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {op.issuer()}}.Encode()
	w = do(rp, http.MethodGet, cb, cookie)
	if w.Code != http.StatusOK {
		t.Fatalf("callback status = %d, body:\n%s", w.Code, w.Body)
	}
	body = html.UnescapeString(w.Body.String())
	for _, want := range []string{
		`"sub": "user-123"`,
		`"email": "alice@example.com"`,
		`"groups": [`,
		"at-",                      // access token
		`"name": "Alice Userinfo"`, // userinfo answer
		"present and matches",      // at_hash checked
		op.issuer() + "/logout?",   // logout link
		"id_token_hint=eyJ",        // with the ID token
		"post_logout_redirect_uri=" + url.QueryEscape(testBaseURL+"/"),
	} {
		if !strings.Contains(body, want) {
			t.Errorf("result page lacks %q", want)
		}
	}
	if strings.Contains(body, "rt-1") {
		t.Error("result page shows the refresh token")
	}
	if c := flowCookieFrom(t, w); c.MaxAge >= 0 {
		t.Errorf("flow cookie not cleared after callback: %+v", c)
	}

	// The same callback again fails: the code is single-use at the provider.
	w = do(rp, http.MethodGet, cb, cookie)
	if w.Code == http.StatusOK {
		t.Error("replayed callback succeeded")
	}
}

func TestCallbackRefused(t *testing.T) {
	op := newFakeOP(t)
	rp := newRP(t, op)
	otherRP := newRP(t, op) // different cookie key

	tests := []struct {
		name      string
		query     func(state, code string) url.Values
		cookie    func(c *http.Cookie) *http.Cookie
		badNonce  bool
		status    int
		wantText  string
		exchanges bool // whether the token endpoint may be called
	}{
		{
			name:   "wrong state",
			query:  func(_, code string) url.Values { return url.Values{"code": {code}, "state": {"forged"}} },
			status: http.StatusBadRequest, wantText: "State mismatch",
		},
		{
			name:   "missing state",
			query:  func(_, code string) url.Values { return url.Values{"code": {code}} },
			status: http.StatusBadRequest, wantText: "State mismatch",
		},
		{
			name:   "no cookie",
			query:  func(s, code string) url.Values { return url.Values{"code": {code}, "state": {s}} },
			cookie: func(*http.Cookie) *http.Cookie { return nil },
			status: http.StatusBadRequest, wantText: "no login in progress",
		},
		{
			name:  "cookie sealed by another RP",
			query: func(s, code string) url.Values { return url.Values{"code": {code}, "state": {s}} },
			cookie: func(*http.Cookie) *http.Cookie {
				_, c := startLogin(t, otherRP)
				return c
			},
			status: http.StatusBadRequest, wantText: "could not be read",
		},
		{
			name: "wrong iss",
			query: func(s, code string) url.Values {
				return url.Values{"code": {code}, "state": {s}, "iss": {"https://evil.example"}}
			},
			status: http.StatusBadRequest, wantText: "Wrong issuer",
		},
		{
			name: "provider error",
			query: func(s, _ string) url.Values {
				return url.Values{"error": {"access_denied"}, "error_description": {"The user said <no>"}, "state": {s}}
			},
			status: http.StatusBadRequest, wantText: "access_denied",
		},
		{
			name:     "nonce mismatch",
			query:    func(s, code string) url.Values { return url.Values{"code": {code}, "state": {s}} },
			badNonce: true,
			status:   http.StatusBadGateway, wantText: "nonce", exchanges: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			authURL, cookie := startLogin(t, rp)
			code := op.authorize(authURL)
			if tt.cookie != nil {
				cookie = tt.cookie(cookie)
			}
			if tt.badNonce {
				op.setNonce("some-other-nonce")
				defer op.setNonce("")
			}
			before := op.tokens.Load()
			var cookies []*http.Cookie
			if cookie != nil {
				cookies = append(cookies, cookie)
			}
			w := do(rp, http.MethodGet, "/callback?"+tt.query(authURL.Query().Get("state"), code).Encode(), cookies...)
			if w.Code != tt.status {
				t.Errorf("status = %d, want %d", w.Code, tt.status)
			}
			if body := html.UnescapeString(w.Body.String()); !strings.Contains(body, tt.wantText) {
				t.Errorf("body lacks %q:\n%s", tt.wantText, body)
			}
			if strings.Contains(w.Body.String(), "<no>") {
				t.Error("provider text not escaped")
			}
			if exchanged := op.tokens.Load() != before; exchanged != tt.exchanges {
				t.Errorf("token endpoint called: %v, want %v", exchanged, tt.exchanges)
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	op := newFakeOP(t)
	rp := newRP(t, op)
	tests := []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "", http.StatusFound},
		{http.MethodGet, "/style.css", http.StatusOK},
		{http.MethodGet, "/nope", http.StatusNotFound},
		{http.MethodPost, "/", http.StatusMethodNotAllowed},
		{http.MethodPost, "/callback", http.StatusMethodNotAllowed},
		{http.MethodGet, "/login", http.StatusSeeOther},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/", nil)
			r.URL.Path = tt.path
			w := httptest.NewRecorder()
			rp.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Errorf("status = %d, want %d", w.Code, tt.status)
			}
		})
	}
	// Mounted the way cmd/gatehouse mounts it.
	mux := http.NewServeMux()
	mux.Handle("/example/", http.StripPrefix("/example", rp))
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/example/", nil))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Log in") {
		t.Errorf("mounted GET /example/: status %d", w.Code)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name         string
		opt          Options
		wantErr      bool
		wantRedirect string
	}{
		{"ok", Options{Issuer: "http://127.0.0.1:5556", ClientID: "c", BaseURL: "http://127.0.0.1:5556/example"}, false, "http://127.0.0.1:5556/example/callback"},
		{"trailing slash", Options{Issuer: "http://i", ClientID: "c", BaseURL: "https://h/ex/"}, false, "https://h/ex/callback"},
		{"no issuer", Options{ClientID: "c", BaseURL: "http://h/example"}, true, ""},
		{"no client", Options{Issuer: "http://i", BaseURL: "http://h/example"}, true, ""},
		{"no base", Options{Issuer: "http://i", ClientID: "c"}, true, ""},
		{"relative base", Options{Issuer: "http://i", ClientID: "c", BaseURL: "/example"}, true, ""},
		{"base with query", Options{Issuer: "http://i", ClientID: "c", BaseURL: "http://h/example?x=1"}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp, err := New(tt.opt)
			if (err != nil) != tt.wantErr {
				t.Fatalf("New error = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && rp.RedirectURL() != tt.wantRedirect {
				t.Errorf("RedirectURL = %q, want %q", rp.RedirectURL(), tt.wantRedirect)
			}
		})
	}
}

func TestPublicClientSendsIDInBody(t *testing.T) {
	tests := []struct {
		secret string
		want   oauth2.AuthStyle
	}{
		{"", oauth2.AuthStyleInParams},
		{"s", oauth2.AuthStyleAutoDetect},
	}
	for _, tt := range tests {
		rp, err := New(Options{Issuer: "http://i", ClientID: "c", ClientSecret: tt.secret, BaseURL: "http://h/example"})
		if err != nil {
			t.Fatal(err)
		}
		if got := rp.oauth2Config(&provider{p: new(oidc.Provider)}).Endpoint.AuthStyle; got != tt.want {
			t.Errorf("secret %q: AuthStyle = %v, want %v", tt.secret, got, tt.want)
		}
	}
}

// TestFlowCookieHostPrefix: on https the example RP's flow cookie is __Host- with Path=/,
// whatever the base path.
// Attack (issue 25.3, every cookie Gatehouse sets): "gh_example_flow; Path=/example/" can be
// planted by a sibling subdomain, signing the victim into the example app as the attacker.
func TestFlowCookieHostPrefix(t *testing.T) {
	op := newFakeOP(t)
	for _, tt := range []struct{ base, name, path string }{
		{"https://id.example/example", "__Host-" + flowCookie, "/"},
		{"https://id.example/auth/example/", "__Host-" + flowCookie, "/"},
		{"http://127.0.0.1:5556/example", flowCookie, "/example/"},
	} {
		rp, err := New(Options{Issuer: op.issuer(), ClientID: testClientID, ClientSecret: testClientSecret, BaseURL: tt.base,
			HTTPClient: op.srv.Client(), Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
		if err != nil {
			t.Fatal(err)
		}
		w := do(rp, http.MethodPost, "/login")
		cs := w.Result().Cookies()
		if w.Code != http.StatusSeeOther || len(cs) != 1 {
			t.Fatalf("%s: /login: %d, cookies %q", tt.base, w.Code, w.Header().Values("Set-Cookie"))
		}
		if c := cs[0]; c.Name != tt.name || c.Path != tt.path || c.Domain != "" {
			t.Errorf("%s: cookie %s Path=%q Domain=%q; want %s Path=%q", tt.base, c.Name, c.Path, c.Domain, tt.name, tt.path)
		}
	}
}
