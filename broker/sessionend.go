package broker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/gatehouse-id/gatehouse/session"
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

// flowHash is the hash of the request's flow cookie ("" without one).
func (s *Server) flowHash(r *http.Request) string {
	if f := s.Sessions.FlowSecret(r); f != "" {
		return session.HashID(f)
	}
	return ""
}

// sessionEnded is called after an SSO session was deleted (RP-initiated logout, SAML single
// logout): it revokes the session's grants that were not issued with offline_access (their
// access tokens stop working at userinfo and introspection at once; offline grants are
// meant to outlive the session), and deletes the auth requests still pending in that
// session or in the browser's flow (flowHash, "" when unknown).
func (s *Server) sessionEnded(ctx context.Context, sess storage.Session, flowHash string) error {
	grants, err := s.Storage.ListGrants(ctx, sess.Identity.Subject)
	if err != nil {
		return fmt.Errorf("list grants of ended session: %w", err)
	}
	now := s.Now().UTC()
	for _, g := range grants {
		if g.SessionID != sess.ID || slices.Contains(g.Scopes, "offline_access") {
			continue
		}
		if err := s.Storage.RevokeGrant(ctx, g.ID, now); err != nil {
			return fmt.Errorf("revoke grant of ended session: %w", err)
		}
	}
	if sw, ok := s.Storage.(storage.AuthRequestSweeper); ok {
		if _, err := sw.DeleteAuthRequestsOf(ctx, flowHash, sess.ID); err != nil {
			return fmt.Errorf("delete auth requests of ended session: %w", err)
		}
	}
	return nil
}
