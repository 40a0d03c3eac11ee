//go:build peers

package forwardauth_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-id/gatehouse/config"
)

// nginxConf is docs/forward-auth.md's nginx configuration with the test's names and ports:
// {{app}} the app's listener port, {{gh}} Gatehouse's address, {{issuer}} its URL,
// {{upstream}} the echo app; daemon and master_process off so that killing the process the
// test started stops nginx (a killed master would leave its worker behind).
const nginxConf = `daemon off;
master_process off;
worker_processes 1;
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log;
events {}
http {
  access_log off;
  client_body_temp_path {{dir}}/body;
  proxy_temp_path {{dir}}/proxy;
  fastcgi_temp_path {{dir}}/fastcgi;
  uwsgi_temp_path {{dir}}/uwsgi;
  scgi_temp_path {{dir}}/scgi;

  server {
    listen 127.0.0.1:{{app}};
    server_name grafana.corp.localhost wiki.corp.localhost vault.corp.localhost other.corp.localhost;

    location / {
      auth_request /_gatehouse;
      auth_request_set $gh_user   $upstream_http_x_auth_request_user;
      auth_request_set $gh_email  $upstream_http_x_auth_request_email;
      auth_request_set $gh_groups $upstream_http_x_auth_request_groups;
      auth_request_set $gh_name   $upstream_http_x_auth_request_preferred_username;
      auth_request_set $gh_assert $upstream_http_x_gatehouse_assertion;
      auth_request_set $gh_login  $upstream_http_location;
      error_page 401 =302 $gh_login;
      error_page 403 = /_gatehouse_denied;

      # Set (and so replace) every identity header: a value the client sent never reaches the
      # app; an empty value (bypassed path) is not sent at all.
      proxy_set_header X-Auth-Request-User $gh_user;
      proxy_set_header X-Auth-Request-Email $gh_email;
      proxy_set_header X-Auth-Request-Groups $gh_groups;
      proxy_set_header X-Auth-Request-Preferred-Username $gh_name;
      proxy_set_header X-Gatehouse-Assertion $gh_assert;
      proxy_pass http://{{upstream}};
    }

    location = /_gatehouse {
      internal;
      proxy_pass http://{{gh}}/forward-auth/nginx;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
    }

    # A 403 from the check gets Gatehouse's page saying why ($request_uri stays the original).
    location = /_gatehouse_denied {
      internal;
      proxy_pass http://{{gh}}/forward-auth/nginx;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
    }
  }
}
`

// caddyfile is docs/forward-auth.md's Caddy configuration with the test's names and ports.
// Caddy 2.6's copy_headers sets a header only when the check returned it, so the identity
// headers are deleted first, in a route (which keeps the order as written).
const caddyfile = `{
	admin off
	auto_https off
	http_port {{app}}
	storage file_system {{dir}}/data
}

http://grafana.corp.localhost:{{app}}, http://wiki.corp.localhost:{{app}}, http://vault.corp.localhost:{{app}}, http://other.corp.localhost:{{app}} {
	bind 127.0.0.1
	route {
		request_header -X-Auth-Request-User
		request_header -X-Auth-Request-Email
		request_header -X-Auth-Request-Groups
		request_header -X-Auth-Request-Preferred-Username
		request_header -X-Gatehouse-Assertion
		forward_auth {{gh}} {
			uri /forward-auth
			copy_headers X-Auth-Request-User X-Auth-Request-Email X-Auth-Request-Groups X-Auth-Request-Preferred-Username X-Gatehouse-Assertion
		}
		reverse_proxy {{upstream}}
	}
}
`

