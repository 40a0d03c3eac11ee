package loadgen

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// forwardAuthCookie is the default forward_auth.cookie_name.
const forwardAuthCookie = "gh_fwd"

// signatureRounds is how many RS256 signatures SignatureReference times.
const signatureRounds = 200

// forwardAuthOp signs in once per worker through the forward-auth login and returns the check
// a proxy makes on every request: GET {issuer}/forward-auth with the app URL in
// X-Forwarded-Proto/-Host/-Uri and the forward-auth cookie, expecting 200 and an identity.
func (g *Generator) forwardAuthOp(ctx context.Context, i int) (op, error) {
	if g.cfg.AppURL == "" || g.cfg.Username == "" || g.cfg.Password == "" {
		return nil, errors.New("the forwardauth scenario needs --app-url, --username and --password")
	}
	app, err := url.Parse(g.cfg.AppURL)
	if err != nil || app.Host == "" {
		return nil, fmt.Errorf("app URL %q is not absolute", g.cfg.AppURL)
	}
	if i == 0 {
		g.logger.Info("signing in once per worker through the forward-auth login", "app", g.cfg.AppURL)
	}
	cookie, err := g.forwardAuthLogin(ctx, app)
	if err != nil {
		return nil, err
	}
	check := strings.TrimSuffix(g.cfg.Issuer, "/") + "/forward-auth"
	uri := app.RequestURI()
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, check, nil)
		if err != nil {
			return err
		}
		req.Header.Set("X-Forwarded-Proto", app.Scheme)
		req.Header.Set("X-Forwarded-Host", app.Host)
		req.Header.Set("X-Forwarded-Uri", uri)
		req.AddCookie(cookie)
		resp, err := g.client.Do(req)
		if err != nil {
			return err
		}
		drain(resp)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Auth-Request-User") == "" {
			return fmt.Errorf("forward-auth check: status %d, user %q", resp.StatusCode, resp.Header.Get("X-Auth-Request-User"))
		}
		return nil
	}, nil
}

// forwardAuthLogin runs the browser login of {issuer}/forward-auth/start?rd=app in a fresh
// cookie jar and returns the forward-auth cookie set on the way back to the app.
func (g *Generator) forwardAuthLogin(ctx context.Context, app *url.URL) (*http.Cookie, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Transport: g.transport, Jar: jar, Timeout: g.cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	cur, err := url.Parse(strings.TrimSuffix(g.cfg.Issuer, "/") + "/forward-auth/start?rd=" + url.QueryEscape(app.String()))
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cur.String(), nil)
	if err != nil {
		return nil, err
	}
	submitted := map[string]bool{}
	for step := 0; step < maxSteps; step++ {
		resp, err := hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("forward-auth login: %w", err)
		}
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			drain(resp)
			next, err := cur.Parse(resp.Header.Get("Location"))
			if err != nil {
				return nil, &flowError{cur.Path, "bad Location: " + err.Error()}
			}
			if next.Host == app.Host {
				for _, c := range resp.Cookies() {
					if c.Name == forwardAuthCookie && c.Value != "" {
						return &http.Cookie{Name: c.Name, Value: c.Value}, nil
					}
				}
				return nil, &flowError{cur.Path, "back at the app without a " + forwardAuthCookie + " cookie"}
			}
			if next.Host != g.issuerURL.Host {
				return nil, &flowError{cur.Path, "redirect away from the issuer to " + next.Redacted()}
			}
			cur = next
			if req, err = http.NewRequestWithContext(ctx, http.MethodGet, cur.String(), nil); err != nil {
				return nil, err
			}
			continue
		}
		body, err := readBody(resp)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, &flowError{cur.Path, fmt.Sprintf("status %d: %s", resp.StatusCode, snippet(body))}
		}
		if req, err = g.nextStep(ctx, cur, string(body), submitted); err != nil {
			return nil, err
		}
		cur = req.URL
	}
	return nil, &flowError{"forward-auth", fmt.Sprintf("not back at the app after %d steps", maxSteps)}
}

// SignatureReference times n RS256 signatures (2048-bit key) in this process on one
// goroutine, as a yardstick of this machine's speed beside a scenario's server CPU per request:
// the result's CPUPerRequest is one signature's CPU time.
func SignatureReference(n int) Result {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Result{Scenario: "rs256-signature (reference)", Errors: 1, FirstError: err.Error()}
	}
	digest := sha256.Sum256([]byte("gatehouse"))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := threadCPU()
	t0 := time.Now()
	var errs int64
	for range n {
		if _, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:]); err != nil {
			errs++
		}
	}
	elapsed := time.Since(t0)
	cpu := threadCPU() - cpu0
	if cpu <= 0 {
		cpu = elapsed
	}
	return Result{Scenario: "rs256-signature (reference)", Requests: int64(n), Errors: errs, Concurrency: 1, Elapsed: elapsed,
		RPS: float64(n) / elapsed.Seconds(), ServerCPU: cpu, CPUPerRequest: cpu / time.Duration(n)}
}

// threadCPU is the calling thread's CPU time (0 when unavailable).
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rusageThread is RUSAGE_THREAD (Linux).
const rusageThread = 1

// isLocalhostName reports localhost and the names under .localhost (RFC 6761 6.3), which
// are loopback without asking DNS.
func isLocalhostName(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// localhostDialer dials names under .localhost at 127.0.0.1, as browsers do (RFC 6761 6.3),
// so that an issuer and protected apps on one machine can have their own host names.
func localhostDialer(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, port, err := net.SplitHostPort(addr); err == nil && isLocalhostName(host) && host != "localhost" {
			addr = net.JoinHostPort("127.0.0.1", port)
		}
		return d.DialContext(ctx, network, addr)
	}
}
