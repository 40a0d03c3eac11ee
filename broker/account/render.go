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

// pageData is account.html's data; each section (web/templates/account_<section>.html)
// reads its own fields. A new section adds its fields here and its template to account.html.
type pageData struct {
	pages.Page
	User, Action, CSRF, Notice, Error string
	// Apps section (account_apps.html): the apps the user allowed; HasApps: shown.
	HasApps bool
	Apps    []appRow
	// Sessions section (account_sessions.html): the user's live sessions; HasSessions: shown.
	// Everywhere offers "Sign out everywhere".
	HasSessions bool
	Sessions    []sessionRow
	Everywhere  bool
	// Password section (account_password.html): shown when the session's connector lets its
	// users change their password; PasswordError: the message is the password form's.
	Password, PasswordError bool
	// NoPassword: the account has no password (passkeys only); the section says so instead
	// of showing the form.
	NoPassword bool
	// Sign-in methods section (account_logins.html, broker/linking): its own data; nil: none.
	Logins any
	// Factors section (account_factors.html), when MFA is on.
	MFA           bool
	Factors       []factorRow
	RecoveryCodes int
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

// view is what one rendering of the account page shows besides the user's holdings.
type view struct {
	status  int
	sess    storage.Session
	flow    string
	addTOTP bool
	notice  string
	msg     string
	// passwordError: msg answers the password form (shown beside it).
	passwordError bool
	// totpState resumes a TOTP enrolment after a wrong code.
	totpState string
}

// render renders the account page: every section the server and the session allow.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, v view) {
	ctx := r.Context()
	d := pageData{
		Page: h.Pages.Page("account.heading"), User: v.sess.Identity.DisplayName(), Action: h.Pages.Rel("/account"),
		CSRF: session.CSRFToken(v.flow, "account:"+v.sess.ID), Notice: v.notice, Error: v.msg,
		PasswordError: v.passwordError, Everywhere: h.Everywhere != nil, MFA: h.MFA != nil,
	}
	if h.Logins != nil {
		logins, err := h.Logins.AccountSection(r, v.sess, v.flow)
		if err != nil {
			h.Pages.Internal(w, r, "account sign-in methods", err)
			return
		}
		d.Logins = logins
	}
	if pc, ok := h.passwordChanger(v.sess); ok {
		none, err := h.passwordless(ctx, v.sess, pc)
		if err != nil {
			h.Pages.Internal(w, r, "account password", err)
			return
		}
		d.Password, d.NoPassword = true, none
	}
	if h.Holdings != nil {
		var err error
		if d.Apps, err = h.appRows(ctx, v.sess.Identity.Subject); err != nil {
			h.Pages.Internal(w, r, "list the user's apps", err)
			return
		}
		if d.Sessions, err = h.sessionRows(ctx, v.sess); err != nil {
			h.Pages.Internal(w, r, "list the user's sessions", err)
			return
		}
		d.HasApps, d.HasSessions = true, true
	}
	if h.MFA != nil {
		if err := h.factors(r, v, &d); err != nil {
			h.Pages.Internal(w, r, "second factors", err)
			return
		}
	}
	w.Header().Set("Content-Security-Policy", pages.FactorCSP)
	h.Pages.Render(w, r, v.status, "account.html", d)
}

// factors fills in the factors section: the user's factors and recovery codes, and either
// the ways a locked session can verify or the enrolments an unlocked one may start.
func (h *Handler) factors(r *http.Request, v view, d *pageData) error {
	u := mfa.UserOf(v.sess.Identity)
	st, err := h.MFA.Status(r.Context(), u.ID)
	if err != nil {
		return fmt.Errorf("mfa status: %w", err)
	}
	d.RecoveryCodes, d.Script = st.RecoveryCodes, h.Pages.Rel("/static/webauthn.js")
	d.Locked = st.Enrolled() && !mfa.Satisfied(v.sess.Auth)
	d.Required = h.required(v.sess)
	d.AddTOTP, d.AddTOTPURL = v.addTOTP, h.Pages.Rel("/account?add=totp")
	d.Factors = factorRows(st.Factors)
	if d.Locked {
		err = h.offerVerification(r, v.sess, u, st, d)
	} else {
		err = h.offerEnrolment(r, v, u, d)
	}
	if err != nil {
		return err
	}
	return h.fillPasskeys(r, v.sess, u, st, d) // passkeys.go
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
	d := codesData{Page: h.Pages.Page("codes.heading"), Codes: codes, Done: h.Pages.Rel("/account")}
	w.Header().Set("Content-Security-Policy", pages.FactorCSP)
	h.Pages.Render(w, r, http.StatusOK, "mfa_codes.html", d)
}
