//go:build peers

package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPostgresComesUpLate: a pod that starts before its database is the normal case (issue
// 13.6). The database's port refuses connections for the first 2 seconds, then a proxy to the
// real test PostgreSQL appears there; serve, meanwhile live and not ready, becomes ready on
// its own without a restart.
func TestPostgresComesUpLate(t *testing.T) {
	db := tempPostgresDatabase(t, "late_")
	target := db.Host
	late := *db
	late.Host = fmt.Sprintf("127.0.0.1:%d", freePort(t))

	p := runServe(t, "", fmt.Sprintf(`storage:
  type: postgres
  config:
    dsn: %s
    connect_timeout: 30s
logging:
  level: warn
connectors:
  - type: local
    id: local
    name: Local
`, late.String()))
	p.waitFor(t, "/healthz", http.StatusOK, 5*time.Second)
	if code, body := p.get("/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("readiness before the database is up = %d %q, want 503", code, body)
	}

	time.Sleep(2 * time.Second)
	ln, err := net.Listen("tcp", late.Host)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() { // a bounded TCP proxy: one goroutine pair per connection, ends with the listener
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(up, c); _ = up.Close() }()
			go func() { defer wg.Done(); _, _ = io.Copy(c, up); _ = c.Close() }()
		}
	}()
	p.waitFor(t, "/readyz", http.StatusOK, 20*time.Second)
	if code, _ := p.get("/.well-known/openid-configuration"); code != http.StatusOK {
		t.Errorf("discovery after the database came up = %d", code)
	}
	if !strings.Contains(p.stderr.String(), "retrying") {
		t.Errorf("no retry was logged:\n%s", p.stderr.String())
	}
	p.cancel()
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
		p.done <- nil
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
}
