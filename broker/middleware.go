package broker

import (
	"net/http"
	"sync"
	"time"
)

// pageCSP is the Content-Security-Policy of every HTML page Gatehouse renders.
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'"

// pageHeaders sets the security headers of HTML pages.
func (s *Server) pageHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", pageCSP)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// browserRoute wraps a browser-facing route: security headers and cross-origin protection
// (non-safe requests from another origin are refused; forms also carry a CSRF token).
func (s *Server) browserRoute(h http.HandlerFunc) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.errorPage(w, r, http.StatusForbidden, "Request refused",
			"This form was submitted from another site, so Gatehouse refused it.",
			"Go back to the application and start signing in again.")
	}))
	return s.pageHeaders(cop.Handler(h))
}

// allowedOrigin reports whether CORS may answer for the origin.
func (s *Server) allowedOrigin(origin string) bool {
	return origin != "" && (s.origins["*"] || s.origins[origin])
}

// cors adds CORS headers for configured origins on API routes (token, userinfo, discovery,
// JWKS, revocation).
func (s *Server) cors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); s.allowedOrigin(o) {
			hd := w.Header()
			hd.Set("Access-Control-Allow-Origin", o)
			hd.Add("Vary", "Origin")
			hd.Set("Access-Control-Expose-Headers", "WWW-Authenticate")
		}
		h.ServeHTTP(w, r)
	})
}

// handlePreflight answers CORS preflight requests for API routes.
func (s *Server) handlePreflight(w http.ResponseWriter, r *http.Request) {
	o := r.Header.Get("Origin")
	if !s.allowedOrigin(o) {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	hd := w.Header()
	hd.Set("Access-Control-Allow-Origin", o)
	hd.Add("Vary", "Origin")
	hd.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, DPoP")
	hd.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// loginLimiter limits failed password logins per key (client IP, username) in a sliding
// window. It is per process: with several replicas each enforces its own budget.
type loginLimiter struct {
	mu     sync.Mutex
	now    func() time.Time
	max    int
	window time.Duration
	fails  map[string][]time.Time
	sweep  time.Time
}

func newLoginLimiter(now func() time.Time, max int, window time.Duration) *loginLimiter {
	return &loginLimiter{now: now, max: max, window: window, fails: make(map[string][]time.Time)}
}

// Allowed reports whether another attempt is allowed for every key.
func (l *loginLimiter) Allowed(keys ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range keys {
		if len(l.recent(k, now)) >= l.max {
			return false
		}
	}
	return true
}

// Fail records a failed attempt against every key.
func (l *loginLimiter) Fail(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range keys {
		l.fails[k] = append(l.recent(k, now), now)
	}
	if now.Sub(l.sweep) > l.window {
		l.sweep = now
		for k := range l.fails {
			if len(l.recent(k, now)) == 0 {
				delete(l.fails, k)
			}
		}
	}
}

// Reset forgets a key's failures (after a successful login).
func (l *loginLimiter) Reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, key)
}

func (l *loginLimiter) recent(k string, now time.Time) []time.Time {
	ts := l.fails[k]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= l.window {
		i++
	}
	if i > 0 {
		ts = append(ts[:0:0], ts[i:]...)
		l.fails[k] = ts
	}
	return ts
}
