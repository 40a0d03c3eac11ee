package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Scenario names.
const (
	Discovery  = "discovery"
	JWKS       = "jwks"
	Userinfo   = "userinfo"
	Introspect = "introspect"
	Refresh    = "refresh"
	CodeFlow   = "codeflow"
	// ClientCredentials issues client_credentials tokens (the client must be allowed the
	// grant); its result also carries the CPU time of one ES256 signature measured in this
	// process, to set the server's CPU per token beside. Not part of All (it needs a machine
	// client, the others a browser client).
	ClientCredentials = "client_credentials"
	// ForwardAuth is a signed-in forward-auth check (GET /forward-auth as a proxy asks it),
	// reported beside the CPU time of one ES256 signature measured in this process in the
	// same run (and, under All, an RS256 reference row).
	ForwardAuth = "forwardauth"
	// All runs every scenario in turn, in the order of Scenarios.
	All = "all"
)

// Scenarios lists the individual scenarios: All runs them in this order, except
// ClientCredentials (it needs a machine client) and ForwardAuth without an app URL.
func Scenarios() []string {
	return []string{Discovery, JWKS, Userinfo, Introspect, Refresh, CodeFlow, ForwardAuth, ClientCredentials}
}

// DefaultScope is requested by every login.
const DefaultScope = "openid profile email groups offline_access"

// Config configures a Generator.
type Config struct {
	// Issuer is the provider's issuer URL; its metadata is read from
	// Issuer + "/.well-known/openid-configuration".
	Issuer string
	// ClientID, ClientSecret and RedirectURI name a registered client; the secret is sent
	// with client_secret_basic (empty: a public client). Needed by every scenario but
	// discovery and jwks.
	ClientID, ClientSecret, RedirectURI string
	// Username and Password log in through the provider's password form.
	Username, Password string
	// Scope is requested by every login; empty means DefaultScope.
	Scope string
	// Concurrency is the number of workers (default 8).
	Concurrency int
	// Duration and Requests bound each scenario: it stops after Duration, or once Requests
	// operations were started, whichever comes first. At least one must be set.
	Duration time.Duration
	Requests int64
	// PID, when non-zero, is the server's process: its CPU time and RSS are read from /proc.
	PID int
	// AllowRemote permits an issuer that is not on a loopback address. Without it every
	// dialled address must be a loopback address.
	AllowRemote bool
	// Timeout bounds each HTTP request (default 30s).
	Timeout time.Duration
	// AppURL is a protected app's URL for the forwardauth scenario: the generator signs in
	// once through {issuer}/forward-auth/start and then asks {issuer}/forward-auth about it.
	AppURL string
	// Logger receives progress messages (nil: discarded).
	Logger *slog.Logger
}

// Generator runs scenarios against one provider. Create it with New.
type Generator struct {
	cfg         Config
	transport   *http.Transport
	client      *http.Client
	issuerURL   *url.URL
	redirectURL *url.URL
	meta        metadata
	logger      *slog.Logger

	once  sync.Once
	setup Tokens
	serr  error
}

// ErrNotLoopback is returned for an issuer or a dialled address off this machine when
// Config.AllowRemote is false.
var ErrNotLoopback = errors.New("not a loopback address (load is only driven against this machine; --allow-remote overrides)")

// CheckLoopback reports whether the issuer's host is a loopback address: a literal loopback
// IP, "localhost", or a name that resolves only to loopback addresses.
func CheckLoopback(ctx context.Context, issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("issuer %q is not an http(s) URL", issuer)
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if !ip.Unmap().IsLoopback() {
			return fmt.Errorf("issuer host %s: %w", host, ErrNotLoopback)
		}
		return nil
	}
	if isLocalhostName(host) {
		return nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("issuer host %s: %w", host, err)
	}
	for _, ip := range ips {
		if !ip.Unmap().IsLoopback() {
			return fmt.Errorf("issuer host %s resolves to %s: %w", host, ip, ErrNotLoopback)
		}
	}
	return nil
}

// loopbackOnly is a net.Dialer Control function that refuses non-loopback addresses.
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, err)
	}
	if !ap.Addr().Unmap().IsLoopback() {
		return fmt.Errorf("dial %s: %w", address, ErrNotLoopback)
	}
	return nil
}

