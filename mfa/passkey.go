package mfa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Passkeys: WebAuthn discoverable credentials (resident keys) with user verification, which
// sign a user in alone. Each is an MFA factor of type webauthn plus a storage.PasskeyBinding
// naming the account (connector and username) it signs in to; the enrolment's random WebAuthn
// user handle, never the username, is what the authenticator returns to find the user.

// ErrPasskeysDisabled: WebAuthn is not configured, or the store keeps no passkeys.
var ErrPasskeysDisabled = errors.New("mfa: passkeys are not available")

// AMRUser is the RFC 8176 amr value of user presence and verification by the authenticator
// (its PIN or biometric: WebAuthn's UV flag says it happened, not how).
const AMRUser = "user"

// PasskeyAccount is the account a passkey signs in to.
type PasskeyAccount struct {
	// ConnectorID is the password connector (local) the account belongs to.
	ConnectorID string
	// Subject is the account's upstream subject there (the local username).
	Subject string
}

// PasskeyLogin is a verified passkey sign-in.
type PasskeyLogin struct {
	// UserID is the internal user ID the passkey was registered by.
	UserID string
	// Account is the account the passkey signs in to.
	Account PasskeyAccount
	// FactorID is the factor that signed.
	FactorID string
	// AMR are the methods the assertion proves: AMRHardware (or AMRSoftware for a credential
	// that may be synced) and AMRUser.
	AMR []string
}

// passkeyRegState is the sealed state of a passkey registration.
type passkeyRegState struct {
	UserID  string               `json:"uid"`
	Session webauthn.SessionData `json:"session"`
}

// PasskeysEnabled reports whether passkeys can be registered and used: WebAuthn is
// configured and the store keeps passkey bindings.
func (s *Service) PasskeysEnabled() bool { return s.wa != nil && s.passkeys != nil }

// Passkeys lists the user's passkey bindings.
func (s *Service) Passkeys(ctx context.Context, userID string) ([]storage.PasskeyBinding, error) {
	if !s.PasskeysEnabled() {
		return nil, nil
	}
	bs, err := s.passkeys.ListPasskeys(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("mfa: list passkeys: %w", err)
	}
	return bs, nil
}

// BeginPasskeyRegistration starts adding a passkey: options for navigator.credentials.create
// requiring a resident key and user verification, and the sealed state
// FinishPasskeyRegistration needs back.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, u User) (options []byte, state string, err error) {
	if !s.PasskeysEnabled() {
		return nil, "", ErrPasskeysDisabled
	}
	wu, err := s.loadUser(ctx, u, true)
	if err != nil {
		return nil, "", err
	}
	exclude := make([]protocol.CredentialDescriptor, 0, len(wu.creds))
	for _, c := range wu.creds {
		exclude = append(exclude, c.Descriptor())
	}
	required := true
	creation, sess, err := s.wa.rp.BeginRegistration(wu, webauthn.WithExclusions(exclude),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: &required,
			UserVerification: protocol.VerificationRequired,
		}))
	if err != nil {
		return nil, "", fmt.Errorf("mfa: begin passkey registration: %w", err)
	}
	if options, err = json.Marshal(creation); err != nil {
		return nil, "", fmt.Errorf("mfa: encode options: %w", err)
	}
	state, err = s.seal.sealState("passkey-reg:"+u.ID, passkeyRegState{UserID: u.ID, Session: *sess}, s.now(), s.stateTTL)
	return options, state, err
}

