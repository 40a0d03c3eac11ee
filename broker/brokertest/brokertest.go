// Package brokertest is the test harness of the broker and of every package that drives a
// login through it: a Gatehouse built by internal/assembly (the constructor `gatehouse serve`
// uses) on an httptest server with SQLite in a temporary directory, an adjustable clock, and
// a browser that keeps cookies, does not follow redirects by itself and scrapes forms.
package brokertest

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-id/gatehouse/broker"
	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/local"
	"github.com/gatehouse-id/gatehouse/internal/assembly"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/tokens"
)

// baseYAML is the configuration every test server starts from: SQLite, the local connector
// with a cheap bcrypt cost, and no lost-response refresh retry (every reuse of a rotated
// refresh token revokes the family). {{db}} is replaced by the database file.
const baseYAML = `storage: {type: sqlite, config: {file: "{{db}}"}}
expiry:
  refresh_tokens: {reuse_grace: 0s}
connectors:
  - {type: local, id: local, name: Local accounts, config: {cost: 4}}
`

// Options change what New builds; the zero value is the base configuration.
type Options struct {
	// YAML replaces the base configuration (issuer and storage are set by New when empty;
	// {{db}} is replaced by the database file).
	YAML string
	// Config adjusts the parsed configuration (clients, users, connectors, claims rules,
	// lifetimes, MFA, service providers, trusted proxies) before defaults and validation.
	Config func(*config.Config)
	// Dir holds the database (empty: a new temporary directory); two servers on one Dir are
	// two replicas of one Gatehouse (or one before and after a restart).
	Dir string
	// Registry adds (or replaces) connector types; "local" is always there.
	Registry func(users local.UserSource) connectors.Registry
	// Users wraps the local connector's user source.
	Users func(local.UserSource) local.UserSource
	// Slots changes the opened connectors (see assembly.Options.Slots).
	Slots func([]connset.Slot) []connset.Slot
	// Deps changes the broker's dependencies before it is built (see assembly.Options.Deps).
	Deps func(*broker.Deps)
	// Logger receives the log (nil: the test's output with -v, else discarded).
	Logger *slog.Logger
	// Server is an unstarted httptest server to serve on (nil: a new one); New starts it.
	Server *httptest.Server
	// Issuer is the issuer URL when it is not the server's URL (another name for the same
	// listener, so that two Gatehouses on 127.0.0.1 keep separate cookies).
	Issuer string
	// Sealer seals secrets at rest in the test's database (as secrets.keys does for serve;
	// storagetest.TestKeyring makes one); nil: stored in clear.
	Sealer storage.Sealer
}

// Server is a running Gatehouse on an httptest server.
type Server struct {
	// T is the test the server belongs to (failures of the helpers go there).
	T testing.TB
	// HTTP is the listener; Issuer is the issuer URL (its URL unless Options.Issuer).
	HTTP   *httptest.Server
	Issuer string
	// Store, Keys and Gatehouse are what assembly.Build built; Clock is every component's clock.
	Store     storage.Storage
	Keys      *tokens.KeyManager
	Clock     *Clock
	Gatehouse *assembly.Gatehouse
	// UpstreamDown makes the local connector's user lookups fail as an unreachable upstream
	// would; UpstreamDelay (nanoseconds) makes every lookup wait (a slow upstream).
	UpstreamDown  *atomic.Bool
	UpstreamDelay *atomic.Int64
	// UpstreamGate, when held, keeps every lookup waiting until the number it was held for
	// are waiting together (a race whose contenders are all inside the upstream call at
	// once, however slow the machine).
	UpstreamGate *Gate
}

// Gate is a barrier for the local connector's user lookups; its zero value is open.
type Gate struct {
	mu      sync.Mutex
	want    int
	waiting int
	open    chan struct{}
}

// Hold makes the next lookups wait until n of them are waiting (or a minute passed: a
// bounded wait, so a test that miscounts fails instead of hanging).
func (g *Gate) Hold(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.want, g.waiting, g.open = n, 0, make(chan struct{})
}

// Release opens the gate for good.
func (g *Gate) Release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.openLocked()
}

func (g *Gate) openLocked() {
	if g.want > 0 {
		close(g.open)
	}
	g.want = 0
}

// pass waits at the gate while it is held.
func (g *Gate) pass() {
	g.mu.Lock()
	if g.want == 0 {
		g.mu.Unlock()
		return
	}
	open := g.open
	if g.waiting++; g.waiting >= g.want {
		g.openLocked()
	}
	g.mu.Unlock()
	select {
	case <-open:
	case <-time.After(time.Minute):
	}
}

