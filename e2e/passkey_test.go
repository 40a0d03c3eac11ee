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

// TestPasskeyChromium (issue 24.4) enrols a passkey on /account after a password sign-in and
// signs in again with the passkey alone in headless Chromium, whose DevTools virtual
// authenticator (resident keys, user verification) plays a platform authenticator (see
// e2e/node/passkey.mjs); the example RP checks the ID token's amr (hwk, user, mfa, no pwd),
// acr (phrh) and sub. The issuer is http://localhost:PORT: the RP ID comes from its host.
// Screenshots go to the test's temp dir and, when GATEHOUSE_SCREENSHOTS is set, there too.
func TestPasskeyChromium(t *testing.T) {
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
		"connectors:",
		"  - type: local",
		"    id: local",
		"    name: Local",
		"    passkeys: { enabled: true }",
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
	shots := filepath.Join(t.TempDir(), "screenshots")
	out := runNode(t, "passkey.mjs", map[string]string{
		"E2E_ISSUER":     issuer,
		"E2E_USERNAME":   "alice",
		"E2E_PASSWORD":   password,
		"E2E_CHROMIUM":   peers.chromium,
		"SCREENSHOT_DIR": shots,
	})
	if !strings.Contains(out, "PASS") {
		t.Fatalf("passkey.mjs exited 0 without reporting PASS")
	}
	pngs, err := filepath.Glob(filepath.Join(shots, "*.png"))
	if err != nil || len(pngs) < 5 {
		t.Fatalf("screenshots %v (%v), want at least 5", pngs, err)
	}
	if dir := os.Getenv("GATEHOUSE_SCREENSHOTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, p := range pngs {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "passkey-"+filepath.Base(p)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
