package broker

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/internal/logctx"
	"github.com/gatehouse-id/gatehouse/mfa"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
)

type chooserEntry struct {
	Name      string
	URL       string
	Available bool
}

type chooserData struct {
	pages.Page
	ClientName string
	Connectors []chooserEntry
}

func clientName(c *clients.Client) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

// handleChooser shows the connectors the client allows.
func (s *Server) handleChooser(w http.ResponseWriter, r *http.Request) {
	ar, c, _, ok := s.loadFlow(w, r)
	if !ok {
		return
	}
	if ar.ConnectorID != "" { // a request that names its connector offers no choice
		s.redirectToLogin(w, r, ar, c)
		return
	}
	d := chooserData{Page: s.pages.Page("Sign in"), ClientName: clientName(c)}
	for _, cn := range s.usableConnectors(c) {
		d.Connectors = append(d.Connectors, chooserEntry{
			Name:      cn.Info.Name,
			URL:       s.rel("/login/" + url.PathEscape(cn.Info.ID) + "?req=" + url.QueryEscape(ar.ID)),
			Available: cn.Conn != nil,
		})
	}
	if err := s.Templates.Render(w, http.StatusOK, "connectors.html", d); err != nil {
		s.Logger.ErrorContext(r.Context(), "render chooser", "err", err)
	}
}

