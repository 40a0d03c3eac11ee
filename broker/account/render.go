package account

import (
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"

	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/mfa"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
)

// factorRow is one factor in the page's list.
type factorRow struct {
	ID, Name, Kind, Added, LastUsed string
}

// pageData is mfa_account.html's data.
type pageData struct {
	pages.Page
	User, Action, CSRF, Notice, Error string
	Factors                           []factorRow
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
	// Everywhere offers "Sign out everywhere"; MFA shows the second-factor sections.
	Everywhere, MFA bool
	// Logins is the sign-in methods section's data (template account_logins); nil: none.
	Logins any
	// Verification offered while Locked: a TOTP code, a recovery code, a WebAuthn assertion.
	VerifyTOTP, VerifyRecovery bool
	VerifyWebAuthnOptions      string
	// Passkeys is the passkey section (passkeys.go); nil: not shown.
	Passkeys *passkeySection
}

// codesData is mfa_codes.html's data: new recovery codes shown once, with a link to Done
// (Action, ReqID and CSRF continue a login in the MFA step; the account page leaves them empty).
type codesData struct {
	pages.Page
	Codes                     []string
	Action, ReqID, CSRF, Done string
}

// view is what one rendering of the account page shows besides the user's factors.
type view struct {
	status  int
	sess    storage.Session
	flow    string
	addTOTP bool
	notice  string
	msg     string
	// totpState resumes a TOTP enrolment after a wrong code.
	totpState string
}

// render renders the account page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, v view) {
	d := pageData{
		Page: h.Pages.Page("Security settings"), User: v.sess.Identity.DisplayName(), Action: h.Pages.Rel("/account"),
		CSRF: session.CSRFToken(v.flow, "account:"+v.sess.ID), Notice: v.notice, Error: v.msg,
		Everywhere: h.Everywhere != nil, MFA: h.MFA != nil,
	}
	if h.Logins != nil {
		logins, err := h.Logins.AccountSection(r, v.sess, v.flow)
		if err != nil {
			h.Pages.Internal(w, r, "account sign-in methods", err)
			return
		}
		d.Logins = logins
	}
	if h.MFA == nil {
		w.Header().Set("Content-Security-Policy", pages.FactorCSP)
		h.Pages.Render(w, r, v.status, "mfa_account.html", d)
		return
	}
	u := mfa.UserOf(v.sess.Identity)
	st, err := h.MFA.Status(r.Context(), u.ID)
	if err != nil {
		h.Pages.Internal(w, r, "mfa status", err)
		return
	}
	d = pageData{
		Everywhere: d.Everywhere, MFA: true, Logins: d.Logins,
		Page: h.Pages.Page("Security settings"),
		User: v.sess.Identity.DisplayName(), Action: h.Pages.Rel("/account"), CSRF: session.CSRFToken(v.flow, "account:"+v.sess.ID),
		Notice: v.notice, Error: v.msg, RecoveryCodes: st.RecoveryCodes, Script: h.Pages.Rel("/static/webauthn.js"),
		Locked:   st.Enrolled() && !mfa.Satisfied(v.sess.Auth),
		Required: h.required(v.sess),
		AddTOTP:  v.addTOTP, AddTOTPURL: h.Pages.Rel("/account?add=totp"),
		Factors: factorRows(st.Factors),
	}
	if d.Locked {
		err = h.offerVerification(r, v.sess, u, st, &d)
	} else {
		err = h.offerEnrolment(r, v, u, &d)
	}
	if err == nil {
		err = h.fillPasskeys(r, v.sess, u, st, &d)
	}
	if err != nil {
		h.Pages.Internal(w, r, "begin second factor", err)
		return
	}
	w.Header().Set("Content-Security-Policy", pages.FactorCSP)
	h.Pages.Render(w, r, v.status, "mfa_account.html", d)
}

// factorRows lists the factors for the page.
func factorRows(factors []storage.MFAFactor) []factorRow {
	var out []factorRow
	for _, f := range factors {
		row := factorRow{ID: f.ID, Name: f.Name, Kind: "Authenticator app", Added: f.CreatedAt.Format("2 Jan 2006")}
		if f.Type == storage.MFATypeWebAuthn {
			row.Kind = "Security key or passkey"
		}
		if !f.LastUsedAt.IsZero() {
			row.LastUsed = f.LastUsedAt.Format("2 Jan 2006 15:04 MST")
		}
		out = append(out, row)
	}
	return out
}

// offerVerification fills in the ways a locked session can verify: TOTP, a recovery code, and
// a WebAuthn assertion whose ceremony it begins and keeps.
func (h *Handler) offerVerification(r *http.Request, sess storage.Session, u mfa.User, st mfa.Status, d *pageData) error {
	d.VerifyTOTP, d.VerifyRecovery = st.Has(storage.MFATypeTOTP), st.RecoveryCodes > 0
	if !h.webAuthn() || !st.Has(storage.MFATypeWebAuthn) {
		return nil
	}
	opts, state, err := h.MFA.BeginWebAuthnLogin(r.Context(), u)
	if err == nil {
		err = h.keepCeremony(r.Context(), ceremonyLogin, sess.ID, state)
	}
	d.VerifyWebAuthnOptions = string(opts)
	if err != nil {
		return fmt.Errorf("begin webauthn login: %w", err)
	}
	return nil
}

// offerEnrolment fills in a TOTP enrolment (when asked for) and a WebAuthn registration whose
// ceremony it begins and keeps.
func (h *Handler) offerEnrolment(r *http.Request, v view, u mfa.User, d *pageData) error {
	if v.addTOTP {
		setup, err := h.MFA.ResumeTOTP(u, v.totpState)
		if err != nil {
			if setup, err = h.MFA.BeginTOTP(u); err != nil {
				return fmt.Errorf("begin totp: %w", err)
			}
		}
		png, err := mfa.QRCodePNG(setup.URL, 200)
		if err != nil {
			return fmt.Errorf("qr code: %w", err)
		}
		d.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
		d.Secret, d.TOTPState = setup.Secret, setup.State
	}
	if !h.webAuthn() {
		return nil
	}
	opts, state, err := h.MFA.BeginWebAuthnRegistration(r.Context(), u)
	if err == nil {
		err = h.keepCeremony(r.Context(), ceremonyRegister, v.sess.ID, state)
	}
	d.WebAuthnOptions = string(opts)
	if err != nil {
		return fmt.Errorf("begin webauthn registration: %w", err)
	}
	return nil
}

// showRecoveryCodes makes new recovery codes and shows them, once.
func (h *Handler) showRecoveryCodes(w http.ResponseWriter, r *http.Request, u mfa.User) {
	codes, err := h.MFA.NewRecoveryCodes(r.Context(), u)
	if err != nil {
		h.Pages.Internal(w, r, "recovery codes", err)
		return
	}
	h.Logger.InfoContext(r.Context(), "recovery codes regenerated", "sub", u.ID)
	d := codesData{Page: h.Pages.Page("Save your recovery codes"), Codes: codes, Done: h.Pages.Rel("/account")}
	w.Header().Set("Content-Security-Policy", pages.FactorCSP)
	h.Pages.Render(w, r, http.StatusOK, "mfa_codes.html", d)
}