// FinishPasskeyRegistration checks the browser's attestation response against the state
// (challenge, origin, RP ID, user verification) and stores the credential as a passkey of
// the account.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, u User, acct PasskeyAccount, state, name string, response []byte) (storage.MFAFactor, error) {
	if !s.PasskeysEnabled() {
		return storage.MFAFactor{}, ErrPasskeysDisabled
	}
	if acct.ConnectorID == "" || acct.Subject == "" {
		return storage.MFAFactor{}, errors.New("mfa: a passkey needs the account it signs in to")
	}
	var st passkeyRegState
	if err := s.seal.openState("passkey-reg:"+u.ID, state, s.now(), &st); err != nil {
		return storage.MFAFactor{}, stateErr(err)
	}
	wu, err := s.loadUser(ctx, u, false)
	if err != nil {
		return storage.MFAFactor{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return storage.MFAFactor{}, fmt.Errorf("%w: %w", ErrInvalidCode, err)
	}
	cred, err := s.wa.rp.CreateCredential(wu, st.Session, parsed)
	if err != nil {
		return storage.MFAFactor{}, fmt.Errorf("%w: %w", ErrInvalidCode, err)
	}
	if !cred.Flags.UserVerified {
		return storage.MFAFactor{}, fmt.Errorf("%w: the authenticator did not verify the user", ErrInvalidCode)
	}
	raw, err := json.Marshal(cred)
	if err != nil {
		return storage.MFAFactor{}, fmt.Errorf("mfa: encode credential: %w", err)
	}
	id, err := newFactorID()
	if err != nil {
		return storage.MFAFactor{}, err
	}
	if name = strings.TrimSpace(name); name == "" {
		name = "Passkey"
	}
	now := s.now().UTC()
	f := storage.MFAFactor{
		ID: id, UserID: u.ID, Type: storage.MFATypeWebAuthn, Name: name, Secret: raw,
		CredentialID: cred.ID, SignCount: cred.Authenticator.SignCount, CreatedAt: now, LastUsedAt: now,
	}
	b := storage.PasskeyBinding{FactorID: id, UserID: u.ID, ConnectorID: acct.ConnectorID, Subject: acct.Subject, CreatedAt: now}
	if err := s.passkeys.CreatePasskey(ctx, f, b); err != nil {
		return storage.MFAFactor{}, fmt.Errorf("mfa: store passkey: %w", err)
	}
	return f, nil
}

// BeginPasskeyLogin starts a passkey sign-in bound to bind (the auth request): options for
// navigator.credentials.get with no allowed credentials (the authenticator offers its
// discoverable ones) and user verification required, and the sealed state.
func (s *Service) BeginPasskeyLogin(bind string) (options []byte, state string, err error) {
	if !s.PasskeysEnabled() {
		return nil, "", ErrPasskeysDisabled
	}
	assertion, sess, err := s.wa.rp.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, "", fmt.Errorf("mfa: begin passkey login: %w", err)
	}
	if options, err = json.Marshal(assertion); err != nil {
		return nil, "", fmt.Errorf("mfa: encode options: %w", err)
	}
	state, err = s.seal.sealState("passkey-login:"+bind, *sess, s.now(), s.stateTTL)
	return options, state, err
}

