package authreq

import (
	"encoding/base64"
	"net/url"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
)

// parseDPoPJKT reads dpop_jkt (RFC 9449 10): the SHA-256 thumbprint of the DPoP key the
// authorization code is bound to, 43 base64url characters.
func parseDPoPJKT(req *Request, form url.Values, _ *clients.Client) error {
	jkt := form.Get("dpop_jkt")
	if jkt == "" {
		return nil
	}
	if b, err := base64.RawURLEncoding.Strict().DecodeString(jkt); err != nil || len(b) != 32 {
		return oauth2err.New(oauth2err.InvalidRequest, "dpop_jkt must be a base64url SHA-256 JWK thumbprint")
	}
	req.DPoPJKT = jkt
	return nil
}
