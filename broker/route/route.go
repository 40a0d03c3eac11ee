// Package route registers a broker package's routes under the issuer's path, each with the
// wrapping its kind of route needs. The root package broker builds one Mux and hands it to
// every flow package's Mount, so which headers and protections a route gets is decided in one
// place and said by the method that registers it:
//
//   - API: token, userinfo, revocation, discovery, JWKS: JSON for programs; CORS for the
//     configured origins; never cross-origin protected (SPAs POST /token from their origin).
//   - Page: HTML pages that other sites may POST to (/authorize, /logout, the SAML SSO and SLO
//     endpoints, upstream callbacks): page security headers only; nothing there changes state
//     without a CSRF-checked form or a signed protocol message.
//   - Browser: our own forms (login, consent, MFA, account): page headers plus cross-origin
//     protection (a POST from another origin is refused) on top of their CSRF tokens.
//   - Plain: no wrapping (introspection, metadata documents, static files, health).
package route

import "net/http"

// Mux registers routes under the issuer's path. Patterns are net/http patterns without the
// prefix: "GET /token" registers "GET {prefix}/token".
type Mux struct {
	mux    *http.ServeMux
	prefix string
	api    func(http.Handler) http.Handler
	page   func(http.Handler) http.Handler
	cop    func(http.Handler) http.Handler
	// instrument wraps every route's handler with its pattern (metrics); nil: none.
	instrument func(pattern string, h http.Handler) http.Handler
}

// New returns a Mux over mux for the issuer path prefix ("" at the root, else "/path"), with
// the wrappers of API routes (CORS), pages (security headers) and browser forms (security
// headers and cross-origin protection).
func New(mux *http.ServeMux, prefix string, api, page, browser func(http.Handler) http.Handler) *Mux {
	return &Mux{mux: mux, prefix: prefix, api: api, page: page, cop: browser}
}

// Instrument makes every route registered from now on pass through f with its pattern as
// the package registered it ("POST /token"): the one place per-route metrics are taken.
func (m *Mux) Instrument(f func(pattern string, h http.Handler) http.Handler) { m.instrument = f }

// handle registers h, instrumented, under the prefixed pattern.
func (m *Mux) handle(pattern string, h http.Handler) {
	if m.instrument != nil {
		h = m.instrument(pattern, h)
	}
	m.mux.Handle(m.pattern(pattern), h)
}

// Prefix is the issuer's path ("" at the root).
func (m *Mux) Prefix() string { return m.prefix }

// pattern puts the prefix between the method and the path of a pattern.
func (m *Mux) pattern(p string) string {
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			return p[:i] + m.prefix + p[i:]
		}
	}
	return m.prefix + p
}

// API registers a route for programs (CORS for configured origins).
func (m *Mux) API(pattern string, h http.HandlerFunc) { m.handle(pattern, m.api(h)) }

// Page registers an HTML route that other sites may send the browser to with a POST.
func (m *Mux) Page(pattern string, h http.HandlerFunc) { m.handle(pattern, m.page(h)) }

// Browser registers one of our own forms: cross-origin POSTs are refused.
func (m *Mux) Browser(pattern string, h http.HandlerFunc) {
	m.handle(pattern, m.cop(h))
}

// Plain registers a route without wrapping.
func (m *Mux) Plain(pattern string, h http.Handler) { m.handle(pattern, h) }
