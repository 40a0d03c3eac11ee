package authproxy_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/authproxy"
)

// testCA issues certificates for the mutual-TLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test proxy CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

// client issues a client certificate with common name cn.
func (ca *testCA) client(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestAuthenticateClientCertificate proves the mutual-TLS proof: with client_cert_names the
// request must arrive over TLS with a client certificate the listener verified (as
// web.client_ca makes Gatehouse's https listener do: asked for, verified when given) and
// named as configured; no certificate, another name, or an untrusted peer is refused. With a
// secret configured too, the certificate alone is not enough.
func TestAuthenticateClientCertificate(t *testing.T) {
	ca := newTestCA(t)
	proxyCert, otherCert := ca.client(t, "proxy.example"), ca.client(t, "other.example")
	user := [][2]string{{"X-Remote-User", "alice"}}
	tests := []struct {
		name    string
		cfg     authproxy.Config
		proxies string
		cert    *tls.Certificate
		headers [][2]string
		wantErr string // "" means alice signs in
	}{
		{"proxy certificate", authproxy.Config{ClientCertNames: []string{"proxy.example"}}, "127.0.0.1/32", &proxyCert, user, ""},
		{"no certificate", authproxy.Config{ClientCertNames: []string{"proxy.example"}}, "127.0.0.1/32", nil, user,
			"no verified client certificate named proxy.example"},
		{"another name", authproxy.Config{ClientCertNames: []string{"proxy.example"}}, "127.0.0.1/32", &otherCert, user,
			"no verified client certificate"},
		{"untrusted peer", authproxy.Config{ClientCertNames: []string{"proxy.example"}}, "192.0.2.0/24", &proxyCert, user,
			"not in web.trusted_proxies"},
		{"certificate and secret: secret missing", authproxy.Config{Secret: secret, ClientCertNames: []string{"proxy.example"}},
			"127.0.0.1/32", &proxyCert, user, "X-Gatehouse-Proxy-Secret missing or wrong"},
		{"certificate and secret", authproxy.Config{Secret: secret, ClientCertNames: []string{"proxy.example"}},
			"127.0.0.1/32", &proxyCert, append([][2]string{{"X-Gatehouse-Proxy-Secret", secret}}, user...), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := open(t, tt.cfg, tt.proxies)
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				up, err := conn.Authenticate(r.Context(), connectors.Scopes{}, r)
				if err != nil {
					http.Error(w, err.Error(), http.StatusForbidden)
					return
				}
				io.WriteString(w, up.Username)
			}))
			pool := x509.NewCertPool()
			pool.AddCert(ca.cert)
			srv.TLS = &tls.Config{ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven}
			srv.StartTLS()
			t.Cleanup(srv.Close)
			tr := srv.Client().Transport.(*http.Transport).Clone()
			if tt.cert != nil {
				tr.TLSClientConfig.Certificates = []tls.Certificate{*tt.cert}
			}
			req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+"/login/proxy", nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range tt.headers {
				req.Header.Add(h[0], h[1])
			}
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantErr == "" {
				if resp.StatusCode != http.StatusOK || string(body) != "alice" {
					t.Fatalf("got %d %s, want alice", resp.StatusCode, body)
				}
				return
			}
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), tt.wantErr) {
				t.Fatalf("got %d %s, want a refusal with %q", resp.StatusCode, body, tt.wantErr)
			}
		})
	}
}