// New checks the configuration (including the loopback rule) and reads the provider's
// metadata. It logs in only when a scenario needs tokens.
func New(ctx context.Context, cfg Config) (*Generator, error) {
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 8
	}
	if cfg.Concurrency < 1 || cfg.Concurrency > 4096 {
		return nil, fmt.Errorf("concurrency %d is out of range 1..4096", cfg.Concurrency)
	}
	if cfg.Duration <= 0 && cfg.Requests <= 0 {
		return nil, errors.New("set a duration or a number of requests")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Scope == "" {
		cfg.Scope = DefaultScope
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	issuerURL, err := url.Parse(cfg.Issuer)
	if err != nil || issuerURL.Host == "" {
		return nil, fmt.Errorf("issuer %q is not an absolute URL", cfg.Issuer)
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !cfg.AllowRemote {
		if err := CheckLoopback(ctx, cfg.Issuer); err != nil {
			return nil, err
		}
		dialer.Control = loopbackOnly
	}
	redirectURL, err := url.Parse(cfg.RedirectURI)
	if err != nil {
		return nil, fmt.Errorf("redirect URI %q: %w", cfg.RedirectURI, err)
	}
	if cfg.PID != 0 {
		if _, err := ProcCPU(cfg.PID); err != nil {
			return nil, err
		}
	}
	tr := &http.Transport{
		Proxy:               nil, // never through a proxy: the load goes to the server itself
		DialContext:         localhostDialer(dialer),
		MaxIdleConns:        2 * cfg.Concurrency,
		MaxIdleConnsPerHost: cfg.Concurrency,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	g := &Generator{
		cfg: cfg, transport: tr, issuerURL: issuerURL, redirectURL: redirectURL, logger: logger,
		client: &http.Client{Transport: tr, Timeout: cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
	if err := g.discover(ctx); err != nil {
		return nil, err
	}
	return g, nil
}

// Close releases idle connections.
func (g *Generator) Close() { g.transport.CloseIdleConnections() }

func (g *Generator) discover(ctx context.Context) error {
	u := strings.TrimSuffix(g.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	body, err := readBody(resp)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("discovery %s: status %d", u, resp.StatusCode)
	}
	if err := json.Unmarshal(body, &g.meta); err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	if g.meta.Issuer != g.cfg.Issuer {
		return fmt.Errorf("discovery: issuer is %q, expected %q", g.meta.Issuer, g.cfg.Issuer)
	}
	// Every endpoint must be on the issuer's host: the loopback rule covers them too.
	for _, e := range []string{g.meta.AuthorizationEndpoint, g.meta.TokenEndpoint, g.meta.JWKSURI, g.meta.UserinfoEndpoint, g.meta.IntrospectionEndpoint} {
		if e == "" {
			continue
		}
		eu, err := url.Parse(e)
		if err != nil || eu.Host != g.issuerURL.Host {
			return fmt.Errorf("discovery: endpoint %q is not on the issuer's host", e)
		}
	}
	return nil
}

// Login runs one full browser login and code exchange (exported for tests and tools).
func (g *Generator) Login(ctx context.Context) (Tokens, error) {
	if g.cfg.ClientID == "" || g.cfg.RedirectURI == "" || g.cfg.Username == "" || g.cfg.Password == "" {
		return Tokens{}, errors.New("this scenario needs --client-id, --redirect-uri, --username and --password")
	}
	if g.meta.AuthorizationEndpoint == "" || g.meta.TokenEndpoint == "" {
		return Tokens{}, errors.New("the provider's metadata has no authorization or token endpoint")
	}
	return g.login(ctx, g.cfg.Scope)
}

// setupTokens logs in once, on first use, for the scenarios that need an access token.
func (g *Generator) setupTokens(ctx context.Context) (Tokens, error) {
	g.once.Do(func() {
		g.logger.Info("logging in once for the token scenarios", "user", g.cfg.Username, "client", g.cfg.ClientID)
		g.setup, g.serr = g.Login(ctx)
		if g.serr != nil {
			g.serr = fmt.Errorf("setup login: %w", g.serr)
		}
	})
	return g.setup, g.serr
}

// op is one unit of load; it reports failure as an error.
type op func(ctx context.Context) error

// Run runs one scenario (not All) and returns its result. A scenario whose setup fails
// returns an error; failures under load are counted in the result.
func (g *Generator) Run(ctx context.Context, scenario string) (Result, error) {
	workers := make([]op, g.cfg.Concurrency)
	for i := range workers {
		w, err := g.worker(ctx, scenario, i)
		if err != nil {
			return Result{}, fmt.Errorf("%s: %w", scenario, err)
		}
		workers[i] = w
	}
	var sign time.Duration
	if scenario == ClientCredentials || scenario == ForwardAuth {
		// Before the load, while this process does nothing else: the floor the server's CPU
		// per request is compared with.
		var err error
		if sign, err = MeasureES256Sign(1000); err != nil {
			return Result{}, err
		}
	}
	g.logger.Info("running", "scenario", scenario, "concurrency", g.cfg.Concurrency, "duration", g.cfg.Duration, "requests", g.cfg.Requests)
	res, err := g.drive(ctx, scenario, workers)
	res.SignCPU = sign
	return res, err
}

// RunAll runs the named scenario, or every scenario in turn for All.
func (g *Generator) RunAll(ctx context.Context, scenario string) ([]Result, error) {
	names := []string{scenario}
	if scenario == All {
		names = slices.DeleteFunc(Scenarios(), func(n string) bool { return n == ClientCredentials })
	}
	var out []Result
	for _, n := range names {
		if n == ForwardAuth && scenario == All && g.cfg.AppURL == "" {
			continue // all runs it only when an app is named
		}
		r, err := g.Run(ctx, n)
		if err != nil {
			return out, err
		}
		out = append(out, r)
		if n == ForwardAuth {
			out = append(out, SignatureReference(signatureRounds))
		}
	}
	return out, nil
}

// worker prepares worker i of a scenario.
func (g *Generator) worker(ctx context.Context, scenario string, i int) (op, error) {
	switch scenario {
	case Discovery:
		return g.getOp(strings.TrimSuffix(g.cfg.Issuer, "/")+"/.well-known/openid-configuration", "", nil), nil
	case JWKS:
		if g.meta.JWKSURI == "" {
			return nil, errors.New("the provider publishes no jwks_uri")
		}
		return g.getOp(g.meta.JWKSURI, "", []byte(`"keys"`)), nil
	case Userinfo:
		if g.meta.UserinfoEndpoint == "" {
			return nil, errors.New("the provider has no userinfo_endpoint")
		}
		t, err := g.setupTokens(ctx)
		if err != nil {
			return nil, err
		}
		return g.getOp(g.meta.UserinfoEndpoint, t.AccessToken, []byte(`"sub"`)), nil
	case Introspect:
		if g.meta.IntrospectionEndpoint == "" {
			return nil, errors.New("the provider has no introspection_endpoint")
		}
		if g.cfg.ClientSecret == "" {
			return nil, errors.New("introspection needs a confidential client (--client-secret)")
		}
		t, err := g.setupTokens(ctx)
		if err != nil {
			return nil, err
		}
		return g.introspectOp(t.AccessToken), nil
	case Refresh:
		// Refresh tokens rotate, so every worker needs a chain of its own.
		if i == 0 {
			g.logger.Info("logging in once per worker for refresh chains", "workers", g.cfg.Concurrency)
		}
		t, err := g.Login(ctx)
		if err != nil {
			return nil, fmt.Errorf("login for worker %d: %w", i, err)
		}
		if t.RefreshToken == "" {
			return nil, errors.New("no refresh token issued (does the client get offline_access?)")
		}
		return g.refreshOp(t.RefreshToken), nil
	case ClientCredentials:
		if g.cfg.ClientSecret == "" {
			return nil, errors.New("client_credentials needs a confidential client (--client-secret)")
		}
		return g.clientCredentialsOp(), nil
	case ForwardAuth:
		return g.forwardAuthOp(ctx, i)
	case CodeFlow:
		if _, err := g.setupTokens(ctx); err != nil { // also records consent once
			return nil, err
		}
		return func(ctx context.Context) error {
			_, err := g.Login(ctx)
			return err
		}, nil
	}
	return nil, fmt.Errorf("unknown scenario %q (one of %s, all)", scenario, strings.Join(Scenarios(), ", "))
}

// getOp GETs u (with a bearer token when given) and expects 200 and, if set, want in the body.
func (g *Generator) getOp(u, bearer string, want []byte) op {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		return g.expect(req, want)
	}
}

func (g *Generator) introspectOp(token string) op {
	body := url.Values{"token": {token}}.Encode()
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.meta.IntrospectionEndpoint, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		g.clientAuth(req)
		return g.expect(req, []byte(`"active":true`))
	}
}

// clientCredentialsOp asks for a client_credentials access token.
func (g *Generator) clientCredentialsOp() op {
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.meta.TokenEndpoint, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		g.clientAuth(req)
		return g.expect(req, []byte(`"access_token"`))
	}
}

// refreshOp rotates a chain of refresh tokens: each call spends the previous token. A worker
// runs its op sequentially, so the chain needs no lock. After a failure the chain may be
// broken, so the next call logs in again for a new one.
func (g *Generator) refreshOp(first string) op {
	current := first
	return func(ctx context.Context) error {
		if current == "" {
			t, err := g.Login(ctx)
			if err != nil {
				return fmt.Errorf("new refresh chain: %w", err)
			}
			current = t.RefreshToken
		}
		t, err := g.token(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {current}})
		current = t.RefreshToken
		if err != nil {
			return err
		}
		if current == "" {
			return errors.New("refresh: no new refresh token")
		}
		return nil
	}
}

// expect sends req and checks for 200 and want in the body.
func (g *Generator) expect(req *http.Request, want []byte) error {
	resp, err := g.client.Do(req)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := readBody(resp) //nolint:errcheck // the status already says what failed; the body is a hint
		return fmt.Errorf("%s %s: status %d: %s", req.Method, req.URL.Path, resp.StatusCode, snippet(body))
	}
	if want == nil {
		drain(resp)
		return nil
	}
	body, err := readBody(resp)
	if err != nil {
		return err
	}
	if !bytes.Contains(body, want) {
		return fmt.Errorf("%s %s: response lacks %s: %s", req.Method, req.URL.Path, want, snippet(body))
	}
	return nil
}

