package authflow

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/mfa"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
)

// mfaCodesData shows new recovery codes once: with Action, a form continues the login;
// otherwise a link goes to Done.
type mfaCodesData struct {
	pages.Page
	Codes                     []string
	Action, ReqID, CSRF, Done string
}

// handleMFASubmit checks a second factor (or enrols the first one) and continues the login.
func (f *Flow) handleMFASubmit(w http.ResponseWriter, r *http.Request) {
	if !f.readForm(w, r) {
		return
	}
	ar, c, flow, p, ok := f.loadMFAFlow(w, r)
	if !ok {
		return
	}
	if !f.checkCSRF(w, r, flow, "mfa:"+ar.ID) {
		return
	}
	ctx := r.Context()
	svc := f.MFA.Service
	u := mfa.UserOf(ar.Identity)
	ip := httpx.ClientIP(r, f.TrustedProxies)
	action := r.PostFormValue("action")
	if action == "continue" {
		if p.Verified == "" {
			f.renderMFA(w, r, http.StatusBadRequest, ar, c, flow, p, "Verify your second factor first.")
			return
		}
		f.finishMFA(w, r, ar, c, p.Verified)
		return
	}
	st, err := svc.Status(ctx, u.ID)
	if err != nil {
		f.Pages.Internal(w, r, "mfa status", err)
		return
	}
	switch action {
	case "totp", "recovery", "webauthn":
	case "enrol-totp", "enrol-webauthn":
		if st.Enrolled() {
			// Only a user without any factor may enrol here: anyone else proves one first.
			f.renderMFA(w, r, http.StatusForbidden, ar, c, flow, p, "You already have a second factor: use it to continue.")
			return
		}
	default:
		f.renderMFA(w, r, http.StatusBadRequest, ar, c, flow, p, "Choose how to verify.")
		return
	}
	// Reserve the attempt before checking anything: a failure keeps it, a success gives it
	// back, so a burst of guesses cannot all pass the limit before any of them fails.
	attempt, ok := f.reserveMFA(w, r, u.ID, ip, func() {
		f.renderMFA(w, r, http.StatusTooManyRequests, ar, c, flow, p, "Too many wrong codes. Wait a few minutes, then try again.")
	})
	if !ok {
		return
	}
	// A ceremony's state is single-use: forget it before checking the answer.
	waState := p.WebAuthn
	if waState != "" {
		p.WebAuthn = ""
		if err := f.savePending(ctx, ar.ID, p); err != nil {
			f.Pages.Expired(w, r)
			return
		}
	}
	method, enrolled, err := checkFactor(r, svc, u, action, p.TOTP, waState)
	if err != nil {
		f.mfaFailed(w, r, ar, c, flow, p, u.ID, ip, err)
		return
	}
	f.mfaSucceeded(r, attempt)
	if !enrolled {
		f.Logger.InfoContext(r.Context(), "second factor passed", "sub", u.ID, "method", method, "client_id", ar.ClientID)
		f.record(r, ar, mfaEvent(audit.MFAVerify, u.ID, action, audit.OutcomeSuccess))
		f.finishMFA(w, r, ar, c, method)
		return
	}
	f.Logger.InfoContext(r.Context(), "second factor enrolled", "sub", u.ID, "method", method)
	f.record(r, ar, mfaEvent(audit.MFAEnrol, u.ID, action, audit.OutcomeSuccess))
	f.showRecoveryCodes(w, r, ar, flow, p, u, method)
}

// mfaEvent is the audit event of a second factor of user; the form's action ("totp",
// "enrol-webauthn", ...) names the factor.
func mfaEvent(typ, user, action, outcome string) audit.Event {
	return audit.Event{Type: typ, Outcome: outcome, User: user, Detail: map[string]string{"method": strings.TrimPrefix(action, "enrol-")}}
}

// reserveMFA reserves a second-factor attempt for the user and client IP. On false it has
// answered: with tooMany (after setting Retry-After) when a budget is spent, or with an error
// page when the budgets could not be read.
func (f *Flow) reserveMFA(w http.ResponseWriter, r *http.Request, userID, ip string, tooMany func()) (mfa.Attempt, bool) {
	attempt, ok, err := f.MFA.Service.Reserve(r.Context(), userID, ip)
	if err != nil {
		f.Pages.Internal(w, r, "mfa rate limit", err)
		return mfa.Attempt{}, false
	}
	if !ok {
		f.Logger.WarnContext(r.Context(), "mfa rate limited", "sub", userID, "ip", ip)
		f.Audit.Record(r.Context(), mfaEvent(audit.MFAVerify, userID, r.PostFormValue("action"), audit.OutcomeRateLimited))
		w.Header().Set("Retry-After", "900")
		tooMany()
	}
	return attempt, ok
}

// mfaSucceeded gives a passed attempt back and clears the user's failures.
func (f *Flow) mfaSucceeded(r *http.Request, attempt mfa.Attempt) {
	if err := f.MFA.Service.Succeeded(r.Context(), attempt); err != nil {
		f.Logger.WarnContext(r.Context(), "mfa rate limit: refund", "err", err)
	}
}

