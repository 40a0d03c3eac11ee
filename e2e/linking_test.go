//go:build peers

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/testpeer"
)

// TestLinkUpstreamInChromium links a real upstream OpenID provider (npm oidc-provider) to a
// local user from the account page in headless Chromium (e2e/node/linking.mjs), then signs in
// through the upstream alone and gets the local user's sub. Screenshots are written under the
// test's temp dir and, when GATEHOUSE_SCREENSHOTS is set, to that directory as linking-*.png.
func TestLinkUpstreamInChromium(t *testing.T) {
	in := newInstance(t, true)
	const secret = "linking-upstream-secret"
	up, err := testpeer.StartOIDCProvider(testpeer.OIDCProviderOptions{
		Dir:          filepath.Join(peers.root, "connectors", "oidc", "testdata", "peer"),
		RedirectURIs: []string{in.Issuer + "/callback/upstream"}, ClientSecret: secret, Stderr: t.Output(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(up.Stop)
	cfg, err := os.ReadFile(in.Config)
	if err != nil {
		t.Fatal(err)
	}
	q := func(s string) string { return fmt.Sprintf("%q", s) }
	extra := strings.Join([]string{
		"connectors:",
		"  - type: oidc",
		"    id: upstream",
		"    name: Upstream",
		"    config:",
		"      issuer: " + q(up.Issuer),
		"      client_id: gatehouse",
		"      client_secret: " + q(secret),
		"      scopes: [openid, email, profile]",
		"      get_userinfo: true",
		"",
	}, "\n")
	patched := strings.Replace(string(cfg), "connectors:\n", extra, 1)
	if patched == string(cfg) {
		t.Fatal("the instance config has no connectors: section to extend")
	}
	if err := os.WriteFile(in.Config, []byte(patched), 0o600); err != nil {
		t.Fatal(err)
	}
	serve(t, in)

	shots := filepath.Join(t.TempDir(), "screenshots")
	out := runNode(t, "linking.mjs", map[string]string{
		"E2E_ISSUER": in.Issuer, "E2E_USERNAME": in.User.Username, "E2E_PASSWORD": in.User.Password,
		"E2E_UPSTREAM_NAME": "Upstream", "E2E_UPSTREAM_USER": "carol", "E2E_UPSTREAM_PASSWORD": "password",
		"E2E_CHROMIUM": peers.chromium, "SCREENSHOT_DIR": shots,
	})
	if !strings.Contains(out, "PASS") || !strings.Contains(out, "sub=") {
		t.Fatalf("linking.mjs exited 0 without reporting PASS and the sub")
	}
	pngs, err := filepath.Glob(filepath.Join(shots, "*.png"))
	if err != nil || len(pngs) < 4 {
		t.Fatalf("screenshots %v (%v), want at least 4", pngs, err)
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
			if err := os.WriteFile(filepath.Join(dir, "linking-"+filepath.Base(p)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