// drive runs the workers until the duration or request budget is spent, measuring latency
// and the server's CPU time around the whole run.
func (g *Generator) drive(ctx context.Context, scenario string, workers []op) (Result, error) {
	res := Result{Scenario: scenario, Concurrency: len(workers)}
	var cpu0 time.Duration
	if g.cfg.PID != 0 {
		var err error
		if cpu0, err = ProcCPU(g.cfg.PID); err != nil {
			return res, err
		}
	}
	var (
		started  atomic.Int64
		errCount atomic.Int64
		firstErr atomic.Pointer[string]
		wg       sync.WaitGroup
	)
	samples := make([][]time.Duration, len(workers))
	start := time.Now()
	var deadline time.Time
	if g.cfg.Duration > 0 {
		deadline = start.Add(g.cfg.Duration)
	}
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				t0 := time.Now()
				if !deadline.IsZero() && !t0.Before(deadline) {
					return
				}
				if g.cfg.Requests > 0 && started.Add(1) > g.cfg.Requests {
					return
				}
				err := w(ctx)
				if err != nil {
					if ctx.Err() != nil {
						return // interrupted: not the server's failure
					}
					errCount.Add(1)
					msg := err.Error()
					firstErr.CompareAndSwap(nil, &msg)
					continue
				}
				samples[i] = append(samples[i], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	if g.cfg.PID != 0 {
		cpu1, err := ProcCPU(g.cfg.PID)
		if err != nil {
			return res, err
		}
		res.ServerCPU = cpu1 - cpu0
		if res.ServerRSS, err = ProcRSS(g.cfg.PID); err != nil {
			return res, err
		}
	}
	var all []time.Duration
	for _, s := range samples {
		all = append(all, s...)
	}
	res.Errors = errCount.Load()
	res.Requests = int64(len(all)) + res.Errors
	if p := firstErr.Load(); p != nil {
		res.FirstError = *p
	}
	summarize(&res, all)
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("%s interrupted: %w", scenario, err)
	}
	return res, nil
}

