//go:build peers

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/crypto/bcrypt"

	adminv1 "github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1"
	"github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1/adminv1connect"
)

// adminGatehouse is a running Gatehouse with the admin API on its admin listener, an admin
// client (ops-cli), a configured client (cfg-app) and the local user alice.
type adminGatehouse struct {
	issuer, admin string
	opsSecret     string
	user          user
	redirect      string
}

// adminConfig is the configuration of one replica: issuer, listeners, storage lines.
func adminConfig(issuer, web, adminAddr string, storage []string, g *adminGatehouse, hash string) string {
	q := func(s string) string { return fmt.Sprintf("%q", s) }
	return strings.Join(append(append([]string{
		"issuer: " + q(issuer),
		"web:",
		"  http: " + q(web),
		"admin:",
		"  http: " + q(adminAddr),
		"  clients: [ops-cli]",
		"logging:",
		"  level: debug",
	}, storage...),
		"clients:",
		"  - id: ops-cli",
		"    secret: "+q(g.opsSecret),
		"    grant_types: [client_credentials]",
		"    allowed_scopes: [gatehouse:admin]",
		"  - id: cfg-app",
		"    secret: cfg-app-secret",
		"    redirect_uris: ["+q(g.redirect)+"]",
		"connectors:",
		"  - {type: local, id: local, name: Local}",
		"users:",
		"  - username: "+q(g.user.Username),
		"    email: "+q(g.user.Email),
		"    email_verified: true",
		"    password_hash: "+q(hash),
		"",
	), "\n")
}

