//go:build peers

package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// TestPARAndRequestObjects runs openid-client v6 against the binary for issue 17 items 6
// and 7 (e2e/node/par-flow.mjs), the login driven by the browserless HTML helper
// (htmlflow.mjs): discovery of PAR, request objects and the claims parameter;
// buildAuthorizationUrlWithPAR through a full code flow for a client that must push (with a
// claims parameter); the used request_uri refused when replayed; a plain request from that
// client refused with invalid_request; buildAuthorizationUrlWithJAR (a request object signed
// by a private_key_jwt client, keys inline) through a full code flow, and the same object
// pushed with private_key_jwt client authentication; a request object signed by another
// key refused.
func TestPARAndRequestObjects(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &priv.PublicKey, KeyID: "jar-k1", Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	privJWK, err := json.Marshal(jose.JSONWebKey{Key: priv, KeyID: "jar-k1", Algorithm: "ES256", Use: "sig"})
	if err != nil {
		t.Fatal(err)
	}
	otherJWK, err := json.Marshal(jose.JSONWebKey{Key: other, KeyID: "jar-k1", Algorithm: "ES256", Use: "sig"})
	if err != nil {
		t.Fatal(err)
	}

	in := newInstance(t, false)
	parSecret := "par-" + randomString(t, 16)
	addClients(t, in, strings.Join([]string{
		"  - id: par-rp",
		"    secret: " + parSecret,
		"    redirect_uris: [" + in.Client.RedirectURI + "]",
		"    require_pushed_authorization_requests: true",
		"  - id: jar-rp",
		"    jwks: " + string(pub),
		"    redirect_uris: [" + in.Client.RedirectURI + "]",
		"",
	}, "\n"))
	serve(t, in)
	out := runNode(t, "par-flow.mjs", map[string]string{
		"E2E_ISSUER": in.Issuer, "E2E_USERNAME": in.User.Username, "E2E_PASSWORD": in.User.Password,
		"E2E_EXPECTED_EMAIL": in.User.Email, "E2E_REDIRECT_URI": in.Client.RedirectURI,
		"E2E_PAR_ID": "par-rp", "E2E_PAR_SECRET": parSecret,
		"E2E_JAR_ID": "jar-rp", "E2E_JAR_KEY": string(privJWK), "E2E_OTHER_KEY": string(otherJWK),
	})
	if !strings.Contains(out, "PASS") {
		t.Fatalf("par-flow.mjs exited 0 without reporting PASS")
	}
}
