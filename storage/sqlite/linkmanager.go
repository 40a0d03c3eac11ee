package sqlite

import (
	"context"
	"fmt"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.LinkManager = (*Store)(nil)

const (
	qListUserLinks = `SELECT connector_id, upstream_subject, user_id, created_at, email FROM user_links
	WHERE user_id = ? ORDER BY created_at, connector_id, upstream_subject`
	qDeleteUserLink = `DELETE FROM user_links WHERE connector_id = ? AND upstream_subject = ? AND user_id = ?`
)

// ListUserLinks returns the user's links, oldest first.
func (s *Store) ListUserLinks(ctx context.Context, userID string) ([]storage.UserLink, error) {
	rows, err := s.query(ctx, qListUserLinks, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list user links: %w", err)
	}
	return scanUserLinks(rows)
}

// scanUserLinks reads qListUserLinks rows and closes them.
func scanUserLinks(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close() error
}) ([]storage.UserLink, error) {
	defer rows.Close() //nolint:errcheck // read-only rows: Err reports what matters
	out := []storage.UserLink{}
	for rows.Next() {
		var (
			l  storage.UserLink
			ca int64
		)
		if err := rows.Scan(&l.ConnectorID, &l.UpstreamSubject, &l.UserID, &ca, &l.Email); err != nil {
			return nil, fmt.Errorf("sqlite: list user links: %w", err)
		}
		l.CreatedAt = fromMs(ca)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list user links: %w", err)
	}
	return out, nil
}

// DeleteUserLink deletes one of the user's links unless it is the last among keep, in one
// write transaction (the single writer serializes concurrent deletions).
func (s *Store) DeleteUserLink(ctx context.Context, userID, connectorID, upstreamSubject string, keep []string) error {
	return s.inTx(ctx, func(t *txn) error {
		rows, err := t.query(ctx, qListUserLinks, userID)
		if err != nil {
			return fmt.Errorf("sqlite: delete user link: %w", err)
		}
		links, err := scanUserLinks(rows)
		if err != nil {
			return err
		}
		if err := storage.CheckLinkRemoval(links, connectorID, upstreamSubject, keep); err != nil {
			return fmt.Errorf("sqlite: delete user link: %w", err)
		}
		if _, err := t.exec(ctx, qDeleteUserLink, connectorID, upstreamSubject, userID); err != nil {
			return fmt.Errorf("sqlite: delete user link: %w", err)
		}
		return nil
	})
}