// connectorFor resolves the {connector} path value for the flow, rendering errors itself.
// A request that named a connector (connector_id) is bound to it: no other may serve it.
func (s *Server) connectorFor(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c *clients.Client) (*connset.Slot, bool) {
	id := r.PathValue("connector")
	cn, ok := s.conns.Get(id)
	if !ok || !c.AllowsConnector(id) || !bindsTo(ar, id) {
		s.pages.Error(w, r, http.StatusNotFound, "Unknown sign-in method",
			"This way of signing in does not exist or is not allowed for this application.",
			"Go back to the application and sign in again.")
		return nil, false
	}
	logctx.Add(r.Context(), "connector", cn.Info.ID)
	if cn.Conn == nil {
		s.unavailable(w, r, cn)
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
func (s *Server) unavailable(w http.ResponseWriter, r *http.Request, cn *connset.Slot) {
	s.pages.Error(w, r, http.StatusServiceUnavailable, cn.Info.Name+" is unavailable",
		"Gatehouse cannot reach "+cn.Info.Name+" right now, so you cannot sign in with it at the moment.",
		"Try again in a few minutes, or go back and choose another way to sign in.")
}

type loginData struct {
	pages.Page
	ClientName, ConnectorName, Action, ReqID, CSRF, Prompt, Username, Error, Back string
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, status int, ar storage.AuthRequest, c *clients.Client, cn *connset.Slot, flow, username, msg string) {
	pc := cn.Conn.(connectors.PasswordConnector)
	d := loginData{
		Page:       s.pages.Page("Sign in"),
		ClientName: clientName(c), ConnectorName: cn.Info.Name,
		Action: s.rel("/login/" + url.PathEscape(cn.Info.ID)), ReqID: ar.ID,
		CSRF: session.CSRFToken(flow, "login:"+ar.ID), Prompt: pc.Prompt(), Username: username, Error: msg,
	}
	if d.Prompt == "" {
		d.Prompt = "Username"
	}
	if d.Username == "" {
		d.Username = ar.LoginHint
	}
	if len(s.usableConnectors(c)) > 1 && ar.ConnectorID == "" {
		d.Back = s.rel("/login?req=" + url.QueryEscape(ar.ID))
	}
	if err := s.Templates.Render(w, status, "login.html", d); err != nil {
		s.Logger.ErrorContext(r.Context(), "render login", "err", err)
	}
}

// handleLoginPage shows a password form, or starts a redirect login.
func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	ar, c, flow, ok := s.loadFlow(w, r)
	if !ok {
		return
	}
	cn, ok := s.connectorFor(w, r, ar, c)
	if !ok {
		return
	}
	switch conn := cn.Conn.(type) {
	case connectors.PasswordConnector:
		if nc, ok := conn.(connectors.NegotiateConnector); ok && !reauthFor(ar).Demanded() {
			s.negotiate(w, r, ar, c, cn, flow, nc) // Kerberos desktop SSO (broker/negotiate.go)
			return
		}
		s.loginPage(w, r, http.StatusOK, ar, c, cn, flow, "", "")
	case connectors.RedirectConnector:
		s.beginRedirect(w, r, ar, cn, conn)
	case connectors.RequestConnector:
		s.requestLogin(w, r, ar, c, cn, conn)
	default:
		s.pages.Internal(w, r, "connector has no login capability", errors.New(cn.Info.ID))
	}
}

// requestLogin completes a login from the request itself (a trusted front proxy's identity
// headers). A request the connector may not believe gets a page and a log line, nothing more.
func (s *Server) requestLogin(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c *clients.Client, cn *connset.Slot, rc connectors.RequestConnector) {
	up, err := rc.Authenticate(r.Context(), scopesFor(ar), r)
	if err == nil {
		err = reauthFor(ar).Check(up.AuthTime) // a proxy's header proves no fresh authentication
	}
	var denied *connectors.DeniedError
	switch {
	case err == nil:
		s.completeLogin(w, r, ar, c, cn, up)
	case errors.Is(err, connectors.ErrUntrustedRequest):
		s.Logger.WarnContext(r.Context(), "proxy login refused", "connector", cn.Info.ID, "peer", r.RemoteAddr, "err", err)
		s.pages.Error(w, r, http.StatusForbidden, "Sign-in refused",
			cn.Info.Name+" signs you in only through your organization's sign-in proxy, and this request did not come through it.",
			"Open the application at its usual address and sign in again. If this keeps happening, ask your administrator.")
	case errors.Is(err, connectors.ErrLoginRequired):
		s.loginRequired(w, r, ar, cn, err)
	case errors.As(err, &denied):
		s.loginDenied(w, r, ar, denied.Reason)
	default:
		s.pages.Internal(w, r, "request login", err)
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
func (s *Server) handleLoginSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.pages.Error(w, r, http.StatusBadRequest, "Request refused", "The form could not be read.", "Go back and try again.")
		return
	}
	ar, c, flow, ok := s.loadFlow(w, r)
	if !ok {
		return
	}
	if !s.checkCSRF(w, r, flow, "login:"+ar.ID) {
		return
	}
	cn, ok := s.connectorFor(w, r, ar, c)
	if !ok {
		return
	}
	pc, ok := cn.Conn.(connectors.PasswordConnector)
	if !ok {
		s.pages.Expired(w, r)
		return
	}
	username := r.PostFormValue("username")
	logctx.Add(r.Context(), "username", username)
	password := r.PostFormValue("password")
	ip := httpx.ClientIP(r, s.TrustedProxies)
	userKey := loginUserKey(cn.Info.ID, pc, username)
	attempt, ok, err := s.limiter.Reserve(r.Context(),
		storage.RateLimit{Key: "login:ip:" + ip, Max: loginMaxFailures}, storage.RateLimit{Key: userKey, Max: loginMaxFailures})
	if err != nil {
		s.pages.Internal(w, r, "login rate limit", err)
		return
	}
	if !ok {
		s.Logger.WarnContext(r.Context(), "login rate limited", "connector", cn.Info.ID, "username", username, "ip", ip)
		w.Header().Set("Retry-After", strconv.Itoa(int(loginWindow.Seconds())))
		s.loginPage(w, r, http.StatusTooManyRequests, ar, c, cn, flow, username,
			"Too many failed sign-in attempts. Wait a few minutes, then try again.")
		return
	}
	// The attempt is reserved: a failure keeps it, a success gives it back.
	up, err := pc.Login(r.Context(), scopesFor(ar), username, password)
	if err != nil {
		var denied *connectors.DeniedError
		var upErr *connectors.UpstreamError
		switch {
		case errors.Is(err, connectors.ErrBadCredentials):
			s.Logger.InfoContext(r.Context(), "login failed", "connector", cn.Info.ID, "username", username, "ip", ip)
			s.loginPage(w, r, http.StatusUnauthorized, ar, c, cn, flow, username, "The username or password is wrong. Check them and try again.")
		case errors.As(err, &denied):
			s.loginDenied(w, r, ar, denied.Reason)
		case errors.As(err, &upErr):
			s.Logger.WarnContext(r.Context(), "upstream unavailable", "connector", cn.Info.ID, "err", err)
			s.unavailable(w, r, cn)
		default:
			s.pages.Internal(w, r, "password login", err)
		}
		return
	}
	if err := s.limiter.Refund(r.Context(), attempt); err != nil {
		s.Logger.WarnContext(r.Context(), "login rate limit: refund", "err", err)
	}
	if err := s.limiter.Reset(r.Context(), userKey); err != nil {
		s.Logger.WarnContext(r.Context(), "login rate limit: reset", "err", err)
	}
	s.completeLogin(w, r, ar, c, cn, up)
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

// loginDenied ends the flow with access_denied after showing why.
func (s *Server) loginDenied(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, reason string) {
	s.dropAuthRequest(r.Context(), ar.ID)
	if ar.Protocol == storage.ProtocolSAML && s.saml != nil { // SAML flows also get a RequestDenied response (broker/samlidp)
		s.saml.Deny(w, r, ar, reason)
		return
	}
	s.Logger.InfoContext(r.Context(), "login denied", "client_id", ar.ClientID, "reason", reason)
	s.pages.Error(w, r, http.StatusForbidden, "Access denied", "You signed in, but you may not use this application: "+reason+".",
		"If you think you should have access, ask your administrator.")
}

// completeLogin normalizes the upstream identity, establishes the SSO session and continues
// the flow.
func (s *Server) completeLogin(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c *clients.Client, cn *connset.Slot, up connectors.Upstream) {
	ctx := r.Context()
	if !bindsTo(ar, cn.Info.ID) { // every entry checks this already; the last step checks again
		s.pages.Expired(w, r)
		return
	}
	id, err := s.Claims.Normalize(ctx, cn.Info.ID, up)
	if err != nil {
		var denied *connectors.DeniedError
		if errors.As(err, &denied) {
			s.loginDenied(w, r, ar, denied.Reason)
			return
		}
		s.pages.Internal(w, r, "normalize identity", err)
		return
	}
	authTime := up.AuthTime
	if authTime.IsZero() {
		authTime = s.Now()
	}
	auth := storage.Authentication{
		ConnectorID: cn.Info.ID, AuthTime: authTime.UTC().Truncate(time.Second), AMR: up.AMR, ACR: up.ACR,
		UpstreamSubject: up.Subject, ConnectorData: up.Stash,
	}
	// Only a trusted upstream's amr/acr reach the tokens, with or without an MFA policy.
	auth = mfa.Normalize(auth, cn.TrustUpstreamMFA)
	if s.mfaStep(w, r, ar, c, id, &auth) { // a second factor first (broker/mfa.go)
		return
	}
	sess, err := s.Sessions.Establish(ctx, w, r, id, auth)
	if err != nil {
		s.pages.Internal(w, r, "establish session", err)
		return
	}
	err = s.Storage.UpdateAuthRequest(ctx, ar.ID, func(a storage.AuthRequest) (storage.AuthRequest, error) {
		if a.LoggedIn && a.SessionID != "" && a.Identity.Subject != id.Subject {
			return a, errors.New("auth request already completed by another user")
		}
		a.LoggedIn, a.Identity, a.Auth, a.SessionID = true, id, auth, sess.ID
		a.ConnectorState = nil
		a.FlowHash = session.HashID(s.Sessions.FlowSecret(r)) // Establish rotated the flow cookie
		return a, nil
	})
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			s.pages.Expired(w, r)
			return
		}
		s.pages.Internal(w, r, "update auth request", err)
		return
	}
	s.Logger.InfoContext(r.Context(), "login succeeded", "connector", cn.Info.ID, "sub", id.Subject, "client_id", ar.ClientID)
	ar.LoggedIn, ar.Identity, ar.Auth, ar.SessionID = true, id, auth, sess.ID
	ar.Prompt = slices.DeleteFunc(slices.Clone(ar.Prompt), func(p string) bool { return p == "login" || p == "select_account" })
	s.continueToConsent(w, r, ar, c)
}

