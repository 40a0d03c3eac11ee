package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.UserSessionStore = (*Store)(nil)

// The statements of storage.UserSessionStore run unprepared: the admin API calls them rarely.
const (
	qUserSessionIDs     = `SELECT id FROM sessions WHERE json_extract(identity, '$.sub') = ? ORDER BY created_at, id`
	qUserConsentClients = `SELECT client_id FROM consents WHERE subject = ? ORDER BY client_id`
	qDeleteUserSessions = `DELETE FROM sessions WHERE json_extract(identity, '$.sub') = ?`
	qRevokeUserGrants   = `UPDATE grants SET revoked = 1, revoked_at = ? WHERE subject = ? AND revoked = 0`
)

// ids runs an unprepared query returning one string column.
func (s *Store) ids(ctx context.Context, what, q string, arg string) ([]string, error) {
	rows, err := s.reader.QueryContext(ctx, q, arg)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", what, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlite: %s: %w", what, err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", what, err)
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
	err = s.inTx(ctx, func(t *txn) error {
		res, err := t.tx.ExecContext(ctx, qDeleteUserSessions, subject)
		if err != nil {
			return fmt.Errorf("sqlite: revoke user sessions: %w", err)
		}
		if sessions, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: revoke user sessions: %w", err)
		}
		if res, err = t.tx.ExecContext(ctx, qRevokeUserGrants, ms(now), subject); err != nil {
			return fmt.Errorf("sqlite: revoke user grants: %w", err)
		}
		grants, err = res.RowsAffected()
		return err
	})
	return sessions, grants, err
}
