//go:build peers

package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// abuseBoundMB is the documented bound (docs/performance.md, "Bounded memory under abuse")
// on the server's RSS with the default web.max_connections (4096) under the abuse scenario:
// 10,000 abandoned logins, 10,000 connections held, 1,000 SAML POSTs of 250 KB, 64 at once.
const abuseBoundMB = 160

// TestAbuseMemoryBound runs `gatehouse loadtest --scenario abuse` against a server in its
// own process and fails when its RSS peaks above abuseBoundMB during any step.
func TestAbuseMemoryBound(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	issuer := fmt.Sprintf("http://127.0.0.1:%d", port)
	cfg := fmt.Sprintf(`issuer: %s
web:
  http: 127.0.0.1:%d
storage:
  type: sqlite
  config:
    file: %s
logging:
  level: error
clients:
  - id: %s
    secret: %s
    redirect_uris: [%s]
connectors:
  - type: local
    id: local
    name: Local accounts
service_providers:
  - id: sp1
    entity_id: https://sp1.example/metadata
    acs_url: https://sp1.example/acs
`, issuer, port, filepath.Join(dir, "gh.db"), ltClientID, ltSecret, ltRedirect)
	file := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// The server is the real binary, built without the race detector whatever this test
	// binary was built with (-race multiplies a process's memory several times over), and
	// with CGO_ENABLED=0 like the release build (the test command's build-nocgo step leaves
	// it in the build cache).
	bin := filepath.Join(dir, "gatehouse")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var serverErr lockedBuffer
	cmd := exec.Command(bin, "serve", "--config", file)
	cmd.Stderr = &serverErr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // Wait reports the end
		cmd.Wait()                          //nolint:errcheck // the server was told to stop
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(issuer + "/.well-known/openid-configuration")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not start: %s", serverErr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var stdout, stderr bytes.Buffer
	args := []string{"--issuer", issuer, "--client-id", ltClientID, "--redirect-uri", ltRedirect, "--scenario", "abuse",
		"--pid", strconv.Itoa(cmd.Process.Pid), "--max-rss", strconv.Itoa(abuseBoundMB)}
	err := cmdLoadtest(t.Context(), args, nil, &stdout, &stderr)
	t.Logf("abuse scenario:\n%s", stdout.String())
	if err != nil {
		t.Fatalf("loadtest --scenario abuse: %v\n%s\nserver: %s", err, stderr.String(), serverErr.String())
	}
}
