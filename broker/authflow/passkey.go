package authflow

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/mfa"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Passkey sign-in: on the login page of a connector with passkeys enabled, a "Sign in with a
// passkey" form runs a discoverable WebAuthn assertion (no username typed; user verification
// required). The ceremony's state is kept server-side under the auth request's ID and taken
// (read and deleted atomically) by the answer before anything is checked, so a captured
// assertion never verifies twice. The passkey names its account by the enrolment's random
// user handle; the connector then vouches that the account still exists and is not disabled.

// CeremonyStore keeps a passkey ceremony's state until its answer takes it.
type CeremonyStore interface {
	PutBlob(ctx context.Context, b storage.Blob) error
	TakeBlob(ctx context.Context, key string, now time.Time) ([]byte, error)
}

// PasskeyAccounts is what a connector with passkeys provides (connectors/local does): the
// identity of the account a verified passkey names, without a password.
type PasskeyAccounts interface {
	PasskeyLogin(ctx context.Context, s connectors.Scopes, username string) (connectors.Upstream, error)
}

// passkeyTTL matches the mfa package's lifetime of a ceremony's sealed state.
const passkeyTTL = 10 * time.Minute

// passkeyKey is the blob key of an auth request's passkey ceremony.
func passkeyKey(reqID string) string { return "passkey-login/" + reqID }

// passkeyForm is the login page's passkey block (passkey_login.html).
type passkeyForm struct {
	Action, CSRF, Options, Script string
}

// passkeysFor reports whether the connector's users may sign in with a passkey here.
func (f *Flow) passkeysFor(cn *connset.Slot) bool {
	if f.MFA == nil || !f.MFA.Passkeys[cn.Info.ID] || f.MFA.Ceremonies == nil || !f.MFA.Service.PasskeysEnabled() {
		return false
	}
	_, ok := cn.Conn.(PasskeyAccounts)
	return ok
}

// passkeyOffer begins a passkey ceremony for the auth request and returns the login page's
// form, or nil when the connector offers none. A failure is logged and leaves the password
// form alone.
func (f *Flow) passkeyOffer(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, cn *connset.Slot, flow string) *passkeyForm {
	if !f.passkeysFor(cn) {
		return nil
	}
	opts, state, err := f.MFA.Service.BeginPasskeyLogin(ar.ID)
	if err == nil {
		err = f.MFA.Ceremonies.PutBlob(r.Context(), storage.Blob{Key: passkeyKey(ar.ID), Value: []byte(state), Expiry: f.Now().Add(passkeyTTL)})
	}
	if err != nil {
		f.Logger.ErrorContext(r.Context(), "begin passkey sign-in; offering the password only", "err", err)
		return nil
	}
	w.Header().Set("Content-Security-Policy", pages.FactorCSP) // the WebAuthn helper script
	return &passkeyForm{
		Action:  f.rel("/login/" + url.PathEscape(cn.Info.ID) + "/passkey"),
		CSRF:    session.CSRFToken(flow, "passkey:"+ar.ID),
		Options: string(opts), Script: f.rel("/static/webauthn.js"),
	}
}

// passkeyFailed is the message of every refused passkey: which check failed is logged only.
const passkeyFailed = "Your passkey could not be verified. Try again, or sign in with your password."

// handlePasskeySubmit verifies a passkey sign-in and completes the login as its account.
func (f *Flow) handlePasskeySubmit(w http.ResponseWriter, r *http.Request) {
	if !f.readForm(w, r) {
		return
	}
	ar, c, flow, ok := f.loadFlow(w, r)
	if !ok || !f.checkCSRF(w, r, flow, "passkey:"+ar.ID) {
		return
	}
	cn, ok := f.connectorFor(w, r, ar, c)
	if !ok {
		return
	}
	if !f.passkeysFor(cn) {
		f.Pages.Expired(w, r)
		return
	}
	ip := httpx.ClientIP(r, f.TrustedProxies)
	attempt, ok, err := f.limiter.Reserve(r.Context(), storage.RateLimit{Key: "login:ip:" + ip, Max: loginMaxFailures})
	if err != nil {
		f.Pages.Internal(w, r, "login rate limit", err)
		return
	}
	if !ok {
		f.Logger.WarnContext(r.Context(), "passkey login rate limited", "connector", cn.Info.ID, "ip", ip)
		f.record(r, ar, passkeyEvent(cn, audit.OutcomeRateLimited))
		w.Header().Set("Retry-After", strconv.Itoa(int(loginWindow.Seconds())))
		f.loginPage(w, r, http.StatusTooManyRequests, ar, c, cn, flow, "", "Too many failed sign-in attempts. Wait a few minutes, then try again.")
		return
	}
	pk, up, err := f.verifyPasskey(r, ar, cn)
	if upErr := (*connectors.UpstreamError)(nil); errors.As(err, &upErr) {
		f.refund(r.Context(), attempt) // the passkey may be right: the account was not checked
	}
	if err != nil {
		f.passkeyRefused(w, r, ar, c, cn, flow, err)
		return
	}
	f.refund(r.Context(), attempt)
	f.completeLoginAs(w, r, ar, c, cn, up, &pk)
}

