package config

// clientPAR checks require_pushed_authorization_requests (RFC 9126): only meaningful for a
// client that uses the authorization code flow.
func (v *validator) clientPAR(p string, c Client) {
	if c.RequirePushedAuthorizationRequests && !c.allowsGrant("authorization_code") {
		v.addf(p+".require_pushed_authorization_requests", "needs authorization_code in grant_types (pushed requests are authorization requests)")
	}
	if c.AllowUnsignedRequestObjects && !c.allowsGrant("authorization_code") {
		v.addf(p+".allow_unsigned_request_objects", "needs authorization_code in grant_types (request objects are authorization requests)")
	}
}
