package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.ClientStore = (*Store)(nil)

const (
	qInsertClient = `INSERT INTO clients (id, secret_hash, data, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`
	qGetClient    = `SELECT id, secret_hash, data, created_at, updated_at FROM clients WHERE id = ?`
	qListClients  = `SELECT id, secret_hash, data, created_at, updated_at FROM clients ORDER BY id`
	qUpdateClient = `UPDATE clients SET secret_hash = ?, data = ?, updated_at = ? WHERE id = ?`
)

// qDeleteClient deletes a client and what was issued to it, in this order (refresh tokens
// before their grants are revoked). The statements run unprepared: deleting a client is rare.
var qDeleteClient = []string{
	`DELETE FROM refresh_tokens WHERE grant_id IN (SELECT id FROM grants WHERE client_id = ?2)`,
	`UPDATE grants SET revoked = 1, revoked_at = ?1 WHERE client_id = ?2 AND revoked = 0`,
	`DELETE FROM auth_codes WHERE client_id = ?2`,
	`DELETE FROM consents WHERE client_id = ?2`,
}

// clientData is the JSON of a client's data column: every field but the ID, the secret hash
// and the times, which have columns.
type clientData struct {
	Name                   string   `json:"name,omitempty"`
	Public                 bool     `json:"public,omitempty"`
	Trusted                bool     `json:"trusted,omitempty"`
	RedirectURIs           []string `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	AllowedConnectors      []string `json:"allowed_connectors,omitempty"`
	AllowedOrigins         []string `json:"allowed_origins,omitempty"`
	GrantTypes             []string `json:"grant_types,omitempty"`
	Scopes                 []string `json:"scopes,omitempty"`
	Audiences              []string `json:"audiences,omitempty"`
}

func clientDataOf(c storage.Client) (string, error) {
	return jsonText(clientData{
		Name: c.Name, Public: c.Public, Trusted: c.Trusted, RedirectURIs: c.RedirectURIs,
		PostLogoutRedirectURIs: c.PostLogoutRedirectURIs, AllowedConnectors: c.AllowedConnectors,
		AllowedOrigins: c.AllowedOrigins, GrantTypes: c.GrantTypes, Scopes: c.Scopes, Audiences: c.Audiences,
	})
}

func scanClient(row scanner) (storage.Client, error) {
	var (
		c                storage.Client
		data             []byte
		created, updated int64
		d                clientData
	)
	if err := row.Scan(&c.ID, &c.SecretHash, &data, &created, &updated); err != nil {
		return c, err
	}
	if err := fromJSON(data, &d); err != nil {
		return c, err
	}
	c.Name, c.Public, c.Trusted, c.RedirectURIs = d.Name, d.Public, d.Trusted, d.RedirectURIs
	c.PostLogoutRedirectURIs, c.AllowedConnectors, c.AllowedOrigins = d.PostLogoutRedirectURIs, d.AllowedConnectors, d.AllowedOrigins
	c.GrantTypes, c.Scopes, c.Audiences = d.GrantTypes, d.Scopes, d.Audiences
	c.CreatedAt, c.UpdatedAt = fromMs(created), fromMs(updated)
	return c, nil
}

// CreateClient stores a new client.
func (s *Store) CreateClient(ctx context.Context, c storage.Client) error {
	data, err := clientDataOf(c)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, qInsertClient, c.ID, c.SecretHash, data, ms(c.CreatedAt), ms(c.UpdatedAt))
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

// UpdateClient replaces a stored client's fields (not its creation time).
func (s *Store) UpdateClient(ctx context.Context, c storage.Client) error {
	data, err := clientDataOf(c)
	if err != nil {
		return err
	}
	res, err := s.exec(ctx, qUpdateClient, c.SecretHash, data, ms(c.UpdatedAt), c.ID)
	return mustAffect("update client", res, err)
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
