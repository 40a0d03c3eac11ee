package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.UserSessionStore = (*Store)(nil)

const (
	qUserSessionIDs     = `SELECT id FROM sessions WHERE (identity::jsonb)->>'sub' = $1 ORDER BY created_at, id`
	qUserConsentClients = `SELECT client_id FROM consents WHERE subject = $1 ORDER BY client_id`
	qDeleteUserSessions = `DELETE FROM sessions WHERE (identity::jsonb)->>'sub' = $1`
	qRevokeUserGrants   = `UPDATE grants SET revoked = true, revoked_at = $1 WHERE subject = $2 AND NOT revoked`
)

// ids runs a query returning one string column.
func (s *Store) ids(ctx context.Context, what, q string, arg string) ([]string, error) {
	rows, err := s.pool.Query(ctx, q, arg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", what, err)
	}
	return out, nil
}

// ListUserSessions returns the user's sessions.
func (s *Store) ListUserSessions(ctx context.Context, subject string) ([]storage.Session, error) {
	ids, err := s.ids(ctx, "list user sessions", qUserSessionIDs, subject)
	if err != nil {
		return nil, err
	}
	return collect(ids, func(id string) (storage.Session, error) { return s.GetSession(ctx, id) })
}

// ListUserConsents returns the user's consents.
func (s *Store) ListUserConsents(ctx context.Context, subject string) ([]storage.Consent, error) {
	ids, err := s.ids(ctx, "list user consents", qUserConsentClients, subject)
	if err != nil {
		return nil, err
	}
	return collect(ids, func(id string) (storage.Consent, error) { return s.GetConsent(ctx, subject, id) })
}

// collect reads each ID's record; one deleted meanwhile is left out.
func collect[T any](ids []string, get func(string) (T, error)) ([]T, error) {
	out := make([]T, 0, len(ids))
	for _, id := range ids {
		v, err := get(id)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// RevokeUserSessions deletes the user's sessions and revokes the user's grants in one
// transaction.
func (s *Store) RevokeUserSessions(ctx context.Context, subject string, now time.Time) (sessions, grants int64, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, qDeleteUserSessions, subject)
		if err != nil {
			return fmt.Errorf("postgres: revoke user sessions: %w", err)
		}
		sessions = tag.RowsAffected()
		if tag, err = tx.Exec(ctx, qRevokeUserGrants, ms(now), subject); err != nil {
			return fmt.Errorf("postgres: revoke user grants: %w", err)
		}
		grants = tag.RowsAffected()
		return nil
	})
	return sessions, grants, err
}
