package authflow

import (
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/mfa"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
)

// MFA configures the second-factor step of a login. amr/acr are normalized either way
// (connset.Slot.TrustUpstreamMFA).
type MFA struct {
	Service *mfa.Service
	// Connectors holds each connector's policy by connector ID (missing: off).
	Connectors map[string]mfa.Policy
	// Clients holds each client's policy by client ID (missing: off).
	Clients map[string]mfa.Policy
	// Passkeys holds the connectors whose users may sign in with a passkey alone
	// (passkey.go); missing: none.
	Passkeys map[string]bool
	// Ceremonies keeps passkey ceremony state (single use); nil: no passkeys.
	Ceremonies CeremonyStore
}

// mfaNeeded decides whether an authentication needs a second factor for the client.
func (f *Flow) mfaNeeded(ctx context.Context, clientID string, acrValues []string, id storage.Identity, auth storage.Authentication) (bool, error) {
	if f.MFA == nil {
		return false, nil
	}
	need := mfa.Decide(mfa.Request{
		Connector: f.MFA.Connectors[auth.ConnectorID], Client: f.MFA.Clients[clientID], ACRValues: acrValues,
	}, auth)
	switch need {
	case mfa.Needed:
		return true, nil
	case mfa.IfEnrolled:
		st, err := f.MFA.Service.Status(ctx, id.Subject)
		if err != nil {
			return false, err
		}
		return st.Enrolled(), nil
	}
	return false, nil
}

// mfaStep is completeLogin's hook, after the identity and amr/acr are normalized and before
// the session is established: when a second factor is needed, it parks the login in the auth
// request and sends the browser to /mfa. It reports whether it took over the response.
func (f *Flow) mfaStep(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c *clients.Client, id storage.Identity, auth *storage.Authentication) bool {
	if f.MFA == nil {
		return false
	}
	need, err := f.mfaNeeded(r.Context(), c.ID, ar.ACRValues, id, *auth)
	if err != nil {
		f.Pages.Internal(w, r, "mfa status", err)
		return true
	}
	if !need {
		return false
	}
	err = f.Store.UpdateAuthRequest(r.Context(), ar.ID, func(a storage.AuthRequest) (storage.AuthRequest, error) {
		a.LoggedIn, a.Identity, a.Auth, a.SessionID = false, id, *auth, ""
		a.ConnectorState, a.MFA = nil, &storage.MFAProgress{}
		return a, nil
	})
	if errors.Is(err, storage.ErrNotFound) {
		f.Pages.Expired(w, r)
		return true
	}
	if err != nil {
		f.Pages.Internal(w, r, "park login for mfa", err)
		return true
	}
	f.Logger.InfoContext(r.Context(), "second factor needed", "connector", auth.ConnectorID, "sub", id.Subject, "client_id", c.ID)
	http.Redirect(w, r, f.rel("/mfa?req="+url.QueryEscape(ar.ID)), http.StatusSeeOther)
	return true
}

// mfaStepUp is Start's hook for a request answered from an SSO session: when the
// session lacks a second factor the client needs (its policy, the connector's, or acr_values),
// the request goes to the MFA step instead of straight to consent. On an error it fails
// closed (the MFA step runs).
func (f *Flow) mfaStepUp(ctx context.Context, ar *storage.AuthRequest) {
	if f.MFA == nil || !ar.LoggedIn {
		return
	}
	need, err := f.mfaNeeded(ctx, ar.ClientID, ar.ACRValues, ar.Identity, ar.Auth)
	if err != nil {
		f.Logger.WarnContext(ctx, "mfa status; asking for the second factor", "err", err)
		need = true
	}
	if !need {
		return
	}
	ar.LoggedIn, ar.SessionID = false, ""
	ar.MFA = &storage.MFAProgress{StepUp: true}
}

// mfaRedirect is Start's hook after the auth request is stored: a request that
// needs the MFA step goes there (or, with prompt=none, fails with interaction_required).
func (f *Flow) mfaRedirect(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest) bool {
	if ar.MFA == nil || ar.LoggedIn {
		return false
	}
	if slices.Contains(ar.Prompt, "none") {
		f.fail(w, r, ar, oauth2err.New(oauth2err.InteractionRequired, "a second factor is required"))
		return true
	}
	http.Redirect(w, r, f.rel("/mfa?req="+url.QueryEscape(ar.ID)), http.StatusSeeOther)
	return true
}

