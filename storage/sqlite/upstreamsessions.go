package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.UpstreamSessions = (*Store)(nil)

// The expressions match the indexes of migration 0021 exactly, so that SQLite uses them.
const (
	qSessionsOfUpstreamSID = `SELECT id FROM sessions WHERE json_extract(auth, '$.upstream_session_id') = ?1
	AND json_extract(auth, '$.connector_id') = ?2 AND (?3 = '' OR json_extract(auth, '$.upstream_subject') = ?3)
	AND (idle_expiry = 0 OR idle_expiry > ?4) AND (absolute_expiry = 0 OR absolute_expiry > ?4) ORDER BY id`
	qSessionsOfUpstreamSub = `SELECT id FROM sessions WHERE json_extract(auth, '$.connector_id') = ?1
	AND json_extract(auth, '$.upstream_subject') = ?2
	AND (idle_expiry = 0 OR idle_expiry > ?3) AND (absolute_expiry = 0 OR absolute_expiry > ?3) ORDER BY id`
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
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list sessions of upstream session: %w", err)
	}
	defer rows.Close() //nolint:errcheck // read-only rows; Err is checked below
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlite: list sessions of upstream session: %w", err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list sessions of upstream session: %w", err)
	}
	return out, nil
}
