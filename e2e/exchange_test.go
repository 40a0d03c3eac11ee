//go:build peers

package e2e

import (
	"strings"
	"testing"
)

// TestTokenExchangeAndResources runs openid-client v6 against the binary
// (e2e/node/exchange-flow.mjs): resource indicators (RFC 8707) through
// authorizationCodeGrant, refreshTokenGrant and clientCredentialsGrant, and token exchange
// (RFC 8693) through genericGrantRequest: impersonation, delegation (act), an ID token
// subject, a chain of two delegations (nested act); refusals: an audience the policy refuses
// (invalid_target), a resource beyond the grant or the client (invalid_target), impersonation
// by a delegation-only client, a wrong subject_token_type and a revoked subject token
// (invalid_request, RFC 8693 2.2.2).
func TestTokenExchangeAndResources(t *testing.T) {
	in := newInstance(t, false)
	appSecret, midSecret := "app-"+randomString(t, 16), "mid-"+randomString(t, 16)
	addClients(t, in, strings.Join([]string{
		"  - id: xapp",
		"    secret: " + appSecret,
		"    redirect_uris: [" + in.Client.RedirectURI + "]",
		"    grant_types: [authorization_code, refresh_token, client_credentials, urn:ietf:params:oauth:grant-type:token-exchange]",
		"    resources: [https://api.example/, https://b.example/]",
		"    token_exchange:",
		"      audiences: [api-b, api-c, svc-mid]",
		"      subject_token_types: [access_token, id_token]",
		"      delegation: true",
		"      impersonation: true",
		"  - id: svc-mid",
		"    secret: " + midSecret,
		"    grant_types: [client_credentials, urn:ietf:params:oauth:grant-type:token-exchange]",
		"    token_exchange: {audiences: [api-c], delegation: true}",
		"",
	}, "\n"))
	serve(t, in)
	out := runNode(t, "exchange-flow.mjs", map[string]string{
		"E2E_ISSUER": in.Issuer, "E2E_APP_ID": "xapp", "E2E_APP_SECRET": appSecret, "E2E_REDIRECT_URI": in.Client.RedirectURI,
		"E2E_MID_ID": "svc-mid", "E2E_MID_SECRET": midSecret, "E2E_RES1": "https://api.example/", "E2E_RES2": "https://b.example/",
		"E2E_USERNAME": in.User.Username, "E2E_PASSWORD": in.User.Password,
	})
	if !strings.Contains(out, "PASS") {
		t.Fatalf("exchange-flow.mjs exited 0 without reporting PASS")
	}
}
