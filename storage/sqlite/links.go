package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.EmailLinkStore = (*Store)(nil)

const (
	qCreateLink = `INSERT INTO user_links (connector_id, upstream_subject, user_id, email, created_at)
	VALUES (?, ?, ?, ?, ?)`
	qFindLinkEmail = `SELECT DISTINCT user_id FROM user_links WHERE email = ? AND email <> '' LIMIT 2`
	qSetLinkEmail  = `UPDATE user_links SET email = ? WHERE connector_id = ? AND upstream_subject = ? AND email <> ?`
)

// CreateUserLink stores a new link with its verified email; storage.ErrAlreadyExists if the
// upstream account is already linked.
func (s *Store) CreateUserLink(ctx context.Context, l storage.UserLink) error {
	_, err := s.exec(ctx, qCreateLink, l.ConnectorID, l.UpstreamSubject, l.UserID, strings.ToLower(l.Email), ms(l.CreatedAt))
	return insertErr("create user link", err)
}

// FindUserByVerifiedEmail returns the one user whose links carry the email.
func (s *Store) FindUserByVerifiedEmail(ctx context.Context, email string) (string, error) {
	email = strings.ToLower(email)
	if email == "" {
		return "", fmt.Errorf("sqlite: find user by email: %w", storage.ErrNotFound)
	}
	rows, err := s.query(ctx, qFindLinkEmail, email)
	if err != nil {
		return "", fmt.Errorf("sqlite: find user by email: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return "", fmt.Errorf("sqlite: find user by email: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("sqlite: find user by email: %w", err)
	}
	switch len(ids) {
	case 0:
		return "", fmt.Errorf("sqlite: find user by email: %w", storage.ErrNotFound)
	case 1:
		return ids[0], nil
	}
	return "", fmt.Errorf("sqlite: find user by email: several users: %w", storage.ErrConflict)
}

// SetUserLinkEmail replaces the link's recorded email (a no-op when it is unchanged or the
// link does not exist).
func (s *Store) SetUserLinkEmail(ctx context.Context, connectorID, upstreamSubject, email string) error {
	email = strings.ToLower(email)
	if _, err := s.exec(ctx, qSetLinkEmail, email, connectorID, upstreamSubject, email); err != nil {
		return fmt.Errorf("sqlite: set user link email: %w", err)
	}
	return nil
}
