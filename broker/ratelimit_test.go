package broker_test

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/connectors/local"
	"github.com/gatehouse-id/gatehouse/mfa"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
)

// parkingUsers is a slow user source: the first n lookups wait until release is closed, so
// a test can hold a burst of logins between the rate limit and the password check.
type parkingUsers struct {
	local.UserSource
	n       int
	mu      sync.Mutex
	parked  int
	arrived chan struct{} // one value per parked lookup
	release chan struct{}
}

func newParkingUsers(n int) *parkingUsers {
	return &parkingUsers{n: n, arrived: make(chan struct{}, n), release: make(chan struct{})}
}

func (p *parkingUsers) LookupUser(ctx context.Context, name string) (local.User, error) {
	p.mu.Lock()
	park := p.parked < p.n
	if park {
		p.parked++
	}
	p.mu.Unlock()
	if park {
		p.arrived <- struct{}{}
		<-p.release
	}
	return p.UserSource.LookupUser(ctx, name)
}

// loginForm starts an authorization request in b and returns the password form's URL and
// fields.
func loginForm(t *testing.T, e *env, b *browser) (string, url.Values) {
	t.Helper()
	_, challenge := pkce(oauth2.GenerateVerifier())
	q := url.Values{"client_id": {confidentialID}, "redirect_uri": {redirectURI}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	authURL := e.issuer + "/authorize?" + q.Encode()
	p, _ := b.follow(e, b.get(authURL), authURL)
	if !strings.Contains(p.body, `name="password"`) {
		t.Fatalf("expected the login page, got %d:\n%s", p.status, p.body)
	}
	action, vals := form(t, p.body)
	return e.issuer + action, vals
}

// postForm posts a form from any goroutine (no t.Fatal) and returns the status and the
// redirect target; xff, when set, is sent as X-Forwarded-For.
func postForm(b *browser, to string, vals url.Values, xff string) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, to, strings.NewReader(vals.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		return 0, "", err
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location"), nil
}

// with returns a copy of vals with the fields set.
func with(vals url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, v := range vals {
		out[k] = append([]string(nil), v...)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}

// signedIn reports whether a login answer left the login page (a redirect onwards to consent
// or the client) rather than refusing the password.
func signedIn(status int) bool { return status >= 300 && status < 400 }

// TestLoginBurstCannotOutrunLimit reserves the attempt before the password is checked.
// Attack (issue 12 item 6): 100 parallel wrong passwords from one IP are all checked (the limit
// is 10, but every request passed the limit before any had failed), and the right password
// sent in the same burst signs in.
func TestLoginBurstCannotOutrunLimit(t *testing.T) {
	const burst = 100
	gate := newParkingUsers(burst)
	e := newEnvOpts(t, envOpts{users: func(u local.UserSource) local.UserSource { gate.UserSource = u; return gate }})
	b := e.browser()
	to, vals := loginForm(t, e, b)

	var wrongChecked, refused atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, burst)
	for range burst {
		wg.Go(func() {
			status, _, err := postForm(b, to, with(vals, "username", "alice", "password", "wrong"), "")
			switch {
			case err != nil:
				errs <- err
			case status == http.StatusUnauthorized:
				wrongChecked.Add(1)
			case status == http.StatusTooManyRequests:
				refused.Add(1)
			}
			gate.arrived <- struct{}{} // counts answered requests too; drained below
		})
	}
	// Wait until every wrong attempt is either answered or parked at the password check.
	for range burst {
		select {
		case <-gate.arrived:
		case <-time.After(20 * time.Second):
			t.Fatal("the burst did not settle")
		}
	}
	// The right password, in the same burst (the wrong ones have not failed yet).
	status, loc, err := postForm(b, to, with(vals, "username", "alice", "password", alicePassword), "")
	close(gate.release)
	wg.Wait()
	close(errs)
	if err != nil {
		t.Fatal(err)
	}
	for err := range errs {
		t.Fatal(err)
	}
	if signedIn(status) {
		t.Fatalf("the right password in the burst signed in (%d -> %s)", status, loc)
	}
	if status != http.StatusTooManyRequests {
		t.Errorf("right password in the burst: status %d, want 429", status)
	}
	if n := wrongChecked.Load(); n > 10 {
		t.Errorf("%d wrong passwords were checked, want at most 10 (the limit)", n)
	}
	if wrongChecked.Load()+refused.Load() != burst {
		t.Errorf("%d checked + %d refused, want %d answers", wrongChecked.Load(), refused.Load(), burst)
	}
}

// TestLoginLimitKeysCanonicalAccount keys the per-account budget on the username as the
// connector understands it.
// Attack (issue 12 item 6): wrong passwords for " alice ", "Alice", "alice\t" (each from its
// own IP) do not count against "alice", whose password the connector checks for all of them,
// so the attacker escapes alice's lockout.
func TestLoginLimitKeysCanonicalAccount(t *testing.T) {
	e := newEnvOpts(t, envOpts{trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	b := e.browser()
	to, vals := loginForm(t, e, b)
	spellings := []string{" alice ", "Alice", "alice\t", "  alice", "ALICE", "alice ", "\talice", " Alice", "aLiCe", "alice  "}
	for i, name := range spellings {
		status, _, err := postForm(b, to, with(vals, "username", name, "password", "wrong"), fmt.Sprintf("192.0.2.%d", i+1))
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusUnauthorized {
			t.Fatalf("wrong password for %q: status %d, want 401", name, status)
		}
	}
	status, loc, err := postForm(b, to, with(vals, "username", "alice", "password", alicePassword), "198.51.100.1")
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusTooManyRequests {
		t.Fatalf("alice after 10 failures under other spellings: status %d (-> %s), want 429", status, loc)
	}
}

// TestLoginLimitSharedByReplicas: two brokers on one database draw on one budget.
// Attack (issue 12 item 7): with N replicas behind a load balancer the attacker gets N times
// the attempts; here 6 wrong passwords at each of two replicas, then the right one.
func TestLoginLimitSharedByReplicas(t *testing.T) {
	dir := t.TempDir()
	replicas := []*env{newEnvOpts(t, envOpts{dir: dir}), newEnvOpts(t, envOpts{dir: dir})}
	type flow struct {
		b    *browser
		to   string
		vals url.Values
	}
	flows := make([]flow, len(replicas))
	for i, e := range replicas {
		b := e.browser()
		to, vals := loginForm(t, e, b)
		flows[i] = flow{b, to, vals}
	}
	for round := range 6 {
		for i, f := range flows {
			status, _, err := postForm(f.b, f.to, with(f.vals, "username", "alice", "password", "wrong"), "")
			if err != nil {
				t.Fatal(err)
			}
			want := http.StatusUnauthorized
			if round*2+i >= 10 {
				want = http.StatusTooManyRequests
			}
			if status != want {
				t.Fatalf("wrong password %d at replica %d: status %d, want %d", round*2+i+1, i, status, want)
			}
		}
	}
	f := flows[0]
	status, loc, err := postForm(f.b, f.to, with(f.vals, "username", "alice", "password", alicePassword), "")
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusTooManyRequests {
		t.Fatalf("right password after 12 failures across replicas: status %d (-> %s), want 429", status, loc)
	}
}

// parkingMFA is a slow MFA store (every factor read takes latency) whose first n requests
// park at their second factor read, i.e. inside the check of the submitted code, until
// release is closed. Calls are grouped into requests by their context.
type parkingMFA struct {
	*sqlite.Store
	latency time.Duration
	n       int
	mu      sync.Mutex
	armed   bool
	reads   map[context.Context]int
	parked  int
	arrived chan struct{}
	release chan struct{}
}

func (p *parkingMFA) ListMFAFactors(ctx context.Context, userID string) ([]storage.MFAFactor, error) {
	time.Sleep(p.latency)
	p.mu.Lock()
	p.reads[ctx]++
	park := p.armed && p.reads[ctx] == 2 && p.parked < p.n
	if park {
		p.parked++
	}
	p.mu.Unlock()
	if park {
		p.arrived <- struct{}{}
		<-p.release
	}
	return p.Store.ListMFAFactors(ctx, userID)
}

func (p *parkingMFA) CountRecoveryCodes(ctx context.Context, userID string) (int, error) {
	time.Sleep(p.latency)
	return p.Store.CountRecoveryCodes(ctx, userID)
}

// TestMFABurstCannotOutrunLimit reserves the second-factor attempt before the code is
// checked.
// Attack (issue 12 item 6): with 2 ms of storage latency, a burst of 100 wrong TOTP codes had
// 32-167 checked (limit 5), and the right code in the same burst was accepted.
func TestMFABurstCannotOutrunLimit(t *testing.T) {
	const burst = 100
	gate := &parkingMFA{latency: 2 * time.Millisecond, n: burst, reads: map[context.Context]int{},
		arrived: make(chan struct{}, 2*burst), release: make(chan struct{})}
	e := newMFAEnv(t, mfa.Required, func(_ string, o *mfa.Options) { gate.Store = o.Store.(*sqlite.Store); o.Store = gate })
	r := e.rp(confidentialID, confidentialSecret, redirectURI)
	secret, _, _ := e.enrolTOTP(t, e.browser(), r)
	e.clock.Advance(30 * time.Second)
	b := e.browser()
	p, _ := e.passwordStep(b, e.authURL(r, oauth2.GenerateVerifier()))
	to, vals := formWith(t, p.body, "totp")
	gate.mu.Lock()
	gate.armed = true
	gate.mu.Unlock()

	var wrongChecked atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, burst)
	for range burst {
		wg.Go(func() {
			status, _, err := postForm(b, e.issuer+to, with(vals, "code", "999999"), "")
			switch {
			case err != nil:
				errs <- err
			case status == http.StatusUnauthorized:
				wrongChecked.Add(1)
			}
		})
	}
	// Every request reads the factors twice before it is answered: once for the page and once
	// for the check (or, when refused, for the 429 page). Wait until all are parked there.
	for range burst {
		select {
		case <-gate.arrived:
		case <-time.After(20 * time.Second):
			t.Fatal("the burst did not settle")
		}
	}
	status, loc, err := postForm(b, e.issuer+to, with(vals, "code", totpCode(t, secret, e.clock.Now())), "")
	close(gate.release)
	wg.Wait()
	close(errs)
	if err != nil {
		t.Fatal(err)
	}
	for err := range errs {
		t.Fatal(err)
	}
	if signedIn(status) {
		t.Fatalf("the right code in the burst was accepted (%d -> %s)", status, loc)
	}
	if status != http.StatusTooManyRequests {
		t.Errorf("right code in the burst: status %d, want 429", status)
	}
	if n := wrongChecked.Load(); n > 5 {
		t.Errorf("%d wrong codes were checked, want at most 5 (the limit)", n)
	}
}

// TestUpstreamOutageSpendsNoLoginBudget: attempts during an upstream outage (the password is
// never checked) give their reservation back, so when the upstream returns the user signs in
// instead of finding the account locked by an outage they did not cause.
func TestUpstreamOutageSpendsNoLoginBudget(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	to, vals := loginForm(t, e, b)
	e.upstreamDown.Store(true)
	for i := range 12 {
		status, _, err := postForm(b, to, with(vals, "username", "alice", "password", alicePassword), "")
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusServiceUnavailable {
			t.Fatalf("attempt %d during the outage: status %d, want 503 (upstream unavailable)", i+1, status)
		}
	}
	e.upstreamDown.Store(false)
	status, loc, err := postForm(b, to, with(vals, "username", "alice", "password", alicePassword), "")
	if err != nil {
		t.Fatal(err)
	}
	if !signedIn(status) {
		t.Fatalf("after the outage: status %d (-> %s), want a redirect onwards (signed in)", status, loc)
	}
}
