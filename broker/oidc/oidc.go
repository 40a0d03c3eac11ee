// Package oidc owns the OpenID Connect side of a browser login: the authorization endpoint
// (RFC 6749 4.1.1, OIDC Core 3.1.2), which validates a request and hands it to the
// protocol-neutral login (broker/authflow) through Start, and the OIDC responder that ends
// such a flow: an authorization code (storage.AuthCode, redeemed at the token endpoint) or an
// error, delivered to the client's redirect URI by query or form_post with state and iss.
package oidc

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/authreq"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/opaque"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/broker/route"
	"github.com/gatehouse-id/gatehouse/internal/logctx"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/tokens"
)

// Starter begins a login for a validated request (authflow.Flow.Start).
type Starter interface {
	Start(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, hintSubject string)
}

// HintVerifier checks an id_token_hint (tokens.Minter).
type HintVerifier interface {
	VerifyIDTokenHint(token string) (tokens.IDTokenHint, error)
}

// ParticipantRecorder records that a client took part in an SSO session (the part of
// storage.LogoutStore the responder uses).
type ParticipantRecorder interface {
	AddParticipant(ctx context.Context, p storage.Participant) error
}

// Deps is what the OIDC handler needs.
type Deps struct {
	// Issuer is sent as iss with every authorization response (RFC 9207).
	Issuer  string
	Clients *clients.Registry
	// KnownScope reports whether a scope may be requested (claims.Normalizer.KnownScope).
	KnownScope func(string) bool
	Hints      HintVerifier
	Codes      storage.CodeStore
	Pages      *pages.Renderer
	Flow       Starter
	// CodeLifetime is how long an authorization code may be redeemed.
	CodeLifetime time.Duration
	// Pushed takes pushed authorization requests (RFC 9126) named by request_uri; nil:
	// request_uri is not supported.
	Pushed *authreq.Pushed
	// RequestObjects verifies request objects (RFC 9101) sent as request; nil: refused.
	RequestObjects *authreq.RequestObjects
	// RequirePAR refuses authorization requests that were not pushed, from every client
	// (clients.Client.RequirePAR asks it of one).
	RequirePAR bool
	// Participants records the clients of each SSO session for single logout
	// (storage.LogoutStore); nil: none are recorded, and logout tells no client.
	Participants ParticipantRecorder
	// SessionLifetime bounds how long a participant record is kept (the SSO session's
	// absolute lifetime).
	SessionLifetime time.Duration
	Logger          *slog.Logger
	Now             func() time.Time
}

// Handler serves the authorization endpoint and ends OIDC flows (authflow.Responder).
type Handler struct {
	Deps
}

// New builds the handler.
func New(d Deps) *Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Handler{Deps: d}
}

// Mount registers GET and POST /authorize. Relying parties may POST authorization requests
// from their own origin (OIDC Core 3.1.2.1), so the endpoint is not cross-origin protected;
// it changes no state without a CSRF-checked form.
func (h *Handler) Mount(m *route.Mux) {
	m.Page("GET /authorize", h.handleAuthorize)
	m.Page("POST /authorize", h.handleAuthorize)
}

// handleAuthorize is the authorization endpoint (RFC 6749 4.1.1, OIDC Core 3.1.2).
func (h *Handler) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		h.redirectError(w, r, "", "", "", &oauth2err.Error{Code: oauth2err.InvalidRequest, Description: "malformed request", NoRedirect: true})
		return
	}
	form := r.Form
	if r.Method == http.MethodPost {
		form = r.PostForm
	}
	form, pushed, err := h.resolve(r, form)
	if err != nil {
		h.redirectError(w, r, "", "", "", err)
		return
	}
	req, client, err := authreq.Parse(form, h.Clients, h.KnownScope)
	if err != nil {
		h.redirectError(w, r, req.RedirectURI, req.ResponseMode, req.State, err)
		return
	}
	logctx.Add(r.Context(), "client_id", client.ID)
	if !pushed && (h.RequirePAR || client.RequirePAR) {
		h.redirectError(w, r, req.RedirectURI, req.ResponseMode, req.State,
			oauth2err.New(oauth2err.InvalidRequest, "authorization requests must be pushed to the pushed authorization request endpoint first"))
		return
	}

	// id_token_hint names the user the client expects.
	hintSub := ""
	if req.IDTokenHint != "" {
		hint, err := h.Hints.VerifyIDTokenHint(req.IDTokenHint)
		if err != nil || hint.Audience != client.ID {
			h.redirectError(w, r, req.RedirectURI, req.ResponseMode, req.State, oauth2err.New(oauth2err.InvalidRequest, "id_token_hint is not valid"))
			return
		}
		hintSub = hint.Subject
	}
	h.Flow.Start(w, r, storage.AuthRequest{
		Protocol: storage.ProtocolOIDC, ClientID: client.ID, RedirectURI: req.RedirectURI,
		ResponseType: req.ResponseType, ResponseMode: req.ResponseMode, Scopes: req.Scopes, State: req.State,
		Nonce: req.Nonce, CodeChallenge: req.CodeChallenge, CodeChallengeMethod: req.CodeChallengeMethod,
		Prompt: req.Prompt, MaxAge: req.MaxAge, LoginHint: req.LoginHint, ConnectorID: req.ConnectorID,
		ACRValues: req.ACRValues, DPoPJKT: req.DPoPJKT, Resources: req.Resources, UILocales: req.UILocales,
		RequestedClaims: req.RequestedClaims(),
	}, hintSub)
}

