//go:build peers

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/internal/testpeer"
)

// The chaos test (issue 13.8): three replicas on one real PostgreSQL, logging users in
// through a real upstream OpenID provider (npm oidc-provider) and refreshing their tokens
// (each refresh asks the upstream), while in turn
//
//	(a) the upstream answers 503 for 10 s (a fault-injecting reverse proxy in front of it),
//	(b) PostgreSQL is restarted,
//	(c) one replica is SIGKILLed.
//
// Each client behaves as a correct client does: it always uses its newest refresh token,
// and after a 5xx answer or a connection error it retries with the same token (within the
// reuse grace). After each fault the test requires that no refresh family was lost (a
// correct client got invalid_grant), that no authorization request produced two codes, and
// that every client that got a 503 and retried succeeded; it prints the counts.

const (
	chaosUpstreamSecret = "chaos-upstream-secret-0123456789"
	chaosConnector      = "up"
	chaosWorkers        = 5                // refreshing clients, each with its own families
	chaosFamiliesPerW   = 2                // families each refreshing worker starts with
	chaosLoginWorkers   = 2                // browsers logging new users in, one flow after another
	chaosEpisodeLimit   = 20 * time.Second // a client gives up retrying after this (reuse grace: 30s)
	chaosOutage         = 10 * time.Second // phase (a): how long the upstream answers 503
)

// faultProxy is a reverse proxy on loopback in front of the upstream provider; while
// failing, it answers every request with 503 instead of forwarding it.
type faultProxy struct {
	srv      *httptest.Server
	target   atomic.Pointer[url.URL]
	until    atomic.Int64 // unix nanoseconds until which requests fail
	refused  atomic.Int64 // requests answered 503
	reversed *httputil.ReverseProxy
}

func newFaultProxy(t *testing.T) *faultProxy {
	t.Helper()
	p := &faultProxy{}
	p.reversed = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(p.target.Load())
			r.Out.Host = r.In.Host // the provider builds its URLs from the Host it is asked for
		},
		Transport: &http.Transport{Proxy: nil, ResponseHeaderTimeout: 10 * time.Second, MaxIdleConnsPerHost: 16},
	}
	p.srv = httptest.NewServer(p) // 127.0.0.1 only
	t.Cleanup(p.srv.Close)
	return p
}

// failFor makes the proxy answer 503 for d from now.
func (p *faultProxy) failFor(d time.Duration) { p.until.Store(time.Now().Add(d).UnixNano()) }

// ServeHTTP implements http.Handler.
func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if time.Now().UnixNano() < p.until.Load() {
		p.refused.Add(1)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "upstream unavailable (injected)", http.StatusServiceUnavailable)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	p.reversed.ServeHTTP(w, r)
}

// chaosFamily is one login's refresh chain: its browser and its newest refresh token. Only
// the worker that owns it uses it.
type chaosFamily struct {
	name string
	b    *browser
	rt   string
	ep   *episode // a refresh in progress, nil when none
}

// chaosCounts are what one phase saw. Fields are updated atomically by the workers.
type chaosCounts struct {
	refreshes    atomic.Int64 // refresh episodes (a first try and its retries)
	refreshed    atomic.Int64 // episodes that ended with new tokens
	got503       atomic.Int64 // episodes that got at least one 503
	got503OK     atomic.Int64 // ... and then succeeded on retry with the same token
	gotCut       atomic.Int64 // episodes with a connection error or another 5xx
	gotCutOK     atomic.Int64 // ... and then succeeded on retry with the same token
	dropped      atomic.Int64 // episodes whose first answer was lost in flight (see chaosRun.drop)
	droppedOK    atomic.Int64 // ... and then succeeded on retry with the same token
	lost         atomic.Int64 // families a correct client lost (invalid_grant or no recovery)
	logins       atomic.Int64 // code flows started
	loginsOK     atomic.Int64 // code flows that got tokens
	loginsFailed atomic.Int64 // code flows that failed (allowed only while a fault lasts)
}

