package account

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/mfa"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Passkeys on the account page: a user signed in through a connector with passkeys enabled
// registers one (resident key and user verification required), sees their passkeys and
// removes them; the last passkey of an account without a password stays, so the user keeps
// a way in. Passkeys are listed in their own section (account_passkeys.html), not among the
// second factors, though they also serve as one.

// ceremonyPasskey is the blob kind of a passkey registration's state.
const ceremonyPasskey = "passkey"

// PasswordHolder is what a connector with passkeys tells the page (connectors/local does):
// whether an account can also sign in with a password.
type PasswordHolder interface {
	HasPassword(ctx context.Context, username string) (bool, error)
}

// passkeySection is account_passkeys.html's data.
type passkeySection struct {
	Rows []factorRow
	// Options are the registration options (JSON); empty when the page offers no new
	// passkey (locked, or the session's connector has no passkeys).
	Options, Script string
}

// Messages of the passkey section.
const (
	passkeyAddFailed = "That did not work: try your passkey again."
	passkeyKeepLast  = "This is your only passkey and your account has no password: add another passkey before removing this one."
)

// passkeysOffered reports whether the session may register passkeys: its connector has them
// enabled and the session knows its account there.
func (h *Handler) passkeysOffered(sess storage.Session) bool {
	return h.MFA != nil && h.Passkeys[sess.Auth.ConnectorID] && h.MFA.PasskeysEnabled() && h.Ceremonies != nil &&
		sess.Auth.UpstreamSubject != ""
}

// fillPasskeys lists the user's passkeys in their section (and out of the second factors)
// and, when the session may add one, begins a registration and keeps its state.
func (h *Handler) fillPasskeys(r *http.Request, sess storage.Session, u mfa.User, st mfa.Status, d *pageData) error {
	bs, err := h.MFA.Passkeys(r.Context(), u.ID)
	if err != nil {
		return err
	}
	offered := h.passkeysOffered(sess)
	if len(bs) == 0 && !offered {
		return nil
	}
	isPasskey := func(f storage.MFAFactor) bool {
		return slices.ContainsFunc(bs, func(b storage.PasskeyBinding) bool { return b.FactorID == f.ID })
	}
	var keys, others []storage.MFAFactor
	for _, f := range st.Factors {
		if isPasskey(f) {
			keys = append(keys, f)
		} else {
			others = append(others, f)
		}
	}
	d.Factors = factorRows(others)
	sec := &passkeySection{Rows: factorRows(keys)}
	d.Passkeys = sec
	if !offered || d.Locked {
		return nil
	}
	opts, state, err := h.MFA.BeginPasskeyRegistration(r.Context(), u)
	if err == nil {
		err = h.keepCeremony(r.Context(), ceremonyPasskey, sess.ID, state)
	}
	if err != nil {
		return fmt.Errorf("begin passkey registration: %w", err)
	}
	sec.Options, sec.Script = string(opts), h.Pages.Rel("/static/webauthn.js")
	return nil
}

// addPasskey finishes a passkey registration for the session's account; the user's first
// factor also gets recovery codes.
func (h *Handler) addPasskey(w http.ResponseWriter, r *http.Request, sess storage.Session, flow string, st mfa.Status) {
	ctx := r.Context()
	if !h.passkeysOffered(sess) {
		h.render(w, r, view{status: http.StatusBadRequest, sess: sess, flow: flow, msg: "Unknown action."})
		return
	}
	u := mfa.UserOf(sess.Identity)
	attempt, ok := h.reserve(w, r, u.ID, httpx.ClientIP(r, h.TrustedProxies), func() {
		h.render(w, r, view{status: http.StatusTooManyRequests, sess: sess, flow: flow, msg: tooManyMsg})
	})
	if !ok {
		return
	}
	state, err := h.takeCeremony(ctx, ceremonyPasskey, sess.ID)
	if err == nil {
		acct := mfa.PasskeyAccount{ConnectorID: sess.Auth.ConnectorID, Subject: sess.Auth.UpstreamSubject}
		_, err = h.MFA.FinishPasskeyRegistration(ctx, u, acct, state, r.PostFormValue("name"), []byte(r.PostFormValue("credential")))
	}
	if err != nil {
		if !errors.Is(err, mfa.ErrInvalidCode) && !errors.Is(err, mfa.ErrExpired) {
			h.Pages.Internal(w, r, "add passkey", err)
			return
		}
		h.Logger.InfoContext(ctx, "passkey registration failed", "sub", u.ID, "err", err)
		h.render(w, r, view{status: http.StatusBadRequest, sess: sess, flow: flow, msg: passkeyAddFailed})
		return
	}
	h.succeeded(r, attempt)
	h.Logger.InfoContext(ctx, "passkey added", "sub", u.ID, "connector", sess.Auth.ConnectorID)
	h.Audit.Record(ctx, audit.Event{Type: audit.MFAEnrol, Outcome: audit.OutcomeSuccess, User: u.ID, ConnectorID: sess.Auth.ConnectorID,
		Detail: map[string]string{"method": "passkey"}})
	if st.RecoveryCodes == 0 {
		h.showRecoveryCodes(w, r, u)
		return
	}
	http.Redirect(w, r, h.Pages.Rel("/account?done=passkey-added"), http.StatusSeeOther)
}

// keepsLastPasskey reports whether removing the factor must be refused: it is the user's
// last passkey and its account has no password (or that cannot be told: its connector is
// gone or down), so it is the only way in.
func (h *Handler) keepsLastPasskey(ctx context.Context, userID, factorID string) (bool, error) {
	bs, err := h.MFA.Passkeys(ctx, userID)
	if err != nil {
		return false, err
	}
	i := slices.IndexFunc(bs, func(b storage.PasskeyBinding) bool { return b.FactorID == factorID })
	if i < 0 || len(bs) > 1 {
		return false, nil
	}
	cn, ok := h.Connectors.Get(bs[i].ConnectorID)
	if !ok || cn.Conn == nil {
		return true, nil
	}
	ph, ok := cn.Conn.(PasswordHolder)
	if !ok {
		return true, nil
	}
	has, err := ph.HasPassword(ctx, bs[i].Subject)
	if err != nil {
		return false, fmt.Errorf("account has a password: %w", err)
	}
	return !has, nil
}

// guardLastPasskey answers a removal keepsLastPasskey refuses (or cannot decide) and
// reports whether it did.
func (h *Handler) guardLastPasskey(w http.ResponseWriter, r *http.Request, sess storage.Session, flow string) bool {
	keep, err := h.keepsLastPasskey(r.Context(), sess.Identity.Subject, r.PostFormValue("factor"))
	if err != nil {
		h.Pages.Internal(w, r, "check last passkey", err)
		return true
	}
	if keep {
		h.render(w, r, view{status: http.StatusConflict, sess: sess, flow: flow, msg: passkeyKeepLast})
	}
	return keep
}
