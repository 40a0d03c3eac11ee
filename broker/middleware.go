package broker

import (
	"context"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/pages"
)

// allowedOrigin reports whether CORS may answer for the origin: web.allowed_origins, a
// configured client's allowed_origins, or a stored client's (read through the registry).
func (s *Server) allowedOrigin(ctx context.Context, origin string) bool {
	return origin != "" && (s.origins["*"] || s.origins[origin] || s.Clients.StoredOriginAllowed(ctx, origin))
}

// cors adds CORS headers for configured origins on API routes (token, userinfo, discovery,
// JWKS, revocation).
func (s *Server) cors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); s.allowedOrigin(r.Context(), o) {
			hd := w.Header()
			hd.Set("Access-Control-Allow-Origin", o)
			hd.Add("Vary", "Origin")
			hd.Set("Access-Control-Expose-Headers", "WWW-Authenticate, X-Request-Id, DPoP-Nonce")
		}
		h.ServeHTTP(w, r)
	})
}

// handlePreflight answers CORS preflight requests for API routes.
func (s *Server) handlePreflight(w http.ResponseWriter, r *http.Request) {
	o := r.Header.Get("Origin")
	if !s.allowedOrigin(r.Context(), o) {
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

// Request body limits. Every route's body is bounded before any handler parses it.
const (
	// maxFormBody bounds form posts and API requests.
	maxFormBody = 64 << 10
	// maxSAMLBody bounds the routes that receive SAML messages (signed, base64 XML): the IdP's
	// SSO and SLO endpoints and the connectors' callbacks and assertion consumer services.
	maxSAMLBody = 256 << 10
)

// bodyLimit is the largest body a path may carry.
func (s *Server) bodyLimit(path string) int64 {
	rest := strings.TrimPrefix(path, s.prefix)
	if strings.HasPrefix(rest, "/saml/") || strings.HasPrefix(rest, "/callback/") {
		return maxSAMLBody
	}
	return maxFormBody
}

// limitBodies wraps every route: it bounds the request body (http.MaxBytesReader, and at once
// from a declared Content-Length), refuses multipart bodies (net/http would spool them to
// disk) and refuses a POST whose body is not application/x-www-form-urlencoded, saying so,
// instead of letting the handler see an empty form. A bodiless POST to /userinfo (the access
// token in the Authorization header) needs no content type; POST /register takes JSON.
func (s *Server) limitBodies(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := s.bodyLimit(r.URL.Path)
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")) //nolint:errcheck // an unparsable type is "" and refused below
		switch {
		case r.ContentLength > limit:
			s.refuseBody(w, r, http.StatusRequestEntityTooLarge, "The request is too large.")
			return
		case strings.HasPrefix(mt, "multipart/"):
			s.refuseBody(w, r, http.StatusUnsupportedMediaType, "Gatehouse does not accept multipart forms; send application/x-www-form-urlencoded.")
			return
		case r.Method == http.MethodPost && mt != "application/x-www-form-urlencoded" && !s.bodilessAPI(r) && !s.jsonAPI(r, mt):
			what := "without a Content-Type"
			if mt != "" {
				what = "as " + mt
			}
			s.refuseBody(w, r, http.StatusUnsupportedMediaType, "The form was sent "+what+"; Gatehouse accepts only application/x-www-form-urlencoded.")
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		h.ServeHTTP(w, r)
	})
}

// bodilessAPI reports a POST without a body to the userinfo endpoint, which RFC 6750 clients
// send with the token in the Authorization header, or to the Envoy forward-auth check, which
// Envoy's ext_authz sends with the original request's method and no body.
func (s *Server) bodilessAPI(r *http.Request) bool {
	return r.ContentLength == 0 && r.Header.Get("Content-Type") == "" &&
		(r.URL.Path == s.prefix+"/userinfo" || strings.HasPrefix(r.URL.Path, s.prefix+"/forward-auth/envoy/"))
}

// jsonAPI reports a JSON POST to the client registration endpoint (RFC 7591 3.1 requests
// are application/json; its PUT is not a form either).
func (s *Server) jsonAPI(r *http.Request, mt string) bool {
	return mt == "application/json" && r.URL.Path == s.prefix+"/register"
}

// apiPaths are the routes that answer with RFC 6749 JSON errors rather than pages.
var apiPaths = []string{"/token", "/revoke", "/introspect", "/userinfo", "/par", "/register"}

// refuseBody answers a request whose body Gatehouse will not read: a JSON invalid_request on
// API routes, an error page elsewhere.
func (s *Server) refuseBody(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.Logger.InfoContext(r.Context(), "request body refused", "path", r.URL.Path, "status", status, "content_type", r.Header.Get("Content-Type"), "content_length", r.ContentLength)
	w.Header().Set("Connection", "close")
	if slices.Contains(apiPaths, strings.TrimPrefix(r.URL.Path, s.prefix)) {
		oauth2err.WriteJSON(w, r, &oauth2err.Error{Code: oauth2err.InvalidRequest, Description: msg, Status: status})
		return
	}
	pages.Headers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.pages.Error(w, r, status, "Request refused", msg, "Go back and try again.")
	})).ServeHTTP(w, r)
}
