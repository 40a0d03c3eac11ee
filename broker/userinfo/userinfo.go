// Package userinfo owns the OpenID Connect UserInfo endpoint (OIDC Core 5.3) and the access
// token check behind it: bearer token parsing (RFC 6750), the Verifier (signature, expiry, a
// live grant) with its cache of verified tokens, which introspection in broker/grants shares.
package userinfo

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"

	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/route"
	"github.com/gatehouse-id/gatehouse/claims"
)

// Handler serves the UserInfo endpoint.
type Handler struct {
	// Access verifies the presented access token and reads its grant.
	Access *Verifier
	// Claims releases the user's claims for the token's scopes and client.
	Claims *claims.Normalizer
	Logger *slog.Logger
	// StorageDown reports whether storage is unreachable right now: a server_error then
	// becomes 503 temporarily_unavailable.
	StorageDown func(context.Context) bool
}

// Mount registers GET and POST /userinfo as API routes.
func (h *Handler) Mount(m *route.Mux) {
	m.API("GET /userinfo", h.serveUserinfo)
	m.API("POST /userinfo", h.serveUserinfo)
}

// serveUserinfo is the OIDC UserInfo endpoint (OIDC Core 5.3).
func (h *Handler) serveUserinfo(w http.ResponseWriter, r *http.Request) {
	raw, err := BearerToken(w, r)
	if err != nil {
		oauth2err.WriteBearer(w, err)
		return
	}
	at, g, err := h.Access.Verify(r.Context(), raw)
	if err != nil {
		if e := oauth2err.As(err); e.Code == oauth2err.ServerError {
			h.Logger.ErrorContext(r.Context(), "userinfo", "err", e)
			err = oauth2err.Degrade(r.Context(), e, h.StorageDown)
		}
		oauth2err.WriteBearer(w, err)
		return
	}
	if at.GrantID == "" {
		oauth2err.WriteBearer(w, oauth2err.New(oauth2err.InvalidToken, "the access token was issued to a client, not a user"))
		return
	}
	if !slices.Contains(at.Scopes, "openid") {
		oauth2err.WriteBearer(w, oauth2err.New(oauth2err.InsufficientScope, "the access token lacks the openid scope"))
		return
	}
	out := h.Claims.Claims(g.ClientID, g.Identity, g.Auth, at.Scopes)
	out["sub"] = h.Claims.SubjectFor(g.ClientID, g.Identity.Subject)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(out) //nolint:errcheck // the client went away; nothing to do
}
