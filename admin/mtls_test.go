package admin_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"connectrpc.com/connect"

	adminv1 "github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1"
	"github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1/adminv1connect"
	"github.com/gatehouse-id/gatehouse/storage"
)

// testCA issues certificates for the mutual TLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, name string) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{cert: cert, key: key}
}

// issue returns a client (or, with ip, server) certificate for cn.
func (ca testCA) issue(t *testing.T, cn string, server bool) tls.Certificate {
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
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestMutualTLS: on an https admin listener verifying client certificates with a CA, a
// certificate naming an admin client authenticates (and is the audited actor); one naming
// another client is refused; one from another CA fails the handshake; none falls back to
// bearer tokens.
func TestMutualTLS(t *testing.T) {
	e := newEnv(t, "")
	ca, other := newTestCA(t, "ops CA"), newTestCA(t, "rogue CA")
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	srv := httptest.NewUnstartedServer(e.gh.Gatehouse.AdminHandler())
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS12, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven,
		Certificates: []tls.Certificate{ca.issue(t, "127.0.0.1", true)}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	clientWith := func(certs ...tls.Certificate) adminv1connect.ClientServiceClient {
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs, MinVersion: tls.VersionTLS12}, ForceAttemptHTTP2: true}}
		return adminv1connect.NewClientServiceClient(hc, srv.URL, connect.WithGRPC())
	}
	ctx := context.Background()
	create := func(c adminv1connect.ClientServiceClient, id string) error {
		_, err := c.CreateClient(ctx, connect.NewRequest(&adminv1.CreateClientRequest{Client: &adminv1.Client{Id: id, RedirectUris: []string{appRedirect}}}))
		return err
	}
	if err := create(clientWith(ca.issue(t, opsID, false)), "by-cert"); err != nil {
		t.Fatalf("with the admin client's certificate: %v", err)
	}
	if err := create(clientWith(ca.issue(t, robotID, false)), "x"); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("with another client's certificate: %v, want permission_denied", err)
	}
	if err := create(clientWith(other.issue(t, opsID, false)), "x"); err == nil {
		t.Fatal("a certificate from another CA was accepted")
	}
	if err := create(clientWith(), "x"); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("without a certificate or token: %v, want unauthenticated", err)
	}
	events, err := e.gh.Store.(storage.AuditStore).ListAuditEvents(ctx, storage.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range events {
		found = found || (ev.Type == "admin.client.create" && ev.ClientID == opsID && ev.Detail["target"] == "by-cert")
	}
	if !found {
		t.Fatal("the change made with a certificate is not audited with the certificate's client as actor")
	}
}