// faultWindow is when a fault was in effect: from start until end (0: still in effect),
// plus a second for the requests it cut to be retried.
type faultWindow struct{ start, end atomic.Int64 }

func (w *faultWindow) begin() { w.start.Store(time.Now().UnixNano()) }
func (w *faultWindow) over()  { w.end.Store(time.Now().UnixNano()) }

// overlaps reports whether the fault was in effect at some time between from and now.
func (w *faultWindow) overlaps(from time.Time) bool {
	s, e := w.start.Load(), w.end.Load()
	if s == 0 {
		return false
	}
	return e == 0 || from.UnixNano() <= e+int64(time.Second)
}

// chaosRun is the shared state of the test.
type chaosRun struct {
	t   *testing.T
	ctx context.Context
	c   *haCluster

	// drop, while set, loses the answer of every third refresh in flight: the replica did
	// the work (rotated the token) but the client never sees the answer, as when a replica
	// dies between its commit and its response; the client retries with the same token.
	drop  atomic.Bool
	drops atomic.Int64

	mu      sync.Mutex
	fams    [][]*chaosFamily // per worker
	codes   map[string]int   // code -> times the client received it
	replays int              // flows whose upstream callback was sent twice at once
	// replayCodes counts second codes delivered to a flow whose callback was sent twice.
	replayCodes int
	// replayStatus counts the statuses of the other answer to a doubled callback.
	replayStatus map[int]int
	failMsgs     []string
}

func (r *chaosRun) fail(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.failMsgs) < 20 {
		r.failMsgs = append(r.failMsgs, fmt.Sprintf(format, args...))
	}
}

// login runs a code flow in a new browser and records the code the client got.
func (r *chaosRun) login() (*chaosFamily, error) {
	b := r.c.newBrowser(r.t)
	b.resubmit = true
	b.doubleCallback = r.drop.Load()
	res, err := b.codeFlow(r.ctx)
	r.mu.Lock()
	for _, code := range []string{res.code, res.replayCode} {
		if code != "" {
			r.codes[code]++
		}
	}
	if b.doubleCallback && res.code != "" {
		r.replays++
		if res.replayCode != "" {
			r.replayCodes++
		}
		r.replayStatus[res.replayStatus]++
	}
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if res.tokens.RefreshToken == "" {
		return nil, errors.New("code flow: no refresh token")
	}
	return &chaosFamily{b: b, rt: res.tokens.RefreshToken}, nil
}

// episode is a refresh in progress: a first try and its retries with the same token.
type episode struct {
	start, next             time.Time // begun; the next try not before
	attempts                int
	saw503, sawCut, dropped bool
}

// refresh runs a family's refresh episode to its end (tries and retries, backing off).
func (r *chaosRun) refresh(f *chaosFamily, n *chaosCounts) {
	for f.rt != "" && !r.step(f, n) {
		time.Sleep(time.Until(f.ep.next))
	}
}

