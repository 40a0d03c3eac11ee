package broker

import (
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/mfa"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
)

type accountFactor struct {
	ID, Name, Kind, Added, LastUsed string
}

type accountData struct {
	pages.Page
	User, Action, CSRF, Notice, Error string
	Factors                           []accountFactor
	RecoveryCodes                     int
	// Locked: the user has factors but this session did not use one, so nothing may change.
	Locked bool
	// Required: the user's connector requires a second factor (the last one stays).
	Required bool
	// TOTP enrolment (when asked for with ?add=totp).
	AddTOTP           bool
	AddTOTPURL        string
	QR                template.URL
	Secret, TOTPState string
	// WebAuthn registration (when configured). The ceremony's state stays on the server.
	WebAuthnOptions string
	Script          string
	// Verification offered while Locked: a TOTP code, a recovery code, a WebAuthn assertion.
	VerifyTOTP, VerifyRecovery bool
	VerifyWebAuthnOptions      string
}

var accountNotices = map[string]string{
	"added":    "The new factor is ready to use.",
	"removed":  "The factor was removed.",
	"verified": "Verified: you can change your factors now.",
}

// accountSession returns the request's SSO session for the account pages, rendering the
// error page itself when there is none.
func (s *Server) accountSession(w http.ResponseWriter, r *http.Request) (storage.Session, bool) {
	if s.MFA == nil {
		s.pages.Error(w, r, http.StatusNotFound, "Not available",
			"Two-step verification is not enabled on this server.", "")
		return storage.Session{}, false
	}
	sess, has, err := s.Sessions.Current(r.Context(), r)
	if err != nil {
		s.pages.Internal(w, r, "load session", err)
		return sess, false
	}
	if !has || !s.conns.Up(sess.Auth.ConnectorID) {
		s.pages.Error(w, r, http.StatusUnauthorized, "You are not signed in",
			"Your security settings are shown to signed-in users only.",
			"Sign in to one of your applications, then open this page again.")
		return sess, false
	}
	return sess, true
}

// handleAccountPage lists the signed-in user's factors and offers to add and remove them.
func (s *Server) handleAccountPage(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.accountSession(w, r)
	if !ok {
		return
	}
	flow, err := s.Sessions.Flow(w, r)
	if err != nil {
		s.pages.Internal(w, r, "flow cookie", err)
		return
	}
	s.renderAccount(w, r, http.StatusOK, sess, flow, r.URL.Query().Get("add") == "totp", accountNotices[r.URL.Query().Get("done")], "", "")
}

// renderAccount renders the account page. totpState resumes a TOTP enrolment after a wrong code.
func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, status int, sess storage.Session, flow string, addTOTP bool, notice, msg, totpState string) {
	ctx := r.Context()
	svc := s.MFA.Service
	u := mfaUser(sess.Identity)
	st, err := svc.Status(ctx, u.ID)
	if err != nil {
		s.pages.Internal(w, r, "mfa status", err)
		return
	}
	d := accountData{
		Page: s.pages.Page("Security settings"),
		User: displayName(sess.Identity), Action: s.rel("/account"), CSRF: session.CSRFToken(flow, "account:"+sess.ID),
		Notice: notice, Error: msg, RecoveryCodes: st.RecoveryCodes, Script: s.rel("/static/webauthn.js"),
		Locked:   st.Enrolled() && !mfa.Satisfied(sess.Auth),
		Required: s.MFA.Connectors[sess.Auth.ConnectorID].Policy == mfa.Required,
		AddTOTP:  addTOTP, AddTOTPURL: s.rel("/account?add=totp"),
	}
	for _, f := range st.Factors {
		af := accountFactor{ID: f.ID, Name: f.Name, Kind: "Authenticator app", Added: f.CreatedAt.Format("2 Jan 2006")}
		if f.Type == storage.MFATypeWebAuthn {
			af.Kind = "Security key or passkey"
		}
		if !f.LastUsedAt.IsZero() {
			af.LastUsed = f.LastUsedAt.Format("2 Jan 2006 15:04 MST")
		}
		d.Factors = append(d.Factors, af)
	}
	if d.Locked {
		d.VerifyTOTP, d.VerifyRecovery = st.Has(storage.MFATypeTOTP), st.RecoveryCodes > 0
		if s.accountWebAuthn() && st.Has(storage.MFATypeWebAuthn) {
			opts, state, err := svc.BeginWebAuthnLogin(ctx, u)
			if err == nil {
				err = s.keepCeremony(ctx, ceremonyLogin, sess.ID, state)
			}
			if err != nil {
				s.pages.Internal(w, r, "begin webauthn login", err)
				return
			}
			d.VerifyWebAuthnOptions = string(opts)
		}
	} else {
		if addTOTP {
			setup, err := svc.ResumeTOTP(u, totpState)
			if err != nil {
				if setup, err = svc.BeginTOTP(u); err != nil {
					s.pages.Internal(w, r, "begin totp", err)
					return
				}
			}
			png, err := mfa.QRCodePNG(setup.URL, 200)
			if err != nil {
				s.pages.Internal(w, r, "qr code", err)
				return
			}
			d.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
			d.Secret, d.TOTPState = setup.Secret, setup.State
		}
		if s.accountWebAuthn() {
			opts, state, err := svc.BeginWebAuthnRegistration(ctx, u)
			if err == nil {
				err = s.keepCeremony(ctx, ceremonyRegister, sess.ID, state)
			}
			if err != nil {
				s.pages.Internal(w, r, "begin webauthn registration", err)
				return
			}
			d.WebAuthnOptions = string(opts)
		}
	}
	w.Header().Set("Content-Security-Policy", mfaPageCSP)
	if err := s.Templates.Render(w, status, "mfa_account.html", d); err != nil {
		s.Logger.ErrorContext(r.Context(), "render account", "err", err)
	}
}

