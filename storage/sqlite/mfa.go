package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.MFAStore = (*Store)(nil)

// The MFA statements run unprepared: they are rare (a login's second step, a self-service
// page), so they stay out of the prepared set.
const (
	mfaEnrolmentCols = `user_id, username, webauthn_id, created_at, updated_at`
	mfaFactorCols    = `id, user_id, type, name, secret, credential_id, sign_count, created_at, last_used_at`

	qMFAGetEnrolment  = `SELECT ` + mfaEnrolmentCols + ` FROM mfa_enrolments WHERE user_id = ?`
	qMFAFindEnrolment = `SELECT ` + mfaEnrolmentCols + ` FROM mfa_enrolments WHERE username = ? COLLATE NOCASE ORDER BY created_at, user_id`
	qMFAPutEnrolment  = `INSERT INTO mfa_enrolments (` + mfaEnrolmentCols + `) VALUES (?, ?, ?, ?, ?)
	ON CONFLICT (user_id) DO UPDATE SET username = excluded.username, updated_at = excluded.updated_at`
	qMFADeleteEnrolment = `DELETE FROM mfa_enrolments WHERE user_id = ?`
	qMFADeleteSteps     = `DELETE FROM mfa_totp_steps WHERE factor_id IN (SELECT id FROM mfa_factors WHERE user_id = ?)`
	qMFADeleteFactors   = `DELETE FROM mfa_factors WHERE user_id = ?`
	qMFADeleteCodes     = `DELETE FROM mfa_recovery_codes WHERE user_id = ?`

	qMFAInsertFactor = `INSERT INTO mfa_factors (` + mfaFactorCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qMFAListFactors  = `SELECT ` + mfaFactorCols + ` FROM mfa_factors WHERE user_id = ? ORDER BY created_at, id`
	qMFADeleteFactor = `DELETE FROM mfa_factors WHERE user_id = ? AND id = ?`
	qMFAGetCount     = `SELECT sign_count FROM mfa_factors WHERE user_id = ? AND id = ?`
	qMFAUseFactor    = `UPDATE mfa_factors SET sign_count = ?, last_used_at = ? WHERE user_id = ? AND id = ?`

	qMFAFactorOwned = `SELECT 1 FROM mfa_factors WHERE user_id = ? AND id = ?`
	qMFAMaxStep     = `SELECT COALESCE(MAX(step), -9223372036854775808) FROM mfa_totp_steps WHERE factor_id = ?`
	qMFAInsertStep  = `INSERT INTO mfa_totp_steps (factor_id, step, expiry) VALUES (?, ?, ?)`

	qMFAInsertCode = `INSERT INTO mfa_recovery_codes (user_id, hash, created_at, used_at) VALUES (?, ?, ?, 0)`
	qMFAGetCode    = `SELECT used_at FROM mfa_recovery_codes WHERE user_id = ? AND hash = ?`
	qMFAUseCode    = `UPDATE mfa_recovery_codes SET used_at = ? WHERE user_id = ? AND hash = ? AND used_at = 0`
	qMFACountCodes = `SELECT COUNT(*) FROM mfa_recovery_codes WHERE user_id = ? AND used_at = 0`

	qMFAGCSteps = `DELETE FROM mfa_totp_steps WHERE expiry <> 0 AND expiry < ?`
)

