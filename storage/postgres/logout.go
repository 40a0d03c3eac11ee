package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.LogoutStore = (*Store)(nil)

const (
	qAddParticipant = `INSERT INTO session_participants (session_id, client_id, subject, created_at, expiry)
	VALUES ($1, $2, $3, $4, $5) ON CONFLICT (session_id, client_id) DO UPDATE SET subject = excluded.subject,
	expiry = excluded.expiry`
	qParticipants = `SELECT session_id, client_id, subject, created_at, expiry FROM session_participants
	WHERE session_id = $1 AND expiry > $2 ORDER BY client_id`
	qSessionsOf = `SELECT id FROM sessions WHERE (identity::jsonb)->>'sub' = $1
	AND (idle_expiry = 0 OR idle_expiry > $2) AND (absolute_expiry = 0 OR absolute_expiry > $2) ORDER BY id`
	qEnqueueLogout = `INSERT INTO logout_deliveries (id, client_id, uri, subject, session_id, created_at, next_attempt)
	VALUES ($1, $2, $3, $4, $5, $6, $7)`
	// qClaimLogouts: SKIP LOCKED lets concurrent claims on several replicas take disjoint
	// rows; the re-check of the condition in the outer UPDATE (READ COMMITTED re-evaluates
	// it on the locked row) keeps a row from being claimed twice.
	qClaimLogouts = `UPDATE logout_deliveries SET claim = $1, claimed_until = $2
	WHERE id IN (SELECT id FROM logout_deliveries WHERE next_attempt <= $3 AND claimed_until <= $3
	ORDER BY next_attempt LIMIT $4 FOR UPDATE SKIP LOCKED) AND claimed_until <= $3
	RETURNING id, client_id, uri, subject, session_id, created_at, next_attempt, attempts, last_error, claim`
	qCompleteLogout = `DELETE FROM logout_deliveries WHERE id = $1 AND claim = $2`
	qRetryLogout    = `UPDATE logout_deliveries SET attempts = attempts + 1, next_attempt = $1, last_error = $2,
	claim = '', claimed_until = 0 WHERE id = $3 AND claim = $4`
	qExpiredParticipants = `DELETE FROM session_participants WHERE expiry < $1`
)

// AddParticipant records a client's participation in a session.
func (s *Store) AddParticipant(ctx context.Context, p storage.Participant) error {
	if _, err := s.pool.Exec(ctx, qAddParticipant, p.SessionID, p.ClientID, p.Subject, ms(p.CreatedAt), ms(p.Expiry)); err != nil {
		return fmt.Errorf("postgres: add participant: %w", err)
	}
	return nil
}

// Participants lists the live participants of a session.
func (s *Store) Participants(ctx context.Context, sessionID string, now time.Time) ([]storage.Participant, error) {
	rows, err := s.pool.Query(ctx, qParticipants, sessionID, ms(now))
	if err != nil {
		return nil, fmt.Errorf("postgres: list participants: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.Participant, error) {
		var p storage.Participant
		var created, expiry int64
		err := row.Scan(&p.SessionID, &p.ClientID, &p.Subject, &created, &expiry)
		p.CreatedAt, p.Expiry = fromMs(created), fromMs(expiry)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list participants: %w", err)
	}
	return out, nil
}

// SessionsOf lists the live sessions of a user.
func (s *Store) SessionsOf(ctx context.Context, subject string, now time.Time) ([]string, error) {
	rows, err := s.pool.Query(ctx, qSessionsOf, subject, ms(now))
	if err != nil {
		return nil, fmt.Errorf("postgres: list sessions of user: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: list sessions of user: %w", err)
	}
	return out, nil
}

// EnqueueLogouts adds deliveries in one transaction.
func (s *Store) EnqueueLogouts(ctx context.Context, ds []storage.LogoutDelivery) error {
	if len(ds) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		for _, d := range ds {
			if _, err := tx.Exec(ctx, qEnqueueLogout, d.ID, d.ClientID, d.URI, d.Subject, d.SessionID, ms(d.CreatedAt), ms(d.NextAttempt)); err != nil {
				return insertErr("enqueue logout", err)
			}
		}
		return nil
	})
}

// ClaimLogouts claims due deliveries atomically.
func (s *Store) ClaimLogouts(ctx context.Context, claim string, now time.Time, lease time.Duration, limit int) ([]storage.LogoutDelivery, error) {
	rows, err := s.pool.Query(ctx, qClaimLogouts, claim, ms(now.Add(lease)), ms(now), limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: claim logouts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.LogoutDelivery, error) {
		var d storage.LogoutDelivery
		var created, next int64
		err := row.Scan(&d.ID, &d.ClientID, &d.URI, &d.Subject, &d.SessionID, &created, &next, &d.Attempts, &d.LastError, &d.Claim)
		d.CreatedAt, d.NextAttempt = fromMs(created), fromMs(next)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: claim logouts: %w", err)
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
	tag, err := s.pool.Exec(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("postgres: %s: %w", what, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: %s: %w", what, storage.ErrNotFound)
	}
	return nil
}

// DeleteExpiredParticipants deletes expired participant records.
func (s *Store) DeleteExpiredParticipants(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, qExpiredParticipants, ms(before))
	if err != nil {
		return 0, fmt.Errorf("postgres: delete expired participants: %w", err)
	}
	return tag.RowsAffected(), nil
}
