package broker

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/session"
)

type logoutData struct {
	pages.Page
	ClientName, User, Action, CSRF string
	Hidden                         map[string]string
}

// handleLogout is RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0). With a valid
// id_token_hint for the signed-in user the session ends at once; otherwise the user confirms.
// The browser returns to post_logout_redirect_uri only when it is registered for the client.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.pages.Error(w, r, http.StatusBadRequest, "Request refused", "The sign-out request could not be read.", "")
		return
	}
	form := r.Form
	if r.Method == http.MethodPost {
		form = r.PostForm
	}
	hint, clientID := form.Get("id_token_hint"), form.Get("client_id")
	postLogout, state := form.Get("post_logout_redirect_uri"), form.Get("state")
	hintSub, hintSID := "", ""
	if hint != "" {
		h, err := s.Minter.VerifyIDTokenHint(hint)
		if err != nil {
			s.pages.Error(w, r, http.StatusBadRequest, "Sign-out request refused", "The application sent an invalid sign-out request (its id_token_hint is not valid).", "Close this window, or sign out from the application again.")
			return
		}
		if clientID != "" && clientID != h.Audience {
			s.pages.Error(w, r, http.StatusBadRequest, "Sign-out request refused", "The application sent an inconsistent sign-out request (client_id does not match id_token_hint).", "")
			return
		}
		clientID, hintSub, hintSID = h.Audience, h.Subject, h.SessionID
	}
	var c *clients.Client
	if clientID != "" {
		if c = s.Clients.Get(clientID); c == nil {
			s.pages.Error(w, r, http.StatusBadRequest, "Sign-out request refused", "The sign-out request names an unknown application.", "")
			return
		}
	}
	if postLogout != "" && (c == nil || !slices.Contains(c.PostLogoutRedirectURIs, postLogout)) {
		s.pages.Error(w, r, http.StatusBadRequest, "Sign-out request refused", "The application asked to return to an address that is not registered for it.", "This is a problem with the application's configuration; tell its administrator.")
		return
	}
	ctx := r.Context()
	sess, has, err := s.Sessions.Current(ctx, r)
	if err != nil {
		s.pages.Internal(w, r, "load session", err)
		return
	}
	confirmed := false
	if r.Method == http.MethodPost && form.Get("decision") != "" {
		flow := s.Sessions.FlowSecret(r)
		if !session.CheckCSRF(flow, "logout", form.Get("csrf")) {
			s.checkCSRF(w, r, flow, "logout") // renders the refusal
			return
		}
		if form.Get("decision") != "logout" {
			s.pages.Error(w, r, http.StatusOK, "Still signed in", "You are still signed in to Gatehouse.", "You can close this window.")
			return
		}
		confirmed = true
	}
	// A hint for the signed-in user's own session is enough; otherwise ask.
	// The hint's sub is what this client sees: pairwise for pairwise clients.
	hintMatches := has && hintSub != "" && hintSub == s.Claims.SubjectFor(clientID, sess.Identity.Subject) &&
		(hintSID == "" || hintSID == sess.ID)
	if has && !confirmed && !hintMatches {
		flow, err := s.Sessions.Flow(w, r)
		if err != nil {
			s.pages.Internal(w, r, "flow cookie", err)
			return
		}
		hidden := map[string]string{}
		for _, k := range []string{"client_id", "post_logout_redirect_uri", "state"} {
			if v := form.Get(k); v != "" {
				hidden[k] = v
			}
		}
		if clientID != "" {
			hidden["client_id"] = clientID
		}
		d := logoutData{Page: s.pages.Page("Sign out"), User: displayName(sess.Identity), Action: s.rel("/logout"),
			CSRF: session.CSRFToken(flow, "logout"), Hidden: hidden}
		if c != nil {
			d.ClientName = clientName(c)
		}
		if err := s.Templates.Render(w, http.StatusOK, "logout.html", d); err != nil {
			s.Logger.ErrorContext(r.Context(), "render logout", "err", err)
		}
		return
	}
	if has {
		if _, _, err := s.Sessions.End(ctx, w, r); err != nil {
			s.pages.Internal(w, r, "end session", err)
			return
		}
		if err := s.sessionEnded(ctx, sess, s.flowHash(r)); err != nil {
			s.pages.Internal(w, r, "end session", err)
			return
		}
		s.Logger.InfoContext(r.Context(), "signed out", "sub", sess.Identity.Subject, "client_id", clientID)
	}
	if has && s.samlLogoutFanout(w, r, sess, samlLogoutReturn(postLogout, state)) { // SAML SPs (broker/saml.go)
		return
	}
	if postLogout != "" {
		u, err := url.Parse(postLogout)
		if err != nil {
			s.pages.Internal(w, r, "parse post logout uri", err)
			return
		}
		if state != "" {
			q := u.Query()
			q.Set("state", state)
			u.RawQuery = q.Encode()
		}
		http.Redirect(w, r, u.String(), http.StatusSeeOther)
		return
	}
	if err := s.Templates.Render(w, http.StatusOK, "loggedout.html", s.pages.Page("Signed out")); err != nil {
		s.Logger.ErrorContext(r.Context(), "render loggedout", "err", err)
	}
}
