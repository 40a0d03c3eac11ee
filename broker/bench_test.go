//go:build unix

package broker_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The benchmarks call the broker's handler in-process (no TCP) so that they measure the
// server's own cost: routing, storage (SQLite), signing and encoding. Run them with
//
//	go test -run '^$' -bench . -benchmem ./broker/
//
// Each is split by signing algorithm where that matters. Besides ns/op (wall time, which
// suffers when other processes compete for the CPU) they report cpu-ns/op: the process's
// user+system CPU time per operation, GC and SQLite included, which is the figure to compare
// with the loadtest's server CPU per request.

// processCPU is the CPU time (user + system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measureCPU resets the timer, turns on allocation reporting and returns a function that
// reports the CPU time per operation since; call it right after the timed loop.
func measureCPU(b *testing.B) func() {
	b.ReportAllocs()
	b.ResetTimer()
	start := processCPU()
	return func() {
		b.StopTimer()
		b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
	}
}

var benchAlgs = []string{"RS256", "ES256", "EdDSA"}

const benchScope = "openid profile email groups offline_access"

// benchVerifier is the PKCE verifier of every benchmark authorization request.
const benchVerifier = "bench-verifier-0123456789-0123456789-0123456789"

// call serves one request in-process.
func (e *env) call(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.srv.Config.Handler.ServeHTTP(rec, req)
	return rec
}

func (e *env) benchAuthURL() string {
	_, challenge := pkce(benchVerifier)
	return e.issuer + "/authorize?" + url.Values{
		"response_type": {"code"}, "client_id": {confidentialID}, "redirect_uri": {redirectURI}, "scope": {benchScope},
		"state": {"bench-state"}, "nonce": {"bench-nonce"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}.Encode()
}

// signedIn logs alice in once through the forms (SSO session + remembered consent) and
// returns her browser and the first redirect back to the client.
func (e *env) signedIn() (*browser, string) {
	b := e.browser()
	to := e.login(b, e.benchAuthURL(), alicePassword, true)
	return b, to
}

// nextCode runs GET /authorize in-process with the browser's cookies: with an SSO session
// and remembered consent that redirects straight back with a new code.
func (e *env) nextCode(b *browser) string {
	e.t.Helper()
	issuer, _ := url.Parse(e.issuer)
	target := e.benchAuthURL()
	for range 5 {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		for _, c := range b.c.Jar.Cookies(issuer) {
			req.AddCookie(c)
		}
		rec := e.call(req)
		res := rec.Result()
		b.c.Jar.SetCookies(issuer, res.Cookies())
		loc := res.Header.Get("Location")
		if rec.Code < 300 || rec.Code >= 400 || loc == "" {
			e.t.Fatalf("authorize with an SSO session: status %d:\n%s", rec.Code, rec.Body.String())
		}
		if strings.HasPrefix(loc, redirectURI+"?") {
			code := callbackParams(e.t, loc).Get("code")
			if code == "" {
				e.t.Fatalf("no code in %s", loc)
			}
			return code
		}
		u, err := issuer.Parse(loc)
		if err != nil {
			e.t.Fatal(err)
		}
		target = u.String()
	}
	e.t.Fatal("authorize did not come back to the client")
	return ""
}

// benchClientPost builds an in-process client_secret_basic POST (token, introspection).
func benchClientPost(path string, form url.Values) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(confidentialID, confidentialSecret)
	return req
}

type benchTokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

