package broker

import (
	"net/http"
	"net/url"

	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
)

// redirectError sends an authorization error to the client, or shows it when it must not be
// redirected.
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, redirectURI, responseMode, state string, err error) {
	e := oauth2err.As(err)
	if e.Code == oauth2err.ServerError {
		s.Logger.ErrorContext(r.Context(), "authorization request failed", "err", e)
	} else {
		s.Logger.InfoContext(r.Context(), "authorization request refused", "err", e)
	}
	if e.NoRedirect || redirectURI == "" {
		s.pages.Error(w, r, http.StatusBadRequest, "Sign-in request refused",
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
		s.pages.FormPost(w, r, redirectURI, params)
		return
	}
	u, err := url.Parse(redirectURI)
	if err != nil {
		s.pages.Internal(w, r, "parse redirect uri", err)
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
