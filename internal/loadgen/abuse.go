package loadgen

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// AbuseOptions sizes the abuse scenario (`gatehouse loadtest --scenario abuse`): what an
// attacker with one machine's worth of sockets can make the broker hold at once.
type AbuseOptions struct {
	// AuthRequests authorization requests are started and never finished (each stores an
	// auth request and answers with the login page).
	AuthRequests int
	// Conns connections are opened and held for Hold: half sent one request and stay idle
	// in keep-alive, half never send a byte (waiting for their header).
	Conns int
	Hold  time.Duration
	// SAMLPosts POSTs of SAMLBody bytes (a SAMLRequest of base64 XML) are sent to the SAML
	// IdP's SSO endpoint, SAMLConcurrency at once.
	SAMLPosts, SAMLConcurrency, SAMLBody int
}

// AbuseStep is what one step of the abuse scenario did and the server's RSS: after the step
// (RSS) and the highest seen while it ran (PeakRSS, sampled every 20 ms).
type AbuseStep struct {
	Name          string
	Count, Errors int
	Elapsed       time.Duration
	RSS, PeakRSS  int64
	FirstError    string
}

// Abuse runs the abuse steps in turn (idle, authrequests, conns, samlposts) against the
// server of Config.PID, which is required.
func (g *Generator) Abuse(ctx context.Context, o AbuseOptions) ([]AbuseStep, error) {
	if g.cfg.PID == 0 {
		return nil, fmt.Errorf("abuse: the server's --pid is required (its RSS is the measure)")
	}
	idle, err := ProcRSS(g.cfg.PID)
	if err != nil {
		return nil, err
	}
	steps := []AbuseStep{{Name: "idle", RSS: idle, PeakRSS: idle}}
	for _, s := range []struct {
		name string
		run  func(ctx context.Context, st *AbuseStep)
	}{
		{"authrequests", func(ctx context.Context, st *AbuseStep) { g.abuseAuthRequests(ctx, o.AuthRequests, st) }},
		{"conns", func(ctx context.Context, st *AbuseStep) { g.abuseConns(ctx, o.Conns, o.Hold, st) }},
		{"samlposts", func(ctx context.Context, st *AbuseStep) { g.abuseSAML(ctx, o, st) }},
	} {
		st := AbuseStep{Name: s.name}
		stop := g.samplePeak(&st.PeakRSS)
		start := time.Now()
		s.run(ctx, &st)
		st.Elapsed = time.Since(start)
		stop()
		if st.RSS, err = ProcRSS(g.cfg.PID); err != nil {
			return steps, err
		}
		st.PeakRSS = max(st.PeakRSS, st.RSS)
		steps = append(steps, st)
		if ctx.Err() != nil {
			return steps, ctx.Err()
		}
	}
	return steps, nil
}

