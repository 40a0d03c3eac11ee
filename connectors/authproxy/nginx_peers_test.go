//go:build peers

package authproxy_test

import (
	"encoding/base64"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// nginxConf is the front proxy: /login/proxy needs HTTP basic authentication and gets the
// identity and secret headers set by nginx (overwriting whatever the client sent); every
// other path is passed on with those headers removed (an empty value drops the header).
const nginxConf = `daemon off;
master_process off;
worker_processes 1;
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log info;
events { worker_connections 64; }
http {
	access_log {{dir}}/access.log;
	client_body_temp_path {{dir}}/body;
	proxy_temp_path {{dir}}/proxy;
	fastcgi_temp_path {{dir}}/fastcgi;
	uwsgi_temp_path {{dir}}/uwsgi;
	scgi_temp_path {{dir}}/scgi;
	map $remote_user $corp_groups { alice "admins,staff"; default ""; }
	server {
		listen 127.0.0.1:{{port}};
		location /login/proxy {
			auth_basic "corp";
			auth_basic_user_file {{dir}}/htpasswd;
			proxy_set_header X-Remote-User $remote_user;
			proxy_set_header X-Remote-Email $remote_user@example.com;
			proxy_set_header X-Remote-Name "";
			proxy_set_header X-Remote-Groups $corp_groups;
			proxy_set_header X-Gatehouse-Proxy-Secret "{{secret}}";
			proxy_set_header Authorization "";
			proxy_pass http://{{broker}};
		}
		location / {
			proxy_set_header X-Remote-User "";
			proxy_set_header X-Remote-Email "";
			proxy_set_header X-Remote-Name "";
			proxy_set_header X-Remote-Groups "";
			proxy_set_header X-Gatehouse-Proxy-Secret "";
			proxy_pass http://{{broker}};
		}
	}
}
`

// startNginx runs Debian's nginx (scripts/install-peers.sh installs it) on loopback in front
// of the broker at brokerAddr and returns its base URL. It fails the test when nginx is
// missing.
func startNginx(t *testing.T, port, brokerAddr string) {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/nginx"); err != nil {
			t.Fatalf("nginx is not installed (bash scripts/install-peers.sh installs it): %v", err)
		}
	}
	dir := t.TempDir()
	conf := strings.NewReplacer("{{dir}}", dir, "{{port}}", port, "{{broker}}", brokerAddr, "{{secret}}", secret).Replace(nginxConf)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte("alice:{PLAIN}alice-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // the test's own nginx, by its process
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			logs, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not start: %v\n%s\n%s", err, out.String(), logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// TestNginxFrontProxy puts a real nginx in front of the broker (the issuer is nginx's URL;
// web.trusted_proxies is 127.0.0.1/32, where nginx connects from). It proves that a user
// nginx authenticated (basic auth) signs in with nginx's headers, that headers the client
// forges are overwritten by nginx and never reach the identity, that nginx refusing the user
// means no login, and that a client on the proxy's own host that bypasses nginx with forged
// identity headers (its peer address is trusted) is still refused for lack of the secret.
func TestNginxFrontProxy(t *testing.T) {
	port := freePort(t)
	e := newBrokerEnvAt(t, "127.0.0.1/32", "http://127.0.0.1:"+port)
	startNginx(t, port, strings.TrimPrefix(e.srv.URL, "http://"))
	basic := func(user, pass string) [2]string {
		return [2]string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}
	}
	forged := [][2]string{{"X-Remote-User", "admin"}, {"X-Remote-Groups", "root"}, {"X-Gatehouse-Proxy-Secret", "guess"}}

	t.Run("authenticated by nginx, forged headers overwritten", func(t *testing.T) {
		p, cl := e.login(t, append(slices.Clone(forged), basic("alice", "alice-password")))
		if cl == nil {
			t.Fatalf("no login: %d %s\n%s\nlogs:\n%s", p.status, p.location, p.body, e.logs.String())
		}
		if cl.Username != "alice" || cl.Email != "alice@example.com" || !slices.Equal(cl.Groups, []string{"corp:admins", "corp:staff"}) {
			t.Fatalf("claims = %+v", cl)
		}
	})
	t.Run("nginx refuses the password", func(t *testing.T) {
		p, cl := e.login(t, [][2]string{basic("alice", "wrong")})
		if cl != nil || p.status != http.StatusUnauthorized {
			t.Fatalf("want nginx's 401, got %d %s claims %+v", p.status, p.location, cl)
		}
	})
	t.Run("bypassing nginx with forged headers", func(t *testing.T) {
		direct := *e
		direct.dialTo = strings.TrimPrefix(e.srv.URL, "http://") // straight to the broker, from 127.0.0.1
		p, cl := direct.login(t, forged)
		if cl != nil || p.status != http.StatusForbidden || !strings.Contains(p.body, "Sign-in refused") {
			t.Fatalf("want the refusal page, got %d %s claims %+v", p.status, p.location, cl)
		}
		if !strings.Contains(e.logs.String(), "X-Gatehouse-Proxy-Secret missing or wrong") {
			t.Errorf("no refusal log line:\n%s", e.logs.String())
		}
	})
}