// Finish issues the authorization code of a completed flow and sends the browser back to
// the client. The flow has consumed the auth request.
func (h *Handler) Finish(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest) {
	code := opaque.Token()
	now := h.Now().UTC()
	ac := storage.AuthCode{
		Hash: opaque.Hash(code), ClientID: ar.ClientID, RedirectURI: ar.RedirectURI, Scopes: ar.Scopes,
		Nonce: ar.Nonce, CodeChallenge: ar.CodeChallenge, CodeChallengeMethod: ar.CodeChallengeMethod,
		Identity: ar.Identity, Auth: ar.Auth, SessionID: ar.SessionID, GrantID: opaque.ID(),
		CreatedAt: now, Expiry: now.Add(h.CodeLifetime), DPoPJKT: ar.DPoPJKT, Resources: ar.Resources,
		RequestedClaims: ar.RequestedClaims, // narrowed to what the user consented to (authflow)
	}
	// The client takes part in the session before it can hold a token of it, so that a
	// logout from now on tells it.
	if h.Participants != nil && ar.SessionID != "" {
		p := storage.Participant{SessionID: ar.SessionID, ClientID: ar.ClientID, Subject: ar.Identity.Subject,
			CreatedAt: now, Expiry: now.Add(max(h.SessionLifetime, h.CodeLifetime))}
		if err := h.Participants.AddParticipant(r.Context(), p); err != nil {
			h.redirectError(w, r, ar.RedirectURI, ar.ResponseMode, ar.State, oauth2err.Server(err))
			return
		}
	}
	if err := h.Codes.CreateAuthCode(r.Context(), ac); err != nil {
		h.redirectError(w, r, ar.RedirectURI, ar.ResponseMode, ar.State, oauth2err.Server(err))
		return
	}
	h.Logger.InfoContext(r.Context(), "authorization code issued", "client_id", ar.ClientID, "sub", ar.Identity.Subject, "connector", ar.Auth.ConnectorID)
	h.respond(w, r, ar.RedirectURI, ar.ResponseMode, ar.State, url.Values{"code": {code}})
}

// Fail sends the error to the client's redirect URI (or shows it when it must not be
// redirected).
func (h *Handler) Fail(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, err *oauth2err.Error) {
	h.redirectError(w, r, ar.RedirectURI, ar.ResponseMode, ar.State, err)
}

// Deny shows why a signed-in user may not use the client.
func (h *Handler) Deny(w http.ResponseWriter, r *http.Request, _ storage.AuthRequest, reason string) {
	h.Pages.ErrorArgs(w, r, http.StatusForbidden, "denied.heading", "go.app_denied", "denied.ask", map[string]any{"Reason": reason})
}

// redirectError sends an authorization error to the client, or shows it when it must not be
// redirected.
func (h *Handler) redirectError(w http.ResponseWriter, r *http.Request, redirectURI, responseMode, state string, err error) {
	e := oauth2err.As(err)
	if e.Code == oauth2err.ServerError {
		h.Logger.ErrorContext(r.Context(), "authorization request failed", "err", e)
	} else {
		h.Logger.InfoContext(r.Context(), "authorization request refused", "err", e)
	}
	if e.NoRedirect || redirectURI == "" {
		h.Pages.ErrorArgs(w, r, http.StatusBadRequest, "go.request_refused", "go.invalid_request", "go.app_config",
			map[string]any{"Detail": e.Description})
		return
	}
	params := url.Values{"error": {string(e.Code)}}
	if e.Description != "" {
		params.Set("error_description", e.Description)
	}
	h.respond(w, r, redirectURI, responseMode, state, params)
}

// respond delivers authorization response parameters (plus state and iss) to the client's
// redirect URI with the response mode.
func (h *Handler) respond(w http.ResponseWriter, r *http.Request, redirectURI, responseMode, state string, params url.Values) {
	if state != "" {
		params.Set("state", state)
	}
	params.Set("iss", h.Issuer)
	if responseMode == "form_post" {
		h.Pages.FormPost(w, r, redirectURI, params)
		return
	}
	u, err := url.Parse(redirectURI)
	if err != nil {
		h.Pages.Internal(w, r, "parse redirect uri", err)
		return
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}
