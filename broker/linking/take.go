package linking

import (
	"errors"
	"net/http"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/claims"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// TakeUpstream ends a link flow (authflow.UpstreamTaker): the auth request is consumed; the
// binding is taken once; the session it was bound to must still be live and the user's, and
// be the browser's current one when the browser sent its SSO cookie (a form_post callback
// is a cross-site POST without it: the flow cookie, checked by authflow, proves the
// browser). Then the upstream account is linked to that user, or the refusal is shown with
// nothing changed.
func (h *Handler) TakeUpstream(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, connectorID string, up connectors.Upstream) {
	ctx := r.Context()
	if ar.Protocol != storage.ProtocolLink || ar.ClientID != ClientID || ar.ConnectorID != connectorID {
		h.Pages.Expired(w, r)
		return
	}
	b, err := h.takeBinding(r, ar.ID)
	if errors.Is(err, errBindingGone) {
		h.Logger.InfoContext(ctx, "link flow ended twice or expired; nothing linked", "connector", connectorID)
		h.Pages.Expired(w, r)
		return
	}
	if err != nil {
		h.Pages.Internal(w, r, "take link binding", err)
		return
	}
	if ok, err := h.bound(r, b); err != nil {
		h.Pages.Internal(w, r, "load session of link", err)
		return
	} else if !ok {
		h.Logger.WarnContext(ctx, "link refused: the session ended or changed during the flow", "connector", connectorID, "sub", b.UserID)
		h.record(r, audit.AccountLink, audit.OutcomeSessionChanged, b.UserID, connectorID, nil)
		h.Pages.Error(w, r, http.StatusConflict, "links.refused.heading", "links.session_changed", "links.back")
		return
	}
	_, err = h.Claims.LinkUpstream(ctx, connectorID, up, b.UserID)
	var denied *connectors.DeniedError
	switch {
	case err == nil:
		h.Logger.InfoContext(ctx, "login linked", "connector", connectorID, "sub", b.UserID)
		h.record(r, audit.AccountLink, audit.OutcomeSuccess, b.UserID, connectorID, nil)
		http.Redirect(w, r, h.accountPath("linked"), http.StatusSeeOther)
	case errors.Is(err, claims.ErrAlreadyLinked):
		http.Redirect(w, r, h.accountPath("already"), http.StatusSeeOther)
	case errors.Is(err, claims.ErrLinkedToAnotherUser):
		h.Logger.WarnContext(ctx, "link refused: the upstream account belongs to another user", "connector", connectorID, "sub", b.UserID)
		h.record(r, audit.AccountLink, audit.OutcomeLinkedElsewhere, b.UserID, connectorID, nil)
		h.Pages.Error(w, r, http.StatusConflict, "links.refused.heading", "links.elsewhere", "links.elsewhere_hint")
	case errors.As(err, &denied):
		h.record(r, audit.AccountLink, audit.OutcomeDenied, b.UserID, connectorID, map[string]string{"reason": denied.Reason})
		h.Pages.ErrorArgs(w, r, http.StatusForbidden, "links.refused.heading", "links.denied", "links.back",
			map[string]any{"Reason": denied.Reason})
	default:
		h.Pages.Internal(w, r, "link upstream account", err)
	}
}

// bound reports whether the flow's binding still holds: its session live and the user's,
// and the request's own SSO session (when it carries one) that same session.
func (h *Handler) bound(r *http.Request, b binding) (bool, error) {
	sess, live, err := h.Sessions.Live(r.Context(), b.SessionID)
	if err != nil || !live || sess.Identity.Subject != b.UserID {
		return false, err
	}
	cur, has, err := h.Sessions.Current(r.Context(), r)
	if err != nil {
		return false, err
	}
	return !has || cur.ID == b.SessionID, nil
}

// Finish is never reached: a link flow ends in TakeUpstream. A request that got here anyway
// is refused as expired.
func (h *Handler) Finish(w http.ResponseWriter, r *http.Request, _ storage.AuthRequest) {
	h.Pages.Expired(w, r)
}

// Fail shows why the connector's login did not complete; nothing was linked.
func (h *Handler) Fail(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, e *oauth2err.Error) {
	h.Logger.InfoContext(r.Context(), "link flow failed; nothing linked", "connector", ar.ConnectorID, "err", e.Code)
	h.dropBinding(r, ar.ID)
	h.Pages.Error(w, r, http.StatusBadRequest, "links.refused.heading", "links.failed", "links.back")
}

// Deny shows the reason a policy refused the upstream account; nothing was linked.
func (h *Handler) Deny(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, reason string) {
	h.dropBinding(r, ar.ID)
	h.Pages.ErrorArgs(w, r, http.StatusForbidden, "links.refused.heading", "links.denied", "links.back", map[string]any{"Reason": reason})
}

// dropBinding takes (and discards) the binding of a flow that ended without a link; a
// failure is logged: the binding then expires on its own, and its auth request is gone.
func (h *Handler) dropBinding(r *http.Request, authRequestID string) {
	if _, err := h.takeBinding(r, authRequestID); err != nil && !errors.Is(err, errBindingGone) {
		h.Logger.WarnContext(r.Context(), "drop link binding; it expires on its own", "err", err)
	}
}