// loadMFAFlow loads the auth request of an MFA step, rendering errors itself.
func (f *Flow) loadMFAFlow(w http.ResponseWriter, r *http.Request) (storage.AuthRequest, *clients.Client, string, storage.MFAProgress, bool) {
	ar, c, flow, ok := f.loadFlow(w, r)
	if !ok {
		return ar, c, flow, storage.MFAProgress{}, false
	}
	if ar.MFA == nil || ar.LoggedIn || f.MFA == nil || ar.Identity.Subject == "" {
		f.Pages.Expired(w, r)
		return ar, c, flow, storage.MFAProgress{}, false
	}
	return ar, c, flow, *ar.MFA, true
}

// savePending stores the MFA step's state if the request is still in its MFA step.
func (f *Flow) savePending(ctx context.Context, id string, p storage.MFAProgress) error {
	return f.Store.UpdateAuthRequest(ctx, id, func(a storage.AuthRequest) (storage.AuthRequest, error) {
		if a.MFA == nil || a.LoggedIn {
			return a, errors.New("auth request is no longer in its mfa step")
		}
		a.MFA = &p
		return a, nil
	})
}

type mfaPageData struct {
	pages.Page
	ClientName, User, Action, ReqID, CSRF, Error, Back string
	StepUp                                             bool
	// Verify page.
	TOTP, Recovery bool
	// Enrol page.
	Enrol      bool
	QR         template.URL
	Secret     string
	WebAuthnOn bool
	// WebAuthn options (JSON) for the helper script; empty: no WebAuthn button.
	WebAuthnOptions string
	Script          string
}

// handleMFAPage shows the second-factor prompt, or the enrolment page for a user who must
// enrol first.
func (f *Flow) handleMFAPage(w http.ResponseWriter, r *http.Request) {
	ar, c, flow, p, ok := f.loadMFAFlow(w, r)
	if !ok {
		return
	}
	f.renderMFA(w, r, http.StatusOK, ar, c, flow, p, "")
}

// renderMFA renders the MFA step: enrolment when the user has no factor, the prompt
// otherwise. It begins a WebAuthn ceremony (and a TOTP enrolment) and stores their state.
func (f *Flow) renderMFA(w http.ResponseWriter, r *http.Request, status int, ar storage.AuthRequest, c *clients.Client, flow string, p storage.MFAProgress, msg string) {
	ctx := r.Context()
	svc := f.MFA.Service
	u := mfa.UserOf(ar.Identity)
	st, err := svc.Status(ctx, u.ID)
	if err != nil {
		f.Pages.Internal(w, r, "mfa status", err)
		return
	}
	d := mfaPageData{
		Page:       f.Pages.Page("Two-step verification"),
		ClientName: clientName(c), User: ar.Identity.DisplayName(), Action: f.rel("/mfa"), ReqID: ar.ID,
		CSRF: session.CSRFToken(flow, "mfa:"+ar.ID), Error: msg, StepUp: p.StepUp,
		Script: f.rel("/static/webauthn.js"), WebAuthnOn: svc.WebAuthnEnabled(),
	}
	if !p.StepUp {
		d.Back = f.rel("/login?req=" + url.QueryEscape(ar.ID))
	}
	tmpl := "mfa_verify.html"
	if !st.Enrolled() {
		tmpl, d.Enrol = "mfa_enrol.html", true
		setup, err := svc.ResumeTOTP(u, p.TOTP)
		if err != nil {
			if setup, err = svc.BeginTOTP(u); err != nil {
				f.Pages.Internal(w, r, "begin totp", err)
				return
			}
		}
		p.TOTP = setup.State
		d.Secret = setup.Secret
		png, err := mfa.QRCodePNG(setup.URL, 200)
		if err != nil {
			f.Pages.Internal(w, r, "qr code", err)
			return
		}
		d.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
		if svc.WebAuthnEnabled() {
			opts, state, err := svc.BeginWebAuthnRegistration(ctx, u)
			if err != nil {
				f.Pages.Internal(w, r, "begin webauthn registration", err)
				return
			}
			p.WebAuthn, d.WebAuthnOptions = state, string(opts)
		}
	} else {
		d.TOTP = st.Has(storage.MFATypeTOTP)
		d.Recovery = st.RecoveryCodes > 0
		if svc.WebAuthnEnabled() && st.Has(storage.MFATypeWebAuthn) {
			opts, state, err := svc.BeginWebAuthnLogin(ctx, u)
			if err != nil {
				f.Pages.Internal(w, r, "begin webauthn login", err)
				return
			}
			p.WebAuthn, d.WebAuthnOptions = state, string(opts)
		}
	}
	if err := f.savePending(ctx, ar.ID, p); err != nil {
		f.Pages.Expired(w, r)
		return
	}
	w.Header().Set("Content-Security-Policy", pages.FactorCSP)
	f.render(w, r, status, tmpl, "mfa", d)
}
