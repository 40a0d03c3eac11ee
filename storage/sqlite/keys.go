package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/gatehouse-id/gatehouse/storage"
)

const signingKeyCols = `id, algorithm, private_jwk, public_jwk, created_at, active_from, retired_at, expires_at`

const (
	qListKeys   = `SELECT ` + signingKeyCols + ` FROM signing_keys ORDER BY created_at, id`
	qDeleteKeys = `DELETE FROM signing_keys`
	qInsertKey  = `INSERT INTO signing_keys (` + signingKeyCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
)

func (s *Store) readKeys(rows *sql.Rows, err error) ([]storage.SigningKey, error) {
	if err != nil {
		return nil, fmt.Errorf("sqlite: list signing keys: %w", err)
	}
	defer rows.Close()
	var out []storage.SigningKey
	for rows.Next() {
		var (
			k                                 storage.SigningKey
			created, active, retired, expires int64
		)
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.PrivateJWK, &k.PublicJWK, &created, &active, &retired, &expires); err != nil {
			return nil, fmt.Errorf("sqlite: list signing keys: %w", err)
		}
		k.CreatedAt, k.ActiveFrom, k.RetiredAt, k.ExpiresAt = fromMs(created), fromMs(active), fromMs(retired), fromMs(expires)
		if len(k.PrivateJWK) > 0 {
			if k.PrivateJWK, err = storage.OpenValue(s.sealer, k.PrivateJWK, keyContext(k.ID)); err != nil {
				return nil, fmt.Errorf("%s: list signing keys: %w", backend, err)
			}
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list signing keys: %w", err)
	}
	return out, nil
}

// ListSigningKeys returns every stored signing key, oldest first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	return s.readKeys(s.query(ctx, qListKeys))
}

// UpdateSigningKeys runs fn over the key set inside a BEGIN IMMEDIATE transaction (which
// holds the database's write lock, so it is a lease across every handle) and replaces the
// set with fn's result when fn reports a change.
func (s *Store) UpdateSigningKeys(ctx context.Context, fn func(current []storage.SigningKey) (next []storage.SigningKey, changed bool, err error)) error {
	return s.inTx(ctx, func(t *txn) error {
		cur, err := s.readKeys(t.query(ctx, qListKeys))
		if err != nil {
			return err
		}
		next, changed, err := fn(cur)
		if err != nil {
			return fmt.Errorf("sqlite: update signing keys: %w", err)
		}
		if !changed {
			return nil
		}
		if _, err := t.exec(ctx, qDeleteKeys); err != nil {
			return fmt.Errorf("sqlite: update signing keys: %w", err)
		}
		for _, k := range next {
			priv, err := sealPrivateJWK(s.sealer, k)
			if err != nil {
				return fmt.Errorf("%s: update signing keys: %w", backend, err)
			}
			_, err = t.exec(ctx, qInsertKey, k.ID, k.Algorithm, priv, k.PublicJWK,
				ms(k.CreatedAt), ms(k.ActiveFrom), ms(k.RetiredAt), ms(k.ExpiresAt))
			if err != nil {
				return insertErr("update signing keys: key "+k.ID, err)
			}
		}
		return nil
	})
}

// backend names this backend in errors.
const backend = "sqlite"

// keyContext is the seal context of a signing key's private JWK.
func keyContext(id string) string { return storage.SealContext("signing_keys", "private_jwk", id) }

// sealPrivateJWK returns k's private JWK as stored: sealed when sl is set (a key without
// private part stays empty).
func sealPrivateJWK(sl storage.Sealer, k storage.SigningKey) ([]byte, error) {
	if len(k.PrivateJWK) == 0 {
		return k.PrivateJWK, nil
	}
	return storage.SealValue(sl, k.PrivateJWK, keyContext(k.ID))
}
