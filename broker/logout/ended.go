package logout

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/opaque"
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
	// Logouts keeps the OIDC clients of each session and the back-channel logout queue; nil:
	// no client is told of a logout.
	Logouts storage.LogoutStore
	// Clients says which participants have a back-channel logout URI (needed with Logouts).
	Clients *clients.Registry
	// Sessions deletes the sessions EndAll ends; nil: EndAll refuses.
	Sessions SessionRecords
	// Audit records each session end as a logout event once its grants are revoked (before
	// the caller deletes the session; a retried logout records it again); nil: none.
	Audit audit.Recorder
	// Deleted, when set, is called once EndAll has deleted sessions (also when it fails part
	// way), so that this process's caches of sessions drop them at once
	// (session.Manager.NoteEnded: forward auth's session recheck).
	Deleted func()
	Now     func() time.Time
}

// NewEnder returns the Ender of a backend: its grants, its sweeper when it implements
// storage.AuthRequestSweeper, and its logout queue when it implements storage.LogoutStore
// (the clients then say where logout tokens go).
func NewEnder(st GrantRevoker, cl *clients.Registry, now func() time.Time) *Ender {
	sw, _ := st.(storage.AuthRequestSweeper)
	ls, _ := st.(storage.LogoutStore)
	e := &Ender{Grants: st, Sweeper: sw, Logouts: ls, Clients: cl, Now: now}
	if sr, ok := st.(SessionRecords); ok {
		e.Sessions = sr
	}
	return e
}

// Ended does what the end of an SSO session takes away, whoever ends it: it revokes the
// session's grants that were not issued with offline_access (their access tokens stop
// working at userinfo and introspection at once; offline grants are meant to outlive the
// session), deletes the auth requests still pending in that session or in the browser's
// flow (flowHash, "" when unknown), and enqueues a back-channel logout token for every
// client of the session that has a backchannel_logout_uri (delivered by a Deliverer).
// Callers run it BEFORE they delete the session: when it fails, the user is still signed in
// and can sign out again, rather than signed out with tokens that still work or apps that
// were never told. It is safe to run twice (a client may then be told twice).
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
	if err := e.enqueueBackChannel(ctx, sess.ID, now); err != nil {
		return err
	}
	if e.Audit != nil {
		e.Audit.Record(ctx, audit.Event{Type: audit.Logout, Outcome: audit.OutcomeSuccess, User: sess.Identity.Subject, ConnectorID: sess.Auth.ConnectorID})
	}
	return nil
}

// Participants lists the OIDC clients that took part in a session (none without Logouts).
func (e *Ender) Participants(ctx context.Context, sessionID string) ([]storage.Participant, error) {
	if e.Logouts == nil || e.Clients == nil || sessionID == "" {
		return nil, nil
	}
	ps, err := e.Logouts.Participants(ctx, sessionID, e.Now().UTC())
	if err != nil {
		return nil, fmt.Errorf("list participants of session: %w", err)
	}
	return ps, nil
}

// Notify enqueues the back-channel logout tokens of a session's clients only, for a caller
// that revokes and deletes by itself (the admin API's sign-out everywhere, in one storage
// transaction); run it before that.
func (e *Ender) Notify(ctx context.Context, sessionID string) error {
	return e.enqueueBackChannel(ctx, sessionID, e.Now().UTC())
}

// enqueueBackChannel queues one delivery per participant with a back-channel logout URI,
// due at once.
func (e *Ender) enqueueBackChannel(ctx context.Context, sessionID string, now time.Time) error {
	ps, err := e.Participants(ctx, sessionID)
	if err != nil {
		return err
	}
	var ds []storage.LogoutDelivery
	for _, p := range ps {
		c := e.Clients.Get(p.ClientID)
		if c == nil || c.BackchannelLogoutURI == "" {
			continue
		}
		ds = append(ds, storage.LogoutDelivery{ID: opaque.ID(), ClientID: c.ID, URI: c.BackchannelLogoutURI,
			Subject: p.Subject, SessionID: sessionID, CreatedAt: now, NextAttempt: now})
	}
	if len(ds) == 0 {
		return nil
	}
	if err := e.Logouts.EnqueueLogouts(ctx, ds); err != nil {
		return fmt.Errorf("enqueue back-channel logouts: %w", err)
	}
	return nil
}

// SessionRecords reads and deletes SSO session records by ID (storage.SessionStore).
type SessionRecords interface {
	GetSession(ctx context.Context, id string) (storage.Session, error)
	DeleteSession(ctx context.Context, id string) error
}

// EndAll signs a user out everywhere: every live SSO session of the internal user ID ends
// as Ended says (so every client of each is told through the back-channel queue) and is
// deleted, and every grant of the user is revoked, offline ones included (the refresh
// families end). It reports how many sessions ended. It needs Logouts (to find the
// sessions) and Sessions.
func (e *Ender) EndAll(ctx context.Context, subject string) (int, error) {
	sessions := e.Sessions
	if e.Logouts == nil || sessions == nil {
		return 0, errors.New("sign out everywhere: the storage backend keeps no session participants")
	}
	ids, err := e.Logouts.SessionsOf(ctx, subject, e.Now().UTC())
	if err != nil {
		return 0, fmt.Errorf("list sessions of user: %w", err)
	}
	if e.Deleted != nil {
		defer e.Deleted()
	}
	n := 0
	for _, id := range ids {
		sess, err := sessions.GetSession(ctx, id)
		if err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				continue // ended meanwhile
			}
			return n, fmt.Errorf("load session: %w", err)
		}
		if err := e.Ended(ctx, sess, ""); err != nil {
			return n, err
		}
		if err := sessions.DeleteSession(ctx, id); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return n, fmt.Errorf("delete session: %w", err)
		}
		n++
	}
	grants, err := e.Grants.ListGrants(ctx, subject)
	if err != nil {
		return n, fmt.Errorf("list grants of user: %w", err)
	}
	now := e.Now().UTC()
	for _, g := range grants {
		if g.Revoked {
			continue
		}
		if err := e.Grants.RevokeGrant(ctx, g.ID, now); err != nil {
			return n, fmt.Errorf("revoke grant of user: %w", err)
		}
	}
	return n, nil
}

// FlowHash is the hash of the request's flow cookie ("" without one): what Ended needs to
// find the auth requests this browser left pending.
func FlowHash(m *session.Manager, r *http.Request) string {
	if f := m.FlowSecret(r); f != "" {
		return session.HashID(f)
	}
	return ""
}
