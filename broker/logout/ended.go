package logout

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
)

// GrantRevoker is the part of storage.GrantStore the end of a session uses.
type GrantRevoker interface {
	ListGrants(ctx context.Context, subject string) ([]storage.Grant, error)
	RevokeGrant(ctx context.Context, id string, now time.Time) error
}

// Ender does the work that follows the deletion of an SSO session, whoever ended it
// (RP-initiated logout here, SAML single logout in broker/samlidp).
type Ender struct {
	Grants GrantRevoker
	// Sweeper deletes the auth requests of a browser or session at once; nil: the requests
	// are refused when finished (their session is gone) and expire on their own.
	Sweeper storage.AuthRequestSweeper
	// Audit records each session end as a logout event once its grants are revoked (before
	// the caller deletes the session; a retried logout records it again); nil: none.
	Audit audit.Recorder
	Now   func() time.Time
}

// NewEnder returns the Ender of a backend: its grants, and its sweeper when it implements
// storage.AuthRequestSweeper.
func NewEnder(st GrantRevoker, now func() time.Time) *Ender {
	sw, _ := st.(storage.AuthRequestSweeper)
	return &Ender{Grants: st, Sweeper: sw, Now: now}
}

// Ended does what the end of an SSO session takes away, whoever ends it: it revokes the
// session's grants that were not issued with offline_access (their access tokens stop
// working at userinfo and introspection at once; offline grants are meant to outlive the
// session), and deletes the auth requests still pending in that session or in the browser's
// flow (flowHash, "" when unknown). Callers run it BEFORE they delete the session: when it
// fails, the user is still signed in and can sign out again, rather than signed out with
// tokens that still work. It is safe to run twice.
func (e *Ender) Ended(ctx context.Context, sess storage.Session, flowHash string) error {
	grants, err := e.Grants.ListGrants(ctx, sess.Identity.Subject)
	if err != nil {
		return fmt.Errorf("list grants of ended session: %w", err)
	}
	now := e.Now().UTC()
	for _, g := range grants {
		if g.SessionID != sess.ID || slices.Contains(g.Scopes, "offline_access") {
			continue
		}
		if err := e.Grants.RevokeGrant(ctx, g.ID, now); err != nil {
			return fmt.Errorf("revoke grant of ended session: %w", err)
		}
	}
	if e.Sweeper != nil {
		if _, err := e.Sweeper.DeleteAuthRequestsOf(ctx, flowHash, sess.ID); err != nil {
			return fmt.Errorf("delete auth requests of ended session: %w", err)
		}
	}
	if e.Audit != nil {
		e.Audit.Record(ctx, audit.Event{Type: audit.Logout, Outcome: audit.OutcomeSuccess, User: sess.Identity.Subject, ConnectorID: sess.Auth.ConnectorID})
	}
	return nil
}

// FlowHash is the hash of the request's flow cookie ("" without one): what Ended needs to
// find the auth requests this browser left pending.
func FlowHash(m *session.Manager, r *http.Request) string {
	if f := m.FlowSecret(r); f != "" {
		return session.HashID(f)
	}
	return ""
}
