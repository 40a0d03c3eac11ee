package broker

import (
	"net/http"
	"slices"

	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/opaque"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
)

// flowStarter starts the login flow of an auth request a protocol package built (today only
// broker/samlidp; broker/authflow's Flow.Start replaces it).
type flowStarter struct{ s *Server }

// Start decides SSO-session reuse, answers prompt=none without a reusable session through the
// responder, steps up MFA, stores the request and goes on to MFA, consent or login.
func (f flowStarter) Start(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, _ string) {
	s := f.s
	ctx := r.Context()
	c := s.Clients.Get(ar.ClientID)
	if c == nil {
		s.pages.Internal(w, r, "client of the auth request not registered", nil)
		return
	}
	sess, hasSession, err := s.Sessions.Current(ctx, r)
	if err != nil {
		s.pages.Internal(w, r, "load session", err)
		return
	}
	if hasSession && (!c.AllowsConnector(sess.Auth.ConnectorID) || !s.conns.Up(sess.Auth.ConnectorID)) {
		hasSession = false
	}
	reauth := slices.Contains(ar.Prompt, "login") || slices.Contains(ar.Prompt, "select_account")
	if slices.Contains(ar.Prompt, "none") && (!hasSession || reauth) {
		s.failFlow(w, r, ar, oauth2err.New(oauth2err.LoginRequired, "the user is not signed in"))
		return
	}
	flow, err := s.Sessions.Flow(w, r)
	if err != nil {
		s.pages.Internal(w, r, "flow cookie", err)
		return
	}
	now := s.Now().UTC()
	ar.ID, ar.FlowHash, ar.CreatedAt, ar.Expiry = opaque.ID(), session.HashID(flow), now, now.Add(s.Lifetimes.AuthRequest)
	if hasSession && !reauth {
		if err := s.Sessions.Touch(ctx, sess); err != nil {
			s.Logger.WarnContext(ctx, "touch session", "err", err)
		}
		ar.LoggedIn, ar.Identity, ar.Auth, ar.SessionID = true, sess.Identity, sess.Auth, sess.ID
	}
	s.mfaStepUp(ctx, &ar)
	if err := s.Storage.CreateAuthRequest(ctx, ar); err != nil {
		s.pages.Internal(w, r, "store auth request", err)
		return
	}
	if s.mfaRedirect(w, r, ar) {
		return
	}
	if ar.LoggedIn {
		s.continueToConsent(w, r, ar, c)
		return
	}
	s.redirectToLogin(w, r, ar, c)
}

// failFlow ends a flow with an error in its protocol: a SAML error Response (broker/samlidp),
// or the OIDC error redirect.
func (s *Server) failFlow(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, err error) {
	if ar.Protocol == storage.ProtocolSAML && s.saml != nil {
		s.saml.Fail(w, r, ar, oauth2err.As(err))
		return
	}
	s.redirectError(w, r, ar.RedirectURI, ar.ResponseMode, ar.State, err)
}
