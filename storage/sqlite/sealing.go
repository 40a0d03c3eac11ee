package sqlite

import (
	"context"
	"fmt"

	"github.com/gatehouse-id/gatehouse/storage"
)

var (
	_ storage.Resealer         = (*Store)(nil)
	_ storage.RawColumns       = (*Store)(nil)
	_ storage.SealingStore     = (*Store)(nil)
	_ storage.MFASecretUpdater = (*Store)(nil)
)

// Seals reports whether the Store seals secret columns (it was opened WithSealer).
func (s *Store) Seals() bool { return s.sealer != nil }

// factorContext is the seal context of an MFA factor's secret.
func factorContext(id string) string { return storage.SealContext("mfa_factors", "secret", id) }

// sealBlob returns b's value as stored: sealed when the Store seals.
func (s *Store) sealBlob(b storage.Blob) ([]byte, error) {
	v := b.Value
	if v == nil {
		v = []byte{}
	}
	return storage.SealValue(s.sealer, v, storage.SealContext("blobs", "value", b.Key))
}

// openBlob opens a stored blob value (never nil).
func (s *Store) openBlob(key string, v []byte) ([]byte, error) {
	v, err := storage.OpenValue(s.sealer, v, storage.SealContext("blobs", "value", key))
	if err != nil {
		return nil, fmt.Errorf("sqlite: blob: %w", err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// Reseal rewrites every sealed column's plaintext values, and values sealed under an older
// key, under the current seal key, batch rows at a time (storage.Reseal). When it rewrote
// anything it then scrubs the file (VACUUM, and the WAL truncated), so the values it
// replaced, and whatever an older version deleted without zeroing, leave the disk too.
func (s *Store) Reseal(ctx context.Context, batch int) (storage.ResealResult, error) {
	res, err := storage.Reseal(ctx, s.sealer, s, batch)
	if err != nil || res.Resealed == 0 {
		return res, err
	}
	if _, err := s.writer.ExecContext(ctx, `VACUUM`); err != nil {
		return res, fmt.Errorf("sqlite: reseal: vacuum: %w", err)
	}
	if _, err := s.writer.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return res, fmt.Errorf("sqlite: reseal: checkpoint: %w", err)
	}
	return res, nil
}

// RawPage returns up to n stored (key, value) pairs of col after the key after.
func (s *Store) RawPage(ctx context.Context, col storage.SealedColumn, after string, n int) ([]storage.RawRow, error) {
	q := fmt.Sprintf(`SELECT %s, %s FROM %s WHERE %s > ? AND %s IS NOT NULL ORDER BY %s LIMIT ?`,
		col.Key, col.Column, col.Table, col.Key, col.Column, col.Key)
	rows, err := s.reader.QueryContext(ctx, q, after, n)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read %s: %w", col.Table, err)
	}
	defer rows.Close()
	var out []storage.RawRow
	for rows.Next() {
		var r storage.RawRow
		if err := rows.Scan(&r.Key, &r.Value); err != nil {
			return nil, fmt.Errorf("sqlite: read %s: %w", col.Table, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: read %s: %w", col.Table, err)
	}
	return out, nil
}

// RawSwap stores next as row key's value of col if it still holds prev.
func (s *Store) RawSwap(ctx context.Context, col storage.SealedColumn, key string, prev, next []byte) (bool, error) {
	q := fmt.Sprintf(`UPDATE %s SET %s = ? WHERE %s = ? AND %s = ?`, col.Table, col.Column, col.Key, col.Column)
	var nextArg, prevArg any = next, prev
	if col.AuthJSON { // a TEXT column
		nextArg, prevArg = string(next), string(prev)
	}
	res, err := s.writer.ExecContext(ctx, q, nextArg, key, prevArg)
	if err != nil {
		return false, fmt.Errorf("sqlite: write %s: %w", col.Table, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlite: write %s: %w", col.Table, err)
	}
	return n == 1, nil
}

// UpdateMFAFactorSecret replaces a factor's secret, sealed when the Store seals.
func (s *Store) UpdateMFAFactorSecret(ctx context.Context, userID, id string, secret []byte) error {
	if secret == nil {
		secret = []byte{}
	}
	sealed, err := storage.SealValue(s.sealer, secret, factorContext(id))
	if err != nil {
		return fmt.Errorf("sqlite: update mfa factor secret: %w", err)
	}
	res, err := s.writer.ExecContext(ctx, `UPDATE mfa_factors SET secret = ? WHERE user_id = ? AND id = ?`, sealed, userID, id)
	if err != nil {
		return fmt.Errorf("sqlite: update mfa factor secret: %w", err)
	}
	return mustAffect("update mfa factor secret", res, nil)
}