// startAdminGatehouses starts n replicas on one database (storage lines) with the issuer of
// the first; each has its own public and admin listener.
func startAdminGatehouses(t *testing.T, n int, storage func(dir string) []string) []adminGatehouse {
	t.Helper()
	dir := t.TempDir()
	base := adminGatehouse{
		opsSecret: "ops-" + randomString(t, 16),
		user:      user{Username: "alice", Password: "pw-" + randomString(t, 12), Email: "alice@example.com"},
		redirect:  fmt.Sprintf("http://127.0.0.1:%d/cb", freePort(t)),
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(base.user.Password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	var out []adminGatehouse
	for i := range n {
		web, adm := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
		g := base
		g.issuer, g.admin = "http://"+web, "http://"+adm
		if i > 0 {
			g.issuer = out[0].issuer
		}
		file := filepath.Join(dir, fmt.Sprintf("replica-%d.yaml", i))
		if err := os.WriteFile(file, []byte(adminConfig(g.issuer, web, adm, storage(dir), &g, string(hash))), 0o600); err != nil {
			t.Fatal(err)
		}
		startProcess(t, dir, g.admin, "serve", "--config", file)
		g.issuer = "http://" + web // where this replica answers (its tokens name the first's issuer)
		out = append(out, g)
	}
	return out
}

// cli runs `gatehouse args...` against g's admin API with the admin client's credentials in
// the environment, and returns its stdout, stderr and whether it succeeded.
func (g adminGatehouse) cli(t *testing.T, issuer string, args ...string) (string, string, bool) {
	t.Helper()
	return g.cliIn(t, issuer, "", args...)
}

// cliIn is cli with stdin.
func (g adminGatehouse) cliIn(t *testing.T, issuer, stdin string, args ...string) (string, string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, peers.bin, append(args, "--admin", g.admin, "--issuer", issuer)...)
	cmd.Env = append(os.Environ(), "GATEHOUSE_ADMIN_CLIENT_ID=ops-cli", "GATEHOUSE_ADMIN_CLIENT_SECRET="+g.opsSecret)
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &stdout, &stderr, strings.NewReader(stdin)
	err := cmd.Run()
	t.Logf("$ gatehouse %s\n%s%s", strings.Join(args, " "), stdout.String(), stderr.String())
	return stdout.String(), stderr.String(), err == nil
}

// mustCLI is cli that fails the test unless the command succeeds.
func (g adminGatehouse) mustCLI(t *testing.T, issuer string, args ...string) string {
	t.Helper()
	out, _, ok := g.cli(t, issuer, args...)
	if !ok {
		t.Fatalf("gatehouse %s failed", strings.Join(args, " "))
	}
	return out
}

// secretOf reads client_secret from a create or rotate-secret answer printed with --json.
func secretOf(t *testing.T, out string) string {
	t.Helper()
	var r struct {
		ClientSecret string `json:"clientSecret"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.ClientSecret == "" {
		t.Fatalf("no clientSecret in %q: %v", out, err)
	}
	return r.ClientSecret
}

var refreshTokenRe = regexp.MustCompile(`(?m)^REFRESH_TOKEN=(\S+)$`)

// rp runs admin-rp.mjs (a strict openid-client relying party) for the client.
func (g adminGatehouse) rp(t *testing.T, step, id, secret string, extra map[string]string) string {
	t.Helper()
	env := map[string]string{"E2E_STEP": step, "E2E_ISSUER": g.issuer, "E2E_CLIENT_ID": id, "E2E_CLIENT_SECRET": secret,
		"E2E_REDIRECT_URI": g.redirect, "E2E_USERNAME": g.user.Username, "E2E_PASSWORD": g.user.Password}
	for k, v := range extra {
		env[k] = v
	}
	out := runNode(t, "admin-rp.mjs", env)
	if !strings.Contains(out, "PASS") {
		t.Fatalf("admin-rp.mjs %s exited 0 without PASS", step)
	}
	if m := refreshTokenRe.FindStringSubmatch(out); m != nil {
		return m[1]
	}
	return ""
}

// TestAdminCLI drives `gatehouse client ...` against the running binary: a client created at
// runtime passes a strict openid-client code flow at once (and the full oidc-flow.mjs run),
// its secret rotates (the old one refused at /token), and deleting it kills its refresh
// tokens (a client re-created under the same ID cannot use them); bad input is refused with
// the code and field named; the same API is reached over gRPC and over plain JSON.
func TestAdminCLI(t *testing.T) {
	g := startAdminGatehouses(t, 1, func(dir string) []string {
		return []string{"storage:", "  type: sqlite", "  config:", "    file: " + fmt.Sprintf("%q", filepath.Join(dir, "gh.db"))}
	})[0]
	logout := strings.Replace(g.redirect, "/cb", "/logged-out", 1)
	secret := secretOf(t, g.mustCLI(t, g.issuer, "client", "create", "--id", "runtime-app", "--name", "Runtime App",
		"--redirect-uri", g.redirect, "--post-logout-redirect-uri", logout, "--json"))

	// The full strict relying party run (discovery, code + PKCE, userinfo, introspection,
	// refresh rotation and reuse, revocation, logout) with the runtime client.
	if out := runNode(t, "oidc-flow.mjs", map[string]string{
		"E2E_ISSUER": g.issuer, "E2E_CLIENT_ID": "runtime-app", "E2E_CLIENT_SECRET": secret,
		"E2E_REDIRECT_URI": g.redirect, "E2E_POST_LOGOUT_REDIRECT_URI": logout,
		"E2E_USERNAME": g.user.Username, "E2E_PASSWORD": g.user.Password, "E2E_EXPECTED_EMAIL": g.user.Email,
	}); !strings.Contains(out, "PASS") {
		t.Fatal("oidc-flow.mjs exited 0 without PASS")
	}
	rt := g.rp(t, "login", "runtime-app", secret, nil)

	newSecret := secretOf(t, g.mustCLI(t, g.issuer, "client", "rotate-secret", "runtime-app", "--json"))
	g.rp(t, "refresh", "runtime-app", secret, map[string]string{"E2E_REFRESH_TOKEN": rt, "E2E_EXPECT_ERROR": "invalid_client"})
	rt = g.rp(t, "refresh", "runtime-app", newSecret, map[string]string{"E2E_REFRESH_TOKEN": rt})

	for _, args := range [][]string{{"client", "list"}, {"client", "get", "runtime-app"}, {"client", "update", "runtime-app", "--name", "Renamed"}} {
		g.mustCLI(t, g.issuer, args...)
	}
	if out := g.mustCLI(t, g.issuer, "client", "list"); !strings.Contains(out, "runtime-app") || !strings.Contains(out, "cfg-app") ||
		!regexp.MustCompile(`runtime-app\s+api`).MatchString(out) || !regexp.MustCompile(`cfg-app\s+config`).MatchString(out) {
		t.Fatalf("client list:\n%s", out)
	}

	g.mustCLI(t, g.issuer, "client", "delete", "runtime-app")
	again := secretOf(t, g.mustCLI(t, g.issuer, "client", "create", "--id", "runtime-app", "--redirect-uri", g.redirect, "--json"))
	g.rp(t, "refresh", "runtime-app", again, map[string]string{"E2E_REFRESH_TOKEN": rt, "E2E_EXPECT_ERROR": "invalid_grant"})

	bad := []struct {
		name string
		args []string
		want string
	}{
		{"invalid redirect URI", []string{"client", "create", "--id", "x", "--redirect-uri", "not a uri"}, "invalid_argument: client.redirect_uris[0]"},
		{"redirect URI with a fragment", []string{"client", "create", "--id", "x", "--redirect-uri", "https://a.example/cb#f"}, "invalid_argument: client.redirect_uris[0]"},
		{"duplicate ID", []string{"client", "create", "--id", "runtime-app", "--redirect-uri", g.redirect}, "already_exists: client.id"},
		{"config client edited", []string{"client", "update", "cfg-app", "--name", "x"}, "failed_precondition: client.source"},
		{"config client deleted", []string{"client", "delete", "cfg-app"}, "failed_precondition: client.source"},
		{"oversized name", []string{"client", "create", "--id", "x", "--redirect-uri", g.redirect, "--name", strings.Repeat("n", 300)}, "invalid_argument: client.name"},
		{"oversized ID", []string{"client", "create", "--id", strings.Repeat("i", 200), "--redirect-uri", g.redirect}, "invalid_argument: client.id"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, ok := g.cli(t, g.issuer, tt.args...)
			if ok || !strings.Contains(stderr, tt.want) {
				t.Fatalf("succeeded=%v, stderr %q, want it to name %q", ok, stderr, tt.want)
			}
		})
	}

	t.Run("gRPC", func(t *testing.T) { adminOverGRPC(t, g) })
	t.Run("JSON", func(t *testing.T) { adminOverJSON(t, g) })
}

// adminToken gets an admin access token by client_credentials.
func adminToken(t *testing.T, g adminGatehouse) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"gatehouse:admin"}}
	req, err := http.NewRequest(http.MethodPost, g.issuer+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("ops-cli", g.opsSecret)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if status := doJSON(t, req, &tok); status != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("admin token: %d", status)
	}
	return tok.AccessToken
}

func doJSON(t *testing.T, req *http.Request, v any) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s %s: %d, body: %v", req.Method, req.URL, resp.StatusCode, err)
	}
	return resp.StatusCode
}

// adminOverGRPC creates a client with a Go gRPC client (HTTP/2 without TLS), as grpcurl would.
func adminOverGRPC(t *testing.T, g adminGatehouse) {
	tok := adminToken(t, g)
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	hc := &http.Client{Transport: &http.Transport{Protocols: protocols}, Timeout: 10 * time.Second}
	api := adminv1connect.NewClientServiceClient(hc, g.admin, connect.WithGRPC())
	req := connect.NewRequest(&adminv1.CreateClientRequest{Client: &adminv1.Client{Id: "grpc-app", RedirectUris: []string{g.redirect}}})
	req.Header().Set("Authorization", "Bearer "+tok)
	res, err := api.CreateClient(context.Background(), req)
	if err != nil || res.Msg.GetClientSecret() == "" || res.Msg.GetClient().GetSource() != "api" {
		t.Fatalf("gRPC CreateClient: %v %v", res, err)
	}
	dup := connect.NewRequest(&adminv1.CreateClientRequest{Client: &adminv1.Client{Id: "grpc-app", RedirectUris: []string{g.redirect}}})
	dup.Header().Set("Authorization", "Bearer "+tok)
	if _, err := api.CreateClient(context.Background(), dup); connect.CodeOf(err) != connect.CodeAlreadyExists {
		t.Fatalf("gRPC duplicate: %v", err)
	}
	noAuth := connect.NewRequest(&adminv1.ListClientsRequest{})
	if _, err := api.ListClients(context.Background(), noAuth); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("gRPC without a token: %v", err)
	}
	g.rp(t, "login", "grpc-app", res.Msg.GetClientSecret(), nil)
}

// adminOverJSON creates a client with a plain JSON POST, as curl would.
func adminOverJSON(t *testing.T, g adminGatehouse) {
	tok := adminToken(t, g)
	post := func(body string, out any) int {
		req, err := http.NewRequest(http.MethodPost, g.admin+"/gatehouse.admin.v1.ClientService/CreateClient", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		return doJSON(t, req, out)
	}
	var created struct {
		Client       struct{ ID, Source string }
		ClientSecret string `json:"clientSecret"`
	}
	if status := post(`{"client":{"id":"json-app","redirectUris":["`+g.redirect+`"]}}`, &created); status != http.StatusOK || created.ClientSecret == "" || created.Client.Source != "api" {
		t.Fatalf("JSON CreateClient: %d %+v", status, created)
	}
	var refused struct{ Code, Message string }
	if status := post(`{"client":{"id":"json-bad","redirectUris":["/relative"]}}`, &refused); status != http.StatusBadRequest ||
		refused.Code != "invalid_argument" || !strings.HasPrefix(refused.Message, "client.redirect_uris[0]") {
		t.Fatalf("JSON bad input: %d %+v", status, refused)
	}
	g.rp(t, "login", "json-app", created.ClientSecret, nil)
}

// TestAdminReplicas: on three replicas sharing the peers PostgreSQL, a client created through
// replica A's admin API works at once on B and C, and deleted through C it stops at once on A.
func TestAdminReplicas(t *testing.T) {
	dsn := haDatabase(t)
	rs := startAdminGatehouses(t, 3, func(string) []string {
		return []string{"storage:", "  type: postgres", "  config:", "    dsn: " + fmt.Sprintf("%q", dsn)}
	})
	a, b, c := rs[0], rs[1], rs[2]
	secret := secretOf(t, a.mustCLI(t, a.issuer, "client", "create", "--id", "shared", "--grant-type", "client_credentials", "--scope", "reports", "--json"))
	cc := func(r adminGatehouse) int {
		req, err := http.NewRequest(http.MethodPost, r.issuer+"/token", strings.NewReader("grant_type=client_credentials&scope=reports"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("shared", secret)
		var body map[string]any
		return doJSON(t, req, &body)
	}
	for i, r := range []adminGatehouse{a, b, c} {
		if status := cc(r); status != http.StatusOK {
			t.Fatalf("replica %d: client_credentials with the new client: %d", i, status)
		}
	}
	// C's admin API, with a token from A's token endpoint.
	c.mustCLI(t, a.issuer, "client", "delete", "shared")
	for i, r := range []adminGatehouse{a, b, c} {
		if status := cc(r); status != http.StatusUnauthorized {
			t.Fatalf("replica %d: the deleted client still gets tokens: %d", i, status)
		}
	}
}

// TestAdminCLIUsers drives `gatehouse user|session|consent|key ...` against the running
// binary: a user created at runtime logs in through a strict openid-client relying party at
// once; their sessions and consents are listed; "sign out everywhere" kills their refresh
// token; a key rotation is published at once; configured users are read-only.
func TestAdminCLIUsers(t *testing.T) {
	g := startAdminGatehouses(t, 1, func(dir string) []string {
		return []string{"storage:", "  type: sqlite", "  config:", "    file: " + fmt.Sprintf("%q", filepath.Join(dir, "gh.db"))}
	})[0]
	if _, _, ok := g.cliIn(t, g.issuer, "bob-password-1\n", "user", "create", "--username", "bob", "--email", "bob@example.com", "--email-verified", "--group", "ops"); !ok {
		t.Fatal("user create failed")
	}
	bob := g
	bob.user = user{Username: "bob", Password: "bob-password-1", Email: "bob@example.com"}
	rt := bob.rp(t, "login", "cfg-app", "cfg-app-secret", nil)

	if out := g.mustCLI(t, g.issuer, "user", "list"); !regexp.MustCompile(`bob\s+api\s+false`).MatchString(out) || !regexp.MustCompile(`alice\s+config`).MatchString(out) {
		t.Fatalf("user list:\n%s", out)
	}
	if out := g.mustCLI(t, g.issuer, "session", "list", "--user", "bob"); strings.Count(out, "\n") != 2 || !strings.Contains(out, "local") {
		t.Fatalf("session list:\n%s", out)
	}
	if out := g.mustCLI(t, g.issuer, "consent", "list", "--user", "bob"); !strings.Contains(out, "cfg-app") {
		t.Fatalf("consent list:\n%s", out)
	}
	if out := g.mustCLI(t, g.issuer, "session", "revoke-all", "--user", "bob"); !strings.Contains(out, "1 sessions ended") {
		t.Fatalf("session revoke-all:\n%s", out)
	}
	bob.rp(t, "refresh", "cfg-app", "cfg-app-secret", map[string]string{"E2E_REFRESH_TOKEN": rt, "E2E_EXPECT_ERROR": "invalid_grant"})

	before := keyIDsOf(t, g)
	if out := g.mustCLI(t, g.issuer, "key", "rotate"); !strings.Contains(out, "next") {
		t.Fatalf("key rotate:\n%s", out)
	}
	if after := keyIDsOf(t, g); len(after) != len(before)+1 {
		t.Fatalf("JWKS kids %v after rotation, before %v: the new key is not published at once", after, before)
	}
	g.mustCLI(t, g.issuer, "key", "list")

	g.mustCLI(t, g.issuer, "user", "disable", "bob")
	g.mustCLI(t, g.issuer, "user", "delete", "bob")
	_, stderr, ok := g.cliIn(t, g.issuer, "new-password-1\n", "user", "set-password", "alice")
	if ok || !strings.Contains(stderr, "failed_precondition: user.source") {
		t.Fatalf("set-password of a configured user: ok=%v %s", ok, stderr)
	}
}

// keyIDsOf returns the kids of the replica's JWKS.
func keyIDsOf(t *testing.T, g adminGatehouse) []string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, g.issuer+"/keys", nil)
	if err != nil {
		t.Fatal(err)
	}
	var jwks struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if status := doJSON(t, req, &jwks); status != http.StatusOK {
		t.Fatalf("JWKS: %d", status)
	}
	var out []string
	for _, k := range jwks.Keys {
		out = append(out, k.Kid)
	}
	return out
}
