package broker

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/broker/route"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/mfa"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
)

// MFA configures the second-factor step. A nil *MFA in Deps turns it off: every policy is
// off. amr/acr are normalized either way (Connector.TrustUpstreamMFA).
type MFA struct {
	Service *mfa.Service
	// Connectors holds each connector's policy by connector ID (missing: off).
	Connectors map[string]MFAConnector
	// Clients holds each client's policy by client ID (missing: off).
	Clients map[string]mfa.Policy
}

// MFAConnector is one connector's MFA settings. Whether its upstream's multi-factor claim
// counts is Connector.TrustUpstreamMFA.
type MFAConnector struct {
	Policy mfa.Policy
}

// mfaPageCSP is the page CSP of the MFA and account pages: the QR code is a data: URL and the
// WebAuthn helper is a same-origin script.
const mfaPageCSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"

// pendingPrefix marks an auth request's ConnectorState as an MFA step in progress (the
// connector's own state is no longer needed once it returned the identity).
const pendingPrefix = "gatehouse-mfa1:"

// mfaPending is the MFA step's state, kept in the auth request.
type mfaPending struct {
	// StepUp: an existing session is being upgraded.
	StepUp bool `json:"step_up,omitempty"`
	// TOTP is a TOTP enrolment in progress (mfa.TOTPSetup.State).
	TOTP string `json:"totp,omitempty"`
	// WebAuthn is a WebAuthn ceremony in progress (registration or assertion state).
	WebAuthn string `json:"webauthn,omitempty"`
	// Verified is the amr method once the factor passed at enrolment, while the user reads
	// their recovery codes.
	Verified string `json:"verified,omitempty"`
}

func encodePending(p mfaPending) []byte {
	b, _ := json.Marshal(p) //nolint:errcheck // a plain struct of strings and bools: cannot fail
	return append([]byte(pendingPrefix), b...)
}

func decodePending(state []byte) (mfaPending, bool) {
	var p mfaPending
	rest, ok := bytes.CutPrefix(state, []byte(pendingPrefix))
	if !ok || json.Unmarshal(rest, &p) != nil {
		return p, false
	}
	return p, true
}

// mfaRoutes mounts the MFA step and the self-service pages.
func (s *Server) mfaRoutes(m *route.Mux) {
	m.Browser("GET /mfa", s.handleMFAPage)
	m.Browser("POST /mfa", s.handleMFASubmit)
	m.Browser("GET /account", s.handleAccountPage)
	m.Browser("POST /account", s.handleAccountSubmit)
}

// mfaDiscovery adds the acr values to the provider metadata.
func (s *Server) mfaDiscovery(m map[string]any) {
	if s.MFA != nil {
		m["acr_values_supported"] = mfa.ACRValuesSupported()
	}
}

// mfaUser is the mfa package's view of an identity. The name labels the user's authenticator
// entries (TOTP account, WebAuthn user name) and finds enrolments in `gatehouse mfa reset`, so
// an email serves as the name only when it is verified.
func mfaUser(id storage.Identity) mfa.User {
	name := id.PreferredUsername
	if name == "" && id.EmailVerified {
		name = id.Email
	}
	if name == "" {
		name = id.Subject
	}
	return mfa.User{ID: id.Subject, Name: name, DisplayName: id.Name}
}

