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
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCheckConfigAuthproxy proves that check-config knows the authproxy type, refuses it
// without web.trusted_proxies (no proxy could then be believed, so the connector would be a
// dead end, or worse a hint to "just trust everyone") naming the file and line, and reports
// a short secret and a bad header name with their keys, and client_cert_names without
// web.client_ca (no certificate would ever be verified, so every login would be refused).
func TestCheckConfigAuthproxy(t *testing.T) {
	const base = `issuer: http://127.0.0.1:5556
storage: {type: sqlite, config: {file: gh.db}}
web:
  trusted_proxies: [%s]
connectors:
  - type: authproxy
    id: proxy
    config:
      secret: %s
      user_header: %s%s
clients:
  - id: app
    secret: s3cret
    redirect_uris: ["https://app.example.com/cb"]
`
	for _, tt := range []struct {
		name, proxies, secret, header, extra string
		want                                 []string
	}{
		{"valid", "127.0.0.1/32", "0123456789abcdef", "X-Remote-User", "", nil},
		{"no trusted proxies", "", "0123456789abcdef", "X-Remote-User", "",
			[]string{"cfg.yaml:6: connectors[0].type", "set web.trusted_proxies"}},
		{"short secret", "10.0.0.1", "short", "X-Remote-User", "", []string{"connectors[0].config", "secret: must be at least 16"}},
		{"bad header name", "10.0.0.1", "0123456789abcdef", `"X Remote User"`, "", []string{"user_header"}},
		{"client certificate without web.client_ca", "10.0.0.1", `""`, "X-Remote-User", "\n      client_cert_names: [proxy.example]",
			[]string{"cfg.yaml:6: connectors[0].type", "set web.https and web.client_ca"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := base
			for _, v := range []string{tt.proxies, tt.secret, tt.header, tt.extra} {
				body = strings.Replace(body, "%s", v, 1)
			}
			p := writeFile(t, t.TempDir(), "cfg.yaml", body)
			_, errs, err := runCmd("check-config", p)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("check-config: %v\n%s", err, errs)
				}
				return
			}
			if err == nil {
				t.Fatalf("check-config accepted:\n%s", body)
			}
			for _, w := range tt.want {
				if !strings.Contains(errs, w) {
					t.Errorf("check-config output lacks %q:\n%s", w, errs)
				}
			}
		})
	}
}

// testPKI is a CA that issues the listener's and the proxy's certificates.
type testPKI struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "proxy CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testPKI{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// issue returns a certificate for cn (a server certificate for 127.0.0.1 when server) as
// PEM certificate and key.
func (p *testPKI) issue(t *testing.T, cn string, server bool) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage, tmpl.IPAddresses = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}))
}

// TestClientCATLS proves what web.client_ca does to the https listener: client certificates
// are asked for and verified against the file's CAs when presented (requests without one are
// still served), and a file without a certificate is an error at start, not a listener that
// verifies nothing.
func TestClientCATLS(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "ca.pem", newTestPKI(t).pem)
	tc, err := clientCATLS(good)
	if err != nil {
		t.Fatal(err)
	}
	if tc.ClientAuth != tls.VerifyClientCertIfGiven || tc.ClientCAs == nil {
		t.Errorf("client auth %v, pool %v", tc.ClientAuth, tc.ClientCAs)
	}
	for name, path := range map[string]string{"no certificate": writeFile(t, dir, "empty.pem", "not a PEM\n"), "missing": dir + "/nope.pem"} {
		if _, err := clientCATLS(path); err == nil || !strings.Contains(err.Error(), "web.client_ca") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestServeAuthproxyMutualTLS runs `gatehouse serve` with web.https, web.client_ca,
// web.trusted_proxies and an authproxy connector that checks the proxy's client certificate,
// and proves the wiring end to end: the registry knows the type, serve hands
// web.trusted_proxies to the connector, the https listener verifies the certificate, and the
// broker's login completes with the proxy's user. The same request without the certificate
// gets the refusal page.
func TestServeAuthproxyMutualTLS(t *testing.T) {
	dir := t.TempDir()
	pki := newTestPKI(t)
	srvCert, srvKey := pki.issue(t, "127.0.0.1", true)
	proxyCert, proxyKey := pki.issue(t, "proxy.example", false)
	port := freePort(t)
	base := fmt.Sprintf("https://127.0.0.1:%d", port)
	cfg := fmt.Sprintf(`issuer: %s
web:
  https: 127.0.0.1:%d
  tls_cert: %s
  tls_key: %s
  client_ca: %s
  trusted_proxies: [127.0.0.1]
storage: {type: sqlite, config: {file: %s}}
logging: {level: error}
connectors:
  - type: authproxy
    id: proxy
    config:
      client_cert_names: [proxy.example]
clients:
  - id: app
    secret: app-secret-0123456789
    trusted: true
    redirect_uris: [https://app.example.com/cb]
`, base, port, writeFile(t, dir, "srv.pem", srvCert), writeFile(t, dir, "srv.key", srvKey), writeFile(t, dir, "ca.pem", pki.pem),
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
	pair, err := tls.X509KeyPair([]byte(proxyCert), []byte(proxyKey))
	if err != nil {
		t.Fatal(err)
	}
	client := func(withCert bool) *http.Client {
		tc := &tls.Config{RootCAs: roots}
		if withCert {
			tc.Certificates = []tls.Certificate{pair}
		}
		jar, err := cookiejar.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Client{Timeout: 10 * time.Second, Jar: jar, Transport: &http.Transport{TLSClientConfig: tc},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client(false).Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready: %v\n%s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	authURL := base + "/authorize?" + url.Values{"response_type": {"code"}, "client_id": {"app"}, "scope": {"openid"},
		"redirect_uri": {"https://app.example.com/cb"}, "state": {"st4te"},
		"code_challenge": {"E9Melhoe2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}.Encode()
	for _, tt := range []struct {
		name     string
		withCert bool
	}{{"proxy certificate", true}, {"no certificate", false}} {
		t.Run(tt.name, func(t *testing.T) {
			c := client(tt.withCert)
			at := authURL
			var resp *http.Response
			for range 10 {
				req, err := http.NewRequest(http.MethodGet, at, nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("X-Remote-User", "alice")
				if resp, err = c.Do(req); err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				loc, err := resp.Location()
				if err != nil || !strings.HasPrefix(loc.String(), base) {
					break
				}
				at = loc.String()
			}
			loc := resp.Header.Get("Location")
			if tt.withCert {
				if !strings.HasPrefix(loc, "https://app.example.com/cb?code=") {
					t.Fatalf("want a code for the client, got %d %s\n%s", resp.StatusCode, loc, stderr.String())
				}
				return
			}
			if resp.StatusCode != http.StatusForbidden || strings.Contains(loc, "code=") {
				t.Fatalf("want the refusal page, got %d %s", resp.StatusCode, loc)
			}
		})
	}
}
