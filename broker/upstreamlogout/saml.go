package upstreamlogout

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// handleSAMLSLO is a SAML connector's single logout service. A LogoutResponse (the IdP's
// answer to the LogoutRequest Begin sent) goes on as at /logout/upstream, its RelayState
// being the state. A LogoutRequest (a logout the IdP started) is validated by the connector,
// every Gatehouse session of the upstream sessions (SessionIndex) or user (NameID) it names
// ends as a back-channel logout ends them, and the browser goes back to the IdP with the
// LogoutResponse: Success, or PartialLogout when some SAML service provider of Gatehouse
// could not be told.
func (h *Handler) handleSAMLSLO(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("connector")
	sl, ok := h.slot(id)
	if !ok {
		h.Pages.Error(w, r, http.StatusNotFound, "go.upstream_slo_notfound_heading", "go.upstream_slo_notfound", "")
		return
	}
	if err := r.ParseForm(); err != nil {
		h.Pages.Error(w, r, http.StatusBadRequest, "error.refused.heading", "go.upstream_slo_unreadable", "")
		return
	}
	if r.Form.Get("SAMLResponse") != "" {
		h.handleReturn(w, r)
		return
	}
	rc, ok := sl.Conn.(connectors.LogoutRequestReceiver)
	if !ok || r.Form.Get("SAMLRequest") == "" {
		h.Pages.ErrorArgs(w, r, http.StatusBadRequest, "error.refused.heading", "go.upstream_slo_not_logout", "", map[string]any{"Name": sl.Info.Name})
		return
	}
	cctx, start := sl.Start(ctx, "logout_request")
	req, err := rc.ReadLogoutRequest(cctx, r)
	sl.Done(cctx, "logout_request", start, err)
	if err != nil {
		h.Logger.WarnContext(ctx, "upstream logout request refused", "connector", id, "err", err)
		h.Pages.ErrorArgs(w, r, http.StatusBadRequest, "go.upstream_slo_refused_heading", "go.upstream_slo_refused", "",
			map[string]any{"Name": sl.Info.Name})
		return
	}
	n, complete, err := h.endRequested(ctx, id, req)
	if err != nil {
		h.Pages.Internal(w, r, "end the sessions of an upstream logout request", err)
		return
	}
	h.Logger.InfoContext(ctx, "upstream logout request", "connector", id, "sessions", n, "complete", complete)
	step, err := rc.AnswerLogoutRequest(ctx, req, complete)
	if err != nil {
		h.Pages.Internal(w, r, "answer the upstream logout request", err)
		return
	}
	if step.PostForm != nil {
		vals := url.Values{}
		for k, v := range step.PostForm {
			vals.Set(k, v)
		}
		h.Pages.FormPost(w, r, step.URL, vals)
		return
	}
	http.Redirect(w, r, step.URL, http.StatusSeeOther)
}

// endRequested ends every live session of the request's upstream sessions (or, when it names
// none, of its upstream user); it reports how many ended and whether every SAML service
// provider of theirs was told.
func (h *Handler) endRequested(ctx context.Context, connectorID string, req connectors.UpstreamLogoutRequest) (int, bool, error) {
	sids := req.SessionIDs
	if len(sids) == 0 {
		sids = []string{""} // every session of the user
	}
	n, complete := 0, true
	for _, sid := range sids {
		ids, err := h.Store.SessionsOfUpstream(ctx, connectorID, req.Subject, sid, h.now())
		if err != nil {
			return n, false, fmt.Errorf("list sessions of upstream session: %w", err)
		}
		for _, id := range ids {
			ended, told, err := h.endSession(ctx, id)
			if err != nil {
				return n, false, err
			}
			if ended {
				n++
				complete = complete && told
			}
		}
	}
	return n, complete, nil
}
