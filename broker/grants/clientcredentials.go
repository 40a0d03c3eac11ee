package grants

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/opaque"
	"github.com/gatehouse-id/gatehouse/tokens"
)

// clientCredentialsGrant issues an access token to the client itself (RFC 6749 4.4): an
// RFC 9068 JWT whose sub is the client, with scopes within the client's allowed_scopes and
// an audience among its allowed_audiences (default: the first; none configured: the client).
// There is no user: no ID token, no refresh token, no grant in storage, so issuing one costs
// a signature and nothing else; such tokens expire rather than being revoked. Nor is each
// issue an audit event: a stored event per token took the server's CPU per token from 0.10
// to 0.25 ms (gatehouse loadtest, ES256), against 0.06-0.08 ms for the signature itself.
// A non-empty jkt binds the token to that DPoP key.
func (h *Handler) clientCredentialsGrant(r *http.Request, c *clients.Client, jkt string) (tokenResponse, error) {
	if c.Public {
		return tokenResponse{}, oauth2err.New(oauth2err.UnauthorizedClient, "a public client cannot use client_credentials")
	}
	scopes := c.Scopes
	if sc := r.PostFormValue("scope"); sc != "" {
		scopes = dedupe(strings.Fields(sc))
		for _, s := range scopes {
			if !slices.Contains(c.Scopes, s) {
				return tokenResponse{}, oauth2err.New(oauth2err.InvalidScope, "scope "+truncate(s)+" is not allowed for this client")
			}
		}
	}
	aud, err := clientCredentialsAudience(r, c)
	if err != nil {
		return tokenResponse{}, err
	}
	at, err := h.Minter.SignAccessTokenContext(r.Context(), tokens.AccessToken{
		ID: opaque.ID(), Subject: c.ID, ClientID: c.ID, Scopes: scopes, Audience: aud,
		Expiry: h.Now().Add(h.Lifetimes.AccessToken), JKT: jkt,
	})
	if err != nil {
		return tokenResponse{}, oauth2err.Server(err)
	}
	return tokenResponse{AccessToken: at, TokenType: tokenType(jkt), ExpiresIn: int64(h.Lifetimes.AccessToken / time.Second),
		Scope: strings.Join(scopes, " ")}, nil
}

// clientCredentialsAudience is the aud of a client_credentials token: the requested
// audiences (each among allowed_audiences) and resources (RFC 8707, each among the client's
// resources), or by default the first allowed audience (none configured: the client).
func clientCredentialsAudience(r *http.Request, c *clients.Client) ([]string, error) {
	auds, res := r.PostForm["audience"], r.PostForm["resource"]
	for _, a := range auds {
		if !slices.Contains(c.Audiences, a) {
			return nil, oauth2err.New(oauth2err.InvalidTarget, "audience "+truncate(a)+" is not allowed for this client")
		}
	}
	if err := checkResources(res); err != nil {
		return nil, err
	}
	for _, x := range res {
		if !c.AllowsResource(x) {
			return nil, oauth2err.New(oauth2err.InvalidTarget, "resource "+truncate(x)+" is not allowed for this client")
		}
	}
	if aud := dedupe(append(slices.Clone(auds), res...)); len(aud) > 0 {
		return aud, nil
	}
	if len(c.Audiences) > 0 {
		return c.Audiences[:1], nil
	}
	return []string{c.ID}, nil
}

// dedupe drops repeated values, keeping the first of each.
func dedupe(in []string) []string {
	out := in[:0:0]
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// truncate shortens a client-supplied value quoted in an error description.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
