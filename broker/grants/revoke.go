package grants

import (
	"errors"
	"net/http"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/opaque"
	"github.com/gatehouse-id/gatehouse/storage"
)

// serveRevoke is token revocation (RFC 7009). Revoking either token of a grant revokes the
// whole grant: its refresh token and every access token issued with it.
func (h *Handler) serveRevoke(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		oauth2err.WriteJSON(w, r, err)
		return
	}
	c, err := h.authenticateClient(r)
	if err != nil {
		oauth2err.WriteJSON(w, r, err)
		return
	}
	tok := r.PostFormValue("token")
	if tok == "" {
		oauth2err.WriteJSON(w, r, oauth2err.New(oauth2err.InvalidRequest, "token is missing"))
		return
	}
	hint := r.PostFormValue("token_type_hint")
	ctx := r.Context()
	now := h.Now().UTC()
	grantID := ""
	tryRefresh := func() bool {
		rt, err := h.Grants.GetRefreshToken(ctx, opaque.Hash(tok))
		if err != nil {
			return false
		}
		grantID = rt.GrantID
		return true
	}
	tryAccess := func() bool {
		at, err := h.Minter.VerifyAccessToken(tok)
		if err != nil {
			return false
		}
		grantID = at.GrantID
		return true
	}
	if hint == "access_token" {
		_ = tryAccess() || tryRefresh()
	} else {
		_ = tryRefresh() || tryAccess()
	}
	if grantID != "" {
		g, err := h.Grants.GetGrant(ctx, grantID)
		switch {
		case err == nil && g.ClientID == c.ID:
			if err := h.Grants.RevokeGrant(ctx, grantID, now); err != nil {
				h.Logger.ErrorContext(r.Context(), "revoke grant", "err", err)
				oauth2err.WriteJSON(w, r, oauth2err.Server(err))
				return
			}
			h.Logger.InfoContext(r.Context(), "tokens revoked", "client_id", c.ID, "grant", grantID)
			h.Audit.Record(ctx, tokenEvent(audit.TokenRevoked, "", g))
		case err == nil:
			// RFC 7009 2.1: a client may only revoke its own tokens; the request is refused
			// and the client told.
			h.Logger.WarnContext(r.Context(), "client tried to revoke another client's token", "client_id", c.ID)
			oauth2err.WriteJSON(w, r, &oauth2err.Error{Code: oauth2err.UnauthorizedClient,
				Description: "the token was not issued to this client", Status: http.StatusBadRequest})
			return
		case !errors.Is(err, storage.ErrNotFound):
			oauth2err.WriteJSON(w, r, oauth2err.Server(err))
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
