package account

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/mfa"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
)

// tooManyMsg answers a spent attempt budget.
const tooManyMsg = "Too many wrong codes. Wait a few minutes, then try again."

// handleSubmit runs one action of the account page, after the session and the form's CSRF
// token: on the user's apps, sessions or password (submitHoldings), or on their factors (add
// or remove one, regenerate the recovery codes, verify one to unlock those changes).
func (h *Handler) handleSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		h.Pages.Error(w, r, http.StatusBadRequest, "Request refused", "The form could not be read.", "Go back and try again.")
		return
	}
	sess, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	flow := h.Sessions.FlowSecret(r)
	if !session.CheckCSRF(flow, "account:"+sess.ID, r.PostFormValue("csrf")) {
		h.Logger.WarnContext(r.Context(), "csrf token missing or wrong", "path", r.URL.Path)
		h.Pages.Error(w, r, http.StatusForbidden, "Request refused",
			"This form could not be verified (its security token is missing or wrong), so nothing was changed.",
			"Open your security settings again and retry.")
		return
	}
	if h.submitHoldings(w, r, sess, flow) {
		return
	}
	action := r.PostFormValue("action")
	if h.MFA == nil {
		h.render(w, r, view{status: http.StatusBadRequest, sess: sess, flow: flow, msg: "Unknown action."})
		return
	}
	u := mfa.UserOf(sess.Identity)
	st, err := h.MFA.Status(r.Context(), u.ID)
	if err != nil {
		h.Pages.Internal(w, r, "mfa status", err)
		return
	}
	switch action {
	case "verify-totp", "verify-recovery", "verify-webauthn":
		h.verify(w, r, sess, flow, action)
		return
	}
	if st.Enrolled() && !mfa.Satisfied(sess.Auth) {
		h.render(w, r, view{status: http.StatusForbidden, sess: sess, flow: flow, msg: "To change your factors, verify with one of them first."})
		return
	}
	switch action {
	case "add-totp", "add-webauthn":
		h.add(w, r, sess, flow, st, action)
	case "add-passkey":
		h.addPasskey(w, r, sess, flow, st)
	case "remove":
		h.remove(w, r, sess, flow, st)
	case "regenerate":
		if !st.Enrolled() {
			h.render(w, r, view{status: http.StatusBadRequest, sess: sess, flow: flow, msg: "Add a factor first: recovery codes stand in for it."})
			return
		}
		h.showRecoveryCodes(w, r, u)
	default:
		h.render(w, r, view{status: http.StatusBadRequest, sess: sess, flow: flow, msg: "Unknown action."})
	}
}

// submitHoldings runs the actions on the user's sessions, apps and password; false when
// the action is none of them (or the server does not offer it).
func (h *Handler) submitHoldings(w http.ResponseWriter, r *http.Request, sess storage.Session, flow string) bool {
	switch action := r.PostFormValue("action"); {
	case action == "signout-everywhere" && h.Everywhere != nil:
		h.signOutEverywhere(w, r, sess)
	case action == "revoke-app" && h.Holdings != nil:
		h.revokeApp(w, r, sess, flow)
	case action == "signout-session" && h.Holdings != nil:
		h.signOutSession(w, r, sess, flow)
	case action == "change-password":
		h.changePassword(w, r, sess, flow)
	default:
		return false
	}
	return true
}

// add finishes a TOTP enrolment or a WebAuthn registration; the first factor also gets
// recovery codes.
func (h *Handler) add(w http.ResponseWriter, r *http.Request, sess storage.Session, flow string, st mfa.Status, action string) {
	ctx := r.Context()
	u := mfa.UserOf(sess.Identity)
	again := view{sess: sess, flow: flow, addTOTP: action == "add-totp", totpState: r.PostFormValue("state")}
	attempt, ok := h.reserve(w, r, u.ID, httpx.ClientIP(r, h.TrustedProxies), func() {
		again.status, again.msg = http.StatusTooManyRequests, tooManyMsg
		h.render(w, r, again)
	})
	if !ok {
		return
	}
	var err error
	if action == "add-totp" {
		_, err = h.MFA.FinishTOTP(ctx, u, r.PostFormValue("state"), r.PostFormValue("name"), r.PostFormValue("code"))
	} else {
		var state string
		if state, err = h.takeCeremony(ctx, ceremonyRegister, sess.ID); err == nil {
			_, err = h.MFA.FinishWebAuthnRegistration(ctx, u, state, r.PostFormValue("name"), []byte(r.PostFormValue("credential")))
		}
	}
	if err != nil {
		if !errors.Is(err, mfa.ErrInvalidCode) && !errors.Is(err, mfa.ErrExpired) {
			h.Pages.Internal(w, r, "add factor", err)
			return
		}
		again.status, again.msg = http.StatusBadRequest, "That did not work: check the code from your app (or try your security key again)."
		h.render(w, r, again)
		return
	}
	h.succeeded(r, attempt)
	h.Logger.InfoContext(ctx, "second factor added", "sub", u.ID, "action", action)
	h.Audit.Record(ctx, audit.Event{Type: audit.MFAEnrol, Outcome: audit.OutcomeSuccess, User: u.ID, Detail: map[string]string{"method": strings.TrimPrefix(action, "add-")}})
	if st.RecoveryCodes == 0 {
		h.showRecoveryCodes(w, r, u)
		return
	}
	http.Redirect(w, r, h.Pages.Rel("/account?done=added"), http.StatusSeeOther)
}