// isForeignKey reports whether err is a foreign key violation.
func isForeignKey(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

func scanEnrolment(sc scanner) (storage.MFAEnrolment, error) {
	var (
		e                storage.MFAEnrolment
		created, updated int64
	)
	if err := sc.Scan(&e.UserID, &e.Username, &e.WebAuthnID, &created, &updated); err != nil {
		return e, err
	}
	e.CreatedAt, e.UpdatedAt = fromMs(created), fromMs(updated)
	return e, nil
}

func scanFactor(sc scanner) (storage.MFAFactor, error) {
	var (
		f              storage.MFAFactor
		count          int64
		created, usedT int64
	)
	if err := sc.Scan(&f.ID, &f.UserID, &f.Type, &f.Name, &f.Secret, &f.CredentialID, &count, &created, &usedT); err != nil {
		return f, err
	}
	f.SignCount = uint32(count)
	f.CreatedAt, f.LastUsedAt = fromMs(created), fromMs(usedT)
	return f, nil
}

// PutMFAEnrolment creates the user's enrolment or updates its Username and UpdatedAt.
func (s *Store) PutMFAEnrolment(ctx context.Context, e storage.MFAEnrolment) (storage.MFAEnrolment, error) {
	var out storage.MFAEnrolment
	err := s.inTx(ctx, func(t *txn) error {
		if _, err := t.tx.ExecContext(ctx, qMFAPutEnrolment, e.UserID, e.Username, e.WebAuthnID, ms(e.CreatedAt), ms(e.UpdatedAt)); err != nil {
			return fmt.Errorf("sqlite: put mfa enrolment: %w", err)
		}
		var err error
		out, err = scanEnrolment(t.tx.QueryRowContext(ctx, qMFAGetEnrolment, e.UserID))
		return getErr("put mfa enrolment", err)
	})
	return out, err
}

// GetMFAEnrolment returns the user's enrolment.
func (s *Store) GetMFAEnrolment(ctx context.Context, userID string) (storage.MFAEnrolment, error) {
	e, err := scanEnrolment(s.reader.QueryRowContext(ctx, qMFAGetEnrolment, userID))
	return e, getErr("get mfa enrolment", err)
}

// FindMFAEnrolments lists the enrolments with the given username (case-insensitive).
func (s *Store) FindMFAEnrolments(ctx context.Context, username string) ([]storage.MFAEnrolment, error) {
	rows, err := s.reader.QueryContext(ctx, qMFAFindEnrolment, username)
	if err != nil {
		return nil, fmt.Errorf("sqlite: find mfa enrolments: %w", err)
	}
	defer rows.Close()
	var out []storage.MFAEnrolment
	for rows.Next() {
		e, err := scanEnrolment(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: find mfa enrolments: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: find mfa enrolments: %w", err)
	}
	return out, nil
}

// DeleteMFAEnrolment deletes everything MFA of the user.
func (s *Store) DeleteMFAEnrolment(ctx context.Context, userID string) error {
	return s.inTx(ctx, func(t *txn) error {
		for _, q := range []string{qMFADeleteSteps, qMFADeleteFactors, qMFADeleteCodes} {
			if _, err := t.tx.ExecContext(ctx, q, userID); err != nil {
				return fmt.Errorf("sqlite: delete mfa enrolment: %w", err)
			}
		}
		res, err := t.tx.ExecContext(ctx, qMFADeleteEnrolment, userID)
		return mustAffect("delete mfa enrolment", res, err)
	})
}

// CreateMFAFactor stores a factor of an enrolled user.
func (s *Store) CreateMFAFactor(ctx context.Context, f storage.MFAFactor) error {
	var credID any
	if f.CredentialID != nil {
		credID = f.CredentialID
	}
	secret := f.Secret
	if secret == nil {
		secret = []byte{}
	}
	sealedSecret, serr := storage.SealValue(s.sealer, secret, factorContext(f.ID))
	if serr != nil {
		return fmt.Errorf("sqlite: create mfa factor: %w", serr)
	}
	_, err := s.writer.ExecContext(ctx, qMFAInsertFactor, f.ID, f.UserID, f.Type, f.Name, sealedSecret, credID,
		int64(f.SignCount), ms(f.CreatedAt), ms(f.LastUsedAt))
	if isForeignKey(err) {
		return fmt.Errorf("sqlite: create mfa factor: user %s is not enrolled: %w", f.UserID, storage.ErrNotFound)
	}
	return insertErr("create mfa factor", err)
}

// ListMFAFactors lists the user's factors, oldest first.
func (s *Store) ListMFAFactors(ctx context.Context, userID string) ([]storage.MFAFactor, error) {
	rows, err := s.reader.QueryContext(ctx, qMFAListFactors, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list mfa factors: %w", err)
	}
	defer rows.Close()
	var out []storage.MFAFactor
	for rows.Next() {
		f, err := scanFactor(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list mfa factors: %w", err)
		}
		if f.Secret, err = storage.OpenValue(s.sealer, f.Secret, factorContext(f.ID)); err != nil {
			return nil, fmt.Errorf("sqlite: list mfa factors: %w", err)
		}
		if f.Secret == nil {
			f.Secret = []byte{}
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list mfa factors: %w", err)
	}
	return out, nil
}

// DeleteMFAFactor deletes one factor (and its used TOTP steps).
func (s *Store) DeleteMFAFactor(ctx context.Context, userID, id string) error {
	res, err := s.writer.ExecContext(ctx, qMFADeleteFactor, userID, id)
	return mustAffect("delete mfa factor", res, err)
}

// RecordMFAFactorUse updates the sign counter and last use if the counter grew.
func (s *Store) RecordMFAFactorUse(ctx context.Context, userID, id string, signCount uint32, usedAt time.Time) error {
	return s.inTx(ctx, func(t *txn) error {
		var cur int64
		err := t.tx.QueryRowContext(ctx, qMFAGetCount, userID, id).Scan(&cur)
		if err != nil {
			return getErr("record mfa factor use", err)
		}
		if int64(signCount) <= cur && (signCount != 0 || cur != 0) {
			return fmt.Errorf("sqlite: record mfa factor use: sign counter %d not above %d: %w", signCount, cur, storage.ErrConflict)
		}
		_, err = t.tx.ExecContext(ctx, qMFAUseFactor, int64(signCount), ms(usedAt), userID, id)
		if err != nil {
			return fmt.Errorf("sqlite: record mfa factor use: %w", err)
		}
		return nil
	})
}

// UseTOTPStep records an accepted TOTP time step; ErrReused if it or a later step was used.
func (s *Store) UseTOTPStep(ctx context.Context, userID, factorID string, step int64, expiry time.Time) error {
	return s.inTx(ctx, func(t *txn) error {
		var one int
		if err := t.tx.QueryRowContext(ctx, qMFAFactorOwned, userID, factorID).Scan(&one); err != nil {
			return getErr("use totp step", err)
		}
		var maxStep int64
		if err := t.tx.QueryRowContext(ctx, qMFAMaxStep, factorID).Scan(&maxStep); err != nil {
			return fmt.Errorf("sqlite: use totp step: %w", err)
		}
		if step <= maxStep {
			return fmt.Errorf("sqlite: use totp step %d (last used %d): %w", step, maxStep, storage.ErrReused)
		}
		if _, err := t.tx.ExecContext(ctx, qMFAInsertStep, factorID, step, ms(expiry)); err != nil {
			return fmt.Errorf("sqlite: use totp step: %w", err)
		}
		return nil
	})
}

// ReplaceRecoveryCodes replaces the user's recovery codes.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes []string, now time.Time) error {
	return s.inTx(ctx, func(t *txn) error {
		if _, err := t.tx.ExecContext(ctx, qMFADeleteCodes, userID); err != nil {
			return fmt.Errorf("sqlite: replace recovery codes: %w", err)
		}
		for _, h := range hashes {
			_, err := t.tx.ExecContext(ctx, qMFAInsertCode, userID, h, ms(now))
			if isForeignKey(err) {
				return fmt.Errorf("sqlite: replace recovery codes: user %s is not enrolled: %w", userID, storage.ErrNotFound)
			}
			if err != nil {
				return insertErr("replace recovery codes", err)
			}
		}
		return nil
	})
}

// UseRecoveryCode marks an unused recovery code used.
func (s *Store) UseRecoveryCode(ctx context.Context, userID, hash string, now time.Time) error {
	return s.inTx(ctx, func(t *txn) error {
		var usedAt int64
		err := t.tx.QueryRowContext(ctx, qMFAGetCode, userID, hash).Scan(&usedAt)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: use recovery code: %w", storage.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("sqlite: use recovery code: %w", err)
		}
		if usedAt != 0 {
			return fmt.Errorf("sqlite: use recovery code: %w", storage.ErrReused)
		}
		res, err := t.tx.ExecContext(ctx, qMFAUseCode, max(ms(now), 1), userID, hash)
		return mustAffect("use recovery code", res, err)
	})
}

// CountRecoveryCodes counts the user's unused recovery codes.
func (s *Store) CountRecoveryCodes(ctx context.Context, userID string) (int, error) {
	var n int
	if err := s.reader.QueryRowContext(ctx, qMFACountCodes, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count recovery codes: %w", err)
	}
	return n, nil
}

// GCMFA deletes expired used-TOTP-step records.
func (s *Store) GCMFA(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.writer.ExecContext(ctx, qMFAGCSteps, ms(now))
	if err != nil {
		return 0, fmt.Errorf("sqlite: gc mfa: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: gc mfa: %w", err)
	}
	return n, nil
}
