//go:build peers

package e2e

import (
	"strings"
	"testing"
)

// TestClaimsParameter runs openid-client v6 against the binary with the claims parameter in
// the authorization URL (issue 17 item 7, e2e/node/claims-flow.mjs): email asked for in the
// ID token and name at userinfo without their scopes, for a client whose
// claims.requestable allows them, arrive only there, also after a refresh; groups (not
// requestable) never; a sub value of the signed-in user passes with prompt=none, another
// gets login_required, and interactively access_denied after the login.
func TestClaimsParameter(t *testing.T) {
	in := newInstance(t, false)
	secret := "claims-" + randomString(t, 16)
	addClients(t, in, strings.Join([]string{
		"  - id: claims-rp",
		"    secret: " + secret,
		"    redirect_uris: [" + in.Client.RedirectURI + "]",
		"    claims:",
		"      requestable: [email, name]",
		"",
	}, "\n"))
	serve(t, in)
	out := runNode(t, "claims-flow.mjs", map[string]string{
		"E2E_ISSUER": in.Issuer, "E2E_USERNAME": in.User.Username, "E2E_PASSWORD": in.User.Password,
		"E2E_EXPECTED_EMAIL": in.User.Email, "E2E_EXPECTED_NAME": in.User.Name, "E2E_REDIRECT_URI": in.Client.RedirectURI,
		"E2E_CLIENT_ID": "claims-rp", "E2E_SECRET": secret,
	})
	if !strings.Contains(out, "PASS") {
		t.Fatalf("claims-flow.mjs exited 0 without reporting PASS")
	}
}