// mfaFailed shows the prompt again with what went wrong; the attempt stays reserved. the prompt again with what went wrong.
func (f *Flow) mfaFailed(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c *clients.Client, flow string, p storage.MFAProgress, userID, ip string, err error) {
	msg := ""
	switch {
	case errors.Is(err, mfa.ErrReplayed):
		msg = "That code was already used. Wait for your app to show a new code, then enter it."
	case errors.Is(err, mfa.ErrCloned):
		msg = "This security key could not be trusted (its signature counter went backwards). Use another factor, or ask your administrator."
	case errors.Is(err, mfa.ErrExpired):
		msg = "That took too long. Try again."
	case errors.Is(err, mfa.ErrInvalidCode), errors.Is(err, mfa.ErrNoFactor), errors.Is(err, mfa.ErrWebAuthnDisabled):
		msg = "That did not work. Check the code (or try your security key again)."
	default:
		f.Pages.Internal(w, r, "verify second factor", err)
		return
	}
	f.Logger.InfoContext(r.Context(), "second factor failed", "sub", userID, "ip", ip, "err", err)
	f.record(r, ar, mfaEvent(audit.MFAVerify, userID, r.PostFormValue("action"), audit.OutcomeBadCode))
	f.renderMFA(w, r, http.StatusUnauthorized, ar, c, flow, p, msg)
}

// finishMFA establishes the session with the upgraded authentication and continues the flow
// exactly as completeLogin does.
func (f *Flow) finishMFA(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c *clients.Client, method string) {
	ctx := r.Context()
	auth := mfa.Upgrade(ar.Auth, method)
	sess, err := f.Sessions.Establish(ctx, w, r, ar.Identity, auth)
	if err != nil {
		f.Pages.Internal(w, r, "establish session", err)
		return
	}
	err = f.Store.UpdateAuthRequest(ctx, ar.ID, func(a storage.AuthRequest) (storage.AuthRequest, error) {
		if a.MFA == nil || a.LoggedIn || a.Identity.Subject != ar.Identity.Subject {
			return a, errors.New("auth request is no longer in its mfa step")
		}
		a.LoggedIn, a.Auth, a.SessionID, a.ConnectorState, a.MFA = true, auth, sess.ID, nil, nil
		a.FlowHash = session.HashID(f.Sessions.FlowSecret(r)) // Establish rotated the flow cookie
		return a, nil
	})
	if err != nil {
		f.Pages.Expired(w, r)
		return
	}
	ar.LoggedIn, ar.Auth, ar.SessionID, ar.ConnectorState, ar.MFA = true, auth, sess.ID, nil, nil
	ar.Prompt = slices.DeleteFunc(slices.Clone(ar.Prompt), func(p string) bool { return p == "login" || p == "select_account" })
	f.continueToConsent(w, r, ar, c)
}

// checkFactor checks the second factor (or the first enrolment) the form submits, and
// returns its amr method and whether it was an enrolment.
func checkFactor(r *http.Request, svc *mfa.Service, u mfa.User, action, totpSetup, waState string) (method string, enrolled bool, err error) {
	ctx := r.Context()
	switch action {
	case "totp":
		return mfa.AMROTP, false, svc.VerifyTOTP(ctx, u.ID, r.PostFormValue("code"))
	case "recovery":
		return mfa.AMROTP, false, svc.UseRecoveryCode(ctx, u.ID, r.PostFormValue("code"))
	case "webauthn":
		method, err = svc.FinishWebAuthnLogin(ctx, u, waState, []byte(r.PostFormValue("credential")))
		return method, false, err
	}
	// enrol-totp, enrol-webauthn (checked by the caller)
	var factor storage.MFAFactor
	if action == "enrol-totp" {
		factor, err = svc.FinishTOTP(ctx, u, totpSetup, r.PostFormValue("name"), r.PostFormValue("code"))
	} else {
		factor, err = svc.FinishWebAuthnRegistration(ctx, u, waState, r.PostFormValue("name"), []byte(r.PostFormValue("credential")))
	}
	return mfa.Method(factor), true, err
}

// showRecoveryCodes shows a newly enrolled user their recovery codes once; the login goes on
// when they continue.
func (f *Flow) showRecoveryCodes(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, flow string, p storage.MFAProgress, u mfa.User, method string) {
	ctx := r.Context()
	codes, err := f.MFA.Service.NewRecoveryCodes(ctx, u)
	if err != nil {
		f.Pages.Internal(w, r, "recovery codes", err)
		return
	}
	p.Verified, p.TOTP = method, ""
	if err := f.savePending(ctx, ar.ID, p); err != nil {
		f.Pages.Expired(w, r)
		return
	}
	d := mfaCodesData{
		Page:  f.Pages.Page("Save your recovery codes"),
		Codes: codes, Action: f.rel("/mfa"), ReqID: ar.ID, CSRF: session.CSRFToken(flow, "mfa:"+ar.ID),
	}
	w.Header().Set("Content-Security-Policy", pages.FactorCSP)
	f.render(w, r, http.StatusOK, "mfa_codes.html", "recovery codes", d)
}
