package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	adminv1 "github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1"
	"github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1/adminv1connect"
)

// TestServeAdminMutualTLS runs `gatehouse serve` with the admin listener on https verifying
// client certificates (admin.tls_cert, admin.client_ca): the admin API answers gRPC over TLS
// to a certificate naming an admin client, refuses one naming another client
// (permission_denied) and one from another CA (handshake), and without a certificate asks for
// a token (unauthenticated); /readyz needs no certificate.
func TestServeAdminMutualTLS(t *testing.T) {
	dir := t.TempDir()
	pki, rogue := newTestPKI(t), newTestPKI(t)
	srvCert, srvKey := pki.issue(t, "127.0.0.1", true)
	port, adminPort := freePort(t), freePort(t)
	cfg := fmt.Sprintf(`issuer: http://127.0.0.1:%d
web: {http: "127.0.0.1:%d"}
admin:
  http: 127.0.0.1:%d
  tls_cert: %s
  tls_key: %s
  client_ca: %s
  clients: [ops-cli]
storage: {type: sqlite, config: {file: %s}}
logging: {level: error}
connectors: [{type: local, id: local, name: Local}]
clients:
  - {id: ops-cli, secret: ops-secret-0123456789, grant_types: [client_credentials], allowed_scopes: ["gatehouse:admin"]}
  - {id: app, secret: app-secret-0123456789, redirect_uris: [https://app.example.com/cb]}
`, port, port, adminPort, writeFile(t, dir, "srv.pem", srvCert), writeFile(t, dir, "srv.key", srvKey), writeFile(t, dir, "ca.pem", pki.pem),
		filepath.Join(dir, "gh.db"))
	file := writeFile(t, dir, "gatehouse.yaml", cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done, stderr := make(chan error, 1), &lockedBuffer{}
	go func() {
		done <- run(ctx, []string{"serve", "--config", file}, func(string) string { return "" }, strings.NewReader(""), io.Discard, stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop")
		}
	})
	roots := x509.NewCertPool()
	roots.AddCert(pki.cert)
	httpClient := func(p *testPKI, cn string) *http.Client {
		tc := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		if p != nil {
			c, k := p.issue(t, cn, false)
			pair, err := tls.X509KeyPair([]byte(c), []byte(k))
			if err != nil {
				t.Fatal(err)
			}
			tc.Certificates = []tls.Certificate{pair}
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}}
	}
	base := fmt.Sprintf("https://127.0.0.1:%d", adminPort)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := httpClient(nil, "").Get(base + "/readyz")
		if err == nil {
			resp.Body.Close() //nolint:errcheck // test
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready: %v\n%s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The CLI with a client certificate instead of a token.
	cliCert, cliKey := pki.issue(t, "ops-cli", false)
	var out, errOut lockedBuffer
	if err := run(ctx, []string{"client", "list", "--admin", base, "--ca", filepath.Join(dir, "ca.pem"),
		"--cert", writeFile(t, dir, "cli.pem", cliCert), "--key", writeFile(t, dir, "cli.key", cliKey)},
		func(string) string { return "" }, strings.NewReader(""), &out, &errOut); err != nil || !strings.Contains(out.String(), "app") {
		t.Fatalf("gatehouse client list with a certificate: %v\n%s%s", err, out.String(), errOut.String())
	}
	list := func(hc *http.Client) error {
		_, err := adminv1connect.NewClientServiceClient(hc, base, connect.WithGRPC()).ListClients(ctx, connect.NewRequest(&adminv1.ListClientsRequest{}))
		return err
	}
	tests := []struct {
		name string
		hc   *http.Client
		want connect.Code
		fail bool // the TLS handshake fails
	}{
		{"the admin client's certificate", httpClient(pki, "ops-cli"), 0, false},
		{"another client's certificate", httpClient(pki, "app"), connect.CodePermissionDenied, false},
		{"no certificate, no token", httpClient(nil, ""), connect.CodeUnauthenticated, false},
		{"a certificate of another CA", httpClient(rogue, "ops-cli"), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := list(tt.hc)
			switch {
			case tt.fail && err == nil:
				t.Fatal("accepted")
			case !tt.fail && tt.want == 0 && err != nil:
				t.Fatalf("refused: %v", err)
			case !tt.fail && tt.want != 0 && connect.CodeOf(err) != tt.want:
				t.Fatalf("%v, want %v", err, tt.want)
			}
		})
	}
}
