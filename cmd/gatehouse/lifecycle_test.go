package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for the server goroutine and the test to share.
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

// servingProcess is `gatehouse serve` run in-process on a config of the test's.
type servingProcess struct {
	base   string
	cancel context.CancelFunc
	done   chan error
	stderr *lockedBuffer
}

// runServe starts serve with the YAML config body (issuer and web.http are added; webExtra
// is more of the web block, indented by two spaces) and returns at once, without waiting
// for readiness.
func runServe(t *testing.T, webExtra, body string) *servingProcess {
	t.Helper()
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	cfg := fmt.Sprintf("issuer: %s\nweb:\n  http: 127.0.0.1:%d\n", base, port) + webExtra + body
	file := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &servingProcess{base: base, cancel: cancel, done: make(chan error, 1), stderr: &lockedBuffer{}}
	go func() {
		p.done <- run(ctx, []string{"serve", "--config", file}, func(string) string { return "" }, strings.NewReader(""), io.Discard, p.stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop")
		}
	})
	return p
}

// get returns the status and body of GET base+path ("" status 0 when the request failed).
func (p *servingProcess) get(path string) (int, string) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(p.base + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitFor polls path until it answers status (bounded by limit).
func (p *servingProcess) waitFor(t *testing.T, path string, status int, limit time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		code, body := p.get(path)
		if code == status {
			return body
		}
		select {
		case err := <-p.done:
			t.Fatalf("serve exited while waiting for %s %d: %v\n%s", path, status, err, p.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer %d within %s (last: %d %q)\n%s", path, status, limit, code, body, p.stderr.String())
		}
	}
}

// TestDrainOnShutdown: on SIGTERM (the context's cancellation) /readyz answers 503 at once
// while the other routes keep serving for web.shutdown_delay, then the process exits (issue
// 13.6: Kubernetes takes the pod out of the Service before it stops answering).
func TestDrainOnShutdown(t *testing.T) {
	p := runServe(t, "  shutdown_delay: 1500ms\n", fmt.Sprintf(`storage:
  type: sqlite
  config:
    file: %s
logging:
  level: error
connectors:
  - type: local
    id: local
    name: Local
`, filepath.Join(t.TempDir(), "gh.db")))
	p.waitFor(t, "/readyz", http.StatusOK, 20*time.Second)
	stopped := time.Now()
	p.cancel()
	body := p.waitFor(t, "/readyz", http.StatusServiceUnavailable, time.Second)
	if !strings.Contains(body, "draining") {
		t.Errorf("readiness while draining said %q, want it to say draining", body)
	}
	if code, _ := p.get("/.well-known/openid-configuration"); code != http.StatusOK {
		t.Errorf("discovery while draining = %d, want 200 (requests are still served)", code)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
		if took := time.Since(stopped); took < 1400*time.Millisecond {
			t.Errorf("serve exited %s after SIGTERM, before shutdown_delay (1.5s)", took)
		}
		p.done <- nil // for the cleanup
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not exit after draining")
	}
	if code, _ := p.get("/healthz"); code != 0 {
		t.Errorf("after exit /healthz answered %d; the listener should be closed", code)
	}
}

// TestStorageUnreachableAtStart: a PostgreSQL that is not there yet is retried up to
// storage.config.connect_timeout with the process live and not ready meanwhile, then serve
// gives up with a clear error (issue 13.6), instead of exiting at once.
func TestStorageUnreachableAtStart(t *testing.T) {
	dead := freePort(t) // nothing listens there
	p := runServe(t, "", fmt.Sprintf(`storage:
  type: postgres
  config:
    dsn: postgres://gatehouse@127.0.0.1:%d/gatehouse?sslmode=disable&connect_timeout=1
    connect_timeout: 3s
logging:
  level: warn
connectors:
  - type: local
    id: local
    name: Local
`, dead))
	p.waitFor(t, "/healthz", http.StatusOK, 5*time.Second)
	body := p.waitFor(t, "/readyz", http.StatusServiceUnavailable, time.Second)
	if !strings.Contains(body, "waiting for storage") && !strings.Contains(body, "opening storage") {
		t.Errorf("readiness while the database is unreachable said %q", body)
	}
	if code, _ := p.get("/authorize"); code != http.StatusServiceUnavailable {
		t.Errorf("/authorize while starting = %d, want 503", code)
	}
	select {
	case err := <-p.done:
		if err == nil || !strings.Contains(err.Error(), "gave up after 3s") {
			t.Fatalf("serve = %v, want it to give up after connect_timeout", err)
		}
		if !strings.Contains(p.stderr.String(), "retrying") {
			t.Errorf("no retry was logged:\n%s", p.stderr.String())
		}
		p.done <- nil
	case <-time.After(15 * time.Second):
		t.Fatal("serve kept waiting past connect_timeout")
	}
}