// beginRedirect starts a redirect-connector login.
func (s *Server) beginRedirect(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, cn *connset.Slot, rc connectors.RedirectConnector) {
	callback := s.url("/callback/" + url.PathEscape(cn.Info.ID))
	step, err := rc.Begin(r.Context(), connectors.BeginRequest{Scopes: scopesFor(ar), CallbackURL: callback, State: ar.ID, LoginHint: ar.LoginHint,
		Reauth: reauthFor(ar)})
	if err != nil {
		var upErr *connectors.UpstreamError
		if errors.Is(err, connectors.ErrLoginRequired) {
			s.loginRequired(w, r, ar, cn, err)
			return
		}
		if errors.As(err, &upErr) {
			s.Logger.WarnContext(r.Context(), "upstream unavailable", "connector", cn.Info.ID, "err", err)
			s.unavailable(w, r, cn)
			return
		}
		s.pages.Internal(w, r, "begin redirect login", err)
		return
	}
	// The login in progress is with cn (its stash belongs to cn); ConnectorID stays what the
	// request named, so the user may still go back and choose another connector when it named none.
	err = s.Storage.UpdateAuthRequest(r.Context(), ar.ID, func(a storage.AuthRequest) (storage.AuthRequest, error) {
		if !bindsTo(a, cn.Info.ID) {
			return a, errors.New("auth request is bound to another connector")
		}
		// Signing in again starts over: what an earlier login left is forgotten.
		a.LoggedIn, a.Identity, a.SessionID = false, storage.Identity{}, ""
		a.Auth = storage.Authentication{ConnectorID: cn.Info.ID}
		a.ConnectorState = step.Stash
		return a, nil
	})
	if err != nil {
		s.pages.Internal(w, r, "store connector state", err)
		return
	}
	if step.PostForm != nil {
		vals := url.Values{}
		for k, v := range step.PostForm {
			vals.Set(k, v)
		}
		s.pages.FormPost(w, r, step.URL, vals)
		return
	}
	http.Redirect(w, r, step.URL, http.StatusSeeOther)
}

