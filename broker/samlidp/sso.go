package samlidp

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/opaque"
	"github.com/gatehouse-id/gatehouse/mfa"
	"github.com/gatehouse-id/gatehouse/storage"
)

const (
	// parkedTTL bounds a POST-binding request parked until the browser comes back with a GET.
	parkedTTL = 2 * time.Minute
	// maxMessage bounds the body of a request carrying a SAML message (signed, base64 XML).
	maxMessage = 256 << 10
)

// scopes are the scopes a SAML login grants, so the claims pipeline emits what attributes
// need.
var scopes = []string{"openid", "profile", "email", "groups"}

// refused is the page for a request Gatehouse will not answer (never a response sent
// elsewhere).
func (h *Handler) refused(w http.ResponseWriter, r *http.Request, err error) {
	var re *RequestError
	reason := "the sign-in request is not valid"
	if errors.As(err, &re) {
		reason = re.Reason
	}
	h.Logger.WarnContext(r.Context(), "saml request refused", "err", err)
	h.Pages.ErrorArgs(w, r, http.StatusBadRequest, "go.request_refused", "go.saml_refused", "go.app_config",
		map[string]any{"Reason": reason})
}

// handleSSO is the single sign-on service: HTTP-Redirect (GET) and HTTP-POST bindings.
// A POST is validated, parked as a short-lived auth request and redirected (303) to a GET
// of this endpoint, which the browser sends with its SameSite=Lax SSO cookie.
func (h *Handler) handleSSO(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Query().Has("pending") {
		h.resume(w, r, r.URL.Query().Get("pending"))
		return
	}
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxMessage)
	}
	areq, err := h.IdP.ParseAuthnRequest(r)
	if err != nil {
		h.refused(w, r, err)
		return
	}
	if r.Method == http.MethodPost {
		h.park(w, r, areq)
		return
	}
	h.start(w, r, areq)
}

// park stores a POST-binding request (without touching cookies: a cross-site POST carries
// none of the Lax ones) and sends the browser to GET it back.
func (h *Handler) park(w http.ResponseWriter, r *http.Request, areq *AuthnRequest) {
	now := h.Now().UTC()
	ar := authRequestOf(areq)
	ar.ID, ar.CreatedAt, ar.Expiry = opaque.ID(), now, now.Add(parkedTTL)
	ar.SAML.Parked = true
	if err := h.AuthRequests.CreateAuthRequest(r.Context(), ar); err != nil {
		h.Pages.Internal(w, r, "park saml request", err)
		return
	}
	http.Redirect(w, r, h.Pages.Rel("/saml/idp/sso?pending="+url.QueryEscape(ar.ID)), http.StatusSeeOther)
}

// resume takes a parked request back (once) and starts its flow.
func (h *Handler) resume(w http.ResponseWriter, r *http.Request, id string) {
	ctx := r.Context()
	if id == "" || len(id) > 64 {
		h.Pages.Expired(w, r)
		return
	}
	ar, err := h.AuthRequests.GetAuthRequest(ctx, id)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.Pages.Internal(w, r, "load parked saml request", err)
		return
	}
	if err != nil || ar.Protocol != storage.ProtocolSAML || ar.SAML == nil || !ar.SAML.Parked || !h.Now().Before(ar.Expiry) {
		h.Pages.Expired(w, r)
		return
	}
	// Taken once: of two tabs resuming one parked request, one deletes it and goes on.
	if err := h.AuthRequests.DeleteAuthRequest(ctx, id); errors.Is(err, storage.ErrNotFound) {
		h.Pages.Expired(w, r) // another tab took it
		return
	} else if err != nil {
		h.Pages.Internal(w, r, "take parked saml request", err)
		return
	}
	areq, ok := h.requestOf(r.Context(), ar)
	if !ok {
		h.Pages.Expired(w, r)
		return
	}
	h.start(w, r, areq)
}

// handleInit is an IdP-initiated login link: {issuer}/saml/idp/init/{sp}?RelayState=...
func (h *Handler) handleInit(w http.ResponseWriter, r *http.Request) {
	relay := r.URL.Query().Get("RelayState")
	if len(relay) > 1024 {
		h.Pages.Error(w, r, http.StatusBadRequest, "Sign-in request refused", "The RelayState is too long.", "")
		return
	}
	areq, err := h.IdP.IdPInitiated(r.Context(), r.PathValue("sp"), relay)
	if err != nil {
		h.refused(w, r, err)
		return
	}
	h.start(w, r, areq)
}

