package broker

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/authreq"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/connset"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/opaque"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/internal/logctx"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
)

// handleAuthorize is the authorization endpoint (RFC 6749 4.1.1, OIDC Core 3.1.2).
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.redirectError(w, r, "", "", "", &oauth2err.Error{Code: oauth2err.InvalidRequest, Description: "malformed request", NoRedirect: true})
		return
	}
	form := r.Form
	if r.Method == http.MethodPost {
		form = r.PostForm
	}
	req, client, err := authreq.Parse(form, s.Clients, s.Claims.KnownScope)
	if err != nil {
		s.redirectError(w, r, req.RedirectURI, req.ResponseMode, req.State, err)
		return
	}
	ctx := r.Context()
	logctx.Add(ctx, "client_id", client.ID)
	now := s.Now().UTC()

	// id_token_hint names the user the client expects.
	hintSub := ""
	if req.IDTokenHint != "" {
		h, err := s.Minter.VerifyIDTokenHint(req.IDTokenHint)
		if err != nil || h.Audience != client.ID {
			s.redirectError(w, r, req.RedirectURI, req.ResponseMode, req.State, oauth2err.New(oauth2err.InvalidRequest, "id_token_hint is not valid"))
			return
		}
		hintSub = h.Subject
	}

	sess, hasSession, err := s.Sessions.Current(ctx, r)
	if err != nil {
		s.redirectError(w, r, req.RedirectURI, req.ResponseMode, req.State, oauth2err.Server(err))
		return
	}
	if hasSession {
		if hintSub != "" && s.Claims.SubjectFor(client.ID, sess.Identity.Subject) != hintSub {
			hasSession = false // another user is signed in; the client expects someone else
		}
		if req.ConnectorID != "" && sess.Auth.ConnectorID != req.ConnectorID {
			hasSession = false
		}
		if !client.AllowsConnector(sess.Auth.ConnectorID) || !s.conns.Up(sess.Auth.ConnectorID) {
			hasSession = false // (a session of a removed or failed connector is never reused)
		}
		if req.MaxAge >= 0 && now.Sub(sess.Auth.AuthTime) > time.Duration(req.MaxAge)*time.Second {
			hasSession = false
		}
	}
	reauth := req.HasPrompt("login") || req.HasPrompt("select_account")
	if req.HasPrompt("none") {
		if !hasSession {
			code := oauth2err.LoginRequired
			s.redirectError(w, r, req.RedirectURI, req.ResponseMode, req.State, oauth2err.New(code, "the user is not signed in"))
			return
		}
	}

	flow, err := s.Sessions.Flow(w, r)
	if err != nil {
		s.redirectError(w, r, req.RedirectURI, req.ResponseMode, req.State, oauth2err.Server(err))
		return
	}
	ar := storage.AuthRequest{
		ID: opaque.ID(), FlowHash: session.HashID(flow), ClientID: client.ID, RedirectURI: req.RedirectURI,
		ResponseType: req.ResponseType, ResponseMode: req.ResponseMode, Scopes: req.Scopes, State: req.State,
		Nonce: req.Nonce, CodeChallenge: req.CodeChallenge, CodeChallengeMethod: req.CodeChallengeMethod,
		Prompt: req.Prompt, MaxAge: req.MaxAge, LoginHint: req.LoginHint, ConnectorID: req.ConnectorID,
		ACRValues: req.ACRValues, CreatedAt: now, Expiry: now.Add(s.Lifetimes.AuthRequest),
	}
	if hasSession && !reauth {
		if err := s.Sessions.Touch(ctx, sess); err != nil {
			s.Logger.WarnContext(r.Context(), "touch session", "err", err)
		}
		ar.LoggedIn = true
		ar.Identity = sess.Identity
		ar.Auth = sess.Auth
		ar.SessionID = sess.ID
	}
	s.mfaStepUp(ctx, &ar) // a session without a needed second factor steps up (broker/mfa.go)
	if err := s.Storage.CreateAuthRequest(ctx, ar); err != nil {
		s.redirectError(w, r, req.RedirectURI, req.ResponseMode, req.State, oauth2err.Server(err))
		return
	}
	if s.mfaRedirect(w, r, ar) {
		return
	}
	if ar.LoggedIn {
		s.continueToConsent(w, r, ar, client)
		return
	}
	s.redirectToLogin(w, r, ar, client)
}

// usableConnectors lists the connectors a client's users may use, in configuration order.
func (s *Server) usableConnectors(c *clients.Client) []*connset.Slot {
	return s.conns.Usable(c.AllowsConnector)
}

