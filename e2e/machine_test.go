//go:build peers

package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// addClients inserts client entries (YAML list items, two-space indented) into an instance's
// configuration, after the e2e relying party.
func addClients(t *testing.T, in instance, entries string) {
	t.Helper()
	b, err := os.ReadFile(in.Config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "\nconnectors:\n", "\n"+entries+"connectors:\n", 1)
	if err := os.WriteFile(in.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestMachineClients runs openid-client v6 against the binary as machine clients:
// client_credentials with client_secret_post, and private_key_jwt with its keys at a
// jwks_uri served on loopback by this test, at the token, introspection and revocation
// endpoints; negative cases: a scope or audience the client may not have, a client without
// the grant, a replayed jti, a wrong aud, an expired and an overlong assertion (see
// e2e/node/machine-flow.mjs).
func TestMachineClients(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := jose.JSONWebKey{Key: &priv.PublicKey, KeyID: "e2e-k1", Algorithm: "ES256", Use: "sig"}
	privJWK, err := json.Marshal(jose.JSONWebKey{Key: priv, KeyID: "e2e-k1", Algorithm: "ES256", Use: "sig"})
	if err != nil {
		t.Fatal(err)
	}
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}}) //nolint:errcheck // test server
	}))
	t.Cleanup(keys.Close)

	in := newInstance(t, false)
	svcSecret := "svc-" + randomString(t, 16)
	addClients(t, in, strings.Join([]string{
		"  - id: svc",
		"    secret: " + svcSecret,
		"    grant_types: [client_credentials]",
		"    allowed_scopes: [read, write]",
		"    allowed_audiences: [https://api.example, https://other.example]",
		"  - id: cli-jwt",
		"    jwks_uri: " + keys.URL + "/jwks.json",
		"    grant_types: [client_credentials]",
		"",
	}, "\n"))
	serve(t, in)
	out := runNode(t, "machine-flow.mjs", map[string]string{
		"E2E_ISSUER": in.Issuer, "E2E_SVC_ID": "svc", "E2E_SVC_SECRET": svcSecret,
		"E2E_AUDIENCE": "https://api.example", "E2E_AUDIENCE2": "https://other.example",
		"E2E_JWT_ID": "cli-jwt", "E2E_JWT_KEY": string(privJWK),
		"E2E_RP_ID": in.Client.ID, "E2E_RP_SECRET": in.Client.Secret,
	})
	if !strings.Contains(out, "PASS") {
		t.Fatalf("machine-flow.mjs exited 0 without reporting PASS")
	}
}

// TestDeviceFlowChromium runs the device authorization grant with openid-client v6 as the
// device and headless Chromium as the user (e2e/node/device-flow.mjs): discovery, the code,
// authorization_pending and slow_down for polls too fast, approval through the login and
// consent pages, validated tokens and a working refresh token, and a denial that reaches
// the device as access_denied.
func TestDeviceFlowChromium(t *testing.T) {
	in := newInstance(t, false)
	addClients(t, in, strings.Join([]string{
		"  - id: tv",
		"    public: true",
		"    grant_types: [urn:ietf:params:oauth:grant-type:device_code, refresh_token]",
		"",
	}, "\n"))
	serve(t, in)
	out := runNode(t, "device-flow.mjs", map[string]string{
		"E2E_ISSUER": in.Issuer, "E2E_USERNAME": in.User.Username, "E2E_PASSWORD": in.User.Password,
		"E2E_CHROMIUM": peers.chromium, "E2E_DEVICE_CLIENT_ID": "tv",
	})
	if !strings.Contains(out, "PASS") {
		t.Fatalf("device-flow.mjs exited 0 without reporting PASS")
	}
}