// samplePeak records the server's highest RSS into peak until the returned stop is called.
func (g *Generator) samplePeak(peak *int64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if rss, err := ProcRSS(g.cfg.PID); err == nil {
				*peak = max(*peak, rss)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// fail counts an error of a step, keeping the first.
func (st *AbuseStep) fail(mu *sync.Mutex, err error) {
	mu.Lock()
	defer mu.Unlock()
	st.Errors++
	if st.FirstError == "" {
		st.FirstError = err.Error()
	}
}

// parallel runs f(i) for i < n on Config.Concurrency workers.
func (g *Generator) parallel(ctx context.Context, n, workers int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}

// abuseAuthRequests starts n authorization requests (each a new auth request in storage)
// and abandons them at the login page.
func (g *Generator) abuseAuthRequests(ctx context.Context, n int, st *AbuseStep) {
	var mu sync.Mutex
	g.parallel(ctx, n, g.cfg.Concurrency, func(i int) {
		sum := sha256.Sum256([]byte(randomString()))
		q := url.Values{"response_type": {"code"}, "client_id": {g.cfg.ClientID}, "redirect_uri": {g.cfg.RedirectURI},
			"scope": {"openid"}, "state": {randomString()[:22]}, "nonce": {randomString()[:22]},
			"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
		sep := "?"
		if strings.Contains(g.meta.AuthorizationEndpoint, "?") {
			sep = "&"
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.meta.AuthorizationEndpoint+sep+q.Encode(), nil)
		if err == nil {
			err = g.drain(req, http.StatusOK, http.StatusFound, http.StatusSeeOther)
		}
		mu.Lock()
		st.Count++
		mu.Unlock()
		if err != nil {
			st.fail(&mu, err)
		}
	})
}

// drain sends req without following redirects and reads the answer, which must have one of
// the codes.
func (g *Generator) drain(req *http.Request, codes ...int) error {
	resp, err := g.transport.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	for _, c := range codes {
		if resp.StatusCode == c {
			return nil
		}
	}
	return fmt.Errorf("%s %s: status %d", req.Method, req.URL.Path, resp.StatusCode)
}

// abuseConns opens n connections to the issuer and holds them for hold: even ones send a
// discovery request and stay open (keep-alive), odd ones send nothing.
func (g *Generator) abuseConns(ctx context.Context, n int, hold time.Duration, st *AbuseStep) {
	addr := g.issuerURL.Host
	if g.issuerURL.Port() == "" {
		addr = net.JoinHostPort(g.issuerURL.Hostname(), "80")
	}
	conns := make([]net.Conn, n)
	var mu sync.Mutex
	d := net.Dialer{Timeout: 10 * time.Second}
	get := "GET " + g.issuerURL.Path + "/.well-known/openid-configuration HTTP/1.1\r\nHost: " + g.issuerURL.Host + "\r\n\r\n"
	g.parallel(ctx, n, 64, func(i int) {
		c, err := d.DialContext(ctx, "tcp", addr)
		mu.Lock()
		st.Count++
		mu.Unlock()
		if err != nil {
			st.fail(&mu, err)
			return
		}
		conns[i] = c
		if i%2 == 1 {
			return
		}
		if _, err := io.WriteString(c, get); err != nil {
			st.fail(&mu, err)
			return
		}
		// Read the whole answer so the connection is idle in keep-alive.
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if err != nil {
			st.fail(&mu, err)
		}
	})
	select {
	case <-ctx.Done():
	case <-time.After(hold):
	}
	for _, c := range conns {
		if c != nil {
			c.Close() //nolint:errcheck // closing the attacker's side; nothing to report
		}
	}
}

// abuseSAML posts large SAMLRequests (base64 of an XML document with many elements, the
// worst case for a parser) to the IdP's SSO endpoint.
func (g *Generator) abuseSAML(ctx context.Context, o AbuseOptions, st *AbuseStep) {
	var b strings.Builder
	b.WriteString(`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_a" Version="2.0" IssueInstant="2026-01-01T00:00:00Z">`)
	for b.Len() < o.SAMLBody*3/4 {
		b.WriteString(`<x a="1"/>`)
	}
	b.WriteString(`</samlp:AuthnRequest>`)
	form := url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString([]byte(b.String()))}, "RelayState": {"r"}}.Encode()
	endpoint := strings.TrimSuffix(g.cfg.Issuer, "/") + "/saml/idp/sso"
	var mu sync.Mutex
	g.parallel(ctx, o.SAMLPosts, o.SAMLConcurrency, func(int) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form))
		if err != nil {
			st.fail(&mu, err)
			return
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		// Any answer is fine (a refusal is expected): the measure is the server's memory.
		err = g.drain(req, http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusForbidden, http.StatusNotFound)
		mu.Lock()
		st.Count++
		mu.Unlock()
		if err != nil {
			st.fail(&mu, err)
		}
	})
}

// WriteAbuseTable prints the abuse steps as a table.
func WriteAbuseTable(w io.Writer, steps []AbuseStep) error {
	if _, err := fmt.Fprintf(w, "%-13s %7s %6s %9s %9s %9s  %s\n", "step", "count", "errors", "elapsed", "rss_MB", "peak_MB", "first_error"); err != nil {
		return err
	}
	for _, s := range steps {
		if _, err := fmt.Fprintf(w, "%-13s %7d %6d %9s %9.1f %9.1f  %s\n", s.Name, s.Count, s.Errors, s.Elapsed.Round(time.Millisecond),
			float64(s.RSS)/(1<<20), float64(s.PeakRSS)/(1<<20), s.FirstError); err != nil {
			return err
		}
	}
	return nil
}
