package clients

import (
	"context"

	"github.com/go-jose/go-jose/v4"
)

// VerifySignature verifies a JWS the client signed (a request object, RFC 9101) with one of
// its registered keys (jwks or a cached jwks_uri), fetching a jwks_uri again once when the
// JWS names a kid the cached set lacks: the same rules as for its private_key_jwt
// assertions. The JWS must carry exactly one signature.
func VerifySignature(ctx context.Context, c *Client, jws *jose.JSONWebSignature) error {
	if len(jws.Signatures) != 1 {
		return ErrAssertion
	}
	return verifyAssertionSignature(ctx, c, jws)
}
