package grants

import (
	"net/http"
	"strings"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/dpop"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/storage"
)

// tokenProof checks the DPoP proof of a token request (RFC 9449 5) and returns the
// thumbprint of its key, "" when the request carries none (refused for a client with
// dpop_bound_access_tokens). The proof must name POST and the token endpoint's URL derived
// from the issuer, and carry the server's nonce when nonces are on. Its jti is recorded, so
// a replayed proof is refused on any replica. Without a validator every proof is refused.
func (h *Handler) tokenProof(r *http.Request, c *clients.Client) (string, error) {
	raw, err := dpop.Header(r)
	if err != nil {
		return "", dpop.OAuthError(err)
	}
	if raw == "" {
		if c.DPoPBound {
			return "", oauth2err.New(oauth2err.InvalidDPoPProof, "this client must send a DPoP proof")
		}
		return "", nil
	}
	if h.DPoP == nil {
		return "", oauth2err.New(oauth2err.InvalidDPoPProof, "DPoP is not supported here")
	}
	p, err := h.DPoP.Check(r.Context(), raw, dpop.Request{
		Method: r.Method, URL: strings.TrimSuffix(h.Issuer, "/") + "/token", RequireNonce: h.DPoP.Nonces != nil,
	})
	if err != nil {
		return "", dpop.OAuthError(err)
	}
	return p.JKT, nil
}

// setNonce sends a fresh DPoP-Nonce with a token response when nonces are on (RFC 9449 8).
func (h *Handler) setNonce(w http.ResponseWriter, r *http.Request) {
	if h.DPoP == nil || h.DPoP.Nonces == nil {
		return
	}
	n, err := h.DPoP.Nonces.Issue(r.Context(), h.Now())
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "issue a DPoP nonce", "err", err)
		return
	}
	w.Header().Set("DPoP-Nonce", n)
}

// grantKey is the DPoP key a new grant's refresh tokens are bound to: a public client's
// proof key (RFC 9449 5: a public client has no other way to prove it holds its refresh
// token); a confidential client's refresh tokens are bound to its authentication instead.
func grantKey(c *clients.Client, jkt string) string {
	if c.Public {
		return jkt
	}
	return ""
}

// checkGrantKey refuses a refresh of a grant bound to a DPoP key without a proof of that key.
func checkGrantKey(g storage.Grant, jkt string) error {
	if g.DPoPJKT != "" && !dpop.SameKey(jkt, g.DPoPJKT) {
		return oauth2err.New(oauth2err.InvalidGrant, "the refresh token is bound to another DPoP key")
	}
	return nil
}

// tokenType is the token_type of an access token bound to jkt (or not).
func tokenType(jkt string) string {
	if jkt != "" {
		return "DPoP"
	}
	return "Bearer"
}
