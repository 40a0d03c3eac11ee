package storage

import (
	"context"
	"time"
)

// UserSessionStore lists and ends what a user holds, for the admin API. It is optional; the
// SQLite and PostgreSQL backends implement it (storagetest.RunUserSessions).
type UserSessionStore interface {
	// ListUserSessions returns the SSO sessions of the internal user subject (expired ones
	// included until collected), oldest first.
	ListUserSessions(ctx context.Context, subject string) ([]Session, error)
	// ListUserConsents returns the user's recorded consents, by client ID.
	ListUserConsents(ctx context.Context, subject string) ([]Consent, error)
	// RevokeUserSessions signs the user out everywhere, in one transaction: every SSO session
	// of the user is deleted and every grant issued to the user (online or offline: refresh
	// families included) is revoked at now. It returns how many sessions and grants it ended.
	RevokeUserSessions(ctx context.Context, subject string, now time.Time) (sessions, grants int64, err error)
}
