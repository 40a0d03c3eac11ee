package postgres

import (
	"context"

	"github.com/gatehouse-id/gatehouse/storage"
)

const (
	qGetConsent = `SELECT subject, client_id, scopes, claims, created_at, updated_at FROM consents
	WHERE subject = $1 AND client_id = $2`
	qPutConsent = `INSERT INTO consents (subject, client_id, scopes, claims, created_at, updated_at)
	VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (subject, client_id) DO UPDATE SET
	scopes = excluded.scopes, claims = excluded.claims, created_at = excluded.created_at, updated_at = excluded.updated_at`
	qDeleteConsent = `DELETE FROM consents WHERE subject = $1 AND client_id = $2`
)

// GetConsent returns the consent of subject for clientID; storage.ErrNotFound if none.
func (s *Store) GetConsent(ctx context.Context, subject, clientID string) (storage.Consent, error) {
	var (
		c                storage.Consent
		scopes, claims   string
		created, updated int64
	)
	err := s.pool.QueryRow(ctx, qGetConsent, subject, clientID).Scan(&c.Subject, &c.ClientID, &scopes, &claims, &created, &updated)
	if err != nil {
		return storage.Consent{}, getErr("get consent", err)
	}
	if c.Scopes, err = decodeStrings(scopes); err != nil {
		return storage.Consent{}, err
	}
	if c.Claims, err = decodeStrings(claims); err != nil {
		return storage.Consent{}, err
	}
	c.CreatedAt, c.UpdatedAt = fromMs(created), fromMs(updated)
	return c, nil
}

// PutConsent stores c, replacing any earlier consent of the same subject and client.
func (s *Store) PutConsent(ctx context.Context, c storage.Consent) error {
	args, err := consentArgs(c)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, qPutConsent, args...)
	return insertErr("put consent", err)
}

// consentArgs returns qPutConsent's arguments.
func consentArgs(c storage.Consent) ([]any, error) {
	scopes, err := jsonText(c.Scopes)
	if err != nil {
		return nil, err
	}
	claims, err := jsonText(c.Claims)
	if err != nil {
		return nil, err
	}
	return []any{c.Subject, c.ClientID, scopes, claims, ms(c.CreatedAt), ms(c.UpdatedAt)}, nil
}

// DeleteConsent deletes the consent; storage.ErrNotFound if there is none.
func (s *Store) DeleteConsent(ctx context.Context, subject, clientID string) error {
	tag, err := s.pool.Exec(ctx, qDeleteConsent, subject, clientID)
	return mustAffect("delete consent", tag, err)
}
