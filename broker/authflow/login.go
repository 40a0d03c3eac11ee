package authflow

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/internal/logctx"
	"github.com/gatehouse-id/gatehouse/internal/ratelimit"
	"github.com/gatehouse-id/gatehouse/mfa"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/web"
)

type chooserEntry struct {
	Name, Label string
	URL         string
	Icon        template.HTML
	Available   bool
	LastUsed    bool
}

type chooserData struct {
	pages.Page
	ClientName string
	Connectors []chooserEntry
	// Down names the connector the identifier-first page routed to that is unavailable.
	Down string
}

// handleChooser shows the connectors the client allows (with login.identifier_first, the
// identifier step first, and the list at list=1).
func (f *Flow) handleChooser(w http.ResponseWriter, r *http.Request) {
	ar, c, flow, ok := f.loadFlow(w, r)
	if !ok {
		return
	}
	if ar.ConnectorID != "" { // a request that names its connector offers no choice
		f.redirectToLogin(w, r, ar, c)
		return
	}
	if f.IdentifierFirst && r.URL.Query().Get("list") == "" {
		f.identifierPage(w, r, http.StatusOK, ar, c, flow, ar.LoginHint, "")
		return
	}
	f.chooserPage(w, r, http.StatusOK, ar, c, "")
}

// chooserPage renders the list of the connectors the client allows; down names a connector
// the user was sent to that is unavailable ("" for none).
func (f *Flow) chooserPage(w http.ResponseWriter, r *http.Request, status int, ar storage.AuthRequest, c *clients.Client, down string) {
	d := chooserData{Page: f.Pages.Page("Sign in"), ClientName: clientName(c), Down: down}
	last := f.Sessions.LastConnector(r)
	for _, cn := range f.Connectors.Usable(c.AllowsConnector) {
		e := chooserEntry{
			Name: cn.Info.Name, Label: "Sign in with " + cn.Info.Name,
			URL:       f.rel("/login/" + url.PathEscape(cn.Info.ID) + "?req=" + url.QueryEscape(ar.ID)),
			Icon:      web.IconFor(cn.Info.Type, cn.Info.Icon),
			Available: cn.Conn != nil,
			LastUsed:  cn.Info.ID == last,
		}
		if e.LastUsed && e.Available { // the one this browser chose last comes first
			d.Connectors = append([]chooserEntry{e}, d.Connectors...)
			continue
		}
		d.Connectors = append(d.Connectors, e)
	}
	f.render(w, r, status, "connectors.html", "chooser", d)
}

// connectorFor resolves the {connector} path value for the flow, rendering errors itself.
// A request that named a connector (connector_id) is bound to it: no other may serve it.
func (f *Flow) connectorFor(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c *clients.Client) (*connset.Slot, bool) {
	id := r.PathValue("connector")
	cn, ok := f.Connectors.Get(id)
	if !ok || !c.AllowsConnector(id) || !bindsTo(ar, id) {
		f.Pages.Error(w, r, http.StatusNotFound, "Unknown sign-in method",
			"This way of signing in does not exist or is not allowed for this application.",
			"Go back to the application and sign in again.")
		return nil, false
	}
	logctx.Add(r.Context(), "connector", cn.Info.ID)
	if cn.Conn == nil {
		f.unavailable(w, r, cn)
		return nil, false
	}
	return cn, true
}

// bindsTo reports whether the auth request may be completed through the connector: any the
// client allows, unless the request named one.
func bindsTo(ar storage.AuthRequest, connectorID string) bool {
	return ar.ConnectorID == "" || ar.ConnectorID == connectorID
}

// unavailable renders the "provider unavailable" page.
func (f *Flow) unavailable(w http.ResponseWriter, r *http.Request, cn *connset.Slot) {
	f.Pages.Error(w, r, http.StatusServiceUnavailable, cn.Info.Name+" is unavailable",
		"Gatehouse cannot reach "+cn.Info.Name+" right now, so you cannot sign in with it at the moment.",
		"Try again in a few minutes, or go back and choose another way to sign in.")
}

type loginData struct {
	pages.Page
	ClientName, ConnectorName, Action, ReqID, CSRF, Prompt, Username, Error, Back string
	// Passkey is the "Sign in with a passkey" form (passkey.go); nil: none.
	Passkey *passkeyForm
}