// start hands a validated AuthnRequest to the login flow, unless what it asks of the
// assertion (NameIDPolicy, RequestedAuthnContext) cannot be given: that is answered at once.
func (h *Handler) start(w http.ResponseWriter, r *http.Request, areq *AuthnRequest) {
	needMFA, err := h.IdP.CheckRequest(areq, h.MFAAvailable)
	if err != nil {
		h.policyError(w, r, areq, err)
		return
	}
	ar := authRequestOf(areq)
	if needMFA {
		// Only a multi-factor login satisfies the RequestedAuthnContext: ask for one as
		// acr_values would.
		ar.ACRValues = []string{mfa.ACRMFA}
	}
	h.Logger.InfoContext(r.Context(), "saml authn request", "sp", areq.SP.ID, "request_id", areq.ID,
		"force_authn", areq.ForceAuthn, "passive", areq.IsPassive)
	h.Flow.Start(w, r, ar, "")
}

// authRequestOf maps an AuthnRequest to the auth request of its login: the SP's
// pseudo-client, ForceAuthn as prompt "login", IsPassive as prompt "none", and the SAML side
// in ar.SAML. The flow sets the ID, the browser binding and the times.
func authRequestOf(areq *AuthnRequest) storage.AuthRequest {
	var prompt []string
	if areq.ForceAuthn {
		prompt = append(prompt, "login")
	}
	if areq.IsPassive {
		prompt = append(prompt, "none")
	}
	return storage.AuthRequest{
		Protocol: storage.ProtocolSAML, ClientID: ClientID(areq.SP.ID),
		SAML: &storage.SAMLRequest{SP: areq.SP.ID, RequestID: areq.ID, ACSURL: areq.ACSURL,
			RelayState: areq.RelayState, Policy: areq.Policy()},
		Scopes: slices.Clone(scopes), Prompt: prompt, MaxAge: -1,
	}
}

// requestOf rebuilds the AuthnRequest an auth request answers; false when its SP is gone
// (or cannot be read: logged).
func (h *Handler) requestOf(ctx context.Context, ar storage.AuthRequest) (*AuthnRequest, bool) {
	if ar.Protocol != storage.ProtocolSAML || ar.SAML == nil {
		return nil, false
	}
	sp, err := h.IdP.LookupServiceProvider(ctx, ar.SAML.SP)
	if err != nil {
		h.Logger.ErrorContext(ctx, "saml: look up the service provider of a login", "sp", ar.SAML.SP, "err", err)
	}
	if sp == nil {
		return nil, false
	}
	areq := &AuthnRequest{SP: sp, ID: ar.SAML.RequestID, ACSURL: ar.SAML.ACSURL, RelayState: ar.SAML.RelayState,
		ForceAuthn: slices.Contains(ar.Prompt, "login"), IsPassive: slices.Contains(ar.Prompt, "none")}
	if err := areq.SetPolicy(ar.SAML.Policy); err != nil {
		return nil, false
	}
	return areq, true
}

// policyError answers a request whose NameIDPolicy or RequestedAuthnContext cannot be
// satisfied with InvalidNameIDPolicy or NoAuthnContext; any other error is internal.
func (h *Handler) policyError(w http.ResponseWriter, r *http.Request, areq *AuthnRequest, err error) {
	switch {
	case errors.Is(err, ErrNoEmail):
		h.errorResponse(w, r, areq, StatusInvalidNameIDPolicy, "the user has no verified email address")
	case errors.Is(err, ErrInvalidNameIDPolicy):
		h.Logger.InfoContext(r.Context(), "saml request refused", "sp", areq.SP.ID, "err", err)
		h.errorResponse(w, r, areq, StatusInvalidNameIDPolicy, "the requested NameID format cannot be provided")
	case errors.Is(err, ErrNoAuthnContext):
		h.Logger.InfoContext(r.Context(), "saml request refused", "sp", areq.SP.ID, "err", err)
		h.errorResponse(w, r, areq, StatusNoAuthnContext, "the requested authentication context cannot be provided")
	default:
		h.Pages.Internal(w, r, "saml request policy", err)
	}
}

// errorResponse posts a SAML error Response (status Responder/second) to the SP.
func (h *Handler) errorResponse(w http.ResponseWriter, r *http.Request, areq *AuthnRequest, second, message string) {
	resp, err := h.IdP.BuildErrorResponse(r.Context(), areq, second, message)
	if err != nil {
		h.Pages.Internal(w, r, "saml error response", err)
		return
	}
	h.Logger.InfoContext(r.Context(), "saml error response", "sp", areq.SP.ID, "status", second)
	h.Pages.FormPost(w, r, resp.URL, resp.fields())
}

// fields are the form fields of the Response's POST binding.
func (resp *Response) fields() url.Values {
	v := url.Values{"SAMLResponse": {resp.SAMLResponse}}
	if resp.RelayState != "" {
		v.Set("RelayState", resp.RelayState)
	}
	return v
}
