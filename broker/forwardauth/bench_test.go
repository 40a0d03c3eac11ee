package forwardauth_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/broker"
	"github.com/gatehouse-id/gatehouse/config"
)

// BenchmarkForwardAuthCheck is the check of a signed-in request, in process (no network):
// GET /forward-auth through the broker's whole handler (middleware, mux, metrics) with the
// forward-auth cookie, as Traefik asks it. "default" caches the SSO session for
// session_recheck (1s); "recheck 0s" reads it from SQLite on every check. Profile with
// go test -run '^$' -bench ForwardAuthCheck -cpuprofile cpu.out ./broker/forwardauth.
func BenchmarkForwardAuthCheck(b *testing.B) {
	for _, tc := range []struct {
		name string
		deps func(*broker.Deps)
	}{
		{"default", nil},
		{"recheck 0s", func(d *broker.Deps) { d.ForwardAuth.SessionRecheck = 0 }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := newCorpDeps(b, traefik, func(cfg *config.Config) { cfg.Expiry.Sessions.Idle = config.Duration(time.Hour) }, tc.deps)
			br := c.browser()
			if _, at := c.login(br, c.app("wiki", "/"), "bob"); at != c.app("wiki", "/") {
				b.Fatalf("login ended at %s", at)
			}
			u, _ := url.Parse(c.app("wiki", "/"))
			var cookie *http.Cookie
			for _, k := range br.Jar.Cookies(u) {
				if k.Name == "gh_fwd" {
					cookie = k
				}
			}
			if cookie == nil {
				b.Fatal("no forward-auth cookie")
			}
			h := c.gh.HTTP.Config.Handler
			req := httptest.NewRequest(http.MethodGet, c.issuer+"/forward-auth", nil)
			req.RemoteAddr = "127.0.0.1:40000"
			req.Header.Set("X-Forwarded-Proto", "http")
			req.Header.Set("X-Forwarded-Host", u.Host)
			req.Header.Set("X-Forwarded-Uri", "/page")
			req.AddCookie(cookie)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("check: %d %s", rec.Code, rec.Body.String())
				}
			}
		})
	}
}
