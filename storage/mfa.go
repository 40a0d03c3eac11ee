package storage

import (
	"context"
	"time"
)

// MFA factor types.
const (
	// MFATypeTOTP is a time-based one-time password authenticator (RFC 6238).
	MFATypeTOTP = "totp"
	// MFATypeWebAuthn is a WebAuthn credential (security key or passkey).
	MFATypeWebAuthn = "webauthn"
)

// MFAEnrolment is a user's multi-factor record: created with the user's first factor and
// deleted, with every factor and recovery code, by an operator reset.
type MFAEnrolment struct {
	// UserID is the internal user ID (Identity.Subject).
	UserID string
	// Username is what the user was called when they enrolled (preferred_username or email),
	// so operators can find the record by name.
	Username string
	// WebAuthnID is the random WebAuthn user handle (up to 64 bytes); set once.
	WebAuthnID []byte
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// MFAFactor is one enrolled second factor of a user.
type MFAFactor struct {
	ID     string
	UserID string
	Type   string // MFATypeTOTP or MFATypeWebAuthn
	// Name is the user's label ("Phone", "YubiKey").
	Name string
	// Secret is the TOTP shared secret sealed by the caller (never the clear secret), or the
	// WebAuthn credential record (public key material, JSON).
	Secret []byte
	// CredentialID is the WebAuthn credential ID (unique across users); nil for TOTP.
	CredentialID []byte
	// SignCount is the WebAuthn signature counter last seen.
	SignCount  uint32
	CreatedAt  time.Time
	LastUsedAt time.Time
}

// MFAStore keeps multi-factor enrolments, factors, used TOTP time steps and recovery codes.
// It is optional: a backend that implements it enables MFA (check with a type assertion).
type MFAStore interface {
	// PutMFAEnrolment creates the user's enrolment, or updates Username and UpdatedAt of an
	// existing one (WebAuthnID and CreatedAt never change), and returns the stored record.
	PutMFAEnrolment(ctx context.Context, e MFAEnrolment) (MFAEnrolment, error)
	// GetMFAEnrolment returns ErrNotFound when the user never enrolled.
	GetMFAEnrolment(ctx context.Context, userID string) (MFAEnrolment, error)
	// FindMFAEnrolments lists the enrolments whose Username is username (case-insensitive).
	FindMFAEnrolments(ctx context.Context, username string) ([]MFAEnrolment, error)
	// DeleteMFAEnrolment deletes the enrolment with every factor, used TOTP step and recovery
	// code of the user, atomically; ErrNotFound when there is no enrolment.
	DeleteMFAEnrolment(ctx context.Context, userID string) error

	// CreateMFAFactor stores a factor; the user must be enrolled (ErrNotFound otherwise).
	// ErrAlreadyExists when the ID or the WebAuthn credential ID is taken.
	CreateMFAFactor(ctx context.Context, f MFAFactor) error
	// ListMFAFactors lists a user's factors, oldest first.
	ListMFAFactors(ctx context.Context, userID string) ([]MFAFactor, error)
	// DeleteMFAFactor deletes one factor of the user; ErrNotFound when there is none.
	DeleteMFAFactor(ctx context.Context, userID, id string) error
	// RecordMFAFactorUse sets LastUsedAt and SignCount of a factor atomically. The counter
	// must grow (or stay zero when the stored one is zero, for authenticators without a
	// counter); otherwise nothing is written and ErrConflict is returned (a cloned
	// authenticator). ErrNotFound when there is no such factor.
	RecordMFAFactorUse(ctx context.Context, userID, id string, signCount uint32, usedAt time.Time) error

	// UseTOTPStep records that a TOTP code of the factor's time step was accepted. If that
	// step, or a later one, was already used it returns ErrReused and stores nothing, so a
	// code is accepted once. The record may be forgotten after expiry.
	UseTOTPStep(ctx context.Context, userID, factorID string, step int64, expiry time.Time) error

	// ReplaceRecoveryCodes replaces every recovery code of the user with the given hashes.
	ReplaceRecoveryCodes(ctx context.Context, userID string, hashes []string, now time.Time) error
	// UseRecoveryCode marks the recovery code used; ErrNotFound when the user has no such
	// code, ErrReused when it was used already. Of concurrent uses exactly one succeeds.
	UseRecoveryCode(ctx context.Context, userID, hash string, now time.Time) error
	// CountRecoveryCodes returns how many unused recovery codes the user has.
	CountRecoveryCodes(ctx context.Context, userID string) (int, error)

	// GCMFA deletes used-TOTP-step records that expired before now and returns how many.
	GCMFA(ctx context.Context, now time.Time) (int64, error)
}
