package mfa

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"image/png"
	"net/url"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-id/gatehouse/storage"
)

// TOTP parameters: the ones every authenticator app supports (RFC 6238 defaults).
const (
	totpPeriod = 30
	totpDigits = otp.DigitsSix
	totpSkew   = 1 // steps accepted either side of now
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1}

// TOTPSetup is a TOTP enrolment in progress: the secret to show (as a QR code of URL and as
// the manual key Secret) and the sealed State that FinishTOTP needs back.
type TOTPSetup struct {
	Secret string // base32, no padding
	URL    string // otpauth://totp/...
	State  string
}

type totpState struct {
	UserID string `json:"uid"`
	Secret string `json:"secret"`
}

// BeginTOTP starts a TOTP enrolment with a new random 160-bit secret.
func (s *Service) BeginTOTP(u User) (TOTPSetup, error) {
	raw := make([]byte, 20)
	if _, err := rand.Read(raw); err != nil {
		return TOTPSetup{}, fmt.Errorf("mfa: random: %w", err)
	}
	secret := b32.EncodeToString(raw)
	state, err := s.seal.sealState("totp-setup:"+u.ID, totpState{UserID: u.ID, Secret: secret}, s.now(), s.stateTTL)
	if err != nil {
		return TOTPSetup{}, err
	}
	return TOTPSetup{Secret: secret, URL: s.totpURL(u, secret), State: state}, nil
}

// ResumeTOTP rebuilds the setup of BeginTOTP from its State (to show the page again).
func (s *Service) ResumeTOTP(u User, state string) (TOTPSetup, error) {
	var st totpState
	if err := s.seal.openState("totp-setup:"+u.ID, state, s.now(), &st); err != nil {
		return TOTPSetup{}, err
	}
	return TOTPSetup{Secret: st.Secret, URL: s.totpURL(u, st.Secret), State: state}, nil
}

// totpURL is the Key URI Format authenticator apps read from the QR code.
func (s *Service) totpURL(u User, secret string) string {
	account := u.Name
	if account == "" {
		account = u.ID
	}
	v := url.Values{}
	v.Set("secret", secret)
	v.Set("issuer", s.issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", "6")
	v.Set("period", "30")
	return "otpauth://totp/" + url.PathEscape(s.issuer+":"+account) + "?" + v.Encode()
}

// QRCodePNG renders a TOTP setup URL as a PNG QR code of size×size pixels.
func QRCodePNG(otpauthURL string, size int) ([]byte, error) {
	k, err := otp.NewKeyFromURL(otpauthURL)
	if err != nil {
		return nil, fmt.Errorf("mfa: qr code: %w", err)
	}
	img, err := k.Image(size, size)
	if err != nil {
		return nil, fmt.Errorf("mfa: qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("mfa: qr code: %w", err)
	}
	return buf.Bytes(), nil
}

// normalizeCode strips spaces and dashes people type.
func normalizeCode(code string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, strings.TrimSpace(code))
}

// matchStep returns the time step within the skew whose code is code.
func matchStep(secret, code string, now time.Time) (int64, bool) {
	code = normalizeCode(code)
	if len(code) != totpDigits.Length() {
		return 0, false
	}
	cur := now.Unix() / totpPeriod
	for _, step := range []int64{cur, cur - 1, cur + 1} {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totpOpts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step, true
		}
	}
	return 0, false
}

// stepExpiry is when a used-step record can be forgotten: once the step is out of the window.
func stepExpiry(step int64) time.Time {
	return time.Unix((step+totpSkew+2)*totpPeriod, 0).UTC()
}

