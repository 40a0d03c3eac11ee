// Package audit is Gatehouse's audit trail: one event type (storage.AuditEvent) for every
// security-relevant act, a Recorder interface the flow packages call with one line per act,
// and Trail, the Recorder that stores each event (storage.AuditStore) and, when asked, writes
// it as a slog line. Events never carry secrets: no password, token, code, cookie or key.
package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/logctx"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Event is one audit event.
type Event = storage.AuditEvent

// Event types.
const (
	// Login is a login through a connector; Outcome is an Outcome* value.
	Login = "login"
	// MFAEnrol is a second factor enrolled (Detail method); MFAVerify a second factor
	// checked at login (Outcome success, bad_code, rate_limited); MFAReset an operator's
	// reset of a user's factors.
	MFAEnrol  = "mfa.enrol"
	MFAVerify = "mfa.verify"
	MFAReset  = "mfa.reset"
	// ConsentGiven is a user's consent to a client's scopes (Detail scope).
	ConsentGiven = "consent.given"
	// ConsentRevoked is a user's consent to a client withdrawn on the account page, with the
	// client's grants of the user (Detail grants: how many were revoked).
	ConsentRevoked = "consent.revoked"
	// PasswordChanged is a user's own password change on the account page (Outcome success,
	// bad_credentials, rate_limited; Detail sessions_ended: the user's other sessions ended).
	PasswordChanged = "password.changed"
	// TokenIssued: tokens minted for a grant (Detail grant_type); TokenRefreshed: a refresh
	// token rotated; TokenRevoked: a token revoked by its client (RFC 7009).
	TokenIssued    = "token.issued"
	TokenRefreshed = "token.refreshed"
	TokenRevoked   = "token.revoked"
	// RefreshReuse is a rotated refresh token presented again: its family was revoked.
	RefreshReuse = "token.refresh_reuse"
	// Logout is an SSO session ended by the user (RP-initiated or SAML single logout).
	Logout = "logout"
	// ForwardAuthRefused is a forward-auth answer that refused a request (Outcome denied:
	// the app's or path's require is not met, Detail app, host, path, reason; unknown_host:
	// a host no app is on, Detail host, path; bad_return_url: a login start whose return URL
	// is not on an app's host (an open-redirect attempt), Detail return_host, reason).
	ForwardAuthRefused = "forward_auth.refused"
	// AccountLink is a login the signed-in user linked to their account from the account
	// page (ConnectorID the linked connector; Outcome success, linked_elsewhere: the upstream
	// account belongs to another user, session_changed: the session ended or changed during
	// the flow, denied: the connector's requirements refuse the account); AccountUnlink one
	// they removed (Outcome success, or last_login: refused, it was the last one; Detail
	// current_session "true" when it was the login of the session that removed it).
	AccountLink   = "account.link"
	AccountUnlink = "account.unlink"
	// UserAdded and UserRemoved are configuration users created or deleted at start.
	UserAdded   = "user.added"
	UserRemoved = "user.removed"
)

// Outcomes of a Login (the label values of gatehouse_logins_total) and of other events.
const (
	OutcomeSuccess        = "success"
	OutcomeBadCredentials = "bad_credentials"
	OutcomeDenied         = "denied"
	// OutcomeRateLimited is a lockout: the attempt budget of the IP or account is spent.
	OutcomeRateLimited   = "rate_limited"
	OutcomeUpstreamError = "upstream_error"
	OutcomeBadCode       = "bad_code"
	// OutcomeUnknownHost and OutcomeBadReturnURL are ForwardAuthRefused outcomes.
	OutcomeUnknownHost  = "unknown_host"
	OutcomeBadReturnURL = "bad_return_url"
	// OutcomeLinkedElsewhere, OutcomeSessionChanged and OutcomeLastLogin are AccountLink
	// and AccountUnlink outcomes.
	OutcomeLinkedElsewhere = "linked_elsewhere"
	OutcomeSessionChanged  = "session_changed"
	OutcomeLastLogin       = "last_login"
)

// Recorder records audit events. Record never fails the act it records: a recorder that
// cannot store an event logs why.
type Recorder interface {
	Record(ctx context.Context, e Event)
}

// Nop records nothing.
type Nop struct{}

// Record does nothing.
func (Nop) Record(context.Context, Event) {}

// Multi records every event with each recorder in turn.
type Multi []Recorder

// Record passes e to every recorder.
func (m Multi) Record(ctx context.Context, e Event) {
	for _, r := range m {
		r.Record(ctx, e)
	}
}

// Trail stores every event and, with Stream set, writes it as one slog line.
type Trail struct {
	// Store keeps the events; nil keeps none (Stream only).
	Store storage.AuditStore
	// Stream receives one "audit" line per event (config audit.log); nil: none.
	Stream *slog.Logger
	// Logger receives storage failures.
	Logger *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Record fills in the event's ID, time, request ID and client IP (from ctx, when the caller
// left them empty), stores it and streams it. A storage failure is logged at error level.
func (t *Trail) Record(ctx context.Context, e Event) {
	if e.ID == "" {
		e.ID = newID()
	}
	if e.Time.IsZero() {
		now := time.Now
		if t.Now != nil {
			now = t.Now
		}
		e.Time = now().UTC()
	}
	if e.RequestID == "" {
		e.RequestID = logctx.RequestID(ctx)
	}
	if e.IP == "" {
		e.IP = logctx.ClientIP(ctx)
	}
	if t.Store != nil {
		// Stored even when the request was cancelled meanwhile: the act happened.
		if err := t.Store.AppendAuditEvent(context.WithoutCancel(ctx), e); err != nil && t.Logger != nil {
			t.Logger.ErrorContext(ctx, "audit: event not stored", "type", e.Type, "event_id", e.ID, "err", err)
		}
	}
	if t.Stream != nil {
		t.Stream.LogAttrs(ctx, slog.LevelInfo, "audit", Attrs(e)...)
	}
}

// Attrs are the event as slog attributes (empty fields left out).
func Attrs(e Event) []slog.Attr {
	attrs := []slog.Attr{slog.String("event_id", e.ID), slog.Time("time", e.Time), slog.String("type", e.Type)}
	for _, kv := range [][2]string{{"outcome", e.Outcome}, {"user", e.User}, {"connector", e.ConnectorID},
		{"client_id", e.ClientID}, {"ip", e.IP}, {"event_request_id", e.RequestID}} {
		if kv[1] != "" {
			attrs = append(attrs, slog.String(kv[0], kv[1]))
		}
	}
	if len(e.Detail) > 0 {
		var d []any
		for _, k := range slices.Sorted(maps.Keys(e.Detail)) {
			d = append(d, slog.String(k, e.Detail[k]))
		}
		attrs = append(attrs, slog.Group("detail", d...))
	}
	return attrs
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) //nolint:errcheck // crypto/rand.Read never returns an error (Go 1.24+)
	return hex.EncodeToString(b[:])
}