// FinishPasskeyLogin verifies a passkey assertion against the state begun for bind: the
// challenge, origin, RP ID, user verification, the signature of a credential that is a
// passkey of the user its user handle names, and a growing signature counter. Errors:
// ErrInvalidCode (a wrong or unknown assertion), ErrExpired (no usable state), ErrCloned.
func (s *Service) FinishPasskeyLogin(ctx context.Context, bind, state string, response []byte) (PasskeyLogin, error) {
	if !s.PasskeysEnabled() {
		return PasskeyLogin{}, ErrPasskeysDisabled
	}
	var sess webauthn.SessionData
	if err := s.seal.openState("passkey-login:"+bind, state, s.now(), &sess); err != nil {
		return PasskeyLogin{}, stateErr(err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return PasskeyLogin{}, fmt.Errorf("%w: %w", ErrInvalidCode, err)
	}
	var found *passkeyUser
	var lookupErr error
	handler := func(_, handle []byte) (webauthn.User, error) {
		found, lookupErr = s.loadPasskeyUser(ctx, handle)
		if lookupErr != nil {
			return nil, lookupErr
		}
		return found, nil
	}
	cred, err := s.wa.rp.ValidateDiscoverableLogin(handler, sess, parsed)
	if lookupErr != nil && !errors.Is(lookupErr, ErrInvalidCode) {
		return PasskeyLogin{}, lookupErr // the store failed: not the user's fault
	}
	if err != nil {
		return PasskeyLogin{}, fmt.Errorf("%w: %w", ErrInvalidCode, err)
	}
	if cred.Authenticator.CloneWarning {
		return PasskeyLogin{}, ErrCloned
	}
	if !parsed.Response.AuthenticatorData.Flags.UserVerified() {
		return PasskeyLogin{}, fmt.Errorf("%w: the authenticator did not verify the user", ErrInvalidCode)
	}
	return s.recordPasskeyUse(ctx, found, cred)
}

// recordPasskeyUse stores the credential's new counter and reports the login.
func (s *Service) recordPasskeyUse(ctx context.Context, pu *passkeyUser, cred *webauthn.Credential) (PasskeyLogin, error) {
	for i, c := range pu.creds {
		if !bytes.Equal(c.ID, cred.ID) {
			continue
		}
		f, b := pu.factors[i], pu.bindings[i]
		err := s.store.RecordMFAFactorUse(ctx, f.UserID, f.ID, cred.Authenticator.SignCount, s.now().UTC())
		if errors.Is(err, storage.ErrConflict) {
			return PasskeyLogin{}, ErrCloned
		}
		if err != nil {
			return PasskeyLogin{}, fmt.Errorf("mfa: record use: %w", err)
		}
		method := AMRHardware
		if c.Flags.BackupEligible {
			method = AMRSoftware
		}
		return PasskeyLogin{UserID: f.UserID, FactorID: f.ID, Account: PasskeyAccount{ConnectorID: b.ConnectorID, Subject: b.Subject},
			AMR: []string{method, AMRUser}}, nil
	}
	return PasskeyLogin{}, ErrInvalidCode
}

// passkeyUser is the user a discoverable credential's handle names, with only the
// credentials that are passkeys: a second-factor security key never signs in alone.
type passkeyUser struct {
	waUser
	bindings []storage.PasskeyBinding // parallel to creds
}

// loadPasskeyUser finds the user by WebAuthn user handle. An unknown handle is
// ErrInvalidCode; a store failure is returned as it is.
func (s *Service) loadPasskeyUser(ctx context.Context, handle []byte) (*passkeyUser, error) {
	e, err := s.passkeys.FindMFAEnrolmentByHandle(ctx, handle)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%w: unknown user handle", ErrInvalidCode)
	}
	if err != nil {
		return nil, fmt.Errorf("mfa: find user by handle: %w", err)
	}
	bs, err := s.passkeys.ListPasskeys(ctx, e.UserID)
	if err != nil {
		return nil, fmt.Errorf("mfa: list passkeys: %w", err)
	}
	fs, err := s.store.ListMFAFactors(ctx, e.UserID)
	if err != nil {
		return nil, fmt.Errorf("mfa: list factors: %w", err)
	}
	pu := &passkeyUser{waUser: waUser{handle: e.WebAuthnID, name: e.Username, display: e.Username}}
	for _, b := range bs {
		for _, f := range fs {
			if f.ID != b.FactorID || f.Type != storage.MFATypeWebAuthn {
				continue
			}
			var c webauthn.Credential
			if err := json.Unmarshal(f.Secret, &c); err != nil {
				return nil, fmt.Errorf("mfa: passkey %s: %w", f.ID, err)
			}
			c.Authenticator.SignCount = f.SignCount
			pu.creds = append(pu.creds, c)
			pu.factors = append(pu.factors, f)
			pu.bindings = append(pu.bindings, b)
		}
	}
	return pu, nil
}

// stateErr maps a ceremony state that cannot be opened (sealed for another user or request)
// to ErrExpired: start again.
func stateErr(err error) error {
	if errors.Is(err, errUnsealed) {
		return fmt.Errorf("%w: %w", ErrExpired, err)
	}
	return err
}