// WriteTable writes results as an aligned text table.
func WriteTable(w io.Writer, results []Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%-18s %9s %7s %10s %9s %9s %9s %9s %12s %9s\n",
		"scenario", "requests", "errors", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "cpu ms/req", "rss MB")
	for _, r := range results {
		cpu, rss := "-", "-"
		if r.ServerRSS != 0 || r.CPUPerRequest > 0 { // the reference row has CPU and no RSS
			cpu = fmt.Sprintf("%.4f", ms(r.CPUPerRequest))
		}
		if r.ServerRSS != 0 {
			rss = fmt.Sprintf("%.1f", float64(r.ServerRSS)/(1<<20))
		}
		fmt.Fprintf(&b, "%-18s %9d %7d %10.1f %9.3f %9.3f %9.3f %9.3f %12s %9s\n",
			r.Scenario, r.Requests, r.Errors, r.RPS, ms(r.P50), ms(r.P90), ms(r.P99), ms(r.Max), cpu, rss)
	}
	for _, r := range results {
		if r.SignCPU == 0 {
			continue
		}
		fmt.Fprintf(&b, "%s: one ES256 signature: %.4f ms CPU (this process)", r.Scenario, ms(r.SignCPU))
		if r.ServerRSS != 0 {
			fmt.Fprintf(&b, "; server CPU per request %.4f ms, %+.4f ms beside the signature (ratio %.2f)",
				ms(r.CPUPerRequest), ms(r.CPUPerRequest-r.SignCPU), float64(r.CPUPerRequest)/float64(r.SignCPU))
		}
		b.WriteString("\n")
	}
	for _, r := range results {
		if r.FirstError != "" {
			fmt.Fprintf(&b, "%s: first error: %s\n", r.Scenario, r.FirstError)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