// handleCallback finishes a redirect-connector login. The upstream returns the broker's
// state (the auth request ID); the flow cookie proves it is the same browser.
func (s *Server) handleCallback(w http.ResponseWriter, r *http.Request) {
	state := param(r, "state")
	if state == "" {
		state = param(r, "RelayState")
	}
	ar, err := s.Storage.GetAuthRequest(r.Context(), state)
	if err != nil || state == "" {
		s.pages.Expired(w, r)
		return
	}
	flow := s.Sessions.FlowSecret(r)
	if flow == "" || session.HashID(flow) != ar.FlowHash || !s.Now().Before(ar.Expiry) {
		s.pages.Expired(w, r)
		return
	}
	c := s.Clients.Get(ar.ClientID)
	if c == nil {
		s.pages.Expired(w, r)
		return
	}
	logFlow(r.Context(), ar)
	cn, ok := s.connectorFor(w, r, ar, c)
	if !ok {
		return
	}
	rc, ok := cn.Conn.(connectors.RedirectConnector)
	if !ok || ar.LoggedIn || ar.Auth.ConnectorID != cn.Info.ID || !bindsTo(ar, cn.Info.ID) {
		s.pages.Expired(w, r)
		return
	}
	stash, ok := s.claimCallback(w, r, ar.ID, cn.Info.ID)
	if !ok {
		return
	}
	reauth := reauthFor(ar)
	up, err := rc.Finish(r.Context(), connectors.FinishRequest{
		Scopes: scopesFor(ar), CallbackURL: s.url("/callback/" + url.PathEscape(cn.Info.ID)), State: ar.ID, Stash: stash,
		Reauth: reauth,
	}, r)
	if err == nil {
		err = reauth.Check(up.AuthTime) // whatever the connector did: no evidence, no fresh auth_time
	}
	if err != nil {
		var denied *connectors.DeniedError
		var upErr *connectors.UpstreamError
		switch {
		case errors.Is(err, connectors.ErrLoginRequired):
			s.loginRequired(w, r, ar, cn, err)
		case errors.As(err, &denied):
			s.loginDenied(w, r, ar, denied.Reason)
		case errors.As(err, &upErr):
			s.Logger.WarnContext(r.Context(), "upstream unavailable", "connector", cn.Info.ID, "err", err)
			s.unavailable(w, r, cn)
		default:
			s.Logger.WarnContext(r.Context(), "redirect login failed", "connector", cn.Info.ID, "err", err)
			s.pages.Error(w, r, http.StatusBadGateway, "Sign-in failed",
				cn.Info.Name+" did not complete the sign-in.", "Go back to the application and try again.")
		}
		return
	}
	s.completeLogin(w, r, ar, c, cn, up)
}

