//go:build peers

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// TestWebAuthnChromium registers a security key at the MFA enrolment step and signs in with it
// again in headless Chromium, whose DevTools virtual authenticator plays the key (see
// e2e/node/webauthn.mjs). The issuer is http://localhost:PORT: WebAuthn needs a secure context
// (loopback counts) and a domain RP ID (an IP address is not one).
func TestWebAuthnChromium(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	issuer := fmt.Sprintf("http://localhost:%d", port)
	password := "pw-" + randomString(t, 12)
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	q := func(s string) string { return fmt.Sprintf("%q", s) }
	cfg := strings.Join([]string{
		"issuer: " + q(issuer),
		"web:",
		"  http: " + q(fmt.Sprintf("127.0.0.1:%d", port)),
		"storage:",
		"  type: sqlite",
		"  config:",
		"    file: " + q(filepath.Join(dir, "gh.db")),
		"logging:",
		"  level: debug",
		"mfa:",
		"  issuer_name: Gatehouse E2E",
		"  secrets_key: " + q("e2e-"+randomString(t, 24)),
		"  webauthn: { rp_id: localhost, rp_name: Gatehouse E2E }",
		"connectors:",
		"  - type: local",
		"    id: local",
		"    name: Local",
		"    mfa: required",
		"users:",
		"  - username: alice",
		"    email: alice@example.com",
		"    email_verified: true",
		"    name: Alice Example",
		"    password_hash: " + q(string(hash)),
		"example:",
		"  enabled: true",
		"",
	}, "\n")
	in := instance{Issuer: issuer, Dir: dir, Config: filepath.Join(dir, "gatehouse.yaml")}
	if err := os.WriteFile(in.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	serve(t, in)
	out := runNode(t, "webauthn.mjs", map[string]string{
		"E2E_ISSUER":   issuer,
		"E2E_USERNAME": "alice",
		"E2E_PASSWORD": password,
		"E2E_CHROMIUM": peers.chromium,
	})
	if !strings.Contains(out, "PASS") {
		t.Fatalf("webauthn.mjs exited 0 without reporting PASS")
	}
}
