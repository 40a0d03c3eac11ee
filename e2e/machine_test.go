//go:build peers

package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

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

// TestHAMachineClients: two replicas on one PostgreSQL behave as one server for machine
// clients: a private_key_jwt assertion accepted by one replica is refused as a replay by the
// other (the jti is kept in storage), and a device code issued by one is polled at the other,
// which sees the first poll (slow_down).
func TestHAMachineClients(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &priv.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	c := startHAClusterWith(t, 2, haDatabase(t), haOptions{clients: []string{
		"  - id: jwt-svc",
		"    jwks: " + string(set),
		"    grant_types: [client_credentials]",
		"  - id: tv",
		"    public: true",
		"    grant_types: [urn:ietf:params:oauth:grant-type:device_code]",
	}})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	payload, err := json.Marshal(map[string]any{"iss": "jwt-svc", "sub": "jwt-svc", "aud": c.issuer,
		"exp": now.Add(time.Minute).Unix(), "iat": now.Unix(), "jti": randomString(t, 16)})
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	assertion, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	post := func(replica int, path string, form url.Values) (int, map[string]any) {
		t.Helper()
		resp, err := http.PostForm("http://"+c.addrs[replica]+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body := map[string]any{}
		_ = json.NewDecoder(resp.Body).Decode(&body) //nolint:errcheck // an empty body stays empty
		return resp.StatusCode, body
	}
	cc := url.Values{"grant_type": {"client_credentials"}, "client_assertion": {assertion},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}}
	if st, body := post(0, "/token", cc); st != 200 {
		t.Fatalf("replica 0: %d %v", st, body)
	}
	if st, body := post(1, "/token", cc); st != 401 || body["error"] != "invalid_client" {
		t.Fatalf("the same assertion at replica 1: %d %v, want 401 invalid_client", st, body)
	}
	st, dc := post(0, "/device/code", url.Values{"client_id": {"tv"}, "scope": {"openid"}})
	if st != 200 {
		t.Fatalf("device code at replica 0: %d %v", st, dc)
	}
	poll := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "client_id": {"tv"}, "device_code": {dc["device_code"].(string)}}
	if st, body := post(1, "/token", poll); st != 400 || body["error"] != "authorization_pending" {
		t.Fatalf("poll at replica 1: %d %v", st, body)
	}
	if st, body := post(0, "/token", poll); st != 400 || body["error"] != "slow_down" {
		t.Fatalf("poll right after at replica 0: %d %v, want slow_down", st, body)
	}
}