// handleAccountSubmit adds or removes a factor, or regenerates the recovery codes.
func (s *Server) handleAccountSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.pages.Error(w, r, http.StatusBadRequest, "Request refused", "The form could not be read.", "Go back and try again.")
		return
	}
	sess, ok := s.accountSession(w, r)
	if !ok {
		return
	}
	flow := s.Sessions.FlowSecret(r)
	if !session.CheckCSRF(flow, "account:"+sess.ID, r.PostFormValue("csrf")) {
		s.Logger.WarnContext(r.Context(), "csrf token missing or wrong", "path", r.URL.Path)
		s.pages.Error(w, r, http.StatusForbidden, "Request refused",
			"This form could not be verified (its security token is missing or wrong), so nothing was changed.",
			"Open your security settings again and retry.")
		return
	}
	ctx := r.Context()
	svc := s.MFA.Service
	u := mfaUser(sess.Identity)
	st, err := svc.Status(ctx, u.ID)
	if err != nil {
		s.pages.Internal(w, r, "mfa status", err)
		return
	}
	ip := httpx.ClientIP(r, s.TrustedProxies)
	action := r.PostFormValue("action")
	switch action {
	case "verify-totp", "verify-recovery", "verify-webauthn":
		s.accountVerify(w, r, sess, flow, action)
		return
	}
	if st.Enrolled() && !mfa.Satisfied(sess.Auth) {
		s.renderAccount(w, r, http.StatusForbidden, sess, flow, false, "",
			"To change your factors, verify with one of them first.", "")
		return
	}
	switch action {
	case "add-totp", "add-webauthn":
		attempt, ok := s.reserveMFA(w, r, u.ID, ip, func() {
			s.renderAccount(w, r, http.StatusTooManyRequests, sess, flow, action == "add-totp", "", "Too many wrong codes. Wait a few minutes, then try again.", r.PostFormValue("state"))
		})
		if !ok {
			return
		}
		if action == "add-totp" {
			_, err = svc.FinishTOTP(ctx, u, r.PostFormValue("state"), r.PostFormValue("name"), r.PostFormValue("code"))
		} else {
			var state string
			if state, err = s.takeCeremony(ctx, ceremonyRegister, sess.ID); err == nil {
				_, err = svc.FinishWebAuthnRegistration(ctx, u, state, r.PostFormValue("name"), []byte(r.PostFormValue("credential")))
			}
		}
		if err != nil {
			if !errors.Is(err, mfa.ErrInvalidCode) && !errors.Is(err, mfa.ErrExpired) {
				s.pages.Internal(w, r, "add factor", err)
				return
			}
			s.renderAccount(w, r, http.StatusBadRequest, sess, flow, action == "add-totp", "",
				"That did not work: check the code from your app (or try your security key again).", r.PostFormValue("state"))
			return
		}
		s.mfaSucceeded(r, attempt)
		s.Logger.InfoContext(r.Context(), "second factor added", "sub", u.ID, "action", action)
		if st.RecoveryCodes == 0 {
			s.showRecoveryCodes(w, r, sess, u)
			return
		}
		http.Redirect(w, r, s.rel("/account?done=added"), http.StatusSeeOther)
	case "remove":
		if len(st.Factors) == 1 && s.MFA.Connectors[sess.Auth.ConnectorID].Policy == mfa.Required {
			s.renderAccount(w, r, http.StatusConflict, sess, flow, false, "",
				"This is your only second factor and your sign-in requires one: add another factor before removing it.", "")
			return
		}
		if err := svc.RemoveFactor(ctx, u.ID, r.PostFormValue("factor")); err != nil {
			if errors.Is(err, mfa.ErrNoFactor) {
				http.Redirect(w, r, s.rel("/account"), http.StatusSeeOther)
				return
			}
			s.pages.Internal(w, r, "remove factor", err)
			return
		}
		s.Logger.InfoContext(r.Context(), "second factor removed", "sub", u.ID)
		http.Redirect(w, r, s.rel("/account?done=removed"), http.StatusSeeOther)
	case "regenerate":
		if !st.Enrolled() {
			s.renderAccount(w, r, http.StatusBadRequest, sess, flow, false, "", "Add a factor first: recovery codes stand in for it.", "")
			return
		}
		s.showRecoveryCodes(w, r, sess, u)
	default:
		s.renderAccount(w, r, http.StatusBadRequest, sess, flow, false, "", "Unknown action.", "")
	}
}

