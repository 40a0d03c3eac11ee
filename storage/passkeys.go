package storage

import (
	"context"
	"time"
)

// PasskeyBinding marks a WebAuthn factor as a passkey: a discoverable credential (resident
// key, user verification required) that signs its user in alone, as the account Subject of
// the password connector ConnectorID (the local connector's username).
type PasskeyBinding struct {
	// FactorID is the MFA factor (MFATypeWebAuthn) holding the credential.
	FactorID string
	// UserID is the internal user ID the factor belongs to (MFAFactor.UserID).
	UserID string
	// ConnectorID and Subject are the account the passkey signs in to.
	ConnectorID string
	Subject     string
	CreatedAt   time.Time
}

// PasskeyStore keeps passkeys: WebAuthn factors that are a first factor. It is optional (a
// type assertion next to MFAStore); the SQLite and PostgreSQL backends implement it
// (storagetest.RunPasskeys). Deleting the factor (DeleteMFAFactor, DeleteMFAEnrolment,
// UserRemover) deletes its binding.
type PasskeyStore interface {
	// CreatePasskey stores the factor (as CreateMFAFactor) and its binding in one
	// transaction: both or neither. ErrNotFound when the user is not enrolled,
	// ErrAlreadyExists when the factor ID or credential ID is taken.
	CreatePasskey(ctx context.Context, f MFAFactor, b PasskeyBinding) error
	// ListPasskeys lists the user's passkey bindings, oldest first.
	ListPasskeys(ctx context.Context, userID string) ([]PasskeyBinding, error)
	// FindMFAEnrolmentByHandle returns the enrolment whose WebAuthnID is handle (the user
	// handle a discoverable credential returns); ErrNotFound when none has it.
	FindMFAEnrolmentByHandle(ctx context.Context, handle []byte) (MFAEnrolment, error)
}
