package account

import (
	"net/http"

	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/storage"
)

// ClientID is the pseudo-client of sign-ins to the account page, in the client registry
// (internal/assembly adds it): trusted (no consent page), no secret and no redirect URIs, so
// /authorize and /token refuse it; only GET /account begins its logins.
const ClientID = "gatehouse:account-signin"

// ClientName is how the sign-in pages name the account page's pseudo-client.
const ClientName = "Gatehouse"

// Starter starts a login (authflow.Flow).
type Starter interface {
	Start(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, hintSubject string)
}

// canSignIn reports whether a visitor who is not signed in can sign in from here.
func (h *Handler) canSignIn() bool {
	return h.Login != nil && h.Apps.Get(ClientID) != nil
}

// signIn starts the login of the account page: the normal flow (chooser, connector, MFA by
// the connector's policy) with storage.ProtocolAccount, which Finish ends back on /account.
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	h.Login.Start(w, r, storage.AuthRequest{
		Protocol: storage.ProtocolAccount, ClientID: ClientID, Scopes: []string{"openid"}, MaxAge: -1,
	}, "")
}

// Finish ends a completed sign-in to the account page: back to the page. The flow has
// consumed the auth request and checked that its session is live; nothing is issued.
func (h *Handler) Finish(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest) {
	if ar.ClientID != ClientID {
		h.Pages.Expired(w, r)
		return
	}
	h.Logger.InfoContext(r.Context(), "signed in to the account page", "sub", ar.Identity.Subject, "connector", ar.Auth.ConnectorID)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, h.Pages.Rel("/account"), http.StatusSeeOther)
}

// Fail shows a page: the account page has no protocol to carry an error back.
func (h *Handler) Fail(w http.ResponseWriter, r *http.Request, _ storage.AuthRequest, e *oauth2err.Error) {
	if e.Code != oauth2err.ServerError && e.Description != "" {
		h.Pages.ErrorArgs(w, r, http.StatusBadRequest, "fwd.failed", "fwd.failed_detail", "account.signin_retry", map[string]any{"Detail": e.Description})
		return
	}
	h.Pages.Error(w, r, http.StatusBadRequest, "fwd.failed", "fwd.failed_message", "account.signin_retry")
}

// Deny shows the access-denied page of a user a policy refuses at the end of the sign-in
// (reason is user-safe).
func (h *Handler) Deny(w http.ResponseWriter, r *http.Request, _ storage.AuthRequest, reason string) {
	h.Pages.ErrorArgs(w, r, http.StatusForbidden, "denied.heading", "fwd.denied", "fwd.ask", map[string]any{"Reason": reason})
}
