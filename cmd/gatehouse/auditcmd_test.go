package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

// appendConfig adds YAML to the configuration file.
func appendConfig(t *testing.T, file, extra string) {
	t.Helper()
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(extra); err != nil {
		t.Fatal(err)
	}
}

// httpGet returns the status and body of GET u.
func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// runAudit runs `gatehouse audit` with args and returns its stdout.
func runAudit(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(t.Context(), append([]string{"audit"}, args...), func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
	return out.String(), err
}

// TestServeMetricsPprofAndAuditCommand: `serve` with admin.http serves /metrics (with the
// build's version) and, with admin.pprof, the profiles, on the admin listener only; a login
// and a start that removes a configuration user are in the audit trail, and `gatehouse audit`
// reads it (--user by username or sub, --since, --json) without any password or token.
func TestServeMetricsPprofAndAuditCommand(t *testing.T) {
	dir := t.TempDir()
	port, adminPort := freePort(t), freePort(t)
	admin := fmt.Sprintf("http://127.0.0.1:%d", adminPort)
	ops := fmt.Sprintf("admin:\n  http: 127.0.0.1:%d\n  pprof: true\naudit:\n  retention: 24h\n", adminPort)
	both := serveConfig(t, dir, port, "alice", "bob")
	appendConfig(t, both, ops)

	stop := serveConfigFile(t, both, port)
	tok, err := loginAs(t, port, "alice")
	if err != nil {
		t.Fatal(err)
	}
	status, body := httpGet(t, admin+"/metrics")
	if status != http.StatusOK {
		t.Fatalf("admin /metrics: %d", status)
	}
	for _, want := range []string{
		`gatehouse_logins_total{connector="local",outcome="success"} 1`,
		fmt.Sprintf(`gatehouse_tokens_issued_total{client="%s",grant_type="authorization_code"} 1`, ltClientID),
		`gatehouse_build_info{go="`, `gatehouse_connector_up{connector="local"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	if strings.Contains(body, `version=""`) {
		t.Error("gatehouse_build_info has no version")
	}
	if status, _ := httpGet(t, admin+"/debug/pprof/"); status != http.StatusOK {
		t.Errorf("admin /debug/pprof/ with admin.pprof: %d, want 200", status)
	}
	for _, p := range []string{"/metrics", "/debug/pprof/"} {
		if status, _ := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d%s", port, p)); status == http.StatusOK {
			t.Errorf("public listener serves %s", p)
		}
	}
	stop()

	alice := serveConfig(t, dir, port, "alice")
	appendConfig(t, alice, ops)
	serveConfigFile(t, alice, port)() // starts (removing bob), then stops

	out, err := runAudit(t, "--config", alice, "--json")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var e auditJSON
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("--json line %q: %v", line, err)
		}
		seen[e.Type+" "+e.User]++
	}
	for _, want := range []string{"user.added alice", "user.added bob", "user.removed bob"} {
		if seen[want] != 1 {
			t.Errorf("%q events: %d, want 1 (all: %v)", want, seen[want], seen)
		}
	}
	for _, secret := range []string{ltPassword, ltSecret, tok.AccessToken, tok.RefreshToken, tok.IDToken} {
		if strings.Contains(out, secret) {
			t.Errorf("the audit trail contains a secret or token: %.12s...", secret)
		}
	}

	tests := []struct {
		name     string
		args     []string
		want     []string
		wantNot  []string
		wantFail bool
	}{
		{"by username", []string{"--user", "bob"}, []string{"user.added", "user.removed", `user="bob"`}, []string{`"alice"`, " login "}, false},
		{"username finds the sub's events", []string{"--user", "alice"}, []string{"login", "success", "token.issued", "user.added"}, []string{`"bob"`}, false},
		{"since", []string{"--since", "1h", "--user", "bob"}, []string{"user.removed"}, nil, false},
		{"limit", []string{"--limit", "1", "--user", "bob"}, []string{"user.removed"}, []string{"user.added"}, false},
		{"unknown user", []string{"--user", "nobody"}, nil, []string{"user"}, false},
		{"negative since", []string{"--since", "-1h"}, nil, nil, true},
		{"stray argument", []string{"bob"}, nil, nil, true},
	}
	// Unwanted names are looked for quoted (or a type between spaces): a random request ID
	// in the output may contain "bob" by chance.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runAudit(t, append([]string{"--config", alice}, tt.args...)...)
			if (err != nil) != tt.wantFail {
				t.Fatalf("err = %v, want failure %v", err, tt.wantFail)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
		})
	}
}
