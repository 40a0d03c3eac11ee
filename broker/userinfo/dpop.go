package userinfo

import (
	"context"
	"net/http"
	"strings"

	"github.com/gatehouse-id/gatehouse/broker/dpop"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/tokens"
)

// accessToken extracts the presented access token: `Authorization: DPoP <token>` (RFC 9449
// 7.1; dpop is true) or an RFC 6750 bearer token (BearerToken).
func accessToken(w http.ResponseWriter, r *http.Request) (tok string, isDPoP bool, err error) {
	scheme, rest, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "DPoP") {
		tok, err = BearerToken(w, r)
		return tok, false, err
	}
	if tok = strings.TrimSpace(rest); tok == "" {
		return "", true, oauth2err.New(oauth2err.InvalidRequest, "malformed Authorization header")
	}
	return tok, true, nil
}

// checkBinding enforces DPoP at a resource (RFC 9449 7): a token bound to a key (cnf.jkt) is
// accepted only with the DPoP scheme and a valid proof of that key for this request (htm,
// htu, ath = the token's hash, a fresh jti); presented as a bearer token it is invalid_token.
// The DPoP scheme with an unbound token is refused too.
func (h *Handler) checkBinding(ctx context.Context, r *http.Request, raw string, at tokens.AccessToken, isDPoP bool) error {
	switch {
	case !isDPoP && at.JKT == "":
		return nil
	case !isDPoP:
		return oauth2err.New(oauth2err.InvalidToken, "the access token is DPoP-bound: send it with the DPoP scheme and a proof")
	case at.JKT == "":
		return oauth2err.New(oauth2err.InvalidToken, "the access token is not DPoP-bound: send it as a bearer token")
	case h.DPoP == nil:
		return oauth2err.New(oauth2err.InvalidRequest, "DPoP is not supported here")
	}
	proof, err := dpop.Header(r)
	if err == nil && proof == "" {
		return oauth2err.New(oauth2err.InvalidDPoPProof, "the DPoP header is missing")
	}
	if err != nil {
		return dpop.OAuthError(err)
	}
	p, err := h.DPoP.Check(ctx, proof, dpop.Request{Method: r.Method, URL: h.URL, AccessToken: raw})
	if err != nil {
		return dpop.OAuthError(err)
	}
	if !dpop.SameKey(p.JKT, at.JKT) {
		return oauth2err.New(oauth2err.InvalidDPoPProof, "the proof is signed by another key than the one the token is bound to")
	}
	return nil
}

// writeError answers a refused request: a DPoP challenge when DPoP was used or is needed (the
// bound token's key), else a Bearer one. A use_dpop_nonce answer carries a fresh nonce.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error, useDPoP bool) {
	if !useDPoP {
		oauth2err.WriteBearer(w, err)
		return
	}
	if e := oauth2err.As(err); e.Code == oauth2err.UseDPoPNonce && h.DPoP != nil && h.DPoP.Nonces != nil {
		if n, nerr := h.DPoP.Nonces.Issue(r.Context(), h.DPoP.Now()); nerr == nil {
			w.Header().Set("DPoP-Nonce", n)
		}
	}
	oauth2err.WriteDPoP(w, err, dpop.Algorithms)
}
