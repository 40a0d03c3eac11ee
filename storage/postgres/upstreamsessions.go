package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.UpstreamSessions = (*Store)(nil)

// The expressions match the indexes of migration 0021 exactly, so that PostgreSQL uses them.
const (
	qSessionsOfUpstreamSID = `SELECT id FROM sessions WHERE ((auth::jsonb)->>'upstream_session_id') = $1
	AND ((auth::jsonb)->>'connector_id') = $2 AND ($3 = '' OR ((auth::jsonb)->>'upstream_subject') = $3)
	AND (idle_expiry = 0 OR idle_expiry > $4) AND (absolute_expiry = 0 OR absolute_expiry > $4) ORDER BY id`
	qSessionsOfUpstreamSub = `SELECT id FROM sessions WHERE ((auth::jsonb)->>'connector_id') = $1
	AND ((auth::jsonb)->>'upstream_subject') = $2
	AND (idle_expiry = 0 OR idle_expiry > $3) AND (absolute_expiry = 0 OR absolute_expiry > $3) ORDER BY id`
)

// SessionsOfUpstream lists the live sessions of an upstream session or user.
func (s *Store) SessionsOfUpstream(ctx context.Context, connectorID, upstreamSubject, upstreamSessionID string, now time.Time) ([]string, error) {
	if upstreamSubject == "" && upstreamSessionID == "" {
		return nil, nil
	}
	q, args := qSessionsOfUpstreamSub, []any{connectorID, upstreamSubject, ms(now)}
	if upstreamSessionID != "" {
		q, args = qSessionsOfUpstreamSID, []any{upstreamSessionID, connectorID, upstreamSubject, ms(now)}
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list sessions of upstream session: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: list sessions of upstream session: %w", err)
	}
	return out, nil
}
