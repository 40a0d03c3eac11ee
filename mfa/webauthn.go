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

// webAuthn wraps the go-webauthn relying party.
type webAuthn struct {
	rp *webauthn.WebAuthn
}

func newWebAuthn(o WebAuthnOptions) (*webAuthn, error) {
	if len(o.Origins) == 0 {
		return nil, errors.New("mfa: webauthn needs at least one origin")
	}
	name := o.RPName
	if name == "" {
		name = o.RPID
	}
	rp, err := webauthn.New(&webauthn.Config{
		RPID: o.RPID, RPDisplayName: name, RPOrigins: o.Origins,
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationPreferred,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("mfa: webauthn: %w", err)
	}
	return &webAuthn{rp: rp}, nil
}

// waUser is a user as go-webauthn sees it.
type waUser struct {
	handle  []byte
	name    string
	display string
	creds   []webauthn.Credential
	factors []storage.MFAFactor // parallel to creds
}

func (u *waUser) WebAuthnID() []byte                         { return u.handle }
func (u *waUser) WebAuthnName() string                       { return u.name }
func (u *waUser) WebAuthnDisplayName() string                { return u.display }
func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// loadUser builds the WebAuthn user from the enrolment and stored credentials.
func (s *Service) loadUser(ctx context.Context, u User, create bool) (*waUser, error) {
	var e storage.MFAEnrolment
	var err error
	if create {
		e, err = s.enrol(ctx, u)
	} else if e, err = s.store.GetMFAEnrolment(ctx, u.ID); errors.Is(err, storage.ErrNotFound) {
		return nil, ErrNoFactor
	}
	if err != nil {
		return nil, fmt.Errorf("mfa: enrolment: %w", err)
	}
	fs, err := s.store.ListMFAFactors(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("mfa: list factors: %w", err)
	}
	wu := &waUser{handle: e.WebAuthnID, name: u.Name, display: u.DisplayName}
	if wu.name == "" {
		wu.name = u.ID
	}
	if wu.display == "" {
		wu.display = wu.name
	}
	for _, f := range fs {
		if f.Type != storage.MFATypeWebAuthn {
			continue
		}
		var c webauthn.Credential
		if err := json.Unmarshal(f.Secret, &c); err != nil {
			return nil, fmt.Errorf("mfa: webauthn factor %s: %w", f.ID, err)
		}
		c.Authenticator.SignCount = f.SignCount
		wu.creds = append(wu.creds, c)
		wu.factors = append(wu.factors, f)
	}
	return wu, nil
}

type waState struct {
	UserID  string               `json:"uid"`
	Session webauthn.SessionData `json:"session"`
}

// BeginWebAuthnRegistration starts adding a security key or passkey: it returns the options
// for navigator.credentials.create (JSON, {"publicKey": ...}) and the sealed state that
// FinishWebAuthnRegistration needs back.
func (s *Service) BeginWebAuthnRegistration(ctx context.Context, u User) (options []byte, state string, err error) {
	if s.wa == nil {
		return nil, "", ErrWebAuthnDisabled
	}
	wu, err := s.loadUser(ctx, u, true)
	if err != nil {
		return nil, "", err
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range wu.creds {
		exclude = append(exclude, c.Descriptor())
	}
	creation, sess, err := s.wa.rp.BeginRegistration(wu, webauthn.WithExclusions(exclude))
	if err != nil {
		return nil, "", fmt.Errorf("mfa: begin webauthn registration: %w", err)
	}
	if options, err = json.Marshal(creation); err != nil {
		return nil, "", fmt.Errorf("mfa: encode options: %w", err)
	}
	state, err = s.seal.sealState("webauthn-reg:"+u.ID, waState{UserID: u.ID, Session: *sess}, s.now(), s.stateTTL)
	return options, state, err
}

// FinishWebAuthnRegistration checks the browser's attestation response (the JSON of the
// PublicKeyCredential) against the state and stores the credential as a factor.
func (s *Service) FinishWebAuthnRegistration(ctx context.Context, u User, state, name string, response []byte) (storage.MFAFactor, error) {
	if s.wa == nil {
		return storage.MFAFactor{}, ErrWebAuthnDisabled
	}
	var st waState
	if err := s.seal.openState("webauthn-reg:"+u.ID, state, s.now(), &st); err != nil {
		return storage.MFAFactor{}, err
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
	raw, err := json.Marshal(cred)
	if err != nil {
		return storage.MFAFactor{}, fmt.Errorf("mfa: encode credential: %w", err)
	}
	id, err := newFactorID()
	if err != nil {
		return storage.MFAFactor{}, err
	}
	if name = strings.TrimSpace(name); name == "" {
		name = "Security key"
		if cred.Authenticator.Attachment == protocol.Platform || cred.Flags.BackupEligible {
			name = "Passkey"
		}
	}
	now := s.now().UTC()
	f := storage.MFAFactor{
		ID: id, UserID: u.ID, Type: storage.MFATypeWebAuthn, Name: name, Secret: raw,
		CredentialID: cred.ID, SignCount: cred.Authenticator.SignCount, CreatedAt: now, LastUsedAt: now,
	}
	if err := s.store.CreateMFAFactor(ctx, f); err != nil {
		return storage.MFAFactor{}, fmt.Errorf("mfa: store webauthn factor: %w", err)
	}
	return f, nil
}

// BeginWebAuthnLogin starts a WebAuthn assertion for the user's credentials: options for
// navigator.credentials.get (JSON, {"publicKey": ...}) and the sealed state.
func (s *Service) BeginWebAuthnLogin(ctx context.Context, u User) (options []byte, state string, err error) {
	if s.wa == nil {
		return nil, "", ErrWebAuthnDisabled
	}
	wu, err := s.loadUser(ctx, u, false)
	if err != nil {
		return nil, "", err
	}
	if len(wu.creds) == 0 {
		return nil, "", ErrNoFactor
	}
	assertion, sess, err := s.wa.rp.BeginLogin(wu)
	if err != nil {
		return nil, "", fmt.Errorf("mfa: begin webauthn login: %w", err)
	}
	if options, err = json.Marshal(assertion); err != nil {
		return nil, "", fmt.Errorf("mfa: encode options: %w", err)
	}
	state, err = s.seal.sealState("webauthn-login:"+u.ID, waState{UserID: u.ID, Session: *sess}, s.now(), s.stateTTL)
	return options, state, err
}

// FinishWebAuthnLogin verifies the browser's assertion (the JSON of the PublicKeyCredential)
// against the state: challenge, origin, RP ID, signature and a growing signature counter. It
// returns the amr method: AMRSoftware for a credential that may be synced, AMRHardware
// otherwise.
func (s *Service) FinishWebAuthnLogin(ctx context.Context, u User, state string, response []byte) (string, error) {
	if s.wa == nil {
		return "", ErrWebAuthnDisabled
	}
	var st waState
	if err := s.seal.openState("webauthn-login:"+u.ID, state, s.now(), &st); err != nil {
		return "", err
	}
	wu, err := s.loadUser(ctx, u, false)
	if err != nil {
		return "", err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidCode, err)
	}
	cred, err := s.wa.rp.ValidateLogin(wu, st.Session, parsed)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidCode, err)
	}
	if cred.Authenticator.CloneWarning {
		return "", ErrCloned
	}
	for i, c := range wu.creds {
		if !bytes.Equal(c.ID, cred.ID) {
			continue
		}
		f := wu.factors[i]
		err := s.store.RecordMFAFactorUse(ctx, u.ID, f.ID, cred.Authenticator.SignCount, s.now().UTC())
		if errors.Is(err, storage.ErrConflict) {
			return "", ErrCloned
		}
		if err != nil {
			return "", fmt.Errorf("mfa: record use: %w", err)
		}
		if c.Flags.BackupEligible {
			return AMRSoftware, nil
		}
		return AMRHardware, nil
	}
	return "", ErrInvalidCode
}

// Method returns the amr method a factor proves: AMROTP for TOTP, AMRSoftware for a WebAuthn
// credential that may be synced, AMRHardware for one bound to its device.
func Method(f storage.MFAFactor) string {
	if f.Type != storage.MFATypeWebAuthn {
		return AMROTP
	}
	var c webauthn.Credential
	if err := json.Unmarshal(f.Secret, &c); err == nil && c.Flags.BackupEligible {
		return AMRSoftware
	}
	return AMRHardware
}
