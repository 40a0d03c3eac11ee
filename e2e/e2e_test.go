//go:build peers

package e2e

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestOpenIDClientFlow runs an unmodified strict openid-client v6 relying party through
// discovery, code + PKCE + state + nonce, ID token validation, userinfo, refresh rotation and
// reuse detection, revocation and RP-initiated logout (see e2e/node/oidc-flow.mjs).
func TestOpenIDClientFlow(t *testing.T) {
	tests := []struct {
		name       string
		clientAuth string // how openid-client authenticates at the token endpoint
	}{
		{name: "client_secret_post", clientAuth: "post"},
		{name: "client_secret_basic", clientAuth: "basic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := newInstance(t, false)
			serve(t, in)
			out := runNode(t, "oidc-flow.mjs", map[string]string{
				"E2E_ISSUER":                   in.Issuer,
				"E2E_CLIENT_ID":                in.Client.ID,
				"E2E_CLIENT_SECRET":            in.Client.Secret,
				"E2E_REDIRECT_URI":             in.Client.RedirectURI,
				"E2E_POST_LOGOUT_REDIRECT_URI": in.Client.PostLogoutURI,
				"E2E_USERNAME":                 in.User.Username,
				"E2E_PASSWORD":                 in.User.Password,
				"E2E_EXPECTED_EMAIL":           in.User.Email,
				"E2E_EXPECTED_GROUP":           in.User.Groups[0],
				"E2E_CLIENT_AUTH":              tt.clientAuth,
			})
			if !strings.Contains(out, "PASS") {
				t.Fatalf("oidc-flow.mjs exited 0 without reporting PASS")
			}
		})
	}
}

// TestChromiumLogin clicks through the built-in example relying party, the login page and the
// consent page in headless Chromium (see e2e/node/browser-login.mjs). The local connector
// takes a username or an email by default: the field says so, and the user signs in with
// their email.
func TestChromiumLogin(t *testing.T) {
	in := newInstance(t, true)
	serve(t, in)
	out := runNode(t, "browser-login.mjs", map[string]string{
		"E2E_ISSUER":       in.Issuer,
		"E2E_USERNAME":     in.User.Username,
		"E2E_LOGIN_AS":     in.User.Email,
		"E2E_EXPECT_LABEL": "Username or email",
		"E2E_PASSWORD":     in.User.Password,
		"E2E_CHROMIUM":     peers.chromium,
	})
	if !strings.Contains(out, "PASS") {
		t.Fatalf("browser-login.mjs exited 0 without reporting PASS")
	}
}

// TestCheckConfigReportsUnknownKey runs `gatehouse check-config` on files with misspelt keys and
// requires a non-zero exit naming file:line and the key, every problem at once.
func TestCheckConfigReportsUnknownKey(t *testing.T) {
	valid := []string{
		"issuer: http://127.0.0.1:5556", // 1
		"web:",                          // 2
		"  http: 127.0.0.1:5556",        // 3
		"storage:",                      // 4
		"  type: sqlite",                // 5
		"  config:",                     // 6
		"    file: gh.db",               // 7
		"connectors:",                   // 8
		"  - type: local",               // 9
		"    id: local",                 // 10
		"    name: Local",               // 11
	}
	with := func(edit func(lines []string) []string) []string {
		return edit(append([]string(nil), valid...))
	}
	tests := []struct {
		name  string
		lines []string
		want  []string // substrings of the output; "FILE" stands for the config file's base name
		ok    bool     // the file is valid: exit 0
	}{
		{
			name:  "valid file",
			lines: valid,
			ok:    true,
		},
		{
			name:  "top-level typo",
			lines: with(func(l []string) []string { return append(l, "expriy:", "  id_tokens: 1h") }),
			want:  []string{"FILE:12", "expriy"},
		},
		{
			name:  "nested typo",
			lines: with(func(l []string) []string { l[2] = "  htpp: 127.0.0.1:5556"; return l }),
			want:  []string{"FILE:3", "htpp"},
		},
		{
			name:  "typo in a list item",
			lines: with(func(l []string) []string { l[9] = "    idd: local"; return l }),
			want:  []string{"FILE:10", "idd"},
		},
		{
			name: "every problem at once",
			lines: with(func(l []string) []string {
				l[2] = "  htpp: 127.0.0.1:5556"
				return append(l, "expriy:", "  id_tokens: 1h")
			}),
			want: []string{"FILE:3", "htpp", "FILE:12", "expriy"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "gatehouse.yaml")
			if err := os.WriteFile(file, []byte(strings.Join(tt.lines, "\n")+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, peers.bin, "check-config", file)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("check-config did not finish within 30s")
			}
			if tt.ok {
				if err != nil {
					t.Fatalf("check-config on a valid file: %v\n%s", err, out)
				}
				return
			}
			var exit *exec.ExitError
			if err == nil {
				t.Fatalf("check-config exited 0 on a file with an unknown key; output:\n%s", out)
			} else if !errors.As(err, &exit) {
				t.Fatalf("check-config: %v", err)
			}
			for _, w := range tt.want {
				w = strings.ReplaceAll(w, "FILE", filepath.Base(file))
				if !strings.Contains(string(out), w) {
					t.Errorf("check-config output lacks %q; output:\n%s", w, out)
				}
			}
		})
	}
}