// step is one try of a correct client's refresh: it sends its newest token, and after a 5xx
// or a connection error keeps the episode open to send the same token again (backing off,
// within chaosEpisodeLimit; meanwhile its worker serves other families). Any other answer
// ends the episode; invalid_grant loses the family. It reports whether the episode is over.
func (r *chaosRun) step(f *chaosFamily, n *chaosCounts) bool {
	if f.ep == nil {
		n.refreshes.Add(1)
		f.ep = &episode{start: time.Now()}
	}
	ep := f.ep
	ep.attempts++
	tr, err := f.b.refresh(r.ctx, f.rt)
	if ep.attempts == 1 && r.drop.Load() && r.drops.Add(1)%3 == 0 {
		ep.dropped, tr, err = true, tokenResponse{}, errors.New("answer lost in flight (injected)")
		n.dropped.Add(1)
	}
	if err == nil {
		f.rt, f.ep = tr.RefreshToken, nil
		n.refreshed.Add(1)
		for _, c := range []struct {
			saw bool
			ok  *atomic.Int64
		}{{ep.saw503, &n.got503OK}, {ep.sawCut, &n.gotCutOK}, {ep.dropped, &n.droppedOK}} {
			if c.saw {
				c.ok.Add(1)
			}
		}
		return true
	}
	var he *errHTTP
	switch {
	case errors.As(err, &he) && he.status == http.StatusServiceUnavailable:
		if he.body.Error != "temporarily_unavailable" || he.retryAfter == "" {
			r.fail("family %s: 503 with error %q and Retry-After %q, want temporarily_unavailable and a Retry-After", f.name, he.body.Error, he.retryAfter)
		}
		if !ep.saw503 {
			n.got503.Add(1)
		}
		ep.saw503 = true
	case ep.dropped && ep.attempts == 1:
	case errors.As(err, &he) && he.status >= 500, !errors.As(err, &he) && r.ctx.Err() == nil:
		if !ep.sawCut {
			n.gotCut.Add(1)
		}
		ep.sawCut = true
	default:
		r.lose(f, n, fmt.Sprintf("refresh (try %d, after 503=%v cut=%v lost answer=%v): %v", ep.attempts, ep.saw503, ep.sawCut, ep.dropped, err))
		return true
	}
	if time.Since(ep.start) > chaosEpisodeLimit {
		r.lose(f, n, fmt.Sprintf("refresh still failing after %v of retries: %v", chaosEpisodeLimit, err))
		return true
	}
	ep.next = time.Now().Add(min(time.Duration(ep.attempts)*200*time.Millisecond, time.Second))
	return false
}

// lose records a family lost by a correct client.
func (r *chaosRun) lose(f *chaosFamily, n *chaosCounts, why string) {
	n.lost.Add(1)
	r.fail("family %s: %s", f.name, why)
	f.rt, f.ep = "", nil
}

