package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.LinkManager = (*Store)(nil)

const (
	qListUserLinks = `SELECT connector_id, upstream_subject, user_id, created_at, email FROM user_links
	WHERE user_id = $1 ORDER BY created_at, connector_id, upstream_subject`
	// qLockUserLinks is qListUserLinks taking row locks: a concurrent deletion of another of
	// the user's links waits, then sees the rows as they are after it.
	qLockUserLinks = `SELECT connector_id, upstream_subject, user_id, created_at, email FROM user_links
	WHERE user_id = $1 ORDER BY created_at, connector_id, upstream_subject FOR UPDATE`
	qDeleteUserLink = `DELETE FROM user_links WHERE connector_id = $1 AND upstream_subject = $2 AND user_id = $3`
)

// ListUserLinks returns the user's links, oldest first.
func (s *Store) ListUserLinks(ctx context.Context, userID string) ([]storage.UserLink, error) {
	rows, err := s.pool.Query(ctx, qListUserLinks, userID)
	if err != nil {
		return nil, fmt.Errorf("postgres: list user links: %w", err)
	}
	return scanUserLinks(rows)
}

// scanUserLinks reads link rows and closes them.
func scanUserLinks(rows pgx.Rows) ([]storage.UserLink, error) {
	defer rows.Close()
	out := []storage.UserLink{}
	for rows.Next() {
		var (
			l  storage.UserLink
			ca int64
		)
		if err := rows.Scan(&l.ConnectorID, &l.UpstreamSubject, &l.UserID, &ca, &l.Email); err != nil {
			return nil, fmt.Errorf("postgres: list user links: %w", err)
		}
		l.CreatedAt = fromMs(ca)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list user links: %w", err)
	}
	return out, nil
}

// DeleteUserLink deletes one of the user's links unless it is the last among keep. The
// user's link rows are locked first, so concurrent deletions run one after the other.
func (s *Store) DeleteUserLink(ctx context.Context, userID, connectorID, upstreamSubject string, keep []string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, qLockUserLinks, userID)
		if err != nil {
			return fmt.Errorf("postgres: delete user link: %w", err)
		}
		links, err := scanUserLinks(rows)
		if err != nil {
			return err
		}
		if err := storage.CheckLinkRemoval(links, connectorID, upstreamSubject, keep); err != nil {
			return fmt.Errorf("postgres: delete user link: %w", err)
		}
		if _, err := tx.Exec(ctx, qDeleteUserLink, connectorID, upstreamSubject, userID); err != nil {
			return fmt.Errorf("postgres: delete user link: %w", err)
		}
		return nil
	})
}
