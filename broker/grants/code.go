package grants

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/dpop"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/opaque"
	"github.com/gatehouse-id/gatehouse/storage"
)

// verifyPKCE checks an RFC 7636 S256 code_verifier against the stored challenge.
func verifyPKCE(challenge, method, verifier string) error {
	if challenge == "" {
		if verifier != "" {
			return oauth2err.New(oauth2err.InvalidGrant, "code_verifier sent but the authorization request had no code_challenge")
		}
		return nil
	}
	if verifier == "" {
		return oauth2err.New(oauth2err.InvalidGrant, "code_verifier is missing")
	}
	if len(verifier) < 43 || len(verifier) > 128 {
		return oauth2err.New(oauth2err.InvalidGrant, "code_verifier must be 43 to 128 characters")
	}
	if method != "S256" {
		return oauth2err.New(oauth2err.InvalidGrant, "unsupported code_challenge_method")
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) != 1 {
		return oauth2err.New(oauth2err.InvalidGrant, "code_verifier does not match the code_challenge")
	}
	return nil
}

// codeGrant redeems an authorization code (RFC 6749 4.1.3, OIDC Core 3.1.3).
// jkt is the request's DPoP key ("" without a proof): a code bound with dpop_jkt needs a
// proof of that key (RFC 9449 10).
func (h *Handler) codeGrant(r *http.Request, c *clients.Client, jkt string) (tokenResponse, error) {
	ctx := r.Context()
	code := r.PostFormValue("code")
	if code == "" {
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidRequest, "code is missing")
	}
	now := h.Now().UTC()
	ac, err := h.Codes.ConsumeCode(ctx, opaque.Hash(code), now)
	switch {
	case errors.Is(err, storage.ErrReused):
		// A replayed code: refuse it and revoke everything issued from it (RFC 6749 4.1.2).
		if rerr := h.Grants.RevokeGrant(ctx, ac.GrantID, now); rerr != nil {
			return tokenResponse{}, oauth2err.Server(rerr)
		}
		h.Logger.WarnContext(r.Context(), "authorization code replayed; its tokens are revoked", "client_id", c.ID, "grant", ac.GrantID)
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidGrant, "the authorization code was already used")
	case errors.Is(err, storage.ErrNotFound):
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidGrant, "the authorization code is invalid or expired")
	case err != nil:
		return tokenResponse{}, oauth2err.Server(err)
	}
	if ac.ClientID != c.ID {
		// The code leaked to another client: revoke what it issued (nothing yet, normally).
		if err := h.Grants.RevokeGrant(ctx, ac.GrantID, now); err != nil {
			return tokenResponse{}, oauth2err.Server(err)
		}
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidGrant, "the authorization code was issued to another client")
	}
	if r.PostFormValue("redirect_uri") != ac.RedirectURI {
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidGrant, "redirect_uri does not match the authorization request")
	}
	if err := verifyPKCE(ac.CodeChallenge, ac.CodeChallengeMethod, r.PostFormValue("code_verifier")); err != nil {
		return tokenResponse{}, err
	}
	if ac.DPoPJKT != "" && !dpop.SameKey(jkt, ac.DPoPJKT) {
		return tokenResponse{}, oauth2err.New(oauth2err.InvalidGrant, "the authorization code is bound to another DPoP key (dpop_jkt)")
	}
	if err := h.codeSessionLive(ctx, ac); err != nil {
		return tokenResponse{}, err
	}
	g := storage.Grant{
		ID: ac.GrantID, ClientID: c.ID, Scopes: ac.Scopes, Nonce: ac.Nonce, Identity: ac.Identity, Auth: ac.Auth,
		SessionID: ac.SessionID, CreatedAt: now, AbsoluteExpiry: now.Add(h.Lifetimes.RefreshAbsolute),
		DPoPJKT: grantKey(c, jkt), Resources: ac.Resources,
		// The claims the claims parameter asked for individually: kept for every refresh.
		RequestedClaims: ac.RequestedClaims,
	}
	aud, err := grantAudience(r, g)
	if err != nil {
		return tokenResponse{}, err
	}
	var refresh string
	var first *storage.RefreshToken
	if slices.Contains(ac.Scopes, "offline_access") {
		refresh = opaque.Token()
		first = &storage.RefreshToken{Hash: opaque.Hash(refresh), GrantID: g.ID, CreatedAt: now, IdleExpiry: h.refreshIdle(now, g)}
	} else {
		// Without a refresh token the grant only lives as long as its access tokens.
		g.AbsoluteExpiry = now.Add(max(h.Lifetimes.AccessToken, h.Lifetimes.IDToken))
	}
	// Sign first: a signing failure must not leave a stored grant (and refresh token) that
	// no client holds.
	resp, err := h.mintFor(ctx, g, g.Identity, g.Scopes, aud, true, jkt)
	if err != nil {
		return tokenResponse{}, oauth2err.Server(err)
	}
	if err := h.Grants.CreateGrant(ctx, g, first); err != nil {
		return tokenResponse{}, oauth2err.Server(err)
	}
	resp.RefreshToken = refresh
	h.Logger.InfoContext(r.Context(), "tokens issued", "grant_type", "authorization_code", "client_id", c.ID, "sub", g.Identity.Subject, "refresh", refresh != "")
	h.Audit.Record(ctx, tokenEvent(audit.TokenIssued, "authorization_code", g))
	return resp, nil
}

// codeSessionLive refuses a code without offline_access whose SSO session ended (logout)
// after it was issued: its tokens would escape the logout's revocation of the session's
// grants. Offline grants outlive the session by design.
func (h *Handler) codeSessionLive(ctx context.Context, ac storage.AuthCode) error {
	if ac.SessionID == "" || slices.Contains(ac.Scopes, "offline_access") {
		return nil
	}
	_, live, err := h.Sessions.Live(ctx, ac.SessionID)
	if err != nil {
		return oauth2err.Server(err)
	}
	if !live {
		return oauth2err.New(oauth2err.InvalidGrant, "the user signed out after the authorization code was issued")
	}
	return nil
}