func (f *Flow) loginPage(w http.ResponseWriter, r *http.Request, status int, ar storage.AuthRequest, c *clients.Client, cn *connset.Slot, flow, username, msg string) {
	if f.IdentifierFirst { // the password step of the identifier page (identifier.go)
		f.passwordStep(w, r, status, ar, c, cn, flow, username, msg)
		return
	}
	pc := cn.Conn.(connectors.PasswordConnector)
	d := loginData{
		Page:       f.Pages.Page("Sign in"),
		ClientName: clientName(c), ConnectorName: cn.Info.Name,
		Action: f.rel("/login/" + url.PathEscape(cn.Info.ID)), ReqID: ar.ID,
		CSRF: session.CSRFToken(flow, "login:"+ar.ID), Prompt: pc.Prompt(), Username: username, Error: msg,
	}
	if d.Prompt == "" {
		d.Prompt = "Username"
	}
	if d.Username == "" {
		d.Username = ar.LoginHint
	}
	if len(f.Connectors.Usable(c.AllowsConnector)) > 1 && ar.ConnectorID == "" {
		d.Back = f.rel("/login?req=" + url.QueryEscape(ar.ID))
	}
	d.Passkey = f.passkeyOffer(w, r, ar, cn, flow)
	f.render(w, r, status, "login.html", "login", d)
}

// handleLoginPage shows a password form, or starts a redirect login.
func (f *Flow) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	ar, c, flow, ok := f.loadFlow(w, r)
	if !ok {
		return
	}
	cn, ok := f.connectorFor(w, r, ar, c)
	if !ok {
		return
	}
	f.Sessions.SetLastConnector(w, cn.Info.ID)
	switch conn := cn.Conn.(type) {
	case connectors.PasswordConnector:
		if nc, ok := conn.(connectors.NegotiateConnector); ok && !reauthFor(ar).Demanded() {
			f.negotiate(w, r, ar, c, cn, flow, nc) // Kerberos desktop SSO (negotiate.go)
			return
		}
		f.loginPage(w, r, http.StatusOK, ar, c, cn, flow, "", "")
	case connectors.RedirectConnector:
		f.beginRedirect(w, r, ar, cn, conn)
	case connectors.RequestConnector:
		f.requestLogin(w, r, ar, c, cn, conn)
	default:
		f.Pages.Internal(w, r, "connector has no login capability", errors.New(cn.Info.ID))
	}
}

// requestLogin completes a login from the request itself (a trusted front proxy's identity
// headers). A request the connector may not believe gets a page and a log line, nothing more.
func (f *Flow) requestLogin(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c *clients.Client, cn *connset.Slot, rc connectors.RequestConnector) {
	cctx, t0 := cn.Start(r.Context(), "request")
	up, err := rc.Authenticate(cctx, scopesFor(ar), r)
	cn.Done(cctx, "request", t0, err)
	if err == nil {
		err = reauthFor(ar).Check(up.AuthTime) // a proxy's header proves no fresh authentication
	}
	var denied *connectors.DeniedError
	switch {
	case err == nil:
		f.completeLogin(w, r, ar, c, cn, up)
	case errors.Is(err, connectors.ErrUntrustedRequest):
		f.Logger.WarnContext(r.Context(), "proxy login refused", "connector", cn.Info.ID, "peer", r.RemoteAddr, "err", err)
		f.Pages.Error(w, r, http.StatusForbidden, "Sign-in refused",
			cn.Info.Name+" signs you in only through your organization's sign-in proxy, and this request did not come through it.",
			"Open the application at its usual address and sign in again. If this keeps happening, ask your administrator.")
	case errors.Is(err, connectors.ErrLoginRequired):
		f.loginRequired(w, r, ar, cn, err)
	case errors.As(err, &denied):
		f.record(r, ar, loginEvent(cn, "", audit.OutcomeDenied))
		f.deny(w, r, ar, denied.Reason)
	default:
		f.Pages.Internal(w, r, "request login", err)
	}
}

func scopesFor(ar storage.AuthRequest) connectors.Scopes {
	return connectors.Scopes{
		Offline:   slices.Contains(ar.Scopes, "offline_access"),
		Groups:    slices.Contains(ar.Scopes, "groups"),
		Requested: ar.Scopes,
	}
}