// verifyPasskey takes the request's ceremony state (single use) and verifies the answer,
// then has the connector vouch for the account the passkey names.
func (f *Flow) verifyPasskey(r *http.Request, ar storage.AuthRequest, cn *connset.Slot) (mfa.PasskeyLogin, connectors.Upstream, error) {
	ctx := r.Context()
	state, err := f.MFA.Ceremonies.TakeBlob(ctx, passkeyKey(ar.ID), f.Now())
	if errors.Is(err, storage.ErrNotFound) {
		return mfa.PasskeyLogin{}, connectors.Upstream{}, mfa.ErrExpired
	}
	if err != nil {
		return mfa.PasskeyLogin{}, connectors.Upstream{}, err
	}
	pk, err := f.MFA.Service.FinishPasskeyLogin(ctx, ar.ID, string(state), []byte(r.PostFormValue("credential")))
	if err != nil {
		return pk, connectors.Upstream{}, err
	}
	if pk.Account.ConnectorID != cn.Info.ID {
		return pk, connectors.Upstream{}, errPasskeyElsewhere
	}
	cctx, t0 := cn.Start(ctx, "passkey")
	up, err := cn.Conn.(PasskeyAccounts).PasskeyLogin(cctx, scopesFor(ar), pk.Account.Subject)
	cn.Done(cctx, "passkey", t0, err)
	if err == nil {
		up.AMR = pk.AMR
		err = reauthFor(ar).Check(up.AuthTime)
	}
	return pk, up, err
}

// errPasskeyElsewhere: the passkey signs in to an account of another connector.
var errPasskeyElsewhere = errors.New("authflow: the passkey belongs to an account of another connector")

// passkeyRefused answers a passkey that did not sign in: the login page again, with one
// message whatever the reason (logged and audited), or the unavailable / error page.
func (f *Flow) passkeyRefused(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c *clients.Client, cn *connset.Slot, flow string, err error) {
	var upErr *connectors.UpstreamError
	switch {
	case errors.Is(err, mfa.ErrInvalidCode), errors.Is(err, mfa.ErrExpired), errors.Is(err, mfa.ErrCloned),
		errors.Is(err, connectors.ErrBadCredentials), errors.Is(err, errPasskeyElsewhere), errors.Is(err, connectors.ErrLoginRequired):
		f.Logger.InfoContext(r.Context(), "passkey login failed", "connector", cn.Info.ID, "ip", httpx.ClientIP(r, f.TrustedProxies), "err", err)
		f.record(r, ar, passkeyEvent(cn, audit.OutcomeBadCredentials))
		f.loginPage(w, r, http.StatusUnauthorized, ar, c, cn, flow, "", passkeyFailed)
	case errors.As(err, &upErr):
		f.Logger.WarnContext(r.Context(), "upstream unavailable", "connector", cn.Info.ID, "err", err)
		f.record(r, ar, passkeyEvent(cn, audit.OutcomeUpstreamError))
		f.unavailable(w, r, cn)
	default:
		f.Pages.Internal(w, r, "passkey login", err)
	}
}

// passkeyEvent is the audit event of a passkey sign-in through cn that ended with outcome
// before a user was known.
func passkeyEvent(cn *connset.Slot, outcome string) audit.Event {
	e := loginEvent(cn, "", outcome)
	e.Detail = map[string]string{"method": "passkey"}
	return e
}
