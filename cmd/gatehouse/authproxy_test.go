package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
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

// TestClientCATLS proves what web.client_ca does to the https listener: client certificates
// are asked for and verified against the file's CAs when presented (requests without one are
// still served), and a file without a certificate is an error at start, not a listener that
// verifies nothing.
func TestClientCATLS(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "proxy CA"}, IsCA: true,
		BasicConstraintsValid: true, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	good := writeFile(t, dir, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
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