// mfaNeeded decides whether an authentication needs a second factor for the client.
func (s *Server) mfaNeeded(ctx context.Context, clientID string, acrValues []string, id storage.Identity, auth storage.Authentication) (bool, error) {
	if s.MFA == nil {
		return false, nil
	}
	need := mfa.Decide(mfa.Request{
		Connector: s.MFA.Connectors[auth.ConnectorID].Policy, Client: s.MFA.Clients[clientID], ACRValues: acrValues,
	}, auth)
	switch need {
	case mfa.Needed:
		return true, nil
	case mfa.IfEnrolled:
		st, err := s.MFA.Service.Status(ctx, id.Subject)
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
func (s *Server) mfaStep(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c *clients.Client, id storage.Identity, auth *storage.Authentication) bool {
	if s.MFA == nil {
		return false
	}
	need, err := s.mfaNeeded(r.Context(), c.ID, ar.ACRValues, id, *auth)
	if err != nil {
		s.pages.Internal(w, r, "mfa status", err)
		return true
	}
	if !need {
		return false
	}
	err = s.Storage.UpdateAuthRequest(r.Context(), ar.ID, func(a storage.AuthRequest) (storage.AuthRequest, error) {
		a.LoggedIn, a.Identity, a.Auth, a.SessionID = false, id, *auth, ""
		a.ConnectorState = encodePending(mfaPending{})
		return a, nil
	})
	if errors.Is(err, storage.ErrNotFound) {
		s.pages.Expired(w, r)
		return true
	}
	if err != nil {
		s.pages.Internal(w, r, "park login for mfa", err)
		return true
	}
	s.Logger.InfoContext(r.Context(), "second factor needed", "connector", auth.ConnectorID, "sub", id.Subject, "client_id", c.ID)
	http.Redirect(w, r, s.rel("/mfa?req="+url.QueryEscape(ar.ID)), http.StatusSeeOther)
	return true
}

// mfaStepUp is handleAuthorize's hook for a request answered from an SSO session: when the
// session lacks a second factor the client needs (its policy, the connector's, or acr_values),
// the request goes to the MFA step instead of straight to consent. On an error it fails
// closed (the MFA step runs).
func (s *Server) mfaStepUp(ctx context.Context, ar *storage.AuthRequest) {
	if s.MFA == nil || !ar.LoggedIn {
		return
	}
	need, err := s.mfaNeeded(ctx, ar.ClientID, ar.ACRValues, ar.Identity, ar.Auth)
	if err != nil {
		s.Logger.WarnContext(ctx, "mfa status; asking for the second factor", "err", err)
		need = true
	}
	if !need {
		return
	}
	ar.LoggedIn, ar.SessionID = false, ""
	ar.ConnectorState = encodePending(mfaPending{StepUp: true})
}

// mfaRedirect is handleAuthorize's hook after the auth request is stored: a request that
// needs the MFA step goes there (or, with prompt=none, fails with interaction_required).
func (s *Server) mfaRedirect(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest) bool {
	if _, ok := decodePending(ar.ConnectorState); !ok || ar.LoggedIn {
		return false
	}
	if slices.Contains(ar.Prompt, "none") {
		s.dropAuthRequest(r.Context(), ar.ID)
		s.failFlow(w, r, ar,
			oauth2err.New(oauth2err.InteractionRequired, "a second factor is required"))
		return true
	}
	http.Redirect(w, r, s.rel("/mfa?req="+url.QueryEscape(ar.ID)), http.StatusSeeOther)
	return true
}

// loadMFAFlow loads the auth request of an MFA step, rendering errors itself.
func (s *Server) loadMFAFlow(w http.ResponseWriter, r *http.Request) (storage.AuthRequest, *clients.Client, string, mfaPending, bool) {
	ar, c, flow, ok := s.loadFlow(w, r)
	if !ok {
		return ar, c, flow, mfaPending{}, false
	}
	p, ok := decodePending(ar.ConnectorState)
	if !ok || ar.LoggedIn || s.MFA == nil || ar.Identity.Subject == "" {
		s.pages.Expired(w, r)
		return ar, c, flow, p, false
	}
	return ar, c, flow, p, true
}

// savePending stores the MFA step's state if the request is still in its MFA step.
func (s *Server) savePending(ctx context.Context, id string, p mfaPending) error {
	return s.Storage.UpdateAuthRequest(ctx, id, func(a storage.AuthRequest) (storage.AuthRequest, error) {
		if _, ok := decodePending(a.ConnectorState); !ok || a.LoggedIn {
			return a, errors.New("auth request is no longer in its mfa step")
		}
		a.ConnectorState = encodePending(p)
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
func (s *Server) handleMFAPage(w http.ResponseWriter, r *http.Request) {
	ar, c, flow, p, ok := s.loadMFAFlow(w, r)
	if !ok {
		return
	}
	s.renderMFA(w, r, http.StatusOK, ar, c, flow, p, "")
}

// renderMFA renders the MFA step: enrolment when the user has no factor, the prompt
// otherwise. It begins a WebAuthn ceremony (and a TOTP enrolment) and stores their state.
func (s *Server) renderMFA(w http.ResponseWriter, r *http.Request, status int, ar storage.AuthRequest, c *clients.Client, flow string, p mfaPending, msg string) {
	ctx := r.Context()
	svc := s.MFA.Service
	u := mfaUser(ar.Identity)
	st, err := svc.Status(ctx, u.ID)
	if err != nil {
		s.pages.Internal(w, r, "mfa status", err)
		return
	}
	d := mfaPageData{
		Page:       s.pages.Page("Two-step verification"),
		ClientName: clientName(c), User: displayName(ar.Identity), Action: s.rel("/mfa"), ReqID: ar.ID,
		CSRF: session.CSRFToken(flow, "mfa:"+ar.ID), Error: msg, StepUp: p.StepUp,
		Script: s.rel("/static/webauthn.js"), WebAuthnOn: svc.WebAuthnEnabled(),
	}
	if !p.StepUp {
		d.Back = s.rel("/login?req=" + url.QueryEscape(ar.ID))
	}
	tmpl := "mfa_verify.html"
	if !st.Enrolled() {
		tmpl, d.Enrol = "mfa_enrol.html", true
		setup, err := svc.ResumeTOTP(u, p.TOTP)
		if err != nil {
			if setup, err = svc.BeginTOTP(u); err != nil {
				s.pages.Internal(w, r, "begin totp", err)
				return
			}
		}
		p.TOTP = setup.State
		d.Secret = setup.Secret
		png, err := mfa.QRCodePNG(setup.URL, 200)
		if err != nil {
			s.pages.Internal(w, r, "qr code", err)
			return
		}
		d.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
		if svc.WebAuthnEnabled() {
			opts, state, err := svc.BeginWebAuthnRegistration(ctx, u)
			if err != nil {
				s.pages.Internal(w, r, "begin webauthn registration", err)
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
				s.pages.Internal(w, r, "begin webauthn login", err)
				return
			}
			p.WebAuthn, d.WebAuthnOptions = state, string(opts)
		}
	}
	if err := s.savePending(ctx, ar.ID, p); err != nil {
		s.pages.Expired(w, r)
		return
	}
	w.Header().Set("Content-Security-Policy", mfaPageCSP)
	if err := s.Templates.Render(w, status, tmpl, d); err != nil {
		s.Logger.ErrorContext(r.Context(), "render mfa", "err", err)
	}
}

// mfaCodesData shows new recovery codes once: with Action, a form continues the login;
// otherwise a link goes to Done.
type mfaCodesData struct {
	pages.Page
	Codes                     []string
	Action, ReqID, CSRF, Done string
}

// handleMFASubmit checks a second factor (or enrols the first one) and continues the login.
func (s *Server) handleMFASubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.pages.Error(w, r, http.StatusBadRequest, "Request refused", "The form could not be read.", "Go back and try again.")
		return
	}
	ar, c, flow, p, ok := s.loadMFAFlow(w, r)
	if !ok {
		return
	}
	if !s.checkCSRF(w, r, flow, "mfa:"+ar.ID) {
		return
	}
	ctx := r.Context()
	svc := s.MFA.Service
	u := mfaUser(ar.Identity)
	ip := httpx.ClientIP(r, s.TrustedProxies)
	action := r.PostFormValue("action")
	if action == "continue" {
		if p.Verified == "" {
			s.renderMFA(w, r, http.StatusBadRequest, ar, c, flow, p, "Verify your second factor first.")
			return
		}
		s.finishMFA(w, r, ar, c, p.Verified)
		return
	}
	st, err := svc.Status(ctx, u.ID)
	if err != nil {
		s.pages.Internal(w, r, "mfa status", err)
		return
	}
	switch action {
	case "totp", "recovery", "webauthn":
	case "enrol-totp", "enrol-webauthn":
		if st.Enrolled() {
			// Only a user without any factor may enrol here: anyone else proves one first.
			s.renderMFA(w, r, http.StatusForbidden, ar, c, flow, p, "You already have a second factor: use it to continue.")
			return
		}
	default:
		s.renderMFA(w, r, http.StatusBadRequest, ar, c, flow, p, "Choose how to verify.")
		return
	}
	// Reserve the attempt before checking anything: a failure keeps it, a success gives it
	// back, so a burst of guesses cannot all pass the limit before any of them fails.
	attempt, ok := s.reserveMFA(w, r, u.ID, ip, func() {
		s.renderMFA(w, r, http.StatusTooManyRequests, ar, c, flow, p, "Too many wrong codes. Wait a few minutes, then try again.")
	})
	if !ok {
		return
	}
	// A ceremony's state is single-use: forget it before checking the answer.
	waState := p.WebAuthn
	if waState != "" {
		p.WebAuthn = ""
		if err := s.savePending(ctx, ar.ID, p); err != nil {
			s.pages.Expired(w, r)
			return
		}
	}
	var method string
	enrolled := false
	switch action {
	case "totp":
		err = svc.VerifyTOTP(ctx, u.ID, r.PostFormValue("code"))
		method = mfa.AMROTP
	case "recovery":
		err = svc.UseRecoveryCode(ctx, u.ID, r.PostFormValue("code"))
		method = mfa.AMROTP
	case "webauthn":
		method, err = svc.FinishWebAuthnLogin(ctx, u, waState, []byte(r.PostFormValue("credential")))
	default: // enrol-totp, enrol-webauthn (checked above)
		var f storage.MFAFactor
		if action == "enrol-totp" {
			f, err = svc.FinishTOTP(ctx, u, p.TOTP, r.PostFormValue("name"), r.PostFormValue("code"))
		} else {
			f, err = svc.FinishWebAuthnRegistration(ctx, u, waState, r.PostFormValue("name"), []byte(r.PostFormValue("credential")))
		}
		method, enrolled = mfa.Method(f), true
	}
	if err != nil {
		s.mfaFailed(w, r, ar, c, flow, p, u.ID, ip, err)
		return
	}
	s.mfaSucceeded(r, attempt)
	if !enrolled {
		s.Logger.InfoContext(r.Context(), "second factor passed", "sub", u.ID, "method", method, "client_id", ar.ClientID)
		s.finishMFA(w, r, ar, c, method)
		return
	}
	s.Logger.InfoContext(r.Context(), "second factor enrolled", "sub", u.ID, "method", method)
	codes, err := svc.NewRecoveryCodes(ctx, u)
	if err != nil {
		s.pages.Internal(w, r, "recovery codes", err)
		return
	}
	p.Verified, p.TOTP = method, ""
	if err := s.savePending(ctx, ar.ID, p); err != nil {
		s.pages.Expired(w, r)
		return
	}
	d := mfaCodesData{
		Page:  s.pages.Page("Save your recovery codes"),
		Codes: codes, Action: s.rel("/mfa"), ReqID: ar.ID, CSRF: session.CSRFToken(flow, "mfa:"+ar.ID),
	}
	w.Header().Set("Content-Security-Policy", mfaPageCSP)
	if err := s.Templates.Render(w, http.StatusOK, "mfa_codes.html", d); err != nil {
		s.Logger.ErrorContext(r.Context(), "render recovery codes", "err", err)
	}
}

// reserveMFA reserves a second-factor attempt for the user and client IP. On false it has
// answered: with tooMany (after setting Retry-After) when a budget is spent, or with an error
// page when the budgets could not be read.
func (s *Server) reserveMFA(w http.ResponseWriter, r *http.Request, userID, ip string, tooMany func()) (mfa.Attempt, bool) {
	attempt, ok, err := s.MFA.Service.Reserve(r.Context(), userID, ip)
	if err != nil {
		s.pages.Internal(w, r, "mfa rate limit", err)
		return mfa.Attempt{}, false
	}
	if !ok {
		s.Logger.WarnContext(r.Context(), "mfa rate limited", "sub", userID, "ip", ip)
		w.Header().Set("Retry-After", "900")
		tooMany()
	}
	return attempt, ok
}

// mfaSucceeded gives a passed attempt back and clears the user's failures.
func (s *Server) mfaSucceeded(r *http.Request, attempt mfa.Attempt) {
	if err := s.MFA.Service.Succeeded(r.Context(), attempt); err != nil {
		s.Logger.WarnContext(r.Context(), "mfa rate limit: refund", "err", err)
	}
}

// mfaFailed shows the prompt again with what went wrong; the attempt stays reserved. the prompt again with what went wrong.
func (s *Server) mfaFailed(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c *clients.Client, flow string, p mfaPending, userID, ip string, err error) {
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
		s.pages.Internal(w, r, "verify second factor", err)
		return
	}
	s.Logger.InfoContext(r.Context(), "second factor failed", "sub", userID, "ip", ip, "err", err)
	s.renderMFA(w, r, http.StatusUnauthorized, ar, c, flow, p, msg)
}

// finishMFA establishes the session with the upgraded authentication and continues the flow
// exactly as completeLogin does.
func (s *Server) finishMFA(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c *clients.Client, method string) {
	ctx := r.Context()
	auth := mfa.Upgrade(ar.Auth, method)
	sess, err := s.Sessions.Establish(ctx, w, r, ar.Identity, auth)
	if err != nil {
		s.pages.Internal(w, r, "establish session", err)
		return
	}
	err = s.Storage.UpdateAuthRequest(ctx, ar.ID, func(a storage.AuthRequest) (storage.AuthRequest, error) {
		if _, ok := decodePending(a.ConnectorState); !ok || a.LoggedIn || a.Identity.Subject != ar.Identity.Subject {
			return a, errors.New("auth request is no longer in its mfa step")
		}
		a.LoggedIn, a.Auth, a.SessionID, a.ConnectorState = true, auth, sess.ID, nil
		a.FlowHash = session.HashID(s.Sessions.FlowSecret(r)) // Establish rotated the flow cookie
		return a, nil
	})
	if err != nil {
		s.pages.Expired(w, r)
		return
	}
	ar.LoggedIn, ar.Auth, ar.SessionID, ar.ConnectorState = true, auth, sess.ID, nil
	ar.Prompt = slices.DeleteFunc(slices.Clone(ar.Prompt), func(p string) bool { return p == "login" || p == "select_account" })
	s.continueToConsent(w, r, ar, c)
}
