//go:build peers

package e2e

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestChooserInChromium renders the connector chooser of a served Gatehouse with five
// connectors in headless Chromium (e2e/node/chooser.mjs): the buttons' accessible names
// ("Sign in with <name>", type names for nameless connectors), visual, DOM and keyboard order,
// drawn icons, and the last-used connector first after a choice. Screenshots are written under
// the test's temp dir and, when GATEHOUSE_SCREENSHOTS is set, to that directory too.
func TestChooserInChromium(t *testing.T) {
	in := newInstance(t, false)
	cfg, err := os.ReadFile(in.Config)
	if err != nil {
		t.Fatal(err)
	}
	extra := strings.Join([]string{
		"connectors:",
		"  - {type: github, id: github, config: {client_id: e2e, client_secret: e2e-secret}}",
		"  - {type: facebook, id: facebook, config: {client_id: \"1234\", client_secret: e2e-secret}}",
		"  - {type: discord, id: discord, name: Team Discord, icon: shield, config: {client_id: e2e, client_secret: e2e-secret}}",
		"  - {type: gitlab, id: gitlab, config: {client_id: e2e, client_secret: e2e-secret}}",
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
	want := []string{"Sign in with GitHub", "Sign in with Facebook", "Sign in with Team Discord", "Sign in with GitLab", "Sign in with Local"}
	wantJSON, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"client_id": {in.Client.ID}, "redirect_uri": {in.Client.RedirectURI}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"e2e-state"}, "nonce": {"e2e-nonce"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}
	out := runNode(t, "chooser.mjs", map[string]string{
		"E2E_ISSUER": in.Issuer, "E2E_USERNAME": in.User.Username, "E2E_PASSWORD": in.User.Password,
		"E2E_CHROMIUM": peers.chromium, "SCREENSHOT_DIR": shots,
		"E2E_AUTH_URL": in.Issuer + "/authorize?" + q.Encode(), "E2E_WANT_LABELS": string(wantJSON), "E2E_LAST_LABEL": "Sign in with Local",
	})
	if !strings.Contains(out, "PASS") {
		t.Fatalf("chooser.mjs exited 0 without reporting PASS")
	}
	pngs, err := filepath.Glob(filepath.Join(shots, "*.png"))
	if err != nil || len(pngs) < 10 {
		t.Fatalf("screenshots %v (%v), want at least 10 (4 steps and 6 languages)", pngs, err)
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
			if err := os.WriteFile(filepath.Join(dir, "chooser-"+filepath.Base(p)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
