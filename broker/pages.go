package broker

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"

	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/internal/logctx"
)

// page is the data every template gets.
type page struct {
	Title string
	Base  string
}

type errorData struct {
	page
	Heading, Message, Hint, RequestID string
}

// errorPage renders a user-facing error: what went wrong and what to do, never internals,
// with the request ID as a reference the user can quote (it is in every log line of the
// request).
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, heading, message, hint string) {
	d := errorData{page: page{Title: heading, Base: s.prefix}, Heading: heading, Message: message, Hint: hint,
		RequestID: logctx.RequestID(r.Context())}
	if err := s.Templates.Render(w, status, "error.html", d); err != nil {
		s.Logger.ErrorContext(r.Context(), "render error page", "err", err)
	}
}

// internalError logs the cause and shows a generic page.
func (s *Server) internalError(w http.ResponseWriter, r *http.Request, msg string, err error) {
	s.Logger.ErrorContext(r.Context(), msg, "err", err, "path", r.URL.Path)
	if s.storageDown(r.Context()) {
		w.Header().Set("Retry-After", "5")
		s.errorPage(w, r, http.StatusServiceUnavailable, "Gatehouse is temporarily unavailable",
			"Gatehouse cannot reach its database right now, so it cannot sign you in.",
			"Wait a moment and try again; nothing you entered was saved.")
		return
	}
	s.errorPage(w, r, http.StatusInternalServerError, "Something went wrong",
		"Gatehouse could not finish this step because of an internal error.",
		"Try again in a moment. If it keeps happening, tell your administrator the reference below.")
}

// expiredRequest is the page for an unknown or expired auth request.
func (s *Server) expiredRequest(w http.ResponseWriter, r *http.Request) {
	s.errorPage(w, r, http.StatusBadRequest, "This sign-in link has expired",
		"The sign-in you were in the middle of is no longer valid (it expired, was already finished, or was started in another browser).",
		"Go back to the application and sign in again.")
}

// redirectError sends an authorization error to the client, or shows it when it must not be
// redirected.
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, redirectURI, responseMode, state string, err error) {
	e := oauth2err.As(err)
	if s.samlRedirectError(w, r, redirectURI, responseMode, state, e) { // SAML flows (broker/saml.go)
		return
	}
	if e.Code == oauth2err.ServerError {
		s.Logger.ErrorContext(r.Context(), "authorization request failed", "err", e)
	} else {
		s.Logger.InfoContext(r.Context(), "authorization request refused", "err", e)
	}
	if e.NoRedirect || redirectURI == "" {
		s.errorPage(w, r, http.StatusBadRequest, "Sign-in request refused",
			"The application sent an invalid sign-in request: "+e.Description+".",
			"This is a problem with the application's configuration; tell its administrator.")
		return
	}
	params := url.Values{"error": {string(e.Code)}}
	if e.Description != "" {
		params.Set("error_description", e.Description)
	}
	s.respond(w, r, redirectURI, responseMode, state, params)
}

// respond delivers authorization response parameters (plus state and iss) to the client's
// redirect URI with the response mode.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, redirectURI, responseMode, state string, params url.Values) {
	if state != "" {
		params.Set("state", state)
	}
	params.Set("iss", s.Issuer)
	if responseMode == "form_post" {
		s.formPost(w, r, redirectURI, params)
		return
	}
	u, err := url.Parse(redirectURI)
	if err != nil {
		s.internalError(w, r, "parse redirect uri", err)
		return
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

type formPostData struct {
	Action string
	Fields map[string]string
	Nonce  string
}

// formPost renders the OAuth 2.0 Form Post Response Mode page.
func (s *Server) formPost(w http.ResponseWriter, r *http.Request, action string, params url.Values) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	nonce := base64.RawStdEncoding.EncodeToString(b[:])
	fields := make(map[string]string, len(params))
	for k := range params {
		fields[k] = params.Get(k)
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; frame-ancestors 'none'; base-uri 'none'")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.Templates.Render(w, http.StatusOK, "form_post.html", formPostData{Action: action, Fields: fields, Nonce: nonce}); err != nil {
		s.Logger.ErrorContext(r.Context(), "render form_post", "err", err)
	}
}