// errCallbackTaken: another delivery of the same upstream callback took the login first.
var errCallbackTaken = errors.New("the redirect login was already taken by another delivery of its callback")

// claimCallback takes an auth request's redirect login in progress with connectorID, in one
// atomic update: the connector's stash is removed and the request no longer names a login in
// progress. Of several deliveries of one upstream callback at once (a double navigation, a
// load balancer retrying on another replica) exactly one goes on to the upstream, whose code
// is single-use: a second redemption makes the upstream revoke what the first one got (RFC
// 6749 4.1.2), so the tokens issued from the winner would die at their first refresh. The
// others get the "already finished" page. After a failed Finish, signing in again begins a
// new login. It renders the page itself and returns the stash and whether to go on.
func (s *Server) claimCallback(w http.ResponseWriter, r *http.Request, id, connectorID string) ([]byte, bool) {
	var stash []byte
	err := s.Storage.UpdateAuthRequest(r.Context(), id, func(a storage.AuthRequest) (storage.AuthRequest, error) {
		if a.LoggedIn || a.Auth.ConnectorID != connectorID {
			return a, errCallbackTaken
		}
		stash = a.ConnectorState
		a.Auth.ConnectorID, a.ConnectorState = "", nil
		return a, nil
	})
	switch {
	case err == nil:
		return stash, true
	case errors.Is(err, errCallbackTaken):
		s.Logger.InfoContext(r.Context(), "upstream callback delivered again; the upstream is not asked twice", "req", id, "connector", connectorID)
		s.pages.AlreadyFinished(w, r)
	case errors.Is(err, storage.ErrNotFound):
		s.pages.Expired(w, r)
	default:
		s.pages.Internal(w, r, "claim redirect login", err)
	}
	return nil, false
}

// reauthLeeway is the clock skew allowed between Gatehouse and an upstream when checking that
// the upstream authenticated the user after the request that demanded it.
const reauthLeeway = 30 * time.Second

// reauthFor is what an auth request demands of a redirect connector's upstream: with
// prompt=login (or SAML ForceAuthn) an authentication after the request was made; with
// max_age one at most that old when the request was made.
func reauthFor(ar storage.AuthRequest) connectors.Reauth {
	var ra connectors.Reauth
	if slices.Contains(ar.Prompt, "login") || ar.MaxAge == 0 {
		ra.Force = true
		ra.NotBefore = ar.CreatedAt
	}
	if ar.MaxAge > 0 {
		ra.MaxAge = time.Duration(ar.MaxAge) * time.Second
		if nb := ar.CreatedAt.Add(-ra.MaxAge); ra.NotBefore.IsZero() || nb.After(ra.NotBefore) {
			ra.NotBefore = nb
		}
	}
	if !ra.NotBefore.IsZero() {
		ra.NotBefore = ra.NotBefore.Add(-reauthLeeway).Truncate(time.Second)
	}
	return ra
}

// loginRequired ends a flow whose demand for a fresh authentication (prompt=login, max_age,
// ForceAuthn) the upstream could not meet: the client gets login_required, never an
// auth_time the upstream did not vouch for.
func (s *Server) loginRequired(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, cn *connset.Slot, cause error) {
	if err := s.Storage.DeleteAuthRequest(r.Context(), ar.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.pages.Internal(w, r, "delete auth request", err)
		return
	}
	s.Logger.InfoContext(r.Context(), "re-authentication not proven", "connector", cn.Info.ID, "client_id", ar.ClientID, "err", cause)
	s.failFlow(w, r, ar,
		oauth2err.New(oauth2err.LoginRequired, cn.Info.Name+" could not confirm a fresh sign-in"))
}
