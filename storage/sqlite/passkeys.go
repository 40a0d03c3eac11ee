package sqlite

import (
	"context"
	"fmt"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.PasskeyStore = (*Store)(nil)

const (
	qPasskeyInsert = `INSERT INTO mfa_passkeys (factor_id, user_id, connector_id, subject, created_at) VALUES (?, ?, ?, ?, ?)`
	qPasskeyList   = `SELECT factor_id, user_id, connector_id, subject, created_at FROM mfa_passkeys WHERE user_id = ? ORDER BY created_at, factor_id`
	qMFAByHandle   = `SELECT ` + mfaEnrolmentCols + ` FROM mfa_enrolments WHERE webauthn_id = ?`
)

// CreatePasskey stores the factor and its passkey binding in one transaction.
func (s *Store) CreatePasskey(ctx context.Context, f storage.MFAFactor, b storage.PasskeyBinding) error {
	secret := f.Secret
	if secret == nil {
		secret = []byte{}
	}
	sealed, err := storage.SealValue(s.sealer, secret, factorContext(f.ID))
	if err != nil {
		return fmt.Errorf("sqlite: create passkey: %w", err)
	}
	var credID any
	if f.CredentialID != nil {
		credID = f.CredentialID
	}
	return s.inTx(ctx, func(t *txn) error {
		_, err := t.tx.ExecContext(ctx, qMFAInsertFactor, f.ID, f.UserID, f.Type, f.Name, sealed, credID,
			int64(f.SignCount), ms(f.CreatedAt), ms(f.LastUsedAt))
		if isForeignKey(err) {
			return fmt.Errorf("sqlite: create passkey: user %s is not enrolled: %w", f.UserID, storage.ErrNotFound)
		}
		if err := insertErr("create passkey", err); err != nil {
			return err
		}
		_, err = t.tx.ExecContext(ctx, qPasskeyInsert, f.ID, f.UserID, b.ConnectorID, b.Subject, ms(b.CreatedAt))
		return insertErr("create passkey binding", err)
	})
}

// ListPasskeys lists the user's passkey bindings, oldest first.
func (s *Store) ListPasskeys(ctx context.Context, userID string) ([]storage.PasskeyBinding, error) {
	rows, err := s.reader.QueryContext(ctx, qPasskeyList, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list passkeys: %w", err)
	}
	defer rows.Close()
	var out []storage.PasskeyBinding
	for rows.Next() {
		var (
			b       storage.PasskeyBinding
			created int64
		)
		if err := rows.Scan(&b.FactorID, &b.UserID, &b.ConnectorID, &b.Subject, &created); err != nil {
			return nil, fmt.Errorf("sqlite: list passkeys: %w", err)
		}
		b.CreatedAt = fromMs(created)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list passkeys: %w", err)
	}
	return out, nil
}

// FindMFAEnrolmentByHandle returns the enrolment with the WebAuthn user handle.
func (s *Store) FindMFAEnrolmentByHandle(ctx context.Context, handle []byte) (storage.MFAEnrolment, error) {
	if len(handle) == 0 {
		return storage.MFAEnrolment{}, fmt.Errorf("sqlite: find mfa enrolment: empty handle: %w", storage.ErrNotFound)
	}
	e, err := scanEnrolment(s.reader.QueryRowContext(ctx, qMFAByHandle, handle))
	return e, getErr("find mfa enrolment by handle", err)
}
