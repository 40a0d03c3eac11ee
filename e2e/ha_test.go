//go:build peers

package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	osuser "os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"
)

// High availability: several `gatehouse serve` processes on one PostgreSQL database, with
// one issuer URL, behave as one server. The test client plays the load balancer: a
// RoundTripper sends each request to the next live replica (round robin), so the steps of
// one flow land on different replicas, and a replica that refuses connections is taken
// out of rotation (a connect error is retried on the next one, as a load balancer does).

// haDatabase creates a fresh database on the shared test PostgreSQL server and returns its
// DSN; the database is dropped at cleanup.
func haDatabase(t *testing.T) string {
	t.Helper()
	admin := os.Getenv("GATEHOUSE_TEST_POSTGRES_DSN")
	if admin == "" {
		t.Fatal("GATEHOUSE_TEST_POSTGRES_DSN is not set: run scripts/test-all.sh, or " +
			"`source scripts/peers/postgres.sh && start_test_postgres` (after scripts/install-peers.sh) and run the tests from that shell")
	}
	u, err := url.Parse(admin)
	if err != nil || u.Scheme == "" {
		t.Fatalf("GATEHOUSE_TEST_POSTGRES_DSN must be a postgres:// URL: %v", err)
	}
	name := "gh_ha_" + randomString(t, 6)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to the test PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// haCluster is n replicas sharing one issuer and one database.
type haCluster struct {
	issuer   string
	addrs    []string // host:port of each replica
	procs    []*process
	client   rp
	user     user
	spread   *spreadTransport
	verifier *oidc.IDTokenVerifier
}

// startHACluster writes one config per replica (same issuer, clients, users, database;
// its own listen address) and starts the replicas one after the other. Their one
// connector is a local password connector.
func startHACluster(t *testing.T, n int, dsn string, extraExpiry ...string) *haCluster {
	t.Helper()
	return startHAClusterWith(t, n, dsn, haOptions{expiry: extraExpiry})
}

// haOptions vary the replicas' configuration.
type haOptions struct {
	issuer     string   // the shared issuer URL (empty: a free loopback port)
	expiry     []string // extra lines under expiry:
	connectors []string // the lines of the connectors: list (empty: one local connector)
	user       *user    // the user the browsers log in as (nil: a local user with a random password)
	clients    []string // extra lines of the clients: list (more clients after the relying party)
}

// startHAClusterWith is startHACluster with options.
func startHAClusterWith(t *testing.T, n int, dsn string, o haOptions) *haCluster {
	t.Helper()
	dir := t.TempDir()
	if o.issuer == "" {
		// Nothing listens here: the client rewrites host:port per request.
		o.issuer = fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	}
	if len(o.connectors) == 0 {
		o.connectors = []string{"  - type: local", "    id: local", "    name: Local"}
	}
	rpPort := freePort(t)
	c := &haCluster{
		issuer: o.issuer,
		client: rp{
			ID: "ha-rp", Secret: "secret-" + randomString(t, 16),
			RedirectURI:   fmt.Sprintf("http://127.0.0.1:%d/cb", rpPort),
			PostLogoutURI: fmt.Sprintf("http://127.0.0.1:%d/logged-out", rpPort),
		},
		user: user{Username: "alice", Password: "pw-" + randomString(t, 12), Email: "alice@example.com", Name: "Alice"},
	}
	if o.user != nil {
		c.user = *o.user
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(c.user.Password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	q := func(s string) string { return fmt.Sprintf("%q", s) }
	for i := range n {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		cfg := strings.Join([]string{
			"issuer: " + q(c.issuer),
			"web:",
			"  http: " + q(addr),
			"storage:",
			"  type: postgres",
			"  config:",
			"    dsn: " + q(dsn),
			"    max_conns: 10",
			"expiry:",
			"  refresh_tokens:",
			"    reuse_grace: 30s",
		}, "\n") + "\n" + strings.Join(o.expiry, "\n") + "\n" + strings.Join([]string{
			"logging:",
			"  level: warn",
			"clients:",
			"  - id: " + q(c.client.ID),
			"    name: HA relying party",
			"    secret: " + q(c.client.Secret),
			"    redirect_uris: [" + q(c.client.RedirectURI) + "]",
			"    post_logout_redirect_uris: [" + q(c.client.PostLogoutURI) + "]",
		}, "\n") + "\n" + strings.Join(append(o.clients, "connectors:"), "\n") + "\n" + strings.Join(o.connectors, "\n") + "\n" + strings.Join([]string{
			"users:",
			"  - username: " + q(c.user.Username),
			"    email: " + q(c.user.Email),
			"    email_verified: true",
			"    name: " + q(c.user.Name),
			"    password_hash: " + q(string(hash)),
			"",
		}, "\n")
		file := fmt.Sprintf("%s/replica-%d.yaml", dir, i)
		if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		c.addrs = append(c.addrs, addr)
		c.procs = append(c.procs, startProcess(t, dir, "http://"+addr, "serve", "--config", file))
	}
	c.spread = newSpreadTransport(strings.TrimPrefix(c.issuer, "http://"), c.addrs)
	t.Cleanup(c.spread.base.CloseIdleConnections)
	ctx := oidc.ClientContext(context.Background(), &http.Client{Transport: c.spread, Timeout: 10 * time.Second})
	keys := oidc.NewRemoteKeySet(ctx, c.issuer+"/keys")
	c.verifier = oidc.NewVerifier(c.issuer, keys, &oidc.Config{ClientID: c.client.ID,
		SupportedSigningAlgs: []string{oidc.RS256, oidc.ES256, oidc.EdDSA}})
	return c
}

// kill SIGKILLs replica i and waits for it to exit; its cleanup then expects nothing.
func (c *haCluster) kill(i int) error {
	p := c.procs[i]
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("SIGKILL replica %d: %w", i, err)
	}
	<-p.done
	p.err = nil // killed on purpose; written after done, so no race with the waiter
	c.spread.base.CloseIdleConnections()
	return nil
}

// spreadTransport sends each request for the issuer's host to the next live replica.
type spreadTransport struct {
	base       *http.Transport
	issuerHost string

	mu    sync.Mutex
	addrs []string
	dead  map[string]bool
	next  int
	hits  map[string]int
}

func newSpreadTransport(issuerHost string, addrs []string) *spreadTransport {
	return &spreadTransport{
		base:       &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second},
		issuerHost: issuerHost, addrs: addrs, dead: map[string]bool{}, hits: map[string]int{},
	}
}

// pick returns the next live replica.
func (s *spreadTransport) pick() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range s.addrs {
		a := s.addrs[s.next%len(s.addrs)]
		s.next++
		if !s.dead[a] {
			s.hits[a]++
			return a, true
		}
	}
	return "", false
}

