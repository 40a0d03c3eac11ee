package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.LogoutStore = (*Store)(nil)

const (
	qAddParticipant = `INSERT INTO session_participants (session_id, client_id, subject, created_at, expiry)
	VALUES (?, ?, ?, ?, ?) ON CONFLICT (session_id, client_id) DO UPDATE SET subject = excluded.subject,
	expiry = excluded.expiry`
	qParticipants = `SELECT session_id, client_id, subject, created_at, expiry FROM session_participants
	WHERE session_id = ? AND expiry > ? ORDER BY client_id`
	qSessionsOf = `SELECT id FROM sessions WHERE json_extract(identity, '$.sub') = ?1
	AND (idle_expiry = 0 OR idle_expiry > ?2) AND (absolute_expiry = 0 OR absolute_expiry > ?2) ORDER BY id`
	qEnqueueLogout = `INSERT INTO logout_deliveries (id, client_id, uri, subject, session_id, created_at, next_attempt)
	VALUES (?, ?, ?, ?, ?, ?, ?)`
	// qClaimLogouts runs on the single writer connection, so the subselect and the update
	// are one atomic step.
	qClaimLogouts = `UPDATE logout_deliveries SET claim = ?1, claimed_until = ?2
	WHERE id IN (SELECT id FROM logout_deliveries WHERE next_attempt <= ?3 AND claimed_until <= ?3
	ORDER BY next_attempt LIMIT ?4)
	RETURNING id, client_id, uri, subject, session_id, created_at, next_attempt, attempts, last_error, claim`
	qCompleteLogout = `DELETE FROM logout_deliveries WHERE id = ? AND claim = ?`
	qRetryLogout    = `UPDATE logout_deliveries SET attempts = attempts + 1, next_attempt = ?, last_error = ?,
	claim = '', claimed_until = 0 WHERE id = ? AND claim = ?`
	qExpiredParticipants = `DELETE FROM session_participants WHERE expiry < ?`
)

// AddParticipant records a client's participation in a session.
func (s *Store) AddParticipant(ctx context.Context, p storage.Participant) error {
	_, err := s.exec(ctx, qAddParticipant, p.SessionID, p.ClientID, p.Subject, ms(p.CreatedAt), ms(p.Expiry))
	if err != nil {
		return fmt.Errorf("sqlite: add participant: %w", err)
	}
	return nil
}

// Participants lists the live participants of a session.
func (s *Store) Participants(ctx context.Context, sessionID string, now time.Time) ([]storage.Participant, error) {
	rows, err := s.query(ctx, qParticipants, sessionID, ms(now))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list participants: %w", err)
	}
	defer rows.Close() //nolint:errcheck // read-only rows; Err is checked below
	var out []storage.Participant
	for rows.Next() {
		var p storage.Participant
		var created, expiry int64
		if err := rows.Scan(&p.SessionID, &p.ClientID, &p.Subject, &created, &expiry); err != nil {
			return nil, fmt.Errorf("sqlite: list participants: %w", err)
		}
		p.CreatedAt, p.Expiry = fromMs(created), fromMs(expiry)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list participants: %w", err)
	}
	return out, nil
}

// SessionsOf lists the live sessions of a user.
func (s *Store) SessionsOf(ctx context.Context, subject string, now time.Time) ([]string, error) {
	rows, err := s.query(ctx, qSessionsOf, subject, ms(now))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list sessions of user: %w", err)
	}
	defer rows.Close() //nolint:errcheck // read-only rows; Err is checked below
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlite: list sessions of user: %w", err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list sessions of user: %w", err)
	}
	return out, nil
}

// EnqueueLogouts adds deliveries in one transaction.
func (s *Store) EnqueueLogouts(ctx context.Context, ds []storage.LogoutDelivery) error {
	if len(ds) == 0 {
		return nil
	}
	return s.inTx(ctx, func(t *txn) error {
		for _, d := range ds {
			if _, err := t.exec(ctx, qEnqueueLogout, d.ID, d.ClientID, d.URI, d.Subject, d.SessionID, ms(d.CreatedAt), ms(d.NextAttempt)); err != nil {
				return insertErr("enqueue logout", err)
			}
		}
		return nil
	})
}

// ClaimLogouts claims due deliveries atomically.
func (s *Store) ClaimLogouts(ctx context.Context, claim string, now time.Time, lease time.Duration, limit int) ([]storage.LogoutDelivery, error) {
	st, err := s.stmt(true, qClaimLogouts)
	if err != nil {
		return nil, err
	}
	defer s.observer.Done(ctx, qClaimLogouts, time.Now())
	rows, err := st.QueryContext(ctx, claim, ms(now.Add(lease)), ms(now), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim logouts: %w", err)
	}
	defer rows.Close() //nolint:errcheck // Err is checked below
	var out []storage.LogoutDelivery
	for rows.Next() {
		var d storage.LogoutDelivery
		var created, next int64
		if err := rows.Scan(&d.ID, &d.ClientID, &d.URI, &d.Subject, &d.SessionID, &created, &next, &d.Attempts, &d.LastError, &d.Claim); err != nil {
			return nil, fmt.Errorf("sqlite: claim logouts: %w", err)
		}
		d.CreatedAt, d.NextAttempt = fromMs(created), fromMs(next)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: claim logouts: %w", err)
	}
	return out, nil
}

// CompleteLogout deletes a delivered delivery still held under claim.
func (s *Store) CompleteLogout(ctx context.Context, id, claim string) error {
	return s.affectOne(ctx, "complete logout", qCompleteLogout, id, claim)
}

// RetryLogout releases a delivery for a later attempt.
func (s *Store) RetryLogout(ctx context.Context, id, claim string, next time.Time, lastError string) error {
	return s.affectOne(ctx, "retry logout", qRetryLogout, ms(next), lastError, id, claim)
}

// affectOne runs a write that must change one row; ErrNotFound when it changed none.
func (s *Store) affectOne(ctx context.Context, what, q string, args ...any) error {
	res, err := s.exec(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: %s: %w", what, storage.ErrNotFound)
	}
	return nil
}

// DeleteExpiredParticipants deletes expired participant records.
func (s *Store) DeleteExpiredParticipants(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.exec(ctx, qExpiredParticipants, ms(before))
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete expired participants: %w", err)
	}
	return res.RowsAffected()
}
