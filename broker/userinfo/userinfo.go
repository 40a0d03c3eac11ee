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

	"github.com/gatehouse-id/gatehouse/broker/dpop"
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
	// DPoP checks the proofs of DPoP-bound tokens (RFC 9449 7); nil refuses the DPoP scheme.
	DPoP *dpop.Validator
	// URL is this endpoint's URL derived from the issuer: the htu proofs must name.
	URL    string
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
	raw, isDPoP, err := accessToken(w, r)
	if err != nil {
		h.writeError(w, r, err, isDPoP)
		return
	}
	at, g, err := h.Access.Verify(r.Context(), raw)
	if err == nil {
		err = h.checkBinding(r.Context(), r, raw, at, isDPoP)
	}
	if err != nil {
		if e := oauth2err.As(err); e.Code == oauth2err.ServerError {
			h.Logger.ErrorContext(r.Context(), "userinfo", "err", e)
			err = oauth2err.Degrade(r.Context(), e, h.StorageDown)
		}
		h.writeError(w, r, err, isDPoP || at.JKT != "")
		return
	}
	if at.GrantID == "" {
		h.writeError(w, r, oauth2err.New(oauth2err.InvalidToken, "the access token was issued to a client, not a user"), isDPoP)
		return
	}
	if !slices.Contains(at.Scopes, "openid") {
		h.writeError(w, r, oauth2err.New(oauth2err.InsufficientScope, "the access token lacks the openid scope"), isDPoP)
		return
	}
	var asked []string // claims asked for individually at userinfo (claims parameter), as consented
	if g.RequestedClaims != nil {
		asked = g.RequestedClaims.UserInfo
	}
	out := h.Claims.ClaimsWith(g.ClientID, g.Identity, g.Auth, at.Scopes, asked)
	out["sub"] = h.Claims.SubjectFor(g.ClientID, g.Identity.Subject)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(out) //nolint:errcheck // the client went away; nothing to do
}