func (s *spreadTransport) markDead(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dead[addr] = true
}

// Hits returns how many requests each replica was sent.
func (s *spreadTransport) Hits() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.hits {
		out[k] = v
	}
	return out
}

// RoundTrip implements http.RoundTripper.
func (s *spreadTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != s.issuerHost {
		return s.base.RoundTrip(req)
	}
	var lastErr error
	for range len(s.addrs) {
		addr, ok := s.pick()
		if !ok {
			break
		}
		r := req.Clone(req.Context())
		r.URL.Host = addr
		r.Host = s.issuerHost
		if req.Body != nil && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r.Body = body
		}
		resp, err := s.base.RoundTrip(r)
		if err != nil && errors.Is(err, syscall.ECONNREFUSED) {
			// Nothing reached the replica: take it out and try the next, like a load balancer.
			s.markDead(addr)
			lastErr = err
			continue
		}
		return resp, err
	}
	if lastErr == nil {
		lastErr = errors.New("no live replica")
	}
	return nil, lastErr
}

// browser is one user agent: a cookie jar (the SSO session) and the spreading transport.
type browser struct {
	c    *haCluster
	http *http.Client
	// resubmit sends a step of a code flow that a transport error cut once more, as a user
	// pressing reload does (the token request is never resent: a code is single-use).
	resubmit bool
	// doubleCallback sends the upstream's redirect back to the broker (GET /callback/...)
	// twice at once, to two replicas, as a double navigation or a retrying load balancer
	// does; the flow goes on with an answer that redirects, and a code the other answer
	// delivers to the client is flowResult.replayCode.
	doubleCallback bool
}

