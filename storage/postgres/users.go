package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

const localUserCols = `username, email, email_verified, name, groups_json, password_hash, from_config, created_at, updated_at`

const (
	qInsertUser = `INSERT INTO local_users (` + localUserCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`
	qUpsertUser = qInsertUser + ` ON CONFLICT (username) DO UPDATE SET email = excluded.email,
	email_verified = excluded.email_verified, name = excluded.name, groups_json = excluded.groups_json,
	password_hash = excluded.password_hash, from_config = excluded.from_config, created_at = excluded.created_at, updated_at = excluded.updated_at`
	qGetUser          = `SELECT ` + localUserCols + ` FROM local_users WHERE username = $1`
	qListUsers        = `SELECT ` + localUserCols + ` FROM local_users ORDER BY username`
	qListConfigUsers  = `SELECT ` + localUserCols + ` FROM local_users WHERE from_config ORDER BY username`
	qFindUsersByEmail = `SELECT ` + localUserCols + ` FROM local_users WHERE lower(email) = lower($1) AND email <> '' ORDER BY username`
	qDeleteUser       = `DELETE FROM local_users WHERE username = $1`

	qInsertLink = `INSERT INTO user_links (connector_id, upstream_subject, user_id, created_at)
	VALUES ($1, $2, $3, $4) ON CONFLICT (connector_id, upstream_subject) DO NOTHING`
	qGetLink = `SELECT connector_id, upstream_subject, user_id, created_at, email FROM user_links
	WHERE connector_id = $1 AND upstream_subject = $2`
)

func localUserArgs(u storage.LocalUser) ([]any, error) {
	groups, err := jsonText(u.Groups)
	if err != nil {
		return nil, err
	}
	return []any{u.Username, u.Email, u.EmailVerified, u.Name, groups, u.PasswordHash,
		u.FromConfig, ms(u.CreatedAt), ms(u.UpdatedAt)}, nil
}

func scanLocalUser(sc scanner) (storage.LocalUser, error) {
	var (
		u                storage.LocalUser
		groups           string
		created, updated int64
	)
	err := sc.Scan(&u.Username, &u.Email, &u.EmailVerified, &u.Name, &groups, &u.PasswordHash, &u.FromConfig, &created, &updated)
	if err != nil {
		return u, err
	}
	if u.Groups, err = decodeStrings(groups); err != nil {
		return u, err
	}
	u.CreatedAt, u.UpdatedAt = fromMs(created), fromMs(updated)
	return u, nil
}

// CreateLocalUser stores a new local user; storage.ErrAlreadyExists if the username is taken.
func (s *Store) CreateLocalUser(ctx context.Context, u storage.LocalUser) error {
	args, err := localUserArgs(u)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, qInsertUser, args...)
	return insertErr("create local user", err)
}

// GetLocalUser returns the local user.
func (s *Store) GetLocalUser(ctx context.Context, username string) (storage.LocalUser, error) {
	u, err := scanLocalUser(s.pool.QueryRow(ctx, qGetUser, username))
	return u, getErr("get local user", err)
}

// UpsertLocalUser creates or replaces the local user.
func (s *Store) UpsertLocalUser(ctx context.Context, u storage.LocalUser) error {
	args, err := localUserArgs(u)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, qUpsertUser, args...)
	return insertErr("upsert local user", err)
}

// ListLocalUsers lists every local user, ordered by username.
func (s *Store) ListLocalUsers(ctx context.Context) ([]storage.LocalUser, error) {
	return s.listLocalUsers(ctx, "list local users", qListUsers)
}

// ListConfigLocalUsers implements storage.ConfigUserLister through a partial index.
func (s *Store) ListConfigLocalUsers(ctx context.Context) ([]storage.LocalUser, error) {
	return s.listLocalUsers(ctx, "list configured local users", qListConfigUsers)
}

// FindLocalUsersByEmail implements storage.LocalUserEmailFinder.
func (s *Store) FindLocalUsersByEmail(ctx context.Context, email string) ([]storage.LocalUser, error) {
	return s.listLocalUsers(ctx, "find local users by email", qFindUsersByEmail, email)
}

// listLocalUsers runs a query returning local users.
func (s *Store) listLocalUsers(ctx context.Context, what, q string, args ...any) ([]storage.LocalUser, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", what, err)
	}
	defer rows.Close()
	var out []storage.LocalUser
	for rows.Next() {
		u, err := scanLocalUser(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: %s: %w", what, err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", what, err)
	}
	return out, nil
}

// DeleteLocalUser deletes the local user; storage.ErrNotFound if there is none.
func (s *Store) DeleteLocalUser(ctx context.Context, username string) error {
	tag, err := s.pool.Exec(ctx, qDeleteUser, username)
	return mustAffect("delete local user", tag, err)
}

// LinkUser returns the user ID linked to the upstream account, linking newUserID first
// (created == true) if there is none. The insert waits for a concurrent insert of the
// same key to commit and then does nothing; the read that follows (a new statement, so a
// new snapshot) sees the winner's row.
func (s *Store) LinkUser(ctx context.Context, connectorID, upstreamSubject, newUserID string, now time.Time) (string, bool, error) {
	tag, err := s.pool.Exec(ctx, qInsertLink, connectorID, upstreamSubject, newUserID, ms(now))
	if err != nil {
		return "", false, fmt.Errorf("postgres: link user: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return newUserID, true, nil
	}
	l, err := s.GetUserLink(ctx, connectorID, upstreamSubject)
	if err != nil {
		return "", false, fmt.Errorf("postgres: link user: %w", err)
	}
	return l.UserID, false, nil
}

// GetUserLink returns the link of the upstream account; storage.ErrNotFound if none.
func (s *Store) GetUserLink(ctx context.Context, connectorID, upstreamSubject string) (storage.UserLink, error) {
	var (
		l  storage.UserLink
		ca int64
	)
	err := s.pool.QueryRow(ctx, qGetLink, connectorID, upstreamSubject).Scan(&l.ConnectorID, &l.UpstreamSubject, &l.UserID, &ca, &l.Email)
	if err != nil {
		return storage.UserLink{}, getErr("get user link", err)
	}
	l.CreatedAt = fromMs(ca)
	return l, nil
}
