package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gatehouse-id/gatehouse/internal/seal"
)

// Sealer encrypts secret columns at rest; *seal.Keyring implements it. A backend opened with
// a Sealer seals, as they are written, the columns listed in SealedColumns and opens them as
// they are read, so callers only ever see clear values. Open returns a value that is not
// sealed (a row written before sealing was turned on) unchanged; Current reports whether a
// value is sealed under the key that seals now (Reseal rewrites the others).
type Sealer interface {
	Seal(plain []byte, context string) ([]byte, error)
	Open(value []byte, context string) ([]byte, error)
	Current(value []byte) bool
}

// SealingStore is implemented by backends that can seal (SQLite, PostgreSQL): Seals reports
// whether this handle was opened with a Sealer, so secrets handed to it are sealed at rest.
type SealingStore interface {
	Seals() bool
}

// MFASecretUpdater is implemented by backends that can replace a factor's secret in place
// (SQLite, PostgreSQL): mfa moves a TOTP secret it sealed itself under the store's sealing
// when the factor is next used. A factor's secret never changes otherwise.
type MFASecretUpdater interface {
	// UpdateMFAFactorSecret replaces the secret of the user's factor id (sealed like every
	// secret the store writes); ErrNotFound when there is no such factor.
	UpdateMFAFactorSecret(ctx context.Context, userID, id string, secret []byte) error
}

// ErrNoSealKeys: a row is sealed but the backend was opened without a Sealer.
var ErrNoSealKeys = errors.New("value is sealed but no seal keys are configured (secrets.keys)")

// SealedColumn is one column of secrets a backend seals.
type SealedColumn struct {
	// Table and Column name the column; Key is the table's primary key column, whose value
	// is the row ID in the sealed value's context.
	Table, Column, Key string
	// AuthJSON: the column is an Authentication as JSON text, and only its connector_data
	// (the connector's upstream tokens) is sealed. Otherwise the whole value is.
	AuthJSON bool
}

// SealedColumns lists every column a sealing backend seals: private signing keys, blobs (the
// SAML IdP and connector keys among them), MFA factor secrets, the connector data (upstream
// tokens) of auth requests, codes, grants and sessions, and the connector state of auth
// requests (what a redirect connector stashed at Begin: upstream state, PKCE verifier, nonce).
var SealedColumns = []SealedColumn{
	{Table: "signing_keys", Column: "private_jwk", Key: "id"},
	{Table: "blobs", Column: "value", Key: "key"},
	{Table: "mfa_factors", Column: "secret", Key: "id"},
	{Table: "auth_requests", Column: "auth", Key: "id", AuthJSON: true},
	{Table: "auth_requests", Column: "connector_state", Key: "id"},
	{Table: "auth_codes", Column: "auth", Key: "hash", AuthJSON: true},
	{Table: "grants", Column: "auth", Key: "id", AuthJSON: true},
	{Table: "sessions", Column: "auth", Key: "id", AuthJSON: true},
	{Table: "device_codes", Column: "auth", Key: "user_hash", AuthJSON: true},
}

// SealContext is the context a sealed value is bound to: "table/column/row id".
func SealContext(table, column, id string) string { return table + "/" + column + "/" + id }

// SealValue seals v for the context; a nil Sealer returns v unchanged.
func SealValue(s Sealer, v []byte, context string) ([]byte, error) {
	if s == nil {
		return v, nil
	}
	return s.Seal(v, context)
}

// OpenValue opens a value SealValue produced. With a nil Sealer a sealed value is an error
// (ErrNoSealKeys) naming the context; plaintext passes through.
func OpenValue(s Sealer, v []byte, context string) ([]byte, error) {
	if s == nil {
		if seal.IsSealed(v) {
			return nil, fmt.Errorf("%s: %w", context, ErrNoSealKeys)
		}
		return v, nil
	}
	return s.Open(v, context)
}

// SealAuth returns a with its ConnectorData sealed for the context.
func SealAuth(s Sealer, a Authentication, context string) (Authentication, error) {
	if s == nil || len(a.ConnectorData) == 0 {
		return a, nil
	}
	v, err := s.Seal(a.ConnectorData, context)
	if err != nil {
		return a, err
	}
	a.ConnectorData = v
	return a, nil
}

// OpenAuth opens the ConnectorData SealAuth sealed, in place.
func OpenAuth(s Sealer, a *Authentication, context string) error {
	if len(a.ConnectorData) == 0 {
		return nil
	}
	v, err := OpenValue(s, a.ConnectorData, context)
	if err != nil {
		return err
	}
	a.ConnectorData = v
	return nil
}