// remove removes a factor, unless it is the last one and the connector requires one.
func (h *Handler) remove(w http.ResponseWriter, r *http.Request, sess storage.Session, flow string, st mfa.Status) {
	if len(st.Factors) == 1 && h.required(sess) {
		h.render(w, r, view{status: http.StatusConflict, sess: sess, flow: flow,
			msg: "This is your only second factor and your sign-in requires one: add another factor before removing it."})
		return
	}
	if h.guardLastPasskey(w, r, sess, flow) { // passkeys.go
		return
	}
	u := mfa.UserOf(sess.Identity)
	if err := h.MFA.RemoveFactor(r.Context(), u.ID, r.PostFormValue("factor")); err != nil {
		if errors.Is(err, mfa.ErrNoFactor) {
			http.Redirect(w, r, h.Pages.Rel("/account"), http.StatusSeeOther)
			return
		}
		h.Pages.Internal(w, r, "remove factor", err)
		return
	}
	h.Logger.InfoContext(r.Context(), "second factor removed", "sub", u.ID)
	h.Audit.Record(r.Context(), audit.Event{Type: audit.MFAReset, Outcome: audit.OutcomeSuccess, User: u.ID, Detail: map[string]string{"by": "user"}})
	http.Redirect(w, r, h.Pages.Rel("/account?done=removed"), http.StatusSeeOther)
}

// verify checks a second factor on the account page and upgrades the session, so a user
// whose session did not use one may change their factors.
func (h *Handler) verify(w http.ResponseWriter, r *http.Request, sess storage.Session, flow, action string) {
	ctx := r.Context()
	u := mfa.UserOf(sess.Identity)
	attempt, ok := h.reserve(w, r, u.ID, httpx.ClientIP(r, h.TrustedProxies), func() {
		h.render(w, r, view{status: http.StatusTooManyRequests, sess: sess, flow: flow, msg: tooManyMsg})
	})
	if !ok {
		return
	}
	method := mfa.AMROTP
	var err error
	switch action {
	case "verify-totp":
		err = h.MFA.VerifyTOTP(ctx, u.ID, r.PostFormValue("code"))
	case "verify-recovery":
		err = h.MFA.UseRecoveryCode(ctx, u.ID, r.PostFormValue("code"))
	default:
		var state string
		if state, err = h.takeCeremony(ctx, ceremonyLogin, sess.ID); err == nil {
			method, err = h.MFA.FinishWebAuthnLogin(ctx, u, state, []byte(r.PostFormValue("credential")))
		}
	}
	if err != nil {
		if !errors.Is(err, mfa.ErrInvalidCode) && !errors.Is(err, mfa.ErrReplayed) && !errors.Is(err, mfa.ErrExpired) &&
			!errors.Is(err, mfa.ErrCloned) && !errors.Is(err, mfa.ErrNoFactor) {
			h.Pages.Internal(w, r, "verify second factor", err)
			return
		}
		h.render(w, r, view{status: http.StatusUnauthorized, sess: sess, flow: flow, msg: "That did not work. Check the code (or try your security key again)."})
		return
	}
	h.succeeded(r, attempt)
	if _, err := h.Sessions.Establish(ctx, w, r, sess.Identity, mfa.Upgrade(sess.Auth, method)); err != nil {
		h.Pages.Internal(w, r, "establish session", err)
		return
	}
	h.Logger.InfoContext(ctx, "second factor passed on the account page", "sub", u.ID, "method", method)
	http.Redirect(w, r, h.Pages.Rel("/account?done=verified"), http.StatusSeeOther)
}

// signOutEverywhere ends every session of the user (this one too), revokes their grants
// (refresh tokens included) and has every app told through the back-channel logout queue.
// It is a protective act, so it needs no second factor, only the form's CSRF token.
func (h *Handler) signOutEverywhere(w http.ResponseWriter, r *http.Request, sess storage.Session) {
	ctx := r.Context()
	n, err := h.Everywhere.EndAll(ctx, sess.Identity.Subject)
	if err != nil {
		h.Pages.Internal(w, r, "sign out everywhere", err)
		return
	}
	// End clears this browser's cookie and grows the sessions' generation, so that caches of
	// sessions (forward auth) drop every session EndAll deleted.
	if _, _, err := h.Sessions.End(ctx, w, r); err != nil {
		h.Pages.Internal(w, r, "end session", err)
		return
	}
	h.Logger.InfoContext(ctx, "signed out everywhere", "sub", sess.Identity.Subject, "sessions", n)
	hint := "You can close this window."
	if h.Upstream != nil {
		next, notice := h.Upstream.BeginNotice(ctx, sess, "")
		if next != "" { // this browser's upstream session last
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
		if notice != nil { // in the page's language, the connector's name inside
			hint = h.Pages.Templates.TranslateMessage(h.Pages.Language(r), *notice)
		}
	}
	h.Pages.Error(w, r, http.StatusOK, "Signed out everywhere",
		fmt.Sprintf("You are signed out of Gatehouse everywhere (%d %s ended); the applications you used are being told, and their refresh tokens no longer work.", n, plural(n, "session", "sessions")),
		hint)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
