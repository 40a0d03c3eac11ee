//go:build peers

package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"

	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSAMLServiceProvider runs a real, strict SAML service provider (@node-saml/node-saml,
// see e2e/node/saml-sp.mjs) against Gatehouse's SAML IdP: metadata both ways (Gatehouse
// fetches the SP's metadata_url lazily), login through the local connector, strict Response
// validation, SSO, a tampered Response refused, an encrypted assertion, single logout.
func TestSAMLServiceProvider(t *testing.T) {
	if _, err := os.Stat(filepath.Join(peers.nodeDir, "node_modules", "@node-saml", "node-saml", "package.json")); err != nil {
		t.Fatalf("npm package @node-saml/node-saml is not installed in e2e/node/node_modules: run bash scripts/install-peers.sh")
	}
	in := newInstance(t, false)
	spPort := freePort(t)
	spKey, spCert := writeKeyPair(t, in.Dir, "sp")
	encKey, encCert := writeKeyPair(t, in.Dir, "enc")
	base := "http://127.0.0.1:" + strconv.Itoa(spPort)
	extra := strings.Join([]string{
		"service_providers:",
		"  - id: plain",
		"    name: Plain SP",
		"    metadata_url: " + base + "/plain/metadata",
		"    entity_id: " + base + "/plain/metadata",
		"    attributes: {mail: email, displayName: name, memberOf: groups}",
		"  - id: enc",
		"    name: Encrypting SP",
		"    metadata_url: " + base + "/enc/metadata",
		"    entity_id: " + base + "/enc/metadata",
		"    encrypt_assertion: true",
		"    attributes: {mail: email}",
		"",
	}, "\n")
	f, err := os.OpenFile(in.Config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(extra); err != nil {
		t.Fatal(err)
	}
	f.Close()
	serve(t, in)
	out := runNode(t, "saml-sp.mjs", map[string]string{
		"E2E_ISSUER":         in.Issuer,
		"E2E_USERNAME":       in.User.Username,
		"E2E_PASSWORD":       in.User.Password,
		"E2E_EXPECTED_EMAIL": in.User.Email,
		"E2E_EXPECTED_GROUP": in.User.Groups[0],
		"E2E_SP_PORT":        strconv.Itoa(spPort),
		"E2E_SP_KEY":         spKey,
		"E2E_SP_CERT":        spCert,
		"E2E_ENC_KEY":        encKey,
		"E2E_ENC_CERT":       encCert,
	})
	if !strings.Contains(out, "PASS") {
		t.Fatalf("saml-sp.mjs exited 0 without reporting PASS")
	}
}

// writeKeyPair writes an RSA key and a self-signed certificate as PEM files.
func writeKeyPair(t *testing.T, dir, name string) (keyFile, certFile string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "gatehouse-e2e-" + name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile, certFile = filepath.Join(dir, name+".key"), filepath.Join(dir, name+".crt")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return keyFile, certFile
}
