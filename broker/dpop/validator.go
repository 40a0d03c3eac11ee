package dpop

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Default proof time window: how old and how far in the future a proof's iat may be.
const (
	DefaultMaxAge    = 60 * time.Second
	DefaultMaxFuture = 5 * time.Second
)

// Validator checks DPoP proofs against the requests that carry them. Its fields are set
// once; it is safe for concurrent use.
type Validator struct {
	// Replay records every accepted proof's jti (with its key's thumbprint) until the proof
	// is too old to be accepted anyway, atomically across replicas (storage.ConsumeOnce).
	Replay storage.BlobStore
	// MaxAge and MaxFuture bound iat: now-MaxAge <= iat <= now+MaxFuture.
	MaxAge, MaxFuture time.Duration
	// Nonces, when set, issues and checks server nonces (RFC 9449 8); requests whose
	// Request.RequireNonce is set must carry a current one.
	Nonces *Nonces
	Now    func() time.Time
}

// Request is what a proof must match.
type Request struct {
	// Method is the HTTP method (htm, compared exactly).
	Method string
	// URL is the endpoint's URL derived from the issuer (never from the Host header); htu
	// must equal it once both are normalized (NormalizeURL).
	URL string
	// AccessToken, at a resource endpoint, is the presented token: ath must be its hash.
	// Empty at the token endpoint, where an ath is refused.
	AccessToken string
	// RequireNonce asks for a current server nonce (when Validator.Nonces is set).
	RequireNonce bool
}

// Check parses the proof and checks it against req (RFC 9449 4.3): htm, htu, iat within the
// window, ath, the nonce, and last that its jti was never accepted before (recorded now, so
// of several requests with one proof at most one passes, on any replica). Errors wrap
// ErrInvalidProof or ErrNonce, or are storage failures.
func (v *Validator) Check(ctx context.Context, raw string, req Request) (Proof, error) {
	p, err := Parse(raw)
	if err != nil {
		return p, err
	}
	if p.Method != req.Method {
		return p, invalid("htm %q does not match the request method", trunc(p.Method))
	}
	got, ok := NormalizeURL(p.URL)
	want, _ := NormalizeURL(req.URL)
	if !ok || got != want {
		return p, invalid("htu %q does not match the endpoint", trunc(p.URL))
	}
	now := v.Now()
	if p.IssuedAt.Before(now.Add(-v.MaxAge)) {
		return p, invalid("the proof is too old (iat)")
	}
	if p.IssuedAt.After(now.Add(v.MaxFuture)) {
		return p, invalid("iat is in the future")
	}
	if err := checkATH(p, req.AccessToken); err != nil {
		return p, err
	}
	if v.Nonces != nil && (req.RequireNonce || p.Nonce != "") {
		ok, err := v.Nonces.Valid(ctx, p.Nonce, now)
		if err != nil {
			return p, err
		}
		if !ok {
			return p, fmt.Errorf("%w: the proof must carry the current DPoP-Nonce", ErrNonce)
		}
	}
	jtiSum := sha256.Sum256([]byte(p.JTI))
	key := "dpop-jti:" + p.JKT + ":" + base64.RawURLEncoding.EncodeToString(jtiSum[:])
	// Kept until the proof would be refused as too old in any case.
	expiry := p.IssuedAt.Add(v.MaxAge + time.Second)
	switch err := storage.ConsumeOnce(ctx, v.Replay, key, expiry, now); {
	case errors.Is(err, storage.ErrReused):
		return p, invalid("the proof was already used (jti)")
	case err != nil:
		return p, err
	}
	return p, nil
}

// checkATH checks ath: required and equal to the token's hash at a resource endpoint,
// absent at the token endpoint.
func checkATH(p Proof, token string) error {
	if token == "" {
		if p.AccessTokenHash != "" {
			return invalid("ath is not expected here")
		}
		return nil
	}
	if p.AccessTokenHash == "" {
		return invalid("ath is missing")
	}
	if subtle.ConstantTimeCompare([]byte(p.AccessTokenHash), []byte(AccessTokenHash(token))) != 1 {
		return invalid("ath does not match the access token")
	}
	return nil
}

// SameKey reports whether a proof's thumbprint is the one a token is bound to.
func SameKey(proofJKT, boundJKT string) bool {
	return boundJKT != "" && subtle.ConstantTimeCompare([]byte(proofJKT), []byte(boundJKT)) == 1
}

// OAuthError converts a Check error into the OAuth error to answer with: invalid_dpop_proof,
// use_dpop_nonce, or server_error (a storage failure, with its cause).
func OAuthError(err error) *oauth2err.Error {
	switch {
	case errors.Is(err, ErrNonce):
		return oauth2err.New(oauth2err.UseDPoPNonce, "a DPoP nonce is required: retry with the DPoP-Nonce of this response")
	case errors.Is(err, ErrInvalidProof):
		return oauth2err.New(oauth2err.InvalidDPoPProof, strings.TrimPrefix(err.Error(), "dpop: "))
	default:
		return oauth2err.Server(err)
	}
}

// trunc shortens a client-supplied value quoted in an error.
func trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
