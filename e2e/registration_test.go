//go:build peers

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

var clientIDRe = regexp.MustCompile(`(?m)^CLIENT_ID=(\S+)$`)

// TestDynamicClientRegistration runs the binary with registration on: `gatehouse client
// registration-token create` issues a one-use initial access token through the admin API,
// npm openid-client v6 registers with it (dynamicClientRegistration), runs a code flow with
// PKCE and a refresh as the registered client, then reads, updates and deletes it through
// RFC 7592 (dcr-flow.mjs); the admin API then shows the token spent and the client gone.
func TestDynamicClientRegistration(t *testing.T) {
	dir := t.TempDir()
	g := adminGatehouse{
		opsSecret: "ops-" + randomString(t, 16),
		user:      user{Username: "alice", Password: "pw-" + randomString(t, 12), Email: "alice@example.com"},
		redirect:  fmt.Sprintf("http://127.0.0.1:%d/cb", freePort(t)),
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(g.user.Password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	web, adm := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	g.issuer, g.admin = "http://"+web, "http://"+adm
	storage := []string{"storage:", "  type: sqlite", "  config:", "    file: " + fmt.Sprintf("%q", filepath.Join(dir, "gh.db"))}
	cfg := adminConfig(g.issuer, web, adm, storage, &g, string(hash)) + strings.Join([]string{
		"registration:",
		"  enabled: true",
		"  allowed_redirect_uris: [" + fmt.Sprintf("%q", g.redirect) + "]",
		"  allowed_redirect_hosts: [app.example.com]",
		"  grant_types: [authorization_code, refresh_token]",
		"  max_clients_per_token: 3",
		"",
	}, "\n")
	file := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	startProcess(t, dir, g.admin, "serve", "--config", file)

	if _, stderr, ok := g.cli(t, g.issuer, "client", "registration-token", "create", "--uses", "4"); ok || !strings.Contains(stderr, "invalid_argument: max_uses") {
		t.Fatalf("a token past max_clients_per_token: ok=%v %s", ok, stderr)
	}
	var created struct {
		Token string `json:"token"`
	}
	out := g.mustCLI(t, g.issuer, "client", "registration-token", "create", "--expires", "1h", "--uses", "1", "--json")
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.Token == "" {
		t.Fatalf("registration-token create: %q %v", out, err)
	}
	nodeOut := runNode(t, "dcr-flow.mjs", map[string]string{
		"E2E_ISSUER": g.issuer, "E2E_INITIAL_ACCESS_TOKEN": created.Token, "E2E_REDIRECT_URI": g.redirect,
		"E2E_USERNAME": g.user.Username, "E2E_PASSWORD": g.user.Password,
	})
	if !strings.Contains(nodeOut, "PASS") {
		t.Fatal("dcr-flow.mjs exited 0 without PASS")
	}
	m := clientIDRe.FindStringSubmatch(nodeOut)
	if m == nil {
		t.Fatal("dcr-flow.mjs printed no CLIENT_ID")
	}
	if list := g.mustCLI(t, g.issuer, "client", "registration-token", "list"); !regexp.MustCompile(`\s1/1\s`).MatchString(list) {
		t.Fatalf("registration-token list does not show the token spent:\n%s", list)
	}
	if _, stderr, ok := g.cli(t, g.issuer, "client", "get", m[1]); ok || !strings.Contains(stderr, "not_found") {
		t.Fatalf("the deleted registered client is still there: %s", stderr)
	}
}
