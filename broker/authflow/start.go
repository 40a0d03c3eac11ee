package authflow

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/opaque"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Start begins a flow for a validated request. The protocol package fills ar: Protocol,
// ClientID, its own fields (OIDC: RedirectURI, ResponseType, ResponseMode, State, Nonce,
// PKCE; SAML: ar.SAML), Scopes, Prompt, MaxAge, LoginHint, ConnectorID, ACRValues. Start
// sets ID (unless the protocol chose one), FlowHash (flow cookie), CreatedAt, Expiry and the SSO-session fields, decides
// session reuse (hintSubject when non-empty must match the session's subject as the
// client sees it; ConnectorID must match; the client must allow the session's connector and
// it must be up; MaxAge; no reuse with prompt login or select_account), answers prompt=none
// without a reusable session with Fail(login_required), steps up MFA, stores the request and
// goes on to the MFA step, consent or login.
func (f *Flow) Start(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, hintSubject string) {
	ctx := r.Context()
	rs := f.responder(w, r, ar)
	if rs == nil {
		return
	}
	c := f.Clients.Get(ar.ClientID)
	if c == nil {
		f.Pages.Internal(w, r, "client of a new flow is not registered", errors.New(ar.ClientID))
		return
	}
	now := f.Now().UTC()
	if ar.ID == "" { // a protocol may choose the ID to find its own state by (broker/device)
		ar.ID = opaque.ID()
	}
	ar.CreatedAt, ar.Expiry = now, now.Add(f.RequestLifetime)
	sess, hasSession, err := f.Sessions.Current(ctx, r)
	if err != nil {
		rs.Fail(w, r, ar, oauth2err.Server(err))
		return
	}
	if hasSession && !f.reusable(ar, c, sess, hintSubject, now) {
		hasSession = false
	}
	if slices.Contains(ar.Prompt, "login") || slices.Contains(ar.Prompt, "select_account") {
		hasSession = false // re-authentication demanded
	}
	if f.taker(ar) != nil {
		hasSession = false // the flow exists to complete a connector's login (taker.go)
	}
	if slices.Contains(ar.Prompt, "none") && !hasSession {
		rs.Fail(w, r, ar, oauth2err.New(oauth2err.LoginRequired, "the user is not signed in"))
		return
	}
	flow, err := f.Sessions.Flow(w, r)
	if err != nil {
		rs.Fail(w, r, ar, oauth2err.Server(err))
		return
	}
	ar.FlowHash = session.HashID(flow)
	if hasSession {
		if err := f.Sessions.Touch(ctx, sess); err != nil {
			f.Logger.WarnContext(ctx, "touch session", "err", err)
		}
		ar.LoggedIn, ar.Identity, ar.Auth, ar.SessionID = true, sess.Identity, sess.Auth, sess.ID
	}
	f.mfaStepUp(ctx, &ar) // a session without a needed second factor steps up (mfa.go)
	if err := f.Store.CreateAuthRequest(ctx, ar); err != nil {
		rs.Fail(w, r, ar, oauth2err.Server(err))
		return
	}
	if f.mfaRedirect(w, r, ar) {
		return
	}
	if ar.LoggedIn {
		f.continueToConsent(w, r, ar, c)
		return
	}
	f.redirectToLogin(w, r, ar, c)
}

// reusable reports whether the SSO session may answer the request without a login.
func (f *Flow) reusable(ar storage.AuthRequest, c *clients.Client, sess storage.Session, hintSubject string, now time.Time) bool {
	switch {
	case hintSubject != "" && f.Claims.SubjectFor(c.ID, sess.Identity.Subject) != hintSubject:
		return false // another user is signed in; the client expects someone else
	case f.wrongSubject(ar, c.ID, sess.Identity):
		return false // the claims parameter demands another sub (OIDC Core 5.5.1)
	case ar.ConnectorID != "" && sess.Auth.ConnectorID != ar.ConnectorID:
		return false
	case !c.AllowsConnector(sess.Auth.ConnectorID) || !f.Connectors.Up(sess.Auth.ConnectorID):
		return false // (a session of a removed or failed connector is never reused)
	case ar.MaxAge >= 0 && now.Sub(sess.Auth.AuthTime) > time.Duration(ar.MaxAge)*time.Second:
		return false
	}
	return true
}

// redirectToLogin sends the browser to the right login step: the requested connector, the
// connector of the login_hint's email domain (connectors[].domains) when it is open, the
// identifier step (login.identifier_first), the only one, or the chooser.
func (f *Flow) redirectToLogin(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c *clients.Client) {
	q := "?req=" + url.QueryEscape(ar.ID)
	if ar.ConnectorID != "" {
		http.Redirect(w, r, f.rel("/login/"+url.PathEscape(ar.ConnectorID)+q), http.StatusSeeOther)
		return
	}
	if cn := f.domainRoute(ar, c, ar.LoginHint); cn.Up() {
		http.Redirect(w, r, f.rel("/login/"+url.PathEscape(cn.Info.ID)+q), http.StatusSeeOther)
		return
	}
	if f.IdentifierFirst {
		http.Redirect(w, r, f.rel("/login"+q), http.StatusSeeOther)
		return
	}
	if cs := f.Connectors.Usable(c.AllowsConnector); len(cs) == 1 {
		http.Redirect(w, r, f.rel("/login/"+url.PathEscape(cs[0].Info.ID)+q), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, f.rel("/login"+q), http.StatusSeeOther)
}
