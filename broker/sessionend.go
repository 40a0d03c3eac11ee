package broker

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
)

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
