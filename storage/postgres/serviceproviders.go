package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.ServiceProviderStore = (*Store)(nil)

const (
	spColumns              = `id, entity_id, version, data, created_at, updated_at`
	qInsertServiceProvider = `INSERT INTO service_providers (` + spColumns + `) VALUES ($1, $2, 1, $3, $4, $5)`
	qGetServiceProvider    = `SELECT ` + spColumns + ` FROM service_providers WHERE id = $1`
	qGetSPByEntityID       = `SELECT ` + spColumns + ` FROM service_providers WHERE entity_id = $1`
	qListServiceProviders  = `SELECT ` + spColumns + ` FROM service_providers ORDER BY id`
	qUpdateServiceProvider = `UPDATE service_providers SET entity_id = $1, version = version + 1, data = $2, updated_at = $3
		WHERE id = $4 AND version = $5`
)

// spData is the JSON of a service provider's data column: every field but those with columns.
type spData struct {
	Name              string            `json:"name,omitempty"`
	MetadataXML       string            `json:"metadata_xml,omitempty"`
	MetadataURL       string            `json:"metadata_url,omitempty"`
	ACSURL            string            `json:"acs_url,omitempty"`
	SLOURL            string            `json:"slo_url,omitempty"`
	CertPEM           string            `json:"cert_pem,omitempty"`
	NameIDFormat      string            `json:"name_id_format,omitempty"`
	Attributes        map[string]string `json:"attributes,omitempty"`
	SignResponse      bool              `json:"sign_response,omitempty"`
	SignAssertion     bool              `json:"sign_assertion,omitempty"`
	EncryptAssertion  bool              `json:"encrypt_assertion,omitempty"`
	AllowedConnectors []string          `json:"allowed_connectors,omitempty"`
	Trusted           bool              `json:"trusted,omitempty"`
	MFAClasses        []string          `json:"mfa_classes,omitempty"`
}

func spDataOf(sp storage.ServiceProvider) (string, error) {
	return jsonText(spData{
		Name: sp.Name, MetadataXML: sp.MetadataXML, MetadataURL: sp.MetadataURL, ACSURL: sp.ACSURL, SLOURL: sp.SLOURL,
		CertPEM: sp.CertPEM, NameIDFormat: sp.NameIDFormat, Attributes: sp.Attributes, SignResponse: sp.SignResponse,
		SignAssertion: sp.SignAssertion, EncryptAssertion: sp.EncryptAssertion, AllowedConnectors: sp.AllowedConnectors,
		Trusted: sp.Trusted, MFAClasses: sp.MFAClasses,
	})
}

func scanServiceProvider(row pgx.Row) (storage.ServiceProvider, error) {
	var (
		sp               storage.ServiceProvider
		data             string
		created, updated int64
		d                spData
	)
	if err := row.Scan(&sp.ID, &sp.EntityID, &sp.Version, &data, &created, &updated); err != nil {
		return sp, err
	}
	if err := fromJSON(data, &d); err != nil {
		return sp, err
	}
	sp.Name, sp.MetadataXML, sp.MetadataURL, sp.ACSURL, sp.SLOURL = d.Name, d.MetadataXML, d.MetadataURL, d.ACSURL, d.SLOURL
	sp.CertPEM, sp.NameIDFormat, sp.Attributes, sp.SignResponse = d.CertPEM, d.NameIDFormat, d.Attributes, d.SignResponse
	sp.SignAssertion, sp.EncryptAssertion, sp.AllowedConnectors = d.SignAssertion, d.EncryptAssertion, d.AllowedConnectors
	sp.Trusted, sp.MFAClasses = d.Trusted, d.MFAClasses
	sp.CreatedAt, sp.UpdatedAt = fromMs(created), fromMs(updated)
	return sp, nil
}

// CreateServiceProvider stores a new service provider at version 1.
func (s *Store) CreateServiceProvider(ctx context.Context, sp storage.ServiceProvider) error {
	data, err := spDataOf(sp)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, qInsertServiceProvider, sp.ID, sp.EntityID, data, ms(sp.CreatedAt), ms(sp.UpdatedAt))
	return insertErr("create service provider", err)
}

// GetServiceProvider returns a stored service provider.
func (s *Store) GetServiceProvider(ctx context.Context, id string) (storage.ServiceProvider, error) {
	sp, err := scanServiceProvider(s.pool.QueryRow(ctx, qGetServiceProvider, id))
	return sp, getErr("get service provider", err)
}

// GetServiceProviderByEntityID returns the stored service provider of an entity ID.
func (s *Store) GetServiceProviderByEntityID(ctx context.Context, entityID string) (storage.ServiceProvider, error) {
	sp, err := scanServiceProvider(s.pool.QueryRow(ctx, qGetSPByEntityID, entityID))
	return sp, getErr("get service provider by entity ID", err)
}

// ListServiceProviders returns every stored service provider by ID.
func (s *Store) ListServiceProviders(ctx context.Context) ([]storage.ServiceProvider, error) {
	rows, err := s.pool.Query(ctx, qListServiceProviders)
	if err != nil {
		return nil, fmt.Errorf("postgres: list service providers: %w", err)
	}
	defer rows.Close()
	var out []storage.ServiceProvider
	for rows.Next() {
		sp, err := scanServiceProvider(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list service providers: %w", err)
		}
		out = append(out, sp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list service providers: %w", err)
	}
	return out, nil
}

// UpdateServiceProvider replaces a stored service provider's fields if its version is still
// sp.Version (one statement: the check and the write are atomic).
func (s *Store) UpdateServiceProvider(ctx context.Context, sp storage.ServiceProvider) error {
	data, err := spDataOf(sp)
	if err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, qUpdateServiceProvider, sp.EntityID, data, ms(sp.UpdatedAt), sp.ID, sp.Version)
	if err != nil {
		return insertErr("update service provider", err)
	}
	err = mustAffect("update service provider", tag, nil)
	if !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	// No row changed: the SP is gone, or another update came first.
	if _, gerr := s.GetServiceProvider(ctx, sp.ID); gerr != nil {
		return gerr
	}
	return fmt.Errorf("postgres: update service provider %s: version %d is not the current one: %w", sp.ID, sp.Version, storage.ErrConflict)
}

// DeleteServiceProvider deletes the service provider and the consents given to it, in one
// transaction.
func (s *Store) DeleteServiceProvider(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM service_providers WHERE id = $1`, id)
		if err := mustAffect("delete service provider", tag, err); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM consents WHERE client_id = $1`, "saml:"+id); err != nil {
			return fmt.Errorf("postgres: delete service provider: %w", err)
		}
		return nil
	})
}
