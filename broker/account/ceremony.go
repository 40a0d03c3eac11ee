package account

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-id/gatehouse/mfa"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Account-page WebAuthn ceremonies. Their state is kept server-side, bound to the SSO
// session and taken (read and deleted atomically) by the answer, as the /mfa step keeps it
// in the auth request: a captured (state, assertion) pair never verifies again, in this
// session or any other.
const (
	ceremonyLogin    = "login"
	ceremonyRegister = "register"
	// ceremonyTTL matches the mfa package's lifetime of a ceremony's sealed state.
	ceremonyTTL = 10 * time.Minute
)

// ceremonyKey is the blob key of a session's account-page ceremony of a kind.
func ceremonyKey(kind, sessionID string) string {
	return "account-webauthn/" + kind + "/" + sessionID
}

// webAuthn reports whether the page can offer WebAuthn: it is configured and there is a
// store for single-use ceremony state.
func (h *Handler) webAuthn() bool {
	return h.MFA.WebAuthnEnabled() && h.Ceremonies != nil
}

// keepCeremony stores the state of a ceremony begun for the session, replacing an earlier one.
func (h *Handler) keepCeremony(ctx context.Context, kind, sessionID, state string) error {
	return h.Ceremonies.PutBlob(ctx, storage.Blob{Key: ceremonyKey(kind, sessionID), Value: []byte(state), Expiry: h.Now().Add(ceremonyTTL)})
}

// takeCeremony returns the session's ceremony state of a kind and forgets it. Without one
// (never begun, already answered, expired) it returns mfa.ErrExpired.
func (h *Handler) takeCeremony(ctx context.Context, kind, sessionID string) (string, error) {
	if h.Ceremonies == nil {
		return "", mfa.ErrWebAuthnDisabled
	}
	v, err := h.Ceremonies.TakeBlob(ctx, ceremonyKey(kind, sessionID), h.Now())
	if errors.Is(err, storage.ErrNotFound) {
		return "", mfa.ErrExpired
	}
	if err != nil {
		return "", err
	}
	return string(v), nil
}
