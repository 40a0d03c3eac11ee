package broker

import (
	"net/http"
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
