package broker

import (
	"errors"
	"net/http"

	"github.com/gatehouse-id/gatehouse/storage"
)

// sessionLive checks, for an auth request that was authenticated in an SSO session, that the
// session still exists and has not expired: a logout (or the session's absolute expiry)
// ends the flows it started, so a consent form from the browser history yields nothing. It
// deletes the dead request and renders the page itself when it reports false.
func (s *Server) sessionLive(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest) bool {
	if !ar.LoggedIn {
		return true
	}
	_, live, err := s.Sessions.Live(r.Context(), ar.SessionID)
	if err != nil {
		s.pages.Internal(w, r, "load session of auth request", err)
		return false
	}
	if live {
		return true
	}
	if err := s.Storage.DeleteAuthRequest(r.Context(), ar.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.pages.Internal(w, r, "delete auth request of an ended session", err)
		return false
	}
	s.Logger.InfoContext(r.Context(), "auth request of an ended session refused", "client_id", ar.ClientID)
	s.pages.Error(w, r, http.StatusBadRequest, "You were signed out",
		"This sign-in belonged to a session that has ended (you signed out, or it expired), so it cannot be finished.",
		"Go back to the application and sign in again.")
	return false
}