// showRecoveryCodes makes new recovery codes and shows them, once.
func (s *Server) showRecoveryCodes(w http.ResponseWriter, r *http.Request, sess storage.Session, u mfa.User) {
	codes, err := s.MFA.Service.NewRecoveryCodes(r.Context(), u)
	if err != nil {
		s.pages.Internal(w, r, "recovery codes", err)
		return
	}
	s.Logger.InfoContext(r.Context(), "recovery codes regenerated", "sub", u.ID)
	d := mfaCodesData{Page: s.pages.Page("Save your recovery codes"), Codes: codes, Done: s.rel("/account")}
	w.Header().Set("Content-Security-Policy", mfaPageCSP)
	if err := s.Templates.Render(w, http.StatusOK, "mfa_codes.html", d); err != nil {
		s.Logger.ErrorContext(r.Context(), "render recovery codes", "err", err)
	}
}

// accountVerify checks a second factor on the account page and upgrades the session, so a
// user whose session did not use one may change their factors.
func (s *Server) accountVerify(w http.ResponseWriter, r *http.Request, sess storage.Session, flow, action string) {
	ctx := r.Context()
	svc := s.MFA.Service
	u := mfaUser(sess.Identity)
	ip := httpx.ClientIP(r, s.TrustedProxies)
	attempt, ok := s.reserveMFA(w, r, u.ID, ip, func() {
		s.renderAccount(w, r, http.StatusTooManyRequests, sess, flow, false, "", "Too many wrong codes. Wait a few minutes, then try again.", "")
	})
	if !ok {
		return
	}
	method := mfa.AMROTP
	var err error
	switch action {
	case "verify-totp":
		err = svc.VerifyTOTP(ctx, u.ID, r.PostFormValue("code"))
	case "verify-recovery":
		err = svc.UseRecoveryCode(ctx, u.ID, r.PostFormValue("code"))
	default:
		var state string
		if state, err = s.takeCeremony(ctx, ceremonyLogin, sess.ID); err == nil {
			method, err = svc.FinishWebAuthnLogin(ctx, u, state, []byte(r.PostFormValue("credential")))
		}
	}
	if err != nil {
		if !errors.Is(err, mfa.ErrInvalidCode) && !errors.Is(err, mfa.ErrReplayed) && !errors.Is(err, mfa.ErrExpired) &&
			!errors.Is(err, mfa.ErrCloned) && !errors.Is(err, mfa.ErrNoFactor) {
			s.pages.Internal(w, r, "verify second factor", err)
			return
		}
		s.renderAccount(w, r, http.StatusUnauthorized, sess, flow, false, "", "That did not work. Check the code (or try your security key again).", "")
		return
	}
	s.mfaSucceeded(r, attempt)
	if _, err := s.Sessions.Establish(ctx, w, r, sess.Identity, mfa.Upgrade(sess.Auth, method)); err != nil {
		s.pages.Internal(w, r, "establish session", err)
		return
	}
	s.Logger.InfoContext(r.Context(), "second factor passed on the account page", "sub", u.ID, "method", method)
	http.Redirect(w, r, s.rel("/account?done=verified"), http.StatusSeeOther)
}

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

// accountWebAuthn reports whether the account page can offer WebAuthn: it is configured and
// storage can keep single-use ceremony state.
func (s *Server) accountWebAuthn() bool {
	if !s.MFA.Service.WebAuthnEnabled() || s.blobs() == nil {
		return false
	}
	_, ok := s.Storage.(storage.BlobTaker)
	return ok
}

// keepCeremony stores the state of a ceremony begun for the session, replacing an earlier one.
func (s *Server) keepCeremony(ctx context.Context, kind, sessionID, state string) error {
	return s.blobs().PutBlob(ctx, storage.Blob{Key: ceremonyKey(kind, sessionID), Value: []byte(state), Expiry: s.Now().Add(ceremonyTTL)})
}

// takeCeremony returns the session's ceremony state of a kind and forgets it. Without one
// (never begun, already answered, expired) it returns mfa.ErrExpired.
func (s *Server) takeCeremony(ctx context.Context, kind, sessionID string) (string, error) {
	tk, ok := s.Storage.(storage.BlobTaker)
	if !ok {
		return "", mfa.ErrWebAuthnDisabled
	}
	v, err := tk.TakeBlob(ctx, ceremonyKey(kind, sessionID), s.Now())
	if errors.Is(err, storage.ErrNotFound) {
		return "", mfa.ErrExpired
	}
	if err != nil {
		return "", err
	}
	return string(v), nil
}
