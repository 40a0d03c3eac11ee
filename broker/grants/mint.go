package grants

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/opaque"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/tokens"
)

// mint signs the access token and (for openid requests) the ID token of a grant.
// A non-empty jkt binds the access token to that DPoP key (cnf.jkt, token_type DPoP).
func (h *Handler) mint(ctx context.Context, g storage.Grant, id storage.Identity, scopes []string, withNonce bool, jkt string) (tokenResponse, error) {
	return h.mintFor(ctx, g, id, scopes, nil, withNonce, jkt)
}

// mintFor is mint with the access token's audience (nil: the client).
func (h *Handler) mintFor(ctx context.Context, g storage.Grant, id storage.Identity, scopes, aud []string, withNonce bool, jkt string) (tokenResponse, error) {
	now := h.Now()
	if len(aud) == 0 {
		aud = []string{g.ClientID}
	}
	at, err := h.Minter.SignAccessTokenContext(ctx, tokens.AccessToken{
		ID: opaque.ID(), Subject: h.Claims.SubjectFor(g.ClientID, id.Subject), ClientID: g.ClientID, GrantID: g.ID, SessionID: g.SessionID,
		Scopes: scopes, Audience: aud, AuthTime: g.Auth.AuthTime, Expiry: now.Add(h.Lifetimes.AccessToken),
		JKT: jkt,
	})
	if err != nil {
		return tokenResponse{}, err
	}
	resp := tokenResponse{AccessToken: at, TokenType: tokenType(jkt), ExpiresIn: int64(h.Lifetimes.AccessToken / time.Second), Scope: strings.Join(scopes, " ")}
	if slices.Contains(scopes, "openid") {
		it := tokens.IDToken{
			Subject: h.Claims.SubjectFor(g.ClientID, id.Subject), Audience: g.ClientID, AuthorizedParty: g.ClientID, SessionID: g.SessionID,
			ACR: g.Auth.ACR, AMR: g.Auth.AMR, AuthTime: g.Auth.AuthTime, Expiry: now.Add(h.Lifetimes.IDToken),
			AccessToken: at, Claims: h.Claims.ClaimsWith(g.ClientID, id, g.Auth, scopes, idTokenClaims(g)),
		}
		if withNonce {
			it.Nonce = g.Nonce
		}
		if resp.IDToken, err = h.Minter.SignIDTokenContext(ctx, it); err != nil {
			return tokenResponse{}, err
		}
	}
	return resp, nil
}

// refreshIdle is the idle expiry of a refresh token issued at now: RefreshIdle later, but
// never past the grant's absolute expiry.
func (h *Handler) refreshIdle(now time.Time, g storage.Grant) time.Time {
	t := now.Add(h.Lifetimes.RefreshIdle)
	if t.After(g.AbsoluteExpiry) {
		t = g.AbsoluteExpiry
	}
	return t
}

// idTokenClaims are the claims the grant's authorization asked for individually in the ID
// token (the claims parameter, OIDC Core 5.5), as consented.
func idTokenClaims(g storage.Grant) []string {
	if g.RequestedClaims == nil {
		return nil
	}
	return g.RequestedClaims.IDToken
}
