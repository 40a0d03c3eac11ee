package forwardauth

import (
	"net/http"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/storage"
)

// handleStart begins the login of a protected app: rd, the URL to return to, must be on a
// configured host (else an error page, never a redirect). The login is the normal flow with
// Protocol forward-auth; Finish sets the cookie and returns to rd.
func (h *Handler) handleStart(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query().Get("rd")
	app, rd, err := h.ParseReturn(raw)
	if err != nil {
		h.Logger.WarnContext(r.Context(), "forward-auth start: return URL refused", "err", err)
		h.refused(r.Context(), audit.Event{Outcome: audit.OutcomeBadReturnURL,
			Detail: map[string]string{"return_host": returnHost(raw), "reason": err.Error()}})
		h.Pages.Error(w, r, http.StatusBadRequest, "Unknown application",
			"The address to return to after signing in is not one of the applications Gatehouse protects.",
			"Open the application's address again.")
		return
	}
	h.Flow.Start(w, r, storage.AuthRequest{
		Protocol: storage.ProtocolForwardAuth, ClientID: ClientID(app.ID), RedirectURI: rd,
		Scopes: []string{"openid"}, MaxAge: -1,
	}, "")
}

// Finish ends a completed login: a forward-auth cookie bound to the SSO session and a
// redirect to the return URL, checked again against the configured hosts. The flow has
// consumed the auth request and checked the session is live.
func (h *Handler) Finish(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest) {
	ctx := r.Context()
	app, rd, err := h.ParseReturn(ar.RedirectURI)
	if err != nil || ClientID(app.ID) != ar.ClientID {
		h.Pages.Expired(w, r)
		return
	}
	sess, ok, err := h.Sessions.Live(ctx, ar.SessionID)
	if err != nil {
		h.Pages.Internal(w, r, "forward-auth session", err)
		return
	}
	if !ok {
		h.Pages.Expired(w, r)
		return
	}
	if err := h.issue(ctx, w, sess); err != nil {
		h.Pages.Internal(w, r, "forward-auth cookie", err)
		return
	}
	h.Logger.InfoContext(ctx, "forward-auth sign-in", "app", app.ID, "sub", ar.Identity.Subject, "connector", ar.Auth.ConnectorID)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, rd, http.StatusSeeOther)
}

// Fail shows a page: a protected app has no protocol to carry an error back.
func (h *Handler) Fail(w http.ResponseWriter, r *http.Request, _ storage.AuthRequest, e *oauth2err.Error) {
	if e.Code != oauth2err.ServerError && e.Description != "" {
		h.Pages.ErrorArgs(w, r, http.StatusBadRequest, "fwd.failed", "fwd.failed_detail", "fwd.retry", map[string]any{"Detail": e.Description})
		return
	}
	h.Pages.Error(w, r, http.StatusBadRequest, "fwd.failed", "fwd.failed_message", "fwd.retry")
}

// Deny renders the access-denied page of a user a policy refuses at the end of the login
// (reason is user-safe), and records the refusal with the URL the user was going to.
func (h *Handler) Deny(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, reason string) {
	detail := map[string]string{"reason": reason}
	if o, err := parseAbsolute(ar.RedirectURI); err == nil {
		detail["host"], detail["path"] = o.URL.Host, o.Path
		if app, err := h.app(o.URL); err == nil {
			detail["app"] = app.ID
		}
	}
	h.refused(r.Context(), audit.Event{Outcome: audit.OutcomeDenied, User: ar.Identity.Subject, ConnectorID: ar.Auth.ConnectorID,
		ClientID: ar.ClientID, Detail: detail})
	h.Pages.ErrorArgs(w, r, http.StatusForbidden, "denied.heading", "fwd.denied", "fwd.ask", map[string]any{"Reason": reason})
}
