package mfa

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse-id/gatehouse/storage"
)

// RecoveryCodeCount is how many recovery codes a user gets at a time.
const RecoveryCodeCount = 10

// recoveryAlphabet avoids characters people confuse (0/o, 1/l/i).
const recoveryAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

// newRecoveryCode returns a code like "k7mq2-xr9ta" (about 49 bits).
func newRecoveryCode() (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for b.Len() < 11 {
		if b.Len() == 5 {
			b.WriteByte('-')
			continue
		}
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("mfa: random: %w", err)
		}
		// Rejection sampling keeps the choice uniform.
		if int(buf[0]) >= 256-256%len(recoveryAlphabet) {
			continue
		}
		b.WriteByte(recoveryAlphabet[int(buf[0])%len(recoveryAlphabet)])
	}
	return b.String(), nil
}

func normalizeRecovery(code string) string { return strings.ToLower(normalizeCode(code)) }

func (s *Service) recoveryHash(userID, code string) string {
	return s.seal.hash("recovery:"+userID, normalizeRecovery(code))
}

// NewRecoveryCodes replaces the user's recovery codes with RecoveryCodeCount new ones and
// returns them: this is the only time they exist in the clear. Storage keeps keyed hashes.
func (s *Service) NewRecoveryCodes(ctx context.Context, u User) ([]string, error) {
	if _, err := s.enrol(ctx, u); err != nil {
		return nil, err
	}
	codes := make([]string, RecoveryCodeCount)
	hashes := make([]string, RecoveryCodeCount)
	for i := range codes {
		c, err := newRecoveryCode()
		if err != nil {
			return nil, err
		}
		codes[i], hashes[i] = c, s.recoveryHash(u.ID, c)
	}
	if err := s.store.ReplaceRecoveryCodes(ctx, u.ID, hashes, s.now().UTC()); err != nil {
		return nil, fmt.Errorf("mfa: store recovery codes: %w", err)
	}
	return codes, nil
}

// UseRecoveryCode accepts an unused recovery code of the user once: ErrReplayed when it was
// used already, ErrInvalidCode when the user has no such code.
func (s *Service) UseRecoveryCode(ctx context.Context, userID, code string) error {
	if len(normalizeRecovery(code)) != 10 {
		return ErrInvalidCode
	}
	err := s.store.UseRecoveryCode(ctx, userID, s.recoveryHash(userID, code), s.now().UTC())
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrReused):
		return ErrReplayed
	case errors.Is(err, storage.ErrNotFound):
		return ErrInvalidCode
	}
	return fmt.Errorf("mfa: use recovery code: %w", err)
}