// redirectToLogin sends the browser to the right login step: the requested connector, the
// only one, or the chooser.
func (s *Server) redirectToLogin(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c *clients.Client) {
	q := "?req=" + url.QueryEscape(ar.ID)
	if ar.ConnectorID != "" {
		http.Redirect(w, r, s.rel("/login/"+url.PathEscape(ar.ConnectorID)+q), http.StatusSeeOther)
		return
	}
	if cs := s.usableConnectors(c); len(cs) == 1 {
		http.Redirect(w, r, s.rel("/login/"+url.PathEscape(cs[0].Info.ID)+q), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, s.rel("/login"+q), http.StatusSeeOther)
}

// param reads a flow parameter: from the URL of a GET, from the (bounded, already limited by
// limitBodies) form body of a POST, never one from the other.
func param(r *http.Request, key string) string {
	if r.Method == http.MethodPost {
		return r.PostFormValue(key)
	}
	return r.URL.Query().Get(key)
}

// loadFlow loads the auth request named in the request and checks that it belongs to this
// browser. It renders the error page itself and returns ok == false on failure.
func (s *Server) loadFlow(w http.ResponseWriter, r *http.Request) (storage.AuthRequest, *clients.Client, string, bool) {
	id := param(r, "req")
	if id == "" || len(id) > 64 {
		s.pages.Expired(w, r)
		return storage.AuthRequest{}, nil, "", false
	}
	ar, err := s.Storage.GetAuthRequest(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		s.pages.Expired(w, r)
		return ar, nil, "", false
	}
	if err != nil {
		s.pages.Internal(w, r, "load auth request", err)
		return ar, nil, "", false
	}
	flow := s.Sessions.FlowSecret(r)
	if flow == "" || !s.Now().Before(ar.Expiry) || session.HashID(flow) != ar.FlowHash {
		s.pages.Expired(w, r)
		return ar, nil, "", false
	}
	c := s.Clients.Get(ar.ClientID)
	if c == nil {
		s.pages.Expired(w, r)
		return ar, nil, "", false
	}
	logFlow(r.Context(), ar)
	if !s.sessionLive(w, r, ar) {
		return ar, nil, "", false
	}
	return ar, c, flow, true
}

// checkCSRF verifies a form's CSRF token for the auth request; on failure it renders a page.
func (s *Server) checkCSRF(w http.ResponseWriter, r *http.Request, flow, purpose string) bool {
	if session.CheckCSRF(flow, purpose, r.PostFormValue("csrf")) {
		return true
	}
	s.Logger.WarnContext(r.Context(), "csrf token missing or wrong", "path", r.URL.Path)
	s.pages.Error(w, r, http.StatusForbidden, "Request refused",
		"This form could not be verified (its security token is missing or wrong), so nothing was done.",
		"Go back to the application and start signing in again.")
	return false
}

// continueToConsent goes to the consent step (which may finish at once).
func (s *Server) continueToConsent(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, c *clients.Client) {
	// The client's own requirements (claims: clients[].require), after every login and for SSO sessions.
	var denied *connectors.DeniedError
	if err := s.Claims.AuthorizeClient(c.ID, ar.Identity); errors.As(err, &denied) {
		if slices.Contains(ar.Prompt, "none") {
			s.dropAuthRequest(r.Context(), ar.ID)
			s.failFlow(w, r, ar, oauth2err.New(oauth2err.AccessDenied, denied.Reason))
			return
		}
		s.loginDenied(w, r, ar, denied.Reason)
		return
	}
	needs, err := s.needsConsent(r, ar, c)
	if err != nil {
		s.failFlow(w, r, ar, oauth2err.Server(err))
		return
	}
	if !needs {
		s.finish(w, r, ar)
		return
	}
	if slices.Contains(ar.Prompt, "none") {
		s.dropAuthRequest(r.Context(), ar.ID)
		s.failFlow(w, r, ar, oauth2err.New(oauth2err.ConsentRequired, "the user has not consented to this client"))
		return
	}
	http.Redirect(w, r, s.rel("/consent?req="+url.QueryEscape(ar.ID)), http.StatusSeeOther)
}

// dropAuthRequest deletes an auth request on a path that ends its flow with an error (the
// error is what the user sees); a failure to delete is logged, never dropped: the request
// then expires on its own.
func (s *Server) dropAuthRequest(ctx context.Context, id string) {
	if err := s.Storage.DeleteAuthRequest(ctx, id); err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.Logger.WarnContext(ctx, "delete ended auth request; it expires on its own", "req", id, "err", err)
	}
}

// consumeAuthRequest deletes the auth request before anything is issued from it: of several
// submissions of one flow (a double click, a form replayed from history, parallel tabs)
// exactly one finds the row and goes on; the others get the "already finished" page. A
// request that logout or expiry removed meanwhile is refused the same way. It renders the
// page itself and reports whether the caller may issue.
func (s *Server) consumeAuthRequest(w http.ResponseWriter, r *http.Request, id string) bool {
	err := s.Storage.DeleteAuthRequest(r.Context(), id)
	switch {
	case err == nil:
		return true
	case errors.Is(err, storage.ErrNotFound):
		s.Logger.InfoContext(r.Context(), "sign-in already finished or gone; nothing issued", "req", id)
		s.pages.AlreadyFinished(w, r)
		return false
	default:
		s.pages.Internal(w, r, "consume auth request", err)
		return false
	}
}

// finish issues the authorization code and sends the browser back to the client.
func (s *Server) finish(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest) {
	if !s.sessionLive(w, r, ar) { // signed out (or expired) since the request was authenticated
		return
	}
	if !s.consumeAuthRequest(w, r, ar.ID) {
		return
	}
	if ar.Protocol == storage.ProtocolSAML && s.saml != nil { // a SAML SP gets an assertion (broker/samlidp)
		s.saml.Finish(w, r, ar)
		return
	}
	ctx := r.Context()
	code := opaque.Token()
	now := s.Now().UTC()
	ac := storage.AuthCode{
		Hash: opaque.Hash(code), ClientID: ar.ClientID, RedirectURI: ar.RedirectURI, Scopes: ar.Scopes,
		Nonce: ar.Nonce, CodeChallenge: ar.CodeChallenge, CodeChallengeMethod: ar.CodeChallengeMethod,
		Identity: ar.Identity, Auth: ar.Auth, SessionID: ar.SessionID, GrantID: opaque.ID(),
		CreatedAt: now, Expiry: now.Add(s.Lifetimes.AuthCode),
	}
	if err := s.Storage.CreateAuthCode(ctx, ac); err != nil {
		s.failFlow(w, r, ar, oauth2err.Server(err))
		return
	}
	s.Logger.InfoContext(r.Context(), "authorization code issued", "client_id", ar.ClientID, "sub", ar.Identity.Subject, "connector", ar.Auth.ConnectorID)
	s.respond(w, r, ar.RedirectURI, ar.ResponseMode, ar.State, url.Values{"code": {code}})
}
