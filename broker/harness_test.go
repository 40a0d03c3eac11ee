package broker_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-id/gatehouse/broker"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/claims"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/local"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
	"github.com/gatehouse-id/gatehouse/tokens"
	"github.com/gatehouse-id/gatehouse/web"
)

// clock is an adjustable test clock shared by every component.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

const (
	confidentialID     = "webapp"
	confidentialSecret = "webapp-secret-0123456789"
	publicID           = "spa"
	otherID            = "other"
	otherSecret        = "other-secret-0123456789"
	trustedID          = "trusted"
	trustedSecret      = "trusted-secret-0123456789"
	redirectURI        = "http://127.0.0.1:9999/callback"
	otherRedirect      = "http://127.0.0.1:9998/cb"
	postLogoutURI      = "http://127.0.0.1:9999/bye"
	alicePassword      = "correct horse battery staple"
)

// userSource is the local connector's user store over the test's storage. While down is
// set it fails as an unreachable upstream would (a temporary error, not "no such user").
type userSource struct {
	store storage.LocalUserStore
	down  *atomic.Bool
	delay *atomic.Int64 // nanoseconds every lookup waits (a slow upstream)
}

func (u userSource) LookupUser(ctx context.Context, name string) (local.User, error) {
	if u.delay != nil {
		time.Sleep(time.Duration(u.delay.Load()))
	}
	if u.down != nil && u.down.Load() {
		return local.User{}, errors.New("user store unreachable (test)")
	}
	lu, err := u.store.GetLocalUser(ctx, name)
	if err != nil {
		return local.User{}, local.ErrUserNotFound
	}
	return local.User{Username: lu.Username, Email: lu.Email, Name: lu.Name, PasswordHash: lu.PasswordHash, EmailVerified: lu.EmailVerified, Groups: lu.Groups}, nil
}

// env is a running broker on an httptest server with SQLite storage and the local connector.
type env struct {
	t      testing.TB
	srv    *httptest.Server
	issuer string
	store  storage.Storage
	clock  *clock
	keys   *tokens.KeyManager
	// upstreamDown makes the local connector's user lookups fail (an upstream outage);
	// upstreamDelay (ns) makes them slow.
	upstreamDown  *atomic.Bool
	upstreamDelay *atomic.Int64
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvAlg(t, "RS256")
}

// newEnvAlg is newEnv with the given signing algorithm (RS256, ES256, EdDSA).
func newEnvAlg(t testing.TB, alg string) *env {
	t.Helper()
	return newEnvClaims(t, alg, nil)
}

// newEnvClaims is newEnvAlg with the claims Normalizer that mk builds over the store (nil:
// the default Normalizer).
func newEnvClaims(t testing.TB, alg string, mk func(testing.TB, storage.Storage, func() time.Time) *claims.Normalizer, opts ...func(*broker.Deps)) *env {
	t.Helper()
	return newEnvOpts(t, envOpts{alg: alg, claims: mk, deps: opts})
}

// envOpts changes what newEnvOpts builds; the zero value is newEnv's broker with RS256.
type envOpts struct {
	alg    string
	claims func(testing.TB, storage.Storage, func() time.Time) *claims.Normalizer
	// deps change the broker's dependencies before it is built.
	deps []func(*broker.Deps)
	// users wraps the local connector's user source (nil: the store's users as they are).
	users func(local.UserSource) local.UserSource
	// trusted are the proxies whose X-Forwarded-For names the client.
	trusted []netip.Prefix
	// dir holds the database (empty: a new temporary directory); two envs on one dir are
	// two replicas of one server (or one server before and after a restart).
	dir string
	// connectors changes the broker's connectors (nil: the local connector).
	connectors func([]connset.Slot) []connset.Slot
}

