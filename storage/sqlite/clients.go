package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.ClientStore = (*Store)(nil)

const (
	qClientColumns = `id, secret_hash, registration_token_hash, version, data, created_at, updated_at`
	qInsertClient  = `INSERT INTO clients (` + qClientColumns + `) VALUES (?, ?, ?, 1, ?, ?, ?)`
	qGetClient     = `SELECT ` + qClientColumns + ` FROM clients WHERE id = ?`
	qListClients   = `SELECT ` + qClientColumns + ` FROM clients ORDER BY id`
	qUpdateClient  = `UPDATE clients SET secret_hash = ?, registration_token_hash = ?, data = ?, updated_at = ?, version = version + 1
		WHERE id = ? AND version = ?`
	qClientExists = `SELECT 1 FROM clients WHERE id = ?`
)

// qDeleteClient deletes a client and what was issued to it, in this order (refresh tokens
// before their grants are revoked). The statements run unprepared: deleting a client is rare.
var qDeleteClient = []string{
	`DELETE FROM refresh_tokens WHERE grant_id IN (SELECT id FROM grants WHERE client_id = ?2)`,
	`UPDATE grants SET revoked = 1, revoked_at = ?1 WHERE client_id = ?2 AND revoked = 0`,
	`DELETE FROM auth_codes WHERE client_id = ?2`,
	`DELETE FROM consents WHERE client_id = ?2`,
}

func scanClient(row scanner) (storage.Client, error) {
	var (
		c                storage.Client
		data             []byte
		created, updated int64
	)
	if err := row.Scan(&c.ID, &c.SecretHash, &c.RegistrationTokenHash, &c.Version, &data, &created, &updated); err != nil {
		return c, err
	}
	if err := storage.DecodeClientData(data, &c); err != nil {
		return c, err
	}
	c.CreatedAt, c.UpdatedAt = fromMs(created), fromMs(updated)
	return c, nil
}

// CreateClient stores a new client at version 1.
func (s *Store) CreateClient(ctx context.Context, c storage.Client) error {
	data, err := storage.EncodeClientData(c)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, qInsertClient, c.ID, c.SecretHash, c.RegistrationTokenHash, data, ms(c.CreatedAt), ms(c.UpdatedAt))
	return insertErr("create client", err)
}

// GetClient returns a stored client.
func (s *Store) GetClient(ctx context.Context, id string) (storage.Client, error) {
	c, err := scanClient(s.queryRow(ctx, qGetClient, id))
	return c, getErr("get client", err)
}

// ListClients returns every stored client by ID.
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	rows, err := s.query(ctx, qListClients)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list clients: %w", err)
	}
	defer rows.Close()
	var out []storage.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list clients: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list clients: %w", err)
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
	res, err := s.exec(ctx, qUpdateClient, c.SecretHash, c.RegistrationTokenHash, data, ms(c.UpdatedAt), c.ID, c.Version)
	err = mustAffect("update client", res, err)
	if err == nil || !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	var one int
	if e := s.queryRow(ctx, qClientExists, c.ID).Scan(&one); e != nil {
		return getErr("update client", e)
	}
	return fmt.Errorf("sqlite: update client %q: version %d is not the stored one: %w", c.ID, c.Version, storage.ErrConflict)
}

// DeleteClient deletes the client, revokes its grants and deletes its refresh tokens, codes
// and consents, in one transaction.
func (s *Store) DeleteClient(ctx context.Context, id string, now time.Time) error {
	return s.inTx(ctx, func(t *txn) error {
		res, err := t.tx.ExecContext(ctx, `DELETE FROM clients WHERE id = ?`, id)
		if err := mustAffect("delete client", res, err); err != nil {
			return err
		}
		for _, q := range qDeleteClient {
			if _, err := t.tx.ExecContext(ctx, q, ms(now), id); err != nil {
				return fmt.Errorf("sqlite: delete client: %w", err)
			}
		}
		return nil
	})
}