func (e *env) exchange(code string) benchTokens {
	e.t.Helper()
	rec := e.call(benchClientPost("/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {benchVerifier}}))
	if rec.Code != http.StatusOK {
		e.t.Fatalf("code exchange: %d %s", rec.Code, rec.Body.String())
	}
	var t benchTokens
	if err := json.Unmarshal(rec.Body.Bytes(), &t); err != nil || t.AccessToken == "" || t.RefreshToken == "" {
		e.t.Fatalf("token response %s: %v", rec.Body.String(), err)
	}
	return t
}

// benchLogin signs alice in and redeems one code.
func (e *env) benchLogin() benchTokens {
	_, to := e.signedIn()
	return e.exchange(callbackParams(e.t, to).Get("code"))
}

// BenchmarkCodeExchange redeems a fresh authorization code per iteration: POST /token with
// grant_type=authorization_code, PKCE and client_secret_basic, which consumes the code,
// creates the grant and its first refresh token, and signs an access and an ID token. The
// codes are made before the timer starts, one in-process GET /authorize each.
func BenchmarkCodeExchange(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			e := newEnvAlg(b, alg)
			br, _ := e.signedIn()
			codes := make([]string, b.N)
			for i := range codes {
				codes[i] = e.nextCode(br)
			}
			form := url.Values{"grant_type": {"authorization_code"}, "redirect_uri": {redirectURI}, "code_verifier": {benchVerifier}}
			done := measureCPU(b)
			for i := range b.N {
				form.Set("code", codes[i])
				rec := e.call(benchClientPost("/token", form))
				if rec.Code != http.StatusOK {
					b.Fatalf("code exchange: %d %s", rec.Code, rec.Body.String())
				}
			}
			done()
		})
	}
}

// BenchmarkRefresh rotates one refresh-token chain: each iteration spends the token the
// previous one returned (so the iterations are strictly sequential, like one client).
func BenchmarkRefresh(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			e := newEnvAlg(b, alg)
			rt := e.benchLogin().RefreshToken
			form := url.Values{"grant_type": {"refresh_token"}}
			done := measureCPU(b)
			for range b.N {
				form.Set("refresh_token", rt)
				rec := e.call(benchClientPost("/token", form))
				if rec.Code != http.StatusOK {
					b.Fatalf("refresh: %d %s", rec.Code, rec.Body.String())
				}
				var t benchTokens
				if err := json.Unmarshal(rec.Body.Bytes(), &t); err != nil || t.RefreshToken == "" {
					b.Fatalf("refresh response %s: %v", rec.Body.String(), err)
				}
				rt = t.RefreshToken
			}
			done()
		})
	}
}

// BenchmarkUserinfo is GET /userinfo with a bearer access token: signature verification, a
// grant lookup and the claims JSON.
func BenchmarkUserinfo(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			e := newEnvAlg(b, alg)
			at := e.benchLogin().AccessToken
			done := measureCPU(b)
			for range b.N {
				req := httptest.NewRequest(http.MethodGet, "/userinfo", nil)
				req.Header.Set("Authorization", "Bearer "+at)
				if rec := e.call(req); rec.Code != http.StatusOK {
					b.Fatalf("userinfo: %d %s", rec.Code, rec.Body.String())
				}
			}
			done()
		})
	}
}

// BenchmarkIntrospect is POST /introspect of an access token by its client.
func BenchmarkIntrospect(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			e := newEnvAlg(b, alg)
			at := e.benchLogin().AccessToken
			form := url.Values{"token": {at}}
			done := measureCPU(b)
			for range b.N {
				rec := e.call(benchClientPost("/introspect", form))
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"active":true`) {
					b.Fatalf("introspect: %d %s", rec.Code, rec.Body.String())
				}
			}
			done()
		})
	}
}

// BenchmarkJWKS is GET /keys: fixed bytes until the keys change.
func BenchmarkJWKS(b *testing.B) {
	e := newEnv(b)
	done := measureCPU(b)
	for range b.N {
		if rec := e.call(httptest.NewRequest(http.MethodGet, "/keys", nil)); rec.Code != http.StatusOK {
			b.Fatalf("jwks: %d", rec.Code)
		}
	}
	done()
}

// BenchmarkDiscovery is GET /.well-known/openid-configuration: fixed bytes.
func BenchmarkDiscovery(b *testing.B) {
	e := newEnv(b)
	done := measureCPU(b)
	for range b.N {
		if rec := e.call(httptest.NewRequest(http.MethodGet, "/.well-known/openid-configuration", nil)); rec.Code != http.StatusOK {
			b.Fatalf("discovery: %d", rec.Code)
		}
	}
	done()
}