// handleLoginSubmit checks a password login.
func (f *Flow) handleLoginSubmit(w http.ResponseWriter, r *http.Request) {
	if !f.readForm(w, r) {
		return
	}
	ar, c, flow, ok := f.loadFlow(w, r)
	if !ok {
		return
	}
	if !f.checkCSRF(w, r, flow, "login:"+ar.ID) {
		return
	}
	cn, ok := f.connectorFor(w, r, ar, c)
	if !ok {
		return
	}
	pc, ok := cn.Conn.(connectors.PasswordConnector)
	if !ok {
		f.Pages.Expired(w, r)
		return
	}
	username := r.PostFormValue("username")
	if len(username) > MaxIdentifierLen { // bounded before it names a budget or reaches a connector
		f.loginPage(w, r, http.StatusBadRequest, ar, c, cn, flow, "", msgIdentifierTooLong)
		return
	}
	logctx.Add(r.Context(), "username", username)
	password := r.PostFormValue("password")
	ip := httpx.ClientIP(r, f.TrustedProxies)
	userKey := loginUserKey(cn.Info.ID, pc, username)
	attempt, ok, err := f.limiter.Reserve(r.Context(),
		storage.RateLimit{Key: "login:ip:" + ip, Max: loginMaxFailures}, storage.RateLimit{Key: userKey, Max: loginMaxFailures})
	if err != nil {
		f.Pages.Internal(w, r, "login rate limit", err)
		return
	}
	if !ok {
		f.Logger.WarnContext(r.Context(), "login rate limited", "connector", cn.Info.ID, "username", username, "ip", ip)
		f.record(r, ar, loginEvent(cn, username, audit.OutcomeRateLimited))
		w.Header().Set("Retry-After", strconv.Itoa(int(loginWindow.Seconds())))
		f.loginPage(w, r, http.StatusTooManyRequests, ar, c, cn, flow, username,
			"Too many failed sign-in attempts. Wait a few minutes, then try again.")
		return
	}
	// The attempt is reserved: a wrong password (or an error we cannot classify) keeps it;
	// a success gives it back, and so do an upstream outage (the password was never checked)
	// and a policy denial (the password was right), so that an LDAP outage or a missing group
	// does not lock users out once the upstream is back or the group granted.
	cctx, t0 := cn.Start(r.Context(), "login")
	up, err := pc.Login(cctx, scopesFor(ar), username, password)
	cn.Done(cctx, "login", t0, err)
	if err != nil {
		var denied *connectors.DeniedError
		var upErr *connectors.UpstreamError
		switch {
		case errors.Is(err, connectors.ErrBadCredentials):
			f.Logger.InfoContext(r.Context(), "login failed", "connector", cn.Info.ID, "username", username, "ip", ip)
			f.record(r, ar, loginEvent(cn, username, audit.OutcomeBadCredentials))
			f.loginPage(w, r, http.StatusUnauthorized, ar, c, cn, flow, username, "The username or password is wrong. Check them and try again.")
		case errors.As(err, &denied):
			f.refund(r.Context(), attempt)
			f.record(r, ar, loginEvent(cn, username, audit.OutcomeDenied))
			f.deny(w, r, ar, denied.Reason)
		case errors.As(err, &upErr):
			f.refund(r.Context(), attempt)
			f.Logger.WarnContext(r.Context(), "upstream unavailable", "connector", cn.Info.ID, "err", err)
			f.record(r, ar, loginEvent(cn, username, audit.OutcomeUpstreamError))
			f.unavailable(w, r, cn)
		default:
			f.Pages.Internal(w, r, "password login", err)
		}
		return
	}
	f.refund(r.Context(), attempt)
	if err := f.limiter.Reset(r.Context(), userKey); err != nil {
		f.Logger.WarnContext(r.Context(), "login rate limit: reset", "err", err)
	}
	f.completeLogin(w, r, ar, c, cn, up)
}

// refund gives a reserved login attempt back; a failure to do so is logged (the attempt then
// expires with its window).
func (f *Flow) refund(ctx context.Context, attempt ratelimit.Attempt) {
	if err := f.limiter.Refund(ctx, attempt); err != nil {
		f.Logger.WarnContext(ctx, "login rate limit: refund", "err", err)
	}
}

// Password login budget: loginMaxFailures failed attempts per client IP and per account in
// loginWindow, shared by every replica.
const (
	loginMaxFailures = 10
	loginWindow      = 5 * time.Minute
)