// TestForwardAuthRealProxies runs Debian's nginx and Caddy (scripts/install-peers.sh) on
// loopback in front of Gatehouse and the echo app, and drives headless Chromium through each
// (e2e/node/forward-auth.mjs): login and the return to the original URL, identity headers with
// a forged one replaced, the app's group rule (a user outside it gets the 403 page saying
// why, through the proxy), a path rule (403 for a user outside its group, the app for one
// in it), the bypass, open-redirect attempts refused, a host no app is on refused, logout,
// and an app with mfa: required (TOTP enrolment on the first visit, verification at the next
// login, before the app is reached). The TOTP codes come from this test (totpHelper), on
// Gatehouse's clock.
func TestForwardAuthRealProxies(t *testing.T) {
	for _, tc := range []struct {
		name string
		bin  string
		run  func(t *testing.T, bin string, c *corp)
	}{{"nginx", "/usr/sbin/nginx", runNginx}, {"caddy", "/usr/bin/caddy", runCaddy}} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := os.Stat(tc.bin); err != nil {
				t.Fatalf("%s is not installed (bash scripts/install-peers.sh installs it): %v", tc.name, err)
			}
			c := newCorp(t, external, func(cfg *config.Config) {
				cfg.MFA.SecretsKey = strings.Repeat("k", 32)
				cfg.ProtectedApps[1].Headers = config.AppHeaders{} // the defaults, which the proxies pass on
				port := strings.TrimPrefix(cfg.ProtectedApps[0].Hosts[0], "grafana.corp.localhost:")
				cfg.ProtectedApps = append(cfg.ProtectedApps, config.ProtectedApp{ID: "vault", Name: "Vault",
					Hosts: []string{"vault.corp.localhost:" + port}, MFA: "required"})
			})
			tc.run(t, tc.bin, c)
			runNode(t, "forward-auth.mjs", map[string]string{
				"E2E_ISSUER": c.issuer, "E2E_USERNAME": "bob", "E2E_PASSWORD": password,
				"FA_APP": c.app("grafana", ""), "FA_OTHER": c.app("other", ""), "FA_WIKI": c.app("wiki", ""),
				"FA_VAULT": c.app("vault", ""), "FA_ADMIN": "alice", "FA_OUTSIDER": "eve", "FA_TOTP": totpHelper(t, c),
			})
		})
	}
}

// totpHelper serves the current TOTP code of ?secret= on Gatehouse's clock, as the other
// MFA tests compute it (pquerna/otp, 30 s, 6 digits, SHA-1); ?next=1 first moves the clock
// to the next time step, so a code is never one already used.
func totpHelper(t *testing.T, c *corp) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("next") == "1" {
			c.gh.Clock.Advance(30 * time.Second)
		}
		code, err := totp.GenerateCodeCustom(r.URL.Query().Get("secret"), c.gh.Clock.Now(),
			totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, code)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// fill replaces the placeholders of a proxy configuration.
func fill(conf, dir string, c *corp) string {
	return strings.NewReplacer("{{dir}}", dir, "{{app}}", c.appPort, "{{gh}}", c.hosts["login.corp.localhost:"+strings.TrimPrefix(c.issuer, "http://login.corp.localhost:")],
		"{{issuer}}", c.issuer, "{{upstream}}", c.upstream).Replace(conf)
}

func runNginx(t *testing.T, bin string, c *corp) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "nginx.conf"), fill(nginxConf, dir, c))
	start(t, c.appPort, filepath.Join(dir, "error.log"), exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf")))
}

func runCaddy(t *testing.T, bin string, c *corp) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "Caddyfile"), fill(caddyfile, dir, c))
	cmd := exec.Command(bin, "run", "--config", filepath.Join(dir, "Caddyfile"), "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	start(t, c.appPort, "", cmd)
}

func writeFile(t *testing.T, name, data string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs the proxy and waits for its port; it is killed (by its process) when the test ends.
func start(t *testing.T, port, logFile string, cmd *exec.Cmd) {
	t.Helper()
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // the test's own proxy, by its process
		_ = cmd.Wait()
		if t.Failed() {
			logs, _ := os.ReadFile(logFile)
			t.Logf("proxy output:\n%s\n%s", out.String(), logs)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 100*time.Millisecond)
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the proxy did not start: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runNode runs an e2e/node scenario (headless Chromium) and fails the test when it fails.
func runNode(t *testing.T, script string, env map[string]string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed: %v", err)
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "e2e", "node"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		t.Fatalf("npm package playwright-core is not installed in e2e/node/node_modules (scripts/install-peers.sh): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = dir
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	t.Logf("node %s:\n%s", script, out)
	if err != nil {
		t.Fatalf("node %s failed: %v", script, err)
	}
}