// newEnvOpts is newEnv built as o says.
func newEnvOpts(t testing.TB, o envOpts) *env {
	t.Helper()
	alg, mk, opts := o.alg, o.claims, o.deps
	if alg == "" {
		alg = "RS256"
	}
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	store, err := sqlite.Open(ctx, filepath.Join(o.dir, "gh.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	hash, err := bcrypt.GenerateFromPassword([]byte(alicePassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := store.UpsertLocalUser(ctx, storage.LocalUser{Username: "alice", Email: "alice@example.com", EmailVerified: true, Name: "Alice Example", Groups: []string{"admins", "staff"}, PasswordHash: string(hash), CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	clk := &clock{}
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	t.Cleanup(srv.Close)
	issuer := srv.URL
	keys := tokens.NewKeyManager(store, tokens.KeyOptions{Algorithm: alg, MaxTokenLifetime: time.Hour, Now: clk.Now, Logger: logger})
	if err := keys.Init(ctx); err != nil {
		t.Fatal(err)
	}
	down, delay := new(atomic.Bool), new(atomic.Int64)
	var users local.UserSource = userSource{store: store, down: down, delay: delay}
	if o.users != nil {
		users = o.users(users)
	}
	lc := &local.Config{Users: users, Cost: bcrypt.MinCost}
	conn, err := lc.Open(ctx, connectors.Info{ID: "local", Type: "local", Name: "Local accounts"}, connectors.Deps{Logger: logger, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := clients.NewRegistry([]clients.Client{
		clients.New(clients.Client{ID: confidentialID, Name: "Web App", RedirectURIs: []string{redirectURI}, PostLogoutRedirectURIs: []string{postLogoutURI}}, confidentialSecret),
		clients.New(clients.Client{ID: publicID, Name: "SPA", Public: true, RedirectURIs: []string{"http://127.0.0.1/cb", "com.example.app:/callback"}}, ""),
		clients.New(clients.Client{ID: otherID, Name: "Other App", RedirectURIs: []string{otherRedirect}}, otherSecret),
		clients.New(clients.Client{ID: trustedID, Name: "Trusted App", Trusted: true, RedirectURIs: []string{otherRedirect}}, trustedSecret),
	})
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := web.Load("")
	if err != nil {
		t.Fatal(err)
	}
	conns := []connset.Slot{{Info: conn.Info(), Conn: conn}}
	if o.connectors != nil {
		conns = o.connectors(conns)
	}
	norm := &claims.Normalizer{Links: store, Now: clk.Now}
	if mk != nil {
		norm = mk(t, store, clk.Now)
	}
	deps := broker.Deps{
		Issuer: issuer, Storage: store, Keys: keys, Minter: &tokens.Minter{Issuer: issuer, Keys: keys, Now: clk.Now},
		Sessions: &session.Manager{Store: store, Idle: time.Hour, Absolute: 24 * time.Hour, Now: clk.Now},
		Claims:   norm, Clients: reg,
		Connectors: conns, Templates: tmpl, Logger: logger, Now: clk.Now,
		Lifetimes: broker.Lifetimes{IDToken: time.Hour, AccessToken: time.Hour, AuthCode: time.Minute, AuthRequest: 30 * time.Minute,
			RefreshAbsolute: 720 * time.Hour, RefreshIdle: 168 * time.Hour},
		TrustedProxies: o.trusted,
	}
	for _, o := range opts {
		o(&deps)
	}
	b, err := broker.New(deps)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = b.Handler()
	return &env{t: t, srv: srv, issuer: issuer, store: store, clock: clk, keys: keys, upstreamDown: down, upstreamDelay: delay}
}

// browser is a cookie-keeping HTTP client that never follows redirects by itself.
type browser struct {
	t testing.TB
	c *http.Client
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, c: &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type page struct {
	status   int
	location string
	body     string
	header   http.Header
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(body), header: resp.Header}
}

func (b *browser) get(u string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// follow follows redirects within the issuer until a page, or a redirect elsewhere.
func (b *browser) follow(e *env, p page, base string) (page, string) {
	b.t.Helper()
	for i := 0; i < 10 && p.status >= 300 && p.status < 400; i++ {
		u, err := url.Parse(base)
		if err != nil {
			b.t.Fatal(err)
		}
		next, err := u.Parse(p.location)
		if err != nil {
			b.t.Fatal(err)
		}
		if !strings.HasPrefix(next.String(), e.issuer) {
			return p, next.String()
		}
		base = next.String()
		p = b.get(base)
	}
	return p, base
}

var (
	formRe   = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)"[^>]*>(.*?)</form>`)
	hiddenRe = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// form extracts the first form's action and hidden fields.
func form(t testing.TB, body string) (string, url.Values) {
	t.Helper()
	m := formRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no form in page:\n%s", body)
	}
	vals := url.Values{}
	for _, h := range hiddenRe.FindAllStringSubmatch(m[2], -1) {
		vals.Set(h[1], html.UnescapeString(h[2]))
	}
	return html.UnescapeString(m[1]), vals
}

// pkce returns a verifier and its S256 challenge.
func pkce(verifier string) (string, string) {
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// login drives an authorization request through login and consent and returns the final
// redirect URL (to the client).
func (e *env) login(b *browser, authURL, password string, consent bool) string {
	e.t.Helper()
	p, at := b.follow(e, b.get(authURL), authURL)
	if strings.Contains(p.body, `name="password"`) {
		action, vals := form(e.t, p.body)
		vals.Set("username", "alice")
		vals.Set("password", password)
		p, at = b.follow(e, b.post(e.issuer+action, vals), e.issuer+action)
	}
	if p.status >= 300 && p.status < 400 {
		return at
	}
	if !strings.Contains(p.body, `value="allow"`) {
		e.t.Fatalf("expected consent page, got %d:\n%s", p.status, p.body)
	}
	action, vals := form(e.t, p.body)
	if consent {
		vals.Set("decision", "allow")
	} else {
		vals.Set("decision", "deny")
	}
	p, at = b.follow(e, b.post(e.issuer+action, vals), e.issuer+action)
	if p.status < 300 || p.status >= 400 {
		e.t.Fatalf("expected redirect to the client after consent, got %d:\n%s", p.status, p.body)
	}
	return at
}
