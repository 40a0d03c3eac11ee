package broker_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-id/gatehouse/broker"
	"github.com/gatehouse-id/gatehouse/broker/brokertest"
	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/claims"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/local"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/tokens"
)

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

// env is a running broker built by brokertest (the constructor serve uses) with the
// harness's clients and the local user alice.
type env struct {
	*brokertest.Server
	t      testing.TB
	srv    *httptest.Server
	issuer string
	store  storage.Storage
	clock  *brokertest.Clock
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
// the one the configuration gives).
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
	// config adjusts the configuration after the harness's clients and users are in it.
	config func(*config.Config)
	// registry adds connector types.
	registry connectors.Registry
	// logger receives the log (nil: brokertest's default).
	logger *slog.Logger
	// sealer seals secrets at rest (nil: stored in clear).
	sealer storage.Sealer
}

// aliceHash is alice's password at bcrypt's minimum cost, computed once.
var aliceHash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte(alicePassword), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

// harnessConfig puts the harness's clients and user alice in cfg.
func harnessConfig(cfg *config.Config, alg string, trusted []netip.Prefix) {
	cfg.Signing.Algorithm = alg
	for _, p := range trusted {
		cfg.Web.TrustedProxies = append(cfg.Web.TrustedProxies, p.String())
	}
	cfg.Users = append(cfg.Users, config.User{Username: "alice", Email: "alice@example.com", EmailVerified: true,
		Name: "Alice Example", Groups: []string{"admins", "staff"}, PasswordHash: aliceHash})
	cfg.Clients = append(cfg.Clients,
		config.Client{ID: confidentialID, Secret: confidentialSecret, Name: "Web App", RedirectURIs: []string{redirectURI}, PostLogoutRedirectURIs: []string{postLogoutURI}},
		config.Client{ID: publicID, Name: "SPA", Public: true, RedirectURIs: []string{"http://127.0.0.1/cb", "com.example.app:/callback"}},
		config.Client{ID: otherID, Secret: otherSecret, Name: "Other App", RedirectURIs: []string{otherRedirect}},
		config.Client{ID: trustedID, Secret: trustedSecret, Name: "Trusted App", Trusted: true, RedirectURIs: []string{otherRedirect}},
	)
}

// newEnvOpts is newEnv built as o says.
func newEnvOpts(t testing.TB, o envOpts) *env {
	t.Helper()
	if o.alg == "" {
		o.alg = "RS256"
	}
	s := brokertest.New(t, brokertest.Options{
		Dir: o.dir, Users: o.users, Slots: o.connectors, Logger: o.logger, Sealer: o.sealer,
		Config: func(cfg *config.Config) {
			harnessConfig(cfg, o.alg, o.trusted)
			if o.config != nil {
				o.config(cfg)
			}
		},
		Registry: func(local.UserSource) connectors.Registry { return o.registry },
		Deps: func(d *broker.Deps) {
			if o.claims != nil {
				d.Claims = o.claims(t, d.Storage, d.Now)
			}
			for _, f := range o.deps {
				f(d)
			}
		},
	})
	return envOf(t, s)
}

// envOf is the harness's view of a brokertest server.
func envOf(t testing.TB, s *brokertest.Server) *env {
	return &env{Server: s, t: t, srv: s.HTTP, issuer: s.Issuer, store: s.Store, clock: s.Clock, keys: s.Keys,
		upstreamDown: s.UpstreamDown, upstreamDelay: s.UpstreamDelay}
}

// browser is a cookie-keeping HTTP client that never follows redirects by itself.
type browser struct {
	*brokertest.Browser
	t testing.TB
	c *http.Client
}

func (e *env) browser() *browser {
	b := e.Browser()
	return &browser{Browser: b, t: e.t, c: b.Client}
}

type page struct {
	status   int
	location string
	body     string
	header   http.Header
}

func pageOf(p brokertest.Page) page {
	return page{status: p.Status, location: p.Location, body: p.Body, header: p.Header}
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	return pageOf(b.Do(req))
}

func (b *browser) get(u string) page {
	b.t.Helper()
	return pageOf(b.Get(u))
}

func (b *browser) post(u string, form url.Values) page {
	b.t.Helper()
	return pageOf(b.Post(u, form))
}

// follow follows redirects within the issuer until a page, or a redirect elsewhere.
func (b *browser) follow(e *env, p page, base string) (page, string) {
	b.t.Helper()
	b.Issuer = e.issuer
	next, at := b.Follow(brokertest.Page{Status: p.status, Location: p.location, Body: p.body, Header: p.header}, base)
	return pageOf(next), at
}

// form extracts the first form's action and hidden fields.
func form(t testing.TB, body string) (string, url.Values) {
	t.Helper()
	return brokertest.Form(t, body)
}

// pkce returns a verifier and its S256 challenge.
func pkce(verifier string) (string, string) { return brokertest.PKCE(verifier) }

// login drives an authorization request through login (as alice) and consent and returns
// the final redirect URL (to the client).
func (e *env) login(b *browser, authURL, password string, consent bool) string {
	e.t.Helper()
	return e.Login(b.Browser, authURL, "alice", password, consent)
}

// hiddenRe matches a hidden form field (name, value).
var hiddenRe = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