// defaultAddr is where `gatehouse serve` without a config listens.
const defaultAddr = "127.0.0.1:5556"

// TestServeDefault runs `gatehouse serve` with no config file in an empty working directory, the
// newcomer's first command: it must listen on 127.0.0.1:5556, keep its SQLite file in the working
// directory, log the URL to open and the generated admin password (once), and that password must
// log in through the example relying party in Chromium.
func TestServeDefault(t *testing.T) {
	if l, err := net.Listen("tcp", defaultAddr); err != nil {
		t.Fatalf("TestServeDefault needs %s free (gatehouse's default address), but it is taken: %v; "+
			"stop whatever listens there and run the tests again", defaultAddr, err)
	} else {
		l.Close()
	}
	dir := t.TempDir()
	base := "http://" + defaultAddr

	first := startProcess(t, dir, base, "serve")
	// serve prints the welcome before /readyz turns 200, but its output reaches p.logs through a
	// pipe copied by another goroutine: wait (bounded) for the copy to catch up.
	logs := first.Logs()
	for deadline := time.Now().Add(5 * time.Second); findPassword(logs) == "" && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		logs = first.Logs()
	}
	if !strings.Contains(logs, base) {
		t.Errorf("the log does not say which URL to open (%s):\n%s", base, logs)
	}
	password := findPassword(logs)
	if !regexp.MustCompile(`(?i)\badmin\b`).MatchString(logs) || password == "" {
		t.Fatalf("the log does not tell how to log in (user admin and its generated password):\n%s", logs)
	}

	for _, path := range []string{"/.well-known/openid-configuration", "/example/"} {
		body, status := get(t, base+path)
		if status != http.StatusOK {
			t.Errorf("GET %s: %d\n%s", path, status, body)
		}
	}
	dbs, _ := filepath.Glob(filepath.Join(dir, "*.db"))
	if len(dbs) == 0 {
		entries, _ := os.ReadDir(dir)
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("no SQLite *.db file in the working directory; it holds %v", names)
	}

	runNode(t, "browser-login.mjs", map[string]string{
		"E2E_ISSUER":   base,
		"E2E_USERNAME": "admin",
		"E2E_PASSWORD": password,
		"E2E_CHROMIUM": peers.chromium,
	})
	first.stop(t)

	// A second start on the same store keeps the admin user and does not print the password again.
	second := startProcess(t, dir, base, "serve")
	if strings.Contains(second.Logs(), password) {
		t.Errorf("the second start printed the admin password again (it must be printed once):\n%s", second.Logs())
	}
	second.stop(t)
}

// findPassword extracts the generated admin password from the log, as printed in one of the
// shapes `admin / XYZ`, `password=XYZ`, `password: XYZ` or `"password":"XYZ"`.
func findPassword(logs string) string {
	patterns := []*regexp.Regexp{
		regexp.MustCompile(`\badmin\s*/\s*([^\s"',;]{8,})`),
		regexp.MustCompile(`(?i)password\w*"?\s*[=:]\s*"?([^\s"',;]{8,})`),
	}
	for _, re := range patterns {
		for _, line := range strings.Split(logs, "\n") {
			if m := re.FindStringSubmatch(line); m != nil && !strings.HasPrefix(m[1], "$2") {
				return m[1]
			}
		}
	}
	return ""
}

// get fetches url and returns its body (up to 64 KiB) and status.
func get(t *testing.T, url string) (string, int) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return string(body), resp.StatusCode
}
