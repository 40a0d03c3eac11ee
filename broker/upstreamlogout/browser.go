package upstreamlogout

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/opaque"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/web"
)

// pendingTTL is how long a browser may take at the upstream's logout to come back.
const pendingTTL = 10 * time.Minute

// ReturnPath is where the upstream sends the browser back after its logout (registered at
// the upstream as a post_logout_redirect_uri).
const ReturnPath = "/logout/upstream"

func pendingKey(state string) string { return "upstream-logout/" + state }

// pending is what an upstream logout's state stands for: where the logout goes on to, which
// connector was asked, and what its LogoutStep stashed for FinishLogout.
type pending struct {
	Continue  string `json:"continue,omitempty"`
	Connector string `json:"connector"`
	Stash     []byte `json:"stash,omitempty"`
}

// BeginNotice is called by a Gatehouse logout once sess has ended (and before the SAML chain and
// the OIDC front-channel page run): when sess's connector is configured with logout:
// upstream, it returns the upstream's logout URL to send the browser to once the rest of the
// logout is done; the upstream comes back to ReturnPath, which goes on to returnTo ("": the
// signed-out page). The state it passes is single-use and names returnTo. next is "" when
// nothing is to be done upstream; notice then says why the upstream could not be asked, as a
// catalog message carrying the connector's name (nil when it was not to be asked), so the
// page shows it in the user's language.
func (h *Handler) BeginNotice(ctx context.Context, sess storage.Session, returnTo string) (next string, notice *web.Message) {
	sl, ok := h.slot(sess.Auth.ConnectorID)
	if !ok {
		return "", nil
	}
	name := sl.Info.Name
	unreachable := web.Msg("go.upstream_logout_unreachable", "Name", name)
	lc, ok := sl.Conn.(connectors.UpstreamLogoutConnector)
	if !ok {
		return "", unreachable
	}
	state := opaque.ID()
	cctx, start := sl.Start(ctx, "logout")
	step, err := lc.LogoutStep(cctx, connectors.LogoutRequest{
		Upstream:  connectors.Upstream{Subject: sess.Auth.UpstreamSubject, SessionID: sess.Auth.UpstreamSessionID, Stash: sess.Auth.ConnectorData},
		ReturnURL: strings.TrimSuffix(h.Issuer, "/") + ReturnPath, State: state,
	})
	sl.Done(cctx, "logout", start, err)
	switch {
	case errors.Is(err, connectors.ErrNoUpstreamLogout):
		h.Logger.WarnContext(ctx, "upstream logout: the upstream offers no logout", "connector", sl.Info.ID)
		return "", web.Msg("go.upstream_logout_none", "Name", name)
	case err != nil:
		h.Logger.WarnContext(ctx, "upstream logout: ask the upstream", "connector", sl.Info.ID, "err", err)
		return "", unreachable
	case step.PostForm != nil || step.URL == "":
		h.Logger.WarnContext(ctx, "upstream logout: the connector's logout is not a redirect", "connector", sl.Info.ID)
		return "", unreachable
	}
	b, _ := json.Marshal(pending{Continue: returnTo, Connector: sl.Info.ID, Stash: step.Stash}) //nolint:errcheck // strings and bytes only: cannot fail
	if err := h.Store.PutBlob(ctx, storage.Blob{Key: pendingKey(state), Value: b, Expiry: h.now().Add(pendingTTL)}); err != nil {
		h.Logger.WarnContext(ctx, "upstream logout: keep its state", "connector", sl.Info.ID, "err", err)
		return "", unreachable
	}
	return step.URL, nil
}

// handleReturn takes the browser on after the upstream's logout: the state (OIDC state, SAML
// RelayState) is taken once from storage, the connector checks the upstream's answer (a SAML
// LogoutResponse), and the browser goes where the logout was going, or sees the signed-out
// page.
func (h *Handler) handleReturn(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		h.Pages.Error(w, r, http.StatusBadRequest, "Request refused", "The sign-out request could not be read.", "")
		return
	}
	state := r.Form.Get("state")
	if state == "" {
		state = r.Form.Get("RelayState")
	}
	if state == "" || len(state) > 64 {
		h.unknown(w, r)
		return
	}
	b, err := h.Store.TakeBlob(ctx, pendingKey(state), h.now())
	if errors.Is(err, storage.ErrNotFound) {
		h.unknown(w, r)
		return
	}
	if err != nil {
		h.Pages.Internal(w, r, "load upstream logout state", err)
		return
	}
	var p pending
	if err := json.Unmarshal(b, &p); err != nil {
		h.Pages.Internal(w, r, "decode upstream logout state", err)
		return
	}
	name := p.Connector
	confirmed := false
	if sl, ok := h.slot(p.Connector); ok {
		name = sl.Info.Name
		if lc, ok := sl.Conn.(connectors.UpstreamLogoutConnector); ok {
			err := lc.FinishLogout(ctx, p.Stash, r)
			if err != nil {
				h.Logger.WarnContext(ctx, "upstream logout: the upstream did not confirm", "connector", p.Connector, "err", err)
			}
			confirmed = err == nil
		}
	}
	if !confirmed {
		h.Pages.ErrorArgs(w, r, http.StatusOK, "go.upstream_signed_out_heading", "go.upstream_unconfirmed",
			"go.upstream_sign_out_there", map[string]any{"Name": name})
		return
	}
	h.Logger.InfoContext(ctx, "upstream logout done", "connector", p.Connector)
	if p.Continue != "" {
		http.Redirect(w, r, p.Continue, http.StatusSeeOther)
		return
	}
	h.Pages.ErrorArgs(w, r, http.StatusOK, "loggedout.heading", "go.upstream_signed_out_both", "logoutdone.close", map[string]any{"Name": name})
}

// unknown answers a return whose state is missing, unknown or already used.
func (h *Handler) unknown(w http.ResponseWriter, r *http.Request) {
	h.Pages.Error(w, r, http.StatusBadRequest, "go.upstream_unknown_heading", "go.upstream_unknown", "")
}
