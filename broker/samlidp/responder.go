package samlidp

import (
	"errors"
	"net/http"

	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Finish ends a completed login: the assertion, built from the identity through the claims
// pipeline, is POSTed to the SP's assertion consumer service. The flow has consumed the auth
// request already (one assertion per AuthnRequest) and checked the session is live.
func (h *Handler) Finish(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest) {
	ctx := r.Context()
	areq, ok := h.requestOf(r.Context(), ar)
	if !ok {
		h.Pages.Expired(w, r)
		return
	}
	sp := areq.SP
	cl := h.Claims.Claims(ar.ClientID, ar.Identity, ar.Auth, ar.Scopes)
	subj := Subject{
		UserID: ar.Identity.Subject, Email: ar.Identity.Email, EmailVerified: ar.Identity.EmailVerified,
		Attributes: attributes(sp, ar.Identity, cl), AuthTime: ar.Auth.AuthTime,
		AuthnContext: AuthnContextClass(ar.Auth.ACR, ar.Auth.AMR), SessionIndex: SessionIndex(ar.SessionID),
		RemoteAddr: httpx.ClientIP(r, h.TrustedProxies),
	}
	resp, err := h.IdP.BuildResponse(ctx, areq, subj)
	if errors.Is(err, ErrNoEmail) || errors.Is(err, ErrInvalidNameIDPolicy) || errors.Is(err, ErrNoAuthnContext) {
		h.policyError(w, r, areq, err)
		return
	}
	if err != nil {
		h.Pages.Internal(w, r, "saml response", err)
		return
	}
	h.recordParticipant(ctx, ar.SessionID, participant{SP: sp.ID, NameID: resp.NameID, NameIDFormat: resp.NameIDFormat, SessionIndex: subj.SessionIndex})
	h.Logger.InfoContext(ctx, "saml assertion issued", "sp", sp.ID, "sub", ar.Identity.Subject, "connector", ar.Auth.ConnectorID, "in_response_to", areq.ID)
	h.Pages.FormPost(w, r, resp.URL, resp.fields())
}

// Fail answers a failed login with a SAML error Response to the SP's registered ACS:
// NoPassive for login/interaction/consent required, RequestDenied for access_denied,
// AuthnFailed otherwise (a server error's message is never sent). An error that must not be
// sent, or a request that no longer names a known SP, gets a page. The flow has deleted the
// auth request already.
func (h *Handler) Fail(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, e *oauth2err.Error) {
	areq, ok := h.requestOf(r.Context(), ar)
	if !ok || e.NoRedirect {
		h.Pages.Error(w, r, http.StatusBadRequest, "Sign-in failed", "The sign-in could not be completed.", "Go back to the application and try again.")
		return
	}
	second := StatusAuthnFailed
	switch e.Code {
	case oauth2err.LoginRequired, oauth2err.InteractionRequired, oauth2err.ConsentRequired:
		second = StatusNoPassive
	case oauth2err.AccessDenied:
		second = StatusRequestDenied
	}
	msg := ""
	if e.Code != oauth2err.ServerError {
		msg = e.Description
	}
	h.errorResponse(w, r, areq, second, msg)
}

// deniedData is the data of saml_denied.html.
type deniedData struct {
	pages.Page
	SPName, Reason, Action string
	Fields                 map[string]string
}

// Deny renders the access-denied page of a user a policy refuses (reason is user-safe),
// with a button that returns to the SP with a SAML Response whose status is RequestDenied.
// The flow has deleted the auth request and logged the denial already.
func (h *Handler) Deny(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, reason string) {
	areq, ok := h.requestOf(r.Context(), ar)
	if !ok {
		h.Pages.Expired(w, r)
		return
	}
	resp, err := h.IdP.BuildErrorResponse(r.Context(), areq, StatusRequestDenied, "access denied")
	if err != nil {
		h.Pages.Internal(w, r, "saml error response", err)
		return
	}
	fields := map[string]string{}
	for k, v := range resp.fields() {
		fields[k] = v[0]
	}
	h.Pages.Render(w, r, http.StatusForbidden, "saml_denied.html", deniedData{
		Page: h.Pages.Page("Access denied"), SPName: areq.SP.DisplayName(), Reason: reason, Action: resp.URL, Fields: fields,
	})
}