// SealConnectorState returns an auth request's ConnectorState sealed for its row (empty
// stays empty; a nil Sealer returns it unchanged).
func SealConnectorState(s Sealer, r AuthRequest) ([]byte, error) {
	if len(r.ConnectorState) == 0 {
		return r.ConnectorState, nil
	}
	return SealValue(s, r.ConnectorState, SealContext("auth_requests", "connector_state", r.ID))
}

// OpenConnectorState opens what SealConnectorState stored for the auth request id.
func OpenConnectorState(s Sealer, id string, v []byte) ([]byte, error) {
	if len(v) == 0 {
		return v, nil
	}
	return OpenValue(s, v, SealContext("auth_requests", "connector_state", id))
}

// RawRow is one row of a sealed column as stored.
type RawRow struct {
	Key   string
	Value []byte
}

// RawColumns is what Reseal needs from a backend: the stored values of a sealed column, and
// a compare-and-swap write of one of them.
type RawColumns interface {
	// RawPage returns up to n rows of col whose key sorts after after, in key order.
	RawPage(ctx context.Context, col SealedColumn, after string, n int) ([]RawRow, error)
	// RawSwap replaces the value of row key with next if it still holds prev, and reports
	// whether it did (a concurrent write, which seals under the current key, wins).
	RawSwap(ctx context.Context, col SealedColumn, key string, prev, next []byte) (bool, error)
}

// ResealResult counts what Reseal did.
type ResealResult struct {
	// Checked rows were read; Resealed were rewritten under the current key (plaintext rows
	// sealed for the first time included); Skipped changed under Reseal and were left to the
	// concurrent writer.
	Checked, Resealed, Skipped int64
}

// Resealer is implemented by backends that seal (SQLite and PostgreSQL): Reseal rewrites every
// sealed column's values that are plaintext or sealed under an older key under the current
// key, batch rows at a time, while the server keeps running. It is idempotent, and each row
// is rewritten atomically, so an interrupted Reseal leaves every row readable.
type Resealer interface {
	Reseal(ctx context.Context, batch int) (ResealResult, error)
}

// Reseal is the backends' Reseal over their RawColumns.
func Reseal(ctx context.Context, s Sealer, raw RawColumns, batch int) (ResealResult, error) {
	var res ResealResult
	if s == nil {
		return res, errors.New("storage: reseal: no seal keys configured")
	}
	if batch <= 0 {
		batch = 500
	}
	for _, col := range SealedColumns {
		after := ""
		for {
			rows, err := raw.RawPage(ctx, col, after, batch)
			if err != nil {
				return res, fmt.Errorf("storage: reseal %s.%s: %w", col.Table, col.Column, err)
			}
			for _, r := range rows {
				res.Checked++
				next, changed, err := resealValue(s, col, r)
				if err != nil {
					return res, fmt.Errorf("storage: reseal: %w", err)
				}
				if !changed {
					continue
				}
				ok, err := raw.RawSwap(ctx, col, r.Key, r.Value, next)
				if err != nil {
					return res, fmt.Errorf("storage: reseal %s: %w", SealContext(col.Table, col.Column, r.Key), err)
				}
				if ok {
					res.Resealed++
				} else {
					res.Skipped++
				}
			}
			if len(rows) < batch {
				break
			}
			after = rows[len(rows)-1].Key
		}
	}
	return res, nil
}

// resealValue returns the row's value sealed under the current key, and whether it changed.
func resealValue(s Sealer, col SealedColumn, r RawRow) ([]byte, bool, error) {
	context := SealContext(col.Table, col.Column, r.Key)
	if !col.AuthJSON {
		if len(r.Value) == 0 || s.Current(r.Value) {
			return nil, false, nil
		}
		plain, err := s.Open(r.Value, context)
		if err != nil {
			return nil, false, err
		}
		next, err := s.Seal(plain, context)
		return next, err == nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(r.Value, &fields); err != nil {
		return nil, false, fmt.Errorf("%s: decode: %w", context, err)
	}
	rawData, ok := fields["connector_data"]
	if !ok {
		return nil, false, nil
	}
	var data []byte
	if err := json.Unmarshal(rawData, &data); err != nil {
		return nil, false, fmt.Errorf("%s: decode connector_data: %w", context, err)
	}
	if len(data) == 0 || s.Current(data) {
		return nil, false, nil
	}
	plain, err := s.Open(data, context)
	if err != nil {
		return nil, false, err
	}
	sealed, err := s.Seal(plain, context)
	if err != nil {
		return nil, false, err
	}
	if fields["connector_data"], err = json.Marshal(sealed); err != nil {
		return nil, false, err
	}
	next, err := json.Marshal(fields)
	return next, err == nil, err
}
