package userinfo

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/tokens"
)

// GrantReader reads a grant (token family) by ID: the one store call the verifier makes.
type GrantReader interface {
	GetGrant(ctx context.Context, id string) (storage.Grant, error)
}

// Verifier checks access tokens for the endpoints that accept them (userinfo, and
// introspection in broker/grants): signature, issuer and expiry (cached per token), and that
// the token's grant is live (read on every call, so a revocation takes effect at once).
type Verifier struct {
	verify func(raw string) (tokens.AccessToken, error)
	grants GrantReader
	now    func() time.Time
	cache  *verifiedCache
}

// NewVerifier returns a Verifier that checks signatures with minter, reads grants from
// grants, and caches up to 10000 verified tokens until they expire.
func NewVerifier(minter *tokens.Minter, grants GrantReader, now func() time.Time) *Verifier {
	return &Verifier{verify: minter.VerifyAccessToken, grants: grants, now: now, cache: newVerifiedCache(10000)}
}

// Verify checks an access token: signature, issuer, expiry, and that its grant is live. A
// token without a grant (client_credentials: the client acting for itself) has no grant to
// read; it is returned with a zero Grant.
func (v *Verifier) Verify(ctx context.Context, raw string) (tokens.AccessToken, storage.Grant, error) {
	at, err := v.cache.verify(raw, v.now(), v.verify)
	if err != nil {
		return at, storage.Grant{}, oauth2err.New(oauth2err.InvalidToken, "the access token is invalid or expired").WithCause(err)
	}
	if at.GrantID == "" {
		// A client_credentials token: no user, no grant; it lives until it expires.
		return at, storage.Grant{}, nil
	}
	g, err := v.grants.GetGrant(ctx, at.GrantID)
	if errors.Is(err, storage.ErrNotFound) {
		return at, g, oauth2err.New(oauth2err.InvalidToken, "the access token was revoked")
	}
	if err != nil {
		return at, g, oauth2err.Server(err)
	}
	if g.Revoked {
		return at, g, oauth2err.New(oauth2err.InvalidToken, "the access token was revoked")
	}
	return at, g, nil
}

// BearerToken extracts an RFC 6750 bearer token from the header or (POST) form body.
func BearerToken(w http.ResponseWriter, r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	var fromHeader string
	if h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return "", oauth2err.New(oauth2err.InvalidRequest, "malformed Authorization header")
		}
		fromHeader = strings.TrimSpace(tok)
	}
	var fromBody string
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err == nil {
			fromBody = r.PostForm.Get("access_token")
		}
	}
	switch {
	case fromHeader != "" && fromBody != "":
		return "", oauth2err.New(oauth2err.InvalidRequest, "more than one method used to send the access token")
	case fromHeader != "":
		return fromHeader, nil
	case fromBody != "":
		return fromBody, nil
	}
	return "", &oauth2err.Error{Code: "", Status: http.StatusUnauthorized}
}
