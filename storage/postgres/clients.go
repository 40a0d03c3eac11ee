package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.ClientStore = (*Store)(nil)

const (
	qClientColumns = `id, secret_hash, registration_token_hash, version, data, created_at, updated_at`
	qInsertClient  = `INSERT INTO clients (` + qClientColumns + `) VALUES ($1, $2, $3, 1, $4, $5, $6)`
	qGetClient     = `SELECT ` + qClientColumns + ` FROM clients WHERE id = $1`
	qListClients   = `SELECT ` + qClientColumns + ` FROM clients ORDER BY id`
	qUpdateClient  = `UPDATE clients SET secret_hash = $1, registration_token_hash = $2, data = $3, updated_at = $4,
		version = version + 1 WHERE id = $5 AND version = $6`
	qClientExists = `SELECT 1 FROM clients WHERE id = $1`
	qDeleteClient = `DELETE FROM clients WHERE id = $1`
)

// qDeleteClientIssued deletes what was issued to a client, in this order (refresh tokens
// before their grants are revoked); $1 is the client ID, $2 the time of revocation.
var qDeleteClientIssued = []string{
	`DELETE FROM refresh_tokens WHERE grant_id IN (SELECT id FROM grants WHERE client_id = $1) AND $2::bigint IS NOT NULL`,
	`UPDATE grants SET revoked = true, revoked_at = $2 WHERE client_id = $1 AND NOT revoked`,
	`DELETE FROM auth_codes WHERE client_id = $1 AND $2::bigint IS NOT NULL`,
	`DELETE FROM consents WHERE client_id = $1 AND $2::bigint IS NOT NULL`,
}

func scanClient(row pgx.Row) (storage.Client, error) {
	var (
		c                storage.Client
		data             string
		created, updated int64
	)
	if err := row.Scan(&c.ID, &c.SecretHash, &c.RegistrationTokenHash, &c.Version, &data, &created, &updated); err != nil {
		return c, err
	}
	if err := storage.DecodeClientData([]byte(data), &c); err != nil {
		return c, err
	}
	c.CreatedAt, c.UpdatedAt = fromMs(created), fromMs(updated)
	return c, nil
}

// CreateClient stores a new client.
func (s *Store) CreateClient(ctx context.Context, c storage.Client) error {
	data, err := storage.EncodeClientData(c)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, qInsertClient, c.ID, c.SecretHash, c.RegistrationTokenHash, data, ms(c.CreatedAt), ms(c.UpdatedAt))
	return insertErr("create client", err)
}

// GetClient returns a stored client.
func (s *Store) GetClient(ctx context.Context, id string) (storage.Client, error) {
	c, err := scanClient(s.pool.QueryRow(ctx, qGetClient, id))
	return c, getErr("get client", err)
}

// ListClients returns every stored client by ID.
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	rows, err := s.pool.Query(ctx, qListClients)
	if err != nil {
		return nil, fmt.Errorf("postgres: list clients: %w", err)
	}
	defer rows.Close()
	var out []storage.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list clients: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list clients: %w", err)
	}
	return out, nil
}

// UpdateClient replaces a stored client's fields (not its creation time) when its version is
// c.Version, in one statement; a missing client is ErrNotFound, another version ErrConflict.
func (s *Store) UpdateClient(ctx context.Context, c storage.Client) error {
	data, err := storage.EncodeClientData(c)
	if err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, qUpdateClient, c.SecretHash, c.RegistrationTokenHash, data, ms(c.UpdatedAt), c.ID, c.Version)
	err = mustAffect("update client", tag, err)
	if err == nil || !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	var one int
	if e := s.pool.QueryRow(ctx, qClientExists, c.ID).Scan(&one); e != nil {
		return getErr("update client", e)
	}
	return fmt.Errorf("postgres: update client %q: version %d is not the stored one: %w", c.ID, c.Version, storage.ErrConflict)
}

// DeleteClient deletes the client, revokes its grants and deletes its refresh tokens, codes
// and consents, in one transaction.
func (s *Store) DeleteClient(ctx context.Context, id string, now time.Time) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, qDeleteClient, id)
		if err := mustAffect("delete client", tag, err); err != nil {
			return err
		}
		for _, q := range qDeleteClientIssued {
			if _, err := tx.Exec(ctx, q, id, ms(now)); err != nil {
				return fmt.Errorf("postgres: delete client: %w", err)
			}
		}
		return nil
	})
}