// FinishTOTP checks the first code from the user's app against the setup's secret and stores
// the factor (its secret sealed). The code's time step counts as used.
func (s *Service) FinishTOTP(ctx context.Context, u User, state, name, code string) (storage.MFAFactor, error) {
	var st totpState
	if err := s.seal.openState("totp-setup:"+u.ID, state, s.now(), &st); err != nil {
		return storage.MFAFactor{}, err
	}
	step, ok := matchStep(st.Secret, code, s.now())
	if !ok {
		return storage.MFAFactor{}, ErrInvalidCode
	}
	if _, err := s.enrol(ctx, u); err != nil {
		return storage.MFAFactor{}, err
	}
	id, err := newFactorID()
	if err != nil {
		return storage.MFAFactor{}, err
	}
	if name = strings.TrimSpace(name); name == "" {
		name = "Authenticator app"
	}
	now := s.now().UTC()
	secret := []byte(st.Secret)
	if !s.storeSeals {
		secret = s.seal.seal(secret, totpPurpose(u.ID, id))
	}
	f := storage.MFAFactor{
		ID: id, UserID: u.ID, Type: storage.MFATypeTOTP, Name: name,
		Secret: secret, CreatedAt: now, LastUsedAt: now,
	}
	if err := s.store.CreateMFAFactor(ctx, f); err != nil {
		return storage.MFAFactor{}, fmt.Errorf("mfa: store totp factor: %w", err)
	}
	if err := s.store.UseTOTPStep(ctx, u.ID, id, step, stepExpiry(step)); err != nil {
		return storage.MFAFactor{}, fmt.Errorf("mfa: record enrolment code: %w", err)
	}
	return f, nil
}

func totpPurpose(userID, factorID string) string { return "totp:" + userID + ":" + factorID }

// moveToStoreSealing hands a factor's secret that this service sealed itself (under
// mfa.secrets_key) to a sealing store, which seals it under secrets.keys: the migration of
// factors enrolled before the store sealed, one at their next use. A failure leaves the
// factor as it was, readable; it is tried again next time.
func (s *Service) moveToStoreSealing(ctx context.Context, f storage.MFAFactor, secret []byte) {
	up, ok := s.store.(storage.MFASecretUpdater)
	if !s.storeSeals || !ok || len(f.Secret) == 0 || f.Secret[0] != sealVersion || bytes.Equal(f.Secret, secret) {
		return
	}
	if err := up.UpdateMFAFactorSecret(ctx, f.UserID, f.ID, secret); err != nil {
		// The factor stays readable as it is; the move is tried again at its next use.
		s.logger.WarnContext(ctx, "mfa: move a TOTP secret to the store's sealing; tried again at its next use", "factor", f.ID, "err", err)
	}
}

// totpSecret returns a TOTP factor's secret in clear. A secret this service sealed (under
// SecretsKey: every factor enrolled before the store sealed) is opened; when the store seals,
// a secret it returned as it was stored (base32 text, never the sealed format's version
// byte) is the secret itself.
func (s *Service) totpSecret(userID string, f storage.MFAFactor) ([]byte, error) {
	secret, err := s.seal.open(f.Secret, totpPurpose(userID, f.ID))
	if err == nil {
		return secret, nil
	}
	if s.storeSeals && (len(f.Secret) == 0 || f.Secret[0] != sealVersion) {
		return f.Secret, nil
	}
	return nil, err
}

// VerifyTOTP checks a code against every TOTP factor of the user. A code is accepted once:
// ErrReplayed when its time step (or a later one) was already used, ErrInvalidCode when it
// matches no factor.
func (s *Service) VerifyTOTP(ctx context.Context, userID, code string) error {
	fs, err := s.store.ListMFAFactors(ctx, userID)
	if err != nil {
		return fmt.Errorf("mfa: list factors: %w", err)
	}
	now := s.now()
	for _, f := range fs {
		if f.Type != storage.MFATypeTOTP {
			continue
		}
		secret, err := s.totpSecret(userID, f)
		if err != nil {
			return fmt.Errorf("mfa: totp factor %s: %w", f.ID, err)
		}
		step, ok := matchStep(string(secret), code, now)
		if !ok {
			continue
		}
		s.moveToStoreSealing(ctx, f, secret)
		if err := s.store.UseTOTPStep(ctx, userID, f.ID, step, stepExpiry(step)); err != nil {
			if errors.Is(err, storage.ErrReused) {
				return ErrReplayed
			}
			return fmt.Errorf("mfa: record totp step: %w", err)
		}
		if err := s.store.RecordMFAFactorUse(ctx, userID, f.ID, 0, now.UTC()); err != nil && !errors.Is(err, storage.ErrConflict) {
			return fmt.Errorf("mfa: record use: %w", err)
		}
		return nil
	}
	return ErrInvalidCode
}
