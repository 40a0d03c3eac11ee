//go:build peers

package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeMetricsAndAuditOnPostgres: on PostgreSQL, a login through `serve` is an audit
// event `gatehouse audit` reads back, the scrape of the admin listener counts it, and the
// storage metrics come from pgx's query tracer.
func TestServeMetricsAndAuditOnPostgres(t *testing.T) {
	db := strings.TrimPrefix(tempPostgresDatabase(t, "audit_").String(), "postgres://")

	dir := t.TempDir()
	port, adminPort := freePort(t), freePort(t)
	file := serveConfig(t, dir, port, "alice")
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sqliteBlock := fmt.Sprintf("storage:\n  type: sqlite\n  config:\n    file: %s\n", filepath.Join(dir, "gh.db"))
	pgBlock := fmt.Sprintf("storage:\n  type: postgres\n  config:\n    dsn: postgres://%s\n", db)
	cfg := strings.Replace(string(src), sqliteBlock, pgBlock, 1) + fmt.Sprintf("admin:\n  http: 127.0.0.1:%d\naudit:\n  log: true\n", adminPort)
	if !strings.Contains(cfg, "type: postgres") {
		t.Fatalf("storage block not replaced:\n%s", src)
	}
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	stop := serveConfigFile(t, file, port)
	defer stop()
	if _, err := loginAs(t, port, "alice"); err != nil {
		t.Fatal(err)
	}
	status, body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", adminPort))
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d", status)
	}
	for _, want := range []string{`gatehouse_logins_total{connector="local",outcome="success"} 1`,
		`gatehouse_storage_op_duration_seconds_count{op="insert audit_events"}`, `gatehouse_storage_op_duration_seconds_count{op="update auth_codes"}`} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %s:\n%s", want, excerptLines(body, "gatehouse_storage_op_duration_seconds_count"))
		}
	}
	out, err := runAudit(t, "--config", file, "--user", "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"user.added", "login", "success", "token.issued", `connector="local"`} {
		if !strings.Contains(out, want) {
			t.Errorf("audit output lacks %q:\n%s", want, out)
		}
	}
}

// excerptLines keeps the lines of body that start with prefix.
func excerptLines(body, prefix string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
