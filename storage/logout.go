package storage

import (
	"context"
	"time"
)

// Participant is an OIDC client that took part in an SSO session: it was issued an
// authorization code in it. Single logout tells every participant when the session ends.
type Participant struct {
	SessionID, ClientID string
	// Subject is the internal user ID (the client's own sub is derived from it when a
	// logout token is signed).
	Subject string
	// Expiry is when the record may be forgotten (the session's absolute expiry).
	CreatedAt, Expiry time.Time
}

// LogoutDelivery is a back-channel logout token still to be delivered to one client
// (OpenID Connect Back-Channel Logout 1.0). The token is signed at each attempt from
// Subject and SessionID, so nothing secret waits in the queue.
type LogoutDelivery struct {
	ID                 string
	ClientID, URI      string
	Subject, SessionID string
	CreatedAt          time.Time
	NextAttempt        time.Time
	Attempts           int
	LastError          string
	// Claim is the token of the claim a worker holds on the delivery (set by ClaimLogouts).
	Claim string
}

// LogoutStore keeps the participants of SSO sessions and the durable queue of back-channel
// logout deliveries, shared by every replica. It is optional; the SQLite and PostgreSQL
// backends implement it (storagetest.RunLogout).
type LogoutStore interface {
	// AddParticipant records (or refreshes) a client's participation in a session.
	AddParticipant(ctx context.Context, p Participant) error
	// Participants lists the clients of a session whose records have not expired at now.
	Participants(ctx context.Context, sessionID string, now time.Time) ([]Participant, error)
	// SessionsOf lists the IDs of the live (not expired at now) SSO sessions of an internal
	// user ID.
	SessionsOf(ctx context.Context, subject string, now time.Time) ([]string, error)
	// EnqueueLogouts adds deliveries (their IDs unique), due at their NextAttempt.
	EnqueueLogouts(ctx context.Context, ds []LogoutDelivery) error
	// ClaimLogouts takes up to limit deliveries due at now that no live claim holds, and
	// holds them under claim until now+lease, atomically: of concurrent claims (on any
	// replica) each delivery goes to exactly one.
	ClaimLogouts(ctx context.Context, claim string, now time.Time, lease time.Duration, limit int) ([]LogoutDelivery, error)
	// CompleteLogout deletes a delivery held under claim; ErrNotFound when claim no longer
	// holds it.
	CompleteLogout(ctx context.Context, id, claim string) error
	// RetryLogout releases a delivery held under claim, counting the attempt, with its next
	// attempt at next and the error seen; ErrNotFound when claim no longer holds it.
	RetryLogout(ctx context.Context, id, claim string, next time.Time, lastError string) error
	// DeleteExpiredParticipants deletes participant records that expired before before.
	DeleteExpiredParticipants(ctx context.Context, before time.Time) (int64, error)
}

// UpstreamSessions finds the SSO sessions that came from one upstream session, for a
// logout the upstream started (an OIDC upstream's back-channel logout token, a SAML
// upstream IdP's LogoutRequest). It is optional; the SQLite and PostgreSQL backends
// implement it (storagetest.RunUpstreamSessions).
type UpstreamSessions interface {
	// SessionsOfUpstream lists the IDs of the live (not expired at now) SSO sessions signed
	// in through connectorID whose Authentication records the upstream user upstreamSubject
	// and the upstream session upstreamSessionID, matched exactly. An empty upstreamSubject
	// or upstreamSessionID matches any value (a logout token may name only one of them);
	// when both are empty it lists nothing.
	SessionsOfUpstream(ctx context.Context, connectorID, upstreamSubject, upstreamSessionID string, now time.Time) ([]string, error)
}