func (c *haCluster) newBrowser(t *testing.T) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{c: c, http: &http.Client{Transport: c.spread, Jar: jar, Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// flowResult is what one authorization code flow saw and got.
type flowResult struct {
	sawLogin, sawConsent bool
	code                 string // the authorization code the client got
	replayCode           string // a second code delivered by a doubled callback
	replayStatus         int    // the status of the other answer to a doubled callback
	tokens               tokenResponse
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

var (
	formActionRe = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	hiddenRe     = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	loginLinkRe  = regexp.MustCompile(`href="([^"]*/login/[^"]*)"`)
)

// codeFlow runs /authorize to the client's redirect URI (logging in and consenting when
// asked) and redeems the code.
func (b *browser) codeFlow(ctx context.Context) (flowResult, error) {
	var res flowResult
	var rnd [32]byte
	_, _ = rand.Read(rnd[:])
	verifier := base64.RawURLEncoding.EncodeToString(rnd[:]) // 43 characters, as RFC 7636 requires
	sum := sha256.Sum256([]byte(verifier))
	state := "st" + verifier[:16]
	q := url.Values{"response_type": {"code"}, "client_id": {b.c.client.ID}, "redirect_uri": {b.c.client.RedirectURI},
		"scope": {"openid email profile offline_access"}, "state": {state}, "nonce": {"n" + state},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	cur, _ := url.Parse(b.c.issuer + "/authorize?" + q.Encode())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cur.String(), nil)
	for step := 0; ; step++ {
		if step > 20 { // an upstream login adds its own redirects and pages
			return res, errors.New("authorize: no redirect to the client after 20 steps")
		}
		var resp *http.Response
		var err error
		if b.doubleCallback && req.Method == http.MethodGet && strings.HasPrefix(req.URL.String(), b.c.issuer+"/callback/") {
			resp, err = b.double(req, &res)
		} else {
			resp, err = b.do(req)
		}
		if err != nil {
			return res, fmt.Errorf("authorize step %d (%s): %w", step, req.URL.Path, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			next, err := cur.Parse(resp.Header.Get("Location"))
			if err != nil {
				return res, err
			}
			if strings.HasPrefix(next.String(), b.c.client.RedirectURI) {
				if next.Query().Get("state") != state || next.Query().Get("code") == "" {
					return res, fmt.Errorf("callback without code or with a wrong state: %s", next.Redacted())
				}
				res.code = next.Query().Get("code")
				tr, err := b.token(ctx, url.Values{"grant_type": {"authorization_code"}, "code": {res.code},
					"redirect_uri": {b.c.client.RedirectURI}, "code_verifier": {verifier}})
				res.tokens = tr
				return res, err
			}
			cur = next
			req, _ = http.NewRequestWithContext(ctx, http.MethodGet, cur.String(), nil)
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return res, fmt.Errorf("authorize step %d (%s): status %d: %.300s", step, cur.Path, resp.StatusCode, body)
		}
		page := string(body)
		form := url.Values{}
		for _, m := range hiddenRe.FindAllStringSubmatch(page, -1) {
			form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
		}
		action := formActionRe.FindStringSubmatch(page)
		switch {
		case action != nil && strings.Contains(page, `name="login"`) && strings.Contains(page, `name="password"`):
			// The sign-in form of the upstream oidc-provider (connectors/oidc/testdata/peer).
			res.sawLogin = true
			form.Set("login", b.c.user.Username)
			form.Set("password", b.c.user.Password)
		case action != nil && strings.Contains(page, `name="consent" value="yes"`):
			// The upstream's consent form: its hidden input (already in form) allows.
		case action != nil && strings.Contains(page, `name="password"`):
			res.sawLogin = true
			form.Set("username", b.c.user.Username)
			form.Set("password", b.c.user.Password)
		case action != nil && strings.Contains(page, `name="decision" value="allow"`):
			res.sawConsent = true
			form.Set("decision", "allow")
		default:
			if m := loginLinkRe.FindStringSubmatch(page); m != nil {
				cur, _ = cur.Parse(html.UnescapeString(m[1]))
				req, _ = http.NewRequestWithContext(ctx, http.MethodGet, cur.String(), nil)
				continue
			}
			return res, fmt.Errorf("authorize step %d (%s): unexpected page: %.300s", step, cur.Path, page)
		}
		cur, _ = cur.Parse(html.UnescapeString(action[1]))
		req, _ = http.NewRequestWithContext(ctx, http.MethodPost, cur.String(), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
}

// do sends one step of a flow; with resubmit, a step cut by a transport error is sent once
// more (through the spreading transport, so to the next live replica).
func (b *browser) do(req *http.Request) (*http.Response, error) {
	resp, err := b.http.Do(req)
	if err == nil || !b.resubmit || req.Context().Err() != nil {
		return resp, err
	}
	again := req.Clone(req.Context())
	if req.GetBody != nil {
		body, gerr := req.GetBody()
		if gerr != nil {
			return nil, err
		}
		again.Body = body
	}
	return b.http.Do(again)
}

// double sends the body-less req twice at once and returns an answer that redirects (else
// the first); the other answer's status, and the code it delivers to the client if any, go
// to res.
func (b *browser) double(req *http.Request, res *flowResult) (*http.Response, error) {
	var (
		wg    sync.WaitGroup
		resps [2]*http.Response
		errs  [2]error
	)
	for i := range 2 {
		wg.Go(func() { resps[i], errs[i] = b.http.Do(req.Clone(req.Context())) })
	}
	wg.Wait()
	keep := 0
	if errs[0] != nil || (errs[1] == nil && resps[1].StatusCode/100 == 3 && resps[0].StatusCode/100 != 3) {
		keep = 1
	}
	other := resps[1-keep]
	if other != nil {
		res.replayStatus = other.StatusCode
		if loc, err := req.URL.Parse(other.Header.Get("Location")); err == nil && strings.HasPrefix(loc.String(), b.c.client.RedirectURI) {
			res.replayCode = loc.Query().Get("code")
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(other.Body, 1<<20))
		other.Body.Close()
	}
	return resps[keep], errs[keep]
}

// errHTTP is a token endpoint answer that is not 200.
type errHTTP struct {
	status     int
	body       tokenResponse
	retryAfter string // the Retry-After header
}

func (e *errHTTP) Error() string {
	return fmt.Sprintf("token endpoint: status %d: %s (%s)", e.status, e.body.Error, e.body.Description)
}

// token posts a grant to the token endpoint with client_secret_basic.
func (b *browser) token(ctx context.Context, form url.Values) (tokenResponse, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.c.issuer+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(b.c.client.ID, b.c.client.Secret)
	resp, err := b.http.Do(req)
	if err != nil {
		return tokenResponse{}, err
	}
	defer resp.Body.Close()
	var tr tokenResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tr); err != nil {
		return tr, fmt.Errorf("token endpoint: status %d, body: %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		return tr, &errHTTP{resp.StatusCode, tr, resp.Header.Get("Retry-After")}
	}
	return tr, nil
}

func (b *browser) refresh(ctx context.Context, rt string) (tokenResponse, error) {
	return b.token(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

// logout ends the SSO session with an id_token_hint (no confirmation page).
func (b *browser) logout(ctx context.Context, idToken string) error {
	q := url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {b.c.client.PostLogoutURI}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.c.issuer+"/logout?"+q.Encode(), nil)
	resp, err := b.http.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), b.c.client.PostLogoutURI) {
		return fmt.Errorf("logout: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return nil
}

// verify checks an ID token's signature (JWKS fetched through the replicas) and claims.
func (c *haCluster) verify(ctx context.Context, raw string) error {
	if raw == "" {
		return errors.New("no id_token")
	}
	_, err := c.verifier.Verify(ctx, raw)
	return err
}

// keyIDs fetches /keys from one replica directly and returns its sorted key IDs.
func keyIDs(t *testing.T, addr string) []string {
	t.Helper()
	body, status := get(t, "http://"+addr+"/keys")
	if status != http.StatusOK {
		t.Fatalf("GET %s/keys: %d %s", addr, status, body)
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(body), &set); err != nil {
		t.Fatalf("JWKS of %s: %v", addr, err)
	}
	var ids []string
	for _, k := range set.Keys {
		ids = append(ids, k.Kid)
	}
	slices.Sort(ids)
	return ids
}

func TestHAReplicas(t *testing.T) {
	c := startHACluster(t, 3, haDatabase(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	t.Run("SameJWKSAndReady", func(t *testing.T) {
		want := keyIDs(t, c.addrs[0])
		if len(want) == 0 {
			t.Fatal("replica 0 publishes no keys")
		}
		for _, a := range c.addrs {
			if got := keyIDs(t, a); !slices.Equal(got, want) {
				t.Errorf("replica %s publishes keys %v, replica 0 %v", a, got, want)
			}
			if body, status := get(t, "http://"+a+"/readyz"); status != http.StatusOK {
				t.Errorf("replica %s /readyz: %d %s", a, status, body)
			}
		}
	})

	t.Run("FlowsAcrossReplicas", func(t *testing.T) {
		for i := range 4 {
			b := c.newBrowser(t)
			first, err := b.codeFlow(ctx)
			if err != nil {
				t.Fatalf("flow %d: %v", i, err)
			}
			// The user consents once (flow 0); that consent, stored by one replica, is
			// known to all.
			if !first.sawLogin || first.sawConsent != (i == 0) {
				t.Errorf("flow %d: login page shown %v, consent page shown %v; want true, %v", i, first.sawLogin, first.sawConsent, i == 0)
			}
			tok := first.tokens
			for r := range 3 {
				if err := c.verify(ctx, tok.IDToken); err != nil {
					t.Fatalf("flow %d refresh %d: ID token: %v", i, r, err)
				}
				if tok, err = b.refresh(ctx, tok.RefreshToken); err != nil {
					t.Fatalf("flow %d refresh %d: %v", i, r, err)
				}
			}
			// SSO session and consent made on some replicas are honoured by the others.
			again, err := b.codeFlow(ctx)
			if err != nil {
				t.Fatalf("flow %d, second authorization: %v", i, err)
			}
			if again.sawLogin || again.sawConsent {
				t.Errorf("flow %d: second authorization asked again (login=%v consent=%v): session or consent not shared", i, again.sawLogin, again.sawConsent)
			}
			if err := b.logout(ctx, again.tokens.IDToken); err != nil {
				t.Fatalf("flow %d: %v", i, err)
			}
			after, err := b.codeFlow(ctx)
			if err != nil {
				t.Fatalf("flow %d, after logout: %v", i, err)
			}
			if !after.sawLogin {
				t.Errorf("flow %d: after logout the next authorization did not ask to log in", i)
			}
			// Offline access survives the logout (refresh tokens are the client's).
			if _, err := b.refresh(ctx, tok.RefreshToken); err != nil {
				t.Errorf("flow %d: refresh after logout: %v", i, err)
			}
		}
		hits := c.spread.Hits()
		for _, a := range c.addrs {
			if hits[a] == 0 {
				t.Errorf("replica %s served no request: %v", a, hits)
			}
		}
	})

	t.Run("RefreshRaceAcrossReplicas", func(t *testing.T) {
		b := c.newBrowser(t)
		res, err := b.codeFlow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Two replicas (consecutive round-robin picks) get the same refresh token at once.
		const n = 2
		var (
			wg      sync.WaitGroup
			results [n]tokenResponse
			errs    [n]error
		)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				results[i], errs[i] = b.refresh(ctx, res.tokens.RefreshToken)
			})
		}
		close(start)
		wg.Wait()
		var won []string // refresh tokens of the requests that succeeded
		for i, err := range errs {
			var he *errHTTP
			switch {
			case err == nil:
				won = append(won, results[i].RefreshToken)
			case errors.As(err, &he) && he.body.Error == "invalid_grant":
			default:
				t.Fatalf("racing refresh %d: %v, want success or invalid_grant", i, err)
			}
		}
		// Either one request won the rotation and the other was refused, or the second
		// arrived after the first committed and was taken as a retry of a lost response (it
		// got a fresh pair and the first's token was superseded). Either way exactly one of
		// the returned tokens refreshes, presenting the other revokes nothing, and the family
		// lives on.
		if len(won) == 0 {
			t.Fatal("no racing refresh succeeded")
		}
		live := 0
		var next string
		for _, rt := range won {
			r, err := b.refresh(ctx, rt)
			if err == nil {
				live++
				next = r.RefreshToken
			}
		}
		if live != 1 {
			t.Fatalf("%d of the %d returned refresh tokens refresh, want exactly 1", live, len(won))
		}
		if _, err := b.refresh(ctx, next); err != nil {
			t.Errorf("the family after the race: %v (revoked by the losing replica?)", err)
		}
	})

	t.Run("KillReplicaUnderLoad", func(t *testing.T) {
		haKillUnderLoad(t, ctx, c)
	})
}

// family is one login's refresh chain and browser, driven by one worker at a time.
type family struct {
	b         *browser
	rt        string
	idToken   string
	uncertain bool // a request was cut by the kill: its outcome is unknown
}

// haKillUnderLoad: workers refresh their families and run new code flows while replica 1
// is SIGKILLed a third of the way in; every family and session whose last answer was
// received must keep working on the survivors.
func haKillUnderLoad(t *testing.T, ctx context.Context, c *haCluster) {
	const (
		workers     = 4
		perWorker   = 4 // families per worker
		opsPerWorkr = 60
		killAt      = workers * opsPerWorkr / 3
	)
	fams := make([][]*family, workers)
	for w := range workers {
		for range perWorker {
			b := c.newBrowser(t)
			res, err := b.codeFlow(ctx)
			if err != nil {
				t.Fatalf("setup login: %v", err)
			}
			fams[w] = append(fams[w], &family{b: b, rt: res.tokens.RefreshToken, idToken: res.tokens.IDToken})
		}
	}
	var (
		ops, failures, cut atomic.Int64
		killOnce           sync.Once
		killedAt           time.Time
		mu                 sync.Mutex
		failMsgs           []string
	)
	fail := func(format string, args ...any) {
		failures.Add(1)
		mu.Lock()
		defer mu.Unlock()
		if len(failMsgs) < 10 {
			failMsgs = append(failMsgs, fmt.Sprintf(format, args...))
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range opsPerWorkr {
				if ctx.Err() != nil {
					return
				}
				if ops.Add(1) == killAt {
					killOnce.Do(func() {
						if err := c.kill(1); err != nil {
							fail("%v", err)
							return
						}
						killedAt = time.Now()
					})
				}
				var err error
				var f *family
				if i%5 == 4 {
					// A whole new code flow, its steps spread over the live replicas.
					_, err = c.newBrowser(t).codeFlow(ctx)
				} else {
					f = fams[w][i%perWorker]
					if f.uncertain {
						continue
					}
					var tr tokenResponse
					if tr, err = f.b.refresh(ctx, f.rt); err == nil {
						f.rt, f.idToken = tr.RefreshToken, tr.IDToken
						if verr := c.verify(ctx, tr.IDToken); verr != nil {
							fail("ID token from a refresh does not verify: %v", verr)
						}
					}
				}
				if err == nil {
					continue
				}
				var he *errHTTP
				if !errors.As(err, &he) && !strings.Contains(err.Error(), "status") {
					// A transport error: the request was cut by the kill; its outcome is unknown.
					cut.Add(1)
					if f != nil {
						f.uncertain = true
					}
					continue
				}
				fail("worker %d op %d: %v", w, i, err)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	t.Logf("load: %d operations in %v (%.0f/s), replica 1 killed after %v; %d requests cut by the kill, %d failures; hits %v",
		ops.Load(), elapsed.Round(time.Millisecond), float64(ops.Load())/elapsed.Seconds(), killedAt.Sub(start).Round(time.Millisecond),
		cut.Load(), failures.Load(), c.spread.Hits())
	for _, m := range failMsgs {
		t.Error(m)
	}
	if killedAt.IsZero() {
		t.Fatal("the replica was never killed")
	}
	if cut.Load() > workers {
		t.Errorf("%d requests were cut by one kill with %d workers (want at most one per worker)", cut.Load(), workers)
	}
	// No acknowledged family or session was lost: every certain family refreshes, and its
	// browser's SSO session is still there, on the surviving replicas.
	lost := 0
	for w := range workers {
		for j, f := range fams[w] {
			if f.uncertain {
				continue
			}
			if _, err := f.b.refresh(ctx, f.rt); err != nil {
				lost++
				t.Errorf("family %d/%d after the kill: refresh: %v", w, j, err)
			}
			res, err := f.b.codeFlow(ctx)
			if err != nil || res.sawLogin {
				lost++
				t.Errorf("family %d/%d after the kill: SSO session lost (asked to log in: %v, err %v)", w, j, res.sawLogin, err)
			}
		}
	}
	if lost == 0 {
		t.Logf("after the kill: every acknowledged refresh family and session works on the survivors")
	}
}

// TestHAPostgresRestart stops the database under two replicas (a private server: the
// shared one serves other tests): both report not-ready and refuse requests, then recover
// by themselves when it is back, with no restart of Gatehouse and no lost refresh family.
func TestHAPostgresRestart(t *testing.T) {
	pg := startPrivatePostgres(t)
	c := startHACluster(t, 2, pg.dsn())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := c.newBrowser(t)
	res, err := b.codeFlow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rt := res.tokens.RefreshToken

	readyAll := func(want int, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for _, a := range c.addrs {
			for {
				_, status := get(t, "http://"+a+"/readyz")
				if status == want {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("replica %s /readyz = %d, want %d within %v", a, status, want, within)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	readyAll(http.StatusOK, 5*time.Second)

	pg.stop(t)
	stopped := time.Now()
	readyAll(http.StatusServiceUnavailable, 5*time.Second)
	t.Logf("both replicas not ready %v after the database stopped", time.Since(stopped).Round(time.Millisecond))
	_, err = b.refresh(ctx, rt)
	var he *errHTTP
	if !errors.As(err, &he) || he.status != http.StatusServiceUnavailable || he.body.Error != "temporarily_unavailable" {
		t.Errorf("refresh with the database down: %v, want 503 temporarily_unavailable", err)
	} else {
		t.Logf("refresh with the database down: %d %s", he.status, he.body.Error)
	}

	pg.start(t)
	started := time.Now()
	readyAll(http.StatusOK, 30*time.Second)
	t.Logf("both replicas ready %v after the database restarted", time.Since(started).Round(time.Millisecond))
	// The refresh that failed during the outage changed nothing: the family goes on.
	for i := range 4 {
		tr, err := b.refresh(ctx, rt)
		if err != nil {
			t.Fatalf("refresh %d after recovery: %v", i, err)
		}
		rt = tr.RefreshToken
	}
	if _, err := c.newBrowser(t).codeFlow(ctx); err != nil {
		t.Errorf("code flow after recovery: %v", err)
	}
}

// pgServer is a private PostgreSQL server for one test.
type pgServer struct {
	bin, dir string
	port     int
}

func (p *pgServer) dsn() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// pgOwner builds a command run as the postgres user when we are root (PostgreSQL refuses
// to run as root).
func pgOwner(ctx context.Context, name string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	}
	return exec.CommandContext(ctx, name, args...)
}

// startPrivatePostgres initdb's and starts a server on a free loopback port; it is
// stopped and deleted at cleanup.
func startPrivatePostgres(t *testing.T) *pgServer {
	t.Helper()
	var bin string
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			bin = d
		}
	}
	if bin == "" {
		p, err := exec.LookPath("pg_ctl")
		if err != nil {
			t.Fatal("PostgreSQL (initdb, pg_ctl) is not installed: run scripts/install-peers.sh")
		}
		bin = filepath.Dir(p)
	}
	dir, err := os.MkdirTemp("", "gatehouse-e2e-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		u, err := osuser.Lookup("postgres")
		if err != nil {
			t.Fatalf("user postgres: %v (run scripts/install-peers.sh)", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := pgOwner(ctx, filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "postgres",
		"-A", "trust", "-E", "UTF8", "--locale=C.UTF-8").CombinedOutput()
	if err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p := &pgServer{bin: bin, dir: dir, port: freePort(t)}
	p.start(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = pgOwner(ctx, filepath.Join(bin, "pg_ctl"), "-D", filepath.Join(dir, "data"), "-m", "immediate", "-w", "stop").Run()
	})
	return p
}

func (p *pgServer) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s -c fsync=off", p.port, p.dir)
	out, err := pgOwner(ctx, filepath.Join(p.bin, "pg_ctl"), "-D", filepath.Join(p.dir, "data"),
		"-l", filepath.Join(p.dir, "server.log"), "-w", "-t", "50", "-o", opts, "start").CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "server.log"))
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

func (p *pgServer) stop(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := pgOwner(ctx, filepath.Join(p.bin, "pg_ctl"), "-D", filepath.Join(p.dir, "data"), "-m", "fast", "-w", "-t", "50", "stop").CombinedOutput()
	if err != nil {
		t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

// TestHAKeyRotationUnderLoad: three replicas rotate their signing key every few seconds while
// clients refresh across them; every ID token verifies against the JWKS of whichever replica
// answers, and every access token is accepted by userinfo on every replica.
func TestHAKeyRotationUnderLoad(t *testing.T) {
	c := startHACluster(t, 3, haDatabase(t), "  signing_keys: 6s")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := c.newBrowser(t)
	first, err := b.codeFlow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rt := first.tokens.RefreshToken
	kids := map[string]bool{}
	deadline := time.Now().Add(20 * time.Second)
	n := 0
	for ; time.Now().Before(deadline); n++ {
		tr, err := b.refresh(ctx, rt)
		if err != nil {
			t.Fatalf("refresh %d: %v", n, err)
		}
		rt = tr.RefreshToken
		if err := c.verify(ctx, tr.IDToken); err != nil {
			hdr, _, _ := strings.Cut(tr.IDToken, ".")
			raw, _ := base64.RawURLEncoding.DecodeString(hdr)
			for _, a := range c.addrs {
				t.Logf("replica %s publishes %v", a, keyIDs(t, a))
			}
			t.Fatalf("refresh %d: ID token (header %s) does not verify: %v", n, raw, err)
		}
		hdr, _, _ := strings.Cut(tr.IDToken, ".")
		kids[hdr] = true
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.issuer+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+tr.AccessToken)
		resp, err := b.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("refresh %d: userinfo answered %d", n, resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(kids) < 3 {
		t.Fatalf("only %d signing keys seen in %d refreshes; rotation did not happen", len(kids), n)
	}
	t.Logf("%d refreshes across 3 replicas, %d signing keys, every token verified", n, len(kids))
}