// loginUserKey is the budget key of the account a password login names: the connector's
// canonical spelling of the username (connectors.UsernameCanonicalizer), trimmed and
// lowercased, so " Alice " spends alice's budget. Merging spellings that are distinct
// accounts only makes their budget stricter.
func loginUserKey(connectorID string, pc connectors.PasswordConnector, username string) string {
	if uc, ok := pc.(connectors.UsernameCanonicalizer); ok {
		username = uc.CanonicalUsername(username)
	}
	return "login:user:" + connectorID + ":" + strings.ToLower(strings.TrimSpace(username))
}

// completeLogin normalizes the upstream identity, establishes the SSO session and continues
// the flow.
func (f *Flow) completeLogin(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c *clients.Client, cn *connset.Slot, up connectors.Upstream) {
	f.completeLoginAs(w, r, ar, c, cn, up, nil)
}

// completeLoginAs is completeLogin after a passkey (pk, nil for any other login): the
// identity must be the user who registered the passkey, and the authentication is the
// passkey's (mfa.Passkey), which needs no second factor.
func (f *Flow) completeLoginAs(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c *clients.Client, cn *connset.Slot, up connectors.Upstream, pk *mfa.PasskeyLogin) {
	ctx := r.Context()
	if !bindsTo(ar, cn.Info.ID) { // every entry checks this already; the last step checks again
		f.Pages.Expired(w, r)
		return
	}
	if f.handOver(w, r, ar, cn, up) { // the account page's linking takes the upstream identity (taker.go)
		return
	}
	id, err := f.Claims.Normalize(ctx, cn.Info.ID, up)
	if err != nil {
		var denied *connectors.DeniedError
		if errors.As(err, &denied) {
			f.record(r, ar, loginEvent(cn, up.Subject, audit.OutcomeDenied))
			f.deny(w, r, ar, denied.Reason)
			return
		}
		f.Pages.Internal(w, r, "normalize identity", err)
		return
	}
	if pk != nil && id.Subject != pk.UserID { // the account was linked to another user since
		f.passkeyRefused(w, r, ar, c, cn, f.Sessions.FlowSecret(r), connectors.ErrBadCredentials)
		return
	}
	ev := loginEvent(cn, id.Subject, audit.OutcomeSuccess) // the connector vouched; MFA and consent follow
	if pk != nil {
		ev.Detail = map[string]string{"method": "passkey"}
	}
	f.record(r, ar, ev)
	authTime := up.AuthTime
	if authTime.IsZero() {
		authTime = f.Now()
	}
	auth := storage.Authentication{
		ConnectorID: cn.Info.ID, AuthTime: authTime.UTC().Truncate(time.Second), AMR: up.AMR, ACR: up.ACR,
		UpstreamSubject: up.Subject, UpstreamSessionID: up.SessionID, ConnectorData: up.Stash,
	}
	// Only a trusted upstream's amr/acr reach the tokens, with or without an MFA policy.
	auth = mfa.Normalize(auth, cn.TrustUpstreamMFA)
	if pk != nil {
		auth = mfa.Passkey(auth, pk.AMR)
	}
	if f.mfaStep(w, r, ar, c, id, &auth) { // a second factor first (mfa.go)
		return
	}
	sess, err := f.Sessions.Establish(ctx, w, r, id, auth)
	if err != nil {
		f.Pages.Internal(w, r, "establish session", err)
		return
	}
	err = f.Store.UpdateAuthRequest(ctx, ar.ID, func(a storage.AuthRequest) (storage.AuthRequest, error) {
		if a.LoggedIn && a.SessionID != "" && a.Identity.Subject != id.Subject {
			return a, errors.New("auth request already completed by another user")
		}
		a.LoggedIn, a.Identity, a.Auth, a.SessionID = true, id, auth, sess.ID
		a.ConnectorState, a.MFA = nil, nil
		a.FlowHash = session.HashID(f.Sessions.FlowSecret(r)) // Establish rotated the flow cookie
		return a, nil
	})
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			f.Pages.Expired(w, r)
			return
		}
		f.Pages.Internal(w, r, "update auth request", err)
		return
	}
	f.Logger.InfoContext(r.Context(), "login succeeded", "connector", cn.Info.ID, "sub", id.Subject, "client_id", ar.ClientID)
	ar.LoggedIn, ar.Identity, ar.Auth, ar.SessionID = true, id, auth, sess.ID
	ar.Prompt = slices.DeleteFunc(slices.Clone(ar.Prompt), func(p string) bool { return p == "login" || p == "select_account" })
	f.continueToConsent(w, r, ar, c)
}
