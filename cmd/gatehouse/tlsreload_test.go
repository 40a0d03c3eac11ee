package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// selfSigned returns the PEM certificate and key of a fresh self-signed certificate for cn.
func selfSigned(t *testing.T, cn string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		DNSNames: []string{cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// tlsFixture is a TLS server whose certificate comes from a certReloader over two files.
type tlsFixture struct {
	certFile, keyFile string
	certs             *certReloader
	url               string
	logs              *lockedBuffer
}

func newTLSFixture(t *testing.T, cn string) *tlsFixture {
	t.Helper()
	dir := t.TempDir()
	f := &tlsFixture{certFile: filepath.Join(dir, "tls.crt"), keyFile: filepath.Join(dir, "tls.key"), logs: &lockedBuffer{}}
	f.write(t, cn)
	certs, err := newCertReloader(f.certFile, f.keyFile, slog.New(slog.NewTextHandler(f.logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	f.certs = certs
	// The listener's TLS config as lifecycle.go builds it: no static certificate, only the hook.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}),
		TLSConfig: &tls.Config{GetCertificate: certs.GetCertificate, MinVersion: tls.VersionTLS12}, ReadHeaderTimeout: 5 * time.Second,
	}
	go hs.ServeTLS(ln, "", "")       //nolint:errcheck // ends with Close at cleanup
	t.Cleanup(func() { hs.Close() }) //nolint:errcheck // test cleanup
	f.url = "https://" + ln.Addr().String()
	return f
}

// write replaces both files with a new certificate for cn (the mtime is moved forward, so
// a change within the file system's timestamp granularity is still seen).
func (f *tlsFixture) write(t *testing.T, cn string) {
	t.Helper()
	c, k := selfSigned(t, cn)
	f.writeFiles(t, c, k)
}

func (f *tlsFixture) writeFiles(t *testing.T, certPEM, keyPEM []byte) {
	t.Helper()
	replacePair(t, f.certFile, f.keyFile, certPEM, keyPEM)
}

// replacePair replaces the two files whole, one after the other, with a modification time
// in the future (a change within the file system's timestamp granularity is still seen).
func replacePair(t *testing.T, certFile, keyFile string, certPEM, keyPEM []byte) {
	t.Helper()
	later := time.Now().Add(time.Second)
	for _, w := range []struct {
		path string
		b    []byte
	}{{certFile, certPEM}, {keyFile, keyPEM}} {
		// Each file is replaced whole (as kubelet swaps a Secret volume), one after the other.
		tmp := w.path + ".tmp"
		if err := os.WriteFile(tmp, w.b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(tmp, later, later); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, w.path); err != nil {
			t.Fatal(err)
		}
	}
}

// served is the common name of the certificate a real TLS client is shown now (a new
// connection each time).
func (f *tlsFixture) served(t *testing.T) string {
	t.Helper()
	return servedCN(t, f.url)
}

// servedCN is the common name of the certificate url's server shows a new TLS connection.
func servedCN(t *testing.T, url string) string {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // the test reads the certificate served
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() //nolint:errcheck // nothing to read
	return resp.TLS.PeerCertificates[0].Subject.CommonName
}

// eventually waits up to 5 s for the served certificate's common name to become want.
func (f *tlsFixture) eventually(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := f.served(t)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("served certificate %q, want %q; logs:\n%s", got, want, f.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCertificateReloadedOnFileChange: a TLS client sees the new certificate once the files
// change (a cert-manager rotation), and a bad new pair keeps the old one and says why.
func TestCertificateReloadedOnFileChange(t *testing.T) {
	f := newTLSFixture(t, "one.example")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go f.certs.watch(ctx, 20*time.Millisecond)
	if got := f.served(t); got != "one.example" {
		t.Fatalf("served %q at start", got)
	}

	f.write(t, "two.example")
	f.eventually(t, "two.example")
	if !strings.Contains(f.logs.String(), `msg="TLS certificate reloaded" reason="file changed"`) {
		t.Errorf("no reload logged:\n%s", f.logs)
	}

	// A certificate with another certificate's key (a rotation caught half way): refused.
	c3, _ := selfSigned(t, "three.example")
	_, k4 := selfSigned(t, "four.example")
	f.writeFiles(t, c3, k4)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(f.logs.String(), "private key does not match public key") {
		if time.Now().After(deadline) {
			t.Fatalf("the bad pair was not reported:\n%s", f.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := f.served(t); got != "two.example" {
		t.Errorf("after a bad pair: served %q, want the previous two.example", got)
	}
	if !strings.Contains(f.logs.String(), `msg="TLS certificate not reloaded; still serving the previous one"`) {
		t.Errorf("the refusal is not logged:\n%s", f.logs)
	}

	// The rotation completes: the next change is picked up.
	f.write(t, "five.example")
	f.eventually(t, "five.example")
}

// TestSIGHUPReloadsCertificateAndTemplates: a real SIGHUP to the process reloads the
// certificate (no file polling here) and the templates, and logs what changed.
func TestSIGHUPReloadsCertificateAndTemplates(t *testing.T) {
	f := newTLSFixture(t, "one.example")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := reloadables{certs: f.certs, logger: slog.New(slog.NewTextHandler(f.logs, nil))}
	done := make(chan struct{}, 1)
	onSIGHUP(ctx, func(ctx context.Context) { r.reload(ctx, "SIGHUP"); done <- struct{}{} })

	f.write(t, "two.example")
	if got := f.served(t); got != "one.example" {
		t.Fatalf("reloaded before SIGHUP: %q", got)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("SIGHUP not handled")
	}
	if got := f.served(t); got != "two.example" {
		t.Errorf("after SIGHUP: served %q", got)
	}
	if !strings.Contains(f.logs.String(), `msg="TLS certificate reloaded" reason=SIGHUP`) {
		t.Errorf("logs:\n%s", f.logs)
	}
}

// TestServeReloadsTLSOnSIGHUP: `gatehouse serve` with web.https serves the certificate through
// the reloader, and a SIGHUP to the process makes new connections see the replaced pair and
// reloads the templates, logging both.
func TestServeReloadsTLSOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	c, k := selfSigned(t, "one.example")
	replacePair(t, certFile, keyFile, c, k)
	httpsURL := fmt.Sprintf("https://127.0.0.1:%d", freePort(t))
	p := runServe(t, fmt.Sprintf("  https: %s\n  tls_cert: %s\n  tls_key: %s\n", strings.TrimPrefix(httpsURL, "https://"), certFile, keyFile),
		fmt.Sprintf("storage:\n  type: sqlite\n  config:\n    file: %s\nconnectors:\n  - type: local\n    id: local\n    name: Local\n",
			filepath.Join(dir, "gh.db")))
	p.waitFor(t, "/readyz", http.StatusOK, 20*time.Second)
	if got := servedCN(t, httpsURL); got != "one.example" {
		t.Fatalf("served %q at start", got)
	}

	c, k = selfSigned(t, "two.example")
	replacePair(t, certFile, keyFile, c, k)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second) // less than the 5 s file check: SIGHUP did it
	for servedCN(t, httpsURL) != "two.example" {
		if time.Now().After(deadline) {
			t.Fatalf("the new certificate is not served after SIGHUP:\n%s", p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{"SIGHUP: reloading the TLS certificate and the templates", `msg="TLS certificate reloaded"`,
		`subject="CN=two.example"`, "templates reloaded"} {
		deadline := time.Now().Add(3 * time.Second)
		for !strings.Contains(p.stderr.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("log lacks %q:\n%s", want, p.stderr)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