// load runs the workers until stop is closed: refreshing workers refresh their families in
// turn; login workers log new users in, each login a new family handed to a refreshing
// worker. A login may fail only if the fault was in effect while it ran.
func (r *chaosRun) load(n *chaosCounts, stop <-chan struct{}, fault *faultWindow) {
	var wg sync.WaitGroup
	running := func() bool {
		select {
		case <-stop:
			return false
		default:
			return r.ctx.Err() == nil
		}
	}
	for w := range chaosWorkers {
		wg.Go(func() {
			for i := 0; running(); i++ {
				r.mu.Lock()
				fams := r.fams[w]
				r.mu.Unlock()
				f := fams[i%len(fams)]
				if f.rt == "" || (f.ep != nil && time.Now().Before(f.ep.next)) {
					time.Sleep(2 * time.Millisecond) // lost, or waiting to retry
					continue
				}
				r.step(f, n)
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	for l := range chaosLoginWorkers {
		wg.Go(func() {
			for i := 0; running(); i++ {
				r.loadLogin((l+i*chaosLoginWorkers)%chaosWorkers, n, fault)
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	wg.Wait()
}

// loadLogin logs a new user in and hands the family to refreshing worker w.
func (r *chaosRun) loadLogin(w int, n *chaosCounts, fault *faultWindow) {
	n.logins.Add(1)
	started := time.Now()
	f, err := r.login()
	if err != nil {
		n.loginsFailed.Add(1)
		if !fault.overlaps(started) {
			r.fail("login with no fault in effect: %v", err)
		}
		return
	}
	n.loginsOK.Add(1)
	r.mu.Lock()
	f.name = fmt.Sprintf("%d/%d", w, len(r.fams[w]))
	r.fams[w] = append(r.fams[w], f)
	r.mu.Unlock()
}

// sweep refreshes every family once more (a correct client, retrying 5xx): none may be lost.
func (r *chaosRun) sweep(n *chaosCounts) (families int) {
	for _, fs := range r.fams {
		for _, f := range fs {
			if f.rt == "" {
				continue // already counted as lost
			}
			families++
			r.refresh(f, n)
		}
	}
	return families
}

// duplicateCodes counts authorization requests (told apart by their unique nonce) that
// produced more than one code, from the database itself, codes a client received twice, and
// second codes delivered to a flow whose final step was sent twice.
func (r *chaosRun) duplicateCodes(dsn string) (issued, dupRequests, dupDelivered int) {
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		r.t.Fatalf("connect to PostgreSQL to count codes: %v", err)
	}
	defer conn.Close(ctx)
	err = conn.QueryRow(ctx, `SELECT count(*), count(*) - count(DISTINCT nonce) FROM auth_codes`).Scan(&issued, &dupRequests)
	if err != nil {
		r.t.Fatalf("count codes: %v", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range r.codes {
		if k > 1 {
			dupDelivered++
		}
	}
	return issued, dupRequests, dupDelivered + r.replayCodes
}

// chaosPhase is one fault: inject runs on the test goroutine while the load runs.
type chaosPhase struct {
	name   string
	inject func(t *testing.T)
	// want503 requires that some client got a 503 and then succeeded (the fault was felt).
	want503 bool
	// wantDrop requires that some answer was lost in flight.
	wantDrop bool
}

func TestHAChaos(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	began := time.Now()

	// The upstream, behind the fault-injecting proxy: its issuer is the proxy's URL.
	issuer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	proxy := newFaultProxy(t)
	up, err := testpeer.StartOIDCProvider(testpeer.OIDCProviderOptions{
		Dir: filepath.Join(peers.root, "connectors", "oidc", "testdata", "peer"), Issuer: proxy.srv.URL,
		RedirectURIs: []string{issuer + "/callback/" + chaosConnector}, ClientSecret: chaosUpstreamSecret,
		Stderr: t.Output(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(up.Stop)
	proxy.target.Store(&url.URL{Scheme: "http", Host: up.Addr})

	pg := startPrivatePostgres(t)
	q := func(s string) string { return fmt.Sprintf("%q", s) }
	c := startHAClusterWith(t, 3, pg.dsn(), haOptions{
		issuer: issuer,
		user:   &user{Username: "alice", Password: "password", Email: "alice@example.com", Name: "Alice Upstream"},
		connectors: []string{
			"  - type: oidc",
			"    id: " + chaosConnector,
			"    name: Upstream",
			"    config:",
			"      issuer: " + q(proxy.srv.URL),
			"      client_id: gatehouse",
			"      client_secret: " + q(chaosUpstreamSecret),
			"      scopes: [openid, email, profile, offline_access]",
			"      get_userinfo: true",
		},
	})
	run := &chaosRun{t: t, ctx: ctx, c: c, codes: map[string]int{}, replayStatus: map[int]int{}, fams: make([][]*chaosFamily, chaosWorkers)}
	for w := range chaosWorkers {
		for j := range chaosFamiliesPerW {
			f, err := run.login()
			if err != nil {
				t.Fatalf("setup login %d/%d: %v", w, j, err)
			}
			f.name = fmt.Sprintf("%d/%d", w, j)
			run.fams[w] = append(run.fams[w], f)
		}
	}
	t.Logf("setup: %d families logged in through the upstream in %v", chaosWorkers*chaosFamiliesPerW, time.Since(began).Round(time.Millisecond))

	phases := []chaosPhase{
		{name: "a-upstream-503", want503: true, inject: func(t *testing.T) {
			proxy.failFor(chaosOutage)
			time.Sleep(chaosOutage)
		}},
		{name: "b-postgres-restart", want503: true, inject: func(t *testing.T) {
			pg.stop(t)
			time.Sleep(2 * time.Second)
			pg.start(t)
			c.waitReady(t, 30*time.Second)
		}},
		{name: "c-sigkill-replica", wantDrop: true, inject: func(t *testing.T) {
			// A kill cuts the requests in flight on the replica, but it seldom lands between
			// a rotation's commit and its answer: answers are also lost around it, on purpose,
			// and the upstream's redirect back of every login is sent twice at once.
			run.drop.Store(true)
			defer run.drop.Store(false)
			time.Sleep(time.Second)
			if err := c.kill(1); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second) // requests cut by the kill are retried by now
		}},
	}
	var summary []string
	codesBefore := chaosWorkers * chaosFamiliesPerW
	for _, ph := range phases {
		n := &chaosCounts{}
		var fault faultWindow
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			run.load(n, stop, &fault)
		}()
		time.Sleep(2 * time.Second) // load before the fault
		fault.begin()
		phaseStart := time.Now()
		ph.inject(t)
		fault.over()
		faultFor := time.Since(phaseStart)
		// The fault's own duration, then load on the recovered cluster.
		time.Sleep(3 * time.Second)
		close(stop)
		<-done
		families := run.sweep(n)
		issued, dupReq, dupDelivered := run.duplicateCodes(pg.dsn())
		line := fmt.Sprintf("phase %s: families tested %d, families lost %d, refreshes %d (ok %d), "+
			"clients 503 then ok %d/%d, cut or 5xx then ok %d/%d, answer lost then ok %d/%d, logins %d (ok %d, failed during the fault %d), "+
			"codes issued %d (%d in all), duplicate codes %d (delivered twice %d; callback sent twice %d), fault lasted %v",
			ph.name, families, n.lost.Load(), n.refreshes.Load(), n.refreshed.Load(),
			n.got503OK.Load(), n.got503.Load(), n.gotCutOK.Load(), n.gotCut.Load(), n.droppedOK.Load(), n.dropped.Load(),
			n.logins.Load(), n.loginsOK.Load(), n.loginsFailed.Load(),
			issued-codesBefore, issued, dupReq, dupDelivered, run.replays, faultFor.Round(time.Millisecond))
		codesBefore = issued
		t.Log(line)
		summary = append(summary, line)
		if n.lost.Load() > 0 {
			t.Errorf("phase %s: %d refresh families lost", ph.name, n.lost.Load())
		}
		if n.got503OK.Load() != n.got503.Load() || n.gotCutOK.Load() != n.gotCut.Load() || n.droppedOK.Load() != n.dropped.Load() {
			t.Errorf("phase %s: not every client that retried after a 503, a cut or a lost answer succeeded", ph.name)
		}
		if ph.wantDrop && n.dropped.Load() == 0 {
			t.Errorf("phase %s: no answer was lost in flight", ph.name)
		}
		if ph.want503 && n.got503.Load() == 0 {
			t.Errorf("phase %s: no client saw a 503: the fault was not felt", ph.name)
		}
		if dupReq > 0 || dupDelivered > 0 {
			t.Errorf("phase %s: duplicate codes: %d authorization requests got more than one code, %d codes delivered twice", ph.name, dupReq, dupDelivered)
		}
		for _, m := range run.failMsgs {
			t.Error(m)
		}
		run.failMsgs = nil
		if t.Failed() {
			break
		}
	}
	t.Logf("upstream proxy answered 503 to %d requests; the other answers to doubled callbacks had statuses %v; replica hits %v",
		proxy.refused.Load(), run.replayStatus, c.spread.Hits())
	fmt.Printf("TestHAChaos summary (%v):\n  %s\n", time.Since(began).Round(time.Millisecond), strings.Join(summary, "\n  "))
}

// waitReady waits until every live replica's /readyz answers 200.
func (c *haCluster) waitReady(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for i, a := range c.addrs {
		select {
		case <-c.procs[i].done:
			continue
		default:
		}
		for {
			_, status := get(t, "http://"+a+"/readyz")
			if status == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %s /readyz = %d, not ready within %v", a, status, within)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
