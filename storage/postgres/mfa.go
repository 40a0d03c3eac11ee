package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.MFAStore = (*Store)(nil)

// MFA statements. Read-modify-write operations lock the factor (or enrolment) row first,
// so concurrent uses on any replica serialize on it.
const (
	mfaEnrolmentCols = `user_id, username, webauthn_id, created_at, updated_at`
	mfaFactorCols    = `id, user_id, type, name, secret, credential_id, sign_count, created_at, last_used_at`

	qMFAGetEnrolment  = `SELECT ` + mfaEnrolmentCols + ` FROM mfa_enrolments WHERE user_id = $1`
	qMFALockEnrolment = `SELECT 1 FROM mfa_enrolments WHERE user_id = $1 FOR UPDATE`
	qMFAFindEnrolment = `SELECT ` + mfaEnrolmentCols + ` FROM mfa_enrolments WHERE lower(username) = lower($1) ORDER BY created_at, user_id`
	qMFAPutEnrolment  = `INSERT INTO mfa_enrolments (` + mfaEnrolmentCols + `) VALUES ($1, $2, $3, $4, $5)
	ON CONFLICT (user_id) DO UPDATE SET username = excluded.username, updated_at = excluded.updated_at
	RETURNING ` + mfaEnrolmentCols
	qMFADeleteEnrolment = `DELETE FROM mfa_enrolments WHERE user_id = $1`
	qMFADeleteSteps     = `DELETE FROM mfa_totp_steps WHERE factor_id IN (SELECT id FROM mfa_factors WHERE user_id = $1)`
	qMFADeleteFactors   = `DELETE FROM mfa_factors WHERE user_id = $1`
	qMFADeleteCodes     = `DELETE FROM mfa_recovery_codes WHERE user_id = $1`

	qMFAInsertFactor = `INSERT INTO mfa_factors (` + mfaFactorCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`
	qMFAListFactors  = `SELECT ` + mfaFactorCols + ` FROM mfa_factors WHERE user_id = $1 ORDER BY created_at, id`
	qMFADeleteFactor = `DELETE FROM mfa_factors WHERE user_id = $1 AND id = $2`
	qMFALockCount    = `SELECT sign_count FROM mfa_factors WHERE user_id = $1 AND id = $2 FOR UPDATE`
	qMFAUseFactor    = `UPDATE mfa_factors SET sign_count = $1, last_used_at = $2 WHERE user_id = $3 AND id = $4`

	qMFALockFactor = `SELECT 1 FROM mfa_factors WHERE user_id = $1 AND id = $2 FOR UPDATE`
	qMFAMaxStep    = `SELECT COALESCE(MAX(step), -9223372036854775808) FROM mfa_totp_steps WHERE factor_id = $1`
	qMFAInsertStep = `INSERT INTO mfa_totp_steps (factor_id, step, expiry) VALUES ($1, $2, $3)`

	qMFAInsertCode = `INSERT INTO mfa_recovery_codes (user_id, hash, created_at, used_at) VALUES ($1, $2, $3, 0)`
	qMFAGetCode    = `SELECT used_at FROM mfa_recovery_codes WHERE user_id = $1 AND hash = $2`
	qMFAUseCode    = `UPDATE mfa_recovery_codes SET used_at = $1 WHERE user_id = $2 AND hash = $3 AND used_at = 0`
	qMFACountCodes = `SELECT COUNT(*) FROM mfa_recovery_codes WHERE user_id = $1 AND used_at = 0`

	qMFAGCSteps = `DELETE FROM mfa_totp_steps WHERE expiry <> 0 AND expiry < $1`
)

// isForeignKey reports whether err is a foreign key violation.
func isForeignKey(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
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
		f                     storage.MFAFactor
		count, created, usedT int64
	)
	if err := sc.Scan(&f.ID, &f.UserID, &f.Type, &f.Name, &f.Secret, &f.CredentialID, &count, &created, &usedT); err != nil {
		return f, err
	}
	f.SignCount = uint32(count)
	f.CreatedAt, f.LastUsedAt = fromMs(created), fromMs(usedT)
	return f, nil
}

// PutMFAEnrolment creates the user's enrolment or updates its Username and UpdatedAt, in
// one statement, and returns the stored record.
func (s *Store) PutMFAEnrolment(ctx context.Context, e storage.MFAEnrolment) (storage.MFAEnrolment, error) {
	webauthnID := e.WebAuthnID
	if webauthnID == nil {
		webauthnID = []byte{}
	}
	out, err := scanEnrolment(s.pool.QueryRow(ctx, qMFAPutEnrolment, e.UserID, e.Username, webauthnID, ms(e.CreatedAt), ms(e.UpdatedAt)))
	return out, getErr("put mfa enrolment", err)
}

// GetMFAEnrolment returns the user's enrolment.
func (s *Store) GetMFAEnrolment(ctx context.Context, userID string) (storage.MFAEnrolment, error) {
	e, err := scanEnrolment(s.pool.QueryRow(ctx, qMFAGetEnrolment, userID))
	return e, getErr("get mfa enrolment", err)
}

// FindMFAEnrolments lists the enrolments with the given username (case-insensitive).
func (s *Store) FindMFAEnrolments(ctx context.Context, username string) ([]storage.MFAEnrolment, error) {
	rows, err := s.pool.Query(ctx, qMFAFindEnrolment, username)
	if err != nil {
		return nil, fmt.Errorf("postgres: find mfa enrolments: %w", err)
	}
	defer rows.Close()
	var out []storage.MFAEnrolment
	for rows.Next() {
		e, err := scanEnrolment(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: find mfa enrolments: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: find mfa enrolments: %w", err)
	}
	return out, nil
}

// DeleteMFAEnrolment deletes everything MFA of the user, in one transaction.
func (s *Store) DeleteMFAEnrolment(ctx context.Context, userID string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		for _, q := range []string{qMFADeleteSteps, qMFADeleteFactors, qMFADeleteCodes} {
			if _, err := tx.Exec(ctx, q, userID); err != nil {
				return fmt.Errorf("postgres: delete mfa enrolment: %w", err)
			}
		}
		tag, err := tx.Exec(ctx, qMFADeleteEnrolment, userID)
		return mustAffect("delete mfa enrolment", tag, err)
	})
}

// CreateMFAFactor stores a factor of an enrolled user.
func (s *Store) CreateMFAFactor(ctx context.Context, f storage.MFAFactor) error {
	secret := f.Secret
	if secret == nil {
		secret = []byte{}
	}
	sealedSecret, serr := storage.SealValue(s.sealer, secret, factorContext(f.ID))
	if serr != nil {
		return fmt.Errorf("postgres: create mfa factor: %w", serr)
	}
	_, err := s.pool.Exec(ctx, qMFAInsertFactor, f.ID, f.UserID, f.Type, f.Name, sealedSecret, f.CredentialID,
		int64(f.SignCount), ms(f.CreatedAt), ms(f.LastUsedAt))
	if isForeignKey(err) {
		return fmt.Errorf("postgres: create mfa factor: user %s is not enrolled: %w", f.UserID, storage.ErrNotFound)
	}
	return insertErr("create mfa factor", err)
}

// ListMFAFactors lists the user's factors, oldest first.
func (s *Store) ListMFAFactors(ctx context.Context, userID string) ([]storage.MFAFactor, error) {
	rows, err := s.pool.Query(ctx, qMFAListFactors, userID)
	if err != nil {
		return nil, fmt.Errorf("postgres: list mfa factors: %w", err)
	}
	defer rows.Close()
	var out []storage.MFAFactor
	for rows.Next() {
		f, err := scanFactor(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list mfa factors: %w", err)
		}
		if f.Secret, err = storage.OpenValue(s.sealer, f.Secret, factorContext(f.ID)); err != nil {
			return nil, fmt.Errorf("postgres: list mfa factors: %w", err)
		}
		if f.Secret == nil {
			f.Secret = []byte{}
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list mfa factors: %w", err)
	}
	return out, nil
}

// DeleteMFAFactor deletes one factor (its used TOTP steps go with it).
func (s *Store) DeleteMFAFactor(ctx context.Context, userID, id string) error {
	tag, err := s.pool.Exec(ctx, qMFADeleteFactor, userID, id)
	return mustAffect("delete mfa factor", tag, err)
}

// RecordMFAFactorUse updates the sign counter and last use if the counter grew.
func (s *Store) RecordMFAFactorUse(ctx context.Context, userID, id string, signCount uint32, usedAt time.Time) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var cur int64
		if err := tx.QueryRow(ctx, qMFALockCount, userID, id).Scan(&cur); err != nil {
			return getErr("record mfa factor use", err)
		}
		if int64(signCount) <= cur && (signCount != 0 || cur != 0) {
			return fmt.Errorf("postgres: record mfa factor use: sign counter %d not above %d: %w", signCount, cur, storage.ErrConflict)
		}
		if _, err := tx.Exec(ctx, qMFAUseFactor, int64(signCount), ms(usedAt), userID, id); err != nil {
			return fmt.Errorf("postgres: record mfa factor use: %w", err)
		}
		return nil
	})
}

// UseTOTPStep records an accepted TOTP time step; storage.ErrReused if it or a later step
// was used. The factor row is locked first, so uses of one factor serialize.
func (s *Store) UseTOTPStep(ctx context.Context, userID, factorID string, step int64, expiry time.Time) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, qMFALockFactor, userID, factorID).Scan(&one); err != nil {
			return getErr("use totp step", err)
		}
		var maxStep int64
		if err := tx.QueryRow(ctx, qMFAMaxStep, factorID).Scan(&maxStep); err != nil {
			return fmt.Errorf("postgres: use totp step: %w", err)
		}
		if step <= maxStep {
			return fmt.Errorf("postgres: use totp step %d (last used %d): %w", step, maxStep, storage.ErrReused)
		}
		if _, err := tx.Exec(ctx, qMFAInsertStep, factorID, step, ms(expiry)); err != nil {
			return fmt.Errorf("postgres: use totp step: %w", err)
		}
		return nil
	})
}

// ReplaceRecoveryCodes replaces the user's recovery codes in one transaction.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes []string, now time.Time) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, qMFALockEnrolment, userID).Scan(&one); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("postgres: replace recovery codes: user %s is not enrolled: %w", userID, storage.ErrNotFound)
			}
			return fmt.Errorf("postgres: replace recovery codes: %w", err)
		}
		if _, err := tx.Exec(ctx, qMFADeleteCodes, userID); err != nil {
			return fmt.Errorf("postgres: replace recovery codes: %w", err)
		}
		for _, h := range hashes {
			if _, err := tx.Exec(ctx, qMFAInsertCode, userID, h, ms(now)); err != nil {
				return insertErr("replace recovery codes", err)
			}
		}
		return nil
	})
}

// UseRecoveryCode marks an unused recovery code used, in one statement: of concurrent uses
// exactly one updates the row.
func (s *Store) UseRecoveryCode(ctx context.Context, userID, hash string, now time.Time) error {
	tag, err := s.pool.Exec(ctx, qMFAUseCode, max(ms(now), 1), userID, hash)
	if err != nil {
		return fmt.Errorf("postgres: use recovery code: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var usedAt int64
	if err := s.pool.QueryRow(ctx, qMFAGetCode, userID, hash).Scan(&usedAt); err != nil {
		return getErr("use recovery code", err)
	}
	return fmt.Errorf("postgres: use recovery code: %w", storage.ErrReused)
}

// CountRecoveryCodes counts the user's unused recovery codes.
func (s *Store) CountRecoveryCodes(ctx context.Context, userID string) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, qMFACountCodes, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count recovery codes: %w", err)
	}
	return n, nil
}

// GCMFA deletes expired used-TOTP-step records.
func (s *Store) GCMFA(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, qMFAGCSteps, ms(now))
	if err != nil {
		return 0, fmt.Errorf("postgres: gc mfa: %w", err)
	}
	return tag.RowsAffected(), nil
}
