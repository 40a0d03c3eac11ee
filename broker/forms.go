package broker

import (
	"net/http"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
)

// checkCSRF verifies a form's CSRF token for the purpose; on failure it renders a page.
func (s *Server) checkCSRF(w http.ResponseWriter, r *http.Request, flow, purpose string) bool {
	if session.CheckCSRF(flow, purpose, r.PostFormValue("csrf")) {
		return true
	}
	s.Logger.WarnContext(r.Context(), "csrf token missing or wrong", "path", r.URL.Path)
	s.pages.Error(w, r, http.StatusForbidden, "Request refused",
		"This form could not be verified (its security token is missing or wrong), so nothing was done.",
		"Go back to the application and start signing in again.")
	return false
}

// clientName is how the pages name a client.
func clientName(c *clients.Client) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

// displayName is how the pages name a signed-in user.
func displayName(id storage.Identity) string {
	switch {
	case id.Email != "":
		return id.Email
	case id.PreferredUsername != "":
		return id.PreferredUsername
	case id.Name != "":
		return id.Name
	}
	return id.Subject
}
