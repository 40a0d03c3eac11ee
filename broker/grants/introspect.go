package grants

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/opaque"
)

// serveIntrospect is token introspection (RFC 7662), for confidential clients. A client
// learns about tokens issued to it or intended for it; anything else is reported inactive.
func (h *Handler) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		oauth2err.WriteJSON(w, r, err)
		return
	}
	c, err := h.authenticateClient(r)
	if err == nil && c.Public {
		err = oauth2err.New(oauth2err.InvalidClient, "public clients may not introspect tokens")
	}
	if err != nil {
		oauth2err.WriteJSON(w, r, err)
		return
	}
	tok := r.PostFormValue("token")
	if tok == "" {
		oauth2err.WriteJSON(w, r, oauth2err.New(oauth2err.InvalidRequest, "token is missing"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	inactive := []byte(`{"active":false}` + "\n")
	ctx := r.Context()
	if at, g, err := h.Access.Verify(ctx, tok); err == nil {
		owner := g.ClientID
		if at.GrantID == "" {
			owner = at.ClientID // client_credentials: no grant
		}
		// A token exchanged by c (RFC 8693) keeps the user's grant, another client's.
		if owner != c.ID && at.ClientID != c.ID && !slices.Contains(at.Audience, c.ID) {
			_, _ = w.Write(inactive)
			return
		}
		out := map[string]any{
			"active": true, "token_type": tokenType(at.JKT), "scope": strings.Join(at.Scopes, " "), "client_id": at.ClientID,
			"sub": at.Subject, "aud": at.Audience, "iss": h.Issuer, "exp": at.Expiry.Unix(), "jti": at.ID,
		}
		if at.JKT != "" { // RFC 9449 6.2: the resource server checks the proof against it
			out["cnf"] = map[string]string{"jkt": at.JKT}
		}
		if u := g.Identity.PreferredUsername; u != "" { // none for a client_credentials token
			out["username"] = u
		}
		_ = json.NewEncoder(w).Encode(out) //nolint:errcheck // the client went away; nothing to do
		return
	} else if e := oauth2err.As(err); e.Code == oauth2err.ServerError {
		h.Logger.ErrorContext(r.Context(), "introspection", "err", e)
		oauth2err.WriteJSON(w, r, oauth2err.Degrade(ctx, e, h.StorageDown))
		return
	}
	rt, err := h.Grants.GetRefreshToken(ctx, opaque.Hash(tok))
	if err != nil || !rt.UsedAt.IsZero() || !h.Now().Before(rt.IdleExpiry) {
		_, _ = w.Write(inactive)
		return
	}
	g, err := h.Grants.GetGrant(ctx, rt.GrantID)
	if err != nil || g.Revoked || g.ClientID != c.ID || !h.Now().Before(g.AbsoluteExpiry) {
		_, _ = w.Write(inactive)
		return
	}
	exp := rt.IdleExpiry
	if g.AbsoluteExpiry.Before(exp) {
		exp = g.AbsoluteExpiry
	}
	_ = json.NewEncoder(w).Encode(map[string]any{ //nolint:errcheck // the client went away; nothing to do
		"active": true, "token_type": "refresh_token", "scope": strings.Join(g.Scopes, " "), "client_id": g.ClientID,
		"sub": h.Claims.SubjectFor(g.ClientID, g.Identity.Subject), "iss": h.Issuer, "exp": exp.Unix(), "iat": rt.CreatedAt.Unix(),
	})
}