// New builds and starts a Gatehouse as o says; it stops when the test ends.
func New(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
		if testing.Verbose() {
			logger = slog.New(slog.NewTextHandler(t.Output(), nil))
		}
	}
	srv := o.Server
	if srv == nil {
		srv = httptest.NewUnstartedServer(nil)
	}
	srv.Start()
	s := &Server{T: t, HTTP: srv, Issuer: srv.URL, Clock: &Clock{}, UpstreamDown: new(atomic.Bool), UpstreamDelay: new(atomic.Int64), UpstreamGate: new(Gate)}
	if o.Issuer != "" {
		s.Issuer = o.Issuer
	}
	cfg, err := s.config(o)
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	var store storage.Storage // nil: Build opens the configured one, Close closes it
	if o.Sealer != nil {
		if store, err = assembly.OpenSealedStorage(context.Background(), cfg.Storage, o.Sealer, logger); err != nil {
			srv.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() }) //nolint:errcheck // the test is over; runs after gh.Close
	}
	gh, err := assembly.Build(context.Background(), cfg, assembly.Options{
		Store:    store,
		Registry: func(users local.UserSource) connectors.Registry { return registry(users, o.Registry) },
		Logger:   logger, Now: s.Clock.Now, Filename: "brokertest.yaml", Slots: o.Slots, Deps: o.Deps,
		Users: func(u local.UserSource) local.UserSource {
			var us local.UserSource = faultyUsers{UserSource: u, down: s.UpstreamDown, delay: s.UpstreamDelay, gate: s.UpstreamGate}
			if o.Users != nil {
				us = o.Users(us)
			}
			return us
		},
	})
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { gh.Close() }) //nolint:errcheck // the test is over
	t.Cleanup(srv.Close)             // runs first: no request reaches a closed store
	s.Gatehouse, s.Store, s.Keys = gh, gh.Store, gh.Keys
	srv.Config.Handler = gh.Server.Handler()
	return s
}

// config parses the base (or o.YAML) configuration through the config loader, applies
// o.Config, the defaults and validation.
func (s *Server) config(o Options) (*config.Config, error) {
	src := o.YAML
	if src == "" {
		src = baseYAML
	}
	src = strings.ReplaceAll(src, "{{db}}", filepath.Join(o.Dir, "gh.db"))
	cfg, err := config.Parse([]byte(src), "brokertest.yaml", func(string) string { return "" })
	if err != nil {
		return nil, err
	}
	if cfg.Issuer == "" {
		cfg.Issuer = s.Issuer
	}
	if o.Config != nil {
		o.Config(cfg)
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// registry is the local connector type plus the test's own types.
func registry(users local.UserSource, extra func(local.UserSource) connectors.Registry) connectors.Registry {
	reg := connectors.Registry{"local": func() connectors.Config { return &local.Config{Users: users} }}
	if extra != nil {
		for name, f := range extra(users) {
			reg[name] = f
		}
	}
	return reg
}

// Opened is a connectors.Config whose Open returns Conn (and Err): a registry entry for a
// connector a test built itself. Register it as `"name": brokertest.Opened(conn, nil)`.
func Opened(conn connectors.Connector, err error) func() connectors.Config {
	return func() connectors.Config { return &openedConfig{conn: conn, err: err} }
}

type openedConfig struct {
	conn connectors.Connector
	err  error
}

// Validate implements connectors.Config.
func (*openedConfig) Validate() error { return nil }

// Open implements connectors.Config: it returns the connector given to Opened.
func (c *openedConfig) Open(context.Context, connectors.Info, connectors.Deps) (connectors.Connector, error) {
	return c.conn, c.err
}

// Clock is an adjustable test clock shared by every component.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now is the real time plus every Advance so far.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// faultyUsers is the local connector's user source with an outage and a delay switch.
type faultyUsers struct {
	local.UserSource
	down  *atomic.Bool
	delay *atomic.Int64
	gate  *Gate
}

// LookupUser implements local.UserSource; while down it fails as an unreachable upstream
// would (a temporary error, not "no such user").
func (u faultyUsers) LookupUser(ctx context.Context, name string) (local.User, error) {
	u.gate.pass()
	time.Sleep(time.Duration(u.delay.Load()))
	if u.down.Load() {
		return local.User{}, errors.New("user store unreachable (test)")
	}
	return u.UserSource.LookupUser(ctx, name)
}

// LookupUserByEmail implements local.UserSource, with the same outage and delay.
func (u faultyUsers) LookupUserByEmail(ctx context.Context, email string) (local.User, error) {
	u.gate.pass()
	time.Sleep(time.Duration(u.delay.Load()))
	if u.down.Load() {
		return local.User{}, errors.New("user store unreachable (test)")
	}
	return u.UserSource.LookupUserByEmail(ctx, email)
}

// ReplacePasswordHash implements local.PasswordRehasher when the wrapped source does.
func (u faultyUsers) ReplacePasswordHash(ctx context.Context, username, oldHash, newHash string) error {
	r, ok := u.UserSource.(local.PasswordRehasher)
	if !ok {
		return errors.ErrUnsupported
	}
	return r.ReplacePasswordHash(ctx, username, oldHash, newHash)
}

// Connector parses one connector block written in YAML (as under `connectors:` in a
// configuration file), for Options.Config to append; a syntax error fails the test.
func Connector(t testing.TB, block string) config.ConnectorBlock {
	t.Helper()
	var b config.ConnectorBlock
	if err := yaml.Unmarshal([]byte(block), &b); err != nil {
		t.Fatalf("connector block: %v", err)
	}
	return b
}
