//go:build peers

package e2e

import (
	"os"
	"strings"
	"testing"
)

// TestDPoPOpenIDClient runs openid-client v6 with DPoP (RFC 9449) against the binary with
// server nonces on at the token endpoint (e2e/node/dpop-flow.mjs): a public client's code
// flow bound by dpop_jkt and a proof (openid-client retries on use_dpop_nonce), userinfo with
// the bound token, refresh with the key, and client_credentials for a client with
// dpop_bound_access_tokens; refused: the bound token as Bearer, the DPoP scheme without a
// proof, a replayed proof, a proof for another URL and method, a refresh with another key, a
// bound client without a proof.
func TestDPoPOpenIDClient(t *testing.T) {
	in := newInstance(t, false)
	redirect := strings.Replace(in.Client.RedirectURI, "/cb", "/spa-cb", 1)
	svcSecret := "svc-" + randomString(t, 16)
	addClients(t, in, strings.Join([]string{
		"  - id: dpop-spa",
		"    public: true",
		"    redirect_uris: [" + redirect + "]",
		"  - id: dpop-svc",
		"    secret: " + svcSecret,
		"    grant_types: [client_credentials]",
		"    dpop_bound_access_tokens: true",
		"",
	}, "\n"))
	f, err := os.OpenFile(in.Config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("dpop:\n  nonce: true\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	serve(t, in)
	out := runNode(t, "dpop-flow.mjs", map[string]string{
		"E2E_ISSUER": in.Issuer, "E2E_PUBLIC_ID": "dpop-spa", "E2E_REDIRECT_URI": redirect,
		"E2E_USERNAME": in.User.Username, "E2E_PASSWORD": in.User.Password, "E2E_EXPECTED_EMAIL": in.User.Email,
		"E2E_SVC_ID": "dpop-svc", "E2E_SVC_SECRET": svcSecret,
	})
	if !strings.Contains(out, "PASS") {
		t.Fatalf("dpop-flow.mjs exited 0 without reporting PASS")
	}
}
